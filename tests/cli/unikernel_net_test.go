package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// The tiny unikernel prints its command line: it must carry the
// container's IP, prefix and gateway in the unikraft format.
func TestUnikernelGetsNetworkParameters(t *testing.T) {
	u := setup(t)
	_, nsPath, guestIP, hostIP := cniNamespace(t)
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "echo=net", Annotations: microvm(nil),
		Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace},
			{Type: specs.NetworkNamespace, Path: nsPath}}})
	// The guest's nameserver comes from the container's resolv.conf.
	os.MkdirAll(filepath.Join(bundle, "rootfs", "etc"), 0o755)
	os.WriteFile(filepath.Join(bundle, "rootfs", "etc", "resolv.conf"), []byte("nameserver 127.0.0.53\nnameserver 10.77.0.53\n"), 0o644)
	out := outFile(t)
	u.RunWith(t, out, "create", "-b", bundle, "uknet")
	u.MustRun(t, "start", "uknet")
	e2e.WaitFor(t, 20*time.Second, "guest command line", func() bool { return e2e.FileContains(out.Name(), "echo: net") })
	want := "netdev.ip=" + guestIP + "/24:" + hostIP + ":10.77.0.53"
	if !e2e.FileContains(out.Name(), want) {
		t.Fatalf("guest command line lacks %q:\n%s", want, e2e.ReadFile(out.Name()))
	}
	vmm := e2e.ReadFile(filepath.Join(u.Root, "uknet", "vmm.json"))
	if !strings.Contains(vmm, "-netdev") || !strings.Contains(vmm, "tap") {
		t.Fatalf("no NIC in the VMM argv: %s", vmm)
	}
	u.MustRun(t, "delete", "-f", "uknet")
}

package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// cniNamespace is e2e.CNINamespace with a fresh address.
func cniNamespace(t *testing.T) (name, path, guestIP, hostIP string) {
	t.Helper()
	return e2e.CNINamespace(t)
}

func ipOut(t *testing.T, args ...string) string {
	out, _ := exec.Command("ip", args...).CombinedOutput()
	return string(out)
}

func TestLinuxGuestServesHTTPAtContainerIP(t *testing.T) {
	u := setup(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip not found: install Debian package iproute2")
	}
	ns, nsPath, guestIP, _ := cniNamespace(t)
	// An unrelated interface whose name contains "tap" must not get in the way.
	if out, err := exec.Command("ip", "-n", ns, "tuntap", "add", "tapX", "mode", "tap").CombinedOutput(); err != nil {
		t.Fatalf("tuntap: %v %s", err, out)
	}
	bundle := e2e.BusyboxLinuxBundle(t, []string{"httpd", "-f", "-p", "80", "-h", "/www"}, []string{"PATH=/bin"})
	os.MkdirAll(filepath.Join(bundle, "rootfs", "www"), 0o755)
	os.WriteFile(filepath.Join(bundle, "rootfs", "www", "index.html"), []byte("hello over http\n"), 0o644)
	specPath := filepath.Join(bundle, "config.json")
	spec := readSpec(t, specPath)
	for i, n := range spec.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			spec.Linux.Namespaces[i].Path = nsPath
		}
	}
	e2e.WriteSpec(t, bundle, spec)

	out := outFile(t)
	u.RunWith(t, out, "create", "-b", bundle, "web")
	u.MustRun(t, "start", "web")
	vmm := e2e.ReadFile(filepath.Join(u.Root, "web", "vmm.json"))
	if !strings.Contains(vmm, guestIP) {
		t.Fatalf("vmm.json does not mention the container IP: %s", vmm)
	}

	client := &http.Client{Timeout: 2 * time.Second}
	var body string
	e2e.WaitFor(t, 90*time.Second, "HTTP answer from the guest at "+guestIP, func() bool {
		resp, err := client.Get("http://" + guestIP + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if body != "hello over http\n" {
		t.Fatalf("body %q", body)
	}
	if busybox, err := exec.LookPath("busybox"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, busybox, "ping", "-c", "2", "-W", "3", guestIP).CombinedOutput(); err != nil {
			t.Fatalf("ping %s: %v %s", guestIP, err, out)
		}
	}

	u.MustRun(t, "kill", "web", "KILL")
	e2e.WaitFor(t, 10*time.Second, "stopped", func() bool { return u.Status(t, "web") == "stopped" })
	u.MustRun(t, "delete", "web")

	links := ipOut(t, "-n", ns, "-o", "link")
	if !strings.Contains(links, "tapX") {
		t.Fatalf("unrelated tapX was removed: %s", links)
	}
	for _, l := range strings.Split(links, "\n") {
		if strings.Contains(l, ": tap") && !strings.Contains(l, "tapX") {
			t.Fatalf("urunc's tap left behind: %s", l)
		}
	}
	qd, _ := exec.Command("tc", "-n", ns, "qdisc", "show", "dev", "eth0").CombinedOutput()
	if strings.Contains(string(qd), "ingress") || strings.Contains(string(qd), "clsact") {
		t.Fatalf("qdisc left on eth0: %s", qd)
	}
	flt, _ := exec.Command("tc", "-n", ns, "filter", "show", "dev", "eth0", "ingress").CombinedOutput()
	if strings.TrimSpace(string(flt)) != "" {
		t.Fatalf("filters left on eth0: %s", flt)
	}
}

func TestNoEth0RunsWithoutNIC(t *testing.T) {
	u := setup(t)
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "echo=nonet", Annotations: microvm(nil)})
	out := outFile(t)
	u.RunWith(t, out, "create", "-b", bundle, "nonet")
	u.MustRun(t, "start", "nonet")
	e2e.WaitFor(t, 20*time.Second, "guest output", func() bool { return e2e.FileContains(out.Name(), "echo: nonet") })
	vmm := e2e.ReadFile(filepath.Join(u.Root, "nonet", "vmm.json"))
	if !strings.Contains(vmm, "no eth0") || strings.Contains(vmm, "-netdev") {
		t.Fatalf("vmm.json: %s", vmm)
	}
	if !strings.Contains(e2e.ReadFile(u.Log), "without a NIC") {
		t.Fatal("the log does not say the guest runs without a NIC")
	}
	u.MustRun(t, "delete", "-f", "nonet")
}

func readSpec(t *testing.T, path string) *specs.Spec {
	t.Helper()
	var spec specs.Spec
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonUnmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	return &spec
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// A network that cannot be handed to the guest fails create, clearly, and
// leaves nothing behind (upstream booted the guest without network).
func TestNetworkSetupFailureFailsCreate(t *testing.T) {
	u := setup(t)
	ns, nsPath, _, _ := cniNamespace(t)
	// eth0 without its IPv4 address: nothing to give the guest.
	if out, err := exec.Command("ip", "-n", ns, "addr", "flush", "dev", "eth0").CombinedOutput(); err != nil {
		t.Fatalf("flush: %v %s", err, out)
	}
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "x", Annotations: microvm(nil),
		Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace},
			{Type: specs.NetworkNamespace, Path: nsPath}}})
	r := u.RunWith(t, outFile(t), "create", "-b", bundle, "badnet")
	if r.Code == 0 || !strings.Contains(u.LastError(), "network") {
		t.Fatalf("create with an unusable eth0: %s %q", r, u.LastError())
	}
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
	if links := ipOut(t, "-n", ns, "-o", "link"); strings.Contains(links, ": tap") {
		t.Fatalf("tap left: %s", links)
	}
}

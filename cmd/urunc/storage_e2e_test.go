package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// The initrd and block keys reach the VMM as the guest expects: the files
// are resolved inside the rootfs and attached, and the guest boots.
func TestInitrdAndBlock(t *testing.T) {
	u := setup(t)
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "echo=storage", Annotations: microvm(map[string]string{
		"com.urunc.unikernel.initrd": "/unikernel/initrd.img",
		"com.urunc.unikernel.block":  "/data/disk.img",
	})})
	os.WriteFile(filepath.Join(bundle, "rootfs", "unikernel", "initrd.img"), []byte("initrd contents\n"), 0o644)
	os.MkdirAll(filepath.Join(bundle, "rootfs", "data"), 0o755)
	os.WriteFile(filepath.Join(bundle, "rootfs", "data", "disk.img"), make([]byte, 1<<20), 0o644)
	out := outFile(t)
	u.RunWith(t, out, "create", "-b", bundle, "st1")
	u.MustRun(t, "start", "st1")
	e2e.WaitFor(t, 20*time.Second, "guest output", func() bool { return e2e.FileContains(out.Name(), "echo: storage") })
	vmm := e2e.ReadFile(filepath.Join(u.Root, "st1", "vmm.json"))
	for _, want := range []string{"-initrd", filepath.Join(bundle, "rootfs", "unikernel", "initrd.img"), "disk.img", "virtio-blk"} {
		if !strings.Contains(vmm, want) {
			t.Fatalf("VMM argv lacks %q: %s", want, vmm)
		}
	}
	u.MustRun(t, "delete", "-f", "st1")

	// A block path outside the rootfs is refused at create.
	bad := e2e.NewBundle(t, e2e.Bundle{Cmdline: "x", Annotations: microvm(map[string]string{"com.urunc.unikernel.block": "/../../etc/passwd"})})
	if r := u.RunWith(t, outFile(t), "create", "-b", bad, "st2"); r.Code == 0 || !strings.Contains(u.LastError(), "escapes") {
		t.Fatalf("escaping block: %s %q", r, u.LastError())
	}
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
}

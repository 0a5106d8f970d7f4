package containerd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// An image made by `urunc-dev image` imports with ctr images import and
// runs with urunc as the runc binary: in the foreground (guest output and
// exit status) and detached (killed, then removed).
func TestCtrImportURuncDevImage(t *testing.T) {
	c := startContainerd(t)
	const ref = "docker.io/urunc/hello-image:test"
	archive := e2e.URuncDevImage(t, "--kernel", e2e.Unikernel(), "--type", "unikraft", "--hypervisor", "qemu",
		"--cmdline", "echo=imported exit=5", "--label", "com.urunc.vmm.machine=microvm", "--tag", "urunc/hello-image:test")
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.run(data, "images", "import", "-"); r.code != 0 {
		t.Fatalf("ctr images import: %s", r.out)
	}
	if ls := c.must("images", "ls", "-q"); !strings.Contains(ls, ref) {
		t.Fatalf("ctr images ls: %q, want %s", ls, ref)
	}
	urunc := e2e.URuncBin()

	// The image's CMD (the --cmdline words) reaches the guest.
	r := c.run(nil, "run", "--rm", "--runtime", "io.containerd.runc.v2", "--runc-binary", urunc, ref, "img-fg")
	if r.code != 11 || !strings.Contains(r.out, "echo: imported") {
		t.Fatalf("ctr run: exit %d (want 11 = isa-debug-exit 5): %s", r.code, r.out)
	}

	// Detached, with ctr's arguments in place of the CMD.
	c.must("run", "-d", "--runtime", "io.containerd.runc.v2", "--runc-binary", urunc, ref, "img-bg", "heartbeat")
	waitTask := func(status string) {
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(c.must("task", "ls"), status) {
			if time.Now().After(deadline) {
				t.Fatalf("task not %s: %s", status, c.must("task", "ls"))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitTask("RUNNING")
	c.must("task", "kill", "-s", "SIGKILL", "img-bg")
	waitTask("STOPPED")
	c.must("task", "rm", "img-bg")
	c.must("container", "rm", "img-bg")
	if out := strings.TrimSpace(c.must("container", "ls", "-q")); out != "" {
		t.Fatalf("containers left: %s", out)
	}
	for _, id := range []string{"img-fg", "img-bg"} {
		if _, err := os.Stat(filepath.Join("/run/containerd/runc/default", id)); err == nil {
			t.Fatalf("state of %s left under /run/containerd/runc/default", id)
		}
	}
	c.must("images", "rm", ref)
}

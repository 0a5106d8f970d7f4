package shim_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// containerd2Dir holds containerd and ctr v2.x, built from the Go module
// proxy by `make containerd2` (Debian 12 packages only 1.6).
func containerd2Dir() string { return filepath.Join(e2e.RepoRoot(), "build", "containerd2") }

// TestShimContainerd2: the same binary under containerd 2.x, which starts
// shims with the bootstrap protocol (BootstrapParams on stdin, a
// BootstrapResult back) and talks task API v2 to it: ctr run in the
// foreground (exit status) and detached (urunc's view, SIGKILL, rm), a
// runc container through the shim, nothing left.
func TestShimContainerd2(t *testing.T) {
	requireTools(t)
	bin, ctr := filepath.Join(containerd2Dir(), "containerd"), filepath.Join(containerd2Dir(), "ctr")
	for _, b := range []string{bin, ctr} {
		if _, err := os.Stat(b); err != nil {
			t.Skipf("%s missing: run make containerd2 (go install of containerd v2.4.2 from the module proxy, about 100 s once)", b)
		}
	}
	c := startContainerdWith(t, bin, ctr, 3,
		`disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.nri.v1.nri"]`, "")
	c.importImages(c.ns)

	r := c.ctr(nil, "run", "--rm", "--runtime", runtimeType, exitImage, "fg2")
	if r.code != 11 || !strings.Contains(r.out, "bye") {
		t.Fatalf("ctr run: exit %d, want 11: %s", r.code, r.out)
	}
	c.must("run", "-d", "--runtime", runtimeType, hbImage, "bg2")
	pid := c.waitTask("bg2", "RUNNING", 20*time.Second)
	if st, upid := c.uruncState(c.ns, "bg2"); st != "running" || upid != pid {
		t.Errorf("urunc state: %s pid %d; ctr: RUNNING pid %d", st, upid, pid)
	}
	c.must("task", "kill", "-s", "SIGKILL", "bg2")
	c.waitTask("bg2", "STOPPED", 20*time.Second)
	c.must("task", "rm", "bg2")
	c.must("container", "rm", "bg2")

	r = c.ctr(nil, "run", "--rm", "--runtime", runtimeType, bbImage, "rc2", "/bin/sh", "-c", "echo out-ok; exit 7")
	if r.code != 7 || !strings.Contains(r.out, "out-ok") {
		t.Errorf("runc container through the shim: exit %d: %s", r.code, r.out)
	}
	// containerd 2.x used the bootstrap protocol and task API v2.
	log := readFile(filepath.Join(c.base, "containerd.log"))
	if !strings.Contains(log, "protocol=ttrpc version=2") {
		t.Errorf("containerd 2.x did not connect with ttrpc task API v2:\n%s", lastLines(log, 40))
	}
	c.checkClean("fg2", "bg2", "rc2")
}

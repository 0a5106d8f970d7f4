package shim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

const linuxImage = "docker.io/library/urunc-shim-linux:test"

// TestShimLinuxGuest: a Linux microVM (busybox userland, urunc-init as
// its PID 1) through the shim: the re-exec child finds urunc-init and the
// kernel beside the shim binary; the program's exit status is decoded
// from qemu's (isa-debug-exit), as `urunc run` decodes it; a VMM killed by
// SIGKILL is 137, not a decoded guest status.
func TestShimLinuxGuest(t *testing.T) {
	requireTools(t)
	layer := e2e.BusyboxLinuxRootfsTar(t, "hello")
	c := startContainerd(t, "")
	if r := c.ctr(e2e.DockerArchive(linuxImage, layer, map[string]any{"Env": []string{"PATH=/bin"}}), "images", "import", "-"); r.code != 0 {
		t.Fatalf("ctr images import: %s", r.out)
	}
	ev := c.events()
	t0 := time.Now()
	r := c.ctr(nil, "run", "--rm", "--runtime", runtimeType, linuxImage, "lx1", "/bin/sh", "-c", "echo hello-linux; exit 3")
	if r.code != 3 || !strings.Contains(r.out, "hello-linux") {
		t.Fatalf("ctr run of a Linux guest: exit %d, want 3 (the program's): %s", r.code, r.out)
	}
	t.Logf("Linux guest run --rm: %s", time.Since(t0).Round(time.Millisecond))

	c.must("run", "-d", "--runtime", runtimeType, linuxImage, "lx2", "/bin/sh", "-c", "echo up; sleep 600")
	c.waitTask("lx2", "RUNNING", 30*time.Second)
	c.must("task", "kill", "-s", "SIGKILL", "lx2")
	c.waitTask("lx2", "STOPPED", 30*time.Second)
	if e := ev.waitFor(t, "lx2", "/tasks/exit", 10*time.Second); e.body["exit_status"] != float64(137) {
		t.Errorf("exit of a SIGKILLed Linux guest's VMM: %v, want 137", e.body)
	}
	c.must("task", "rm", "lx2")
	c.must("container", "rm", "lx2")
	c.checkClean("lx1", "lx2")
}

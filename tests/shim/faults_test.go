package shim_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/state"
)

// shimPid finds the shim process serving container id of this containerd.
func (c *ctrd) shimPid(t *testing.T, id string) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cl, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		args := strings.Split(string(cl), "\x00")
		if len(args) > 0 && strings.HasSuffix(args[0], "containerd-shim-urunc-v2") &&
			bytes.Contains(cl, []byte("\x00-id\x00"+id+"\x00")) && bytes.Contains(cl, []byte(c.sock)) {
			return pid
		}
	}
	t.Fatalf("no shim process for %s", id)
	return 0
}

func alive(pid int) bool { return state.Alive(pid, 0) }

// TestShimFaults: the shim killed under a running guest (containerd
// cleans up through the shim's delete: VMM, state, cgroup, mount and
// socket gone), containerd restarted under a running guest (same task,
// same pid, its console goes on), a guest that exits by itself, a VMM
// killed from outside, and a create that fails: each time the state is
// consistent and nothing is left.
func TestShimFaults(t *testing.T) {
	requireTools(t)
	c := startContainerd(t, "")
	c.importImages(c.ns)
	ev := c.events()
	run := func(image, id string) int {
		t.Helper()
		c.must("run", "-d", "--runtime", runtimeType, image, id)
		return c.waitTask(id, "RUNNING", 20*time.Second)
	}
	serial := func(id string) string { return filepath.Join(c.uruncRoot(c.ns), id, state.SerialFile) }

	t.Run("shim killed", func(t *testing.T) {
		vmm := run(hbImage, "k1")
		waitCount(t, serial("k1"), "heartbeat ", 1, 30*time.Second)
		shim := c.shimPid(t, "k1")
		addr := readFile(filepath.Join(c.state, "io.containerd.runtime.v2.task", c.ns, "k1", "address"))
		syscall.Kill(shim, syscall.SIGKILL)
		if e := ev.waitFor(t, "k1", "/tasks/exit", 20*time.Second); e.body["exit_status"] != float64(137) {
			t.Errorf("exit event after the shim died: %v", e.body)
		}
		ev.waitFor(t, "k1", "/tasks/delete", 20*time.Second)
		e2e.WaitFor(t, 10*time.Second, "the VMM to be gone", func() bool { return !alive(vmm) })
		if _, err := os.Stat(filepath.Join(c.uruncRoot(c.ns), "k1")); err == nil {
			t.Errorf("urunc state of k1 left after the shim died")
		}
		if sock := strings.TrimPrefix(addr, "unix://"); sock != "" {
			if _, err := os.Stat(sock); err == nil {
				t.Errorf("the dead shim's socket %s is left", sock)
			}
		}
		if s, _ := c.taskStatus("k1"); s != "" && s != "STOPPED" {
			t.Errorf("task after the shim died: %s", s)
		}
		c.ctr(nil, "task", "rm", "k1")
		c.must("container", "rm", "k1")
	})

	t.Run("containerd restarted", func(t *testing.T) {
		vmm := run(hbImage, "r1")
		waitCount(t, serial("r1"), "heartbeat ", 1, 30*time.Second)
		c.stop()
		time.Sleep(time.Second)
		c.start()
		ev.restart()
		if s, pid := c.taskStatus("r1"); s != "RUNNING" || pid != vmm {
			t.Errorf("after the restart: %s pid %d, want RUNNING pid %d", s, pid, vmm)
		}
		waitCount(t, serial("r1"), "heartbeat ", countIn(serial("r1"), "heartbeat ")+2, 30*time.Second)
		c.must("task", "kill", "-s", "SIGKILL", "r1")
		c.waitTask("r1", "STOPPED", 20*time.Second)
		// The shim's events reach the restarted containerd.
		if e := ev.waitFor(t, "r1", "/tasks/exit", 10*time.Second); e.body["exit_status"] != float64(137) {
			t.Errorf("exit event after the restart: %v", e.body)
		}
		c.must("task", "rm", "r1")
		ev.waitFor(t, "r1", "/tasks/delete", 10*time.Second)
		c.must("container", "rm", "r1")
	})

	t.Run("guest exits by itself", func(t *testing.T) {
		c.must("run", "-d", "--runtime", runtimeType, exitImage, "d1")
		c.waitTask("d1", "STOPPED", 30*time.Second)
		if e := ev.waitFor(t, "d1", "/tasks/exit", 10*time.Second); e.body["exit_status"] != float64(11) {
			t.Errorf("exit event: %v, want exit_status 11", e.body)
		}
		// The shim still serves the stopped task: kill is "already
		// finished", kill --all a no-op, as with runc.
		if r := c.ctr(nil, "task", "kill", "-s", "SIGKILL", "d1"); r.code == 0 || !strings.Contains(r.out, "not found") {
			t.Errorf("kill of the exited task: exit %d: %s", r.code, r.out)
		}
		if st, _ := c.uruncState(c.ns, "d1"); st != "stopped" {
			t.Errorf("urunc state of the exited guest: %q", st)
		}
		c.must("task", "rm", "d1")
		c.must("container", "rm", "d1")
	})

	t.Run("VMM killed from outside", func(t *testing.T) {
		vmm := run(hbImage, "v1")
		syscall.Kill(vmm, syscall.SIGKILL)
		c.waitTask("v1", "STOPPED", 20*time.Second)
		if e := ev.waitFor(t, "v1", "/tasks/exit", 10*time.Second); e.body["exit_status"] != float64(137) {
			t.Errorf("exit event: %v, want 137", e.body)
		}
		c.must("task", "rm", "v1")
		c.must("container", "rm", "v1")
	})

	t.Run("create fails", func(t *testing.T) {
		// A rootfs whose urunc.json names a kernel it does not hold.
		rootfs := filepath.Join(c.base, "bad-rootfs")
		os.MkdirAll(filepath.Join(rootfs, "unikernel"), 0o755)
		os.WriteFile(filepath.Join(rootfs, config.URuncJSON), config.EncodeURuncJSON(map[string]string{
			config.KeyType: "unikraft", config.KeyHypervisor: "qemu", config.KeyBinary: "/unikernel/missing.elf",
		}), 0o644)
		r := c.ctr(nil, "run", "--rm", "--runtime", runtimeType, "--rootfs", rootfs, "b1", "x")
		if r.code == 0 || !strings.Contains(r.out, "missing.elf") {
			t.Errorf("create of a bad bundle: exit %d: %s", r.code, r.out)
		}
		t.Logf("ctr run of a bad bundle: %s", strings.TrimSpace(r.out))
		c.ctr(nil, "container", "rm", "b1")
	})

	c.checkClean("k1", "r1", "d1", "v1", "b1")
	if out := fmt.Sprint(processesUsing(c.base)); out != "[]" {
		t.Errorf("left: %s", out)
	}
}

package shim_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
	"github.com/urunc-dev/urunc/runtime/state"
)

// TestShimCtr: ctr against containerd 1.6 with --runtime
// io.containerd.urunc.v2. A unikernel in the foreground (output, exit
// status) and detached (RUNNING, urunc's own view of it, the serial log,
// ps, pause/resume with the vCPUs really stopped, metrics, exec refused,
// SIGKILL -> 137, rm), events in order, a log file, a runc container
// through the same shim (its exit status), and nothing left.
func TestShimCtr(t *testing.T) {
	requireTools(t)
	c := startContainerd(t, "")
	c.importImages(c.ns)
	ev := c.events()

	// Foreground: the guest's output and exit status (the test unikernel's
	// exit=5 leaves qemu with (5<<1)|1).
	t0 := time.Now()
	r := c.ctr(nil, "run", "--rm", "--runtime", runtimeType, exitImage, "fg1")
	if r.code != 11 || !strings.Contains(r.out, "cmdline:") || !strings.Contains(r.out, "bye") {
		t.Fatalf("ctr run: exit %d, want 11: %s", r.code, r.out)
	}
	t.Logf("ctr run --rm of the unikernel: %s", time.Since(t0).Round(time.Millisecond))

	// Detached.
	t0 = time.Now()
	c.must("run", "-d", "--runtime", runtimeType, hbImage, "bg1")
	pid := c.waitTask("bg1", "RUNNING", 20*time.Second)
	t.Logf("run -d -> RUNNING: %s", time.Since(t0).Round(time.Millisecond))
	if st, upid := c.uruncState(c.ns, "bg1"); st != "running" || upid != pid {
		t.Errorf("urunc state: %s pid %d; ctr: RUNNING pid %d", st, upid, pid)
	}
	// urunc list sees it (the state root is the shim's).
	if r := c.urunc(c.ns, "list"); !strings.Contains(r.out, "bg1") {
		t.Errorf("urunc list: %s", r.out)
	}
	serial := filepath.Join(c.uruncRoot(c.ns), "bg1", state.SerialFile)
	waitCount(t, serial, "heartbeat ", 2, 30*time.Second)
	if out := c.must("task", "ps", "bg1"); !strings.Contains(out, strconv.Itoa(pid)) {
		t.Errorf("ctr task ps: %s, want the VMM pid %d", out, pid)
	}

	// Pause stops the vCPUs: no heartbeat while paused.
	c.must("task", "pause", "bg1")
	if s, _ := c.taskStatus("bg1"); s != "PAUSED" {
		t.Errorf("after pause: %s", s)
	}
	if st, _ := c.uruncState(c.ns, "bg1"); st != "paused" {
		t.Errorf("urunc state after pause: %s", st)
	}
	n := countIn(serial, "heartbeat ")
	time.Sleep(2500 * time.Millisecond)
	if m := countIn(serial, "heartbeat "); m > n+1 { // one may be in flight
		t.Errorf("heartbeats went on while paused: %d -> %d", n, m)
	}
	c.must("task", "resume", "bg1")
	if s, _ := c.taskStatus("bg1"); s != "RUNNING" {
		t.Errorf("after resume: %s", s)
	}
	waitCount(t, serial, "heartbeat ", countIn(serial, "heartbeat ")+1, 30*time.Second)

	// cgroup metrics of the VMM.
	if out := c.must("task", "metrics", "bg1"); !strings.Contains(out, "memory.usage_in_bytes") && !strings.Contains(out, "memory.usage") {
		t.Errorf("ctr task metrics: %s", out)
	}
	// exec is refused with urunc's reason.
	if r := c.ctr(nil, "task", "exec", "--exec-id", "x1", "bg1", "/bin/sh"); r.code == 0 || !strings.Contains(r.out, "not supported for unikernel containers") {
		t.Errorf("ctr task exec: exit %d: %s", r.code, r.out)
	}

	c.must("task", "kill", "-s", "SIGKILL", "bg1")
	c.waitTask("bg1", "STOPPED", 20*time.Second)
	if e := ev.waitFor(t, "bg1", "/tasks/exit", 10*time.Second); e.body["exit_status"] != float64(137) {
		t.Errorf("exit event: %v, want exit_status 137", e.body)
	}
	c.must("task", "rm", "bg1")
	c.must("container", "rm", "bg1")
	ev.waitFor(t, "bg1", "/containers/delete", 10*time.Second)
	var tasks []string
	for _, tp := range topics(ev.of("bg1")) {
		if strings.HasPrefix(tp, "/tasks/") {
			tasks = append(tasks, tp)
		}
	}
	got := strings.Join(tasks, " ")
	want := "/tasks/create /tasks/start /tasks/paused /tasks/resumed /tasks/exit /tasks/delete"
	if got != want {
		t.Errorf("events of bg1: %s\nwant in this order: %s", got, want)
	}

	// A log file instead of FIFOs.
	logPath := filepath.Join(c.base, "logs", "lf.log")
	r = c.ctr(nil, "run", "--rm", "--log-uri", "file://"+logPath, "--runtime", runtimeType, exitImage, "lf")
	if r.code != 11 || !strings.Contains(readFile(logPath), "bye") {
		t.Errorf("--log-uri file: exit %d, log %q", r.code, readFile(logPath))
	}

	// A terminal (ctr run -t, under script(1) for a tty): the console is
	// the guest's through a pty; the exit status is the guest's.
	if _, err := exec.LookPath("script"); err == nil {
		cmdline := fmt.Sprintf("ctr -a %s -n %s run -t --rm --runtime %s %s tty1", c.sock, c.ns, runtimeType, exitImage)
		out, err := exec.Command("script", "-qec", cmdline, "/dev/null").CombinedOutput()
		if code := e2e.ExitCode(err); code != 11 || !strings.Contains(string(out), "bye") || !strings.Contains(string(out), "TERM=") {
			t.Errorf("ctr run -t: exit %d: %s", code, out)
		}
	}

	// A binary:// logger (what nerdctl run -d uses): fds 3 and 4 are the
	// container's stdout and stderr, fd 5 says it is ready.
	logger := filepath.Join(c.base, "logger.sh")
	os.WriteFile(logger, []byte("#!/bin/sh\nexec 5>&-\ncat <&3 > \"$2\" &\ncat <&4 > \"$2.err\" &\nwait\n"), 0o755)
	binOut := filepath.Join(c.base, "binary.log")
	c.must("run", "-d", "--log-uri", "binary://"+logger+"?out="+binOut, "--runtime", runtimeType, hbImage, "bl")
	c.waitTask("bl", "RUNNING", 20*time.Second)
	waitCount(t, binOut, "heartbeat ", 1, 30*time.Second)
	c.must("task", "kill", "-s", "SIGKILL", "bl")
	c.waitTask("bl", "STOPPED", 20*time.Second)
	c.must("task", "rm", "bl")
	c.must("container", "rm", "bl")

	// No unikernel configuration: runc runs it, through the same shim.
	r = c.ctr(nil, "run", "--rm", "--runtime", runtimeType, bbImage, "rc1", "/bin/sh", "-c", "echo out-ok; echo err-ok >&2; exit 7")
	if r.code != 7 || !strings.Contains(r.out, "out-ok") || !strings.Contains(r.out, "err-ok") {
		t.Errorf("runc container through the shim: exit %d: %s", r.code, r.out)
	}
	c.checkClean("fg1", "bg1", "lf", "tty1", "bl", "rc1")
	c.checkNoErrors()
	if _, err := os.Stat(filepath.Join(c.state, "runc", c.ns, "rc1")); err == nil {
		t.Errorf("runc state of rc1 left")
	}
}

func waitCount(t *testing.T, path, s string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for countIn(path, s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d x %q within %s, want %d:\n%s", path, countIn(path, s), s, timeout, n, readFile(path))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readFile(p string) string {
	data, _ := os.ReadFile(p)
	return string(data)
}

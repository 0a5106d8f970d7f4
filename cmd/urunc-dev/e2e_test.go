package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/internal/e2e"
	"github.com/urunc-dev/urunc/internal/testenv"
	"github.com/urunc-dev/urunc/runtime/state"
)

// The console tests run the real bin/urunc-dev in a tmux session of
// 160x45 cells, type with send-keys and read the screen with
// capture-pane, as a user would see it.

// tmuxConsole is one bin/urunc-dev running in tmux.
type tmuxConsole struct {
	t       *testing.T
	session string
}

// buildConsole makes bin/urunc-dev from this tree (make build-dev).
func buildConsole(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not found: install Debian package tmux")
	}
	testenv.Require(t) // builds the console and drives it in tmux
	e2e.Make(t, "build-dev")
	return filepath.Join(e2e.RepoRoot(), "bin", "urunc-dev")
}

// startConsole runs bin/urunc-dev with args in a new tmux session.
func startConsole(t *testing.T, bin string, args ...string) *tmuxConsole {
	t.Helper()
	s := fmt.Sprintf("urunc-dev-e2e-%d-%d", os.Getpid(), time.Now().UnixNano()%1000000)
	cmd := strings.Join(append([]string{bin}, args...), " ")
	// TERM is fixed so the screen does not depend on the caller's terminal.
	out, err := exec.Command("tmux", "new-session", "-d", "-s", s, "-x", "160", "-y", "45", "-e", "TERM=xterm-256color", cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	c := &tmuxConsole{t: t, session: s}
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", s).Run() })
	return c
}

func (c *tmuxConsole) screen() string {
	out, _ := exec.Command("tmux", "capture-pane", "-p", "-t", c.session).Output()
	return string(out)
}

func (c *tmuxConsole) keys(keys ...string) {
	c.t.Helper()
	for _, k := range keys {
		if out, err := exec.Command("tmux", "send-keys", "-t", c.session, k).CombinedOutput(); err != nil {
			c.t.Fatalf("send-keys %s: %v %s", k, err, out)
		}
		time.Sleep(60 * time.Millisecond)
	}
}

// typeText types s literally.
func (c *tmuxConsole) typeText(s string) {
	c.t.Helper()
	if out, err := exec.Command("tmux", "send-keys", "-t", c.session, "-l", s).CombinedOutput(); err != nil {
		c.t.Fatalf("send-keys -l %s: %v %s", s, err, out)
	}
	time.Sleep(60 * time.Millisecond)
}

// until waits for cond on the screen, failing with the screen after timeout.
func (c *tmuxConsole) until(what string, timeout time.Duration, cond func(screen string) bool) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		s := c.screen()
		if cond(s) {
			return
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("screen never showed %s within %s:\n%s", what, timeout, s)
		case <-time.After(30 * time.Millisecond):
		}
	}
}

// waitScreen waits until the screen shows every string.
func (c *tmuxConsole) waitScreen(what string, timeout time.Duration, all ...string) {
	c.t.Helper()
	c.until(fmt.Sprintf("%s %q", what, all), timeout, func(s string) bool {
		for _, a := range all {
			if !strings.Contains(s, a) {
				return false
			}
		}
		return true
	})
}

// waitRow waits until the container's list row contains want ("" = the
// row is gone).
func (c *tmuxConsole) waitRow(id, want string, timeout time.Duration) {
	c.t.Helper()
	c.until(fmt.Sprintf("row %s with %q", id, want), timeout, func(s string) bool {
		row := rowOf(s, id)
		return (want == "" && row == "") || (want != "" && strings.Contains(row, want))
	})
}

// waitQuit waits for the console to exit.
func (c *tmuxConsole) waitQuit(timeout time.Duration) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for ctx.Err() == nil {
		if exec.Command("tmux", "has-session", "-t", c.session).Run() != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("console did not quit:\n%s", c.screen())
}

// rowOf returns the list row of a container ("" if not listed).
func rowOf(screen, id string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, "> "), id+" ") {
			return l
		}
	}
	return ""
}

// TestConsoleFakeState follows a root written by hand through
// runtime/state, as urunc writes it: no urunc, no qemu, no root needed.
func TestConsoleFakeState(t *testing.T) {
	bin := buildConsole(t)
	root := filepath.Join(t.TempDir(), "root")
	con := startConsole(t, bin, "--root", root, "--urunc", "/bin/false")
	con.waitScreen("empty list", 10*time.Second, "no containers under "+root)

	self := os.Getpid()
	startTime, err := state.StartTime(self)
	if err != nil {
		t.Fatal(err)
	}
	// create: the directory, the lock held by "create", the journal.
	d, err := state.Create(root, "fake1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	unlock, err := d.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := &state.State{
		State:   specs.State{Version: specs.Version, ID: "fake1", Status: "creating", Bundle: "/bundles/fake1"},
		Created: time.Now(), Guest: "unikraft", Hypervisor: "qemu", Owner: "root",
	}
	d.WriteState(st)
	d.AppendEvent(state.Event{Step: state.StepCreate, PID: 100, Detail: "bundle /bundles/fake1"})
	d.AppendEvent(state.Event{Step: state.StepChildSpawned, PID: 100, Waiting: "BOOTED", TimeoutMS: 10000})
	con.waitRow("fake1", "creating", 5*time.Second)
	con.waitRow("fake1", "waiting BOOTED", 5*time.Second)

	// The stuck wait, live: flagged once past its expected 2 s.
	con.keys("Enter")
	con.waitScreen("the wait", 5*time.Second, "waiting for BOOTED", "gives up after 10.0s")
	con.waitScreen("the wait flagged", 5*time.Second, "longer than expected")

	// The handshake goes on: created, with the child waiting for START.
	d.AppendEvent(state.Event{Step: state.StepBooted, PID: 101, Waiting: "ACK", TimeoutMS: 10000})
	d.AppendEvent(state.Event{Step: state.StepBootedReceived, PID: 100})
	d.AppendEvent(state.Event{Step: state.StepAckSent, PID: 100})
	d.AppendEvent(state.Event{Step: state.StepAcked, PID: 101, Waiting: "START"})
	st.Status, st.Pid, st.PidStartTime = "created", self, startTime
	d.WriteState(st)
	d.AppendEvent(state.Event{Step: state.StepCreated, PID: 100})
	unlock()
	con.waitScreen("created handshake", 5*time.Second, "booted-received", "ack-sent", "waiting for START", "S starts it")
	con.keys("Escape")
	con.waitRow("fake1", "created", 5*time.Second)

	// start: running, the console output appears.
	d.AppendEvent(state.Event{Step: state.StepStart, PID: 102, Waiting: "child to exec the VMM", TimeoutMS: 60000})
	d.AppendEvent(state.Event{Step: state.StepStartReceived, PID: 101})
	d.AppendEvent(state.Event{Step: state.StepVMMExec, PID: 101, Detail: "qemu-system-x86_64"})
	d.WriteVMM(&state.VMMInfo{Hypervisor: "qemu", Binary: "/usr/bin/qemu-system-x86_64", PID: self,
		Argv: []string{"qemu-system-x86_64", "-M", "microvm"}, Accel: "tcg", AccelReason: "no /dev/kvm"})
	st.Status = "running"
	d.WriteState(st)
	d.AppendEvent(state.Event{Step: state.StepRunning, PID: 102})
	serial, _ := os.OpenFile(d.File(state.SerialFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	defer serial.Close()
	serial.WriteString("Hello from a fake guest\nheartbeat 1\n")
	con.waitRow("fake1", "running", 5*time.Second)
	con.keys("2")
	con.waitScreen("serial", 5*time.Second, "2 Serial", "Hello from a fake guest", "heartbeat 1")
	serial.WriteString("heartbeat 2\n")
	con.waitScreen("appended serial", 5*time.Second, "heartbeat 2")
	con.keys("4")
	con.waitScreen("config", 5*time.Second, "tcg (no /dev/kvm)", "-M microvm")
	con.keys("3")
	con.waitScreen("resources", 5*time.Second, "CPU (100% = one core)")
	con.keys("Escape")

	// A burst of containers appears and goes.
	for i := 0; i < 30; i++ {
		bd, err := state.Create(root, fmt.Sprintf("burst%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		bd.WriteState(&state.State{State: specs.State{ID: bd.ID, Status: "stopped"}})
	}
	con.waitScreen("burst", 5*time.Second, "31 containers")
	for i := 0; i < 30; i++ {
		(state.Dir{Root: root, ID: fmt.Sprintf("burst%02d", i)}).Remove()
	}
	con.waitScreen("burst gone", 5*time.Second, "1 containers")

	// stopped, then deleted.
	st.Status = "stopped"
	d.WriteState(st)
	d.AppendEvent(state.Event{Step: state.StepStopped, PID: 103, Detail: "exit status 0"})
	con.waitRow("fake1", "stopped", 5*time.Second)
	d.Remove()
	con.waitRow("fake1", "deleted", 5*time.Second)
	con.waitScreen("empty again", 5*time.Second, "0 containers")

	// An action whose urunc fails shows the failure on the status line.
	d, _ = state.Create(root, "fake2")
	d.WriteState(&state.State{State: specs.State{ID: "fake2", Status: "stopped"}})
	con.waitRow("fake2", "stopped", 5*time.Second)
	con.keys("Home") // the live ones come first, before the deleted ones kept
	con.keys("S")
	con.waitScreen("error line", 5*time.Second, "urunc start: exit status 1")

	con.keys("q")
	con.waitQuit(5 * time.Second)
}

// requireRuntime skips unless the real runtime can run the demo unikernel.
func requireRuntime(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(e2e.URuncBin()); err != nil {
		t.Skipf("%s not built yet: run make build", e2e.URuncBin())
	}
	if _, err := os.Stat(e2e.Unikernel()); err != nil {
		t.Skipf("%s not built yet: run make unikernel", e2e.Unikernel())
	}
	e2e.RequireRoot(t)
	e2e.RequireQEMU(t)
}

// demoBundles makes the demo bundles with the real CLI.
func demoBundles(t *testing.T, bin string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundles")
	out, err := exec.Command(bin, "bundle", "--demo", "--kernel", e2e.Unikernel(), "--out", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("urunc-dev bundle --demo: %v %s", err, out)
	}
	return dir
}

// TestConsoleFollowsContainersMadeElsewhere: bin/urunc creates, starts,
// kills and deletes; the console shows every step as it happens.
func TestConsoleFollowsContainersMadeElsewhere(t *testing.T) {
	requireRuntime(t)
	bin := buildConsole(t)
	u := e2e.NewURunc(t)
	bundles := demoBundles(t, bin)
	os.MkdirAll(u.Root, 0o700)
	con := startConsole(t, bin, "--root", u.Root, "--bundles", bundles, "--urunc", u.Bin)
	con.waitScreen("empty list", 10*time.Second, "no containers under")

	stdio, _ := os.Create(filepath.Join(t.TempDir(), "stdio"))
	defer stdio.Close()
	u.RunWith(t, stdio, "create", "--bundle", filepath.Join(bundles, "heartbeat"), "hb1")
	con.waitRow("hb1", "created", 5*time.Second)
	con.waitRow("hb1", "waiting START", 5*time.Second)

	u.MustRun(t, "start", "hb1")
	con.waitRow("hb1", "running", 5*time.Second)

	con.keys("Enter")
	con.waitScreen("handshake steps", 5*time.Second, "1 Handshake", "child-spawned", "booted", "acked", "created", "start-received", "vmm-exec", "running", "took: create")
	con.keys("2")
	con.waitScreen("serial output", 15*time.Second, "Hello from the urunc test unikernel", "heartbeat 2")
	con.keys("/")
	con.typeText("heartbeat 1")
	con.keys("Enter")
	con.waitScreen("search", 5*time.Second, `search "heartbeat 1"`, "match at line")
	con.keys("3")
	// The cgroup line is read from the real cgroup urunc made (the demo
	// bundles set no memory limit).
	con.waitScreen("resources", 10*time.Second, "CPU (100% = one core)", "RSS (MiB)", "cgroup memory (VMM + guest)", "(no limit)")
	con.keys("4")
	con.waitScreen("config", 5*time.Second, "accel", "qemu-system-x86_64", "machine        microvm")
	con.keys("Escape")

	u.MustRun(t, "kill", "hb1", "KILL")
	con.waitRow("hb1", "stopped", 5*time.Second)
	u.MustRun(t, "delete", "hb1")
	con.waitRow("hb1", "deleted", 5*time.Second)

	// The short-lived demo: created, running, then stopped on its own.
	u.RunWith(t, stdio, "create", "--bundle", filepath.Join(bundles, "hello"), "hello1")
	con.waitRow("hello1", "created", 5*time.Second)
	u.MustRun(t, "start", "hello1")
	con.waitRow("hello1", "stopped", 15*time.Second)
	con.keys("Home", "2") // the selection stayed on hb1, kept after its delete
	con.waitScreen("hello's post-mortem", 5*time.Second, "hello1  stopped", "VMM exited; its status went to its parent")
	con.waitScreen("hello's output", 5*time.Second, "echo: demo", "bye")
	con.keys("Escape")
	u.MustRun(t, "delete", "hello1")
	con.waitRow("hello1", "deleted", 5*time.Second)
}

// TestConsoleActions: create, start, kill and delete from inside the
// console, through bin/urunc; urunc's error shown as one line; q quits.
func TestConsoleActions(t *testing.T) {
	requireRuntime(t)
	bin := buildConsole(t)
	u := e2e.NewURunc(t)
	bundles := demoBundles(t, bin)
	os.MkdirAll(u.Root, 0o700)
	con := startConsole(t, bin, "--root", u.Root, "--bundles", bundles, "--urunc", u.Bin)
	con.waitScreen("empty list", 10*time.Second, "no containers under")

	// c: pick heartbeat, start after create off, accept the default id.
	con.keys("c")
	con.waitScreen("bundle picker", 5*time.Second, "Create a container from a bundle", "heartbeat", "hello", "[x] start after create")
	con.keys("Tab")
	con.waitScreen("start toggled", 5*time.Second, "[ ] start after create")
	con.keys("Enter")
	con.waitScreen("id prompt", 5*time.Second, "container id: heartbeat-1")
	con.keys("Enter")
	con.waitRow("heartbeat-1", "created", 15*time.Second)
	if s := u.Status(t, "heartbeat-1"); s != "created" {
		t.Fatalf("urunc says %s", s)
	}

	// S: start.
	con.keys("S")
	con.waitRow("heartbeat-1", "running", 15*time.Second)

	// p: pause, p: resume.
	con.keys("p")
	con.waitRow("heartbeat-1", "paused", 10*time.Second)
	con.keys("p")
	con.waitRow("heartbeat-1", "running", 10*time.Second)

	// K k: kill with SIGKILL.
	con.keys("K")
	con.waitScreen("kill dialog", 5*time.Second, "[k] KILL")
	con.keys("k")
	con.waitRow("heartbeat-1", "stopped", 10*time.Second)

	// D y: delete.
	con.keys("D")
	con.waitScreen("confirmation", 5*time.Second, "delete heartbeat-1? (y/N)")
	con.keys("y")
	con.waitRow("heartbeat-1", "deleted", 10*time.Second)

	// c with start: hello runs and stops on its own.
	con.keys("c", "Down")
	con.keys("Tab") // start after create back on
	con.waitScreen("start toggled", 5*time.Second, "[x] start after create")
	con.keys("Enter")
	con.waitScreen("id prompt", 5*time.Second, "container id: hello-2")
	con.keys("Enter")
	con.waitRow("hello-2", "stopped", 20*time.Second)
	con.waitScreen("outcome", 5*time.Second, "urunc create + start hello-2: ok")

	// A live container deleted from the console is forced.
	con.keys("c", "Up", "Enter", "Enter")
	con.waitRow("heartbeat-3", "running", 15*time.Second)
	con.keys("/")
	con.typeText("heartbeat-3")
	con.keys("Enter", "D")
	con.waitScreen("forced delete", 5*time.Second, "the VMM will be killed (--force)")
	con.keys("y")
	con.waitRow("heartbeat-3", "deleted", 15*time.Second)
	con.keys("Escape")
	if left := u.Leftovers(); len(left) != 1 { // hello-2
		t.Fatalf("left under root: %v", left)
	}

	// urunc's own error shows as one readable line.
	con.keys("c", "Enter")
	con.waitScreen("id prompt", 5*time.Second, "container id: heartbeat-4")
	for range "heartbeat-4" {
		con.keys("BSpace")
	}
	con.typeText("bad/id")
	con.keys("Enter")
	con.waitScreen("error line", 10*time.Second, "urunc create", "invalid container id")

	con.keys("q")
	con.waitQuit(5 * time.Second)
}

func TestBundleCommand(t *testing.T) {
	kernel := filepath.Join(t.TempDir(), "k.elf")
	os.WriteFile(kernel, []byte("kernel"), 0o644)
	initrd := filepath.Join(t.TempDir(), "initrd.img")
	os.WriteFile(initrd, []byte("initrd"), 0o644)
	out := filepath.Join(t.TempDir(), "b")
	if err := MakeBundle(BundleOptions{Kernel: kernel, Type: "hermit", Hypervisor: "qemu", Cmdline: "a b", Initrd: initrd, Out: out,
		Annotations: map[string]string{"x": "y"}}); err != nil {
		t.Fatal(err)
	}
	cfg := e2e.ReadFile(filepath.Join(out, "config.json"))
	for _, want := range []string{
		`"com.urunc.unikernel.unikernelType": "hermit"`, `"com.urunc.unikernel.hypervisor": "qemu"`,
		`"com.urunc.unikernel.binary": "/unikernel/k.elf"`, `"com.urunc.unikernel.cmdline": "a b"`,
		`"com.urunc.unikernel.initrd": "/unikernel/initrd.img"`, `"x": "y"`, `"path": "rootfs"`,
		"\"args\": [\n      \"a\",\n      \"b\"\n    ]",
	} {
		if !strings.Contains(cfg, want) {
			t.Fatalf("config.json lacks %s:\n%s", want, cfg)
		}
	}
	uj := e2e.ReadFile(filepath.Join(out, "rootfs", "urunc.json"))
	if !strings.Contains(uj, `"aGVybWl0"`) { // base64("hermit")
		t.Fatalf("urunc.json: %s", uj)
	}
	// The files it was made from, for rerun on rebuild.
	for _, want := range []string{`"com.urunc.dev.kernelSource": "` + kernel + `"`, `"com.urunc.dev.initrdSource": "` + initrd + `"`} {
		if !strings.Contains(cfg, want) {
			t.Fatalf("config.json lacks %s:\n%s", want, cfg)
		}
	}
	if e2e.ReadFile(filepath.Join(out, "rootfs", "unikernel", "k.elf")) != "kernel" ||
		e2e.ReadFile(filepath.Join(out, "rootfs", "unikernel", "initrd.img")) != "initrd" {
		t.Fatal("kernel or initrd not copied")
	}
}

func TestDemoBundles(t *testing.T) {
	kernel := filepath.Join(t.TempDir(), "hello.elf")
	os.WriteFile(kernel, []byte("kernel"), 0o644)
	out := t.TempDir()
	if err := makeDemo(out, kernel); err != nil {
		t.Fatal(err)
	}
	for name, cmdline := range map[string]string{"hello": "echo=demo", "heartbeat": "heartbeat"} {
		cfg := e2e.ReadFile(filepath.Join(out, name, "config.json"))
		for _, want := range []string{`"com.urunc.unikernel.cmdline": "` + cmdline + `"`, `"com.urunc.vmm.machine": "microvm"`, `"com.urunc.unikernel.unikernelType": "unikraft"`} {
			if !strings.Contains(cfg, want) {
				t.Fatalf("%s lacks %s:\n%s", name, want, cfg)
			}
		}
	}
	if err := makeDemo(out, filepath.Join(t.TempDir(), "missing.elf")); err == nil || !strings.Contains(err.Error(), "make unikernel") {
		t.Fatalf("missing kernel: %v", err)
	}
}

// makeBundle runs urunc-dev bundle with args into dir/name.
func makeBundle(t *testing.T, bin, dir, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	if o, err := exec.Command(bin, append([]string{"bundle", "--out", out}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("urunc-dev bundle %v: %v %s", args, err, o)
	}
	return out
}

// TestConsolePostMortem: how each guest ended, on the list and in the
// detail view, for containers the console created (it reaps their VMMs)
// and for one created elsewhere; a deleted container stays inspectable
// until dismissed.
func TestConsolePostMortem(t *testing.T) {
	requireRuntime(t)
	hwrng := e2e.Guest(t, "unikraft-0.17.0/helloworld-hwrng_qemu-x86_64")
	bin := buildConsole(t)
	u := e2e.NewURunc(t)
	bundles := t.TempDir()
	microvm := "--annotation=com.urunc.vmm.machine=microvm"
	makeBundle(t, bin, bundles, "a-exit3", "--kernel", e2e.Unikernel(), "--cmdline", "exit=3", microvm)
	makeBundle(t, bin, bundles, "b-heartbeat", "--kernel", e2e.Unikernel(), "--cmdline", "heartbeat", microvm)
	// A real Unikraft guest that fails under TCG (no RDSEED) and still
	// powers the VM off cleanly: only its console says it failed.
	makeBundle(t, bin, bundles, "c-hwrng", "--kernel", hwrng, "--type", "unikraft", "--annotation=com.urunc.unikernel.unikernelVersion=0.17.0")
	// A file qemu cannot boot: qemu's own error line is the reason.
	bad := filepath.Join(t.TempDir(), "bad.elf")
	os.WriteFile(bad, []byte("not a kernel\n"), 0o644)
	makeBundle(t, bin, bundles, "d-bad", "--kernel", bad, microvm)
	os.MkdirAll(u.Root, 0o700)
	con := startConsole(t, bin, "--root", u.Root, "--bundles", bundles, "--urunc", u.Bin)
	con.waitScreen("empty list", 10*time.Second, "no containers under")

	// The picker lists a-exit3, b-heartbeat, c-hwrng, d-bad (start after create on).
	con.keys("c", "Enter")
	con.waitScreen("id prompt", 5*time.Second, "container id: a-exit3-1")
	con.keys("Enter")
	con.waitRow("a-exit3-1", "exit 7: guest exited 7", 20*time.Second)

	con.keys("c", "Down", "Down", "Enter")
	con.waitScreen("id prompt", 5*time.Second, "container id: c-hwrng-2")
	con.keys("Enter")
	con.waitRow("c-hwrng-2", "exit 1: guest failed: ", 60*time.Second)
	if !strings.Contains(e2e.ReadFile(filepath.Join(u.Root, "c-hwrng-2", "events.jsonl")), `"step":"exited"`) {
		t.Fatal("the console's reaper journaled no exited step")
	}

	con.keys("c", "Up", "Enter") // the picker stays on the last bundle chosen
	con.waitScreen("id prompt", 5*time.Second, "container id: b-heartbeat-3")
	con.keys("Enter")
	con.waitRow("b-heartbeat-3", "running", 20*time.Second)
	con.keys("K", "k")
	con.waitRow("b-heartbeat-3", "exit 137: VMM killed by SIGKILL", 15*time.Second)

	con.keys("c", "Down", "Down", "Enter") // from b-heartbeat to d-bad
	con.waitScreen("id prompt", 5*time.Second, "container id: d-bad-4")
	con.keys("Enter")
	con.waitRow("d-bad-4", "exit 1: VMM exited 1: qemu: invalid kernel header", 20*time.Second)

	// One made elsewhere: its VMM's status goes to init, not to us.
	stdio, _ := os.Create(filepath.Join(t.TempDir(), "stdio"))
	defer stdio.Close()
	u.RunWith(t, stdio, "create", "--bundle", filepath.Join(bundles, "a-exit3"), "elsewhere")
	u.MustRun(t, "start", "elsewhere")
	con.waitRow("elsewhere", "VMM exited; its status went to its parent", 20*time.Second)

	// The detail view says it under the tabs, on every tab.
	con.keys("/")
	con.typeText("hwrng")
	con.keys("Enter", "Enter", "2")
	con.waitScreen("failure in the detail view", 5*time.Second, "exit 1: guest failed: ", "Init function at", "Could not initialize the HWRNG")
	con.keys("Escape", "Escape")

	// Deleted: kept, with its console and journal, until dismissed.
	u.MustRun(t, "delete", "c-hwrng-2")
	con.waitRow("c-hwrng-2", "deleted", 10*time.Second)
	con.waitScreen("header", 5*time.Second, "1 deleted")
	con.keys("End", "Enter", "2")
	con.waitScreen("deleted container's console", 5*time.Second, "c-hwrng-2  deleted", "kept until dismissed (x)", "Could not initialize the HWRNG")
	con.keys("1")
	con.waitScreen("deleted container's journal", 5*time.Second, "exited", "delete")
	con.keys("S")
	con.waitScreen("refused", 5*time.Second, "only its record is left")
	con.keys("x")
	con.waitScreen("dismissed", 5*time.Second, "dismissed c-hwrng-2")
	con.waitRow("c-hwrng-2", "", 5*time.Second)

	con.keys("q")
	con.waitQuit(5 * time.Second)
}

// shellBundle is a Linux microVM running an interactive busybox sh on
// its console (process.terminal: the shell gets the console's tty).
func shellBundle(t *testing.T, annotations map[string]string) string {
	t.Helper()
	dir := e2e.BusyboxLinuxBundle(t, []string{"sh"}, []string{"PS1=guest# "})
	e2e.EditSpec(t, dir, func(s *specs.Spec) {
		s.Process.Terminal = true
		for k, v := range annotations {
			s.Annotations[k] = v
		}
	})
	return dir
}

// ptyReceiver accepts pty masters on a console socket and reads them
// away, as an engine's shim would (a master nobody reads stalls the VMM).
func ptyReceiver(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "tty.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
			_, oobn, _, _, _ := conn.ReadMsgUnix(buf, oob)
			conn.Close()
			if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) == 1 {
				if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) == 1 {
					f := os.NewFile(uintptr(fds[0]), "master")
					t.Cleanup(func() { f.Close() })
					go io.Copy(io.Discard, f)
				}
			}
		}
	}()
	return sock
}

// TestConsoleAttach talks to a Linux guest's shell from the Serial tab:
// for a container the console created (the pty it got from create), and
// for one created elsewhere whose VMM serves its console on console.sock
// (annotation com.urunc.vmm.console=socket).
func TestConsoleAttach(t *testing.T) {
	requireRuntime(t)
	bin := buildConsole(t)
	u := e2e.NewURunc(t)
	own := shellBundle(t, nil)
	os.MkdirAll(u.Root, 0o700)
	con := startConsole(t, bin, "--root", u.Root, "--bundles", own, "--urunc", u.Bin)
	con.waitScreen("empty list", 10*time.Second, "no containers under")

	// Created here: the console holds the pty master create sent it.
	name := filepath.Base(own)
	con.keys("c", "Enter")
	con.waitScreen("id prompt", 5*time.Second, "container id: "+name+"-1")
	con.keys("Enter")
	con.waitRow(name+"-1", "running", 30*time.Second)
	con.keys("Enter", "2")
	con.waitScreen("the shell's prompt", 90*time.Second, "guest#")
	con.keys("a")
	con.waitScreen("attached", 5*time.Second, "ATTACHED via the stdin this console gave it", "ctrl+] detach")
	con.typeText("echo attached-$((6*7))")
	con.keys("Enter")
	con.waitScreen("the guest ran it", 20*time.Second, "attached-42")
	// q is the guest's while attached: the console is still there.
	con.typeText("q")
	con.keys("BSpace", "C-]")
	con.waitScreen("detached", 5*time.Second, "detached from "+name+"-1")
	con.keys("Escape")

	// Created elsewhere, console on a socket: anyone can attach.
	other := shellBundle(t, map[string]string{"com.urunc.vmm.console": "socket"})
	stdio, _ := os.Create(filepath.Join(t.TempDir(), "stdio"))
	defer stdio.Close()
	u.RunWith(t, stdio, "create", "--bundle", other, "--console-socket", ptyReceiver(t), "sock1")
	u.MustRun(t, "start", "sock1")
	if !strings.Contains(e2e.ReadFile(filepath.Join(u.Root, "sock1", "vmm.json")), `"console":"socket"`) {
		t.Fatal("vmm.json does not say the console is on a socket")
	}
	con.waitRow("sock1", "running", 10*time.Second)
	con.keys("/")
	con.typeText("sock1")
	con.keys("Enter", "Enter", "2")
	con.waitScreen("the shell's prompt", 90*time.Second, "guest#")
	con.keys("a")
	con.waitScreen("attached", 5*time.Second, "ATTACHED via console.sock")
	con.typeText("echo via-socket-$((7*6))")
	con.keys("Enter")
	con.waitScreen("the guest ran it", 20*time.Second, "via-socket-42")
	con.keys("C-]")
	con.waitScreen("detached", 5*time.Second, "detached from sock1")
	// A container created elsewhere on stdio has no input the console holds.
	u.MustRun(t, "delete", "--force", "sock1")
	con.keys("Escape", "Escape", "q")
	con.waitQuit(5 * time.Second)
	// The terminal container's pty master went with the console: its VMM
	// got a hangup (docs/console.md says so).
	e2e.WaitFor(t, 10*time.Second, "the terminal container to stop", func() bool { return u.Status(t, name+"-1") == "stopped" })
}

// rebuild writes kernel as a build would, in several steps (truncate,
// writes a few milliseconds apart, chmod), with "Hello" turned into
// greeting in its banner, a change the guest's console shows.
func rebuild(t *testing.T, kernel, greeting string) {
	t.Helper()
	data, err := os.ReadFile(e2e.Unikernel())
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.Replace(data, []byte("Hello from the urunc"), []byte(greeting+" from the urunc"), 1)
	f, err := os.OpenFile(kernel, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		n := min(len(data), 1024)
		f.Write(data[:n])
		data = data[n:]
		time.Sleep(20 * time.Millisecond)
	}
	f.Close()
	os.Chmod(kernel, 0o755)
}

// TestConsoleRerunOnRebuild: urunc-dev run --watch BUNDLE; rebuilding the
// kernel the bundle was made from (in several steps) replaces the run by
// exactly one new one, which the console follows; the previous run stays
// one key away; R stops following.
func TestConsoleRerunOnRebuild(t *testing.T) {
	requireRuntime(t)
	bin := buildConsole(t)
	u := e2e.NewURunc(t)
	work := t.TempDir()
	kernel := filepath.Join(work, "hello.elf")
	data, _ := os.ReadFile(e2e.Unikernel())
	os.WriteFile(kernel, data, 0o755)
	b := makeBundle(t, bin, work, "hb", "--kernel", kernel, "--cmdline", "heartbeat", "--annotation=com.urunc.vmm.machine=microvm")
	os.MkdirAll(u.Root, 0o700)
	con := startConsole(t, bin, "run", "--watch", "--root", u.Root, "--urunc", u.Bin, b)
	con.waitScreen("the first run", 20*time.Second, "hb-1  running", "↻ run 1 of hb", "Hello from the urunc test unikernel", "heartbeat 1")

	rebuild(t, kernel, "Howdy")
	con.waitScreen("the new run", 30*time.Second, "hb-2  running", "↻ run 2 of hb", "Howdy from the urunc test unikernel")
	con.waitScreen("its timing", 10*time.Second, "run 2: hello.elf changed → first guest byte in ")
	for _, l := range strings.Split(con.screen(), "\n") {
		if strings.Contains(l, "first guest byte") {
			t.Log(strings.TrimSpace(l)) // a figure, not a check
		}
	}
	// One build, one rerun: nothing more comes.
	time.Sleep(3 * time.Second)
	if s := con.screen(); strings.Contains(s, "hb-3") || !strings.Contains(s, "hb-2  running") {
		t.Fatalf("more than one rerun:\n%s", s)
	}
	if left := u.Leftovers(); len(left) != 1 || left[0] != "hb-2" {
		t.Fatalf("under the root: %v", left)
	}
	// The previous run, one key away: its console and how it ended.
	con.keys("[")
	con.waitScreen("the previous run", 5*time.Second, "hb-1  deleted", "exit 137: VMM killed by SIGKILL", "Hello from the urunc test unikernel")
	con.keys("]")
	con.waitScreen("back to the new run", 5*time.Second, "hb-2  running")

	// R stops following: a rebuild changes nothing.
	con.keys("R")
	con.waitScreen("stopped following", 5*time.Second, "no longer rerunning hb on rebuild")
	rebuild(t, kernel, "Hiyah")
	time.Sleep(3 * time.Second)
	if s := con.screen(); strings.Contains(s, "hb-3") {
		t.Fatalf("rerun after R:\n%s", s)
	}
	con.keys("q")
	con.waitQuit(5 * time.Second)

	// Bad input: no bundle, a bundle that is not one.
	for _, args := range [][]string{{"run"}, {"run", work}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if e2e.ExitCode(err) != 1 || !strings.Contains(string(out), "run: ") {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
}

// TestConsoleGDB: the create picker's g asks for the gdb stub (wait: the
// guest paused before its first instruction); the detail view shows the
// gdb command, which urunc-dev gdb --print prints too; d runs Debian's
// gdb in the console's terminal: a breakpoint on the test unikernel's
// timer interrupt is hit, and once gdb detaches and quits the console is
// back and the guest's console goes on.
func TestConsoleGDB(t *testing.T) {
	requireRuntime(t)
	e2e.RequireGDB(t)
	bin := buildConsole(t)
	u := e2e.NewURunc(t)
	bundles := t.TempDir()
	makeBundle(t, bin, bundles, "hb", "--kernel", e2e.Unikernel(), "--cmdline", "heartbeat", "--annotation=com.urunc.vmm.machine=microvm")
	os.MkdirAll(u.Root, 0o700)
	con := startConsole(t, bin, "--root", u.Root, "--bundles", bundles, "--urunc", u.Bin)
	con.waitScreen("empty list", 10*time.Second, "no containers under")

	con.keys("c")
	con.waitScreen("picker", 5*time.Second, "gdb stub: off")
	con.keys("g", "g")
	con.waitScreen("gdb wait", 5*time.Second, "gdb stub: wait (paused before its first instruction")
	con.keys("Enter")
	con.waitScreen("id prompt", 5*time.Second, "container id: hb-1", "create and start (gdb wait) from hb")
	con.keys("Enter")
	con.waitRow("hb-1", "running", 20*time.Second)
	con.keys("Enter", "2")
	con.waitScreen("the gdb command", 10*time.Second, "d runs gdb (the guest waits for it): gdb -q -ex 'target remote "+filepath.Join(u.Root, "hb-1", "gdb.sock")+"'",
		"no console output yet")
	out, err := exec.Command(bin, "gdb", "--root", u.Root, "--print", "hb-1").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "gdb -q -ex 'target remote "+filepath.Join(u.Root, "hb-1", "gdb.sock")+"' /") ||
		!strings.HasSuffix(strings.TrimSpace(string(out)), "/rootfs/unikernel/"+filepath.Base(e2e.Unikernel())) {
		t.Fatalf("urunc-dev gdb --print: %v %s", err, out)
	}

	// d: gdb in the terminal, the console steps aside.
	con.keys("d")
	con.waitScreen("gdb's prompt", 20*time.Second, "(gdb)", "0x000000000000fff0 in ?? ()")
	con.typeText("break isr_timer")
	con.keys("Enter")
	con.waitScreen("the breakpoint set", 10*time.Second, "Breakpoint 1 at 0x")
	con.typeText("continue")
	con.keys("Enter")
	con.waitScreen("the breakpoint hit", 20*time.Second, "Breakpoint 1, 0x", "in isr_timer ()")
	con.typeText("delete")
	con.keys("Enter")
	con.waitScreen("gdb asks", 5*time.Second, "Delete all breakpoints?")
	con.typeText("y")
	con.keys("Enter")
	con.typeText("detach")
	con.keys("Enter")
	con.waitScreen("detached", 10*time.Second, "[Inferior 1 (process 1) detached]")
	con.typeText("quit")
	con.keys("Enter")
	con.waitScreen("the console again, the guest going on", 20*time.Second, "gdb on hb-1 has quit", "Hello from the urunc test unikernel", "heartbeat 2")

	// No stub: d says how to get one; urunc-dev gdb fails the same way.
	con.keys("Escape")
	u.RunWith(t, outFile(t), "create", "--bundle", filepath.Join(bundles, "hb"), "plain")
	u.MustRun(t, "start", "plain")
	con.waitRow("plain", "running", 10*time.Second)
	con.keys("/")
	con.typeText("plain")
	con.keys("Enter", "d")
	con.waitScreen("no stub", 5*time.Second, "has no gdb stub: create it with the annotation com.urunc.vmm.gdb=on")
	if out, err := exec.Command(bin, "gdb", "--root", u.Root, "plain").CombinedOutput(); e2e.ExitCode(err) != 1 || !strings.Contains(string(out), "has no gdb stub") {
		t.Fatalf("urunc-dev gdb without a stub: %v %s", err, out)
	}
	// The bundle made for hb-1 (the annotation added) goes with it.
	derived, _ := u.State(t, "hb-1")["bundle"].(string)
	if !strings.Contains(derived, "urunc-dev-bundles") || !strings.Contains(e2e.ReadFile(filepath.Join(derived, "config.json")), `"com.urunc.vmm.gdb": "wait"`) {
		t.Fatalf("hb-1's bundle %q", derived)
	}
	u.MustRun(t, "delete", "--force", "hb-1")
	e2e.WaitFor(t, 10*time.Second, "the derived bundle to go", func() bool { _, err := os.Stat(derived); return os.IsNotExist(err) })
	con.keys("Escape", "q")
	con.waitQuit(5 * time.Second)
}

func outFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stdio"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestConsoleRealGuests: the demo offers the real Solo5 and Unikraft
// guests of ../shared/guests; created from the console, their consoles
// show live, and a guest that fails (Unikraft 0.17's stock helloworld
// under TCG) shows why.
func TestConsoleRealGuests(t *testing.T) {
	requireRuntime(t)
	bin := buildConsole(t)
	e2e.Guest(t, "solo5-v0.12.1/test_hello.spt")
	guests := filepath.Dir(filepath.Dir(e2e.Guest(t, "solo5-v0.12.1/test_hello.spt")))
	all := filepath.Join(t.TempDir(), "all")
	out, err := exec.Command(bin, "bundle", "--demo", "--kernel", e2e.Unikernel(), "--guests", guests, "--out", all).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "bundles of real guests") {
		t.Fatalf("urunc-dev bundle --demo --guests: %v %s", err, out)
	}
	// Offer two of them, so the picker's order is known.
	bundles := filepath.Join(t.TempDir(), "bundles")
	os.MkdirAll(bundles, 0o755)
	for _, b := range []string{"solo5-hello-spt", "unikraft-hwrng"} {
		if err := os.Rename(filepath.Join(all, b), filepath.Join(bundles, b)); err != nil {
			t.Fatal(err)
		}
	}
	u := e2e.NewURunc(t)
	os.MkdirAll(u.Root, 0o700)
	t.Setenv("URUNC_CONFIG", filepath.Join(all, "urunc-config.json"))
	con := startConsole(t, bin, "--root", u.Root, "--bundles", bundles, "--urunc", u.Bin)
	con.waitScreen("empty list", 10*time.Second, "no containers under")

	con.keys("c")
	con.waitScreen("bundle picker", 10*time.Second, "solo5-hello-spt", "unikraft-hwrng")
	con.keys("Enter")
	con.waitScreen("id prompt", 5*time.Second, "container id: solo5-hello-spt-1")
	con.keys("Enter")
	con.waitRow("solo5-hello-spt-1", "stopped", 20*time.Second)
	con.keys("2")
	con.waitScreen("solo5 console", 10*time.Second, "Solo5: Bindings version v0.12.1", "SUCCESS")
	con.keys("Escape")

	con.keys("c", "Down", "Enter")
	con.waitScreen("id prompt", 5*time.Second, "container id: unikraft-hwrng-2")
	con.keys("Enter")
	con.waitRow("unikraft-hwrng-2", "stopped", 20*time.Second)
	con.keys("/")
	con.typeText("hwrng")
	con.keys("Enter", "2")
	con.waitScreen("the failure", 10*time.Second, "Could not initialize the HWRNG", "returned error")
	con.keys("Escape", "q")
	con.waitQuit(5 * time.Second)
}

package reliability_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// TestFaultMatrix kills (exit 137, no clean-up) or hangs each side of the
// create/start handshake at every URUNC_FAULT point
// (runtime/container/fault.go), with 2 s handshake timeouts. In every case:
// create and start end within a bound (a hung create is killed after 6 s,
// as an engine would; its child must not outlive it), state answers with
// an expected status, delete --force leaves no directory, socket, process
// or mount, and the same id then runs a guest.
func TestFaultMatrix(t *testing.T) {
	type tc struct {
		fault       string
		createHangs bool     // the fault hangs create itself: killed after 6 s
		createOK    []bool   // allowed create outcomes (true = exit 0)
		status      []string // allowed statuses after create ("" = nothing left)
		startOK     bool
	}
	either := []bool{false, true}
	cases := []tc{
		{fault: "parent-after-spawn:kill", createOK: []bool{false}, status: []string{"stopped"}},
		{fault: "parent-after-spawn:hang", createHangs: true, status: []string{"stopped"}},
		{fault: "parent-after-booted:kill", createOK: []bool{false}, status: []string{"stopped"}},
		{fault: "parent-after-booted:hang", createHangs: true, status: []string{"stopped"}},
		{fault: "parent-before-ack:kill", createOK: []bool{false}, status: []string{"stopped"}},
		{fault: "parent-before-ack:hang", createHangs: true, status: []string{"stopped"}},
		{fault: "child-before-booted:kill", createOK: []bool{false}, status: []string{""}},
		{fault: "child-before-booted:hang", createOK: []bool{false}, status: []string{""}},
		{fault: "child-after-booted:kill", createOK: either, status: []string{"", "stopped"}},
		{fault: "child-after-booted:hang", createOK: []bool{false}, status: []string{""}},
		{fault: "child-after-acked:kill", createOK: []bool{true}, status: []string{"stopped"}},
		{fault: "child-after-acked:hang", createOK: []bool{true}, status: []string{"created"}},
		{fault: "child-before-exec:kill", createOK: []bool{true}, status: []string{"created"}},
		{fault: "child-before-exec:hang", createOK: []bool{true}, status: []string{"created"}},
	}
	for _, c := range cases {
		t.Run(c.fault, func(t *testing.T) {
			u := setup(t)
			bundle := heartbeat(t)
			env := []string{"URUNC_FAULT=" + c.fault}
			const id = "f1"

			var o outcome
			if c.createHangs {
				// While create hangs, state must still answer (no lock
				// held forever by a reader's path).
				done := make(chan outcome, 1)
				go func() { done <- runBounded(t, u, env, 6*time.Second, nil, "create", "-b", bundle, id) }()
				time.Sleep(3 * time.Second)
				if s := status(t, u, id); s != "creating" && s != "stopped" {
					t.Errorf("status while create hangs: %q", s)
				}
				o = <-done
				if !o.timedOut {
					t.Fatalf("create did not hang: exit %d: %s", o.code, o.out)
				}
			} else {
				o = runBounded(t, u, env, 8*time.Second, nil, "create", "-b", bundle, id)
				if o.timedOut {
					t.Fatalf("create hung past 8 s")
				}
				if !contains(c.createOK, o.code == 0) {
					t.Fatalf("create: exit %d (%s): %s", o.code, u.LastError(), o.out)
				}
			}
			if o.code != 0 || o.timedOut {
				// A failed create still answers for its id, or left nothing.
				if _, err := os.Stat(filepath.Join(u.Root, id)); err != nil {
					if !contains(c.status, "") {
						t.Fatalf("failed create left nothing, want status %v", c.status)
					}
				} else {
					var s string
					e2e.WaitFor(t, 5*time.Second, "status in "+strings.Join(c.status, ","), func() bool {
						s = status(t, u, id)
						return contains(c.status, s)
					})
				}
			} else {
				var s string
				deadline := time.Now().Add(5 * time.Second)
				for s = status(t, u, id); !contains(c.status, s) && time.Now().Before(deadline); s = status(t, u, id) {
					time.Sleep(50 * time.Millisecond)
				}
				if !contains(c.status, s) && !(strings.HasPrefix(c.fault, "child-after-booted") && s == "stopped") {
					t.Fatalf("status after create: %q, want %v", s, c.status)
				}
				so := runBounded(t, u, env, 8*time.Second, nil, "start", id)
				if so.timedOut {
					t.Fatal("start hung past 8 s")
				}
				if (so.code == 0) != c.startOK {
					t.Fatalf("start: exit %d (%s)", so.code, u.LastError())
				}
				if s := status(t, u, id); strings.HasPrefix(s, "error") || strings.HasPrefix(s, "unparsed") {
					t.Fatalf("state after a failed start: %s", s)
				}
			}
			if r := runBounded(t, u, nil, 10*time.Second, nil, "delete", "--force", id); r.timedOut || r.code != 0 {
				t.Fatalf("delete --force: exit %d timed out %v: %s (%s)", r.code, r.timedOut, r.out, u.LastError())
			}
			clean(t, u)

			// The same id works again, without faults.
			out := stdio(t)
			if r := runBounded(t, u, nil, 10*time.Second, out, "create", "-b", bundle, id); r.code != 0 || r.timedOut {
				t.Fatalf("create after recovery: exit %d (%s)", r.code, u.LastError())
			}
			u.MustRun(t, "start", id)
			e2e.WaitFor(t, 15*time.Second, "heartbeat", func() bool { return e2e.FileContains(out.Name(), "heartbeat") })
			u.MustRun(t, "delete", "--force", id)
			clean(t, u)
		})
	}
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// TestVMMKilledFromOutside: kill -9 of qemu itself reads as stopped (pid 0)
// and a plain delete removes everything.
func TestVMMKilledFromOutside(t *testing.T) {
	u := setup(t)
	out := stdio(t)
	u.RunWith(t, out, "create", "-b", heartbeat(t), "v1")
	u.MustRun(t, "start", "v1")
	e2e.WaitFor(t, 15*time.Second, "heartbeat", func() bool { return e2e.FileContains(out.Name(), "heartbeat") })
	pid := int(u.State(t, "v1")["pid"].(float64))
	cmdline := e2e.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if !strings.Contains(cmdline, "qemu") {
		t.Fatalf("container pid %d is not the VMM: %q", pid, cmdline)
	}
	unix.Kill(pid, unix.SIGKILL)
	e2e.WaitFor(t, 5*time.Second, "stopped", func() bool { return status(t, u, "v1") == "stopped" })
	if r := u.Run(t, "start", "v1"); r.Code == 0 {
		t.Fatal("start of a stopped container succeeded")
	}
	u.MustRun(t, "delete", "v1")
	clean(t, u)
	u.RunWith(t, stdio(t), "create", "-b", heartbeat(t), "v1")
	u.MustRun(t, "delete", "--force", "v1")
	clean(t, u)
}

// TestCrashLeftovers: what a crash can leave (a torn state.json, a stale
// socket, a state.json temp file, an empty directory) is reported, removed
// by delete --force, and the id is reusable.
func TestCrashLeftovers(t *testing.T) {
	cases := map[string]map[string]string{
		"torn state":       {"urunc": "", "lock": "", "state.json": `{"ociVersion":"1.2.0","id":"x","sta`, "init.sock": ""},
		"empty state":      {"urunc": "", "lock": "", "state.json": ""},
		"no state":         {"urunc": "", "lock": "", "urunc.sock": "", "events.jsonl": `{"step":"create"`},
		"running, no pid":  {"urunc": "", "lock": "", "state.json": `{"ociVersion":"1.2.0","id":"x","status":"running","pid":999999,"bundle":"/nonexistent"}`},
		"temp file only":   {"urunc": "", "state.json.tmp123": `{"id":`},
		"stale qmp socket": {"urunc": "", "lock": "", "state.json": `{"ociVersion":"1.2.0","id":"x","status":"paused","pid":999999,"bundle":"/b"}`, "qmp.sock": ""},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			u := setup(t)
			dir := filepath.Join(u.Root, "x")
			os.MkdirAll(dir, 0o700)
			for f, content := range files {
				if strings.HasSuffix(f, ".sock") {
					// A real stale socket: bound, then its listener gone.
					fd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
					unix.Bind(fd, &unix.SockaddrUnix{Name: filepath.Join(dir, f)})
					unix.Close(fd)
					continue
				}
				os.WriteFile(filepath.Join(dir, f), []byte(content), 0o600)
			}
			if s := status(t, u, "x"); s != "stopped" && !strings.HasPrefix(s, "error") {
				t.Fatalf("state of a crashed container: %q", s)
			}
			if r := runBounded(t, u, nil, 10*time.Second, nil, "delete", "--force", "x"); r.code != 0 || r.timedOut {
				t.Fatalf("delete --force: exit %d: %s (%s)", r.code, r.out, u.LastError())
			}
			clean(t, u)
			out := stdio(t)
			if r := runBounded(t, u, nil, 10*time.Second, out, "create", "-b", heartbeat(t), "x"); r.code != 0 {
				t.Fatalf("create after the crash: %s", u.LastError())
			}
			u.MustRun(t, "start", "x")
			e2e.WaitFor(t, 15*time.Second, "heartbeat", func() bool { return e2e.FileContains(out.Name(), "heartbeat") })
			u.MustRun(t, "delete", "--force", "x")
			clean(t, u)
		})
	}
}

// TestUnwritableRoot: a read-only bind of the root and a full tmpfs root:
// create fails at once with a clear error, nothing is left and nothing hangs;
// commands on an existing container in a read-only root answer.
func TestUnwritableRoot(t *testing.T) {
	t.Run("read-only bind", func(t *testing.T) {
		u := setup(t)
		os.MkdirAll(u.Root, 0o700)
		// One container created while writable, then the root goes read-only.
		u.RunWith(t, stdio(t), "create", "-b", heartbeat(t), "before")
		if err := unix.Mount(u.Root, u.Root, "", unix.MS_BIND, ""); err != nil {
			t.Skipf("bind mount: %v", err)
		}
		if err := unix.Mount("", u.Root, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			unix.Unmount(u.Root, unix.MNT_DETACH)
			t.Skipf("read-only remount: %v", err)
		}
		mounted := true
		defer func() {
			if mounted {
				unix.Unmount(u.Root, unix.MNT_DETACH)
			}
		}()
		o := runBounded(t, u, nil, 8*time.Second, nil, "create", "-b", heartbeat(t), "ro")
		if o.timedOut || o.code == 0 || !strings.Contains(u.LastError(), "read-only") {
			t.Fatalf("create on a read-only root: exit %d timed out %v: %q", o.code, o.timedOut, u.LastError())
		}
		if _, err := os.Stat(filepath.Join(u.Root, "ro")); err == nil {
			t.Fatal("directory appeared on a read-only root")
		}
		if s := status(t, u, "before"); s != "created" {
			t.Fatalf("state on a read-only root: %q", s)
		}
		for _, args := range [][]string{{"start", "before"}, {"delete", "--force", "before"}} {
			if o := runBounded(t, u, nil, 10*time.Second, nil, args...); o.timedOut || o.code == 0 {
				t.Fatalf("%v on a read-only root: exit %d timed out %v", args, o.code, o.timedOut)
			}
		}
		unix.Unmount(u.Root, unix.MNT_DETACH)
		mounted = false
		u.MustRun(t, "delete", "--force", "before")
		clean(t, u)
	})
	t.Run("full tmpfs", func(t *testing.T) {
		u := setup(t)
		os.MkdirAll(u.Root, 0o700)
		if err := unix.Mount("tmpfs", u.Root, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
			t.Skipf("tmpfs: %v", err)
		}
		defer unix.Unmount(u.Root, unix.MNT_DETACH)
		f, _ := os.Create(filepath.Join(u.Root, ".filler"))
		f.Write(make([]byte, 64*1024))
		f.Close()
		o := runBounded(t, u, nil, 8*time.Second, nil, "create", "-b", heartbeat(t), "full")
		if o.timedOut || o.code == 0 || !strings.Contains(u.LastError(), "no space") {
			t.Fatalf("create on a full root: exit %d timed out %v: %q", o.code, o.timedOut, u.LastError())
		}
		if _, err := os.Stat(filepath.Join(u.Root, "full")); err == nil {
			t.Fatal("a failed create left its directory")
		}
		noProcesses(t, u.Root, 5*time.Second)
		// Space again: the same id works.
		os.Remove(filepath.Join(u.Root, ".filler"))
		if r := runBounded(t, u, nil, 10*time.Second, nil, "create", "-b", heartbeat(t), "full"); r.code != 0 {
			t.Fatalf("create once space is back: %s", u.LastError())
		}
		u.MustRun(t, "delete", "--force", "full")
		if left := u.Leftovers(); len(left) != 0 {
			t.Fatalf("left %v", left)
		}
	})
}

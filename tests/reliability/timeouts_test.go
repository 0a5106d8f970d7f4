package reliability_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/internal/e2e"
	"github.com/urunc-dev/urunc/runtime/state"
)

// Timeouts that compose (docs/architecture.md, "The create/start
// handshake"): with short margins (ACK 2 s, answer to START 2 s) and a
// 4 s default hook limit, a hook longer than the margins but within its
// own limit succeeds at every hook point, one past its limit fails with
// its own timeout (never the other side giving up), and the journal shows
// each hook as a running wait with its limit and the other side's wait
// following it. Durations are read from the journal's timestamps and only
// compared with each other and with the configured limits.
const hookTimeouts = `{"timeouts":{"booted":"2s","ack":"2s","startReply":"2s","hook":"4s","lock":"5s","stopGrace":"1s"}}`

const (
	ackMargin   = 2 * time.Second
	startMargin = 2 * time.Second
	hookDefault = 4 * time.Second
)

var hookIDs atomic.Int32

// hookID is a fresh container id; its cgroup is named after it.
func hookID() string { return fmt.Sprintf("hk%d-%d", os.Getpid(), hookIDs.Add(1)) }

// sleepHook sleeps secs in a background child of a shell (so the hook is
// a process group of two) and writes both pids to pids. Its environment
// names the root, so processesUnder finds what is left of it.
func sleepHook(u *e2e.URunc, secs string, timeout *int, pids string) specs.Hook {
	return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `echo $$ >> "$2"; sleep "$1" & echo $! >> "$2"; wait`, "hook", secs, pids},
		Env: []string{"PATH=/usr/bin:/bin", "URUNC_TEST_ROOT=" + u.Root}, Timeout: timeout}
}

// hookBundle is the heartbeat unikernel in the pod network namespace
// netns with hook h at point.
func hookBundle(t *testing.T, netns, point string, h specs.Hook) string {
	hs := &specs.Hooks{}
	switch point {
	case "prestart":
		hs.Prestart = []specs.Hook{h} //nolint:staticcheck // what Docker still uses
	case "createRuntime":
		hs.CreateRuntime = []specs.Hook{h}
	case "createContainer":
		hs.CreateContainer = []specs.Hook{h}
	case "startContainer":
		hs.StartContainer = []specs.Hook{h}
	case "poststart":
		hs.Poststart = []specs.Hook{h}
	}
	return e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: map[string]string{"com.urunc.vmm.machine": "microvm"},
		Hooks: hs, Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace},
			{Type: specs.NetworkNamespace, Path: "/var/run/netns/" + netns}}})
}

// journal keeps a container's events.jsonl readable after a failed create
// has removed its directory: a hard link, made as soon as the file exists.
type journal struct {
	path string
	done chan bool
}

func keepJournal(t *testing.T, u *e2e.URunc, id string) *journal {
	j := &journal{path: filepath.Join(t.TempDir(), "events.jsonl"), done: make(chan bool, 1)}
	src := filepath.Join(u.Root, id, "events.jsonl")
	go func() {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if os.Link(src, j.path) == nil {
				j.done <- true
				return
			}
		}
		j.done <- false
	}()
	return j
}

func (j *journal) events(t *testing.T) []state.Event {
	t.Helper()
	select {
	case ok := <-j.done:
		j.done <- ok
		if !ok {
			t.Fatal("the journal never appeared")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the journal never appeared")
	}
	f, err := os.Open(j.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, err := state.ParseEvents(f)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// find returns the first event of step after index from whose detail
// contains detail (-1, zero Event when there is none).
func find(evs []state.Event, from int, step, detail string) (int, state.Event) {
	for i := max(from, 0); i < len(evs); i++ {
		if evs[i].Step == step && strings.Contains(evs[i].Detail, detail) {
			return i, evs[i]
		}
	}
	return -1, state.Event{}
}

func dump(evs []state.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s %-15s pid %-7d %s waiting=%q timeout=%d running=%v error=%q\n", e.Time.Format("15:04:05.000"), e.Step, e.PID, e.Detail, e.Waiting, e.TimeoutMS, e.Running, e.Error)
	}
	return b.String()
}

// leftNothing: after the container is gone (failed create, or delete), no
// state, process (hooks included), mount, cgroup, or tap in the pod.
func leftNothing(t *testing.T, u *e2e.URunc, id, netns string) {
	t.Helper()
	clean(t, u)
	if cg := cgroupsNamed(id); len(cg) != 0 {
		t.Fatalf("cgroups left: %v", cg)
	}
	if left := netnsLeftovers(netns); len(left) != 0 {
		t.Fatalf("left in the pod's namespace: %v", left)
	}
}

// cgroupsNamed lists the cgroup directories called name, in every hierarchy.
func cgroupsNamed(name string) []string {
	var found []string
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == name {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// TestHookTimeoutsCompose: every hook point, hooks of 0.5 s, of 3 s (longer
// than the 2 s margins) within their own timeout or the default limit,
// and past their own timeout or the default limit.
func TestHookTimeoutsCompose(t *testing.T) {
	e2e.Setup(t) // skips early, builds once
	one, five := 1, 5
	type hookCase struct {
		name    string
		secs    string
		timeout *int
		limit   time.Duration
		ok      bool
	}
	cases := []hookCase{
		{"0.5s", "0.5", nil, hookDefault, true},
		{"3s within its own timeout", "3", &five, 5 * time.Second, true},
		{"3s within the default limit", "3", nil, hookDefault, true},
		{"past its own timeout", "30", &one, time.Second, false},
		{"past the default limit", "30", nil, hookDefault, false},
	}
	for i, point := range []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart"} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			u := setupWith(t, hookTimeouts)
			netns, _ := podNetns(t, 60+i)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					id := hookID()
					pids := filepath.Join(t.TempDir(), "pids")
					bundle := hookBundle(t, netns, point, sleepHook(u, c.secs, c.timeout, pids))
					j := keepJournal(t, u, id)
					create := runBounded(t, u, nil, 40*time.Second, nil, "create", "-b", bundle, id)
					createSide := point == "prestart" || point == "createRuntime" || point == "createContainer"
					var start outcome
					if create.code == 0 {
						start = runBounded(t, u, nil, 40*time.Second, nil, "start", id)
					}
					evs := j.events(t)
					msg := u.LastError()
					switch {
					case create.timedOut || start.timedOut:
						t.Fatalf("a command hung:\n%s", dump(evs))
					case createSide && c.ok != (create.code == 0):
						t.Fatalf("create: exit %d (%s)\n%s", create.code, msg, dump(evs))
					case !createSide && create.code != 0:
						t.Fatalf("create: exit %d (%s)\n%s", create.code, msg, dump(evs))
					case point == "startContainer" && c.ok != (start.code == 0):
						t.Fatalf("start: exit %d (%s)\n%s", start.code, msg, dump(evs))
					case point == "poststart" && start.code != 0:
						t.Fatalf("start (a poststart failure is a warning): exit %d (%s)\n%s", start.code, msg, dump(evs))
					}
					if !c.ok && point != "poststart" {
						want := fmt.Sprintf("%s hook /bin/sh: timed out after %s", point, c.limit)
						if !strings.Contains(msg, want) || strings.Contains(msg, "gave up") || strings.Contains(msg, "said nothing") {
							t.Fatalf("error %q, want the hook's own %q\n%s", msg, want, dump(evs))
						}
					}
					if point == "poststart" {
						if s := status(t, u, id); s != "running" {
							t.Fatalf("status after start: %q\n%s", s, dump(evs))
						}
					}

					// The journal: the hook as a running wait with its limit,
					// the other side's wait following it, the hook's end.
					hi, hook := find(evs, 0, state.StepHook, point+" /bin/sh")
					if hi < 0 || !hook.Running || hook.TimeoutMS != c.limit.Milliseconds() || hook.Waiting != point+" hook /bin/sh" {
						t.Fatalf("hook line: %+v\n%s", hook, dump(evs))
					}
					switch {
					case createSide: // the child waits for ACK with it
						_, p := find(evs, hi, state.StepProgress, "create runs the "+point+" hook /bin/sh")
						if p.Waiting != "ACK" || p.TimeoutMS != (c.limit+ackMargin).Milliseconds() || p.PID == hook.PID {
							t.Fatalf("the child's wait does not follow the hook: %+v\n%s", p, dump(evs))
						}
					case point == "startContainer": // start waits with it
						_, p := find(evs, hi, state.StepProgress, "the init child runs the "+point+" hook /bin/sh")
						if p.Waiting != "child to exec the VMM" || p.TimeoutMS != (c.limit+startMargin).Milliseconds() || p.PID == hook.PID {
							t.Fatalf("start's wait does not follow the hook: %+v\n%s", p, dump(evs))
						}
					}
					_, done := find(evs, hi, state.StepHookDone, point+" /bin/sh")
					took := done.Time.Sub(hook.Time)
					if done.Step == "" || done.PID != hook.PID {
						t.Fatalf("no hook-done line:\n%s", dump(evs))
					}
					if c.ok {
						if done.Error != "" {
							t.Fatalf("hook-done: %q\n%s", done.Error, dump(evs))
						}
						if c.secs == "3" && took <= ackMargin {
							t.Fatalf("the 3 s hook took %s by the journal: not longer than the margin", took)
						}
					} else {
						// Stopped at its limit, long before its 30 s sleep.
						if !strings.Contains(done.Error, "timed out after "+c.limit.String()) || took < c.limit-100*time.Millisecond || took >= 30*time.Second {
							t.Fatalf("hook-done after %s: %q\n%s", took, done.Error, dump(evs))
						}
					}
					// Nobody gave up on the other side.
					for _, e := range evs {
						if strings.Contains(e.Error, "said nothing") || strings.Contains(e.Error, "hung up") || strings.Contains(e.Error, "gave up") {
							t.Fatalf("a side gave up:\n%s", dump(evs))
						}
					}
					if os.Getenv("URUNC_TEST_DUMP") != "" {
						t.Logf("journal:\n%s", dump(evs))
					}
					t.Logf("%s %s: hook ran %s by the journal (limit %s); create exit %d, start exit %d",
						point, c.name, took.Round(time.Millisecond), c.limit, create.code, start.code)

					if _, err := os.Stat(filepath.Join(u.Root, id)); err == nil {
						if r := runBounded(t, u, nil, 15*time.Second, nil, "delete", "--force", id); r.code != 0 || r.timedOut {
							t.Fatalf("delete --force: exit %d: %s", r.code, u.LastError())
						}
					} else if create.code == 0 {
						t.Fatal("a created container has no directory")
					}
					leftNothing(t, u, id, netns)
				})
			}
		})
	}
}

// TestHookWithoutLimit: with no default hook limit (timeouts.hook 0s), a
// hook without its own timeout is bounded by timeouts.hookMax.
func TestHookWithoutLimit(t *testing.T) {
	u := setupWith(t, `{"timeouts":{"booted":"2s","ack":"2s","startReply":"2s","hook":"0s","hookMax":"3s","lock":"5s"}}`)
	netns, _ := podNetns(t, 65)
	id := hookID()
	j := keepJournal(t, u, id)
	o := runBounded(t, u, nil, 40*time.Second, nil, "create", "-b", hookBundle(t, netns, "createRuntime", sleepHook(u, "30", nil, filepath.Join(t.TempDir(), "pids"))), id)
	evs := j.events(t)
	if o.code == 0 || !strings.Contains(u.LastError(), "createRuntime hook /bin/sh: timed out after 3s") {
		t.Fatalf("create: exit %d (%s)\n%s", o.code, u.LastError(), dump(evs))
	}
	if _, h := find(evs, 0, state.StepHook, "createRuntime"); h.TimeoutMS != 3000 {
		t.Fatalf("hook line: %+v\n%s", h, dump(evs))
	}
	leftNothing(t, u, id, netns)
}

// startBackground starts urunc with args and returns the running command.
func startBackground(t *testing.T, u *e2e.URunc, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(u.Bin, append([]string{"--root", u.Root, "--log", u.Log, "--log-format", "json"}, args...)...)
	cmd.Env = append(append(os.Environ(), u.Env...), env...)
	out := stdio(t)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// waitHook waits until the journal j shows the hook at point running and
// both of its processes wrote their pids; it returns them.
func waitHook(t *testing.T, j *journal, pids string) []int {
	t.Helper()
	var got []int
	e2e.WaitFor(t, 20*time.Second, "the hook to run", func() bool {
		got = nil
		for _, f := range strings.Fields(e2e.ReadFile(pids)) {
			if n, err := strconv.Atoi(f); err == nil {
				got = append(got, n)
			}
		}
		return len(got) == 2
	})
	return got
}

func waitGone(pids []int, within time.Duration) bool {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if gone(pids)() {
			return true
		}
	}
	return false
}

func gone(pids []int) func() bool {
	return func() bool {
		for _, p := range pids {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
			if err == nil && !strings.Contains(string(stat), ") Z") {
				return false
			}
		}
		return true
	}
}

// The other side failing ends this one at once.
func TestHandshakeSideFails(t *testing.T) {
	sixty := 60
	t.Run("child killed while create runs a hook", func(t *testing.T) {
		u := setupWith(t, hookTimeouts)
		netns, _ := podNetns(t, 67)
		id, pids := hookID(), filepath.Join(t.TempDir(), "pids")
		j := keepJournal(t, u, id)
		cmd := startBackground(t, u, nil, "create", "-b", hookBundle(t, netns, "createRuntime", sleepHook(u, "30", &sixty, pids)), id)
		hookPids := waitHook(t, j, pids)
		st, err := state.Open(u.Root, id)
		if err != nil {
			t.Fatal(err)
		}
		s, err := st.ReadState()
		if err != nil || s.Pid <= 0 {
			t.Fatalf("child pid: %+v %v", s, err)
		}
		killed := time.Now()
		syscall.Kill(s.Pid, syscall.SIGKILL)
		err = cmd.Wait()
		evs := j.events(t)
		msg := u.LastError()
		if e2e.ExitCode(err) == 0 || !strings.Contains(msg, "init child exited") || !strings.Contains(msg, "killed") {
			t.Fatalf("create: %v (%s)\n%s", err, msg, dump(evs))
		}
		hi, hook := find(evs, 0, state.StepHook, "createRuntime")
		_, done := find(evs, hi, state.StepHookDone, "createRuntime")
		_, failed := find(evs, hi, state.StepFailed, "create")
		if !strings.Contains(done.Error, "stopped after") || failed.Time.Sub(hook.Time) >= 30*time.Second || failed.Time.Before(done.Time) {
			t.Fatalf("the hook was not stopped:\n%s", dump(evs))
		}
		t.Logf("FIGURE child killed -> create failed: %s (wall clock of the kill to the journal's failed line); hook stopped after %s",
			failed.Time.Sub(killed).Round(time.Millisecond), done.Time.Sub(hook.Time).Round(time.Millisecond))
		e2e.WaitFor(t, 5*time.Second, "the hook's processes gone", gone(hookPids))
		leftNothing(t, u, id, netns)
	})

	t.Run("child gives up while create runs a hook", func(t *testing.T) {
		// A child deaf to progress lines gives up after the bare 2 s ACK
		// margin, as a child with a fixed limit would.
		u := setupWith(t, hookTimeouts)
		netns, _ := podNetns(t, 68)
		id, pids := hookID(), filepath.Join(t.TempDir(), "pids")
		j := keepJournal(t, u, id)
		o := runBounded(t, u, []string{"URUNC_FAULT=child-ignores-progress:on"}, 40*time.Second, nil,
			"create", "-b", hookBundle(t, netns, "createRuntime", sleepHook(u, "30", &sixty, pids)), id)
		evs := j.events(t)
		msg := u.LastError()
		if o.code == 0 || o.timedOut || !strings.Contains(msg, "the init child gave up: waiting for ACK") || !strings.Contains(msg, "create said nothing within 2s") {
			t.Fatalf("create: exit %d (%s)\n%s", o.code, msg, dump(evs))
		}
		hi, hook := find(evs, 0, state.StepHook, "createRuntime")
		_, child := find(evs, 0, state.StepFailed, "init")
		_, done := find(evs, hi, state.StepHookDone, "createRuntime")
		_, failed := find(evs, hi, state.StepFailed, "create")
		if child.Step == "" || failed.Step == "" || !strings.Contains(done.Error, "stopped after") ||
			failed.Time.Before(child.Time) || failed.Time.Sub(hook.Time) >= 30*time.Second {
			t.Fatalf("journal:\n%s", dump(evs))
		}
		t.Logf("FIGURE child gave up -> create failed: %s by the journal (child's failed line to create's)", failed.Time.Sub(child.Time).Round(time.Millisecond))
		e2e.WaitFor(t, 5*time.Second, "the hook's processes gone", gone(waitHook(t, j, pids)))
		leftNothing(t, u, id, netns)
	})

	t.Run("create killed while the child waits", func(t *testing.T) {
		u := setupWith(t, hookTimeouts)
		netns, _ := podNetns(t, 69)
		id, pids := hookID(), filepath.Join(t.TempDir(), "pids")
		j := keepJournal(t, u, id)
		cmd := startBackground(t, u, nil, "create", "-b", hookBundle(t, netns, "createRuntime", sleepHook(u, "30", &sixty, pids)), id)
		hookPids := waitHook(t, j, pids)
		killed := time.Now()
		cmd.Process.Kill()
		cmd.Wait()
		// The child exits at once, and takes the hook's group with it
		// (its leader dies with create: Pdeathsig).
		e2e.WaitFor(t, 5*time.Second, "the child's failed line", func() bool {
			_, f := find(j.events(t), 0, state.StepFailed, "init")
			return f.Step != ""
		})
		evs := j.events(t)
		_, child := find(evs, 0, state.StepFailed, "init")
		if !strings.Contains(child.Error, "waiting for ACK: create exited") {
			t.Fatalf("the child's reason: %q\n%s", child.Error, dump(evs))
		}
		t.Logf("FIGURE create killed -> child's failed line: %s (wall clock of the kill to the journal)", child.Time.Sub(killed).Round(time.Millisecond))
		if !waitGone(hookPids, 5*time.Second) {
			t.Fatalf("hook processes left: %v; log: %s\n%s", processesUnder(u.Root), e2e.ReadFile(u.Log), dump(evs))
		}
		noProcesses(t, u.Root, 5*time.Second)
		// What a killed create cannot remove itself: the engine's delete does.
		if s := status(t, u, id); s != "stopped" {
			t.Fatalf("status: %q", s)
		}
		if r := runBounded(t, u, nil, 15*time.Second, nil, "delete", id); r.code != 0 {
			t.Fatalf("delete: exit %d: %s", r.code, u.LastError())
		}
		leftNothing(t, u, id, netns)
	})

	t.Run("start killed while the child runs a startContainer hook", func(t *testing.T) {
		u := setupWith(t, hookTimeouts)
		netns, _ := podNetns(t, 70)
		id, pids := hookID(), filepath.Join(t.TempDir(), "pids")
		if o := runBounded(t, u, nil, 20*time.Second, nil, "create", "-b", hookBundle(t, netns, "startContainer", sleepHook(u, "30", &sixty, pids)), id); o.code != 0 {
			t.Fatalf("create: %s", u.LastError())
		}
		j := keepJournal(t, u, id)
		cmd := startBackground(t, u, nil, "start", id)
		waitHook(t, j, pids) // pids of the container's pid namespace: found by environment below
		cmd.Process.Kill()
		cmd.Wait()
		noProcesses(t, u.Root, 5*time.Second)
		e2e.WaitFor(t, 5*time.Second, "stopped", func() bool { return status(t, u, id) == "stopped" })
		evs := j.events(t)
		_, child := find(evs, 0, state.StepFailed, "init")
		if !strings.Contains(child.Error, "start hung up") {
			t.Fatalf("the child's reason: %q\n%s", child.Error, dump(evs))
		}
		if _, e := find(evs, 0, state.StepVMMExec, ""); e.Step != "" {
			t.Fatalf("the VMM was exec'd for a start that died:\n%s", dump(evs))
		}
		if r := runBounded(t, u, nil, 15*time.Second, nil, "delete", id); r.code != 0 {
			t.Fatalf("delete: exit %d: %s", r.code, u.LastError())
		}
		leftNothing(t, u, id, netns)
	})
}

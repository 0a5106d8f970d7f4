package reliability_test

import (
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// TestConcurrentStart: five starts of one created container at once:
// exactly one boots the guest, the others fail; one VMM runs.
func TestConcurrentStart(t *testing.T) {
	u := setup(t)
	out := stdio(t)
	if r := u.RunWith(t, out, "create", "-b", heartbeat(t), "s"); r.Code != 0 {
		t.Fatal(u.LastError())
	}
	var cmds [][]string
	for i := 0; i < 5; i++ {
		cmds = append(cmds, []string{"start", "s"})
	}
	wins := 0
	for _, o := range parallel(t, u, cmds) {
		if o.code == 0 {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d of 5 concurrent starts succeeded", wins)
	}
	e2e.WaitFor(t, 15*time.Second, "heartbeat", func() bool { return e2e.FileContains(out.Name(), "heartbeat") })
	if s := status(t, u, "s"); s != "running" {
		t.Fatalf("status %q", s)
	}
	if p := processesUnder(u.Root); len(p) != 1 || !strings.Contains(p[0], "qemu") {
		t.Fatalf("processes: %v", p)
	}
	u.MustRun(t, "delete", "--force", "s")
	clean(t, u)
}

// TestForceDeleteDuringHungCreate: an engine gives up on a create that
// hangs before ACK and force-deletes the id while create still runs:
// delete ends within the lock timeout, and once create is gone nothing is
// left and the id works again.
func TestForceDeleteDuringHungCreate(t *testing.T) {
	for _, fault := range []string{"parent-before-ack:hang", "child-after-acked:hang", "child-before-booted:hang"} {
		t.Run(fault, func(t *testing.T) {
			u := setup(t)
			bundle := heartbeat(t)
			done := make(chan outcome, 1)
			go func() {
				done <- runBounded(t, u, []string{"URUNC_FAULT=" + fault}, 8*time.Second, nil, "create", "-b", bundle, "hung")
			}()
			time.Sleep(time.Second)
			d := runBounded(t, u, nil, 10*time.Second, nil, "delete", "--force", "hung")
			if d.timedOut {
				t.Fatal("delete --force hung")
			}
			t.Logf("delete --force during create: exit %d after %v: %s", d.code, d.took.Round(time.Millisecond), strings.TrimSpace(d.out))
			<-done
			// Whatever delete did while create held the container, a
			// delete --force now leaves nothing.
			if r := runBounded(t, u, nil, 10*time.Second, nil, "delete", "--force", "hung"); r.timedOut {
				t.Fatal("second delete --force hung")
			}
			clean(t, u)
			out := stdio(t)
			if r := runBounded(t, u, nil, 10*time.Second, out, "create", "-b", bundle, "hung"); r.code != 0 {
				t.Fatalf("create after: %s", u.LastError())
			}
			u.MustRun(t, "start", "hung")
			e2e.WaitFor(t, 15*time.Second, "heartbeat", func() bool { return e2e.FileContains(out.Name(), "heartbeat") })
			u.MustRun(t, "delete", "--force", "hung")
			clean(t, u)
		})
	}
}

// TestHelpLikeIDs: "h" and "help" are valid container ids; every command
// acts on the container instead of printing usage and exiting 0 (which
// told an engine a create had succeeded when nothing was made).
func TestHelpLikeIDs(t *testing.T) {
	for _, id := range []string{"h", "help"} {
		t.Run(id, func(t *testing.T) {
			u := setup(t)
			out := stdio(t)
			if r := u.RunWith(t, out, "create", "-b", heartbeat(t), id); r.Code != 0 || status(t, u, id) != "created" {
				t.Fatalf("create %s: exit %d, status %q: %s", id, r.Code, status(t, u, id), e2e.ReadFile(out.Name()))
			}
			u.MustRun(t, "start", id)
			e2e.WaitFor(t, 15*time.Second, "heartbeat", func() bool { return e2e.FileContains(out.Name(), "heartbeat") })
			u.MustRun(t, "pause", id)
			if s := status(t, u, id); s != "paused" {
				t.Fatalf("after pause: %q", s)
			}
			u.MustRun(t, "resume", id)
			u.MustRun(t, "kill", id, "KILL")
			e2e.WaitFor(t, 5*time.Second, "stopped", func() bool { return status(t, u, id) == "stopped" })
			u.MustRun(t, "delete", id)
			clean(t, u)
		})
	}
}

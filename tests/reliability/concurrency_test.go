package reliability_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// parallel runs every command at once (each bounded to 15 s) and returns
// their outcomes in order.
func parallel(t *testing.T, u *e2e.URunc, cmds [][]string) []outcome {
	t.Helper()
	res := make([]outcome, len(cmds))
	logs := make([]string, len(cmds))
	var wg sync.WaitGroup
	for i, c := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = runBounded(t, u, nil, 15*time.Second, nil, c...)
		}()
	}
	wg.Wait()
	for i, o := range res {
		if o.timedOut {
			t.Errorf("%v hung", cmds[i])
		}
		if strings.Contains(o.out, "corrupt") {
			t.Errorf("%v saw a corrupt state: %s", cmds[i], o.out)
		}
		logs[i] = o.out
	}
	return res
}

func runningContainer(t *testing.T, u *e2e.URunc, id string) *os.File {
	t.Helper()
	out := stdio(t)
	if r := u.RunWith(t, out, "create", "-b", heartbeat(t), id); r.Code != 0 {
		t.Fatalf("create: %s", u.LastError())
	}
	u.MustRun(t, "start", id)
	e2e.WaitFor(t, 15*time.Second, "heartbeat", func() bool { return e2e.FileContains(out.Name(), "heartbeat") })
	return out
}

func validStateJSON(t *testing.T, u *e2e.URunc, id string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(e2e.ReadFile(filepath.Join(u.Root, id, "state.json"))), &m); err != nil || m["id"] != id {
		t.Fatalf("state.json after concurrent commands: %v %v", err, m)
	}
}

// TestConcurrentCommands: state/pause/resume/kill on one running container
// at once; every command answers, state.json stays whole, the outcome is
// the one a kill must have.
func TestConcurrentCommands(t *testing.T) {
	u := setup(t)
	runningContainer(t, u, "c")
	cmds := [][]string{{"state", "c"}, {"pause", "c"}, {"resume", "c"}, {"state", "c"}, {"kill", "c", "KILL"},
		{"pause", "c"}, {"state", "c"}, {"resume", "c"}, {"kill", "c", "KILL"}, {"state", "c"}}
	res := parallel(t, u, cmds)
	kills := 0
	for i, o := range res {
		switch cmds[i][0] {
		case "state":
			var m map[string]any
			if o.code != 0 || json.Unmarshal([]byte(o.out), &m) != nil {
				t.Errorf("state during concurrent commands: exit %d %q", o.code, o.out)
			} else if s := m["status"]; s != "running" && s != "paused" && s != "stopped" {
				t.Errorf("status %v", s)
			}
		case "kill":
			if o.code == 0 {
				kills++
			}
		}
	}
	if kills == 0 {
		t.Fatal("no kill succeeded")
	}
	e2e.WaitFor(t, 5*time.Second, "stopped", func() bool { return status(t, u, "c") == "stopped" })
	validStateJSON(t, u, "c")
	u.MustRun(t, "delete", "c")
	clean(t, u)
}

// TestConcurrentPauseResume: ten pause/resume at once leave a consistent
// container: its reported status matches what resume/kill then do.
func TestConcurrentPauseResume(t *testing.T) {
	u := setup(t)
	out := runningContainer(t, u, "p")
	var cmds [][]string
	for i := 0; i < 5; i++ {
		cmds = append(cmds, []string{"pause", "p"}, []string{"resume", "p"})
	}
	parallel(t, u, cmds)
	validStateJSON(t, u, "p")
	switch s := status(t, u, "p"); s {
	case "paused":
		u.MustRun(t, "resume", "p")
	case "running":
	default:
		t.Fatalf("status after pause/resume storm: %q", s)
	}
	if status(t, u, "p") != "running" {
		t.Fatal("not running after resume")
	}
	// Really running: new heartbeat lines keep coming.
	n := strings.Count(e2e.ReadFile(out.Name()), "heartbeat")
	e2e.WaitFor(t, 10*time.Second, "heartbeat after the storm", func() bool {
		return strings.Count(e2e.ReadFile(out.Name()), "heartbeat") > n
	})
	// Ten kills at once: the container ends stopped, deletable.
	cmds = nil
	for i := 0; i < 10; i++ {
		cmds = append(cmds, []string{"kill", "p", "KILL"})
	}
	res := parallel(t, u, cmds)
	ok := 0
	for _, o := range res {
		if o.code == 0 {
			ok++
		}
	}
	if ok == 0 {
		t.Fatal("no kill succeeded")
	}
	e2e.WaitFor(t, 5*time.Second, "stopped", func() bool { return status(t, u, "p") == "stopped" })
	u.MustRun(t, "delete", "p")
	clean(t, u)
}

// TestConcurrentForceDelete: five delete --force at once on a running
// container all succeed; nothing is left.
func TestConcurrentForceDelete(t *testing.T) {
	u := setup(t)
	runningContainer(t, u, "d")
	var cmds [][]string
	for i := 0; i < 5; i++ {
		cmds = append(cmds, []string{"delete", "--force", "d"})
	}
	for i, o := range parallel(t, u, cmds) {
		if o.code != 0 {
			t.Errorf("delete --force #%d: exit %d: %s", i, o.code, o.out)
		}
	}
	clean(t, u)
}

// TestConcurrentCreateSameID: ten creates of one id at once: exactly one
// wins, the others fail saying it exists, and nothing of theirs is left.
func TestConcurrentCreateSameID(t *testing.T) {
	u := setup(t)
	bundle := heartbeat(t)
	var cmds [][]string
	for i := 0; i < 10; i++ {
		cmds = append(cmds, []string{"create", "-b", bundle, "same"})
	}
	wins := 0
	for _, o := range parallel(t, u, cmds) {
		if o.code == 0 {
			wins++
		} else if !strings.Contains(o.out, "exists") {
			t.Errorf("losing create: %q", o.out)
		}
	}
	if wins != 1 {
		t.Fatalf("%d creates of one id won", wins)
	}
	if left := u.Leftovers(); len(left) != 1 {
		t.Fatalf("root holds %v", left)
	}
	// One container, one process: the winner's child.
	if p := processesUnder(u.Root); len(p) != 1 {
		t.Fatalf("processes: %v", p)
	}
	if s := status(t, u, "same"); s != "created" {
		t.Fatalf("status %q", s)
	}
	u.MustRun(t, "start", "same")
	u.MustRun(t, "delete", "--force", "same")
	clean(t, u)
}

package state

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestValidateID(t *testing.T) {
	good := []string{"a", "abc-DEF_1.2+3", strings.Repeat("x", MaxIDLength)}
	bad := []string{"", ".", "..", "a/b", "../x", "a b", "a\x00", "é", strings.Repeat("x", MaxIDLength+1), "a;b"}
	for _, id := range good {
		if err := ValidateID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	for _, id := range bad {
		if err := ValidateID(id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("%q: want ErrInvalidID, got %v", id, err)
		}
	}
}

func TestCreateIsExclusive(t *testing.T) {
	root := t.TempDir()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, exists := 0, 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := Create(root, "same")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, ErrExists):
				exists++
			default:
				t.Errorf("unexpected: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || exists != 15 {
		t.Fatalf("wins %d exists %d", wins, exists)
	}
	if info, _ := os.Stat(filepath.Join(root, "same")); info.Mode().Perm() != DirMode {
		t.Fatalf("mode %v", info.Mode())
	}
}

func TestOpenAndList(t *testing.T) {
	root := t.TempDir()
	if _, err := Open(root, "none"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	os.Mkdir(filepath.Join(root, "runcs"), 0o700) // runc's dir: no marker
	if _, err := Open(root, "runcs"); !errors.Is(err, ErrNotUrunc) {
		t.Fatalf("runc dir: %v", err)
	}
	Create(root, "b")
	Create(root, "a")
	ids, err := List(root)
	if err != nil || strings.Join(ids, ",") != "a,b" {
		t.Fatalf("List = %v %v", ids, err)
	}
	if ids, err := List(filepath.Join(root, "nothing")); err != nil || ids != nil {
		t.Fatalf("List of missing root = %v %v", ids, err)
	}
}

func TestStateRoundTripAndDerivedStatus(t *testing.T) {
	d, err := Create(t.TempDir(), "c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadState(); err == nil {
		t.Fatal("reading a missing state.json succeeded")
	}
	self := os.Getpid()
	start, _ := StartTime(self)
	st := &State{State: specs.State{ID: "c", Status: specs.ContainerState(Creating), Pid: self}, PidStartTime: start}
	if err := d.SetStatus(st, Created); err != nil {
		t.Fatal(err)
	}
	got, err := d.ReadState()
	if err != nil || got.StatusOf() != Created {
		t.Fatalf("got %+v %v", got, err)
	}
	if err := d.SetStatus(st, Paused); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("created->paused: %v", err)
	}
	if got, _ := d.ReadState(); got.StatusOf() != Created {
		t.Fatal("refused transition was written")
	}
	// Same pid, other start time: a reused pid, so the container is stopped.
	st.PidStartTime = start + 1
	d.WriteState(st)
	if got, _ := d.ReadState(); got.StatusOf() != Stopped {
		t.Fatalf("pid reuse not detected: %s", got.Status)
	}
	// A dead process.
	cmd := exec.Command("/bin/true")
	cmd.Run()
	st.Pid, st.PidStartTime = cmd.Process.Pid, 0
	d.WriteState(st)
	if got, _ := d.ReadState(); got.StatusOf() != Stopped {
		t.Fatalf("dead pid: %s", got.Status)
	}
	// Corrupt files.
	os.WriteFile(d.File(StateFile), []byte(`{"id":"c","status":"`), 0o600)
	if _, err := d.ReadState(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("torn state: %v", err)
	}
	os.WriteFile(d.File(StateFile), []byte(`{"id":"other","status":"created"}`), 0o600)
	if _, err := d.ReadState(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong id: %v", err)
	}
	if info, _ := os.Stat(d.File(StateFile)); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", info.Mode())
	}
}

func TestLock(t *testing.T) {
	d, _ := Create(t.TempDir(), "c")
	unlock, err := d.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := d.Lock(ctx); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock2, err := d.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
}

func TestEvents(t *testing.T) {
	d, _ := Create(t.TempDir(), "c")
	if evs, err := d.ReadEvents(); err != nil || evs != nil {
		t.Fatalf("empty journal: %v %v", evs, err)
	}
	d.AppendEvent(Event{Step: StepCreate})
	d.AppendEvent(Event{Step: StepChildSpawned, Waiting: "BOOTED", TimeoutMS: 10000})
	f, _ := os.OpenFile(d.File(EventsFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2020-01-01T00:00:00Z","step":"boo`) // torn line
	f.Close()
	evs, err := d.ReadEvents()
	if err != nil || len(evs) != 2 || evs[1].Waiting != "BOOTED" || evs[0].PID != os.Getpid() || evs[0].Time.IsZero() {
		t.Fatalf("events %+v %v", evs, err)
	}
}

func TestVMMRoundTrip(t *testing.T) {
	d, _ := Create(t.TempDir(), "c")
	in := &VMMInfo{Hypervisor: "qemu", Argv: []string{"qemu", "-M", "microvm"}, Accel: "tcg", AccelReason: "why"}
	if err := d.WriteVMM(in); err != nil {
		t.Fatal(err)
	}
	out, err := d.ReadVMM()
	if err != nil || out.Accel != "tcg" || len(out.Argv) != 3 {
		t.Fatalf("%+v %v", out, err)
	}
}

func FuzzReadState(f *testing.F) {
	f.Add([]byte(`{"ociVersion":"1.2.0","id":"c","status":"running","pid":1,"bundle":"/b"}`))
	f.Add([]byte(`{"id":"c","status":"bogus"}`))
	f.Add([]byte(`{`))
	root := f.TempDir()
	d, _ := Create(root, "c")
	f.Fuzz(func(t *testing.T, data []byte) {
		os.WriteFile(d.File(StateFile), data, 0o600)
		st, err := d.ReadState()
		if err != nil {
			return
		}
		if st.ID != "c" || !st.StatusOf().Valid() {
			t.Fatalf("accepted invalid state %+v", st)
		}
	})
}

func TestCreatingWithoutCreatorIsStopped(t *testing.T) {
	d, _ := Create(t.TempDir(), "c")
	d.WriteState(&State{State: specs.State{ID: "c", Status: specs.ContainerState(Creating)}})
	unlock, _ := d.Lock(context.Background())
	if st, _ := d.ReadState(); st.StatusOf() != Creating {
		t.Fatalf("locked creating container: %s", st.Status)
	}
	if !d.Locked() {
		t.Fatal("Locked() false while held")
	}
	unlock()
	if st, _ := d.ReadState(); st.StatusOf() != Stopped {
		t.Fatalf("abandoned creating container: %s", st.Status)
	}
}

// A created container whose pid already runs the VMM (start died after
// the child exec'd it) reads as running; the waiting child still reads
// as created.
func TestCreatedRunningVMMIsRunning(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep binary:", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	d, _ := Create(t.TempDir(), "c")
	start, _ := StartTime(cmd.Process.Pid)
	d.WriteState(&State{State: specs.State{ID: "c", Status: specs.ContainerState(Created), Pid: cmd.Process.Pid}, PidStartTime: start})
	for binary, want := range map[string]Status{"": Created, "/usr/bin/qemu-system-x86_64": Created, "/bin/sleep": Running} {
		d.WriteVMM(&VMMInfo{Binary: binary})
		if st, err := d.ReadState(); err != nil || st.StatusOf() != want {
			t.Errorf("vmm binary %q: status %v %v, want %s", binary, st.StatusOf(), err, want)
		}
	}
}

// Disposition tells a handled signal from one the process would drop.
func TestDisposition(t *testing.T) {
	sig := unix.SIGUSR2
	d, err := Disposition(os.Getpid(), sig)
	if err != nil {
		t.Fatal(err)
	}
	if d.NSInit || d.Dropped() {
		t.Fatalf("self before Notify: %+v", d)
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, sig)
	defer signal.Stop(c)
	if d, _ = Disposition(os.Getpid(), sig); !d.Caught {
		t.Fatalf("self after Notify: %+v", d)
	}
	signal.Ignore(unix.SIGUSR1)
	defer signal.Reset(unix.SIGUSR1)
	if d, _ = Disposition(os.Getpid(), unix.SIGUSR1); !d.Ignored || !d.Dropped() {
		t.Fatalf("ignored: %+v", d)
	}
	if _, err := Disposition(1<<30, sig); err == nil {
		t.Fatal("no such pid: no error")
	}
}

func TestWaitChild(t *testing.T) {
	ctx := context.Background()
	start := func(t *testing.T, script string) (int, uint64) {
		t.Helper()
		cmd := exec.Command("sh", "-c", script)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		st, err := StartTime(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		return cmd.Process.Pid, st
	}
	cases := []struct {
		name   string
		script string
		want   int
	}{
		{"exit status", "exit 3", 3},
		{"clean exit", "exit 0", 0},
		{"killed by a signal", "kill -9 $$", 128 + 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pid, st := start(t, c.script)
			got, err := WaitChild(ctx, pid, st)
			if err != nil || got != c.want {
				t.Fatalf("WaitChild = %d, %v; want %d", got, err, c.want)
			}
			if Alive(pid, st) {
				t.Fatal("still there after WaitChild")
			}
		})
	}
	t.Run("not a child", func(t *testing.T) {
		if _, err := WaitChild(ctx, 1, 0); !errors.Is(err, ErrNotChild) {
			t.Fatalf("pid 1: %v", err)
		}
	})
	t.Run("another process", func(t *testing.T) {
		pid, st := start(t, "sleep 5")
		defer unix.Kill(pid, unix.SIGKILL)
		if _, err := WaitChild(ctx, pid, st+1); !errors.Is(err, ErrNotAlive) {
			t.Fatalf("wrong start time: %v", err)
		}
	})
	t.Run("context ends first", func(t *testing.T) {
		pid, st := start(t, "sleep 5")
		defer func() { unix.Kill(pid, unix.SIGKILL); WaitChild(ctx, pid, st) }()
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := WaitChild(cctx, pid, st); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("cancelled wait: %v", err)
		}
	})
	t.Run("orphan handed to a subreaper", func(t *testing.T) {
		if err := SetChildSubreaper(); err != nil {
			t.Skip(err)
		}
		defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		// sh starts a grandchild and exits: the grandchild becomes ours.
		out, err := exec.Command("sh", "-c", "sh -c 'sleep 0.2; exit 7' >/dev/null 2>&1 & echo $!").Output()
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		got, err := WaitChild(ctx, pid, 0)
		if err != nil || got != 7 {
			t.Fatalf("orphan: %d, %v", got, err)
		}
	})
}

package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/runtime/state"
)

func start(t *testing.T, opts Options) (*Watcher, string) {
	t.Helper()
	root := t.TempDir()
	return startAt(t, root, opts), root
}

func startAt(t *testing.T, root string, opts Options) *Watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := New(ctx, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// next waits for an event of kind for id, skipping others.
func next(t *testing.T, w *Watcher, id string, kind Kind) Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("channel closed waiting for %s of %s", kind, id)
			}
			if ev.ID == id && ev.Kind == kind {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event for %s", kind, id)
		}
	}
}

// collect gathers every event arriving within d.
func collect(w *Watcher, d time.Duration) []Event {
	var out []Event
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				return out
			}
			out = append(out, ev)
		case <-deadline:
			return out
		}
	}
}

func count(evs []Event, id string, kind Kind) int {
	n := 0
	for _, ev := range evs {
		if ev.ID == id && ev.Kind == kind {
			n++
		}
	}
	return n
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestLifecycleEvents(t *testing.T) {
	w, root := start(t, Options{})
	d, err := state.Create(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, w, "c1", ContainerAdded); ev.State != nil || ev.VMM != nil {
		t.Fatalf("added before its files, with %+v %+v", ev.State, ev.VMM)
	}

	// A create in progress holds the lock: "creating" stays creating.
	unlock, err := d.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st := &state.State{State: specs.State{ID: "c1", Status: "creating"}}
	d.WriteState(st) // temp file + rename
	if ev := next(t, w, "c1", StateChanged); ev.State == nil || ev.State.ID != "c1" || ev.State.Status != "creating" {
		t.Fatalf("state: %+v", ev.State)
	}
	unlock()

	d.AppendEvent(state.Event{Step: state.StepCreate})
	d.AppendEvent(state.Event{Step: state.StepChildSpawned, Waiting: "BOOTED", TimeoutMS: 10000})
	ev := next(t, w, "c1", JournalAppended)
	if len(ev.Events) != 2 || ev.Events[1].Waiting != "BOOTED" || ev.Events[1].TimeoutMS != 10000 {
		t.Fatalf("journal: %+v", ev.Events)
	}
	if ev.State != nil {
		t.Fatal("a journal without stopped or failed carries the state")
	}

	serial := d.File(state.SerialFile)
	os.WriteFile(serial, []byte("hello\n"), 0o600)
	ev = next(t, w, "c1", SerialAppended)
	if string(ev.Serial) != "hello\n" {
		t.Fatalf("serial %q", ev.Serial)
	}
	appendFile(t, serial, "world\n")
	if ev = next(t, w, "c1", SerialAppended); string(ev.Serial) != "world\n" || ev.Reset {
		t.Fatalf("appended %q reset %v", ev.Serial, ev.Reset)
	}
	os.WriteFile(serial, []byte("new\n"), 0o600) // truncated and rewritten
	if ev = next(t, w, "c1", SerialAppended); string(ev.Serial) != "new\n" || !ev.Reset {
		t.Fatalf("truncated %q reset %v", ev.Serial, ev.Reset)
	}

	d.WriteVMM(&state.VMMInfo{Hypervisor: "qemu"})
	if ev := next(t, w, "c1", VMMChanged); ev.VMM == nil || ev.VMM.Hypervisor != "qemu" || ev.State != nil {
		t.Fatalf("vmm: %+v state %+v", ev.VMM, ev.State)
	}

	d.Remove()
	next(t, w, "c1", ContainerRemoved)
}

// The journal says stopped (or failed) before state.json is rewritten, or
// without it being rewritten at all: the event carries the state read
// then, its status derived from the process (here: gone).
func TestJournalStoppedCarriesDerivedState(t *testing.T) {
	w, root := start(t, Options{})
	d, _ := state.Create(root, "j1")
	next(t, w, "j1", ContainerAdded)
	d.WriteState(&state.State{State: specs.State{ID: "j1", Status: "running", Pid: 1 << 30}})
	if ev := next(t, w, "j1", StateChanged); ev.State == nil || ev.State.Status != "stopped" {
		t.Fatalf("a running state whose pid is gone: %+v", ev.State)
	}
	for _, step := range []string{state.StepStopped, state.StepFailed} {
		d.AppendEvent(state.Event{Step: state.StepKill})
		d.AppendEvent(state.Event{Step: step})
		ev := next(t, w, "j1", JournalAppended)
		if len(ev.Events) != 2 || ev.State == nil || ev.State.Status != "stopped" {
			t.Fatalf("%s: %+v state %+v", step, ev.Events, ev.State)
		}
	}
	// Unreadable state.json: the event still comes, without a state.
	os.WriteFile(d.File(state.StateFile), []byte("{torn"), 0o600)
	if ev := next(t, w, "j1", StateChanged); ev.State != nil {
		t.Fatalf("corrupt state.json parsed: %+v", ev.State)
	}
}

// Every atomic replacement of state.json is seen, through the directory
// watch: a watch on the file would have followed the old inode.
func TestAtomicRenames(t *testing.T) {
	w, root := start(t, Options{})
	d, _ := state.Create(root, "r1")
	next(t, w, "r1", ContainerAdded)
	st := &state.State{State: specs.State{ID: "r1"}}
	for _, s := range []string{"creating", "created", "running", "stopped"} {
		st.Status = specs.ContainerState(s)
		if err := d.WriteState(st); err != nil {
			t.Fatal(err)
		}
		next(t, w, "r1", StateChanged)
		if _, err := d.ReadState(); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	// The temporary files of the renames raise nothing else.
	for _, ev := range collect(w, 100*time.Millisecond) {
		if ev.ID != "r1" || ev.Kind != StateChanged {
			t.Fatalf("unexpected %+v", ev)
		}
	}
}

// A container made with its files before the watcher could add its
// directory (here: made and filled at once) is still fully reported.
func TestNewDirCatchesUp(t *testing.T) {
	w, root := start(t, Options{})
	d, _ := state.Create(root, "n1")
	d.WriteState(&state.State{State: specs.State{ID: "n1", Status: "creating"}})
	d.AppendEvent(state.Event{Step: state.StepCreate})
	os.WriteFile(d.File(state.SerialFile), []byte("boot\n"), 0o600)
	d.WriteVMM(&state.VMMInfo{Hypervisor: "qemu"})
	if ev := next(t, w, "n1", ContainerAdded); ev.State == nil || ev.State.ID != "n1" || ev.VMM == nil || ev.VMM.Hypervisor != "qemu" {
		t.Fatalf("added without its files: %+v %+v", ev.State, ev.VMM)
	}
	got := collect(w, 300*time.Millisecond)
	for _, k := range []Kind{StateChanged, VMMChanged, JournalAppended, SerialAppended} {
		if count(got, "n1", k) != 1 {
			t.Fatalf("%s delivered %d times: %+v", k, count(got, "n1", k), got)
		}
	}
}

// Several containers at once, and a non-urunc directory next to them.
func TestManyNewDirs(t *testing.T) {
	w, root := start(t, Options{})
	os.Mkdir(filepath.Join(root, "runc-owned"), 0o700)
	for i := 0; i < 20; i++ {
		d, err := state.Create(root, fmt.Sprintf("m%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		d.AppendEvent(state.Event{Step: state.StepCreate})
	}
	got := collect(w, 500*time.Millisecond)
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("m%02d", i)
		if count(got, id, ContainerAdded) != 1 || count(got, id, JournalAppended) != 1 {
			t.Fatalf("%s: %+v", id, got)
		}
	}
	if count(got, "runc-owned", ContainerAdded) != 0 {
		t.Fatal("a directory without the urunc marker was reported")
	}
}

func TestTornJournalLine(t *testing.T) {
	w, root := start(t, Options{})
	d, _ := state.Create(root, "c2")
	next(t, w, "c2", ContainerAdded)
	path := d.File(state.EventsFile)
	appendFile(t, path, `{"time":"2026-01-01T00:00:00Z","step":"create"}`+"\n"+`{"time":"2026-01-01T00:00:01Z","st`)
	ev := next(t, w, "c2", JournalAppended)
	if len(ev.Events) != 1 || ev.Events[0].Step != "create" {
		t.Fatalf("first: %+v", ev.Events)
	}
	appendFile(t, path, `ep":"child-spawned"}`+"\n")
	ev = next(t, w, "c2", JournalAppended)
	if len(ev.Events) != 1 || ev.Events[0].Step != "child-spawned" {
		t.Fatalf("completed line: %+v", ev.Events)
	}
	// A garbage line (crash) is skipped, the next good one delivered.
	appendFile(t, path, "{not json\n"+`{"step":"booted"}`+"\n")
	ev = next(t, w, "c2", JournalAppended)
	if len(ev.Events) != 1 || ev.Events[0].Step != "booted" {
		t.Fatalf("after garbage: %+v", ev.Events)
	}
}

func TestBurstIsCoalesced(t *testing.T) {
	w, root := start(t, Options{})
	d, _ := state.Create(root, "c3")
	next(t, w, "c3", ContainerAdded)
	for i := 0; i < 50; i++ {
		d.AppendEvent(state.Event{Step: state.StepHook, Detail: fmt.Sprint(i)})
	}
	got, events := 0, 0
	for _, ev := range collect(w, 300*time.Millisecond) {
		if ev.Kind == JournalAppended {
			for j, e := range ev.Events {
				if e.Detail != fmt.Sprint(got+j) {
					t.Fatalf("line %d out of order: %+v", got+j, e)
				}
			}
			events++
			got += len(ev.Events)
		}
	}
	if got != 50 {
		t.Fatalf("got %d lines", got)
	}
	if events > 5 {
		t.Fatalf("50 quick appends became %d events", events)
	}
}

// A guest printing without pause still has its output delivered: the
// window is not pushed back by every write.
func TestContinuousOutputIsNotStarved(t *testing.T) {
	w, root := start(t, Options{Debounce: 20 * time.Millisecond})
	d, _ := state.Create(root, "busy")
	next(t, w, "busy", ContainerAdded)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	go func() {
		f, _ := os.OpenFile(d.File(state.SerialFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		defer f.Close()
		for ctx.Err() == nil {
			f.WriteString("x\n")
			time.Sleep(2 * time.Millisecond)
		}
	}()
	select {
	case <-time.After(200 * time.Millisecond):
		t.Fatal("no serial event while the guest kept printing")
	case ev := <-w.Events():
		for ev.Kind != SerialAppended {
			ev = <-w.Events()
		}
	}
}

func TestSerialTruncateReplaceAndHuge(t *testing.T) {
	w, root := start(t, Options{MaxSerialRead: 1000})
	d, _ := state.Create(root, "s1")
	next(t, w, "s1", ContainerAdded)
	serial := d.File(state.SerialFile)
	appendFile(t, serial, strings.Repeat("a", 100))
	if ev := next(t, w, "s1", SerialAppended); len(ev.Serial) != 100 || ev.Reset {
		t.Fatalf("%d %v", len(ev.Serial), ev.Reset)
	}
	// Replaced by another file of the same size: another inode, a reset.
	tmp := serial + ".new"
	os.WriteFile(tmp, []byte(strings.Repeat("b", 100)), 0o600)
	os.Rename(tmp, serial)
	if ev := next(t, w, "s1", SerialAppended); string(ev.Serial) != strings.Repeat("b", 100) || !ev.Reset {
		t.Fatalf("replaced: %q %v", ev.Serial, ev.Reset)
	}
	// More than MaxSerialRead at once: only the tail, marked as a reset.
	appendFile(t, serial, strings.Repeat("c", 5000)+"END")
	ev := next(t, w, "s1", SerialAppended)
	if len(ev.Serial) != 1000 || !strings.HasSuffix(string(ev.Serial), "END") || !ev.Reset {
		t.Fatalf("huge: %d %v", len(ev.Serial), ev.Reset)
	}
	// And it goes on from there.
	appendFile(t, serial, "more")
	if ev := next(t, w, "s1", SerialAppended); string(ev.Serial) != "more" || ev.Reset {
		t.Fatalf("after huge: %q %v", ev.Serial, ev.Reset)
	}
}

func TestChmodIgnored(t *testing.T) {
	w, root := start(t, Options{})
	d, _ := state.Create(root, "ch")
	d.WriteState(&state.State{State: specs.State{ID: "ch", Status: "created"}})
	collect(w, 200*time.Millisecond)
	os.Chmod(d.File(state.StateFile), 0o644)
	os.Chmod(d.Path(), 0o755)
	if got := collect(w, 200*time.Millisecond); len(got) != 0 {
		t.Fatalf("chmod raised %+v", got)
	}
}

// Removal: delivered once, after what was pending, and the same id can be
// made again and starts from offset 0.
func TestRemoveAndRecreate(t *testing.T) {
	w, root := start(t, Options{})
	d, _ := state.Create(root, "rr")
	d.AppendEvent(state.Event{Step: state.StepCreate})
	next(t, w, "rr", JournalAppended)
	d.AppendEvent(state.Event{Step: state.StepDelete})
	d.Remove()
	got := collect(w, 300*time.Millisecond)
	if count(got, "rr", ContainerRemoved) != 1 {
		t.Fatalf("removed: %+v", got)
	}
	d, _ = state.Create(root, "rr")
	d.AppendEvent(state.Event{Step: state.StepCreate, Detail: "again"})
	next(t, w, "rr", ContainerAdded)
	ev := next(t, w, "rr", JournalAppended)
	if len(ev.Events) != 1 || ev.Events[0].Detail != "again" {
		t.Fatalf("recreated: %+v", ev.Events)
	}
	// A directory moved away counts as removed too.
	os.Rename(d.Path(), filepath.Join(t.TempDir(), "moved"))
	next(t, w, "rr", ContainerRemoved)
}

func TestExistingAndCancel(t *testing.T) {
	root := t.TempDir()
	d, _ := state.Create(root, "old")
	d.AppendEvent(state.Event{Step: state.StepCreate})
	d.AppendEvent(state.Event{Step: state.StepCreated})
	os.WriteFile(d.File(state.SerialFile), []byte("so far\n"), 0o600)
	os.Mkdir(filepath.Join(root, "runc-owned"), 0o700)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := New(ctx, root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	next(t, w, "old", ContainerAdded)
	if ev := next(t, w, "old", JournalAppended); len(ev.Events) != 2 {
		t.Fatalf("journal so far: %+v", ev.Events)
	}
	if ev := next(t, w, "old", SerialAppended); string(ev.Serial) != "so far\n" {
		t.Fatalf("serial so far: %q", ev.Serial)
	}
	// Changes in a known container are followed from there.
	d.AppendEvent(state.Event{Step: state.StepStart})
	if ev := next(t, w, "old", JournalAppended); len(ev.Events) != 1 || ev.Events[0].Step != state.StepStart {
		t.Fatalf("journal after: %+v", ev.Events)
	}
	cancel()
	deadline := time.After(2 * time.Second)
	for {
		select {
		case _, ok := <-w.Events():
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("events channel not closed after cancel")
		}
	}
}

func TestKindString(t *testing.T) {
	want := map[Kind]string{ContainerAdded: "added", ContainerRemoved: "removed", StateChanged: "state",
		JournalAppended: "journal", SerialAppended: "serial", VMMChanged: "vmm", Kind(99): "unknown"}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("%d: %s", k, k)
		}
	}
}

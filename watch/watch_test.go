package watch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/runtime/state"
)

func start(t *testing.T) (*Watcher, string) {
	t.Helper()
	root := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := New(ctx, root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return w, root
}

// next waits for an event of kind for id, skipping others.
func next(t *testing.T, w *Watcher, id string, kind Kind) Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-w.Events():
			if ev.ID == id && ev.Kind == kind {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event for %s", kind, id)
		}
	}
}

func TestLifecycleEvents(t *testing.T) {
	w, root := start(t)
	d, err := state.Create(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	next(t, w, "c1", ContainerAdded)

	st := &state.State{State: specs.State{ID: "c1", Status: "creating"}}
	d.WriteState(st) // atomic rename
	next(t, w, "c1", StateChanged)

	d.AppendEvent(state.Event{Step: state.StepCreate})
	d.AppendEvent(state.Event{Step: state.StepChildSpawned, Waiting: "BOOTED"})
	ev := next(t, w, "c1", JournalAppended)
	if len(ev.Events) != 2 || ev.Events[1].Waiting != "BOOTED" {
		t.Fatalf("journal: %+v", ev.Events)
	}

	serial := d.File(state.SerialFile)
	os.WriteFile(serial, []byte("hello\n"), 0o600)
	ev = next(t, w, "c1", SerialAppended)
	if string(ev.Serial) != "hello\n" {
		t.Fatalf("serial %q", ev.Serial)
	}
	f, _ := os.OpenFile(serial, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("world\n")
	f.Close()
	if ev = next(t, w, "c1", SerialAppended); string(ev.Serial) != "world\n" || ev.Reset {
		t.Fatalf("appended %q reset %v", ev.Serial, ev.Reset)
	}
	os.WriteFile(serial, []byte("new\n"), 0o600) // truncated and rewritten
	if ev = next(t, w, "c1", SerialAppended); string(ev.Serial) != "new\n" || !ev.Reset {
		t.Fatalf("truncated %q reset %v", ev.Serial, ev.Reset)
	}

	d.WriteVMM(&state.VMMInfo{Hypervisor: "qemu"})
	next(t, w, "c1", VMMChanged)

	d.Remove()
	next(t, w, "c1", ContainerRemoved)
}

func TestTornJournalLine(t *testing.T) {
	w, root := start(t)
	d, _ := state.Create(root, "c2")
	next(t, w, "c2", ContainerAdded)
	f, _ := os.OpenFile(d.File(state.EventsFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	defer f.Close()
	f.WriteString(`{"time":"2026-01-01T00:00:00Z","step":"create"}` + "\n" + `{"time":"2026-01-01T00:00:01Z","st`)
	ev := next(t, w, "c2", JournalAppended)
	if len(ev.Events) != 1 || ev.Events[0].Step != "create" {
		t.Fatalf("first: %+v", ev.Events)
	}
	f.WriteString(`ep":"child-spawned"}` + "\n")
	ev = next(t, w, "c2", JournalAppended)
	if len(ev.Events) != 1 || ev.Events[0].Step != "child-spawned" {
		t.Fatalf("completed line: %+v", ev.Events)
	}
}

func TestBurstIsCoalesced(t *testing.T) {
	w, root := start(t)
	d, _ := state.Create(root, "c3")
	next(t, w, "c3", ContainerAdded)
	for i := 0; i < 50; i++ {
		d.AppendEvent(state.Event{Step: state.StepHook})
	}
	got := 0
	deadline := time.After(2 * time.Second)
	events := 0
loop:
	for {
		select {
		case ev := <-w.Events():
			if ev.Kind == JournalAppended {
				events++
				got += len(ev.Events)
				if got == 50 {
					break loop
				}
			}
		case <-deadline:
			break loop
		}
	}
	if got != 50 {
		t.Fatalf("got %d lines", got)
	}
	if events > 5 {
		t.Fatalf("50 quick appends became %d events", events)
	}
}

func TestExistingAndForeignDirs(t *testing.T) {
	root := t.TempDir()
	state.Create(root, "old")
	os.Mkdir(filepath.Join(root, "runc-owned"), 0o700)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := New(ctx, root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := w.Existing()
	if len(ids) != 1 || ids[0] != "old" {
		t.Fatalf("existing %v", ids)
	}
	// Changes in a known container are followed.
	d := state.Dir{Root: root, ID: "old"}
	d.AppendEvent(state.Event{Step: state.StepCreate})
	next(t, w, "old", JournalAppended)
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

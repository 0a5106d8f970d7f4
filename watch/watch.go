// Package watch follows a urunc state root with fsnotify and turns file
// changes into typed events: containers appearing and disappearing, state
// changes, journal lines and guest console output. Events carry what was
// read, parsed (the state, the VMM description, journal lines, console
// bytes), so a consumer never reads the state directory itself.
//
// It watches directories, not files (state.json and vmm.json are replaced
// by rename, which a watch on the file itself would lose), adds each
// container's directory as it appears, ignores chmod, and coalesces bursts:
// the first change of one kind of one container opens a window of
// Options.Debounce, and everything that happens within it becomes one event.
// The window is not extended by later changes, so a guest that prints
// continuously still gets its output delivered every Debounce. Nothing is
// polled: without changes on disk the watcher does not run.
//
// All the bookkeeping (offsets, partial lines, pending windows) belongs to
// one goroutine; events are built (files read) only when the consumer can
// take them, so a slow consumer sees fewer, larger events rather than an
// unbounded queue, and what an event carries is as fresh as the moment it
// is handed over.
package watch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/urunc-dev/urunc/runtime/state"
)

// Kind is what changed.
type Kind int

// The kinds of events, in the order they are delivered when several are
// due at once.
const (
	ContainerAdded   Kind = iota // a new urunc container directory (with its marker)
	StateChanged                 // state.json was replaced
	VMMChanged                   // vmm.json was replaced
	JournalAppended              // complete new lines of events.jsonl
	SerialAppended               // new bytes of serial.log
	ContainerRemoved             // the directory is gone
)

func (k Kind) String() string {
	switch k {
	case ContainerAdded:
		return "added"
	case StateChanged:
		return "state"
	case VMMChanged:
		return "vmm"
	case JournalAppended:
		return "journal"
	case SerialAppended:
		return "serial"
	case ContainerRemoved:
		return "removed"
	}
	return "unknown"
}

// Event is one change of one container.
type Event struct {
	Kind Kind
	ID   string
	// State is state.json read when the event was built, with its status
	// re-derived as runtime/state.ReadState does (a live status whose
	// process is gone reads stopped). It is set on ContainerAdded,
	// StateChanged, and JournalAppended when the new lines include a
	// stopped or failed step: the journal says so before state.json is
	// rewritten, or without it ever being rewritten when the VMM just died,
	// so the status is derived again then. nil: not written yet, or not
	// readable (the consumer keeps what it had).
	State *state.State
	// VMM is vmm.json (ContainerAdded, VMMChanged); nil: not written yet,
	// or not readable.
	VMM    *state.VMMInfo
	Events []state.Event // JournalAppended: the new complete lines, parsed
	Serial []byte        // SerialAppended: the new bytes
	// Reset (SerialAppended) says the log was truncated or replaced, or
	// more than Options.MaxSerialRead arrived at once: Serial is not a
	// continuation of what was delivered before but its new tail.
	Reset bool
}

// Options tune a Watcher.
type Options struct {
	// Debounce is the coalescing window per container and kind; default 20 ms.
	Debounce time.Duration
	// MaxSerialRead bounds how much of a serial log one event carries (the
	// tail is kept, Reset set); default 1 MiB. It also bounds what is read
	// of a huge log when the watcher starts.
	MaxSerialRead int64
	// Buffer is the capacity of the Events channel; default 64.
	Buffer int
}

// Watcher follows one root.
type Watcher struct {
	root string
	opts Options
	fsw  *fsnotify.Watcher
	out  chan Event
}

type key struct {
	id   string
	kind Kind
}

// tailState is how far a growing file has been delivered.
type tailState struct {
	off     int64
	ino     uint64
	partial []byte // journal: the torn last line, waiting for its newline
}

// loopState is owned by the watcher's goroutine.
type loopState struct {
	known     map[string]bool       // directories watched
	announced map[string]bool       // ContainerAdded delivered
	tails     map[string]*tailState // per file path
	pending   map[key]time.Time     // coalescing windows: when each is due
	ready     []key                 // due, waiting for the consumer
	head      *Event                // built from ready[0]... and waiting to be sent
}

// New starts watching root (created if missing, mode 0700). The containers
// already there are reported first, as if they had just appeared: a
// ContainerAdded each, then their state, VMM description, journal and
// console so far (from offset 0, the console limited to its last
// MaxSerialRead bytes). Events arrive on Events() until ctx is done.
func New(ctx context.Context, root string, opts Options) (*Watcher, error) {
	if opts.Debounce <= 0 {
		opts.Debounce = 20 * time.Millisecond
	}
	if opts.MaxSerialRead <= 0 {
		opts.MaxSerialRead = 1 << 20
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 64
	}
	if err := os.MkdirAll(root, state.DirMode); err != nil {
		return nil, err
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := fsw.Add(root); err != nil {
		fsw.Close()
		return nil, err
	}
	w := &Watcher{root: root, opts: opts, fsw: fsw, out: make(chan Event, opts.Buffer)}
	ls := &loopState{
		known: map[string]bool{}, announced: map[string]bool{},
		tails: map[string]*tailState{}, pending: map[key]time.Time{},
	}
	// The root is watched before it is scanned: a container made in
	// between is both seen and listed, and known dedups it.
	w.scan(ls, time.Now())
	go w.loop(ctx, ls)
	return w, nil
}

// Events delivers the changes; it is closed when the watcher stops.
func (w *Watcher) Events() <-chan Event { return w.out }

// Root is the watched state root.
func (w *Watcher) Root() string { return w.root }

func (w *Watcher) loop(ctx context.Context, ls *loopState) {
	defer func() {
		w.fsw.Close()
		close(w.out)
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		// Arm the timer for the earliest pending window.
		var due time.Time
		for _, t := range ls.pending {
			if due.IsZero() || t.Before(due) {
				due = t
			}
		}
		var timerC <-chan time.Time
		if !due.IsZero() {
			timer.Reset(time.Until(due))
			timerC = timer.C
		}
		// Build the next event only when there is one to send.
		for ls.head == nil && len(ls.ready) > 0 {
			k := ls.ready[0]
			ls.ready = ls.ready[1:]
			if ev, ok := w.build(ls, k); ok {
				ls.head = &ev
			}
		}
		var out chan<- Event
		var head Event
		if ls.head != nil {
			out, head = w.out, *ls.head
		}

		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case out <- head:
			ls.head = nil
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			w.handle(ls, ev, time.Now())
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Changes were lost: look at everything again.
				w.scan(ls, time.Now())
			}
		case now := <-timerC:
			w.flush(ls, now)
		}
		timer.Stop() // since Go 1.23 no stale tick survives Stop
	}
}

// scan reconciles the known containers with the root: new directories are
// watched and fully reported, vanished ones removed, known ones re-read.
func (w *Watcher) scan(ls *loopState, now time.Time) {
	entries, err := os.ReadDir(w.root)
	if err != nil {
		return
	}
	present := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			present[e.Name()] = true
			w.addDir(ls, e.Name(), now)
		}
	}
	for id := range ls.known {
		if !present[id] {
			w.removeDir(ls, id)
		}
	}
	for id := range ls.known {
		for _, k := range []Kind{StateChanged, VMMChanged, JournalAppended, SerialAppended} {
			w.schedule(ls, key{id, k}, now)
		}
	}
}

func (w *Watcher) handle(ls *loopState, ev fsnotify.Event, now time.Time) {
	if ev.Op == fsnotify.Chmod || ev.Op == 0 {
		return
	}
	rel, err := filepath.Rel(w.root, ev.Name)
	if err != nil || rel == "." || rel == ".." || filepath.IsAbs(rel) {
		return
	}
	dir, file := filepath.Split(rel)
	dir = filepath.Clean(dir)
	if dir == "." {
		// A change in the root itself: a container directory.
		id := file
		if ev.Has(fsnotify.Create) {
			if info, err := os.Lstat(ev.Name); err == nil && info.IsDir() {
				w.addDir(ls, id, now)
			}
		}
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			if _, err := os.Lstat(ev.Name); errors.Is(err, os.ErrNotExist) {
				w.removeDir(ls, id)
			}
		}
		return
	}
	if filepath.Dir(dir) != "." || !ls.known[dir] {
		return // deeper than <root>/<id>, or a directory we do not follow
	}
	id := dir
	switch file {
	case state.StateFile:
		w.schedule(ls, key{id, StateChanged}, now)
	case state.EventsFile:
		w.schedule(ls, key{id, JournalAppended}, now)
	case state.SerialFile:
		w.schedule(ls, key{id, SerialAppended}, now)
	case state.VMMFile:
		w.schedule(ls, key{id, VMMChanged}, now)
	case state.MarkerFile:
		// The marker appears right after mkdir: now it is a urunc container.
		w.schedule(ls, key{id, ContainerAdded}, now)
	}
}

// addDir watches <root>/<id> and schedules everything that may already be
// in it: files written before the watch was added raise no event.
func (w *Watcher) addDir(ls *loopState, id string, now time.Time) {
	if ls.known[id] {
		return
	}
	if err := w.fsw.Add(filepath.Join(w.root, id)); err != nil {
		return // gone already, or not ours to read
	}
	ls.known[id] = true
	for _, k := range []Kind{ContainerAdded, StateChanged, VMMChanged, JournalAppended, SerialAppended} {
		w.schedule(ls, key{id, k}, now)
	}
}

// removeDir forgets a container; ContainerRemoved is delivered (after any
// event already built) if ContainerAdded was.
func (w *Watcher) removeDir(ls *loopState, id string) {
	if !ls.known[id] {
		return
	}
	_ = w.fsw.Remove(filepath.Join(w.root, id)) // usually gone with the directory
	delete(ls.known, id)
	for _, f := range []string{state.EventsFile, state.SerialFile} {
		delete(ls.tails, filepath.Join(w.root, id, f))
	}
	for k := range ls.pending {
		if k.id == id {
			delete(ls.pending, k)
		}
	}
	ready := ls.ready[:0]
	for _, k := range ls.ready {
		if k.id != id {
			ready = append(ready, k)
		}
	}
	ls.ready = ready
	if ls.announced[id] {
		delete(ls.announced, id)
		ls.ready = append(ls.ready, key{id, ContainerRemoved})
	}
}

// schedule opens a coalescing window for k unless one is open already.
func (w *Watcher) schedule(ls *loopState, k key, now time.Time) {
	if _, ok := ls.pending[k]; ok {
		return
	}
	for _, r := range ls.ready {
		if r == k {
			return // due already; it will read everything up to now
		}
	}
	ls.pending[k] = now.Add(w.opts.Debounce)
}

// flush moves the windows that are due to the ready queue, in a stable
// order: by container, then kind.
func (w *Watcher) flush(ls *loopState, now time.Time) {
	var due []key
	for k, t := range ls.pending {
		if !t.After(now) {
			due = append(due, k)
			delete(ls.pending, k)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		if due[i].id != due[j].id {
			return due[i].id < due[j].id
		}
		return due[i].kind < due[j].kind
	})
	ls.ready = append(ls.ready, due...)
}

// build reads what is new for k; ok is false when there is nothing to say.
func (w *Watcher) build(ls *loopState, k key) (Event, bool) {
	ev := Event{Kind: k.kind, ID: k.id}
	dir := filepath.Join(w.root, k.id)
	sd := state.Dir{Root: w.root, ID: k.id}
	switch k.kind {
	case ContainerAdded:
		if ls.announced[k.id] || !exists(filepath.Join(dir, state.MarkerFile)) {
			return ev, false // known already, or not (yet) a urunc container
		}
		ls.announced[k.id] = true
		ev.State, ev.VMM = readState(sd), readVMM(sd)
	case ContainerRemoved:
	case StateChanged, VMMChanged:
		name := state.StateFile
		if k.kind == VMMChanged {
			name = state.VMMFile
		}
		if !ls.announced[k.id] || !exists(filepath.Join(dir, name)) {
			return ev, false
		}
		if k.kind == StateChanged {
			ev.State = readState(sd)
		} else {
			ev.VMM = readVMM(sd)
		}
	case JournalAppended:
		if !ls.announced[k.id] {
			return ev, false
		}
		path := filepath.Join(dir, state.EventsFile)
		data, _, t := w.readNew(ls, path, 0)
		if t == nil {
			return ev, false
		}
		buf := append(t.partial, data...)
		i := bytes.LastIndexByte(buf, '\n')
		if i < 0 {
			t.partial = buf
			return ev, false
		}
		t.partial = append([]byte(nil), buf[i+1:]...)
		evs, _ := state.ParseEvents(bytes.NewReader(buf[:i+1]))
		if len(evs) == 0 {
			return ev, false
		}
		ev.Events = evs
		for _, e := range evs {
			if e.Step == state.StepStopped || e.Step == state.StepFailed {
				ev.State = readState(sd)
				break
			}
		}
	case SerialAppended:
		if !ls.announced[k.id] {
			return ev, false
		}
		data, reset, _ := w.readNew(ls, filepath.Join(dir, state.SerialFile), w.opts.MaxSerialRead)
		if len(data) == 0 && !reset {
			return ev, false
		}
		ev.Serial, ev.Reset = data, reset
	}
	return ev, true
}

// readNew returns the bytes of path past the delivered offset. A file
// that shrank or was replaced (another inode) starts over: reset. limit > 0
// keeps only the last limit bytes (reset too, since some were skipped).
func (w *Watcher) readNew(ls *loopState, path string, limit int64) ([]byte, bool, *tailState) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, nil
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, false, nil
	}
	var ino uint64
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	t := ls.tails[path]
	if t == nil {
		t = &tailState{ino: ino}
		ls.tails[path] = t
	}
	reset := false
	if info.Size() < t.off || ino != t.ino {
		reset = t.off > 0 || ino != t.ino
		t.off, t.ino, t.partial = 0, ino, nil
	}
	start := t.off
	if limit > 0 && info.Size()-start > limit {
		start, reset = info.Size()-limit, true
	}
	if start == info.Size() {
		return nil, reset, t
	}
	data := make([]byte, info.Size()-start)
	n, err := f.ReadAt(data, start)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, t
	}
	data = data[:n]
	t.off = start + int64(n)
	return data, reset, t
}

// readState is state.json with its status re-derived; nil if unreadable.
func readState(d state.Dir) *state.State {
	st, err := d.ReadState()
	if err != nil {
		return nil
	}
	return st
}

// readVMM is vmm.json; nil if unreadable.
func readVMM(d state.Dir) *state.VMMInfo {
	v, err := d.ReadVMM()
	if err != nil {
		return nil
	}
	return v
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

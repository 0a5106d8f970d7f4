// Package watch follows a urunc state root with fsnotify and turns file
// changes into typed events: containers appearing and disappearing, state
// changes, journal lines and guest console output. It watches directories,
// not files (state.json is replaced by rename), adds each container's
// directory as it appears, ignores chmod, and coalesces bursts. Nothing is
// polled.
package watch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/urunc-dev/urunc/runtime/state"
)

// Kind is what changed.
type Kind int

const (
	ContainerAdded Kind = iota
	ContainerRemoved
	StateChanged
	JournalAppended
	SerialAppended
	VMMChanged
)

func (k Kind) String() string {
	return [...]string{"added", "removed", "state", "journal", "serial", "vmm"}[k]
}

// Event is one change of one container.
type Event struct {
	Kind   Kind
	ID     string
	Events []state.Event // JournalAppended: the new lines
	Serial []byte        // SerialAppended: the new bytes
	Reset  bool          // SerialAppended: the log was truncated or replaced; Serial is its whole (tail) content
}

// Options tune a Watcher.
type Options struct {
	// Debounce coalesces changes of one kind of one container; default 20 ms.
	Debounce time.Duration
	// MaxSerialRead bounds how much of a serial log is read at once (the
	// tail is kept); default 1 MiB.
	MaxSerialRead int64
}

// Watcher follows one root.
type Watcher struct {
	root string
	opts Options
	fsw  *fsnotify.Watcher
	out  chan Event
	ctx  context.Context

	mu      sync.Mutex
	offsets map[string]int64 // per file path: bytes already delivered
	partial map[string][]byte
	known   map[string]bool
	timers  map[key]*time.Timer
}

type key struct {
	id   string
	kind Kind
}

// New starts watching root (created if missing). Events arrive on
// Events() until ctx is done.
func New(ctx context.Context, root string, opts Options) (*Watcher, error) {
	if opts.Debounce == 0 {
		opts.Debounce = 20 * time.Millisecond
	}
	if opts.MaxSerialRead == 0 {
		opts.MaxSerialRead = 1 << 20
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
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
	w := &Watcher{
		root: root, opts: opts, fsw: fsw, out: make(chan Event, 256), ctx: ctx,
		offsets: map[string]int64{}, partial: map[string][]byte{},
		known: map[string]bool{}, timers: map[key]*time.Timer{},
	}
	go w.loop(ctx)
	return w, nil
}

// Events delivers the changes; it is closed when the watcher stops.
func (w *Watcher) Events() <-chan Event { return w.out }

// Existing starts following the containers present now and returns their
// ids. Their journal and console so far arrive as JournalAppended and
// SerialAppended events (from offset 0), so a consumer that only applies
// events sees every line exactly once.
func (w *Watcher) Existing() []string {
	ids, _ := state.List(w.root)
	w.mu.Lock()
	for _, id := range ids {
		w.addLocked(id)
	}
	w.mu.Unlock()
	for _, id := range ids {
		w.schedule(w.ctx, id, JournalAppended)
		w.schedule(w.ctx, id, SerialAppended)
	}
	return ids
}

func (w *Watcher) loop(ctx context.Context) {
	defer func() {
		w.fsw.Close()
		w.mu.Lock()
		for _, t := range w.timers {
			t.Stop()
		}
		w.mu.Unlock()
		close(w.out)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			_ = err // overflow: the next change re-reads everything it needs
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			w.handle(ctx, ev)
		}
	}
}

func (w *Watcher) handle(ctx context.Context, ev fsnotify.Event) {
	if ev.Op == fsnotify.Chmod {
		return
	}
	rel, err := filepath.Rel(w.root, ev.Name)
	if err != nil {
		return
	}
	dir, file := filepath.Split(rel)
	dir = filepath.Clean(dir)
	if dir == "." {
		// A change in the root itself: a container directory.
		id := file
		if ev.Has(fsnotify.Create) {
			if info, err := os.Stat(ev.Name); err == nil && info.IsDir() {
				w.mu.Lock()
				w.addLocked(id)
				w.mu.Unlock()
				w.schedule(ctx, id, ContainerAdded)
			}
		}
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			w.mu.Lock()
			wasKnown := w.known[id]
			w.removeLocked(id)
			w.mu.Unlock()
			if wasKnown {
				w.schedule(ctx, id, ContainerRemoved)
			}
		}
		return
	}
	id := dir
	switch file {
	case state.StateFile:
		w.schedule(ctx, id, StateChanged)
	case state.EventsFile:
		w.schedule(ctx, id, JournalAppended)
	case state.SerialFile:
		w.schedule(ctx, id, SerialAppended)
	case state.VMMFile:
		w.schedule(ctx, id, VMMChanged)
	case state.MarkerFile:
		// The marker appears right after mkdir: now it is a urunc container.
		w.schedule(ctx, id, ContainerAdded)
	}
}

func (w *Watcher) addLocked(id string) {
	if w.known[id] {
		return
	}
	w.known[id] = true
	w.fsw.Add(filepath.Join(w.root, id))
}

func (w *Watcher) removeLocked(id string) {
	delete(w.known, id)
	for _, f := range []string{state.EventsFile, state.SerialFile} {
		p := filepath.Join(w.root, id, f)
		delete(w.offsets, p)
		delete(w.partial, p)
	}
}

// schedule coalesces a burst of changes into one event after Debounce.
func (w *Watcher) schedule(ctx context.Context, id string, kind Kind) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := key{id, kind}
	if t, ok := w.timers[k]; ok {
		t.Reset(w.opts.Debounce)
		return
	}
	w.timers[k] = time.AfterFunc(w.opts.Debounce, func() {
		w.mu.Lock()
		delete(w.timers, k)
		w.mu.Unlock()
		if ev, ok := w.build(id, kind); ok {
			select {
			case w.out <- ev:
			case <-ctx.Done():
			}
		}
	})
}

// build reads what is new for an event.
func (w *Watcher) build(id string, kind Kind) (Event, bool) {
	ev := Event{Kind: kind, ID: id}
	switch kind {
	case ContainerAdded:
		if _, err := os.Stat(filepath.Join(w.root, id, state.MarkerFile)); err != nil {
			return ev, false // not (yet) a urunc container
		}
	case JournalAppended:
		data, _ := w.readNew(filepath.Join(w.root, id, state.EventsFile), 0)
		lines := w.completeLines(filepath.Join(w.root, id, state.EventsFile), data)
		if len(lines) == 0 {
			return ev, false
		}
		evs, _ := state.ParseEvents(bytes.NewReader(lines))
		ev.Events = evs
	case SerialAppended:
		data, reset := w.readNew(filepath.Join(w.root, id, state.SerialFile), w.opts.MaxSerialRead)
		if len(data) == 0 && !reset {
			return ev, false
		}
		ev.Serial, ev.Reset = data, reset
	}
	return ev, true
}

// readNew returns the bytes of path past the delivered offset. A file
// that shrank was truncated or replaced: everything is new (reset).
// limit > 0 keeps only the last limit bytes.
func (w *Watcher) readNew(path string, limit int64) ([]byte, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, false
	}
	w.mu.Lock()
	off := w.offsets[path]
	w.mu.Unlock()
	reset := false
	if info.Size() < off {
		off, reset = 0, true
		w.mu.Lock()
		delete(w.partial, path)
		w.mu.Unlock()
	}
	start := off
	if limit > 0 && info.Size()-off > limit {
		start, reset = info.Size()-limit, true
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return nil, false
	}
	data, err := io.ReadAll(io.LimitReader(f, info.Size()-start))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false
	}
	w.mu.Lock()
	w.offsets[path] = start + int64(len(data))
	w.mu.Unlock()
	return data, reset
}

// completeLines joins data to the previous partial line of path and
// returns only complete lines; a torn tail waits for its newline.
func (w *Watcher) completeLines(path string, data []byte) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := append(w.partial[path], data...)
	i := lastNewline(buf)
	if i < 0 {
		w.partial[path] = buf
		return nil
	}
	w.partial[path] = append([]byte(nil), buf[i+1:]...)
	return buf[:i+1]
}

func lastNewline(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i
		}
	}
	return -1
}

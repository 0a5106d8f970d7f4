package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Files follows a few files (a bundle's kernel and initrd) and reports
// each rewrite once, when it has settled: a build writes a file in
// several steps (truncate, writes, chmod; or a temporary file renamed
// over it), and every step of one build must make one change, not
// several. It watches the files' directories, not the files (a rename
// over a file replaces the inode a watch on it would follow), and waits
// until none of the files changed for Quiet: unlike the state watcher's
// window, this one is extended by every event. A file that is missing
// when the quiet time ends (removed, not written back yet) holds the
// change until it is there again. Nothing is polled.
type Files struct {
	paths map[string]bool // cleaned absolute paths
	quiet time.Duration
	fsw   *fsnotify.Watcher
	out   chan Change
}

// Change is one settled rewrite of the followed files.
type Change struct {
	Paths []string  // the files that changed, sorted
	First time.Time // the first event of the burst
	Last  time.Time // its last event: when the files were complete
	Ready time.Time // when the change was reported (Last + the quiet time, or when a missing file came back)
}

// DefaultQuiet is how long the files must stay unchanged before a change
// is reported.
const DefaultQuiet = 300 * time.Millisecond

// WatchFiles follows paths (absolute or relative to the working
// directory) until ctx is done; quiet <= 0 is DefaultQuiet. It fails if a
// directory of theirs cannot be watched.
func WatchFiles(ctx context.Context, paths []string, quiet time.Duration) (*Files, error) {
	if len(paths) == 0 {
		return nil, errors.New("watch files: no file to watch")
	}
	if quiet <= 0 {
		quiet = DefaultQuiet
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	f := &Files{paths: map[string]bool{}, quiet: quiet, fsw: fsw, out: make(chan Change, 1)}
	dirs := map[string]bool{}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			fsw.Close()
			return nil, err
		}
		f.paths[abs] = true
		dirs[filepath.Dir(abs)] = true
	}
	for d := range dirs {
		if err := fsw.Add(d); err != nil {
			fsw.Close()
			return nil, fmt.Errorf("watch %s: %w", d, err)
		}
	}
	go f.loop(ctx)
	return f, nil
}

// Changes delivers the settled changes; it is closed when ctx is done. A
// change not yet taken absorbs the next ones (one rerun covers them).
func (f *Files) Changes() <-chan Change { return f.out }

func (f *Files) loop(ctx context.Context) {
	defer func() {
		f.fsw.Close()
		close(f.out)
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var pending *Change
	changed := map[string]bool{}
	armed := false
	for {
		var timerC <-chan time.Time
		if armed {
			timerC = timer.C
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case ev, ok := <-f.fsw.Events:
			if !ok {
				return
			}
			if !f.paths[filepath.Clean(ev.Name)] || ev.Op == fsnotify.Chmod || ev.Op == 0 {
				continue
			}
			now := time.Now()
			if pending == nil {
				pending = &Change{First: now}
			}
			pending.Last = now
			changed[filepath.Clean(ev.Name)] = true
			timer.Stop()
			timer.Reset(f.quiet)
			armed = true
		case _, ok := <-f.fsw.Errors:
			// An overflow loses events, not the next ones: the burst ends
			// on its timer as usual.
			if !ok {
				return
			}
		case now := <-timerC:
			armed = false
			if pending == nil {
				continue
			}
			if !f.allThere() {
				continue // a file is being replaced: its Create rearms the timer
			}
			for p := range changed {
				pending.Paths = append(pending.Paths, p)
			}
			sort.Strings(pending.Paths)
			pending.Ready = now
			f.deliver(ctx, *pending)
			pending, changed = nil, map[string]bool{}
		}
	}
}

// deliver hands c over, merging it into a change not yet taken.
func (f *Files) deliver(ctx context.Context, c Change) {
	select {
	case f.out <- c:
		return
	default:
	}
	select {
	case old := <-f.out:
		c.First = old.First
		seen := map[string]bool{}
		for _, p := range append(old.Paths, c.Paths...) {
			seen[p] = true
		}
		c.Paths = c.Paths[:0]
		for p := range seen {
			c.Paths = append(c.Paths, p)
		}
		sort.Strings(c.Paths)
	default:
	}
	select {
	case f.out <- c:
	case <-ctx.Done():
	}
}

// allThere reports whether every followed file exists.
func (f *Files) allThere() bool {
	for p := range f.paths {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

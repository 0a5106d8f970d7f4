package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/urunc-dev/urunc/internal/atomicfile"
	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/watch"
)

// Rerun on rebuild: the console follows a bundle's kernel and initrd
// (package watch's Files: fsnotify on their directories, one change per
// settled build) and, on each change, stops and deletes the run it
// follows and creates and starts a new one from the same bundle, named
// on from the old one (hello-1, hello-2, ...). The console moves to the
// new run; the previous ones stay inspectable ([ and ]), and the new one
// says how long it took from the file change to the guest's first byte.
//
// The watch, the stop/delete/create/start sequence and the copying of a
// recorded source file are commands; Update only keeps the state.

// Annotations urunc-dev bundle records: the file the bundle's kernel
// (initrd) was copied from. When present, that file is followed and
// copied into the bundle before each rerun, so rebuilding where the build
// writes is enough; otherwise the bundle's own files are followed.
const (
	AnnotationKernelSource = "com.urunc.dev.kernelSource"
	AnnotationInitrdSource = "com.urunc.dev.initrdSource"
)

// rerun is one followed bundle.
type rerun struct {
	bundle  string
	watched []string          // the files followed
	copies  map[string]string // source -> the bundle's file it is copied to
	runs    []string          // ids, oldest first; the last is followed
	w       *watch.Files
	stop    context.CancelFunc
	busy    bool          // a rerun is under way
	again   *watch.Change // a change that came meanwhile: one more rerun
}

func (r *rerun) current() string { return r.runs[len(r.runs)-1] }

// runInfo is what a container started by a rerun knows of it.
type runInfo struct {
	bundle string
	n      int // the run's number for its bundle (1: the first one followed)
	change watch.Change
	// The rerun's own steps: started, the old run stopped and deleted,
	// the new one created and started.
	began, stopped, started time.Time
	firstByte               time.Time // the guest's first console byte arrived (zero: not yet)
}

// timing is the rerun's account: from the file change to the guest's
// first byte, and what that was made of.
func (r *runInfo) timing() string {
	if r.firstByte.IsZero() {
		return fmt.Sprintf("run %d: %s changed %s, waiting for the guest's first byte", r.n, changedWhat(r.change), r.change.Last.Format("15:04:05.000"))
	}
	return fmt.Sprintf("run %d: %s changed → first guest byte in %s (settle %s · stop+delete %s · create+start %s · boot %s)",
		r.n, changedWhat(r.change), stepDuration(r.firstByte.Sub(r.change.Last)),
		stepDuration(r.began.Sub(r.change.Last)), stepDuration(r.stopped.Sub(r.began)),
		stepDuration(r.started.Sub(r.stopped)), stepDuration(r.firstByte.Sub(r.started)))
}

func changedWhat(c watch.Change) string {
	if len(c.Paths) == 1 {
		return filepath.Base(c.Paths[0])
	}
	return fmt.Sprintf("%d files", len(c.Paths))
}

// Messages of the reruns.
type (
	// rerunWatchMsg: the bundle's files are followed (or why not).
	rerunWatchMsg struct {
		bundle, id string
		watched    []string
		copies     map[string]string
		w          *watch.Files
		stop       context.CancelFunc
		err        error
	}
	// changeMsg is a settled change of a followed bundle's files (ok
	// false: the watcher ended).
	changeMsg struct {
		bundle string
		w      *watch.Files
		change watch.Change
		ok     bool
	}
	// rerunMsg: the old run was replaced by a new one (or why not).
	rerunMsg struct {
		bundle, old, id         string
		created                 Created
		err                     error
		change                  watch.Change
		began, stopped, started time.Time
	}
)

// toggleRerun follows the bundle of c, or stops following it.
func (m *Model) toggleRerun(c *container) tea.Cmd {
	bundle := ""
	if c.State != nil {
		bundle = c.State.Bundle
	}
	if bundle == "" {
		m.status.set("rerun: "+c.ID+" has no bundle known yet", true)
		return nil
	}
	if r := m.reruns[bundle]; r != nil {
		r.stop()
		delete(m.reruns, bundle)
		m.status.set("no longer rerunning "+filepath.Base(bundle)+" on rebuild", false)
		return nil
	}
	m.status.set("watching "+filepath.Base(bundle)+"'s kernel ...", false)
	return m.watchBundleCmd(bundle, c.ID)
}

// watchBundleCmd starts following the files of bundle, whose run id is
// followed.
func (m *Model) watchBundleCmd(bundle, id string) tea.Cmd {
	ctx, quiet := m.opts.Context, m.opts.RerunQuiet
	return func() tea.Msg {
		msg := rerunWatchMsg{bundle: bundle, id: id}
		msg.watched, msg.copies, msg.err = bundleFiles(bundle)
		if msg.err != nil {
			return msg
		}
		wctx, stop := context.WithCancel(ctx)
		w, err := watch.WatchFiles(wctx, msg.watched, quiet)
		if err != nil {
			stop()
			msg.err = fmt.Errorf("rerun: %w", err)
			return msg
		}
		msg.w, msg.stop = w, stop
		return msg
	}
}

// bundleFiles is what a rerun of bundle follows: the recorded sources of
// its kernel and initrd (copied into the bundle before each run), else
// the bundle's own files.
func bundleFiles(bundle string) (watched []string, copies map[string]string, err error) {
	spec, err := config.LoadSpec(bundle)
	if err != nil {
		return nil, nil, fmt.Errorf("rerun: %w", err)
	}
	cfg, err := config.Load(bundle, spec)
	if err != nil {
		return nil, nil, fmt.Errorf("rerun: %w", err)
	}
	rootfs := config.RootfsPath(bundle, spec)
	copies = map[string]string{}
	for _, f := range []struct{ key, v, source string }{
		{config.KeyBinary, cfg.Binary, spec.Annotations[AnnotationKernelSource]},
		{config.KeyInitrd, cfg.Initrd, spec.Annotations[AnnotationInitrdSource]},
	} {
		if f.v == "" {
			continue
		}
		path, err := config.ResolveInRootfs(rootfs, f.key, f.v)
		if err != nil {
			return nil, nil, fmt.Errorf("rerun: %w", err)
		}
		if f.source != "" {
			copies[f.source] = path
			watched = append(watched, f.source)
		} else {
			watched = append(watched, path)
		}
	}
	return watched, copies, nil
}

func waitChange(bundle string, w *watch.Files) tea.Cmd {
	return func() tea.Msg {
		c, ok := <-w.Changes()
		return changeMsg{bundle: bundle, w: w, change: c, ok: ok}
	}
}

func (m *Model) applyRerunWatch(msg rerunWatchMsg) tea.Cmd {
	if msg.err != nil {
		m.status.set(msg.err.Error(), true)
		return nil
	}
	if old := m.reruns[msg.bundle]; old != nil {
		old.stop()
	}
	r := &rerun{bundle: msg.bundle, watched: msg.watched, copies: msg.copies, runs: []string{msg.id}, w: msg.w, stop: msg.stop}
	m.reruns[msg.bundle] = r
	if c := m.lastOf(msg.id); c != nil && c.run == nil {
		c.run = &runInfo{bundle: msg.bundle, n: 1}
	}
	names := ""
	for i, p := range msg.watched {
		if i > 0 {
			names += ", "
		}
		names += p
	}
	m.status.set(fmt.Sprintf("rerun on rebuild: a new %s replaces %s when %s changes (R stops)", filepath.Base(msg.bundle), msg.id, names), false)
	return waitChange(msg.bundle, msg.w)
}

func (m *Model) applyChange(msg changeMsg) tea.Cmd {
	r := m.reruns[msg.bundle]
	if r == nil || r.w != msg.w {
		return nil // no longer followed
	}
	if !msg.ok {
		delete(m.reruns, msg.bundle)
		return nil
	}
	if r.busy {
		c := msg.change
		r.again = &c
		return waitChange(msg.bundle, msg.w)
	}
	return tea.Batch(waitChange(msg.bundle, msg.w), m.rerunCmd(r, msg.change))
}

// runIDPattern splits "<name>-<n>".
var runIDPattern = regexp.MustCompile(`^(.+)-([0-9]+)$`)

// rerunCmd replaces the run r follows: the recorded sources copied into
// the bundle, the old run killed, its outcome read (by its reaper, if the
// console has one), deleted, and a new run created and started under the
// next id of its name.
func (m *Model) rerunCmd(r *rerun, change watch.Change) tea.Cmd {
	r.busy = true
	old, bundle := r.current(), r.bundle
	copies := map[string]string{}
	for _, p := range change.Paths {
		if dst, ok := r.copies[p]; ok {
			copies[p] = dst
		}
	}
	used := map[string]bool{}
	for _, c := range m.containers {
		used[c.ID] = true
	}
	base, n := old, 1
	if sm := runIDPattern.FindStringSubmatch(old); sm != nil {
		base = sm[1]
		n, _ = strconv.Atoi(sm[2])
	}
	run, ctx, reaps, reap, ins := m.opts.Runner, m.opts.Context, m.reaps, m.opts.Reap != nil, m.inputs
	exists, root := m.disk.exists, m.opts.Root
	m.status.set(fmt.Sprintf("%s changed: rerunning %s ...", changedWhat(change), filepath.Base(bundle)), false)
	return func() tea.Msg {
		msg := rerunMsg{bundle: bundle, old: old, change: change, began: time.Now()}
		for src, dst := range copies {
			if err := copyInto(src, dst); err != nil {
				msg.err = fmt.Errorf("rerun: %w", err)
				return msg
			}
		}
		// The old run goes whatever its state (gone already, stopped).
		_ = run.Run(ctx, "kill", old, "KILL")
		reaps.wait(old, 10*time.Second)
		_ = run.Run(ctx, "delete", "--force", old)
		msg.stopped = time.Now()
		for i := n + 1; ; i++ {
			id := fmt.Sprintf("%s-%d", base, i)
			if !used[id] && !exists(filepath.Join(root, id)) {
				msg.id = id
				break
			}
		}
		created, err := run.Create(ctx, bundle, msg.id)
		if err != nil {
			msg.err = err
			return msg
		}
		if reap {
			reaps.add(msg.id)
		}
		ins.add(msg.id, created.Input)
		msg.created = created
		msg.err = run.Run(ctx, "start", msg.id)
		msg.started = time.Now()
		return msg
	}
}

func (m *Model) applyRerun(msg rerunMsg) tea.Cmd {
	r := m.reruns[msg.bundle]
	if r != nil {
		r.busy = false
	}
	if msg.id == "" { // nothing was created
		m.status.set(msg.err.Error(), true)
		return m.rerunAgain(r)
	}
	cmd := m.applyCreated(createdMsg{id: msg.id, stdio: msg.created.Stdio, what: "rerun: " + msg.id + " replaces " + msg.old, err: msg.err})
	c := m.lastOf(msg.id)
	n := 2
	if prev := m.lastOf(msg.old); prev != nil && prev.run != nil {
		n = prev.run.n + 1
	}
	c.run = &runInfo{bundle: msg.bundle, n: n, change: msg.change, began: msg.began, stopped: msg.stopped, started: msg.started}
	if r != nil {
		r.runs = append(r.runs, msg.id)
	}
	// The console follows the new run: the detail view (same tab) and
	// the list's selection.
	if prev := m.lastOf(msg.old); prev != nil && m.screen == screenDetail && m.detail.id == prev.key {
		m.detail.show(c.key, -1)
	}
	return tea.Batch(cmd, m.rerunAgain(r))
}

// rerunAgain runs once more for a change that came during a rerun.
func (m *Model) rerunAgain(r *rerun) tea.Cmd {
	if r == nil || r.again == nil || r.busy {
		return nil
	}
	c := *r.again
	r.again = nil
	return m.rerunCmd(r, c)
}

// otherRun shows the previous (dir -1) or next (+1) run of the rerun the
// shown container belongs to.
func (m *Model) otherRun(c *container, dir int) {
	if c == nil || c.run == nil {
		m.status.set("[ and ] walk the runs of a bundle rerun on rebuild (R on a container)", true)
		return
	}
	r := m.reruns[c.run.bundle]
	if r == nil {
		m.status.set("its bundle is no longer rerun on rebuild", true)
		return
	}
	for i, id := range r.runs {
		if id != c.ID {
			continue
		}
		j := i + dir
		if j < 0 || j >= len(r.runs) {
			break
		}
		o := m.lastOf(r.runs[j])
		if o == nil {
			m.status.set(r.runs[j]+" was dismissed", true)
			return
		}
		m.detail.show(o.key, -1)
		m.status.set(fmt.Sprintf("run %d of %d: %s", j+1, len(r.runs), o.ID), false)
		return
	}
	if dir < 0 {
		m.status.set("no earlier run kept", true)
	} else {
		m.status.set("this is the newest run", true)
	}
}

// copyInto replaces dst with a copy of src (atomically: readers, the
// VMM's bind included, see the old file or the new one).
func copyInto(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return errors.New(src + " is not a regular file")
	}
	return atomicfile.Write(dst, info.Mode().Perm(), false, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

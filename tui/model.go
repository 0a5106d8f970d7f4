// Package tui is urunc-dev's console: a live view of a urunc state root
// (fed by package watch, never polled) with, per container, the handshake
// timeline, the guest console, resource graphs and the configuration, and
// actions that run the urunc binary exactly as containerd would.
//
// Layout: model.go is the root model (messages, the container store);
// route.go routes keys to the panes and applies what they ask; view.go
// draws the frame around them (header, status and key bars, the ? help).
// One file per pane: list.go, detail.go (the tabs: handshake.go,
// serial.go, resources.go, configtab.go) and dialog.go (the question on
// the dialog line and the bundle picker). Panes never see the root model:
// they get a programContext (context.go: styles, keys, size, clock) and
// the container they show, keep their own state, and return an intent.
// keys.go is the keymap and styles.go the shared adaptive styles.
package tui

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/bubbles/help"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/urunc-dev/urunc/runtime/cgroups"
	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/watch"
)

// Options configure the console.
type Options struct {
	Root    string
	Runner  Runner
	Bundles []string // directories of bundles offered by "create"
	// Context bounds the urunc commands the console runs; default
	// context.Background().
	Context context.Context
	// Now is the clock and Location the zone times are shown in (tests fix
	// both); defaults time.Now and time.Local.
	Now      func() time.Time
	Location *time.Location
	// Sample reads VMMs' CPU% and RSS; nil: no resource sampling (the
	// console then only learns of a VMM's death from the state dir).
	Sample SampleFunc
	// SampleEvery is the sampling period; default 1 s.
	SampleEvery time.Duration
	// CgroupMemory reads the memory accounting of a container's cgroup
	// (state.json's cgroup_paths), for the container shown in the
	// Resources tab; nil: not shown.
	CgroupMemory func(st *state.State) (cgroups.MemoryUse, error)
	// Reap waits for the VMM of a container this console created (stdio:
	// the file its stdio went to) to exit, and returns how it ended (the
	// caller must be its subreaper: cmd/urunc-dev is). Run by a command
	// right after create; nil: the console reaps nothing and shows what
	// the journal and console tell.
	Reap func(ctx context.Context, id, stdio string) (ExitReport, error)
	// DerivedBundles is where bundles made for one container go (a copy
	// of a bundle's config.json with an annotation added: the gdb stub
	// asked for in the create picker); default <TMPDIR>/urunc-dev-bundles.
	// Each is removed when its container is deleted.
	DerivedBundles string
	// RerunQuiet is how long a followed bundle's files must stay unchanged
	// before a rerun; default watch.DefaultQuiet.
	RerunQuiet time.Duration
	// Run, if set, is created and started when the console starts, shown
	// on its Serial tab, and rerun on rebuild if Watch (urunc-dev run).
	Run *RunOptions
}

// RunOptions: the bundle urunc-dev run starts (and follows).
type RunOptions struct {
	Bundle string
	Watch  bool
}

// maxDeleted is how many deleted containers the console keeps for
// inspection (their journal, console and VMM argv) until dismissed.
const maxDeleted = 10

// SampleFunc returns the CPU% (100 = one core) and RSS in MiB of each
// pid; a pid missing from the result is gone.
type SampleFunc func(pids []int) map[int][2]float64

type screen int

const (
	screenList screen = iota
	screenDetail
)

// Messages.
type (
	// WatchMsg carries one change from package watch, with what it read.
	WatchMsg watch.Event
	// sampleTickMsg asks for a resource sample (every SampleEvery).
	sampleTickMsg time.Time
	// clockMsg redraws a live counter (handshake waits), 5 times a second,
	// only while one is on screen.
	clockMsg time.Time
	// sampleMsg is one resource sample: CPU% and RSS (MiB) per pid (a pid
	// missing is gone) and, read by the same command, the cgroup memory
	// of the container on the Resources tab (nil: not read).
	sampleMsg struct {
		usage  map[int][2]float64
		cgroup *cgroupSample
	}
	cgroupSample struct {
		id  string
		mem cgroups.MemoryUse
		err error
	}
	// actionMsg is the outcome of a urunc command.
	actionMsg struct {
		what string
		err  error
	}
	// createdMsg: the console created (and perhaps started) a container;
	// stdio is the file its stdio goes to.
	createdMsg struct {
		id, stdio, what string
		err             error
		// follow: show it (Serial tab); watch: and rerun its bundle on
		// rebuild (urunc-dev run).
		follow, watch bool
		bundle        string
		// derived: the bundle made for it (DeriveBundle), removed with it.
		derived string
	}
	// gdbDoneMsg: the gdb the console ran has exited.
	gdbDoneMsg struct {
		id  string
		err error
	}
	// exitMsg is how the VMM of a container the console created ended
	// (err: it could not be reaped).
	exitMsg struct {
		id     string
		report ExitReport
		err    error
	}
)

// reaps are the reapers under way, by container id: a command that must
// not race one (rerun deletes a container only once its outcome is read)
// waits for it. Only commands use it.
type reaps struct {
	mu   sync.Mutex
	byID map[string]chan struct{}
}

func newReaps() *reaps { return &reaps{byID: map[string]chan struct{}{}} }

func (r *reaps) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byID[id] = make(chan struct{})
}

func (r *reaps) done(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch, ok := r.byID[id]; ok {
		close(ch)
		delete(r.byID, id)
	}
}

// wait waits (at most d) for the reaper of id, if there is one.
func (r *reaps) wait(id string, d time.Duration) {
	r.mu.Lock()
	ch := r.byID[id]
	r.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-time.After(d):
	}
}

// Model is the root Bubble Tea model.
type Model struct {
	opts       Options
	keys       keyMap
	styles     styles
	help       help.Model
	containers map[string]*container

	width, height int
	screen        screen
	showHelp      bool
	list          listPane
	detail        detailPane
	dialog        dialog
	status        statusBar
	pendingG      bool // first g of gg
	clockArmed    bool
	ghostSeq      int // numbers the deleted containers kept

	// reaps are the console's reapers under way, inputs the guest inputs
	// it holds (both shared with the commands that use them).
	reaps  *reaps
	inputs *inputs
	// attach is the guest serial input keys go to (nil: not attached).
	attach *attachConn
	// reruns are the bundles rerun on rebuild, by bundle path.
	reruns map[string]*rerun

	// The last rendered screen, reused while nothing visible changed (a
	// guest printing into a console nobody is looking at costs no render).
	frame string
	dirty bool

	disk diskReads // only commands call it (load.go)
}

var _ tea.Model = (*Model)(nil)

// New returns the console model for opts.Root, with the state of the
// containers already there (their journal and console arrive as watch
// events, so each line is applied exactly once).
func New(o Options) *Model {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	if o.SampleEvery <= 0 {
		o.SampleEvery = time.Second
	}
	if o.DerivedBundles == "" {
		o.DerivedBundles = filepath.Join(os.TempDir(), "urunc-dev-bundles")
	}
	h := help.New()
	h.ShortSeparator = "  "
	m := &Model{
		opts: o, keys: defaultKeys(), styles: defaultStyles(), help: h,
		containers: map[string]*container{}, width: 80, height: 24,
		dialog: newDialog(),
		detail: detailPane{serial: serialPane{follow: true}},
		disk:   osDisk(),
		reaps:  newReaps(),
		inputs: newInputs(),
		reruns: map[string]*rerun{},
	}
	// The one read outside a command, and it stays here rather than in
	// Init's command: New is the constructor, it runs before the program
	// does, on the caller's goroutine, so it blocks no Update. Done here,
	// the first frame already lists the containers (Bubble Tea draws a
	// frame before Init's command returns, which would show an empty root
	// for a moment), and a Model used without a program or a watcher
	// (tests, a one-shot view) knows its root. It costs nothing later:
	// the watcher reports the same containers again, with their state and
	// VMM in the events, and Update applies them like any other change.
	ids, _ := state.List(o.Root)
	for _, id := range ids {
		c := m.get(id)
		d := state.Dir{Root: o.Root, ID: id}
		if st, err := d.ReadState(); err == nil {
			c.State = st
		}
		if v, err := d.ReadVMM(); err == nil {
			c.VMM = v
		}
	}
	return m
}

func (m *Model) get(id string) *container {
	c, ok := m.containers[id]
	if !ok {
		c = newContainer(id)
		m.containers[id] = c
	}
	return c
}

// Init starts the sampling tick, and urunc-dev run's container.
func (m *Model) Init() tea.Cmd {
	if r := m.opts.Run; r != nil {
		return tea.Batch(m.sampleTick(), m.firstRunCmd(r))
	}
	return m.sampleTick()
}

func (m *Model) sampleTick() tea.Cmd {
	if m.opts.Sample == nil {
		return nil
	}
	return tea.Tick(m.opts.SampleEvery, func(t time.Time) tea.Msg { return sampleTickMsg(t) })
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m.dirty = m.dirty || m.changesScreen(msg)
	cmd := m.update(msg)
	// A live counter on screen needs a clock; it stops when none is shown.
	if !m.clockArmed && m.needsClock() {
		m.clockArmed = true
		cmd = tea.Batch(cmd, tea.Tick(200*time.Millisecond, func(t time.Time) tea.Msg { return clockMsg(t) }))
	}
	return m, cmd
}

// changesScreen tells whether msg can change what is on screen.
func (m *Model) changesScreen(msg tea.Msg) bool {
	switch msg := msg.(type) {
	case WatchMsg:
		if msg.Kind == watch.SerialAppended {
			return m.screen == screenDetail && m.detail.tab == tabSerial && m.detail.id == msg.ID
		}
	case clockMsg:
		return m.needsClock()
	}
	return true
}

func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
	case WatchMsg:
		cmd := m.applyWatch(watch.Event(msg))
		m.checkAttached()
		return cmd
	case gdbDoneMsg:
		if msg.err != nil {
			m.status.set("gdb on "+msg.id+": "+msg.err.Error(), true)
		} else {
			m.status.set("gdb on "+msg.id+" has quit", false)
		}
	case sampleTickMsg:
		return tea.Batch(m.sampleTick(), m.sampleCmd())
	case sampleMsg:
		return m.applySamples(msg)
	case stateMsg:
		if c := m.containers[msg.id]; c != nil && msg.st != nil {
			c.State = msg.st
		}
		m.checkAttached()
	case bundlesMsg:
		m.applyBundles(msg)
	case idMsg:
		m.applyID(msg)
	case clockMsg:
		m.clockArmed = false
	case actionMsg:
		if msg.err != nil {
			m.status.set(msg.err.Error(), true)
		} else {
			m.status.set(msg.what+": ok", false)
		}
	case createdMsg:
		return m.applyCreated(msg)
	case attachedMsg:
		return m.applyAttached(msg)
	case rerunWatchMsg:
		return m.applyRerunWatch(msg)
	case changeMsg:
		return m.applyChange(msg)
	case rerunMsg:
		return m.applyRerun(msg)
	case detachedMsg:
		if m.attach == msg.conn {
			m.attach, m.detail.serial.attached = nil, ""
			why := "its input closed"
			if msg.conn.err != nil {
				why = msg.conn.err.Error()
			}
			m.status.set("detached from "+msg.conn.id+": "+why, true)
		}
	case exitMsg:
		m.applyExit(msg)
	case tea.KeyMsg:
		return m.handleKey(msg)
	}
	return nil
}

// needsClock: a wait with a live elapsed counter is on screen.
func (m *Model) needsClock() bool {
	if m.screen != screenDetail || m.detail.tab != tabHandshake || m.showHelp {
		return false
	}
	c := m.containers[m.detail.id]
	return c != nil && len(c.waits()) > 0
}

// applyWatch applies a change reported by the watcher, from what the
// event carries: the watcher read the files.
func (m *Model) applyWatch(ev watch.Event) tea.Cmd {
	switch ev.Kind {
	case watch.ContainerAdded:
		c := m.get(ev.ID)
		if ev.State != nil {
			c.State = ev.State
		}
		if ev.VMM != nil {
			c.VMM = ev.VMM
			c.scanFailures()
		}
	case watch.ContainerRemoved:
		return m.keepDeleted(ev.ID)
	case watch.StateChanged:
		if ev.State != nil {
			m.get(ev.ID).State = ev.State
		}
	case watch.VMMChanged:
		if ev.VMM != nil {
			c := m.get(ev.ID)
			c.VMM = ev.VMM
			c.scanFailures()
		}
	case watch.JournalAppended:
		c := m.get(ev.ID)
		c.addEvents(ev.Events)
		// Lines with stopped or failed come with the state derived again
		// (the journal says so before state.json is rewritten, or never
		// when the VMM just died).
		if ev.State != nil {
			c.State = ev.State
		}
	case watch.SerialAppended:
		c := m.get(ev.ID)
		if ev.Reset {
			c.serial.reset()
			c.serialSkipped = true
		}
		c.serial.write(ev.Serial)
		if r := c.run; r != nil && !r.started.IsZero() && r.firstByte.IsZero() && len(ev.Serial) > 0 {
			r.firstByte = m.opts.Now()
			m.status.set(c.ID+": "+r.timing(), false)
			m.dirty = true
		}
		had := c.failure
		c.scanFailures()
		if c.failure != had {
			m.dirty = true // the list and the detail view say so
		}
	}
	return nil
}

// keepDeleted keeps a container whose directory is gone for inspection
// (its journal, console and VMM description), under a key of its own, so
// the id can be taken again; the oldest of more than maxDeleted go. The
// list and the detail view stay on it.
func (m *Model) keepDeleted(id string) tea.Cmd {
	c := m.containers[id]
	if c == nil {
		return nil
	}
	delete(m.containers, id)
	m.ghostSeq++
	c.key, c.ghostSeq, c.deleted = fmt.Sprintf("%s~%d", id, m.ghostSeq), m.ghostSeq, m.opts.Now()
	m.containers[c.key] = c
	if m.list.selected == id {
		m.list.selected = c.key
	}
	if m.detail.id == id {
		m.detail.id = c.key
	}
	var oldest *container
	n := 0
	for _, g := range m.containers {
		if g.deleted.IsZero() {
			continue
		}
		n++
		if oldest == nil || g.ghostSeq < oldest.ghostSeq {
			oldest = g
		}
	}
	if n > maxDeleted {
		m.dismiss(oldest)
	}
	m.status.set(id+" was deleted: kept here for inspection until dismissed (x)", false)
	return m.removeDerived(c)
}

// removeDerived removes the bundle made for a deleted container, once no
// container nor rerun uses it any more (a rerun's runs share it).
func (m *Model) removeDerived(c *container) tea.Cmd {
	dir := c.derived
	if dir == "" || m.reruns[dir] != nil {
		return nil
	}
	for _, o := range m.containers {
		if o.deleted.IsZero() && o.State != nil && o.State.Bundle == dir {
			return nil
		}
	}
	c.derived = ""
	return func() tea.Msg {
		os.RemoveAll(dir)
		_ = os.Remove(filepath.Dir(dir)) // the last one takes the directory along; else it is not empty
		return nil
	}
}

// debug runs the gdb command of c's VMM in the terminal (the console
// steps aside until gdb quits).
func (m *Model) debug(c *container) tea.Cmd {
	if c.VMM == nil || len(c.VMM.GDBCommand) == 0 {
		why := "its VMM has no gdb stub: create it with the annotation com.urunc.vmm.gdb=on (or wait), or g in the create picker"
		if c.VMM == nil {
			why = "its VMM's description (vmm.json) is not there yet"
		}
		m.status.set("gdb: "+c.ID+": "+why, true)
		return nil
	}
	if !c.live() {
		m.status.set("gdb: "+c.ID+" is "+string(c.status()), true)
		return nil
	}
	id, argv := c.ID, append([]string(nil), c.VMM.GDBCommand...)
	m.status.set("gdb on "+id+" ...", false)
	return tea.Exec(&terminalCommand{argv: argv}, func(err error) tea.Msg { return gdbDoneMsg{id: id, err: err} })
}

// terminalCommand is a program run in the console's terminal (tea.Exec):
// looked up and started only in Run, once Bubble Tea has given the
// terminal away, never in Update (exec.Command looks the program up on
// PATH at once).
type terminalCommand struct {
	argv           []string
	stdin          io.Reader
	stdout, stderr io.Writer
}

func (c *terminalCommand) SetStdin(r io.Reader)  { c.stdin = r }
func (c *terminalCommand) SetStdout(w io.Writer) { c.stdout = w }
func (c *terminalCommand) SetStderr(w io.Writer) { c.stderr = w }

func (c *terminalCommand) Run() error {
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.stdin, c.stdout, c.stderr
	return cmd.Run()
}

// dismiss forgets a deleted container.
func (m *Model) dismiss(c *container) {
	delete(m.containers, c.key)
	if m.screen == screenDetail && m.detail.id == c.key {
		m.screen = screenList
	}
}

// lastOf is the container called id: the live one, else the one deleted
// last.
func (m *Model) lastOf(id string) *container {
	if c := m.containers[id]; c != nil {
		return c
	}
	var last *container
	for _, c := range m.containers {
		if c.ID == id && (last == nil || c.ghostSeq > last.ghostSeq) {
			last = c
		}
	}
	return last
}

// sampleCmd samples the live VMMs off the UI goroutine. A created
// container has no VMM yet (its pid is urunc's child waiting for START),
// so there is nothing to measure: an idle root costs no sampling.
func (m *Model) sampleCmd() tea.Cmd {
	var pids []int
	for _, c := range m.containers {
		if p := c.pid(); p > 0 && c.status() != state.Created {
			pids = append(pids, p)
		}
	}
	if len(pids) == 0 {
		return nil
	}
	sample := m.opts.Sample
	// The cgroup's memory (VMM + guest against the limit) only for the
	// container on screen: one small read per sample, in this command.
	var readCgroup func() *cgroupSample
	if f := m.opts.CgroupMemory; f != nil && m.screen == screenDetail && m.detail.tab == tabResources {
		if c := m.containers[m.detail.id]; c != nil && c.State != nil && c.live() {
			id, st := c.ID, *c.State // a copy: Update may replace c.State meanwhile
			readCgroup = func() *cgroupSample {
				mem, err := f(&st)
				return &cgroupSample{id: id, mem: mem, err: err}
			}
		}
	}
	return func() tea.Msg {
		msg := sampleMsg{usage: sample(pids)}
		if readCgroup != nil {
			msg.cgroup = readCgroup()
		}
		return msg
	}
}

// applySamples records a sample; a VMM missing from it has died, and its
// container's state is read again by a command.
func (m *Model) applySamples(s sampleMsg) tea.Cmd {
	var reload []tea.Cmd
	gone := map[string]bool{}
	for _, c := range m.containers {
		pid := c.pid()
		if pid == 0 || c.status() == state.Created {
			continue
		}
		v, ok := s.usage[pid]
		if !ok {
			// The VMM is gone without anything written to the state dir
			// yet: re-derive its status (ReadState checks the pid).
			gone[c.ID] = true
			reload = append(reload, m.reloadState(c.ID))
			continue
		}
		c.addSample(v[0], v[1])
	}
	if cg := s.cgroup; cg != nil && !gone[cg.id] {
		if c := m.containers[cg.id]; c != nil && c.live() {
			mem := cg.mem
			c.cgroupMem, c.cgroupErr = &mem, cg.err
		}
	}
	return tea.Batch(reload...)
}

// run runs one urunc command asynchronously; its outcome comes back as an
// actionMsg (and the change itself through the watcher).
func (m *Model) run(args ...string) tea.Cmd {
	r, ctx := m.opts.Runner, m.opts.Context
	what := "urunc " + strings.Join(args, " ")
	m.status.set(what+" ...", false)
	return func() tea.Msg {
		return actionMsg{what: what, err: r.Run(ctx, args...)}
	}
}

// createCmd runs create, then start if asked; the container's reaper
// (Options.Reap) is registered as soon as create has succeeded. gdb ("on",
// "wait") asks for the VMM's gdb stub: the container is made from a copy
// of the bundle's config.json with the annotation added (DeriveBundle).
func (m *Model) createCmd(bundle, id string, start bool, gdb string) tea.Cmd {
	r, ctx, reaps, reap, ins := m.opts.Runner, m.opts.Context, m.reaps, m.opts.Reap != nil, m.inputs
	m.status.set(fmt.Sprintf("urunc create --bundle %s %s ...", bundle, id), false)
	derivedDir := m.opts.DerivedBundles
	return func() tea.Msg {
		derived := ""
		if gdb != "" {
			d, err := DeriveBundle(derivedDir, bundle, id, map[string]string{config.KeyGDB: gdb})
			if err != nil {
				return actionMsg{what: "create " + id, err: err}
			}
			bundle, derived = d, d
		}
		created, err := r.Create(ctx, bundle, id)
		if err != nil {
			if derived != "" {
				os.RemoveAll(derived)
			}
			return actionMsg{what: "create " + id, err: err}
		}
		if reap {
			reaps.add(id)
		}
		ins.add(id, created.Input)
		msg := createdMsg{id: id, stdio: created.Stdio, what: "urunc create " + id, derived: derived}
		if start {
			msg.what = "urunc create + start " + id
			msg.err = r.Run(ctx, "start", id)
		}
		return msg
	}
}

// applyCreated notes what the console knows of a container it created
// and starts its reaper.
func (m *Model) applyCreated(msg createdMsg) tea.Cmd {
	if msg.err != nil {
		m.status.set(msg.err.Error(), true)
	} else {
		m.status.set(msg.what+": ok", false)
	}
	// The list moves to what was just made.
	m.list.selected = msg.id
	c := m.lastOf(msg.id)
	if c == nil {
		c = m.get(msg.id)
	}
	c.stdio = msg.stdio
	if msg.derived != "" {
		c.derived = msg.derived
	}
	var then tea.Cmd
	if msg.follow {
		m.detail.show(c.key, tabSerial)
		m.screen = screenDetail
	}
	if msg.watch && msg.err == nil {
		then = m.watchBundleCmd(msg.bundle, msg.id)
	}
	if m.opts.Reap == nil {
		return then
	}
	reap, ctx, reaps, ins := m.opts.Reap, m.opts.Context, m.reaps, m.inputs
	id, stdio := msg.id, msg.stdio
	return tea.Batch(then, func() tea.Msg {
		defer reaps.done(id)
		r, err := reap(ctx, id, stdio)
		if err == nil {
			ins.drop(id) // its VMM is gone: nobody reads it any more
		}
		return exitMsg{id: id, report: r, err: err}
	})
}

// firstRunCmd creates and starts urunc-dev run's container, named
// "<bundle>-N" past the ids in use.
func (m *Model) firstRunCmd(ro *RunOptions) tea.Cmd {
	r, ctx, reaps, reap, ins := m.opts.Runner, m.opts.Context, m.reaps, m.opts.Reap != nil, m.inputs
	exists, root := m.disk.exists, m.opts.Root
	used := map[string]bool{}
	for _, c := range m.containers {
		used[c.ID] = true
	}
	bundle, name := ro.Bundle, filepath.Base(ro.Bundle)
	m.status.set("urunc create + start from "+bundle+" ...", false)
	return func() tea.Msg {
		id := ""
		for n := 1; ; n++ {
			id = fmt.Sprintf("%s-%d", name, n)
			if !used[id] && !exists(filepath.Join(root, id)) {
				break
			}
		}
		msg := createdMsg{id: id, what: "urunc create + start " + id, follow: true, watch: ro.Watch, bundle: bundle}
		created, err := r.Create(ctx, bundle, id)
		if err != nil {
			msg.err = err
			return msg
		}
		if reap {
			reaps.add(id)
		}
		ins.add(id, created.Input)
		msg.stdio = created.Stdio
		msg.err = r.Run(ctx, "start", id)
		return msg
	}
}

// applyExit records how a container the console reaped ended (it may be
// deleted already).
func (m *Model) applyExit(msg exitMsg) {
	if msg.err != nil {
		return // not ours to reap after all: the journal tells what it can
	}
	if c := m.lastOf(msg.id); c != nil {
		r := msg.report
		c.exit = &r
	}
}

// statusBar is the one-line message under the panes.
type statusBar struct {
	text  string
	isErr bool
}

func (s *statusBar) set(text string, isErr bool) { s.text, s.isErr = text, isErr }

// applyAttached makes keys go to the guest, if the console still shows
// that container's Serial tab (else the attachment is dropped).
func (m *Model) applyAttached(msg attachedMsg) tea.Cmd {
	if msg.err != nil {
		m.status.set(msg.err.Error(), true)
		return nil
	}
	c := m.containers[m.detail.id]
	if m.screen != screenDetail || m.detail.tab != tabSerial || c == nil || c.ID != msg.id || m.attach != nil {
		close(msg.conn.in)
		return nil
	}
	m.attach = msg.conn
	m.detail.serial.attached = msg.conn.via
	m.detail.serial.follow = true
	m.status.set("attached to "+msg.id+"'s console: every key goes to the guest; ctrl+] detaches", false)
	return waitDetached(msg.conn)
}

// detach stops sending keys to the guest.
func (m *Model) detach(why string) {
	if m.attach == nil {
		return
	}
	close(m.attach.in) // the writer ends (and closes a socket)
	m.status.set("detached from "+m.attach.id+why, false)
	m.attach, m.detail.serial.attached = nil, ""
}

// checkAttached detaches once the attached container no longer runs.
func (m *Model) checkAttached() {
	if a := m.attach; a != nil {
		if c := m.containers[a.id]; c == nil || !c.live() {
			m.detach(": it is no longer running")
		}
	}
}

// Package tui is urunc-dev's console: a live view of a urunc state root
// (fed by package watch) with per-container handshake timeline, guest
// console, resource graphs and configuration, and actions that run the
// urunc binary as containerd would.
package tui

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/watch"
)

// Options configure the console.
type Options struct {
	Root    string
	Runner  Runner
	Bundles []string // bundle directories offered by "create"
	// Now is the clock (tests fix it); default time.Now.
	Now func() time.Time
	// Sample reads a VMM's CPU% and RSS; default: gopsutil (NewSampler).
	Sample SampleFunc
}

// SampleFunc returns the VMM pids' CPU% (100 = one core) and RSS in MiB;
// a pid missing from the result is gone.
type SampleFunc func(pids []int) map[int][2]float64

type mode int

const (
	modeList mode = iota
	modeDetail
)

type dialog int

const (
	dialogNone dialog = iota
	dialogFilter
	dialogSearch
	dialogKill
	dialogDelete
	dialogCreateBundle
	dialogCreateID
)

const (
	tabHandshake = iota
	tabSerial
	tabResources
	tabConfig
	tabCount
)

var tabNames = [tabCount]string{"1 Handshake", "2 Serial", "3 Resources", "4 Config"}

var sortNames = []string{"id", "status", "created", "cpu", "rss"}

// Model is the root Bubble Tea model.
type Model struct {
	opts       Options
	keys       keyMap
	styles     styles
	help       help.Model
	containers map[string]*container
	cursor     int
	mode       mode
	tab        int
	showHelp   bool
	dialog     dialog
	input      textinput.Model
	filter     string
	sortBy     int
	status     string
	statusErr  bool
	width      int
	height     int
	pendingG   bool // first "g" of "gg"

	// serial view
	follow   bool
	scroll   int // first line shown when not following
	search   string
	hit      int
	bundleI  int
	bundle   string
	startToo bool
	created  int

	// The last rendered screen, reused while nothing visible changed (a
	// guest printing into a console nobody is looking at costs no render).
	view  string
	dirty bool
}

// New returns the console model for root, with the containers already there.
func New(o Options) *Model {
	if o.Now == nil {
		o.Now = time.Now
	}
	ti := textinput.New()
	ti.Prompt = "/"
	m := &Model{
		opts: o, keys: defaultKeys(), styles: defaultStyles(), help: help.New(),
		containers: map[string]*container{}, input: ti, follow: true, width: 120, height: 40,
		startToo: true,
	}
	ids, _ := state.List(o.Root)
	for _, id := range ids {
		m.load(id)
	}
	return m
}

// load reads a container's state and VMM description. Its journal and
// console come only through watch events (each line exactly once).
func (m *Model) load(id string) *container {
	c := m.get(id)
	d := state.Dir{Root: m.opts.Root, ID: id}
	if st, err := d.ReadState(); err == nil {
		c.State = st
	}
	if v, err := d.ReadVMM(); err == nil {
		c.VMM = v
	}
	return c
}

func (m *Model) get(id string) *container {
	c, ok := m.containers[id]
	if !ok {
		c = &container{ID: id}
		m.containers[id] = c
	}
	return c
}

// Messages.
type (
	// WatchMsg carries one change from package watch.
	WatchMsg  watch.Event
	tickMsg   time.Time
	sampleMsg map[int][2]float64
	actionMsg struct {
		what string
		err  error
	}
)

// Init starts the clock.
func (m *Model) Init() tea.Cmd { return tick() }

func tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m.dirty = m.dirty || m.changesScreen(msg)
	return m.update(msg)
}

// changesScreen tells whether msg can change what is on screen.
func (m *Model) changesScreen(msg tea.Msg) bool {
	if w, ok := msg.(WatchMsg); ok && w.Kind == watch.SerialAppended {
		return m.mode == modeDetail && m.tab == tabSerial && m.selectedID() == w.ID
	}
	return true
}

func (m *Model) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
		return m, nil
	case WatchMsg:
		m.applyWatch(watch.Event(msg))
		return m, nil
	case tickMsg:
		return m, tea.Batch(tick(), m.sampleCmd())
	case sampleMsg:
		m.applySamples(msg)
		return m, nil
	case actionMsg:
		if msg.err != nil {
			m.setStatus(msg.err.Error(), true)
		} else {
			m.setStatus(msg.what+": ok", false)
		}
		return m, nil
	case tea.KeyMsg:
		return m.handleKey(msg)
	}
	return m, nil
}

func (m *Model) setStatus(s string, isErr bool) {
	m.status, m.statusErr = s, isErr
}

func (m *Model) applyWatch(ev watch.Event) {
	switch ev.Kind {
	case watch.ContainerAdded:
		m.load(ev.ID)
	case watch.ContainerRemoved:
		delete(m.containers, ev.ID)
		if m.mode == modeDetail && m.selectedID() == "" {
			m.mode = modeList
		}
	case watch.StateChanged:
		d := state.Dir{Root: m.opts.Root, ID: ev.ID}
		if st, err := d.ReadState(); err == nil {
			m.get(ev.ID).State = st
		}
	case watch.JournalAppended:
		c := m.get(ev.ID)
		c.Events = append(c.Events, ev.Events...)
	case watch.SerialAppended:
		m.get(ev.ID).appendSerial(ev.Serial, ev.Reset)
	case watch.VMMChanged:
		d := state.Dir{Root: m.opts.Root, ID: ev.ID}
		if v, err := d.ReadVMM(); err == nil {
			m.get(ev.ID).VMM = v
		}
	}
	m.clampCursor()
}

// sampleCmd samples the live VMMs off the UI goroutine.
func (m *Model) sampleCmd() tea.Cmd {
	if m.opts.Sample == nil {
		return nil
	}
	var pids []int
	for _, c := range m.containers {
		if c.State != nil && state.Status(c.State.Status).Live() && c.State.Pid > 0 {
			pids = append(pids, c.State.Pid)
		}
	}
	sample := m.opts.Sample
	return func() tea.Msg { return sampleMsg(sample(pids)) }
}

func (m *Model) applySamples(s sampleMsg) {
	for _, c := range m.containers {
		if c.State == nil || !state.Status(c.State.Status).Live() {
			continue
		}
		v, ok := s[c.State.Pid]
		if !ok {
			// The VMM is gone without touching the state dir: re-derive.
			m.load(c.ID)
			continue
		}
		c.addSample(v[0], v[1])
	}
}

// visible returns the filtered, sorted container list.
func (m *Model) visible() []*container {
	var out []*container
	for _, c := range m.containers {
		if m.filter != "" && !strings.Contains(strings.ToLower(c.ID+" "+c.status()+" "+guestOf(c)+" "+hypervisorOf(c)), strings.ToLower(m.filter)) {
			continue
		}
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch sortNames[m.sortBy] {
		case "status":
			if a.status() != b.status() {
				return a.status() < b.status()
			}
		case "created":
			if ca, cb := createdOf(a), createdOf(b); !ca.Equal(cb) {
				return ca.Before(cb)
			}
		case "cpu":
			if x, y := last(a.CPU), last(b.CPU); x != y {
				return x > y
			}
		case "rss":
			if x, y := last(a.RSS), last(b.RSS); x != y {
				return x > y
			}
		}
		return a.ID < b.ID
	})
	return out
}

func (m *Model) selected() *container {
	v := m.visible()
	if m.cursor < 0 || m.cursor >= len(v) {
		return nil
	}
	return v[m.cursor]
}

func (m *Model) selectedID() string {
	if c := m.selected(); c != nil {
		return c.ID
	}
	return ""
}

func (m *Model) clampCursor() {
	n := len(m.visible())
	if m.cursor >= n {
		m.cursor = n - 1
	}
	if m.cursor < 0 {
		m.cursor = 0
	}
}

func (m *Model) handleKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if m.dialog != dialogNone {
		return m.handleDialogKey(msg)
	}
	if m.showHelp {
		m.showHelp = false
		return m, nil
	}
	k := m.keys
	if msg.String() != "g" {
		defer func() { m.pendingG = false }()
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m, tea.Quit
	case key.Matches(msg, k.Help):
		m.showHelp = true
	case key.Matches(msg, k.Create):
		return m.openCreate()
	case key.Matches(msg, k.Start):
		return m, m.action("start", m.selectedID())
	case key.Matches(msg, k.Kill):
		if m.selectedID() != "" {
			m.dialog = dialogKill
		}
	case key.Matches(msg, k.Delete):
		if m.selectedID() != "" {
			m.dialog = dialogDelete
		}
	case key.Matches(msg, k.Pause):
		if c := m.selected(); c != nil {
			if c.status() == "paused" {
				return m, m.action("resume", c.ID)
			}
			return m, m.action("pause", c.ID)
		}
	}
	if m.mode == modeDetail {
		return m.handleDetailKey(msg)
	}
	switch {
	case key.Matches(msg, k.Up):
		m.cursor--
		m.clampCursor()
	case key.Matches(msg, k.Down):
		m.cursor++
		m.clampCursor()
	case key.Matches(msg, k.Enter):
		if m.selected() != nil {
			m.mode, m.follow = modeDetail, true
		}
	case key.Matches(msg, k.Filter):
		m.openInput(dialogFilter, m.filter)
	case key.Matches(msg, k.Sort):
		m.sortBy = (m.sortBy + 1) % len(sortNames)
		m.setStatus("sorted by "+sortNames[m.sortBy], false)
	case key.Matches(msg, k.Back):
		m.filter = ""
	}
	return m, nil
}

func (m *Model) handleDetailKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.keys
	switch {
	case key.Matches(msg, k.Back):
		m.mode = modeList
	case key.Matches(msg, k.NextTab):
		m.tab = (m.tab + 1) % tabCount
	case key.Matches(msg, k.PrevTab):
		m.tab = (m.tab + tabCount - 1) % tabCount
	case msg.String() >= "1" && msg.String() <= "4" && len(msg.String()) == 1:
		m.tab = int(msg.String()[0] - '1')
	}
	if m.tab != tabSerial {
		return m, nil
	}
	lines := m.serialLen()
	page := m.bodyHeight()
	switch {
	case key.Matches(msg, k.Follow):
		m.follow = !m.follow
		if !m.follow {
			m.scroll = max(0, lines-page)
		}
	case key.Matches(msg, k.Bottom):
		m.follow = true
	case key.Matches(msg, k.Top):
		if m.pendingG {
			m.follow, m.scroll, m.pendingG = false, 0, false
		} else {
			m.pendingG = true
		}
	case key.Matches(msg, k.PageUp):
		m.scrollBy(-page, lines)
	case key.Matches(msg, k.PageDown):
		m.scrollBy(page, lines)
	case key.Matches(msg, k.Up):
		m.scrollBy(-1, lines)
	case key.Matches(msg, k.Down):
		m.scrollBy(1, lines)
	case key.Matches(msg, k.Search):
		m.openInput(dialogSearch, m.search)
	case key.Matches(msg, k.NextHit):
		m.jumpHit(1)
	case key.Matches(msg, k.PrevHit):
		m.jumpHit(-1)
	}
	return m, nil
}

func (m *Model) serialLen() int {
	if c := m.selected(); c != nil {
		return len(c.serialLines())
	}
	return 0
}

func (m *Model) scrollBy(n, lines int) {
	page := m.bodyHeight()
	if m.follow {
		m.follow, m.scroll = false, max(0, lines-page)
	}
	m.scroll = min(max(0, m.scroll+n), max(0, lines-page))
	if m.scroll >= lines-page && n > 0 {
		m.follow = true
	}
}

// jumpHit moves to the next (dir 1) or previous (-1) line matching search.
func (m *Model) jumpHit(dir int) {
	c := m.selected()
	if c == nil || m.search == "" {
		return
	}
	lines := c.serialLines()
	n := len(lines)
	if n == 0 {
		return
	}
	start := m.hit
	if m.follow {
		start = n - 1
	}
	for i := 1; i <= n; i++ {
		j := ((start+dir*i)%n + n) % n
		if strings.Contains(lines[j], m.search) {
			m.hit, m.follow = j, false
			m.scroll = max(0, min(j-m.bodyHeight()/2, n-m.bodyHeight()))
			return
		}
	}
	m.setStatus(fmt.Sprintf("no match for %q", m.search), true)
}

func (m *Model) openInput(d dialog, value string) {
	m.dialog = d
	m.input.SetValue(value)
	m.input.CursorEnd()
	m.input.Prompt = "/"
	if d == dialogCreateID {
		m.input.Prompt = "id: "
	}
	m.input.Focus()
}

func (m *Model) openCreate() (tea.Model, tea.Cmd) {
	if len(FindBundles(m.opts.Bundles)) == 0 {
		m.setStatus("no bundles: start urunc-dev with --bundles DIR", true)
		return m, nil
	}
	m.dialog, m.bundleI = dialogCreateBundle, 0
	return m, nil
}

func (m *Model) handleDialogKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	id := m.selectedID()
	switch m.dialog {
	case dialogKill:
		m.dialog = dialogNone
		sig := map[string]string{"t": "TERM", "k": "KILL", "i": "INT", "h": "HUP"}[msg.String()]
		if sig == "" {
			return m, nil
		}
		return m, m.action("kill", id, sig)
	case dialogDelete:
		m.dialog = dialogNone
		if msg.String() != "y" {
			m.setStatus("delete cancelled", false)
			return m, nil
		}
		if c := m.selected(); c != nil && state.Status(c.status()).Live() {
			return m, m.action("delete", "--force", id)
		}
		return m, m.action("delete", id)
	case dialogCreateBundle:
		bundles := FindBundles(m.opts.Bundles)
		switch msg.String() {
		case "up", "k":
			m.bundleI = max(0, m.bundleI-1)
		case "down", "j":
			m.bundleI = min(len(bundles)-1, m.bundleI+1)
		case "tab":
			m.startToo = !m.startToo
		case "enter":
			m.bundle = bundles[m.bundleI]
			m.created++
			m.openInput(dialogCreateID, fmt.Sprintf("%s-%d", filepath.Base(m.bundle), m.created))
		case "esc", "q":
			m.dialog = dialogNone
		}
		return m, nil
	}
	// Text input dialogs.
	switch msg.Type {
	case tea.KeyEsc:
		if m.dialog == dialogFilter {
			m.filter = ""
		}
		m.dialog = dialogNone
		return m, nil
	case tea.KeyEnter:
		v := strings.TrimSpace(m.input.Value())
		d := m.dialog
		m.dialog = dialogNone
		switch d {
		case dialogFilter:
			m.filter = v
			m.clampCursor()
		case dialogSearch:
			m.search = v
			m.jumpHit(-1)
		case dialogCreateID:
			return m, m.createCmd(m.bundle, v, m.startToo)
		}
		return m, nil
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	if m.dialog == dialogFilter {
		m.filter = m.input.Value() // filter as you type
		m.clampCursor()
	}
	return m, cmd
}

// action runs urunc asynchronously; its result arrives as actionMsg.
func (m *Model) action(args ...string) tea.Cmd {
	if len(args) < 2 || args[len(args)-1] == "" && args[0] != "kill" {
		return nil
	}
	for _, a := range args[1:] {
		if a == "" {
			return nil
		}
	}
	r := m.opts.Runner
	what := strings.Join(args, " ")
	m.setStatus(what+" ...", false)
	return func() tea.Msg {
		return actionMsg{what: what, err: r.Run(context.Background(), args...)}
	}
}

func (m *Model) createCmd(bundle, id string, start bool) tea.Cmd {
	if id == "" {
		m.setStatus("create: empty id", true)
		return nil
	}
	r := m.opts.Runner
	m.setStatus("create "+id+" ...", false)
	return func() tea.Msg {
		ctx := context.Background()
		if err := r.Create(ctx, bundle, id); err != nil {
			return actionMsg{what: "create " + id, err: err}
		}
		if start {
			return actionMsg{what: "create+start " + id, err: r.Run(ctx, "start", id)}
		}
		return actionMsg{what: "create " + id}
	}
}

func last(s []float64) float64 {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1]
}

func guestOf(c *container) string {
	if c.State != nil {
		return c.State.Guest
	}
	return ""
}

func hypervisorOf(c *container) string {
	if c.State != nil {
		return c.State.Hypervisor
	}
	return ""
}

func createdOf(c *container) time.Time {
	if c.State != nil {
		return c.State.Created
	}
	return time.Time{}
}

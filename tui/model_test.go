package tui

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/watch"
)

// updateGolden reports -update (the flag is defined by teatest's golden package).
func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func TestMain(m *testing.M) {
	lipgloss.SetColorProfile(termenv.Ascii) // golden files without colour codes
	time.Local = time.UTC                   // golden files independent of the machine's zone
	os.Exit(m.Run())
}

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// fixture writes a root with three containers and returns a model on it.
func fixture(t *testing.T) (*Model, string) {
	t.Helper()
	root := t.TempDir()
	self := os.Getpid()
	start, _ := state.StartTime(self)
	mk := func(id, status string, pid int, st uint64) state.Dir {
		d, err := state.Create(root, id)
		if err != nil {
			t.Fatal(err)
		}
		d.WriteState(&state.State{
			State:   specs.State{ID: id, Status: specs.ContainerState(status), Pid: pid, Bundle: "/bundles/" + id},
			Created: t0.Add(-90 * time.Second), PidStartTime: st, Guest: "unikraft", Hypervisor: "qemu",
		})
		return d
	}
	mk("alpha", "running", self, start)
	mk("beta", "created", self, start)
	mk("gamma", "stopped", 0, 0)
	bundles := t.TempDir()
	for _, b := range []string{"hello", "heartbeat"} {
		os.MkdirAll(filepath.Join(bundles, b), 0o755)
		os.WriteFile(filepath.Join(bundles, b, "config.json"), []byte("{}"), 0o644)
	}
	m := New(Options{
		Root: root, Bundles: []string{bundles},
		Runner: Runner{Bin: "/bin/true", Root: root, Dir: t.TempDir()},
		Now:    func() time.Time { return t0 },
		Sample: func(pids []int) map[int][2]float64 {
			out := map[int][2]float64{}
			for _, p := range pids {
				out[p] = [2]float64{12.5, 40}
			}
			return out
		},
	})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	return m, root
}

func keyMsg(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "shift+tab":
		return tea.KeyMsg{Type: tea.KeyShiftTab}
	case "pgup":
		return tea.KeyMsg{Type: tea.KeyPgUp}
	case "pgdown":
		return tea.KeyMsg{Type: tea.KeyPgDown}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

func press(m *Model, keys ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range keys {
		_, cmd = m.Update(keyMsg(k))
	}
	return cmd
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name  string
		keys  []string
		check func(t *testing.T, m *Model, cmd tea.Cmd)
	}{
		{"down moves", []string{"j"}, func(t *testing.T, m *Model, _ tea.Cmd) {
			if m.selectedID() != "beta" {
				t.Fatalf("selected %q", m.selectedID())
			}
		}},
		{"up stops at top", []string{"k", "k"}, func(t *testing.T, m *Model, _ tea.Cmd) {
			if m.selectedID() != "alpha" {
				t.Fatalf("selected %q", m.selectedID())
			}
		}},
		{"down stops at bottom", []string{"j", "j", "j", "j"}, func(t *testing.T, m *Model, _ tea.Cmd) {
			if m.selectedID() != "gamma" {
				t.Fatalf("selected %q", m.selectedID())
			}
		}},
		{"enter opens detail, esc returns", []string{"enter"}, func(t *testing.T, m *Model, _ tea.Cmd) {
			if m.mode != modeDetail {
				t.Fatal("not in detail")
			}
			press(m, "esc")
			if m.mode != modeList {
				t.Fatal("esc did not return")
			}
		}},
		{"tabs cycle", []string{"enter", "tab", "tab", "shift+tab"}, func(t *testing.T, m *Model, _ tea.Cmd) {
			if m.tab != tabSerial {
				t.Fatalf("tab %d", m.tab)
			}
			press(m, "4")
			if m.tab != tabConfig {
				t.Fatalf("tab %d", m.tab)
			}
		}},
		{"filter as you type", []string{"/", "g", "a", "m"}, func(t *testing.T, m *Model, _ tea.Cmd) {
			if v := m.visible(); len(v) != 1 || v[0].ID != "gamma" {
				t.Fatalf("visible %d", len(v))
			}
			press(m, "esc")
			if m.filter != "" || len(m.visible()) != 3 {
				t.Fatal("esc did not clear the filter")
			}
		}},
		{"filter on status", []string{"/", "r", "u", "n", "enter"}, func(t *testing.T, m *Model, _ tea.Cmd) {
			if v := m.visible(); len(v) != 1 || v[0].ID != "alpha" {
				t.Fatalf("visible %v", len(v))
			}
		}},
		{"sort cycles", []string{"s"}, func(t *testing.T, m *Model, _ tea.Cmd) {
			if sortNames[m.sortBy] != "status" || m.visible()[0].ID != "beta" {
				t.Fatalf("sort %s first %s", sortNames[m.sortBy], m.visible()[0].ID)
			}
		}},
		{"help opens and any key closes", []string{"?"}, func(t *testing.T, m *Model, _ tea.Cmd) {
			if !m.showHelp || !strings.Contains(m.View(), "Keys") {
				t.Fatal("no help")
			}
			press(m, "x")
			if m.showHelp {
				t.Fatal("help still open")
			}
		}},
		{"kill asks for a signal", []string{"K"}, func(t *testing.T, m *Model, _ tea.Cmd) {
			if m.dialog != dialogKill || !strings.Contains(m.View(), "[k]ILL") {
				t.Fatal("no kill dialog")
			}
			if cmd := press(m, "k"); cmd == nil || m.status != "kill alpha KILL ..." {
				t.Fatalf("status %q", m.status)
			}
		}},
		{"kill cancelled", []string{"K", "x"}, func(t *testing.T, m *Model, cmd tea.Cmd) {
			if cmd != nil || m.dialog != dialogNone {
				t.Fatal("kill ran")
			}
		}},
		{"delete needs confirmation", []string{"D", "n"}, func(t *testing.T, m *Model, cmd tea.Cmd) {
			if cmd != nil || m.status != "delete cancelled" {
				t.Fatalf("status %q", m.status)
			}
			if cmd := press(m, "D", "y"); cmd == nil || !strings.Contains(m.status, "delete --force alpha") {
				t.Fatalf("status %q", m.status)
			}
		}},
		{"delete of stopped is plain", []string{"j", "j", "D", "y"}, func(t *testing.T, m *Model, cmd tea.Cmd) {
			if cmd == nil || m.status != "delete gamma ..." {
				t.Fatalf("status %q", m.status)
			}
		}},
		{"start and pause", []string{"S"}, func(t *testing.T, m *Model, cmd tea.Cmd) {
			if cmd == nil || m.status != "start alpha ..." {
				t.Fatalf("status %q", m.status)
			}
			if cmd := press(m, "p"); cmd == nil || m.status != "pause alpha ..." {
				t.Fatalf("status %q", m.status)
			}
		}},
		{"create picks a bundle and an id", []string{"c", "j", "enter"}, func(t *testing.T, m *Model, _ tea.Cmd) {
			if m.dialog != dialogCreateID || m.input.Value() != "hello-1" {
				t.Fatalf("dialog %d value %q", m.dialog, m.input.Value())
			}
			if cmd := press(m, "enter"); cmd == nil || m.status != "create hello-1 ..." {
				t.Fatalf("status %q", m.status)
			}
		}},
		{"create toggles start", []string{"c", "tab"}, func(t *testing.T, m *Model, _ tea.Cmd) {
			if m.startToo || !strings.Contains(m.View(), "[off]") {
				t.Fatal("start toggle")
			}
		}},
		{"quit", []string{"q"}, func(t *testing.T, m *Model, cmd tea.Cmd) {
			if cmd == nil || cmd() != tea.Quit() {
				t.Fatal("q does not quit")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := fixture(t)
			cmd := press(m, tt.keys...)
			tt.check(t, m, cmd)
		})
	}
}

func TestCreateWithoutBundles(t *testing.T) {
	m, _ := fixture(t)
	m.opts.Bundles = nil
	press(m, "c")
	if m.dialog != dialogNone || !m.statusErr || !strings.Contains(m.status, "--bundles") {
		t.Fatalf("status %q", m.status)
	}
}

func TestWatchMessages(t *testing.T) {
	m, root := fixture(t)
	d := state.Dir{Root: root, ID: "alpha"}
	m.Update(WatchMsg{Kind: watch.JournalAppended, ID: "alpha", Events: []state.Event{
		{Time: t0.Add(-2 * time.Second), Step: state.StepCreate},
		{Time: t0.Add(-time.Second), Step: state.StepChildSpawned, Waiting: "BOOTED", TimeoutMS: 1000},
	}})
	if n := len(m.containers["alpha"].Events); n != 2 {
		t.Fatalf("%d events", n)
	}
	m.Update(WatchMsg{Kind: watch.SerialAppended, ID: "alpha", Serial: []byte("one\r\ntwo\nthr")})
	if got := m.containers["alpha"].serialLines(); strings.Join(got, "|") != "one|two|thr" {
		t.Fatalf("serial %q", got)
	}
	m.Update(WatchMsg{Kind: watch.SerialAppended, ID: "alpha", Serial: []byte("ee\n")})
	if got := m.containers["alpha"].serialLines(); strings.Join(got, "|") != "one|two|three" {
		t.Fatalf("serial %q", got)
	}
	// State change on disk.
	st, _ := d.ReadState()
	st.Status = "paused"
	d.WriteState(st)
	m.Update(WatchMsg{Kind: watch.StateChanged, ID: "alpha"})
	if m.containers["alpha"].status() != "paused" {
		t.Fatalf("status %s", m.containers["alpha"].status())
	}
	// New container appears, old one disappears.
	state.Create(root, "delta")
	m.Update(WatchMsg{Kind: watch.ContainerAdded, ID: "delta"})
	m.Update(WatchMsg{Kind: watch.ContainerRemoved, ID: "gamma"})
	if _, ok := m.containers["delta"]; !ok {
		t.Fatal("delta not added")
	}
	if _, ok := m.containers["gamma"]; ok {
		t.Fatal("gamma not removed")
	}
	// Action results reach the status bar.
	m.Update(actionMsg{what: "start x", err: nil})
	if m.status != "start x: ok" || m.statusErr {
		t.Fatalf("status %q", m.status)
	}
	m.Update(actionMsg{what: "start x", err: errString("start: container is not in the created state")})
	if !m.statusErr || !strings.Contains(m.View(), "not in the created state") {
		t.Fatal("error not shown")
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestSamplesAndVanishedVMM(t *testing.T) {
	m, root := fixture(t)
	m.Update(sampleMsg{os.Getpid(): {12.5, 40}})
	if c := m.containers["alpha"]; len(c.CPU) != 1 || c.CPU[0] != 12.5 || c.RSS[0] != 40 {
		t.Fatalf("samples %v %v", c.CPU, c.RSS)
	}
	// The VMM died without touching the state dir: the next sample lacks
	// its pid and the console re-derives the status.
	d := state.Dir{Root: root, ID: "alpha"}
	st, _ := d.ReadState()
	st.Pid = 999999999
	d.WriteState(st)
	m.Update(sampleMsg{})
	if s := m.containers["alpha"].status(); s != "stopped" {
		t.Fatalf("status %s", s)
	}
}

func TestSerialScrollFollowSearch(t *testing.T) {
	m, _ := fixture(t)
	var b strings.Builder
	for i := 0; i < 200; i++ {
		b.WriteString("line ")
		b.WriteString(strings.Repeat("x", i%3))
		if i == 50 {
			b.WriteString(" needle")
		}
		b.WriteString("\n")
	}
	m.Update(WatchMsg{Kind: watch.SerialAppended, ID: "alpha", Serial: []byte(b.String())})
	press(m, "enter", "2")
	if !m.follow {
		t.Fatal("not following by default")
	}
	press(m, "pgup")
	if m.follow || m.scroll >= 200-m.bodyHeight() {
		t.Fatalf("pgup: follow %v scroll %d", m.follow, m.scroll)
	}
	press(m, "g", "g")
	if m.scroll != 0 || m.follow {
		t.Fatalf("gg: scroll %d", m.scroll)
	}
	press(m, "G")
	if !m.follow {
		t.Fatal("G does not follow")
	}
	press(m, "f")
	if m.follow {
		t.Fatal("f does not toggle")
	}
	press(m, "/", "n", "e", "e", "d", "l", "e", "enter")
	if m.hit != 50 || !strings.Contains(m.View(), "needle") {
		t.Fatalf("search hit %d", m.hit)
	}
	press(m, "n")
	if m.hit != 50 {
		t.Fatalf("n: hit %d", m.hit)
	}
}

func TestHugeSerialIsBounded(t *testing.T) {
	c := &container{}
	chunk := []byte(strings.Repeat("0123456789\n", 1000))
	for i := 0; i < 100; i++ {
		c.appendSerial(chunk, false)
	}
	if n := len(c.serialLines()); n != maxSerialLines {
		t.Fatalf("%d lines kept", n)
	}
}

func TestWaitingHighlight(t *testing.T) {
	m, _ := fixture(t)
	m.Update(WatchMsg{Kind: watch.JournalAppended, ID: "beta", Events: []state.Event{
		{Time: t0.Add(-12 * time.Second), Step: state.StepChildSpawned, Waiting: "BOOTED", TimeoutMS: 10000},
	}})
	press(m, "j", "enter")
	v := m.View()
	if !strings.Contains(v, "waiting for BOOTED: 12.0s (gives up after 10s)") || !strings.Contains(v, "longer than expected") {
		t.Fatalf("view:\n%s", v)
	}
}

func TestGolden(t *testing.T) {
	views := []struct {
		name string
		keys []string
	}{
		{"list", nil},
		{"help", []string{"?"}},
		{"handshake", []string{"enter", "1"}},
		{"serial", []string{"enter", "2"}},
		{"resources", []string{"enter", "3"}},
		{"create", []string{"c"}},
	}
	for _, v := range views {
		t.Run(v.name, func(t *testing.T) {
			m, root := fixture(t)
			m.opts.Root = "/run/urunc" // stable header
			m.opts.Bundles = []string{filepath.Dir(FindBundles(m.opts.Bundles)[0])}
			_ = root
			m.Update(WatchMsg{Kind: watch.JournalAppended, ID: "alpha", Events: []state.Event{
				{Time: t0.Add(-3 * time.Second), Step: state.StepCreate, Detail: "bundle /bundles/alpha"},
				{Time: t0.Add(-2990 * time.Millisecond), Step: state.StepChildSpawned, Waiting: "BOOTED", TimeoutMS: 10000},
				{Time: t0.Add(-2980 * time.Millisecond), Step: state.StepBooted},
				{Time: t0.Add(-2 * time.Second), Step: state.StepRunning, Detail: "VMM pid 1"},
			}})
			m.Update(WatchMsg{Kind: watch.SerialAppended, ID: "alpha", Serial: []byte("Hello from the urunc test unikernel\ncmdline: heartbeat\nheartbeat 1\n")})
			m.Update(sampleMsg{os.Getpid(): {3, 38}})
			m.Update(sampleMsg{os.Getpid(): {6, 39}})
			press(m, v.keys...)
			got := m.View()
			// The list shows the pid of this test process: make it stable.
			got = strings.ReplaceAll(got, fmt.Sprintf("%7d", os.Getpid()), "    PID")
			got = strings.ReplaceAll(got, m.opts.Bundles[0], "/BUNDLES")
			golden := filepath.Join("testdata", v.name+".golden")
			if updateGolden() {
				os.MkdirAll("testdata", 0o755)
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./tui -update)", err)
			}
			if got != string(want) {
				t.Fatalf("view differs from %s:\n%s", golden, got)
			}
		})
	}
}

package tui

import (
	"context"
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

	"github.com/urunc-dev/urunc/runtime/cgroups"
	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/watch"
)

func TestMain(m *testing.M) {
	lipgloss.SetColorProfile(termenv.Ascii) // views and golden files without colour codes
	os.Exit(m.Run())
}

// t0 is the fixed "now" of every test.
var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// Journal writers of the fixture: create's parent, the re-exec child
// (later the VMM), start.
const (
	pidParent = 4100
	pidChild  = 4101
	pidStart  = 4200
)

type fix struct {
	root, bundles string
	calls         string // what the fake urunc was called with, one line per call
}

// fakeURunc writes a urunc that records its arguments and fails, with a
// runc-style JSON error line in --log, when the id is "bad".
func fakeURunc(t *testing.T, calls string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "urunc")
	script := `#!/bin/sh
echo "$*" >> ` + calls + `
log=""
while [ $# -gt 0 ]; do
  case "$1" in --log) log="$2"; shift;; esac
  case "$1" in bad) printf '{"time":"x","level":"info","msg":"starting"}\n{"time":"x","level":"error","msg":"container \\"bad\\" does not exist"}\n' >> "$log"; exit 1;; esac
  case "$1" in noisy) echo "flag provided but not defined: -x" >&2; exit 2;; esac
  shift
done
exit 0
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// fixture: alpha running (its whole handshake journaled), beta created
// (its child waiting for START), gamma stopped (failed), and two bundles.
func fixture(t *testing.T) (*Model, fix) {
	t.Helper()
	f := fix{root: t.TempDir(), bundles: t.TempDir(), calls: filepath.Join(t.TempDir(), "calls")}
	self := os.Getpid()
	start, _ := state.StartTime(self)
	mk := func(id, status string, pid int, st uint64, created time.Time) {
		d, err := state.Create(f.root, id)
		if err != nil {
			t.Fatal(err)
		}
		d.WriteState(&state.State{
			State: specs.State{ID: id, Status: specs.ContainerState(status), Pid: pid, Bundle: "/bundles/" + id,
				Annotations: map[string]string{"com.urunc.unikernel.unikernelType": "unikraft", "com.urunc.vmm.machine": "microvm"}},
			Created: created, PidStartTime: st, Guest: "unikraft", Hypervisor: "qemu", Owner: "root", Rootfs: "/bundles/" + id + "/rootfs",
		})
	}
	mk("alpha", "running", self, start, t0.Add(-90*time.Second))
	mk("beta", "created", self, start, t0.Add(-30*time.Second))
	mk("gamma", "stopped", 0, 0, t0.Add(-time.Hour))
	for _, b := range []string{"hello", "heartbeat"} {
		os.MkdirAll(filepath.Join(f.bundles, b), 0o755)
		os.WriteFile(filepath.Join(f.bundles, b, "config.json"), []byte(`{"annotations":{
			"com.urunc.unikernel.unikernelType":"unikraft","com.urunc.unikernel.hypervisor":"qemu",
			"com.urunc.unikernel.cmdline":"`+b+`"}}`), 0o644)
	}
	m := New(Options{
		Root: f.root, Bundles: []string{f.bundles},
		Runner:   Runner{Bin: fakeURunc(t, f.calls), Root: f.root, Dir: t.TempDir()},
		Now:      func() time.Time { return t0 },
		Location: time.UTC,
		Sample: func(pids []int) map[int][2]float64 {
			out := map[int][2]float64{}
			for _, p := range pids {
				out[p] = [2]float64{12.5, 40}
			}
			return out
		},
		CgroupMemory: func(st *state.State) (cgroups.MemoryUse, error) {
			return cgroups.MemoryUse{Usage: 40 << 20, MaxUsage: 50 << 20, Limit: 128 << 20, Failcnt: 2}, nil
		},
	})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	ev := func(ms int, step string, pid int, e state.Event) state.Event {
		e.Time, e.Step, e.PID = t0.Add(time.Duration(ms)*time.Millisecond), step, pid
		return e
	}
	m.Update(WatchMsg{Kind: watch.JournalAppended, ID: "alpha", Events: []state.Event{
		ev(-3000, state.StepCreate, pidParent, state.Event{Detail: "bundle /bundles/alpha, unikraft on qemu (config from annotations)"}),
		ev(-2990, state.StepChildSpawned, pidParent, state.Event{Waiting: "BOOTED", TimeoutMS: 10000}),
		ev(-2950, state.StepBooted, pidChild, state.Event{Waiting: "ACK", TimeoutMS: 10000}),
		ev(-2949, state.StepBootedReceived, pidParent, state.Event{}),
		ev(-2948, state.StepAckSent, pidParent, state.Event{}),
		ev(-2947, state.StepAcked, pidChild, state.Event{Waiting: "START"}),
		ev(-2946, state.StepCreated, pidParent, state.Event{}),
		ev(-2000, state.StepStart, pidStart, state.Event{Waiting: "child to exec the VMM", TimeoutMS: 60000}),
		ev(-1999, state.StepStartReceived, pidChild, state.Event{}),
		ev(-1990, state.StepNetwork, pidChild, state.Event{Detail: "none"}),
		ev(-1980, state.StepVMMExec, pidChild, state.Event{Detail: "qemu-system-x86_64"}),
		ev(-1975, state.StepRunning, pidStart, state.Event{}),
	}})
	m.Update(WatchMsg{Kind: watch.JournalAppended, ID: "beta", Events: []state.Event{
		ev(-30000, state.StepCreate, pidParent, state.Event{}),
		ev(-29990, state.StepChildSpawned, pidParent, state.Event{Waiting: "BOOTED", TimeoutMS: 10000}),
		ev(-29950, state.StepBooted, pidChild, state.Event{Waiting: "ACK", TimeoutMS: 10000}),
		ev(-29949, state.StepBootedReceived, pidParent, state.Event{}),
		ev(-29948, state.StepAckSent, pidParent, state.Event{}),
		ev(-29947, state.StepAcked, pidChild, state.Event{Waiting: "START"}),
		ev(-29946, state.StepCreated, pidParent, state.Event{}),
	}})
	m.Update(WatchMsg{Kind: watch.JournalAppended, ID: "gamma", Events: []state.Event{
		ev(-3600000, state.StepCreate, pidParent, state.Event{}),
		ev(-3599000, state.StepFailed, pidParent, state.Event{Detail: "create", Error: "waiting for BOOTED from the init child: timed out after 10s"}),
	}})
	m.Update(WatchMsg{Kind: watch.SerialAppended, ID: "alpha", Serial: []byte("Hello from the urunc test unikernel\r\ncmdline: heartbeat\nheartbeat 1\nheartbeat 2\n")})
	m.Update(WatchMsg{Kind: watch.VMMChanged, ID: "alpha"}) // no vmm.json read: nothing changes
	return m, f
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
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "home":
		return tea.KeyMsg{Type: tea.KeyHome}
	case "end":
		return tea.KeyMsg{Type: tea.KeyEnd}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

// press sends keys and returns the last command.
func press(m *Model, keys ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range keys {
		_, cmd = m.Update(keyMsg(k))
	}
	return cmd
}

// typeText sends each rune as a key.
func typeText(m *Model, s string) {
	for _, r := range s {
		m.Update(keyMsg(string(r)))
	}
}

// load runs a command that reads the disk (a scan, the id choice, a state
// read again, a sample) and applies its message, as the program would;
// it returns the command that Update returned in turn.
func load(t *testing.T, m *Model, cmd tea.Cmd) tea.Cmd {
	t.Helper()
	if cmd == nil {
		t.Fatal("no command")
	}
	msg := cmd()
	if b, ok := msg.(tea.BatchMsg); ok { // one command per container
		var next []tea.Cmd
		for _, c := range b {
			next = append(next, load(t, m, c))
		}
		return tea.Batch(next...)
	}
	_, next := m.Update(msg)
	return next
}

// sampled is a sample of one pid.
func sampled(pid int, cpu, rss float64) sampleMsg {
	return sampleMsg{usage: map[int][2]float64{pid: {cpu, rss}}}
}

// runAction runs an action command and applies its outcome.
func runAction(t *testing.T, m *Model, cmd tea.Cmd) {
	t.Helper()
	if cmd == nil {
		t.Fatal("no command")
	}
	msg := cmd()
	if _, ok := msg.(actionMsg); !ok {
		t.Fatalf("command returned %T", msg)
	}
	m.Update(msg)
}

func (f fix) lastCall(t *testing.T) string {
	t.Helper()
	data, _ := os.ReadFile(f.calls)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return lines[len(lines)-1]
}

func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

func (m *Model) selectedID() string {
	if c := m.list.selectedContainer(m.containers); c != nil {
		return c.ID
	}
	return ""
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name  string
		keys  []string
		check func(t *testing.T, m *Model, f fix, cmd tea.Cmd)
	}{
		{"j moves down", []string{"j"}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			want(t, m.selectedID(), "beta")
		}},
		{"down arrow moves down", []string{"down", "down"}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			want(t, m.selectedID(), "gamma")
		}},
		{"k and up stop at the top", []string{"j", "k", "up", "k"}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			want(t, m.selectedID(), "alpha")
		}},
		{"j stops at the bottom", []string{"j", "j", "j", "j"}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			want(t, m.selectedID(), "gamma")
		}},
		{"end and home", []string{"end"}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			want(t, m.selectedID(), "gamma")
			press(m, "home")
			want(t, m.selectedID(), "alpha")
		}},
		{"pgdown and pgup", []string{"pgdown"}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			want(t, m.selectedID(), "gamma")
			press(m, "pgup")
			want(t, m.selectedID(), "alpha")
		}},
		{"enter opens the detail, esc returns to the same row", []string{"j", "enter"}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			if m.screen != screenDetail || m.detail.id != "beta" || m.detail.tab != tabHandshake {
				t.Fatalf("screen %d id %s tab %d", m.screen, m.detail.id, m.detail.tab)
			}
			press(m, "esc")
			if m.screen != screenList || m.selectedID() != "beta" {
				t.Fatal("esc did not return to beta")
			}
		}},
		{"a digit on the list opens that tab", []string{"3"}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			if m.screen != screenDetail || m.detail.tab != tabResources {
				t.Fatalf("screen %d tab %d", m.screen, m.detail.tab)
			}
		}},
		{"tab, shift+tab and digits switch tabs", []string{"enter", "tab", "tab", "shift+tab"}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			want(t, tabName(m.detail.tab), "Serial")
			press(m, "shift+tab", "shift+tab")
			want(t, tabName(m.detail.tab), "Config")
			press(m, "tab")
			want(t, tabName(m.detail.tab), "Handshake")
			for i, name := range []string{"Handshake", "Serial", "Resources", "Config"} {
				press(m, fmt.Sprint(i+1))
				want(t, tabName(m.detail.tab), name)
			}
		}},
		{"filter as you type, esc clears", []string{"/", "g", "a", "m"}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			want(t, ids(m.list.rows(m.containers)), "gamma")
			want(t, m.selectedID(), "gamma")
			press(m, "esc")
			want(t, ids(m.list.rows(m.containers)), "alpha beta gamma")
		}},
		{"filter on status, kept after enter, esc on the list clears", []string{"/", "r", "u", "n", "enter"}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			want(t, ids(m.list.rows(m.containers)), "alpha")
			if m.dialog.kind != dialogNone || m.list.filter != "run" {
				t.Fatal("filter not kept")
			}
			press(m, "esc")
			want(t, ids(m.list.rows(m.containers)), "alpha beta gamma")
		}},
		{"filter matching nothing says so", []string{"/", "z", "z", "enter"}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			if !strings.Contains(m.View(), `no container matches "zz"`) {
				t.Fatal(m.View())
			}
		}},
		{"s cycles the sort columns", nil, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			m.Update(sampled(os.Getpid(), 5, 30))
			m.containers["beta"].CPU, m.containers["beta"].RSS = []float64{50}, []float64{10}
			wantOrder := []string{
				colStatus:     "alpha beta gamma", // created, running... by rank: beta(created) first
				colType:       "alpha beta gamma",
				colHypervisor: "alpha beta gamma",
				colPID:        "gamma alpha beta",
				colUptime:     "alpha beta gamma",
				colCPU:        "beta alpha gamma",
				colRSS:        "alpha beta gamma",
				colID:         "alpha beta gamma",
			}
			wantOrder[colStatus] = "beta alpha gamma"
			for i := 1; i <= int(numColumns); i++ {
				press(m, "s")
				col := column(i % int(numColumns))
				if m.list.sortBy != col {
					t.Fatalf("after %d presses: %s", i, m.list.sortBy)
				}
				if got := ids(m.list.rows(m.containers)); got != wantOrder[col] {
					t.Fatalf("sorted by %s: %s, want %s", col, got, wantOrder[col])
				}
				if !strings.Contains(m.View(), col.String()+"↓") {
					t.Fatalf("header does not mark %s", col)
				}
			}
		}},
		{"S starts the selected container", []string{"j", "S"}, func(t *testing.T, m *Model, f fix, cmd tea.Cmd) {
			want(t, m.status.text, "urunc start beta ...")
			runAction(t, m, cmd)
			want(t, f.lastCall(t), "--root "+f.root+" --log "+filepath.Join(m.opts.Runner.Dir, "log.json")+" --log-format json start beta")
			want(t, m.status.text, "urunc start beta: ok")
		}},
		{"S in the detail view acts on its container", []string{"j", "enter", "S"}, func(t *testing.T, m *Model, f fix, cmd tea.Cmd) {
			runAction(t, m, cmd)
			want(t, lastWord(f.lastCall(t), 2), "start beta")
		}},
		{"K asks for a signal", []string{"K"}, func(t *testing.T, m *Model, f fix, cmd tea.Cmd) {
			if cmd != nil || m.dialog.kind != dialogKill || !strings.Contains(m.View(), "[k] KILL") {
				t.Fatal("no kill dialog")
			}
			press(m, "esc")
			for _, c := range []struct{ key, sig string }{{"t", "TERM"}, {"k", "KILL"}, {"i", "INT"}, {"h", "HUP"}} {
				runAction(t, m, press(m, "K", c.key))
				want(t, lastWord(f.lastCall(t), 3), "kill alpha "+c.sig)
			}
		}},
		{"K then another key cancels", []string{"K", "x"}, func(t *testing.T, m *Model, _ fix, cmd tea.Cmd) {
			if cmd != nil || m.dialog.kind != dialogNone || m.status.text != "kill cancelled" {
				t.Fatalf("kill ran or dialog open: %q", m.status.text)
			}
		}},
		{"D asks, n cancels", []string{"D", "n"}, func(t *testing.T, m *Model, _ fix, cmd tea.Cmd) {
			if cmd != nil || m.status.text != "delete cancelled" {
				t.Fatalf("status %q", m.status.text)
			}
		}},
		{"D y on a live container forces", []string{"D"}, func(t *testing.T, m *Model, f fix, _ tea.Cmd) {
			if !strings.Contains(m.View(), "delete alpha? it is running: the VMM will be killed (--force) (y/N)") {
				t.Fatal(m.View())
			}
			runAction(t, m, press(m, "y"))
			want(t, lastWord(f.lastCall(t), 3), "delete --force alpha")
		}},
		{"D y on a stopped container is plain", []string{"j", "j", "D", "y"}, func(t *testing.T, m *Model, f fix, cmd tea.Cmd) {
			runAction(t, m, cmd)
			want(t, lastWord(f.lastCall(t), 2), "delete gamma")
		}},
		{"p pauses a running container and resumes a paused one", []string{"p"}, func(t *testing.T, m *Model, f fix, cmd tea.Cmd) {
			runAction(t, m, cmd)
			want(t, lastWord(f.lastCall(t), 2), "pause alpha")
			m.containers["alpha"].State.Status = "paused"
			runAction(t, m, press(m, "p"))
			want(t, lastWord(f.lastCall(t), 2), "resume alpha")
		}},
		{"c: pick a bundle, accept the id, create and start", []string{"c"}, func(t *testing.T, m *Model, f fix, cmd tea.Cmd) {
			v := m.View()
			if m.dialog.kind != dialogCreateBundle || !strings.Contains(v, "scanning…") || strings.Contains(v, "heartbeat") {
				t.Fatalf("the picker before the scan's result:\n%s", v)
			}
			if press(m, "enter"); m.dialog.kind != dialogCreateBundle {
				t.Fatal("enter before the scan's result left the picker")
			}
			load(t, m, cmd)
			v = m.View()
			if m.dialog.kind != dialogCreateBundle || !strings.Contains(v, "Create a container from a bundle") || !strings.Contains(v, "[x] start after create") ||
				strings.Contains(v, "scanning") || !strings.Contains(v, "heartbeat") {
				t.Fatal(v)
			}
			load(t, m, press(m, "j", "k", "j", "enter")) // heartbeat, hello: sorted by path
			if m.dialog.kind != dialogCreateID || m.dialog.input.Value() != "hello-1" {
				t.Fatalf("dialog %d id %q", m.dialog.kind, m.dialog.input.Value())
			}
			runAction(t, m, press(m, "enter"))
			data, _ := os.ReadFile(f.calls)
			calls := strings.Split(strings.TrimSpace(string(data)), "\n")
			want(t, lastWord(calls[len(calls)-2], 4), "create --bundle "+filepath.Join(f.bundles, "hello")+" hello-1")
			want(t, lastWord(calls[len(calls)-1], 2), "start hello-1")
			want(t, m.status.text, "urunc create + start hello-1: ok")
			// The next default id counts on, past a directory under the
			// root the console does not know (yet).
			os.Mkdir(filepath.Join(f.root, "hello-2"), 0o700)
			load(t, m, press(m, "c"))
			load(t, m, press(m, "enter")) // the picker stays on hello
			want(t, m.dialog.input.Value(), "hello-3")
		}},
		{"c: tab turns start off, the id can be edited", []string{"c"}, func(t *testing.T, m *Model, f fix, cmd tea.Cmd) {
			load(t, m, cmd)
			load(t, m, press(m, "tab", "enter"))
			press(m, "backspace")
			typeText(m, "x")
			want(t, m.dialog.input.Value(), "heartbeat-x")
			runAction(t, m, press(m, "enter"))
			want(t, lastWord(f.lastCall(t), 4), "create --bundle "+filepath.Join(f.bundles, "heartbeat")+" heartbeat-x")
		}},
		{"c: esc cancels the picker and the id", []string{"c"}, func(t *testing.T, m *Model, _ fix, cmd tea.Cmd) {
			// esc while scanning: the scan's late result opens nothing.
			press(m, "esc")
			want(t, fmt.Sprint(m.dialog.kind), fmt.Sprint(dialogNone))
			load(t, m, cmd)
			want(t, fmt.Sprint(m.dialog.kind), fmt.Sprint(dialogNone))
			load(t, m, press(m, "c"))
			load(t, m, press(m, "enter"))
			press(m, "esc")
			want(t, fmt.Sprint(m.dialog.kind), fmt.Sprint(dialogNone))
			// esc while the id is chosen: its late result asks nothing.
			load(t, m, press(m, "c"))
			cmd = press(m, "enter")
			press(m, "esc")
			load(t, m, cmd)
			want(t, fmt.Sprint(m.dialog.kind), fmt.Sprint(dialogNone))
		}},
		{"c: a bundle directory without bundles says so", nil, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			m.opts.Bundles = []string{t.TempDir()}
			load(t, m, press(m, "c"))
			if m.dialog.kind != dialogNone || !m.status.isErr || !strings.Contains(m.status.text, "--bundles") {
				t.Fatalf("dialog %d status %q", m.dialog.kind, m.status.text)
			}
		}},
		{"c: an empty id is refused", []string{"c"}, func(t *testing.T, m *Model, _ fix, cmd tea.Cmd) {
			load(t, m, cmd)
			load(t, m, press(m, "enter"))
			for range "heartbeat-1" {
				press(m, "backspace")
			}
			if cmd := press(m, "enter"); cmd != nil || !m.status.isErr {
				t.Fatal("empty id accepted")
			}
		}},
		{"urunc's JSON error becomes the status line", []string{"c"}, func(t *testing.T, m *Model, _ fix, cmd tea.Cmd) {
			load(t, m, cmd)
			load(t, m, press(m, "enter"))
			for range "heartbeat-1" {
				press(m, "backspace")
			}
			typeText(m, "bad")
			runAction(t, m, press(m, "enter"))
			if !m.status.isErr || m.status.text != `urunc create: container "bad" does not exist` {
				t.Fatalf("status %q", m.status.text)
			}
			if !strings.Contains(m.View(), `urunc create: container "bad" does not exist`) {
				t.Fatal("error not on screen")
			}
		}},
		{"without a log line, urunc's stderr", []string{"c"}, func(t *testing.T, m *Model, _ fix, cmd tea.Cmd) {
			load(t, m, cmd)
			load(t, m, press(m, "enter"))
			for range "heartbeat-1" {
				press(m, "backspace")
			}
			typeText(m, "noisy")
			runAction(t, m, press(m, "enter"))
			want(t, m.status.text, "urunc create: flag provided but not defined: -x")
		}},
		{"? shows the help, any key closes it", []string{"?"}, func(t *testing.T, m *Model, _ fix, cmd tea.Cmd) {
			if !m.showHelp || !strings.Contains(m.View(), "urunc-dev keys") || !strings.Contains(m.View(), "100% = one core") {
				t.Fatal("no help")
			}
			if cmd := press(m, "x"); m.showHelp || cmd != nil {
				t.Fatal("help still open")
			}
		}},
		{"q in the help quits", []string{"?", "q"}, func(t *testing.T, _ *Model, _ fix, cmd tea.Cmd) {
			if !isQuit(cmd) {
				t.Fatal("q does not quit")
			}
		}},
		{"q quits", []string{"q"}, func(t *testing.T, _ *Model, _ fix, cmd tea.Cmd) {
			if !isQuit(cmd) {
				t.Fatal("q does not quit")
			}
		}},
		{"ctrl+c quits, even in a dialog", []string{"/", "ctrl+c"}, func(t *testing.T, _ *Model, _ fix, cmd tea.Cmd) {
			if !isQuit(cmd) {
				t.Fatal("ctrl+c does not quit")
			}
		}},
		{"q while typing is text", []string{"/", "q"}, func(t *testing.T, m *Model, _ fix, cmd tea.Cmd) {
			if isQuit(cmd) || m.list.filter != "q" {
				t.Fatal("q quit from the filter")
			}
		}},
		{"config scrolls", []string{"4", "j", "j"}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			m.Update(tea.WindowSizeMsg{Width: 120, Height: 12})
			m.View()
			if m.detail.configTop != 2 {
				t.Fatalf("config top %d", m.detail.configTop)
			}
			press(m, "k", "g")
			want(t, fmt.Sprint(m.detail.configTop), "0")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, f := fixture(t)
			cmd := press(m, tt.keys...)
			tt.check(t, m, f, cmd)
		})
	}
}

func want(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func ids(cs []*container) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.ID)
	}
	return strings.Join(s, " ")
}

// lastWord returns the last n words of s.
func lastWord(s string, n int) string {
	f := strings.Fields(s)
	return strings.Join(f[max(0, len(f)-n):], " ")
}

func TestActionWithoutContainer(t *testing.T) {
	m := New(Options{Root: t.TempDir(), Now: func() time.Time { return t0 }})
	for _, k := range []string{"S", "K", "D", "p"} {
		if cmd := press(m, k); cmd != nil || !m.status.isErr || !strings.Contains(m.status.text, "no container selected") {
			t.Fatalf("%s: %q", k, m.status.text)
		}
	}
	press(m, "c")
	if m.dialog.kind != dialogNone || !strings.Contains(m.status.text, "--bundles") {
		t.Fatalf("create without bundles: %q", m.status.text)
	}
	if !strings.Contains(m.View(), "no containers under") {
		t.Fatal(m.View())
	}
}

func TestMessages(t *testing.T) {
	tests := []struct {
		name  string
		run   func(t *testing.T, m *Model, f fix) tea.Cmd
		check func(t *testing.T, m *Model, f fix, cmd tea.Cmd)
	}{
		{"resize", func(t *testing.T, m *Model, _ fix) tea.Cmd {
			_, cmd := m.Update(tea.WindowSizeMsg{Width: 60, Height: 15})
			return cmd
		}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			lines := strings.Split(m.View(), "\n")
			if len(lines) != 15 {
				t.Fatalf("%d lines", len(lines))
			}
			for _, l := range lines {
				if lipgloss.Width(l) > 60 {
					t.Fatalf("line wider than 60: %q", l)
				}
			}
		}},
		{"container added", func(t *testing.T, m *Model, f fix) tea.Cmd {
			_, cmd := m.Update(WatchMsg{Kind: watch.ContainerAdded, ID: "delta",
				State: &state.State{State: specs.State{ID: "delta", Status: "stopped"}}, VMM: &state.VMMInfo{Hypervisor: "firecracker"}})
			return cmd
		}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			want(t, ids(m.list.rows(m.containers)), "alpha beta delta gamma")
			want(t, string(m.containers["delta"].status()), "stopped")
			want(t, m.containers["delta"].hypervisor(), "firecracker")
		}},
		{"container added before its state.json", func(t *testing.T, m *Model, f fix) tea.Cmd {
			_, cmd := m.Update(WatchMsg{Kind: watch.ContainerAdded, ID: "delta"})
			return cmd
		}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			want(t, ids(m.list.rows(m.containers)), "alpha beta delta gamma")
			want(t, strings.Fields(rowOf(m.View(), "delta"))[1], "?") // status unknown, not an error
		}},
		{"container removed while shown", func(t *testing.T, m *Model, _ fix) tea.Cmd {
			press(m, "j", "j", "enter")
			_, cmd := m.Update(WatchMsg{Kind: watch.ContainerRemoved, ID: "gamma"})
			return cmd
		}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			want(t, ids(m.list.rows(m.containers)), "alpha beta")
			if m.screen != screenList || m.status.text != "gamma was deleted" {
				t.Fatal("still showing gamma")
			}
			want(t, m.selectedID(), "alpha")
		}},
		{"state changed", func(t *testing.T, m *Model, f fix) tea.Cmd {
			st := *m.containers["alpha"].State
			st.Status = "paused"
			_, cmd := m.Update(WatchMsg{Kind: watch.StateChanged, ID: "alpha", State: &st})
			return cmd
		}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			want(t, string(m.containers["alpha"].status()), "paused")
			// An event without a state (state.json unreadable) keeps it.
			m.Update(WatchMsg{Kind: watch.StateChanged, ID: "alpha"})
			want(t, string(m.containers["alpha"].status()), "paused")
		}},
		{"vmm changed", func(t *testing.T, m *Model, f fix) tea.Cmd {
			_, cmd := m.Update(WatchMsg{Kind: watch.VMMChanged, ID: "alpha", VMM: &state.VMMInfo{Hypervisor: "qemu", Binary: "/usr/bin/qemu-system-x86_64",
				Argv: []string{"qemu-system-x86_64", "-M", "microvm", "-append", "heartbeat x"}, Accel: "kvm", AccelReason: "/dev/kvm usable"}})
			return cmd
		}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			press(m, "4")
			v := m.View()
			for _, s := range []string{"kvm (/dev/kvm usable)", "-M microvm", "-append 'heartbeat x'"} {
				if !strings.Contains(v, s) {
					t.Fatalf("config lacks %q:\n%s", s, v)
				}
			}
		}},
		{"journal appended", func(t *testing.T, m *Model, _ fix) tea.Cmd {
			_, cmd := m.Update(WatchMsg{Kind: watch.JournalAppended, ID: "alpha", Events: []state.Event{{Time: t0, Step: state.StepKill, Detail: "TERM", PID: 7}}})
			return cmd
		}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			c := m.containers["alpha"]
			want(t, c.Events[len(c.Events)-1].Step, "kill")
			if !strings.Contains(m.View(), "kill") {
				t.Fatal("last step not in the list")
			}
		}},
		{"journal says stopped: the state re-derived by the watcher", func(t *testing.T, m *Model, f fix) tea.Cmd {
			st := *m.containers["alpha"].State
			st.Status = "stopped" // what ReadState derives once the pid is gone
			_, cmd := m.Update(WatchMsg{Kind: watch.JournalAppended, ID: "alpha", Events: []state.Event{{Time: t0, Step: state.StepStopped}}, State: &st})
			return cmd
		}, func(t *testing.T, m *Model, _ fix, cmd tea.Cmd) {
			want(t, string(m.containers["alpha"].status()), "stopped")
			if cmd != nil {
				t.Fatal("a command to read what the event carries")
			}
		}},
		{"serial appended, torn line, reset", func(t *testing.T, m *Model, _ fix) tea.Cmd {
			m.Update(WatchMsg{Kind: watch.SerialAppended, ID: "beta", Serial: []byte("one\r\n\x1b[31mtwo\x1b[0m\nthr")})
			_, cmd := m.Update(WatchMsg{Kind: watch.SerialAppended, ID: "beta", Serial: []byte("ee\n")})
			return cmd
		}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			want(t, serialText(m.containers["beta"]), "one|two|three")
			m.Update(WatchMsg{Kind: watch.SerialAppended, ID: "beta", Serial: []byte("new\n"), Reset: true})
			want(t, serialText(m.containers["beta"]), "new")
		}},
		{"serial of a hidden container does not redraw", func(t *testing.T, m *Model, _ fix) tea.Cmd {
			m.View()
			_, cmd := m.Update(WatchMsg{Kind: watch.SerialAppended, ID: "alpha", Serial: []byte("x\n")})
			return cmd
		}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			if m.dirty {
				t.Fatal("list marked dirty by serial output")
			}
			press(m, "2")
			m.View()
			m.Update(WatchMsg{Kind: watch.SerialAppended, ID: "alpha", Serial: []byte("y\n")})
			if !m.dirty {
				t.Fatal("serial tab not redrawn")
			}
		}},
		{"sample tick samples live VMMs and re-arms", func(t *testing.T, m *Model, _ fix) tea.Cmd {
			_, cmd := m.Update(sampleTickMsg(t0))
			return cmd
		}, func(t *testing.T, m *Model, _ fix, cmd tea.Cmd) {
			if cmd == nil {
				t.Fatal("no command")
			}
			// The batch holds the next tick and the sample; run the sample only.
			for _, c := range cmd().(tea.BatchMsg) {
				if c == nil {
					continue
				}
				done := make(chan tea.Msg, 1)
				go func() { done <- c() }()
				select {
				case msg := <-done:
					if s, ok := msg.(sampleMsg); ok {
						m.Update(s)
					}
				case <-time.After(100 * time.Millisecond): // the tick
				}
			}
			if c := m.containers["alpha"]; len(c.CPU) != 1 || c.CPU[0] != 12.5 {
				t.Fatalf("samples %v", c.CPU)
			}
			// beta is created: its pid is urunc's child, not a VMM.
			if c := m.containers["beta"]; c.status() != state.Created || len(c.CPU) != 0 {
				t.Fatalf("beta (%s) sampled: %v", c.status(), c.CPU)
			}
		}},
		{"samples fill the list and the graphs", func(t *testing.T, m *Model, _ fix) tea.Cmd {
			for i := 0; i < 10; i++ {
				m.Update(sampled(os.Getpid(), float64(i*10), 30+float64(i)))
			}
			return nil
		}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			if !strings.Contains(rowOf(m.View(), "alpha"), "90.0") {
				t.Fatal(m.View())
			}
			press(m, "3")
			v := m.View()
			for _, s := range []string{"CPU (100% = one core)", "now 90.0%", "▁▁▂▃▃▄▅▅▆▇", "RSS (MiB)", "now 39.0"} {
				if !strings.Contains(v, s) {
					t.Fatalf("resources lack %q:\n%s", s, v)
				}
			}
			// The cgroup line appears with the next sample on this tab: the
			// sampling command reads it.
			if strings.Contains(v, "cgroup memory") {
				t.Fatalf("cgroup read before a sample on the Resources tab:\n%s", v)
			}
			load(t, m, m.sampleCmd())
			v = m.View()
			for _, s := range []string{"cgroup memory (VMM + guest)", "40.0 MiB, peak 50.0 MiB of 128 MiB limit (31%)", "limit hit 2 times"} {
				if !strings.Contains(v, s) {
					t.Fatalf("resources lack %q:\n%s", s, v)
				}
			}
		}},
		{"a VMM gone without a word is noticed by the sample", func(t *testing.T, m *Model, f fix) tea.Cmd {
			d := state.Dir{Root: f.root, ID: "alpha"}
			st, _ := d.ReadState()
			st.Pid = 1 << 30
			d.WriteState(st)
			_, cmd := m.Update(sampleMsg{})
			return cmd
		}, func(t *testing.T, m *Model, _ fix, cmd tea.Cmd) {
			// Update read nothing: the state is read again by the command.
			want(t, string(m.containers["alpha"].status()), "running")
			load(t, m, cmd)
			want(t, string(m.containers["alpha"].status()), "stopped")
		}},
		{"clock runs only while a wait is on screen", func(t *testing.T, m *Model, _ fix) tea.Cmd {
			_, cmd := m.Update(clockMsg(t0))
			return cmd
		}, func(t *testing.T, m *Model, _ fix, cmd tea.Cmd) {
			if cmd != nil || m.clockArmed {
				t.Fatal("clock armed on the list")
			}
			cmd = press(m, "j", "enter") // beta waits for START
			if cmd == nil || !m.clockArmed {
				t.Fatal("clock not armed on a wait")
			}
			_, cmd = m.Update(clockMsg(t0))
			if cmd == nil {
				t.Fatal("clock not re-armed")
			}
			press(m, "esc")
			m.Update(clockMsg(t0))
			if m.clockArmed {
				t.Fatal("clock still armed after leaving")
			}
		}},
		{"action outcome", func(t *testing.T, m *Model, _ fix) tea.Cmd {
			_, cmd := m.Update(actionMsg{what: "urunc start x"})
			return cmd
		}, func(t *testing.T, m *Model, _ fix, _ tea.Cmd) {
			if m.status.text != "urunc start x: ok" || m.status.isErr {
				t.Fatalf("%+v", m.status)
			}
			m.Update(actionMsg{what: "urunc start x", err: fmt.Errorf("urunc start: container x is stopped,\n  not created")})
			if !m.status.isErr || !strings.Contains(m.View(), "urunc start: container x is stopped, not created") {
				t.Fatal("error not on one line")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, f := fixture(t)
			cmd := tt.run(t, m, f)
			tt.check(t, m, f, cmd)
		})
	}
}

func serialText(c *container) string {
	var s []string
	for i := c.serial.first(); i < c.serial.end(); i++ {
		s = append(s, c.serial.line(i))
	}
	return strings.Join(s, "|")
}

func rowOf(screen, id string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, "> "), id+" ") {
			return l
		}
	}
	return ""
}

func TestSerialKeys(t *testing.T) {
	m, _ := fixture(t)
	var b strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "line %03d", i)
		if i == 50 || i == 150 {
			b.WriteString(" Needle")
		}
		b.WriteString("\n")
	}
	m.Update(WatchMsg{Kind: watch.SerialAppended, ID: "alpha", Serial: []byte(b.String()), Reset: true})
	press(m, "2")
	p := &m.detail.serial
	c := m.containers["alpha"]
	page := m.context().serialPage()
	b0 := c.serial.first() // the fixture's 4 lines, numbered before the reset
	if b0 != 4 || !p.follow || p.visibleTop(c, page) != b0+200-page {
		t.Fatal("not following by default")
	}
	steps := []struct {
		keys   []string
		follow bool
		top    int
	}{
		{[]string{"pgup"}, false, b0 + 200 - 2*page},
		{[]string{"up"}, false, b0 + 200 - 2*page - 1},
		{[]string{"down"}, false, b0 + 200 - 2*page},
		{[]string{"pgdown"}, true, b0 + 200 - page}, // back at the tail: follows again
		{[]string{"g", "g"}, false, b0},
		{[]string{"k"}, false, b0},
		{[]string{"G"}, true, b0 + 200 - page},
		{[]string{"f"}, false, b0 + 200 - page},
		{[]string{"f"}, true, b0 + 200 - page},
		{[]string{"home"}, false, b0},
		{[]string{"end"}, true, b0 + 200 - page},
	}
	for _, s := range steps {
		press(m, s.keys...)
		if p.follow != s.follow || p.visibleTop(c, page) != s.top {
			t.Fatalf("%v: follow %v top %d, want %v %d", s.keys, p.follow, p.visibleTop(c, page), s.follow, s.top)
		}
	}
	// New output while scrolled keeps the view on its text.
	press(m, "g", "g")
	m.Update(WatchMsg{Kind: watch.SerialAppended, ID: "alpha", Serial: []byte("more\n")})
	if p.visibleTop(c, page) != b0 || p.follow {
		t.Fatal("scrolled view moved")
	}
	// Search: smart case, newest match first, n newer, N older, wrapping.
	press(m, "/")
	typeText(m, "needle")
	press(m, "enter")
	if p.hit != b0+150 || !strings.Contains(m.View(), "line 150 Needle") {
		t.Fatalf("search: hit %d", p.hit)
	}
	press(m, "N")
	want(t, fmt.Sprint(p.hit-b0), "50")
	press(m, "N")
	want(t, fmt.Sprint(p.hit-b0), "150")
	press(m, "n")
	want(t, fmt.Sprint(p.hit-b0), "50")
	press(m, "/")
	for range "needle" {
		press(m, "backspace")
	}
	typeText(m, "NEEDLE")
	press(m, "enter")
	if p.hit != -1 || !m.status.isErr || !strings.Contains(m.status.text, `no match for "NEEDLE"`) {
		t.Fatalf("case-sensitive search: hit %d %q", p.hit, m.status.text)
	}
	// gg needs two g: one g then another key does nothing.
	press(m, "G", "g", "j")
	if !p.follow {
		t.Fatal("a single g moved")
	}
}

func TestHugeSerialIsBounded(t *testing.T) {
	c := newContainer("x")
	chunk := []byte(strings.Repeat("0123456789\n", 1000))
	for i := 0; i < 100; i++ {
		c.serial.write(chunk)
	}
	if n := c.serial.end() - c.serial.first(); n != serialRingLines {
		t.Fatalf("%d lines kept", n)
	}
	if c.serial.first() != 100*1000-serialRingLines || c.serial.line(c.serial.end()-1) != "0123456789" {
		t.Fatal("ring numbering")
	}
	// An endless line is cut, not accumulated.
	c.serial.write([]byte(strings.Repeat("y", 100*serialMaxLine)))
	if len(c.serial.partial) > 4*serialMaxLine {
		t.Fatalf("partial line of %d bytes", len(c.serial.partial))
	}
}

// A steady stream into a full ring costs no allocation per line beyond the
// line itself (no copying of the ring).
func BenchmarkSerialAppend(b *testing.B) {
	c := newContainer("x")
	line := []byte("heartbeat 12345 some more text of a typical console line\n")
	for i := 0; i < serialRingLines; i++ {
		c.serial.write(line)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.serial.write(line)
	}
}

func TestSanitize(t *testing.T) {
	for in, out := range map[string]string{
		"plain":                   "plain",
		"a\tb":                    "a   b",
		"\x1b[1;31mred\x1b[0m":    "red",
		"\x1b]0;title\x07text":    "text",
		"bell\x07 and \x08bs\r":   "bell and bs",
		"bad \xff utf8":           "bad ? utf8",
		"é ok":                    "é ok",
		strings.Repeat("z", 5000): strings.Repeat("z", serialMaxLine),
	} {
		if got := sanitize([]byte(in), serialMaxLine); got != out {
			t.Errorf("%q: %q", in, got)
		}
	}
}

func TestWaits(t *testing.T) {
	ev := func(step string, pid int, waiting string, timeoutMS int64) state.Event {
		return state.Event{Time: t0, Step: step, PID: pid, Waiting: waiting, TimeoutMS: timeoutMS}
	}
	running := func(step string, pid int, waiting string, timeoutMS int64) state.Event {
		e := ev(step, pid, waiting, timeoutMS)
		e.Running = true
		return e
	}
	tests := []struct {
		name   string
		status string
		events []state.Event
		want   string
	}{
		{"parent waits for BOOTED", "creating", []state.Event{ev("create", 1, "", 0), ev("child-spawned", 1, "BOOTED", 10000)}, "BOOTED"},
		{"both wait: parent for BOOTED's receipt, child for ACK", "creating", []state.Event{ev("child-spawned", 1, "BOOTED", 10000), ev("booted", 2, "ACK", 10000)}, "BOOTED ACK"},
		{"parent got it", "creating", []state.Event{ev("child-spawned", 1, "BOOTED", 10000), ev("booted", 2, "ACK", 10000), ev("booted-received", 1, "", 0)}, "ACK"},
		{"created: the child waits for START after the parent left", "created", []state.Event{ev("booted", 2, "ACK", 0), ev("acked", 2, "START", 0), ev("created", 1, "", 0)}, "START"},
		{"start waits for the exec", "created", []state.Event{ev("acked", 2, "START", 0), ev("start", 3, "child to exec the VMM", 60000), ev("start-received", 2, "", 0)}, "child to exec the VMM"},
		{"running: nothing", "running", []state.Event{ev("start", 3, "child to exec the VMM", 60000), ev("running", 3, "", 0)}, ""},
		{"stopped: nothing", "stopped", []state.Event{ev("child-spawned", 1, "BOOTED", 10000)}, ""},
		{"failed: nothing", "creating", []state.Event{ev("child-spawned", 1, "BOOTED", 10000), ev("failed", 1, "", 0)}, ""},
		{"no pids: the last line decides", "creating", []state.Event{ev("child-spawned", 0, "BOOTED", 0), ev("booted", 0, "ACK", 0)}, "ACK"},
		{"create runs a hook, the child waits with it", "created", []state.Event{ev("booted", 2, "ACK", 2000), ev("booted-received", 1, "", 0),
			running("hook", 1, "createRuntime hook /bin/sleep", 30000), ev("progress", 2, "ACK", 32000)}, "createRuntime hook /bin/sleep ACK"},
		{"the hook ended", "created", []state.Event{running("hook", 1, "createRuntime hook /bin/sleep", 30000), ev("progress", 2, "ACK", 32000), ev("hook-done", 1, "", 0)}, "ACK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newContainer("x")
			c.State = &state.State{State: specs.State{Status: specs.ContainerState(tt.status)}}
			c.Events = tt.events
			var got []string
			for _, w := range c.waits() {
				got = append(got, w.What)
			}
			want(t, strings.Join(got, " "), tt.want)
		})
	}
	for _, c := range []struct {
		w    wait
		want time.Duration
	}{
		{wait{What: "START"}, 0},
		{wait{What: "BOOTED", Timeout: 10 * time.Second}, 2 * time.Second},
		{wait{What: "BOOTED", Timeout: 2 * time.Second}, time.Second},
		{wait{What: "child to exec the VMM", Timeout: time.Minute}, 3 * time.Second},
		{wait{What: "something new"}, 5 * time.Second},
		{wait{What: "createRuntime hook /bin/sleep", Running: true, Timeout: 30 * time.Second}, 0},
		{wait{What: "ACK", After: "create runs the createRuntime hook /bin/sleep (limit 30s)", Timeout: 32 * time.Second}, 0},
	} {
		if got := c.w.expected(); got != c.want {
			t.Errorf("%+v: %s", c.w, got)
		}
	}
}

// A wait past its expected time turns into an error line; the counter
// follows the clock.
func TestWaitingHighlight(t *testing.T) {
	m, _ := fixture(t)
	// A create in progress (it holds the lock, so the watcher reads "creating").
	m.Update(WatchMsg{Kind: watch.ContainerAdded, ID: "stuck", State: &state.State{State: specs.State{ID: "stuck", Status: "creating"}, Created: t0}})
	m.Update(WatchMsg{Kind: watch.JournalAppended, ID: "stuck", Events: []state.Event{
		{Time: t0.Add(-1500 * time.Millisecond), Step: state.StepChildSpawned, PID: 1, Waiting: "BOOTED", TimeoutMS: 10000},
	}})
	press(m, "/")
	typeText(m, "stuck")
	press(m, "enter", "enter")
	if v := m.View(); !strings.Contains(v, "waiting for BOOTED  1.5s  (expected < 2.0s, gives up after 10.0s)") || strings.Contains(v, "longer than expected") {
		t.Fatalf("view:\n%s", v)
	}
	now := t0.Add(3 * time.Second)
	m.opts.Now = func() time.Time { return now }
	m.Update(clockMsg(now))
	if v := m.View(); !strings.Contains(v, "waiting for BOOTED  4.5s") || !strings.Contains(v, "<- longer than expected") {
		t.Fatalf("view:\n%s", v)
	}
	press(m, "esc")
	if row := rowOf(m.View(), "stuck"); !strings.Contains(row, "child-spawned (waiting BOOTED 4.5s)") {
		t.Fatalf("row: %q", row)
	}
}

// A wait is attributed to what runs: create's hook shows as running
// against its limit, the child's wait for ACK as following it (no
// "longer than expected"), and the list row names the hook.
func TestHookWait(t *testing.T) {
	m, _ := fixture(t)
	m.Update(WatchMsg{Kind: watch.ContainerAdded, ID: "hooked", State: &state.State{State: specs.State{ID: "hooked", Status: "creating"}, Created: t0}})
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	events := []state.Event{
		{Time: at(-12400), Step: state.StepBooted, PID: 2, Waiting: "ACK", TimeoutMS: 2000},
		{Time: at(-12350), Step: state.StepBootedReceived, PID: 1},
		{Time: at(-12300), Step: state.StepHook, PID: 1, Detail: "createRuntime /bin/sleep, pid 77, limit 30s",
			Waiting: "createRuntime hook /bin/sleep", Running: true, TimeoutMS: 30000},
		{Time: at(-12290), Step: state.StepProgress, PID: 2, Detail: "create runs the createRuntime hook /bin/sleep (limit 30s)",
			Waiting: "ACK", TimeoutMS: 32000},
	}
	m.Update(WatchMsg{Kind: watch.JournalAppended, ID: "hooked", Events: events})
	press(m, "/")
	typeText(m, "hooked")
	press(m, "enter", "enter")
	v := m.View()
	for _, s := range []string{
		"createRuntime hook /bin/sleep  running 12.3s  (limit 30.0s)",
		"waiting for ACK  12.3s  (create runs the createRuntime hook /bin/sleep (limit 30s), gives up after 32.0s)",
	} {
		if !strings.Contains(v, s) {
			t.Fatalf("no %q in view:\n%s", s, v)
		}
	}
	if strings.Contains(v, "longer than expected") || strings.Contains(v, "past its") || strings.Contains(v, "then waits for createRuntime") {
		t.Fatalf("view:\n%s", v)
	}
	// Past its limit, the hook is flagged (create should have killed it).
	now := t0.Add(18 * time.Second)
	m.opts.Now = func() time.Time { return now }
	m.Update(clockMsg(now))
	if v := m.View(); !strings.Contains(v, "running 30.3s  (limit 30.0s)  <- past its limit") {
		t.Fatalf("view:\n%s", v)
	}
	press(m, "esc")
	if row := rowOf(m.View(), "hooked"); !strings.Contains(row, "progress (createRuntime hook") {
		t.Fatalf("row: %q", row)
	}
	c := newContainer("hooked")
	c.State = &state.State{State: specs.State{Status: "creating"}}
	c.Events = events
	want(t, lastStep(c, now), "progress (createRuntime hook /bin/sleep running 30.3s)")
}

func TestRunnerTimeoutAndContext(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "urunc")
	os.WriteFile(bin, []byte("#!/bin/sh\nsleep 10\n"), 0o755)
	r := Runner{Bin: bin, Root: dir, Dir: dir, Timeout: 200 * time.Millisecond}
	start := time.Now()
	err := r.Run(context.Background(), "start", "x")
	if err == nil || !strings.Contains(err.Error(), "no answer within 200ms") || time.Since(start) > 5*time.Second {
		t.Fatalf("%v after %s", err, time.Since(start))
	}
	// Only this command's log lines count.
	os.WriteFile(filepath.Join(dir, "log.json"), []byte(`{"level":"error","msg":"old failure"}`+"\n"), 0o600)
	os.WriteFile(bin, []byte("#!/bin/sh\nexit 1\n"), 0o755)
	if err := r.Run(context.Background(), "kill", "x", "TERM"); err == nil || strings.Contains(err.Error(), "old failure") {
		t.Fatalf("stale log error: %v", err)
	}
	want(t, LastLogError(filepath.Join(dir, "log.json")), "old failure")
}

package tui

import (
	"os"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/runtime/cgroups"
	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/watch"
)

// Update (and View) do no I/O. The model's root and bundle directories
// are removed after New, and every read the console makes (its disk
// reads, the sampler, the cgroup reader) counts its calls; then every kind
// of message and every key is fed to Update. Nothing may be read, and what
// changes comes from the messages alone. The reads happen when the
// commands Update returned run.
func TestUpdateDoesNoIO(t *testing.T) {
	m, f := fixture(t)
	reads := map[string]int{}
	disk := m.disk
	m.disk = diskReads{
		readState: func(root, id string) (*state.State, error) { reads["state "+id]++; return disk.readState(root, id) },
		bundles:   func(dirs []string) []bundleInfo { reads["bundles"]++; return disk.bundles(dirs) },
		exists:    func(path string) bool { reads["exists "+path]++; return disk.exists(path) },
	}
	sample, cgroup := m.opts.Sample, m.opts.CgroupMemory
	m.opts.Sample = func(pids []int) map[int][2]float64 { reads["sample"]++; return sample(pids) }
	m.opts.CgroupMemory = func(st *state.State) (cgroups.MemoryUse, error) { reads["cgroup "+st.ID]++; return cgroup(st) }
	if err := os.RemoveAll(f.root); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(f.bundles); err != nil {
		t.Fatal(err)
	}

	step := func(what string, msg tea.Msg) tea.Cmd {
		t.Helper()
		_, cmd := m.Update(msg)
		m.View()
		if len(reads) > 0 {
			t.Fatalf("%s: Update or View read %v", what, reads)
		}
		return cmd
	}
	keys := func(ks ...string) tea.Cmd {
		t.Helper()
		var cmd tea.Cmd
		for _, k := range ks {
			cmd = step("key "+k, keyMsg(k))
		}
		return cmd
	}
	pid := os.Getpid()

	// Every watch event, with what the watcher read.
	step("resize", tea.WindowSizeMsg{Width: 100, Height: 30})
	step("added", WatchMsg{Kind: watch.ContainerAdded, ID: "delta",
		State: &state.State{State: specs.State{ID: "delta", Status: "stopped"}}, VMM: &state.VMMInfo{Hypervisor: "firecracker"}})
	want(t, m.containers["delta"].hypervisor(), "firecracker")
	paused := *m.containers["alpha"].State
	paused.Status = "paused"
	step("state", WatchMsg{Kind: watch.StateChanged, ID: "alpha", State: &paused})
	want(t, string(m.containers["alpha"].status()), "paused")
	step("vmm", WatchMsg{Kind: watch.VMMChanged, ID: "alpha", VMM: &state.VMMInfo{Binary: "/from/the/event"}})
	want(t, m.containers["alpha"].VMM.Binary, "/from/the/event")
	stopped := *m.containers["beta"].State
	stopped.Status = "stopped"
	step("journal", WatchMsg{Kind: watch.JournalAppended, ID: "beta", Events: []state.Event{{Time: t0, Step: state.StepStopped}}, State: &stopped})
	want(t, string(m.containers["beta"].status()), "stopped")
	step("serial", WatchMsg{Kind: watch.SerialAppended, ID: "alpha", Serial: []byte("from the event\n")})
	want(t, serialText(m.containers["alpha"])[len(serialText(m.containers["alpha"]))-len("from the event"):], "from the event")
	step("removed", WatchMsg{Kind: watch.ContainerRemoved, ID: "gamma"})
	want(t, ids(m.list.rows(m.containers)), "alpha beta delta gamma") // kept for inspection
	step("dismiss", keyMsg("x"))

	// Sampling: the tick builds the command, the sample comes back with
	// the cgroup read on the Resources tab; a pid gone asks for a command.
	keys("enter", "3")
	if cmd := step("sample tick", sampleTickMsg(t0)); cmd == nil {
		t.Fatal("no sampling command")
	}
	step("sample", sampleMsg{usage: map[int][2]float64{pid: {7, 20}},
		cgroup: &cgroupSample{id: "alpha", mem: cgroups.MemoryUse{Usage: 3 << 20, Limit: 64 << 20}}})
	if c := m.containers["alpha"]; len(c.CPU) != 1 || c.CPU[0] != 7 || c.cgroupMem == nil || c.cgroupMem.Usage != 3<<20 {
		t.Fatalf("sample not applied: %v %v", c.CPU, c.cgroupMem)
	}
	reread := step("sample without alpha", sampleMsg{})
	want(t, string(m.containers["alpha"].status()), "paused")
	step("state read again", stateMsg{id: "alpha", st: &stopped})
	want(t, string(m.containers["alpha"].status()), "stopped")
	step("state of a removed container", stateMsg{id: "gamma", st: &stopped})
	if m.containers["gamma"] != nil {
		t.Fatal("a late read brought a removed container back")
	}
	step("clock", clockMsg(t0))
	step("action", actionMsg{what: "urunc start x"})

	// Every key of the list, the detail tabs, the dialogs and the help.
	keys("esc", "j", "k", "down", "up", "pgdown", "pgup", "end", "home", "s", "s", "/", "a", "backspace", "enter", "esc",
		"?", "x", "enter", "tab", "2", "f", "f", "G", "g", "g", "home", "end", "pgup", "pgdown", "up", "down",
		"/", "e", "enter", "n", "N", "3", "4", "j", "k", "g", "shift+tab", "1", "K", "x", "D", "n", "S", "p", "esc")

	// Attach: the connection is a command; keys go through a channel.
	running := *m.containers["alpha"].State
	running.Status = "running"
	step("running again", WatchMsg{Kind: watch.StateChanged, ID: "alpha", State: &running})
	keys("esc", "enter", "2")
	if cmd := keys("a"); cmd == nil {
		t.Fatal("no attach command")
	}
	conn := newAttachConn("alpha", "a test")
	step("attached", attachedMsg{id: "alpha", conn: conn})
	keys("l", "s", "enter", "q", "ctrl+c")
	step("detach", tea.KeyMsg{Type: tea.KeyCtrlCloseBracket})
	if n := len(conn.in); n != 5 || m.attach != nil {
		t.Fatalf("%d keys queued, attached %v", n, m.attach != nil)
	}
	keys("esc")

	// Rerun on rebuild: the watch, the change and the rerun are commands.
	keys("esc", "enter")
	if cmd := keys("R"); cmd == nil {
		t.Fatal("no watch command")
	}
	w := &watch.Files{}
	step("watching", rerunWatchMsg{bundle: "/bundles/alpha", id: "alpha", watched: []string{"/bundles/alpha/k"}, w: w, stop: func() {}})
	if cmd := step("changed", changeMsg{bundle: "/bundles/alpha", w: w, change: watch.Change{Paths: []string{"/bundles/alpha/k"}}, ok: true}); cmd == nil {
		t.Fatal("no rerun command")
	}
	step("rerun", rerunMsg{bundle: "/bundles/alpha", old: "alpha", id: "alpha-2", change: watch.Change{Paths: []string{"/bundles/alpha/k"}}})
	step("first byte", WatchMsg{Kind: watch.SerialAppended, ID: "alpha-2", Serial: []byte("hi\n")})
	keys("[", "]", "d", "R", "esc")

	// Create: the picker scans by a command, the id is chosen by another.
	if cmd := keys("c"); cmd == nil || !strings.Contains(m.View(), "scanning…") {
		t.Fatal("no scan, or the picker does not say it scans")
	}
	step("bundles", bundlesMsg{seq: m.dialog.seq, bundles: []bundleInfo{{Path: "/nowhere/b0", Name: "b0"}, {Path: "/nowhere/b1", Name: "b1"}}})
	if !strings.Contains(m.View(), "/nowhere/b1") {
		t.Fatal(m.View())
	}
	if cmd := keys("j", "k", "j", "tab", "tab", "enter"); cmd == nil {
		t.Fatal("no id command")
	}
	step("id", idMsg{seq: m.dialog.seq, bundle: "/nowhere/b1", id: "b1-7", counter: 7})
	if m.dialog.kind != dialogCreateID || m.dialog.input.Value() != "b1-7" || m.dialog.counter != 7 {
		t.Fatalf("dialog %d %q %d", m.dialog.kind, m.dialog.input.Value(), m.dialog.counter)
	}
	if cmd := keys("enter"); cmd == nil {
		t.Fatal("no create command")
	}

	// The reads are the commands': the state read again once it runs.
	if reread == nil {
		t.Fatal("no command to read the state again")
	}
	reread()
	if reads["state alpha"] != 1 {
		t.Fatalf("the command read %v", reads)
	}
}

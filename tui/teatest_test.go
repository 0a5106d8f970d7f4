package tui

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/watch"
)

// goldenFixture is the fixture with everything that varies between runs
// fixed: pids, paths, samples; and no sampling tick during the test.
func goldenFixture(t *testing.T) (*Model, fix) {
	t.Helper()
	m, f := fixture(t)
	m.opts.Root = "/run/urunc"
	m.opts.SampleEvery = time.Hour
	m.containers["alpha"].State.Pid = 4242
	m.containers["beta"].State.Pid = 4243
	for i := 0; i < 40; i++ {
		m.containers["alpha"].addSample(float64(i%10)*3, 38+float64(i)/10)
	}
	m.containers["alpha"].VMM = &state.VMMInfo{
		Hypervisor: "qemu", Binary: "/usr/bin/qemu-system-x86_64", PID: 4242, Guest: "unikraft",
		Argv: []string{"qemu-system-x86_64", "-M", "microvm,pit=on", "-accel", "kvm", "-cpu", "host", "-m", "64M", "-nographic",
			"-kernel", "/unikernel/hello.elf", "-append", "heartbeat", "-chardev", "stdio,id=char0,logfile=/run/urunc/alpha/serial.log"},
		GuestCmdline: "heartbeat", Accel: "kvm", AccelReason: "/dev/kvm is usable", CPU: "host", Machine: "microvm",
		MachineReason: "annotation com.urunc.vmm.machine", MemoryMB: 64, VCPUs: 1, Network: "none", GracefulStop: "QMP quit",
	}
	return m, f
}

// stable replaces what depends on the machine in a view (the bundle
// directory; trailing blanks, whose count depends on its length).
func stable(v string, f fix) string {
	lines := strings.Split(strings.ReplaceAll(v, f.bundles, "/BUNDLES"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// runProgram runs the model as a real Bubble Tea program (teatest, fixed
// 120x40 terminal, ASCII profile from TestMain), sends keys, quits and
// returns the final screen. A key "wait:TEXT" waits for TEXT on the
// screen instead: what a command reads arrives as a message some time
// after the key that asked for it.
func runProgram(t *testing.T, m *Model, keys ...string) string {
	t.Helper()
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(120, 40))
	for _, k := range keys {
		if text, ok := strings.CutPrefix(k, "wait:"); ok {
			teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(text)) },
				teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
			continue
		}
		tm.Send(keyMsg(k))
	}
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	return final.View()
}

// TestGolden compares each screen with testdata/TestGolden/<name>.golden
// (go test ./tui -update rewrites them).
func TestGolden(t *testing.T) {
	views := []struct {
		name string
		keys []string
		prep func(*Model)
	}{
		{"list", nil, nil},
		{"list-sorted-cpu", []string{"s", "s", "s", "s", "s", "s"}, nil},
		{"list-filtered", []string{"/", "c", "r", "e", "enter"}, nil},
		{"help", []string{"?"}, nil},
		{"handshake", []string{"enter", "1"}, nil},
		{"handshake-waiting", []string{"j", "enter", "1"}, nil},
		{"handshake-failed", []string{"j", "j", "enter", "1"}, nil},
		{"serial", []string{"enter", "2"}, nil},
		{"serial-search", []string{"enter", "2", "/", "b", "e", "a", "t", "enter"}, nil},
		{"resources", []string{"enter", "3"}, nil},
		{"config", []string{"enter", "4"}, nil},
		{"create", []string{"c", "wait:heartbeat"}, nil},                                   // the bundle scan's result
		{"create-id", []string{"c", "wait:heartbeat", "enter", "wait:container id:"}, nil}, // and the id's
		{"kill", []string{"K"}, nil},
		{"delete", []string{"D"}, nil},
		// Post-mortem: how each ended, and deleted ones kept.
		{"list-postmortem", nil, postMortemFixture},
		{"detail-postmortem", []string{"j", "j", "j", "enter", "2"}, postMortemFixture},
		{"detail-deleted", []string{"end", "enter", "1"}, postMortemFixture},
		// A run that replaced the previous one when its kernel was rebuilt.
		{"detail-rerun", []string{"j", "j", "j", "enter", "2"}, rerunGoldenFixture},
		{"list-rerun", nil, rerunGoldenFixture},
		// A guest with a gdb stub: the command, d runs it.
		{"config-gdb", []string{"enter", "4"}, func(m *Model) {
			v := *m.containers["alpha"].VMM
			v.GDB, v.GDBCommand = "wait", []string{"gdb", "-q", "-ex", "target remote /run/urunc/alpha/gdb.sock", "/bundles/alpha/rootfs/unikernel/hello.elf"}
			m.containers["alpha"].VMM = &v
		}},
		{"detail-gdb", []string{"enter", "2"}, func(m *Model) {
			v := *m.containers["alpha"].VMM
			v.GDB, v.GDBCommand = "wait", []string{"gdb", "-q", "-ex", "target remote /run/urunc/alpha/gdb.sock", "/bundles/alpha/rootfs/unikernel/hello.elf"}
			m.containers["alpha"].VMM = &v
		}},
		{"create-gdb", []string{"c", "wait:heartbeat", "g"}, nil},
		// Attached to the guest's console (the console's own input of it).
		{"serial-attached", []string{"enter", "2", "a", "wait:ATTACHED", "l", "s"}, func(m *Model) {
			f, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			m.inputs.add("alpha", f)
		}},
	}
	for _, v := range views {
		t.Run(v.name, func(t *testing.T) {
			m, f := goldenFixture(t)
			if v.prep != nil {
				v.prep(m)
			}
			got := stable(runProgram(t, m, v.keys...), f)
			if n := strings.Count(got, "\n") + 1; n != 40 {
				t.Fatalf("%d lines, want 40", n)
			}
			golden.RequireEqual(t, []byte(got))
		})
	}
}

// TestProgram drives the console as a program, as the terminal sees it:
// watch events arrive while it runs and the screen follows.
func TestProgram(t *testing.T) {
	m, _ := goldenFixture(t)
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(120, 40))
	// Each wait reads the output from where the previous one stopped, so
	// everything expected of one frame is checked in one wait.
	waitFor := func(all ...string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
			for _, s := range all {
				if !bytes.Contains(b, []byte(s)) {
					return false
				}
			}
			return true
		}, teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	}
	waitFor("alpha", "beta", "gamma")
	tm.Send(WatchMsg{Kind: watch.JournalAppended, ID: "alpha", Events: []state.Event{{Time: t0, Step: state.StepPause, PID: 9}}})
	waitFor("pause")
	tm.Type("?")
	waitFor("urunc-dev keys")
	tm.Type("x")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor("1 Handshake", "vmm-exec")
	tm.Type("2")
	tm.Send(WatchMsg{Kind: watch.SerialAppended, ID: "alpha", Serial: []byte("heartbeat 3\n")})
	waitFor("heartbeat 3")
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	final := tm.FinalModel(t).(*Model)
	if final.screen != screenDetail || final.detail.id != "alpha" || final.detail.tab != tabSerial {
		t.Fatalf("final screen %d id %q tab %d", final.screen, final.detail.id, final.detail.tab)
	}
	out, _ := io.ReadAll(tm.FinalOutput(t))
	for _, mouse := range []string{"\x1b[?1000h", "\x1b[?1002h", "\x1b[?1003h", "\x1b[?1006h"} {
		if strings.Contains(string(out), mouse) {
			t.Fatalf("mouse reporting was enabled (%q)", mouse)
		}
	}
}

// A wide and a narrow terminal: nothing is wider than the screen.
func TestResizeKeepsWidth(t *testing.T) {
	for _, size := range [][2]int{{40, 12}, {200, 60}} {
		for _, keys := range [][]string{nil, {"enter", "1"}, {"enter", "2"}, {"enter", "3"}, {"enter", "4"}, {"?"}, {"c"}} {
			m, _ := goldenFixture(t)
			m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
			press(m, keys...)
			lines := strings.Split(m.View(), "\n")
			if len(lines) != size[1] {
				t.Fatalf("%v %v: %d lines", size, keys, len(lines))
			}
			for _, l := range lines {
				if w := lipgloss.Width(l); w > size[0] {
					t.Fatalf("%v %v: line of %d cells: %q", size, keys, w, l)
				}
			}
		}
	}
}

// postMortemFixture adds a guest that failed (a Unikraft init error on its
// console, reaped: exit 1), one killed, and one deleted after a clean exit.
func postMortemFixture(m *Model) {
	status := func(n int) *int { return &n }
	add := func(id string, events []state.Event, vmm *state.VMMInfo, serial string) {
		m.Update(WatchMsg{Kind: watch.ContainerAdded, ID: id, VMM: vmm, State: &state.State{
			State:   specs.State{ID: id, Status: "stopped", Bundle: "/bundles/" + id},
			Created: t0.Add(-time.Minute), Guest: "unikraft", Hypervisor: "qemu"}})
		for i := range events {
			events[i].Time = t0.Add(time.Duration(i-len(events)) * time.Second)
		}
		m.Update(WatchMsg{Kind: watch.JournalAppended, ID: id, Events: events})
		m.Update(WatchMsg{Kind: watch.SerialAppended, ID: id, Serial: []byte(serial)})
	}
	uk := &state.VMMInfo{Hypervisor: "qemu", Binary: "/usr/bin/qemu-system-x86_64", Guest: "unikraft",
		Argv: []string{"qemu-system-x86_64", "-M", "pc", "-kernel", "/unikernel/helloworld"}, FailureMarkers: []string{"Init function at "}}
	add("hwrng", []state.Event{{Step: state.StepStart}, {Step: state.StepVMMExec}, {Step: state.StepRunning},
		{Step: state.StepExited, Detail: "status 1: guest failed: [    0.101987] ERR:  [libukboot] <boot.c @  427> Init function at 0x1246f0 returned error -95", Status: status(1)},
		{Step: state.StepStopped}}, uk,
		"Powered by Unikraft\n[    0.101364] ERR:  [libukrandom] <random.c @   65> Could not initialize the HWRNG (-95)\n[    0.101987] ERR:  [libukboot] <boot.c @  427> Init function at 0x1246f0 returned error -95\n")
	add("killed", []state.Event{{Step: state.StepVMMExec}, {Step: state.StepRunning}, {Step: state.StepKill, Detail: "SIGKILL"}, {Step: state.StepStopped}},
		nil, "heartbeat 1\n")
	add("hello-1", []state.Event{{Step: state.StepVMMExec}, {Step: state.StepRunning},
		{Step: state.StepExited, Detail: "status 0: guest exited 0", Status: status(0)}, {Step: state.StepDelete}}, nil,
		"Hello from the urunc test unikernel\nbye\n")
	m.Update(WatchMsg{Kind: watch.ContainerRemoved, ID: "hello-1"})
}

// rerunGoldenFixture: hello-2 replaced hello-1 (deleted, kept) when
// hello.elf was rebuilt, with every step's time fixed.
func rerunGoldenFixture(m *Model) {
	const b = "/bundles/hello"
	for _, id := range []string{"hello-1", "hello-2"} {
		m.Update(WatchMsg{Kind: watch.ContainerAdded, ID: id, State: &state.State{
			State:   specs.State{ID: id, Status: "running", Bundle: b, Pid: m.containers["alpha"].State.Pid},
			Created: t0.Add(-time.Second), Guest: "unikraft", Hypervisor: "qemu", PidStartTime: m.containers["alpha"].State.PidStartTime}})
	}
	m.containers["hello-1"].run = &runInfo{bundle: b, n: 1}
	m.Update(WatchMsg{Kind: watch.ContainerRemoved, ID: "hello-1"})
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	m.containers["hello-2"].run = &runInfo{bundle: b, n: 2,
		change: watch.Change{Paths: []string{b + "/rootfs/unikernel/hello.elf"}, First: ms(-40), Last: ms(0), Ready: ms(300)},
		began:  ms(301), stopped: ms(420), started: ms(905), firstByte: ms(1312)}
	m.reruns[b] = &rerun{bundle: b, runs: []string{"hello-1", "hello-2"}, stop: func() {}}
	m.Update(WatchMsg{Kind: watch.SerialAppended, ID: "hello-2", Serial: []byte("Hello from the urunc test unikernel\ncmdline: heartbeat\n")})
}

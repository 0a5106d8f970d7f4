package tui

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"

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
	}{
		{"list", nil},
		{"list-sorted-cpu", []string{"s", "s", "s", "s", "s", "s"}},
		{"list-filtered", []string{"/", "c", "r", "e", "enter"}},
		{"help", []string{"?"}},
		{"handshake", []string{"enter", "1"}},
		{"handshake-waiting", []string{"j", "enter", "1"}},
		{"handshake-failed", []string{"j", "j", "enter", "1"}},
		{"serial", []string{"enter", "2"}},
		{"serial-search", []string{"enter", "2", "/", "b", "e", "a", "t", "enter"}},
		{"resources", []string{"enter", "3"}},
		{"config", []string{"enter", "4"}},
		{"create", []string{"c", "wait:heartbeat"}},                                   // the bundle scan's result
		{"create-id", []string{"c", "wait:heartbeat", "enter", "wait:container id:"}}, // and the id's
		{"kill", []string{"K"}},
		{"delete", []string{"D"}},
	}
	for _, v := range views {
		t.Run(v.name, func(t *testing.T) {
			m, f := goldenFixture(t)
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

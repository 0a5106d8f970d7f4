package tui

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/watch"
)

// TestProgram runs the console as a real Bubble Tea program with a fixed
// terminal size and drives it with keys and watch messages.
func TestProgram(t *testing.T) {
	m, _ := fixture(t)
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
		},
			teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	}
	waitFor("alpha")
	tm.Send(WatchMsg{Kind: watch.JournalAppended, ID: "alpha", Events: []state.Event{{Time: t0, Step: state.StepVMMExec, Detail: "qemu-system-x86_64"}}})
	tm.Type("?")
	waitFor("Keys")
	tm.Type("x")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor("1 Handshake", "vmm-exec")
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	final := tm.FinalModel(t).(*Model)
	if final.mode != modeDetail || final.selectedID() != "alpha" {
		t.Fatalf("final mode %d selected %q", final.mode, final.selectedID())
	}
	out, _ := io.ReadAll(tm.FinalOutput(t))
	if strings.Contains(string(out), "\x1b[?1000h") {
		t.Fatal("mouse reporting was enabled")
	}
}

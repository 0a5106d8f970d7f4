package tui

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/urunc-dev/urunc/runtime/state"
)

type dialogKind int

const (
	dialogNone dialogKind = iota
	dialogFilter
	dialogSearch
	dialogKill
	dialogDelete
	dialogCreateBundle
	dialogCreateID
)

// dialog is the one question the console may be asking: a text input
// (filter, search, container id), a choice (signal, bundle) or a y/n.
type dialog struct {
	kind    dialogKind
	target  string // container the question is about
	input   textinput.Model
	bundles []bundleInfo
	bundleI int
	// create
	startToo bool
	gdb      string // the gdb stub asked for: "", "on" or "wait"
	counter  int    // the n of the last default id "<bundle>-<n>"
	// scanning: the bundles are being read (the picker says so);
	// choosing: enter was pressed, the default id is being chosen.
	scanning, choosing bool
	// seq numbers the requests (bundle scan, id choice): a result that is
	// not for the last one (the dialog was closed, or opened again, since)
	// is dropped.
	seq int
}

func newDialog() dialog {
	ti := textinput.New()
	ti.CharLimit = state.MaxIDLength
	return dialog{input: ti, startToo: true}
}

func (d *dialog) open(kind dialogKind, target string) {
	d.kind, d.target = kind, target
	d.scanning, d.choosing = false, false
}

// request numbers a new request whose result the dialog waits for.
func (d *dialog) request() int {
	d.seq++
	return d.seq
}

func (d *dialog) openInput(kind dialogKind, target, prompt, value string) {
	d.open(kind, target)
	d.input.Prompt = prompt
	d.input.SetValue(value)
	d.input.CursorEnd()
	d.input.Focus()
}

func (d *dialog) close() {
	d.kind = dialogNone
	d.scanning, d.choosing = false, false
	d.input.Blur()
}

// bundleInfo is a bundle offered by create.
type bundleInfo struct {
	Path, Name, Type, Hypervisor, Cmdline string
}

// answer is what a key did to the question, for the root to act on: the
// dialog only asks; what an answer means (run kill, set the filter...) is
// the root's business.
type answer struct {
	kind   dialogKind // the question
	target string     // the container (kill, delete, search) or bundle path (create id)
	value  string     // the signal, the text typed, the bundle's name
	state  answerState
}

type answerState int

const (
	stillAsking answerState = iota // nothing to act on
	answered                       // enter, y, a signal
	cancelled
	edited // the text changed (the filter applies as you type)
)

// handleKey handles a key while a question is asked.
func (d *dialog) handleKey(ctx *programContext, msg tea.KeyMsg) (answer, tea.Cmd) {
	k := ctx.Keys
	a := answer{kind: d.kind, target: d.target}
	switch d.kind {
	case dialogKill:
		switch {
		case key.Matches(msg, k.SigTerm):
			a.value = "TERM"
		case key.Matches(msg, k.SigKill):
			a.value = "KILL"
		case key.Matches(msg, k.SigInt):
			a.value = "INT"
		case key.Matches(msg, k.SigHup):
			a.value = "HUP"
		}
		d.close()
		a.state = answered
		if a.value == "" {
			a.state = cancelled
		}
		return a, nil
	case dialogDelete:
		d.close()
		a.state = cancelled
		if key.Matches(msg, k.Confirm) {
			a.state = answered
		}
		return a, nil
	case dialogCreateBundle:
		switch {
		case key.Matches(msg, k.Cancel):
			d.close()
			a.state = cancelled
		case key.Matches(msg, k.ToggleStart):
			d.startToo = !d.startToo
		case key.Matches(msg, k.CycleGDB):
			d.gdb = map[string]string{"": "on", "on": "wait", "wait": ""}[d.gdb]
		case len(d.bundles) == 0 || d.choosing:
			// Still scanning, or the id is being chosen: nothing to move.
		case key.Matches(msg, k.Up):
			d.bundleI = max(0, d.bundleI-1)
		case key.Matches(msg, k.Down):
			d.bundleI = min(len(d.bundles)-1, d.bundleI+1)
		case key.Matches(msg, k.Enter):
			b := d.bundles[d.bundleI]
			d.choosing = true
			a.target, a.value, a.state = b.Path, b.Name, answered
		}
		return a, nil
	}

	// Text inputs.
	switch msg.Type {
	case tea.KeyEsc:
		d.close()
		a.state = cancelled
		return a, nil
	case tea.KeyEnter:
		a.value = strings.TrimSpace(d.input.Value())
		d.close()
		a.state = answered
		return a, nil
	}
	var cmd tea.Cmd
	d.input, cmd = d.input.Update(msg)
	if d.kind == dialogFilter {
		a.value, a.state = d.input.Value(), edited
	}
	return a, cmd
}

// createView is the bundle picker, shown in place of the list.
func (d *dialog) createView(ctx *programContext) string {
	st := ctx.Styles
	var b strings.Builder
	b.WriteString(st.Title.Render("Create a container from a bundle") + "\n\n")
	b.WriteString(st.Header.Render(fmt.Sprintf("  %-20s %-9s %-10s %-24s %s", "BUNDLE", "TYPE", "HYPERVISOR", "CMDLINE", "PATH")) + "\n")
	if d.scanning {
		b.WriteString(st.Dim.Render("  scanning…") + "\n")
	}
	for i, bi := range d.bundles {
		line := fmt.Sprintf("  %-20s %-9s %-10s %-24s %s", truncate(bi.Name, 20), bi.Type, bi.Hypervisor, truncate(bi.Cmdline, 24), bi.Path)
		line = truncate(line, ctx.Width)
		if i == d.bundleI {
			line = st.Selected.Render(pad(line, ctx.Width, false))
		}
		b.WriteString(line + "\n")
	}
	start := "[ ] start after create"
	if d.startToo {
		start = "[x] start after create"
	}
	gdb := "gdb stub: off"
	switch d.gdb {
	case "on":
		gdb = "gdb stub: on (gdb.sock; d in the detail view runs gdb)"
	case "wait":
		gdb = "gdb stub: wait (paused before its first instruction until gdb continues it)"
	}
	b.WriteString("\n" + start + "\n" + gdb + "\n\n")
	b.WriteString(st.Dim.Render("↑/↓ choose  enter: next (container id)  tab: start after create on/off  g: gdb stub off/on/wait  esc: cancel"))
	return b.String()
}

// line is the question asked on the line above the status bar; target
// is the container it is about (nil: none, or gone).
func (d *dialog) line(ctx *programContext, target *container) string {
	st := ctx.Styles
	switch d.kind {
	case dialogFilter, dialogSearch:
		return d.input.View()
	case dialogCreateID:
		then := "create"
		if d.startToo {
			then = "create and start"
		}
		if d.gdb != "" {
			then += " (gdb " + d.gdb + ")"
		}
		return d.input.View() + st.Dim.Render("   enter: "+then+" from "+filepath.Base(d.target)+", esc: cancel")
	case dialogKill:
		return st.Dialog.Render("kill " + d.target + " with signal: [t] TERM  [k] KILL  [i] INT  [h] HUP   (other key: cancel)")
	case dialogDelete:
		q := "delete " + d.target + "? (y/N)"
		if c := target; c != nil && needsForce(c) {
			q = "delete " + d.target + "? it is " + string(c.status()) + ": the VMM will be killed (--force) (y/N)"
		}
		return st.Dialog.Render(q)
	}
	return ""
}

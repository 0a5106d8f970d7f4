package tui

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/urunc-dev/urunc/runtime/config"
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
	counter  int
}

func newDialog() dialog {
	ti := textinput.New()
	ti.CharLimit = state.MaxIDLength
	return dialog{input: ti, startToo: true}
}

func (d *dialog) open(kind dialogKind, target string) {
	d.kind, d.target = kind, target
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
	d.input.Blur()
}

// bundleInfo is a bundle offered by create.
type bundleInfo struct {
	Path, Name, Type, Hypervisor, Cmdline string
}

// FindBundles lists the bundles under dirs: each subdirectory with a
// config.json (or the directory itself if it has one), sorted by path.
func FindBundles(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "config.json")); err == nil {
			out = append(out, d)
			continue
		}
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			p := filepath.Join(d, e.Name())
			if _, err := os.Stat(filepath.Join(p, "config.json")); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// readBundle reads what the picker shows of a bundle: its annotations.
func readBundle(path string) bundleInfo {
	b := bundleInfo{Path: path, Name: filepath.Base(path)}
	data, err := os.ReadFile(filepath.Join(path, "config.json"))
	if err != nil {
		return b
	}
	var spec struct {
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal(data, &spec) == nil {
		b.Type = spec.Annotations[config.KeyType]
		b.Hypervisor = spec.Annotations[config.KeyHypervisor]
		b.Cmdline = spec.Annotations[config.KeyCmdline]
	}
	return b
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
		case key.Matches(msg, k.Up):
			d.bundleI = max(0, d.bundleI-1)
		case key.Matches(msg, k.Down):
			d.bundleI = min(len(d.bundles)-1, d.bundleI+1)
		case key.Matches(msg, k.ToggleStart):
			d.startToo = !d.startToo
		case key.Matches(msg, k.Enter):
			b := d.bundles[d.bundleI]
			a.target, a.value, a.state = b.Path, b.Name, answered
		case key.Matches(msg, k.Cancel):
			d.close()
			a.state = cancelled
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
	b.WriteString("\n" + start + "\n\n")
	b.WriteString(st.Dim.Render("↑/↓ choose  enter: next (container id)  tab: start after create on/off  esc: cancel"))
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

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

func (m *Model) openCreate() {
	paths := FindBundles(m.opts.Bundles)
	if len(paths) == 0 {
		m.status.set("no bundles to create from: start urunc-dev with --bundles DIR (urunc-dev bundle makes them)", true)
		return
	}
	d := &m.dialog
	d.bundles = d.bundles[:0]
	for _, p := range paths {
		d.bundles = append(d.bundles, readBundle(p))
	}
	d.bundleI = min(d.bundleI, len(d.bundles)-1)
	d.open(dialogCreateBundle, "")
}

// defaultID is "<bundle>-<n>", n counting up past the ids in use.
func (m *Model) defaultID(bundle string) string {
	d := &m.dialog
	for {
		d.counter++
		id := fmt.Sprintf("%s-%d", bundle, d.counter)
		if _, used := m.containers[id]; used {
			continue
		}
		if _, err := os.Stat(filepath.Join(m.opts.Root, id)); err == nil {
			continue
		}
		return id
	}
}

func (m *Model) handleDialogKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	d := &m.dialog
	if msg.Type == tea.KeyCtrlC {
		return tea.Quit
	}
	switch d.kind {
	case dialogKill:
		sig := ""
		switch {
		case key.Matches(msg, k.SigTerm):
			sig = "TERM"
		case key.Matches(msg, k.SigKill):
			sig = "KILL"
		case key.Matches(msg, k.SigInt):
			sig = "INT"
		case key.Matches(msg, k.SigHup):
			sig = "HUP"
		}
		d.close()
		if sig == "" {
			m.status.set("kill cancelled", false)
			return nil
		}
		return m.run("kill", d.target, sig)
	case dialogDelete:
		d.close()
		if !key.Matches(msg, k.Confirm) {
			m.status.set("delete cancelled", false)
			return nil
		}
		if c := m.containers[d.target]; c != nil && (c.live() || c.status() == state.Creating) {
			return m.run("delete", "--force", d.target)
		}
		return m.run("delete", d.target)
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
			d.openInput(dialogCreateID, b.Path, "container id: ", m.defaultID(b.Name))
		case key.Matches(msg, k.Cancel):
			d.close()
		}
		return nil
	}

	// Text inputs.
	switch msg.Type {
	case tea.KeyEsc:
		kind := d.kind
		d.close()
		if kind == dialogFilter {
			m.list.filter = ""
		}
		return nil
	case tea.KeyEnter:
		v := strings.TrimSpace(d.input.Value())
		kind := d.kind
		d.close()
		switch kind {
		case dialogFilter:
			m.list.filter = v
		case dialogSearch:
			if c := m.containers[d.target]; c != nil {
				m.detail.serial.setSearch(m, c, v)
			}
		case dialogCreateID:
			if v == "" {
				m.status.set("create: the id is empty", true)
				return nil
			}
			return m.createCmd(d.target, v, d.startToo)
		}
		return nil
	}
	var cmd tea.Cmd
	d.input, cmd = d.input.Update(msg)
	if d.kind == dialogFilter {
		m.list.filter = d.input.Value() // filter as you type
	}
	return cmd
}

// createView is the bundle picker, shown in place of the list.
func createView(m *Model) string {
	st := m.styles
	d := &m.dialog
	var b strings.Builder
	b.WriteString(st.Title.Render("Create a container from a bundle") + "\n\n")
	b.WriteString(st.Header.Render(fmt.Sprintf("  %-20s %-9s %-10s %-24s %s", "BUNDLE", "TYPE", "HYPERVISOR", "CMDLINE", "PATH")) + "\n")
	for i, bi := range d.bundles {
		line := fmt.Sprintf("  %-20s %-9s %-10s %-24s %s", truncate(bi.Name, 20), bi.Type, bi.Hypervisor, truncate(bi.Cmdline, 24), bi.Path)
		line = truncate(line, m.width)
		if i == d.bundleI {
			line = st.Selected.Render(pad(line, m.width, false))
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

// dialogLine is the question asked on the line above the status bar.
func dialogLine(m *Model) string {
	st := m.styles
	d := &m.dialog
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
		if c := m.containers[d.target]; c != nil && (c.live() || c.status() == state.Creating) {
			q = "delete " + d.target + "? it is " + string(c.status()) + ": the VMM will be killed (--force) (y/N)"
		}
		return st.Dialog.Render(q)
	}
	return ""
}

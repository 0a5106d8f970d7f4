package tui

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/urunc-dev/urunc/runtime/state"
)

// Key routing: the root decides who gets a key (the dialog, the help, the
// actions, the detail view or the list), hands it to that pane with the
// shared context, and applies what the pane asks (its intent, or the
// dialog's answer).

// target is the container actions apply to: the one shown in the detail
// view, else the list's selection.
func (m *Model) target() *container {
	if m.screen == screenDetail {
		return m.containers[m.detail.id]
	}
	return m.list.selectedContainer(m.containers)
}

func (m *Model) handleKey(msg tea.KeyMsg) tea.Cmd {
	if m.dialog.kind != dialogNone {
		return m.handleDialogKey(msg)
	}
	k := m.keys
	if m.showHelp {
		// Any key closes the help; q still quits.
		m.showHelp = false
		if key.Matches(msg, k.Quit) {
			return tea.Quit
		}
		return nil
	}
	wasG := m.pendingG
	m.pendingG = false
	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit
	case key.Matches(msg, k.Help):
		m.showHelp = true
		return nil
	case key.Matches(msg, k.Create):
		m.openCreate()
		return nil
	case key.Matches(msg, k.Start):
		return m.onTarget("start", func(c *container) tea.Cmd { return m.run("start", c.ID) })
	case key.Matches(msg, k.Kill):
		return m.onTarget("kill", func(c *container) tea.Cmd { m.dialog.open(dialogKill, c.ID); return nil })
	case key.Matches(msg, k.Delete):
		return m.onTarget("delete", func(c *container) tea.Cmd { m.dialog.open(dialogDelete, c.ID); return nil })
	case key.Matches(msg, k.Pause):
		return m.onTarget("pause", func(c *container) tea.Cmd {
			if c.status() == state.Paused {
				return m.run("resume", c.ID)
			}
			return m.run("pause", c.ID)
		})
	}
	ctx := m.context()
	if m.screen == screenDetail {
		m.apply(m.detail.handleKey(ctx, m.containers[m.detail.id], msg, wasG))
		return nil
	}
	m.apply(m.list.handleKey(ctx, m.containers, msg))
	return nil
}

// apply does what a pane asked.
func (m *Model) apply(in intent) {
	if in.status != "" {
		m.status.set(in.status, in.statusErr)
	}
	if in.pendingG {
		m.pendingG = true
	}
	if in.back {
		m.screen = screenList
		m.list.selected = m.detail.id
	}
	if in.open != "" {
		m.detail.show(in.open, in.tab)
		m.screen = screenDetail
	}
	if q := in.ask; q != nil {
		m.dialog.openInput(q.kind, q.target, q.prompt, q.value)
	}
}

// onTarget runs f on the target container, or says there is none.
func (m *Model) onTarget(what string, f func(*container) tea.Cmd) tea.Cmd {
	c := m.target()
	if c == nil {
		m.status.set(what+": no container selected", true)
		return nil
	}
	return f(c)
}

func (m *Model) handleDialogKey(msg tea.KeyMsg) tea.Cmd {
	if msg.Type == tea.KeyCtrlC {
		return tea.Quit
	}
	a, cmd := m.dialog.handleKey(m.context(), msg)
	switch a.kind {
	case dialogKill:
		switch a.state {
		case cancelled:
			m.status.set("kill cancelled", false)
		case answered:
			return m.run("kill", a.target, a.value)
		}
	case dialogDelete:
		switch a.state {
		case cancelled:
			m.status.set("delete cancelled", false)
		case answered:
			if c := m.containers[a.target]; c != nil && needsForce(c) {
				return m.run("delete", "--force", a.target)
			}
			return m.run("delete", a.target)
		}
	case dialogCreateBundle:
		if a.state == answered {
			m.dialog.openInput(dialogCreateID, a.target, "container id: ", m.defaultID(a.value))
		}
	case dialogFilter:
		switch a.state {
		case cancelled:
			m.list.filter = ""
		case answered, edited: // filter as you type
			m.list.filter = a.value
		}
	case dialogSearch:
		if c := m.containers[a.target]; c != nil && a.state == answered {
			m.apply(m.detail.serial.setSearch(m.context(), c, a.value))
		}
	case dialogCreateID:
		if a.state == answered {
			if a.value == "" {
				m.status.set("create: the id is empty", true)
				return nil
			}
			return m.createCmd(a.target, a.value, m.dialog.startToo)
		}
	}
	return cmd
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

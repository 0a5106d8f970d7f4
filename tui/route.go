package tui

import (
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
	if m.attach != nil {
		// Attached: every key is the guest's (q and ctrl+c too), but the
		// way out.
		if key.Matches(msg, m.keys.Detach) {
			m.detach("")
			return nil
		}
		if b := keyBytes(msg); b != nil && !m.attach.send(b) {
			m.status.set("the guest's input is not keeping up: key dropped", true)
		}
		return nil
	}
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
		return m.openCreate()
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
	case key.Matches(msg, k.Debug):
		return m.onTarget("gdb", m.debug)
	case key.Matches(msg, k.Rerun):
		return m.onTarget("rerun", m.toggleRerun)
	case m.screen == screenDetail && key.Matches(msg, k.PrevRun):
		m.otherRun(m.containers[m.detail.id], -1)
		return nil
	case m.screen == screenDetail && key.Matches(msg, k.NextRun):
		m.otherRun(m.containers[m.detail.id], 1)
		return nil
	case key.Matches(msg, k.Dismiss):
		c := m.target()
		switch {
		case c == nil:
			m.status.set("dismiss: no container selected", true)
		case c.deleted.IsZero():
			m.status.set("x dismisses a deleted container; "+c.ID+" still exists (D deletes it)", true)
		default:
			m.dismiss(c)
			m.status.set("dismissed "+c.ID+" (deleted "+c.deleted.In(m.opts.Location).Format("15:04:05")+")", false)
		}
		return nil
	}
	ctx := m.context()
	if m.screen == screenDetail {
		return m.apply(m.detail.handleKey(ctx, m.containers[m.detail.id], msg, wasG))
	}
	return m.apply(m.list.handleKey(ctx, m.containers, msg))
}

// apply does what a pane asked.
func (m *Model) apply(in intent) tea.Cmd {
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
	if in.attach {
		return m.onTarget("attach", func(c *container) tea.Cmd {
			if s := c.status(); s != state.Running {
				m.status.set("attach: "+c.ID+" is "+string(s)+": only a running guest reads its console", true)
				return nil
			}
			m.status.set("attaching to "+c.ID+"'s console ...", false)
			return m.attachCmd(c)
		})
	}
	return nil
}

// onTarget runs f on the target container, or says there is none (or
// that it was deleted: only its record is left).
func (m *Model) onTarget(what string, f func(*container) tea.Cmd) tea.Cmd {
	c := m.target()
	if c == nil {
		m.status.set(what+": no container selected", true)
		return nil
	}
	if !c.deleted.IsZero() {
		m.status.set(what+": "+c.ID+" was deleted, only its record is left (x dismisses it)", true)
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
		if a.state == answered { // the id input opens when the id is chosen (applyID)
			return m.chooseID(m.dialog.request(), a.target, a.value, m.dialog.counter)
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
			return m.apply(m.detail.serial.setSearch(m.context(), c, a.value))
		}
	case dialogCreateID:
		if a.state == answered {
			if a.value == "" {
				m.status.set("create: the id is empty", true)
				return nil
			}
			return m.createCmd(a.target, a.value, m.dialog.startToo, m.dialog.gdb)
		}
	}
	return cmd
}

const noBundles = "no bundles to create from: start urunc-dev with --bundles DIR (urunc-dev bundle makes them)"

// openCreate opens the bundle picker, which says "scanning…" until the
// scan's result arrives (applyBundles).
func (m *Model) openCreate() tea.Cmd {
	if len(m.opts.Bundles) == 0 {
		m.status.set(noBundles, true)
		return nil
	}
	d := &m.dialog
	d.open(dialogCreateBundle, "")
	d.bundles, d.scanning = nil, true
	return m.scanBundles(d.request())
}

// applyBundles fills the picker with the bundles found, unless it was
// closed (or opened again) since the scan was asked for.
func (m *Model) applyBundles(msg bundlesMsg) {
	d := &m.dialog
	if d.kind != dialogCreateBundle || msg.seq != d.seq {
		return
	}
	d.scanning = false
	if len(msg.bundles) == 0 {
		d.close()
		m.status.set(noBundles, true)
		return
	}
	d.bundles = msg.bundles
	d.bundleI = min(d.bundleI, len(d.bundles)-1)
}

// applyID asks for the container id, the default one chosen, unless the
// picker was closed since enter.
func (m *Model) applyID(msg idMsg) {
	d := &m.dialog
	if d.kind != dialogCreateBundle || !d.choosing || msg.seq != d.seq {
		return
	}
	d.counter = msg.counter
	d.openInput(dialogCreateID, msg.bundle, "container id: ", msg.id)
}

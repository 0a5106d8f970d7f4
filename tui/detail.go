package tui

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// The detail view's tabs.
const (
	tabHandshake = iota
	tabSerial
	tabResources
	tabConfig
	numTabs
)

func tabName(t int) string {
	switch t {
	case tabHandshake:
		return "Handshake"
	case tabSerial:
		return "Serial"
	case tabResources:
		return "Resources"
	case tabConfig:
		return "Config"
	}
	return "?"
}

// detailPane is the detail view of one container (by id: it stays on the
// container whatever happens to the list).
type detailPane struct {
	id        string
	tab       int
	serial    serialPane
	configTop int // first line of the Config tab
}

// show switches to container id on tab (-1: the tab shown last). Another
// container's console starts at its tail; the search is kept.
func (d *detailPane) show(id string, tab int) {
	if d.id != id {
		d.serial = serialPane{follow: true, search: d.serial.search}
	}
	d.id = id
	if tab >= 0 {
		d.tab = tab
	}
}

// handleKey handles a key of the detail view; c is the container shown
// (nil: gone).
func (d *detailPane) handleKey(ctx *programContext, c *container, msg tea.KeyMsg, wasG bool) intent {
	k := ctx.Keys
	switch {
	case key.Matches(msg, k.Back):
		return intent{back: true}
	case key.Matches(msg, k.NextTab):
		d.tab = (d.tab + 1) % numTabs
		return intent{}
	case key.Matches(msg, k.PrevTab):
		d.tab = (d.tab + numTabs - 1) % numTabs
		return intent{}
	case key.Matches(msg, k.Tabs):
		d.tab = int(msg.String()[0] - '1')
		return intent{}
	}
	if c == nil {
		return intent{}
	}
	switch d.tab {
	case tabSerial:
		return d.serial.handleKey(ctx, c, msg, wasG)
	case tabConfig:
		switch {
		case key.Matches(msg, k.Up):
			d.configTop = max(0, d.configTop-1)
		case key.Matches(msg, k.Down):
			d.configTop++
		case key.Matches(msg, k.Top):
			d.configTop = 0
		}
	}
	return intent{}
}

// view renders the detail view of c (nil: gone) into height lines.
func (d *detailPane) view(ctx *programContext, c *container, height int) string {
	st := ctx.Styles
	if c == nil {
		return st.Dim.Render(d.id + " is gone")
	}
	var tabs []string
	for t := 0; t < numTabs; t++ {
		name := fmt.Sprintf(" %d %s ", t+1, tabName(t))
		if t == d.tab {
			tabs = append(tabs, st.TabActive.Render(name))
		} else {
			tabs = append(tabs, st.TabInactive.Render(name))
		}
	}
	title := st.Title.Render(c.ID) + "  " + st.status(c.status()).Render(string(c.status()))
	if !c.deleted.IsZero() {
		title += st.Dim.Render(fmt.Sprintf(" %s, kept until dismissed (x)", c.deleted.In(ctx.Location).Format("15:04:05")))
	}
	if g, h := c.guest(), c.hypervisor(); g != "" || h != "" {
		title += st.Dim.Render(fmt.Sprintf("  %s on %s", g, h))
	}
	if p := c.pid(); p > 0 {
		title += st.Dim.Render(fmt.Sprintf("  pid %d", p))
	}
	if r := c.run; r != nil {
		title += st.Accent.Render(fmt.Sprintf("  ↻ run %d of %s ([ ] other runs)", r.n, filepath.Base(r.bundle)))
	}
	// Under the tabs: how the container ended (or that its console
	// showed a failure), else how its rerun went; and the gdb command of
	// a live guest with a stub.
	var info []string
	if pm, bad := c.postMortem(); pm != "" {
		style := st.OK
		if bad {
			style = st.Error
		}
		info = append(info, style.Render(truncate(pm, ctx.Width)))
	} else if r := c.run; r != nil && r.n > 1 {
		info = append(info, st.Accent.Render(truncate(r.timing(), ctx.Width)))
	}
	if g := c.gdbLine(); g != "" {
		info = append(info, st.Warn.Render(truncate(g, ctx.Width)))
	}
	if len(info) == 0 {
		info = []string{""}
	}
	pmLine := strings.Join(info, "\n")
	bodyH := max(1, height-2-len(info))
	var body string
	switch d.tab {
	case tabHandshake:
		body = handshakeView(ctx, c, bodyH)
	case tabSerial:
		body = d.serial.view(ctx, c, bodyH)
	case tabResources:
		body = resourcesView(ctx, c)
	case tabConfig:
		lines := strings.Split(configView(ctx, c), "\n")
		d.configTop = min(d.configTop, max(0, len(lines)-bodyH))
		body = strings.Join(lines[d.configTop:], "\n")
	}
	return truncate(title, ctx.Width) + "\n" + truncate(strings.Join(tabs, " "), ctx.Width) + "\n" + pmLine + "\n" + body
}

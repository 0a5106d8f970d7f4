package tui

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/urunc-dev/urunc/runtime/state"
)

// View renders the whole screen (or returns the last one if nothing
// visible changed since).
func (m *Model) View() string {
	if !m.dirty && m.view != "" {
		return m.view
	}
	m.view, m.dirty = m.render(), false
	return m.view
}

func (m *Model) render() string {
	var b strings.Builder
	b.WriteString(m.headerView())
	b.WriteString("\n")
	var body string
	switch {
	case m.showHelp:
		body = m.styles.Title.Render("Keys") + "\n\n" + m.help.FullHelpView(m.keys.fullHelp()) +
			"\n\n" + m.styles.Dim.Render("CPU%: 100% = one core. Actions run the urunc binary as containerd would. Any key closes this help.")
	case m.dialog == dialogCreateBundle:
		body = m.createView()
	case m.mode == modeDetail && m.selected() != nil:
		body = m.detailView()
	default:
		body = m.listView()
	}
	b.WriteString(fitHeight(body, m.height-4))
	b.WriteString("\n")
	b.WriteString(m.dialogLine())
	b.WriteString("\n")
	b.WriteString(m.statusLine())
	b.WriteString("\n")
	bindings := m.keys.listHelp()
	if m.mode == modeDetail {
		bindings = m.keys.detailHelp()
	}
	b.WriteString(m.help.ShortHelpView(bindings))
	return b.String()
}

// fitHeight pads or cuts s to exactly n lines.
func fitHeight(s string, n int) string {
	if n < 1 {
		n = 1
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	for len(lines) < n {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// bodyHeight is how many lines a detail tab may use.
func (m *Model) bodyHeight() int { return max(3, m.height-7) }

func (m *Model) headerView() string {
	running := 0
	for _, c := range m.containers {
		if c.status() == "running" {
			running++
		}
	}
	h := fmt.Sprintf("urunc-dev  root %s  %d containers, %d running", m.opts.Root, len(m.containers), running)
	if m.filter != "" {
		h += fmt.Sprintf("  filter %q", m.filter)
	}
	h += "  sort " + sortNames[m.sortBy]
	return m.styles.Title.Render(h)
}

const listFormat = "%-24s %-9s %-9s %-10s %7s %8s %7s %8s  %s"

func (m *Model) listView() string {
	var b strings.Builder
	b.WriteString(m.styles.Header.Render(fmt.Sprintf(listFormat, "ID", "STATUS", "TYPE", "HYPERVISOR", "PID", "UPTIME", "CPU%", "RSS", "LAST STEP")))
	b.WriteString("\n")
	v := m.visible()
	if len(v) == 0 {
		b.WriteString(m.styles.Dim.Render("no containers under " + m.opts.Root + " (c: create one from a bundle)"))
		return b.String()
	}
	for i, c := range v {
		pid, uptime, cpu, rss := "-", "-", "-", "-"
		if c.State != nil && state.Status(c.status()).Live() {
			pid = fmt.Sprint(c.State.Pid)
			uptime = shortDuration(m.opts.Now().Sub(c.State.Created))
			if len(c.CPU) > 0 {
				cpu = fmt.Sprintf("%.1f", last(c.CPU))
				rss = fmt.Sprintf("%.0fM", last(c.RSS))
			}
		}
		step := ""
		if n := len(c.Events); n > 0 {
			e := c.Events[n-1]
			step = e.Step
			if e.Waiting != "" && state.Status(c.status()).Live() {
				step += " (waiting " + e.Waiting + ")"
			}
			if e.Error != "" {
				step += ": " + e.Error
			}
		}
		row := fmt.Sprintf(listFormat, trunc(c.ID, 24), c.status(), guestOf(c), hypervisorOf(c), pid, uptime, cpu, rss, trunc(step, max(10, m.width-90)))
		if i == m.cursor {
			row = m.styles.Selected.Render(row)
		} else {
			row = m.styles.statusStyle(c.status()).Render(row)
		}
		b.WriteString(row + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func (m *Model) detailView() string {
	c := m.selected()
	var tabs []string
	for i, name := range tabNames {
		if i == m.tab {
			tabs = append(tabs, m.styles.TabActive.Render(name))
		} else {
			tabs = append(tabs, m.styles.TabInactive.Render(name))
		}
	}
	title := m.styles.Title.Render(c.ID) + "  " + m.styles.statusStyle(c.status()).Render(c.status())
	var body string
	switch m.tab {
	case tabHandshake:
		body = m.handshakeView(c)
	case tabSerial:
		body = m.serialView(c)
	case tabResources:
		body = m.resourcesView(c)
	case tabConfig:
		body = m.configView(c)
	}
	return title + "\n" + lipgloss.JoinHorizontal(lipgloss.Top, tabs...) + "\n" + body
}

func (m *Model) handshakeView(c *container) string {
	var b strings.Builder
	var prev time.Time
	for i, e := range c.Events {
		d := ""
		if i > 0 {
			d = "+" + e.Time.Sub(prev).Round(100*time.Microsecond).String()
		}
		prev = e.Time
		line := fmt.Sprintf("%s %10s  %-16s %s", e.Time.Local().Format("15:04:05.000"), d, e.Step, e.Detail)
		if e.Error != "" {
			line = m.styles.Error.Render(line + "  error: " + e.Error)
		}
		b.WriteString(trunc(line, m.width) + "\n")
	}
	if len(c.Events) == 0 {
		b.WriteString(m.styles.Dim.Render("no journal yet") + "\n")
	}
	if what, since, timeout, ok := c.waiting(); ok {
		elapsed := m.opts.Now().Sub(since)
		line := fmt.Sprintf("waiting for %s: %s", what, shortDuration(elapsed))
		if timeout > 0 {
			line += fmt.Sprintf(" (gives up after %s)", timeout)
		}
		style := m.styles.Warn
		if exp := expectedWait(timeout, what); exp > 0 && elapsed > exp {
			style = m.styles.Error
			line += "  <- longer than expected"
		}
		b.WriteString(style.Render(line))
	}
	return tail(strings.TrimRight(b.String(), "\n"), m.bodyHeight())
}

func (m *Model) serialView(c *container) string {
	lines := c.serialLines()
	page := m.bodyHeight() - 1
	start := m.scroll
	mode := fmt.Sprintf("scrolled: line %d of %d (f or G: follow)", start+1, len(lines))
	if m.follow {
		start = max(0, len(lines)-page)
		mode = fmt.Sprintf("following the tail, %d lines (f: stop)", len(lines))
	}
	if m.search != "" {
		mode += fmt.Sprintf("  search %q (n/N)", m.search)
	}
	end := min(len(lines), start+page)
	var b strings.Builder
	b.WriteString(m.styles.Dim.Render(mode) + "\n")
	if len(lines) == 0 {
		b.WriteString(m.styles.Dim.Render("no console output yet"))
	}
	for _, l := range lines[min(start, end):end] {
		l = trunc(l, m.width)
		if m.search != "" && strings.Contains(l, m.search) {
			l = strings.ReplaceAll(l, m.search, m.styles.Match.Render(m.search))
		}
		b.WriteString(l + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func (m *Model) resourcesView(c *container) string {
	if len(c.CPU) == 0 {
		return m.styles.Dim.Render("no samples yet (sampled every second while the VMM runs)")
	}
	w := max(10, m.width-20)
	return fmt.Sprintf("CPU (100%% = one core)  now %.1f%%  max %.1f%%\n%s\n\nRSS (MiB)  now %.0f  max %.0f\n%s",
		last(c.CPU), maxOf(c.CPU), sparkline(c.CPU, w), last(c.RSS), maxOf(c.RSS), sparkline(c.RSS, w))
}

func (m *Model) configView(c *container) string {
	var b strings.Builder
	kv := func(k, v string) { fmt.Fprintf(&b, "%-14s %s\n", k, v) }
	if st := c.State; st != nil {
		kv("guest", st.Guest)
		kv("hypervisor", st.Hypervisor)
		kv("bundle", st.Bundle)
		kv("rootfs", st.Rootfs)
		kv("created", st.Created.Local().Format(time.RFC3339))
		kv("pid", fmt.Sprint(st.Pid))
	}
	if v := c.VMM; v != nil {
		kv("accel", v.Accel+" ("+v.AccelReason+")")
		kv("machine", v.Machine+" ("+v.MachineReason+")")
		kv("cpu model", v.CPU)
		kv("memory", fmt.Sprintf("%d MiB, %d vCPU", v.MemoryMB, v.VCPUs))
		kv("network", v.Network)
		kv("guest cmdline", v.GuestCmdline)
		kv("vmm argv", strings.Join(v.Argv, " "))
	} else {
		kv("vmm", "not started yet")
	}
	if c.State != nil {
		for k, v := range c.State.Annotations {
			kv("annotation", k+"="+v)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func (m *Model) createView() string {
	var b strings.Builder
	b.WriteString(m.styles.Title.Render("Create a container from a bundle") + "\n\n")
	for i, bundle := range FindBundles(m.opts.Bundles) {
		line := fmt.Sprintf("  %-20s %s", filepath.Base(bundle), bundle)
		if i == m.bundleI {
			line = m.styles.Selected.Render(line)
		}
		b.WriteString(line + "\n")
	}
	start := "off"
	if m.startToo {
		start = "on"
	}
	b.WriteString("\n" + m.styles.Dim.Render("enter: choose  tab: start after create ["+start+"]  esc: cancel"))
	return b.String()
}

func (m *Model) dialogLine() string {
	id := m.selectedID()
	switch m.dialog {
	case dialogFilter, dialogSearch, dialogCreateID:
		return m.input.View()
	case dialogKill:
		return m.styles.Warn.Render("kill " + id + " with: [t]ERM  [k]ILL  [i]NT  [h]UP  (any other key cancels)")
	case dialogDelete:
		q := "delete " + id + "? (y/N)"
		if c := m.selected(); c != nil && state.Status(c.status()).Live() {
			q = "delete " + id + " (" + c.status() + ": the VMM will be killed)? (y/N)"
		}
		return m.styles.Warn.Render(q)
	}
	return ""
}

func (m *Model) statusLine() string {
	if m.status == "" {
		return ""
	}
	s := trunc(m.status, m.width)
	if m.statusErr {
		return m.styles.Error.Render(s)
	}
	return m.styles.Status.Render(s)
}

var sparkBlocks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last width values scaled to their maximum.
func sparkline(v []float64, width int) string {
	if len(v) > width {
		v = v[len(v)-width:]
	}
	top := maxOf(v)
	var b strings.Builder
	for _, x := range v {
		i := 0
		if top > 0 {
			i = int(x / top * float64(len(sparkBlocks)-1))
		}
		b.WriteRune(sparkBlocks[min(max(i, 0), len(sparkBlocks)-1)])
	}
	return b.String()
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func trunc(s string, n int) string {
	r := []rune(s)
	if n <= 1 || len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func shortDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/urunc-dev/urunc/runtime/state"
)

// View renders the whole screen, or returns the last one if nothing
// visible changed since.
func (m *Model) View() string {
	if !m.dirty && m.frame != "" {
		return m.frame
	}
	m.frame, m.dirty = m.render(), false
	return m.frame
}

func (m *Model) render() string {
	ctx := m.context()
	h := ctx.bodyHeight()
	var body string
	switch {
	case m.showHelp:
		body = helpView(ctx)
	case m.dialog.kind == dialogCreateBundle:
		body = m.dialog.createView(ctx)
	case m.screen == screenDetail:
		body = m.detail.view(ctx, m.containers[m.detail.id], h)
	default:
		body = m.list.view(ctx, m.containers, h)
	}
	parts := []string{
		m.headerView(),
		fitScreen(body, m.width, h),
		truncate(m.dialog.line(ctx, m.containers[m.dialog.target]), m.width),
		m.statusView(),
		m.keyBar(),
	}
	return strings.Join(parts, "\n")
}

func (m *Model) headerView() string {
	counts := map[state.Status]int{}
	for _, c := range m.containers {
		counts[c.status()]++
	}
	h := fmt.Sprintf("urunc-dev  %s  %d containers", m.opts.Root, len(m.containers))
	for _, s := range []state.Status{state.Running, state.Created, state.Paused, state.Stopped} {
		if counts[s] > 0 {
			h += fmt.Sprintf(", %d %s", counts[s], s)
		}
	}
	if f := m.list.filter; f != "" {
		h += fmt.Sprintf("  filter %q", f)
	}
	return m.styles.Title.Render(truncate(h, m.width))
}

func (m *Model) statusView() string {
	s := truncate(oneLine(m.status.text), m.width)
	if m.status.isErr {
		return m.styles.StatusErr.Render(s)
	}
	return m.styles.StatusOK.Render(s)
}

func (m *Model) keyBar() string {
	var bar string
	switch {
	case m.showHelp:
		bar = "any key: close help"
	case m.dialog.kind != dialogNone:
		bar = "enter: confirm  esc: cancel"
		if m.dialog.kind == dialogKill || m.dialog.kind == dialogDelete {
			bar = "answer the question above"
		}
	case m.screen == screenDetail:
		bar = m.help.ShortHelpView(m.keys.detailBar(m.detail.tab))
	default:
		bar = m.help.ShortHelpView(m.keys.listBar())
	}
	return m.styles.Dim.Render(truncate(bar, m.width))
}

// helpView is the ? overlay: every key, and what the numbers mean.
func helpView(ctx *programContext) string {
	st := ctx.Styles
	titles := []string{"List", "Actions (selected container)", "Detail", "Serial tab"}
	var cols []string
	for i, group := range ctx.Keys.fullHelp() {
		var b strings.Builder
		b.WriteString(st.Title.Render(titles[i]) + "\n")
		for _, k := range group {
			h := k.Help()
			fmt.Fprintf(&b, "%-10s %s\n", h.Key, h.Desc)
		}
		cols = append(cols, lipgloss.NewStyle().PaddingRight(4).Render(strings.TrimRight(b.String(), "\n")))
	}
	notes := []string{
		"Kill asks for the signal (t TERM, k KILL, i INT, h HUP); delete asks y/N and uses --force on a live container.",
		"Create: pick a bundle from --bundles, edit the id (default <bundle>-N), tab toggles start after create.",
		"Actions run the urunc binary with --root, --log and --log-format json, as containerd does;",
		"a failure shows urunc's last \"level\":\"error\" log line in the status bar.",
		"CPU%: 100% = one core (sampled every second). RSS in MiB.",
		"Handshake: a wait turns red once it takes longer than its step normally does.",
		"Nothing polls the state directory: changes arrive through inotify. The mouse is not captured:",
		"select text with it as usual.",
	}
	return st.Title.Render("urunc-dev keys") + "\n\n" + lipgloss.JoinHorizontal(lipgloss.Top, cols...) +
		"\n\n" + st.Dim.Render(strings.Join(notes, "\n"))
}

// fitScreen pads or cuts s to exactly n lines of at most width cells
// (panes cut their own lines; this is the safety net for narrow terminals).
func fitScreen(s string, width, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	for i, l := range lines {
		if len(l) > width && lipgloss.Width(l) > width {
			lines[i] = truncate(l, width)
		}
	}
	for len(lines) < n {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// truncate cuts s to n cells (runes; the console's text is sanitized),
// ending with an ellipsis when cut. Styled strings are measured by
// their visible width.
func truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if strings.IndexByte(s, 0x1b) >= 0 {
		if lipgloss.Width(s) <= n {
			return s
		}
		return lipgloss.NewStyle().MaxWidth(n).Render(s)
	}
	count := 0
	for i := range s {
		if count == n-1 {
			if len([]rune(s[i:])) > 1 {
				return s[:i] + "…"
			}
			return s
		}
		count++
	}
	return s
}

// pad right- or left-aligns s in n cells.
func pad(s string, n int, right bool) string {
	w := lipgloss.Width(s)
	if w >= n {
		return s
	}
	if right {
		return strings.Repeat(" ", n-w) + s
	}
	return s + strings.Repeat(" ", n-w)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func shortDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

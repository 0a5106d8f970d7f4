package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/urunc-dev/urunc/runtime/state"
)

// column is a sortable column of the container list.
type column int

const (
	colID column = iota
	colStatus
	colType
	colHypervisor
	colPID
	colUptime
	colCPU
	colRSS
	numColumns
)

func (c column) String() string {
	switch c {
	case colID:
		return "ID"
	case colStatus:
		return "STATUS"
	case colType:
		return "TYPE"
	case colHypervisor:
		return "HYPERVISOR"
	case colPID:
		return "PID"
	case colUptime:
		return "UPTIME"
	case colCPU:
		return "CPU%"
	case colRSS:
		return "RSS"
	}
	return "?"
}

// width of the column in the list; the last column (LAST STEP) takes the rest.
func (c column) width() int {
	switch c {
	case colID:
		return 20
	case colStatus:
		return 8
	case colType:
		return 8
	case colHypervisor:
		return 10
	case colPID:
		return 7
	case colUptime:
		return 7
	case colCPU:
		return 6
	case colRSS:
		return 6
	}
	return 0
}

// rightAligned: numbers line up on the right.
func (c column) rightAligned() bool { return c >= colPID }

// listPane is the container list: selection (by id, so it stays on the
// same container while the list re-sorts under it), scroll, filter, sort.
type listPane struct {
	selected string
	offset   int
	filter   string
	sortBy   column
}

// rows returns the filtered, sorted containers.
func (l *listPane) rows(cs map[string]*container) []*container {
	f := strings.ToLower(l.filter)
	var out []*container
	for _, c := range cs {
		if f != "" && !strings.Contains(strings.ToLower(strings.Join([]string{c.ID, string(c.status()), c.guest(), c.hypervisor()}, " ")), f) {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if less, decided := compare(out[i], out[j], l.sortBy); decided {
			return less
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// compare orders two containers by column; decided is false on a tie.
func compare(a, b *container, col column) (less, decided bool) {
	cmpStr := func(x, y string) (bool, bool) { return x < y, x != y }
	cmpNum := func(x, y float64, desc bool) (bool, bool) {
		if desc {
			return x > y, x != y
		}
		return x < y, x != y
	}
	switch col {
	case colStatus:
		return cmpNum(float64(statusRank(a.status())), float64(statusRank(b.status())), false)
	case colType:
		return cmpStr(a.guest(), b.guest())
	case colHypervisor:
		return cmpStr(a.hypervisor(), b.hypervisor())
	case colPID:
		return cmpNum(float64(a.pid()), float64(b.pid()), false)
	case colUptime: // longest running first; not running last
		ua, ub := a.created(), b.created()
		if !a.live() {
			ua = time.Time{}
		}
		if !b.live() {
			ub = time.Time{}
		}
		if ua.IsZero() != ub.IsZero() {
			return ub.IsZero(), true
		}
		return ua.Before(ub), !ua.Equal(ub)
	case colCPU:
		return cmpNum(lastSample(a.CPU, a.live()), lastSample(b.CPU, b.live()), true)
	case colRSS:
		return cmpNum(lastSample(a.RSS, a.live()), lastSample(b.RSS, b.live()), true)
	}
	return cmpStr(a.ID, b.ID)
}

// statusRank orders statuses along the lifecycle.
func statusRank(s state.Status) int {
	switch s {
	case state.Creating:
		return 0
	case state.Created:
		return 1
	case state.Running:
		return 2
	case state.Paused:
		return 3
	case state.Stopped:
		return 4
	}
	return 5
}

func lastSample(s []float64, live bool) float64 {
	if len(s) == 0 || !live {
		return -1
	}
	return s[len(s)-1]
}

// cursor returns the index of the selection in rows, fixing the
// selection if its container is gone or filtered out.
func (l *listPane) cursor(rows []*container) int {
	for i, c := range rows {
		if c.ID == l.selected {
			return i
		}
	}
	if len(rows) == 0 {
		return -1
	}
	l.selected = rows[0].ID
	return 0
}

func (l *listPane) selectedContainer(cs map[string]*container) *container {
	rows := l.rows(cs)
	if i := l.cursor(rows); i >= 0 {
		return rows[i]
	}
	return nil
}

func (l *listPane) move(cs map[string]*container, delta int) {
	rows := l.rows(cs)
	i := l.cursor(rows)
	if i < 0 {
		return
	}
	i = min(max(0, i+delta), len(rows)-1)
	l.selected = rows[i].ID
}

func (l *listPane) handleKey(ctx *programContext, cs map[string]*container, msg tea.KeyMsg) intent {
	k := ctx.Keys
	switch {
	case key.Matches(msg, k.Up):
		l.move(cs, -1)
	case key.Matches(msg, k.Down):
		l.move(cs, 1)
	case key.Matches(msg, k.PageUp):
		l.move(cs, -ctx.bodyHeight())
	case key.Matches(msg, k.PageDown):
		l.move(cs, ctx.bodyHeight())
	case key.Matches(msg, k.Top):
		l.move(cs, -1<<30)
	case key.Matches(msg, k.Bottom):
		l.move(cs, 1<<30)
	case key.Matches(msg, k.Enter):
		if c := l.selectedContainer(cs); c != nil {
			return openTab(c.ID, -1)
		}
	case key.Matches(msg, k.Tabs):
		if c := l.selectedContainer(cs); c != nil {
			return openTab(c.ID, int(msg.String()[0]-'1'))
		}
	case key.Matches(msg, k.Filter):
		return intent{ask: &inputRequest{kind: dialogFilter, prompt: "filter: ", value: l.filter}}
	case key.Matches(msg, k.Sort):
		l.sortBy = (l.sortBy + 1) % numColumns
		return say("sorted by " + l.sortBy.String())
	case key.Matches(msg, k.Back):
		if l.filter != "" {
			l.filter = ""
			return say("filter cleared")
		}
	}
	return intent{}
}

// view renders the list into height lines.
func (l *listPane) view(ctx *programContext, cs map[string]*container, height int) string {
	st := ctx.Styles
	var b strings.Builder
	var head []string
	for c := colID; c < numColumns; c++ {
		name := c.String()
		if c == l.sortBy {
			name += "↓"
		}
		head = append(head, pad(name, c.width(), c.rightAligned()))
	}
	head = append(head, "LAST STEP")
	b.WriteString(st.Header.Render(truncate("  "+strings.Join(head, " "), ctx.Width)))
	rows := l.rows(cs)
	if len(rows) == 0 {
		b.WriteString("\n")
		if l.filter != "" {
			b.WriteString(st.Dim.Render(fmt.Sprintf("no container matches %q (esc clears the filter)", l.filter)))
		} else {
			b.WriteString(st.Dim.Render("no containers under " + ctx.Root + " (c: create one from a bundle)"))
		}
		return b.String()
	}
	cur := l.cursor(rows)
	page := max(1, height-1)
	if cur < l.offset {
		l.offset = cur
	}
	if cur >= l.offset+page {
		l.offset = cur - page + 1
	}
	l.offset = min(l.offset, max(0, len(rows)-page))
	now := ctx.Now
	for i := l.offset; i < len(rows) && i < l.offset+page; i++ {
		c := rows[i]
		// The selection is in reverse video and marked with ">", which
		// survives a terminal without attributes (or a screen capture).
		if i == cur {
			row := truncate("> "+l.row(c, now), ctx.Width)
			row = st.Selected.Render(pad(row, ctx.Width, false))
			b.WriteString("\n" + row)
			continue
		}
		b.WriteString("\n" + st.status(c.status()).Render(truncate("  "+l.row(c, now), ctx.Width)))
	}
	return b.String()
}

func (l *listPane) row(c *container, now time.Time) string {
	cells := make([]string, 0, numColumns+1)
	val := func(col column) string {
		switch col {
		case colID:
			return c.ID
		case colStatus:
			if s := c.status(); s != "" {
				return string(s)
			}
			return "?"
		case colType:
			return c.guest()
		case colHypervisor:
			return c.hypervisor()
		case colPID:
			if p := c.pid(); p > 0 {
				return fmt.Sprint(p)
			}
		case colUptime:
			if c.live() && !c.created().IsZero() {
				return shortDuration(now.Sub(c.created()))
			}
		case colCPU:
			if v := lastSample(c.CPU, c.live()); v >= 0 {
				return fmt.Sprintf("%.1f", v)
			}
		case colRSS:
			if v := lastSample(c.RSS, c.live()); v >= 0 {
				return fmt.Sprintf("%.0fM", v)
			}
		}
		return "-"
	}
	for col := colID; col < numColumns; col++ {
		cells = append(cells, pad(truncate(val(col), col.width()), col.width(), col.rightAligned()))
	}
	cells = append(cells, lastStep(c, now))
	return strings.Join(cells, " ")
}

// lastStep summarises the journal: its last step, what is awaited and for
// how long, or the error that stopped it.
func lastStep(c *container, now time.Time) string {
	if len(c.Events) == 0 {
		return ""
	}
	e := c.Events[len(c.Events)-1]
	s := e.Step
	if e.Error != "" {
		s += ": " + e.Error
	}
	switch e.Step {
	case state.StepStopped, state.StepFailed, state.StepDelete:
	default:
		if c.status() == state.Stopped {
			s += ", then the VMM exited"
		}
	}
	if ws := c.waits(); len(ws) > 0 {
		// What runs (a hook) explains the other waits: show it first.
		w := ws[len(ws)-1]
		for _, r := range ws {
			if r.Running {
				w = r
			}
		}
		if w.Running {
			s += fmt.Sprintf(" (%s running %s)", w.What, shortDuration(now.Sub(w.Since)))
		} else {
			s += fmt.Sprintf(" (waiting %s %s)", w.What, shortDuration(now.Sub(w.Since)))
		}
	}
	return s
}

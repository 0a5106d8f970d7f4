package tui

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// serialPane is the Serial tab: the guest console, following the tail or
// scrolled, with a search. Positions are absolute line numbers of the
// container's lineRing, so a scrolled view stays on its text while the
// guest keeps printing.
type serialPane struct {
	// attached: keys go to the guest, through this (in words); the root
	// sets it, the pane only shows it.
	attached string
	follow   bool
	top      int // first line shown when not following
	search   string
	hit      int // line of the current match; -1: none
}

func (p *serialPane) handleKey(ctx *programContext, c *container, msg tea.KeyMsg, wasG bool) intent {
	k := ctx.Keys
	page := ctx.serialPage()
	switch {
	case key.Matches(msg, k.Follow):
		if p.follow {
			p.follow, p.top = false, p.clampTop(c, c.serial.end()-page, page)
		} else {
			p.follow = true
		}
	case msg.String() == "g":
		if !wasG {
			return intent{pendingG: true}
		}
		p.follow, p.top = false, c.serial.first()
	case key.Matches(msg, k.Top): // home
		p.follow, p.top = false, c.serial.first()
	case key.Matches(msg, k.Bottom):
		p.follow = true
	case key.Matches(msg, k.PageUp):
		p.scroll(c, -page, page)
	case key.Matches(msg, k.PageDown):
		p.scroll(c, page, page)
	case key.Matches(msg, k.Up):
		p.scroll(c, -1, page)
	case key.Matches(msg, k.Down):
		p.scroll(c, 1, page)
	case key.Matches(msg, k.Search):
		return intent{ask: &inputRequest{kind: dialogSearch, target: c.key, prompt: "search: ", value: p.search}}
	case key.Matches(msg, k.Attach):
		return intent{attach: true}
	case key.Matches(msg, k.NextHit):
		return p.jump(ctx, c, 1)
	case key.Matches(msg, k.PrevHit):
		return p.jump(ctx, c, -1)
	}
	return intent{}
}

// visibleTop is the first line on screen.
func (p *serialPane) visibleTop(c *container, page int) int {
	if p.follow {
		return max(c.serial.first(), c.serial.end()-page)
	}
	return p.clampTop(c, p.top, page)
}

func (p *serialPane) clampTop(c *container, top, page int) int {
	return max(c.serial.first(), min(top, c.serial.end()-page))
}

// scroll moves by n lines; scrolling down to the tail follows again.
func (p *serialPane) scroll(c *container, n, page int) {
	top := p.visibleTop(c, page) + n
	p.follow = false
	p.top = p.clampTop(c, top, page)
	if n > 0 && top >= c.serial.end()-page {
		p.follow = true
	}
}

// setSearch starts a search: the newest match at or above the bottom of
// the screen becomes current.
func (p *serialPane) setSearch(ctx *programContext, c *container, s string) intent {
	p.search, p.hit = s, -1
	if s == "" {
		return intent{}
	}
	page := ctx.serialPage()
	from := min(p.visibleTop(c, page)+page, c.serial.end())
	p.hit = from
	return p.jump(ctx, c, -1)
}

// jump moves to the next (dir 1, newer) or previous (-1, older) line
// matching the search, wrapping around, and scrolls it to mid-screen.
func (p *serialPane) jump(ctx *programContext, c *container, dir int) intent {
	if p.search == "" {
		return sayErr("no search: / searches the console")
	}
	first, end := c.serial.first(), c.serial.end()
	n := end - first
	if n == 0 {
		return intent{}
	}
	page := ctx.serialPage()
	start := p.hit
	if start < first || start >= end {
		if dir > 0 {
			start = first - 1
		} else {
			start = end
		}
	}
	ci := caseInsensitive(p.search)
	for i := 1; i <= n; i++ {
		j := first + ((start-first+dir*i)%n+n)%n
		if len(matchIndexes(c.serial.line(j), p.search, ci)) > 0 {
			p.hit, p.follow = j, false
			p.top = p.clampTop(c, j-page/2, page)
			return say(fmt.Sprintf("match at line %d of %d (n: next, N: previous)", j-first+1, n))
		}
	}
	p.hit = -1
	return sayErr(fmt.Sprintf("no match for %q in the last %d lines", p.search, n))
}

func (p *serialPane) view(ctx *programContext, c *container, height int) string {
	st := ctx.Styles
	page := max(1, height-1)
	top := p.visibleTop(c, page)
	first, end := c.serial.first(), c.serial.end()
	var mode string
	kept := end - first
	switch {
	case kept == 0:
		mode = "no console output yet (serial.log)"
	case p.follow:
		mode = fmt.Sprintf("following the tail: %d lines (f: stop, / search)", kept)
	default:
		mode = fmt.Sprintf("lines %d-%d of %d (f or G: follow, gg: top)", top-first+1, min(end, top+page)-first, kept)
	}
	if c.serialSkipped || first > 0 {
		mode += "; older output is only in serial.log"
	}
	if p.search != "" {
		mode += fmt.Sprintf("  search %q (n/N)", p.search)
	}
	var b strings.Builder
	if p.attached != "" {
		b.WriteString(st.Attached.Render(truncate(fmt.Sprintf(" ATTACHED via %s: every key goes to the guest, ctrl+] detaches ", p.attached), ctx.Width)))
	} else {
		b.WriteString(st.Dim.Render(truncate(mode, ctx.Width)))
	}
	ci := caseInsensitive(p.search)
	for i := top; i < end && i < top+page; i++ {
		line := truncate(c.serial.line(i), ctx.Width)
		if p.search != "" {
			style := st.Match
			if i == p.hit {
				style = st.CurMatch
			}
			line = highlight(line, matchIndexes(line, p.search, ci), len(p.search), style.Render)
		}
		b.WriteString("\n" + line)
	}
	return b.String()
}

// caseInsensitive: smart case, as in less and vim: a search in lower case
// ignores case, one with a capital letter does not.
func caseInsensitive(s string) bool {
	for _, r := range s {
		if unicode.IsUpper(r) {
			return false
		}
	}
	return true
}

// matchIndexes returns the byte offsets of the non-overlapping matches of
// s in line.
func matchIndexes(line, s string, ci bool) []int {
	if s == "" {
		return nil
	}
	hay := line
	if ci {
		hay = strings.ToLower(line)
		if len(hay) != len(line) { // a rune changed size: no safe offsets
			hay = line
		}
	}
	var out []int
	for off := 0; ; {
		i := strings.Index(hay[off:], s)
		if i < 0 {
			return out
		}
		out = append(out, off+i)
		off += i + len(s)
	}
}

// highlight renders the matches at idx (each n bytes long) with render.
func highlight(line string, idx []int, n int, render func(...string) string) string {
	if len(idx) == 0 {
		return line
	}
	var b strings.Builder
	prev := 0
	for _, i := range idx {
		b.WriteString(line[prev:i])
		b.WriteString(render(line[i : i+n]))
		prev = i + n
	}
	b.WriteString(line[prev:])
	return b.String()
}

package tui

import (
	"strings"
	"unicode/utf8"
)

// lineRing keeps the last lines of a guest console: a fixed-size ring,
// so appending is O(1) however long the guest has been printing and
// however big serial.log is. Lines are numbered from the first line ever
// written (absolute numbers), so a position kept by the serial pane stays
// on the same text while old lines fall out of the ring.
type lineRing struct {
	buf     []string
	start   int // index in buf of the oldest line
	n       int // lines held
	dropped int // lines that fell out (absolute number of the oldest line)
	partial []byte
	maxLine int
}

func newLineRing(capacity, maxLine int) *lineRing {
	return &lineRing{buf: make([]string, capacity), maxLine: maxLine}
}

// first is the absolute number of the oldest line held; end is one past
// the newest (the unfinished last line included).
func (r *lineRing) first() int { return r.dropped }
func (r *lineRing) end() int {
	if len(r.partial) > 0 {
		return r.dropped + r.n + 1
	}
	return r.dropped + r.n
}

// complete is one past the newest complete line (the unfinished last
// line excluded).
func (r *lineRing) complete() int { return r.dropped + r.n }

// line returns line number abs (absolute); "" outside [first, end).
func (r *lineRing) line(abs int) string {
	i := abs - r.dropped
	switch {
	case i < 0 || i > r.n:
		return ""
	case i == r.n:
		return sanitize(r.partial, r.maxLine)
	}
	return r.buf[(r.start+i)%len(r.buf)]
}

func (r *lineRing) push(s string) {
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = s
		r.n++
		return
	}
	r.buf[r.start] = s
	r.start = (r.start + 1) % len(r.buf)
	r.dropped++
}

// write appends console bytes: complete lines go into the ring, the
// unfinished last one waits (bounded: an endless line is cut).
func (r *lineRing) write(b []byte) {
	for len(b) > 0 {
		i := indexNL(b)
		if i < 0 {
			r.partial = append(r.partial, b...)
			if len(r.partial) > 4*r.maxLine {
				r.push(sanitize(r.partial, r.maxLine))
				r.partial = r.partial[:0]
			}
			return
		}
		if len(r.partial) > 0 {
			r.partial = append(r.partial, b[:i]...)
			r.push(sanitize(r.partial, r.maxLine))
			r.partial = r.partial[:0]
		} else {
			r.push(sanitize(b[:i], r.maxLine))
		}
		b = b[i+1:]
	}
}

// reset forgets everything but keeps the numbering going, so positions
// taken before stay past the new content.
func (r *lineRing) reset() {
	r.dropped += r.n
	if len(r.partial) > 0 {
		r.dropped++
	}
	r.start, r.n, r.partial = 0, 0, r.partial[:0]
}

func indexNL(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// sanitize makes console bytes safe to draw: escape sequences and control
// characters removed (a guest's colours must not repaint the console),
// tabs expanded, invalid UTF-8 replaced, at most limit runes.
func sanitize(b []byte, limit int) string {
	var sb strings.Builder
	sb.Grow(min(len(b), limit))
	col := 0
	for i := 0; i < len(b) && col < limit; {
		c := b[i]
		switch {
		case c == 0x1b: // ESC: skip a CSI/OSC sequence or the one next byte
			i = skipEscape(b, i)
			continue
		case c == '\t':
			for n := 4 - col%4; n > 0 && col < limit; n-- {
				sb.WriteByte(' ')
				col++
			}
		case c < 0x20 || c == 0x7f:
			// \r, bells, backspaces... dropped
		case c < utf8.RuneSelf:
			sb.WriteByte(c)
			col++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				r = '?'
			}
			if r >= 0x80 && r < 0xa0 { // C1 controls
				i += size
				continue
			}
			sb.WriteRune(r)
			col++
			i += size
			continue
		}
		i++
	}
	return sb.String()
}

// skipEscape returns the index after the escape sequence starting at b[i].
func skipEscape(b []byte, i int) int {
	i++
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '[': // CSI: parameters then a final byte in 0x40-0x7e
		for i++; i < len(b); i++ {
			if b[i] >= 0x40 && b[i] <= 0x7e {
				return i + 1
			}
		}
		return i
	case ']': // OSC: up to BEL or ST
		for i++; i < len(b); i++ {
			if b[i] == 0x07 {
				return i + 1
			}
			if b[i] == 0x1b && i+1 < len(b) && b[i+1] == '\\' {
				return i + 2
			}
		}
		return i
	}
	return i + 1
}

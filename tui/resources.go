package tui

import (
	"fmt"
	"strings"
	"time"
)

// resourcesView is the Resources tab: CPU and RSS sparklines of the VMM,
// one sample per SampleEvery, newest on the right.
func resourcesView(ctx *programContext, c *container) string {
	st := ctx.Styles
	if len(c.CPU) == 0 {
		if !c.live() {
			return st.Dim.Render("the VMM is not running: nothing to sample")
		}
		return st.Dim.Render(fmt.Sprintf("no samples yet (pid %d is sampled every %s)", c.pid(), ctx.SampleEvery))
	}
	w := max(10, ctx.Width-2)
	span := time.Duration(min(len(c.CPU), w)) * ctx.SampleEvery
	var b strings.Builder
	fmt.Fprintf(&b, "%s   now %.1f%%  avg %.1f%%  max %.1f%%\n", st.Header.Render("CPU (100% = one core)"),
		lastOf(c.CPU), avgOf(c.CPU), maxOf(c.CPU))
	b.WriteString(st.OK.Render(sparkline(c.CPU, w, 0, max(100, maxOf(c.CPU)))) + "\n")
	b.WriteString(st.Dim.Render(fmt.Sprintf("scale 0-%.0f%%, last %s, one sample every %s", max(100, maxOf(c.CPU)), shortDuration(span), ctx.SampleEvery)) + "\n\n")
	fmt.Fprintf(&b, "%s   now %.1f  avg %.1f  max %.1f\n", st.Header.Render("RSS (MiB)"), lastOf(c.RSS), avgOf(c.RSS), maxOf(c.RSS))
	lo, hi := rssScale(c.RSS)
	b.WriteString(st.Accent.Render(sparkline(c.RSS, w, lo, hi)) + "\n")
	b.WriteString(st.Dim.Render(fmt.Sprintf("scale %.1f-%.1f MiB", lo, hi)))
	if line := cgroupLine(ctx, c); line != "" {
		b.WriteString("\n\n" + line)
	}
	if !c.live() {
		b.WriteString("\n\n" + st.Dim.Render("the VMM has stopped: samples up to its end"))
	}
	return b.String()
}

// sparkline draws the last width values on the scale lo-hi (CPU: 0-100%
// unless it uses more than one core; RSS: around its range, so that a
// leak shows).
func sparkline(v []float64, width int, lo, hi float64) string {
	blocks := []rune("▁▂▃▄▅▆▇█")
	if len(v) > width {
		v = v[len(v)-width:]
	}
	var b strings.Builder
	for _, x := range v {
		i := 0
		if hi > lo {
			i = int((x - lo) / (hi - lo) * float64(len(blocks)-1))
		}
		b.WriteRune(blocks[min(max(i, 0), len(blocks)-1)])
	}
	return b.String()
}

// rssScale is the memory graph's range: from a bit under the minimum to
// the maximum, at least 2 MiB wide.
func rssScale(v []float64) (lo, hi float64) {
	lo, hi = v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	if hi-lo < 1 { // flat: draw it mid-height
		mid := (lo + hi) / 2
		return max(0, mid-1), mid + 1
	}
	return max(0, lo-(hi-lo)*0.1), hi
}

func lastOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return v[len(v)-1]
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func avgOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// cgroupLine says how much of its cgroup's memory limit the VM (VMM +
// guest) uses: near the limit, the kernel OOM-kills the VMM.
func cgroupLine(ctx *programContext, c *container) string {
	st := ctx.Styles
	switch {
	case c.cgroupErr != nil:
		return st.Dim.Render("cgroup: " + c.cgroupErr.Error())
	case c.cgroupMem == nil:
		return ""
	}
	mem := *c.cgroupMem
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	line := fmt.Sprintf("%s   %.1f MiB, peak %.1f MiB", st.Header.Render("cgroup memory (VMM + guest)"), mib(mem.Usage), mib(mem.MaxUsage))
	if mem.Limit == 0 {
		return line + st.Dim.Render("  (no limit)")
	}
	line += fmt.Sprintf(" of %.0f MiB limit (%.0f%%)", mib(mem.Limit), 100*float64(mem.Usage)/float64(mem.Limit))
	if mem.Failcnt > 0 {
		line += "  " + st.Error.Render(fmt.Sprintf("limit hit %d times", mem.Failcnt))
	}
	return line
}

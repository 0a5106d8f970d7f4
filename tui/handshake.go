package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/urunc-dev/urunc/runtime/state"
)

// handshakeView is the Handshake tab: every journal step with its time,
// the time since the previous step and its writer, a summary of how long
// create and start took, and what the container is waiting for now with
// a live counter that turns red past the step's expected time.
func handshakeView(ctx *programContext, c *container, height int) string {
	st := ctx.Styles
	now := ctx.Now
	var lines []string
	if sum := phaseSummary(c.Events); sum != "" {
		lines = append(lines, st.Dim.Render(sum), "")
	}
	lines = append(lines, st.Header.Render(fmt.Sprintf("%-12s %9s  %-16s %7s  %s", "TIME", "+PREV", "STEP", "PID", "DETAIL")))
	var steps []string
	for i, e := range c.Events {
		delta := ""
		if i > 0 {
			delta = "+" + stepDuration(e.Time.Sub(c.Events[i-1].Time))
		}
		detail := e.Detail
		if e.Running && detail == "" {
			detail = "runs the " + e.Waiting
		}
		if e.Waiting != "" && !e.Running { // a running step's detail says what runs
			if detail != "" {
				detail += "; "
			}
			detail += "then waits for " + e.Waiting
		}
		line := truncate(fmt.Sprintf("%-12s %9s  %-16s %7d  %s", e.Time.In(ctx.Location).Format("15:04:05.000"), delta, e.Step, e.PID, detail), ctx.Width)
		if e.Error != "" || e.Step == state.StepFailed {
			line = st.Error.Render(truncate(line+"  error: "+e.Error, ctx.Width))
		}
		steps = append(steps, line)
	}
	if len(c.Events) == 0 {
		steps = append(steps, st.Dim.Render("no journal yet (events.jsonl)"))
	}
	var footer []string
	for _, w := range c.waits() {
		footer = append(footer, waitLine(ctx, w, now))
	}
	if c.status() == state.Stopped && len(c.Events) > 0 {
		if last := c.Events[len(c.Events)-1]; last.Error != "" {
			footer = append(footer, st.Error.Render(truncate("stopped: "+last.Error, ctx.Width)))
		}
	}
	if len(footer) > 0 {
		footer = append([]string{""}, footer...)
	}
	// The newest steps and the waits always fit; older steps scroll off.
	room := height - len(lines) - len(footer)
	if room < len(steps) && room > 1 {
		steps = append([]string{st.Dim.Render(fmt.Sprintf("… %d earlier steps", len(steps)-room+1))}, steps[len(steps)-room+1:]...)
	}
	lines = append(lines, steps...)
	return strings.Join(append(lines, footer...), "\n")
}

// waitLine renders one wait: "waiting for BOOTED  3.2s  (expected < 2s,
// gives up after 10s)", highlighted once past the expected time; work a
// process runs itself as "createRuntime hook /bin/sleep  running 12.3s
// (limit 30.0s)"; a wait that follows the other side's announced work
// says so and has no expectation of its own.
func waitLine(ctx *programContext, w wait, now time.Time) string {
	st := ctx.Styles
	elapsed := now.Sub(w.Since)
	if w.Running {
		line := fmt.Sprintf("%s  running %s  (limit %s)", w.What, stepDuration(elapsed), stepDuration(w.Timeout))
		if w.Timeout > 0 && elapsed > w.Timeout {
			return st.Error.Render(truncate(line+"  <- past its limit: it should have been stopped", ctx.Width))
		}
		return st.Accent.Render(truncate(line, ctx.Width))
	}
	line := fmt.Sprintf("waiting for %s  %s", w.What, stepDuration(elapsed))
	exp := w.expected()
	var notes []string
	if w.After != "" {
		notes = append(notes, w.After)
	}
	if exp > 0 {
		notes = append(notes, "expected < "+stepDuration(exp))
	}
	if w.Timeout > 0 {
		notes = append(notes, "gives up after "+stepDuration(w.Timeout))
	} else {
		notes = append(notes, "no time limit")
	}
	if w.What == "START" {
		notes = append(notes, "S starts it")
	}
	line += "  (" + strings.Join(notes, ", ") + ")"
	switch {
	case w.Timeout > 0 && elapsed > w.Timeout:
		return st.Error.Render(truncate(line+"  <- past its timeout: the waiter should have failed", ctx.Width))
	case exp > 0 && elapsed > exp:
		return st.Error.Render(truncate(line+"  <- longer than expected", ctx.Width))
	case exp == 0:
		return st.Accent.Render(truncate(line, ctx.Width))
	}
	return st.Warn.Render(truncate(line, ctx.Width))
}

// phaseSummary says how long create and start took, from the journal.
func phaseSummary(evs []state.Event) string {
	var parts []string
	if d, ok := span(evs, state.StepCreate, state.StepCreated); ok {
		parts = append(parts, "create "+stepDuration(d))
	}
	if d, ok := span(evs, state.StepStart, state.StepRunning); ok {
		parts = append(parts, "start "+stepDuration(d))
	}
	if d, ok := span(evs, state.StepVMMExec, state.StepRunning); ok {
		parts = append(parts, "VMM exec to running "+stepDuration(d))
	}
	if len(parts) == 0 {
		return ""
	}
	return "took: " + strings.Join(parts, ", ")
}

// span is the time from the last `from` step to the first `to` after it.
func span(evs []state.Event, from, to string) (time.Duration, bool) {
	start := -1
	for i, e := range evs {
		if e.Step == from {
			start = i
		}
	}
	if start < 0 {
		return 0, false
	}
	for _, e := range evs[start+1:] {
		if e.Step == to {
			return e.Time.Sub(evs[start].Time), true
		}
	}
	return 0, false
}

// stepDuration prints durations as a developer reads them: 850µs, 12ms,
// 1.25s, 2m05s.
func stepDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return shortDuration(d)
}

package tui

import (
	"bytes"
	"strings"
	"time"

	"github.com/urunc-dev/urunc/runtime/state"
)

// maxSerialLines bounds the guest console kept in memory per container:
// a huge serial.log costs no more than this.
const maxSerialLines = 5000

// maxSamples is the length of the resource history (one per second).
const maxSamples = 120

// container is what the console knows about one container.
type container struct {
	ID      string
	State   *state.State
	Events  []state.Event
	VMM     *state.VMMInfo
	serial  []string // complete lines, oldest first, at most maxSerialLines
	partial string   // the unfinished last line
	CPU     []float64
	RSS     []float64 // MiB
}

// status is the container's current status ("" while unknown).
func (c *container) status() string {
	if c.State == nil {
		return ""
	}
	return string(c.State.Status)
}

// appendSerial adds console bytes; reset replaces what was there.
func (c *container) appendSerial(b []byte, reset bool) {
	if reset {
		c.serial, c.partial = nil, ""
	}
	text := c.partial + string(bytes.ReplaceAll(b, []byte("\r"), nil))
	lines := strings.Split(text, "\n")
	c.partial = lines[len(lines)-1]
	c.serial = append(c.serial, lines[:len(lines)-1]...)
	if over := len(c.serial) - maxSerialLines; over > 0 {
		c.serial = append([]string(nil), c.serial[over:]...)
	}
}

// serialLines returns the console, the unfinished line included.
func (c *container) serialLines() []string {
	if c.partial == "" {
		return c.serial
	}
	return append(c.serial[:len(c.serial):len(c.serial)], c.partial)
}

func (c *container) addSample(cpu, rssMiB float64) {
	c.CPU = appendBounded(c.CPU, cpu)
	c.RSS = appendBounded(c.RSS, rssMiB)
}

func appendBounded(s []float64, v float64) []float64 {
	s = append(s, v)
	if len(s) > maxSamples {
		s = s[len(s)-maxSamples:]
	}
	return s
}

// waiting returns what the handshake waits for now and since when, from
// the journal's last line.
func (c *container) waiting() (what string, since time.Time, timeout time.Duration, ok bool) {
	if len(c.Events) == 0 {
		return "", time.Time{}, 0, false
	}
	last := c.Events[len(c.Events)-1]
	if last.Waiting == "" {
		return "", time.Time{}, 0, false
	}
	// A stopped container waits for nothing any more.
	if s := c.status(); s == "stopped" {
		return "", time.Time{}, 0, false
	}
	return last.Waiting, last.Time, time.Duration(last.TimeoutMS) * time.Millisecond, true
}

// expectedWait is how long a wait may take before the console flags it:
// the journal's timeout, or a second for steps without one.
func expectedWait(timeout time.Duration, what string) time.Duration {
	switch {
	case what == "START":
		return 0 // a created container may wait for start indefinitely
	case timeout > 0:
		return timeout / 2
	}
	return time.Second
}

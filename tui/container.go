package tui

import (
	"time"

	"github.com/urunc-dev/urunc/runtime/cgroups"
	"github.com/urunc-dev/urunc/runtime/state"
)

// Bounds of what the console keeps per container, whatever the size of
// the files on disk.
const (
	serialRingLines = 10000 // guest console lines
	serialMaxLine   = 2000  // runes per console line
	maxSamples      = 300   // resource samples, one per second: 5 minutes
)

// container is what the console knows about one container. It is only
// touched by the Bubble Tea goroutine (Update).
type container struct {
	ID     string
	State  *state.State
	VMM    *state.VMMInfo
	Events []state.Event
	serial *lineRing
	// serialSkipped: the watcher skipped part of serial.log (a huge log is
	// read from its last MiB; a truncated one starts over).
	serialSkipped bool
	CPU           []float64 // % (100 = one core)
	RSS           []float64 // MiB
	// cgroupMem is the last read of the container's cgroup memory (nil:
	// not read yet), cgroupErr why it could not be read.
	cgroupMem *cgroups.MemoryUse
	cgroupErr error
}

func newContainer(id string) *container {
	return &container{ID: id, serial: newLineRing(serialRingLines, serialMaxLine)}
}

// status is the container's current status ("" while state.json is
// unreadable or not written yet).
func (c *container) status() state.Status {
	if c.State == nil {
		return ""
	}
	return state.Status(c.State.Status)
}

func (c *container) live() bool { return c.status().Live() }

// needsForce: delete must kill the container first (--force).
func needsForce(c *container) bool { return c.live() || c.status() == state.Creating }

func (c *container) guest() string {
	switch {
	case c.State != nil && c.State.Guest != "":
		return c.State.Guest
	case c.VMM != nil:
		return c.VMM.Guest
	}
	return ""
}

func (c *container) hypervisor() string {
	switch {
	case c.State != nil && c.State.Hypervisor != "":
		return c.State.Hypervisor
	case c.VMM != nil:
		return c.VMM.Hypervisor
	}
	return ""
}

func (c *container) pid() int {
	if c.State == nil || !c.live() {
		return 0
	}
	return c.State.Pid
}

func (c *container) created() time.Time {
	if c.State == nil {
		return time.Time{}
	}
	return c.State.Created
}

func (c *container) addSample(cpu, rssMiB float64) {
	c.CPU = appendBounded(c.CPU, cpu)
	c.RSS = appendBounded(c.RSS, rssMiB)
}

func appendBounded(s []float64, v float64) []float64 {
	if len(s) >= maxSamples {
		copy(s, s[1:])
		s = s[:len(s)-1]
	}
	return append(s, v)
}

// wait is something the handshake is waiting for, from the journal.
type wait struct {
	What    string        // "BOOTED", "ACK", "START", "createRuntime hook /bin/sleep", ...
	Step    string        // the step that started waiting
	PID     int           // the waiting process
	Since   time.Time     // when it started
	Timeout time.Duration // how long it waits at most (0: no limit)
	// Running: What is work the process runs itself (a hook, storage),
	// Timeout its limit.
	Running bool
	// After: what the other side announced it runs (a progress line's
	// detail); the wait follows it, Timeout includes its limit.
	After string
}

// waits returns what the container is waiting for now, oldest first. A
// line with "waiting" opens a wait of its writer; the writer's next line
// closes it (the parent waiting for BOOTED writes booted-received, the
// child waiting for ACK writes acked, start waiting for the child writes
// running; without pids, every line closes the waits before it). A
// stopped, failed or deleted container waits for nothing.
func (c *container) waits() []wait {
	if c.State != nil && !c.live() && c.status() != state.Creating {
		return nil
	}
	var open []wait
	for _, e := range c.Events {
		switch e.Step {
		case state.StepStopped, state.StepFailed, state.StepDelete:
			return nil
		}
		kept := open[:0]
		for _, w := range open {
			if w.PID != e.PID {
				kept = append(kept, w)
			}
		}
		open = kept
		if e.Waiting != "" {
			w := wait{What: e.Waiting, Step: e.Step, PID: e.PID, Since: e.Time,
				Timeout: time.Duration(e.TimeoutMS) * time.Millisecond, Running: e.Running}
			if e.Step == state.StepProgress {
				w.After = e.Detail
			}
			open = append(open, w)
		}
	}
	return open
}

// expected is how long a wait normally takes; past it the console flags
// the wait. Each handshake step has its own expectation (they take
// milliseconds when all is well), bounded by the writer's own timeout.
// A created container waits for START as long as nobody starts it, work
// (a hook) takes what it takes within its limit, and a wait following
// announced work waits with it: no expectation (0).
func (w wait) expected() time.Duration {
	if w.Running || w.After != "" {
		return 0
	}
	var e time.Duration
	switch w.What {
	case "START":
		return 0
	case "BOOTED": // re-exec of urunc, namespaces, rootfs
		e = 2 * time.Second
	case "ACK": // the parent writes the pid file and runs hooks
		e = 2 * time.Second
	case "child to exec the VMM": // network, storage, exec
		e = 3 * time.Second
	default:
		e = 5 * time.Second
	}
	if w.Timeout > 0 && w.Timeout/2 < e {
		e = w.Timeout / 2
	}
	return e
}

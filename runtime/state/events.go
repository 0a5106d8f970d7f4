package state

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Event is one line of events.jsonl: a lifecycle or handshake step.
type Event struct {
	Time   time.Time `json:"time"`
	Step   string    `json:"step"`
	PID    int       `json:"pid,omitempty"`    // process that wrote the line
	Detail string    `json:"detail,omitempty"` // human-readable
	// Waiting names what the writer waits for next (e.g. "BOOTED"), and
	// TimeoutMS how long it will wait; the console shows the elapsed time.
	Waiting   string `json:"waiting,omitempty"`
	TimeoutMS int64  `json:"timeoutMs,omitempty"`
	// Running: what Waiting names is work the writer runs itself (a hook:
	// "createRuntime hook /bin/sleep", the storage set-up), not a word
	// from another process; TimeoutMS is that work's limit.
	Running bool   `json:"running,omitempty"`
	Error   string `json:"error,omitempty"` // set when the step failed
}

// AppendEvent adds one line to the journal. Each line is a single write
// on an O_APPEND file, so lines from the two handshake processes never mix.
func (d Dir) AppendEvent(ev Event) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.PID == 0 {
		ev.PID = os.Getpid()
	}
	line, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(d.File(EventsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, FileMode)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// ReadEvents returns every well-formed line of the journal; a torn last
// line (a crash mid-write) is skipped.
func (d Dir) ReadEvents() ([]Event, error) {
	f, err := os.Open(d.File(EventsFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	return ParseEvents(f)
}

// ParseEvents decodes journal lines from r, skipping malformed ones.
func ParseEvents(r interface{ Read([]byte) (int, error) }) ([]Event, error) {
	var events []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		var ev Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Step != "" {
			events = append(events, ev)
		}
	}
	return events, sc.Err()
}

// Journal steps, in the order a normal lifecycle writes them.
// docs/state-dir.md lists who writes each and what it waits for.
const (
	StepCreate         = "create"          // create began (parent)
	StepCgroup         = "cgroup"          // VMM cgroup made with the spec's limits (detail: path)
	StepChildSpawned   = "child-spawned"   // re-exec child started; waiting BOOTED
	StepBooted         = "booted"          // child said BOOTED (child writes)
	StepBootedReceived = "booted-received" // parent got BOOTED
	StepPidFile        = "pid-file"        // pid file written
	StepHook           = "hook"            // a hook runs now (detail: kind, path, pid, limit; a running wait)
	StepHookDone       = "hook-done"       // it ended (detail: kind, path, how long; error when it failed)
	StepProgress       = "progress"        // the other side announced what it runs (detail); the writer's wait now allows timeoutMs
	StepAckSent        = "ack-sent"        // parent sent ACK
	StepAcked          = "acked"           // child got ACK; waiting START
	StepCreated        = "created"         // status created (parent exits)
	StepStart          = "start"           // start began; START being sent
	StepStartReceived  = "start-received"  // child got START
	StepNetwork        = "network"         // network set up (detail: tap/ip or "none")
	StepStorage        = "storage"         // storage prepared
	StepVMMExec        = "vmm-exec"        // child is exec'ing the VMM
	StepRunning        = "running"         // status running (start returns)
	StepKill           = "kill"            // a signal was sent (detail: signal)
	StepPause          = "pause"
	StepResume         = "resume"
	StepStopped        = "stopped" // urunc saw the VMM gone (detail: exit status when known)
	StepExited         = "exited"  // the guest's outcome, read by whoever reaped the VMM (detail: status and why)
	StepDelete         = "delete"  // delete began
	StepFailed         = "failed"  // a step failed; Error says why
)

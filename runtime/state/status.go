// Package state owns a container's state directory <root>/<id>: the OCI
// state (state.json, written atomically and guarded by a file lock), the
// lifecycle journal (events.jsonl), the VMM description (vmm.json) and the
// paths of the sockets and logs that live there. docs/state-dir.md is the
// contract other tools (urunc-dev) rely on.
package state

import (
	"errors"
	"fmt"
)

// Status is a container's OCI status, plus "paused" as runc reports it.
type Status string

const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

// ErrInvalidTransition is returned when an operation is not allowed in the
// container's current status.
var ErrInvalidTransition = errors.New("invalid status transition")

// transitions lists every allowed status change. Anything that is not
// listed is refused. Stopped is reachable from every live status because a
// VMM may die on its own at any time.
var transitions = map[Status][]Status{
	Creating: {Created, Stopped},
	Created:  {Running, Stopped},
	Running:  {Paused, Stopped},
	Paused:   {Running, Stopped},
	Stopped:  {},
}

// CanTransition reports whether a container in status s may move to next.
func (s Status) CanTransition(next Status) error {
	for _, allowed := range transitions[s] {
		if allowed == next {
			return nil
		}
	}
	return fmt.Errorf("%w: %s -> %s", ErrInvalidTransition, s, next)
}

// Live reports whether the status implies a process exists (or should).
func (s Status) Live() bool {
	return s == Created || s == Running || s == Paused
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	_, ok := transitions[s]
	return ok
}

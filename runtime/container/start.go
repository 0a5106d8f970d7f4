package container

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/hooks"
	"github.com/urunc-dev/urunc/runtime/ipc"
	"github.com/urunc-dev/urunc/runtime/state"
)

// Start sends START to a created container's init child and waits until
// the child has exec'd the VMM (or reported why it could not).
func (r *Runtime) Start(ctx context.Context, id string) error {
	d, st, unlock, err := r.lockState(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	if state.Status(st.Status) != state.Created {
		return fmt.Errorf("%w: cannot start %s: status is %s", ErrNotCreated, id, st.Status)
	}
	spec, err := config.LoadSpec(st.Bundle)
	if err != nil {
		return err
	}
	b := r.budget()
	const waiting = "child to exec the VMM"
	r.event(d, state.Event{Step: state.StepStart, Waiting: waiting, TimeoutMS: b.startMargin().Milliseconds()})

	// The child announces storage and each startContainer hook before it
	// runs them (STEP, HOOK): each extends the wait (budget.go).
	dctx, cancel := withTimeout(ctx, config.Duration(b.startMargin()), "waiting for the init child to accept START")
	conn, err := sendStart(dctx, d.File(state.UruncSock))
	cancel()
	if err == nil {
		defer conn.Close()
		err = awaitWord(ctx, conn, ipc.OK, "the answer to START", "the init child", "start "+id, b.startMargin(), func(p ipc.Progress, allowance time.Duration) {
			r.event(d, state.Event{Step: state.StepProgress, Detail: fmt.Sprintf("the init child runs the %s (limit %s)", p, p.Limit),
				Waiting: waiting, TimeoutMS: allowance.Milliseconds()})
		})
		if errors.Is(err, ErrHandshake) {
			err = fmt.Errorf("%w%s", err, childFailure(d, state.StepStartReceived))
		}
	}
	if err == nil {
		ectx, cancel := withTimeout(ctx, config.Duration(b.startMargin()), "waiting for the init child to exec the VMM")
		err = awaitExec(ectx, conn, "start "+id)
		cancel()
	}
	if err != nil {
		// Whatever the child is doing, nobody will record it: it must not
		// run on (it stops by itself when we hang up; this is at once).
		if conn != nil {
			conn.Close()
		}
		if kerr := signalPid(st.Pid, st.PidStartTime, unix.SIGKILL); kerr == nil {
			r.log.Warn("start failed: the init child was killed", "id", id, "pid", st.Pid)
		}
		r.failed(d, "start", err)
		return err
	}
	if err := d.SetStatus(st, state.Running); err != nil {
		return err
	}
	r.event(d, state.Event{Step: state.StepRunning, Detail: fmt.Sprintf("VMM pid %d", st.Pid)})
	if err := r.runHooks(ctx, d, hooks.Poststart, spec, st, nil); err != nil {
		// OCI: a failing poststart hook is a warning; the container runs.
		r.log.Warn("poststart hook failed", "id", id, "error", err)
	}
	return nil
}

// childFailure is the re-exec child's own account of its death, when it
// wrote one to the journal (pid 1 of its namespace, or not ours) before
// its socket closed: "; the child said: ...". Only lines after the last
// since step count (create: StepCreate, start: StepStartReceived).
func childFailure(d state.Dir, since string) string {
	events, err := d.ReadEvents()
	if err != nil {
		return ""
	}
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		if e.Step == since {
			return ""
		}
		if e.Step == state.StepFailed && e.Detail == "init" {
			return "; the child said: " + e.Error
		}
	}
	return ""
}

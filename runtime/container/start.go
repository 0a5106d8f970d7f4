package container

import (
	"context"
	"errors"
	"fmt"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/hooks"
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
	timeouts := r.opts.Host.Timeouts
	r.event(d, state.Event{Step: state.StepStart, Waiting: "child to exec the VMM", TimeoutMS: ms(timeouts.StartReply)})

	sctx, cancel := withTimeout(ctx, timeouts.StartReply, "waiting for the init child to exec the VMM")
	defer cancel()
	conn, err := sendStart(sctx, d.File(state.UruncSock))
	if err == nil {
		defer conn.Close()
		if err = awaitReply(sctx, conn, "START", "start "+id); errors.Is(err, ErrHandshake) {
			err = fmt.Errorf("%w%s", err, childFailure(d))
		}
	}
	if err == nil {
		err = awaitExec(sctx, conn, "start "+id)
	}
	if err != nil {
		r.failed(d, "start", err)
		return err
	}
	if err := d.SetStatus(st, state.Running); err != nil {
		return err
	}
	r.event(d, state.Event{Step: state.StepRunning, Detail: fmt.Sprintf("VMM pid %d", st.Pid)})
	if err := r.runHooks(ctx, d, hooks.Poststart, spec, st); err != nil {
		// OCI: a failing poststart hook is a warning; the container runs.
		r.log.Warn("poststart hook failed", "id", id, "error", err)
	}
	return nil
}

// childFailure is the re-exec child's own account of its death, when it
// wrote one to the journal (pid 1 of its namespace, or not ours) before
// its socket closed: "; the child said: ...".
func childFailure(d state.Dir) string {
	events, err := d.ReadEvents()
	if err != nil {
		return ""
	}
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		if e.Step == state.StepStartReceived {
			return ""
		}
		if e.Step == state.StepFailed && e.Detail == "init" {
			return "; the child said: " + e.Error
		}
	}
	return ""
}

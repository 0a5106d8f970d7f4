package container

import (
	"context"
	"errors"
	"fmt"
	"io"

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
	timeouts := r.opts.Host.Timeouts
	r.event(d, state.Event{Step: state.StepStart, Waiting: "child to exec the VMM", TimeoutMS: ms(timeouts.StartReply)})

	sctx, cancel := withTimeout(ctx, timeouts.StartReply, "waiting for the init child to exec the VMM")
	defer cancel()
	conn, err := ipc.Dial(sctx, d.File(state.UruncSock))
	if err != nil {
		err = fmt.Errorf("%w: %v", ErrHandshake, err)
		r.failed(d, "start", err)
		return err
	}
	defer conn.Close()
	if err := conn.Write(ipc.Start, ""); err != nil {
		err = fmt.Errorf("%w: send START: %v", ErrHandshake, err)
		r.failed(d, "start", err)
		return err
	}
	msg, reason, err := conn.Read(sctx)
	switch {
	case err != nil:
		err = fmt.Errorf("%w: no answer to START: %v%s", ErrHandshake, err, childFailure(d))
	case msg == ipc.Error:
		err = fmt.Errorf("start %s: %s", id, reason)
	case msg != ipc.OK:
		err = fmt.Errorf("%w: unexpected answer %s", ErrHandshake, msg)
	}
	if err != nil {
		r.failed(d, "start", err)
		return err
	}
	// The connection closes when exec succeeds (close-on-exec) or the
	// child dies; a failed exec is reported on it first.
	msg, reason, err = conn.Read(sctx)
	switch {
	case errors.Is(err, io.EOF):
	case err != nil:
		return fmt.Errorf("%w: waiting for the VMM exec: %v", ErrHandshake, err)
	case msg == ipc.Error:
		err = fmt.Errorf("start %s: %s", id, reason)
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

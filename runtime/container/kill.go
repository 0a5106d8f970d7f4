package container

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/qmp"
	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// Kill delivers sig to the container. SIGTERM to a running VMM whose guest
// can power itself off becomes an ACPI power-down over QMP, followed by
// SIGKILL if the guest is still up after the grace period; SIGKILL ends the
// VMM at once; any other signal is forwarded. all is accepted for runc
// compatibility: a unikernel container has a single process.
func (r *Runtime) Kill(ctx context.Context, id string, sig unix.Signal, all bool) error {
	d, st, unlock, err := r.lockState(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	status := state.Status(st.Status)
	if status == state.Stopped && all {
		// As runc 1.1: nothing is left to signal. containerd's shim sends
		// `kill --all <id> KILL` after every exit of a container that does
		// not own its pid namespace, and logged an error each time.
		return nil
	}
	if !status.Live() {
		return fmt.Errorf("%w: %s is %s", ErrNotRunning, id, status)
	}
	r.event(d, state.Event{Step: state.StepKill, Detail: unix.SignalName(sig)})

	if sig == unix.SIGTERM && status == state.Running {
		if info, err := d.ReadVMM(); err == nil && info.GracefulStop == string(vmm.StopACPI) {
			return r.powerDown(ctx, d, st)
		}
	}
	if err := signalPid(st.Pid, st.PidStartTime, sig); err != nil {
		return err
	}
	if sig == unix.SIGKILL || sig == unix.SIGTERM {
		// Give the VMM a moment to go, so a following "state" says stopped.
		r.waitExit(ctx, d, st, 2*time.Second)
	}
	return nil
}

// powerDown asks the guest to power off and ends the VMM if it has not
// within the grace period.
func (r *Runtime) powerDown(ctx context.Context, d state.Dir, st *state.State) error {
	grace := r.opts.Host.Timeouts.StopGrace.D()
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := qmp.Do(qctx, d.File(state.QMPSock), "system_powerdown")
	cancel()
	if err != nil {
		r.log.Warn("graceful power-down failed, killing the VMM", "id", d.ID, "error", err)
		grace = 0
	}
	if r.waitExit(ctx, d, st, grace) {
		return nil
	}
	if err := signalPid(st.Pid, st.PidStartTime, unix.SIGKILL); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	r.waitExit(ctx, d, st, r.opts.Host.Timeouts.Kill.D())
	return nil
}

// waitExit waits up to d for the container's process to exit, without
// polling: a pidfd becomes readable when the process terminates.
func (r *Runtime) waitExit(ctx context.Context, sd state.Dir, st *state.State, d time.Duration) bool {
	exited := state.WaitExit(ctx, st.Pid, st.PidStartTime, d)
	if exited {
		r.event(sd, state.Event{Step: state.StepStopped})
	}
	return exited
}

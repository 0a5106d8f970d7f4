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

// Kill delivers sig to the container so that it has an effect, or says
// why it cannot (runc's "container not running" when it is gone). Per
// monitor (vmm.json's gracefulStop):
//   - acpi (qemu with a Linux guest): SIGTERM becomes an ACPI power-down
//     over QMP, then SIGKILL if the guest is still up after the grace period;
//   - kill (solo5-spt, which has no signal handler): SIGTERM becomes SIGKILL;
//   - signal: the signal goes to the VMM.
//
// The VMM is pid 1 of its pid namespace when the spec asks for one, and
// there the kernel drops any signal it has no handler for: a SIGTERM that
// comes before the VMM installed its handler (right after start) would be
// lost. Kill waits briefly for the handler; a stop request (TERM, INT,
// HUP, QUIT) still without one becomes SIGKILL, any other signal is an
// error (ErrSignalDropped). SIGKILL ends the VMM at once. all is accepted
// for runc compatibility: a unikernel container has a single process.
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
		info, err := d.ReadVMM()
		switch {
		case err == nil && info.GracefulStop == string(vmm.StopACPI):
			return r.powerDown(ctx, d, st)
		case err == nil && info.GracefulStop == string(vmm.StopKill):
			r.event(d, state.Event{Step: state.StepKill, Detail: "SIGKILL: " + info.Hypervisor + " has no SIGTERM handler"})
			sig = unix.SIGKILL
		}
	}
	sent, err := r.deliver(ctx, d, st, sig)
	if err != nil {
		return err
	}
	if sent == unix.SIGKILL || sent == unix.SIGTERM {
		// Give the VMM a moment to go, so a following "state" says stopped.
		r.waitExit(ctx, d, st, 2*time.Second)
	}
	return nil
}

// ErrSignalDropped: the VMM would not see the signal (no handler, as pid
// 1 of its pid namespace, or ignored).
var ErrSignalDropped = errors.New("the VMM does not handle the signal")

// handlerWait bounds how long a signal waits for the VMM to install its
// handler (qemu does within milliseconds of its exec).
const handlerWait = 2 * time.Second

// stopSignal reports whether sig asks a process to end.
func stopSignal(sig unix.Signal) bool {
	switch sig {
	case unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT:
		return true
	}
	return false
}

// deliver sends sig, or SIGKILL in its place for a stop request the VMM
// cannot see (see Kill), and returns what it sent.
func (r *Runtime) deliver(ctx context.Context, d state.Dir, st *state.State, sig unix.Signal) (unix.Signal, error) {
	if sig == unix.SIGKILL || sig == unix.SIGSTOP {
		return sig, signalPid(st.Pid, st.PidStartTime, sig)
	}
	disp, err := waitHandler(ctx, st, sig)
	if err != nil {
		return 0, err
	}
	if !disp.Dropped() {
		return sig, signalPid(st.Pid, st.PidStartTime, sig)
	}
	why := "ignores it"
	if disp.NSInit {
		why = "is pid 1 of its pid namespace and has no handler for it"
	}
	if !stopSignal(sig) {
		return 0, fmt.Errorf("%w: %s to %s: the VMM (pid %d) %s, so it would be lost", ErrSignalDropped, unix.SignalName(sig), d.ID, st.Pid, why)
	}
	r.event(d, state.Event{Step: state.StepKill, Detail: fmt.Sprintf("SIGKILL: the VMM %s %s", why, unix.SignalName(sig))})
	return unix.SIGKILL, signalPid(st.Pid, st.PidStartTime, unix.SIGKILL)
}

// waitHandler waits up to handlerWait for the process to handle sig (a
// VMM just exec'd installs its handlers within milliseconds) and returns
// how it treats sig then.
func waitHandler(ctx context.Context, st *state.State, sig unix.Signal) (state.SignalDisposition, error) {
	deadline := time.Now().Add(handlerWait)
	for {
		if !state.Alive(st.Pid, st.PidStartTime) {
			return state.SignalDisposition{}, ErrNotRunning
		}
		disp, err := state.Disposition(st.Pid, sig)
		if err != nil {
			return disp, ErrNotRunning // gone between the two reads
		}
		if !disp.Dropped() || time.Now().After(deadline) || ctx.Err() != nil {
			return disp, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
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

package container

import (
	"context"
	"fmt"
	"time"

	"github.com/urunc-dev/urunc/runtime/qmp"
	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// Pause stops the guest's vCPUs (QMP "stop"); Resume restarts them.
func (r *Runtime) Pause(ctx context.Context, id string) error {
	return r.setPaused(ctx, id, true)
}

// Resume continues a paused container.
func (r *Runtime) Resume(ctx context.Context, id string) error {
	return r.setPaused(ctx, id, false)
}

func (r *Runtime) setPaused(ctx context.Context, id string, pause bool) error {
	d, st, unlock, err := r.lockState(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	from, to, command, step := state.Running, state.Paused, "stop", state.StepPause
	if !pause {
		from, to, command, step = state.Paused, state.Running, "cont", state.StepResume
	}
	if state.Status(st.Status) != from {
		return fmt.Errorf("%w: cannot %s %s: status is %s", state.ErrInvalidTransition, command, id, st.Status)
	}
	if info, err := d.ReadVMM(); err != nil || info.Control != string(vmm.QMP) {
		return fmt.Errorf("%w: pause/resume with %s (its VMM has no control socket)", ErrUnsupported, st.Hypervisor)
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := qmp.Do(qctx, d.File(state.QMPSock), command); err != nil {
		return fmt.Errorf("%s %s: %w", command, id, err)
	}
	if err := d.SetStatus(st, to); err != nil {
		return err
	}
	r.event(d, state.Event{Step: step})
	return nil
}

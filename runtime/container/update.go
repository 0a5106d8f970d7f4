package container

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/runtime/state"
)

// Update applies new limits to a container's cgroup (runc update). The VM
// keeps the memory and vCPUs it booted with: guests here have no memory
// or CPU hot-plug, so the new limits bound the VMM's cgroup only.
func (r *Runtime) Update(ctx context.Context, id string, res *specs.LinuxResources) error {
	d, st, unlock, err := r.lockState(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	if !st.StatusOf().Live() {
		return fmt.Errorf("update %s: %w (it is %s)", id, ErrNotRunning, st.Status)
	}
	cg := containerCgroup(st)
	if cg == nil {
		return fmt.Errorf("update %s: %w: the container has no cgroup (created without the right to make one)", id, ErrUnsupported)
	}
	if err := cg.Update(res); err != nil {
		return err
	}
	r.event(d, state.Event{Step: state.StepCgroup, Detail: "limits updated on " + cg.Main() + "; the VM keeps its size"})
	if res.Memory != nil && res.Memory.Limit != nil {
		r.log.Warn("the guest keeps the memory it booted with; the new limit bounds the VMM's cgroup", "id", id)
	}
	return nil
}

package container

import (
	"github.com/urunc-dev/urunc/runtime/state"
)

// State returns the container's current state (status derived from its
// VMM's liveness; pid 0 once stopped, as runc reports it).
func (r *Runtime) State(id string) (*state.State, error) {
	d, err := state.Open(r.opts.Root, id)
	if err != nil {
		return nil, err
	}
	st, err := d.ReadState()
	if err != nil {
		return nil, err
	}
	if state.Status(st.Status) == state.Stopped {
		st.Pid = 0
	}
	return st, nil
}

// List returns the state of every urunc container under the root;
// unreadable ones are skipped (a crash may have left half a directory).
func (r *Runtime) List() ([]*state.State, error) {
	ids, err := state.List(r.opts.Root)
	if err != nil {
		return nil, err
	}
	var out []*state.State
	for _, id := range ids {
		if st, err := r.State(id); err == nil {
			out = append(out, st)
		}
	}
	return out, nil
}

// Pids returns the processes of the container: its VMM while it lives.
func (r *Runtime) Pids(id string) ([]int, error) {
	st, err := r.State(id)
	if err != nil {
		return nil, err
	}
	if !state.Status(st.Status).Live() {
		return []int{}, nil
	}
	// The cgroup holds the VMM and anything it started (virtiofsd).
	if cg := containerCgroup(st); cg != nil {
		if pids, err := cg.Pids(); err == nil && len(pids) > 0 {
			return pids, nil
		}
	}
	return []int{st.Pid}, nil
}

package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/runtime/cgroups"
	"github.com/urunc-dev/urunc/runtime/state"
)

// createCgroup makes the container's cgroup with the spec's limits. A
// caller without the right to create cgroups (rootless, as runc treats
// it) gets a warning and no cgroup rather than a failure.
func (r *Runtime) createCgroup(d state.Dir, spec *specs.Spec, id string) (*cgroups.Placement, error) {
	req := cgroups.Request{ID: id, Systemd: r.opts.SystemdCgroup}
	if spec.Linux != nil {
		req.Path = spec.Linux.CgroupsPath
		req.Resources = spec.Linux.Resources
	}
	p, err := cgroups.Create(req)
	if err != nil {
		if os.Geteuid() != 0 && (errors.Is(err, fs.ErrPermission) || errors.Is(err, os.ErrPermission)) {
			r.log.Warn("no cgroup for the VMM: not allowed to create one as a non-root user", "id", id, "error", err)
			r.event(d, state.Event{Step: state.StepCgroup, Detail: "none: " + err.Error()})
			return nil, nil
		}
		return nil, err
	}
	detail := fmt.Sprintf("%s (%s)", p.Main(), p.Driver)
	if p.Note != "" {
		detail += "; " + p.Note
	}
	r.event(d, state.Event{Step: state.StepCgroup, Detail: detail})
	return p, nil
}

// containerCgroup is the placement recorded in the state, or nil.
func containerCgroup(st *state.State) *cgroups.Placement {
	return cgroups.FromState(st.CgroupPaths, st.CgroupDriver)
}

// joinCgroup puts the re-exec child in its container's cgroup (v1: create
// made it but did not move the child; v2: the child was cloned into it).
// On its leader thread, which later execs the VMM, moving only that
// thread avoids the kernel's RCU wait of a whole-process move; elsewhere
// (a caller that did not keep main on the leader thread) the process moves.
func joinCgroup(st *state.State) error {
	cg := containerCgroup(st)
	if cg == nil {
		return nil
	}
	if _, ok := cg.OnlyUnified(); ok {
		return nil
	}
	if unix.Gettid() == unix.Getpid() {
		return cg.JoinThread()
	}
	return cg.Join(os.Getpid())
}

package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/hooks"
	"github.com/urunc-dev/urunc/runtime/rootfs"
	"github.com/urunc-dev/urunc/runtime/state"
)

// Delete removes a stopped container, or with force any container, killing
// its VMM first. Deleting a container that does not exist is an error
// unless force is set (runc's behaviour).
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	d, unlock, err := r.lock(ctx, id)
	if err != nil {
		if force && errors.Is(err, state.ErrNotExist) {
			// A crash between mkdir and the lock file leaves a directory
			// that cannot be locked: with --force it goes all the same.
			if _, serr := os.Stat(filepath.Join(r.opts.Root, id, state.MarkerFile)); serr == nil {
				return os.RemoveAll(filepath.Join(r.opts.Root, id))
			}
			return nil
		}
		return err
	}
	defer unlock()
	st, err := d.ReadState()
	if err != nil {
		if !force {
			return fmt.Errorf("delete %s: %w (use --force to remove it anyway)", id, err)
		}
		// A crash left a half-written directory: nothing to signal.
		r.log.Warn("removing container with unreadable state", "id", id, "error", err)
		return d.Remove()
	}
	status := state.Status(st.Status)
	if status.Live() {
		if !force {
			return fmt.Errorf("%w: cannot delete %s while it is %s (use --force)", ErrNotStopped, id, status)
		}
		if err := signalPid(st.Pid, st.PidStartTime, unix.SIGKILL); err != nil && !errors.Is(err, ErrNotRunning) {
			return err
		}
		if !state.WaitExit(ctx, st.Pid, st.PidStartTime, r.opts.Host.Timeouts.Kill.D()) {
			return fmt.Errorf("delete %s: VMM pid %d did not exit after SIGKILL", id, st.Pid)
		}
	}
	r.event(d, state.Event{Step: state.StepDelete})
	spec, specErr := config.LoadSpec(st.Bundle)
	if info, err := d.ReadVMM(); err == nil {
		if err := rootfs.KillVirtiofsd(info); err != nil {
			r.log.Warn("virtiofsd cleanup", "id", id, "error", err)
		}
		if specErr == nil {
			if err := r.teardownNetwork(spec, info); err != nil {
				r.log.Warn("network cleanup", "id", id, "error", err)
			}
		}
	}
	if cg := containerCgroup(st); cg != nil {
		// The VMM is gone; anything it left (e.g. a virtiofsd) goes too,
		// as runc's destroy does.
		if pids, err := cg.Pids(); err == nil && len(pids) > 0 {
			for _, pid := range pids {
				_ = unix.Kill(pid, unix.SIGKILL) // gone already is fine; Destroy reports what stays
			}
		}
		// A cgroup that cannot go (shared with another container, or
		// gone already) must not make the container undeletable.
		if err := cg.Destroy(); err != nil {
			r.log.Warn("cgroup not removed", "id", id, "error", err)
		}
	}
	if err := d.Remove(); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	if specErr == nil {
		st.Status = "stopped"
		if err := r.runHooks(ctx, d, hooks.Poststop, spec, st, nil); err != nil {
			// OCI: poststop failures are warnings.
			r.log.Warn("poststop hook failed", "id", id, "error", err)
		}
	}
	return nil
}

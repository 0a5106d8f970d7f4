package container

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/network"
	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// setupNetwork gives the guest the container's network (runtime/network).
// It runs in the init child, which is already inside the container's
// network namespace, after the engine's hooks have configured eth0.
func (r *Runtime) setupNetwork(ctx context.Context, d state.Dir, spec *specs.Spec, cfg *config.Unikernel) (*vmm.Net, string, error) {
	var uid, gid uint32 // the tap's owner: the VMM's user
	if spec.Process != nil {
		uid, gid = spec.Process.User.UID, spec.Process.User.GID
	}
	n, err := network.Setup(ctx, network.Options{
		ContainerID: d.ID,
		Mode:        cfg.NetworkMode,
		UID:         uid,
		GID:         gid,
		Hostname:    spec.Hostname,
	})
	if err != nil {
		return nil, "", fmt.Errorf("network: %w", err)
	}
	if n == nil {
		r.log.Info("no eth0 in the container's network namespace: the guest runs without a NIC", "id", d.ID)
		return nil, "none (no eth0)", nil
	}
	return n, fmt.Sprintf("%s -> %s/%d gw %s mtu %d", n.TapName, n.IP, n.PrefixLen, n.Gateway, n.MTU), nil
}

// teardownNetwork removes this container's tap, filters and qdiscs from a
// network namespace that outlives it (one given by path: a pod's). A
// namespace urunc created dies with the VMM and takes them along.
func (r *Runtime) teardownNetwork(spec *specs.Spec, info *state.VMMInfo) error {
	path := namespacePath(spec, specs.NetworkNamespace)
	if path == "" || info.TapName == "" {
		return nil
	}
	return network.Teardown(path, info.TapName)
}

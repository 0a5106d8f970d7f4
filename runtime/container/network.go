package container

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/network"
	"github.com/urunc-dev/urunc/runtime/solo5"
	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// setupNetwork gives the guest the container's network (runtime/network).
// It runs in the init child, which is already inside the container's
// network namespace, after the engine's hooks have configured eth0.
//
// A Solo5 unikernel that declares no network device gets none (the
// container's network is simply not given to it); one that declares one
// gets an unconnected tap when the container has no eth0 (the tender
// refuses to start with a declared device unattached).
func (r *Runtime) setupNetwork(ctx context.Context, d state.Dir, spec *specs.Spec, cfg *config.Unikernel, m *solo5.Manifest) (*vmm.Net, string, error) {
	if m != nil && len(m.Names(solo5.Net)) == 0 {
		r.log.Info("the unikernel declares no network device: the container's network is not given to it", "id", d.ID)
		return nil, "not given (the unikernel's Solo5 manifest declares no network device)", nil
	}
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
		Unconnected: m != nil,
	})
	if err != nil {
		return nil, "", fmt.Errorf("network: %w", err)
	}
	if n == nil {
		r.log.Info("no eth0 in the container's network namespace: the guest runs without a NIC", "id", d.ID)
		return nil, "none (no eth0)", nil
	}
	if !n.HasAddress() {
		return n, fmt.Sprintf("%s, connected to nothing (no eth0; the unikernel declares a network device)", n.TapName), nil
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

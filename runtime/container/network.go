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
	ports, err := network.ParsePorts(cfg.NetworkPorts)
	if err != nil {
		return nil, "", fmt.Errorf("network: %s: %w", config.KeyNetworkPorts, err)
	}
	n, err := network.Setup(ctx, network.Options{
		ContainerID: d.ID,
		Mode:        cfg.NetworkMode,
		UID:         uid,
		GID:         gid,
		Hostname:    spec.Hostname,
		Unconnected: m != nil,
		Owner:       r.opts.Root,
		Stale:       r.staleTap,
		Ports:       ports,
		GuestIP:     cfg.NetworkIP,
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
	detail := fmt.Sprintf("%s -> %s/%d gw %s mtu %d", n.TapName, n.IP, n.PrefixLen, n.Gateway, n.MTU)
	if cfg.NetworkMode == network.ModeStatic {
		detail += ", routed in the pod (static)"
		if len(ports) > 0 {
			detail += ", publishes " + cfg.NetworkPorts
		}
	}
	return n, detail, nil
}

// staleTap tells setup whether a tap this root made, found in the
// container's network namespace, is left over: no container of the root
// records it (its container is gone, or a create died before recording
// it), or the one that does is no longer live (its VMM died). The
// namespace lock (network.LockNamespace) is held meanwhile, so a guest
// being set up has recorded its tap before anyone looks.
func (r *Runtime) staleTap(tap string) bool {
	ids, err := state.List(r.opts.Root)
	if err != nil {
		return false // cannot tell: keep it
	}
	for _, id := range ids {
		d := state.Dir{Root: r.opts.Root, ID: id}
		info, err := d.ReadVMM()
		if err != nil || info.TapName != tap {
			continue
		}
		st, err := d.ReadState()
		if err != nil {
			return false
		}
		s := st.StatusOf()
		stale := !s.Live() && s != state.Creating
		if stale {
			r.log.Info("removing the network of a guest that is no longer running", "tap", tap, "owner", id, "status", s)
		}
		return stale
	}
	r.log.Info("removing a guest network no container records", "tap", tap)
	return true
}

// teardownNetwork removes this container's tap, filters, qdiscs and
// nftables table from a network namespace that outlives it (one given by
// path: a pod's), holding the namespace's lock. A namespace urunc created
// dies with the VMM and takes them along.
func (r *Runtime) teardownNetwork(ctx context.Context, spec *specs.Spec, info *state.VMMInfo) error {
	path := namespacePath(spec, specs.NetworkNamespace)
	if path == "" || info.TapName == "" {
		return nil
	}
	lctx, cancel := withTimeout(ctx, r.opts.Host.Timeouts.Lock, "network namespace lock")
	defer cancel()
	unlock, err := network.LockNamespace(lctx, path)
	if err != nil {
		return err
	}
	defer unlock()
	return network.Teardown(path, info.TapName)
}

package shim

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/log"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/anypb"
)

const cgroupMount = "/sys/fs/cgroup"

// errNoCgroup: the container runs without a cgroup (rootless create).
var errNoCgroup = errors.New("the container has no cgroup")

// loadCgroup opens the VMM's cgroup from the paths urunc recorded in
// state.json (cgroup_paths: one directory per v1 controller, or "" for
// the v2 one): a cgroup1.Cgroup or a *cgroup2.Manager.
func loadCgroup(paths map[string]string) (any, error) {
	if len(paths) == 0 {
		return nil, errNoCgroup
	}
	if dir, ok := paths[""]; ok && len(paths) == 1 {
		rel, err := filepath.Rel(cgroupMount, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("cgroup %s is not under %s", dir, cgroupMount)
		}
		return cgroup2.Load("/" + rel)
	}
	return cgroup1.Load(func(n cgroup1.Name) (string, error) {
		dir, ok := paths[string(n)]
		if !ok {
			return "", cgroup1.ErrControllerNotActive
		}
		// <mount>/<hierarchy>/<path>: the hierarchy is one element
		// ("memory", "cpu,cpuacct").
		rel, err := filepath.Rel(cgroupMount, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			return "", cgroup1.ErrControllerNotActive
		}
		_, path, _ := strings.Cut(rel, "/")
		return "/" + path, nil
	})
}

// cgroupMetrics is containerd's metrics for the cgroup: cgroups/v3's
// v1 or v2 Metrics (io.containerd.cgroups.v1/v2.Metrics), what the runc
// shim returns, so ctr, CRI and the kubelet read it as usual.
func cgroupMetrics(cg any) (*anypb.Any, error) {
	var (
		m   any
		err error
	)
	switch cg := cg.(type) {
	case cgroup1.Cgroup:
		m, err = cg.Stat(cgroup1.IgnoreNotExist)
	case *cgroup2.Manager:
		m, err = cg.Stat()
	default:
		return nil, errNoCgroup
	}
	if err != nil {
		return nil, err
	}
	return typeurl.MarshalAnyToProto(m)
}

// watchOOM2 publishes TaskOOM when the kernel's OOM killer strikes in a
// v2 cgroup (memory.events oom_kill going up). v1 cgroups are watched by
// containerd's epoll watcher (pkg/oom/v1), as in the runc shim.
func (s *service) watchOOM2(ctx context.Context, id string, m *cgroup2.Manager) {
	events, errs := m.EventChan()
	go func() {
		var last uint64
		for {
			select {
			case e := <-events:
				if e.OOMKill > last {
					s.send(runtime.TaskOOMEventTopic, &eventstypes.TaskOOM{ContainerID: id})
				}
				last = e.OOMKill
			case err := <-errs:
				if err != nil {
					log.G(ctx).WithError(err).Debug("cgroup v2 event watch ended")
				}
				return
			}
		}
	}()
}

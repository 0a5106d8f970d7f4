// Package shim is urunc's containerd shim v2 (runtime_type
// io.containerd.urunc.v2, binary containerd-shim-urunc-v2): a task
// service that runs unikernel containers in-process through
// runtime/container and hands every other container (a pod's pause
// container, ordinary containers in a urunc pod) to containerd's own runc
// task service, in the same process. One shim process serves one
// container. It is built on containerd v2's pkg/shim and works with
// containerd 1.6 to 2.x (compat.go).
package shim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v2"
	runcopts "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/oom"
	cdshim "github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/urunc-dev/urunc/runtime/config"
)

// Run is the shim binary's main (the re-exec child aside: RunInit).
func Run() {
	ctx := context.Background()
	// The shim reaps its children itself (reaper.go).
	noReaper := func(c *cdshim.Config) { c.NoReaper = true }
	if legacyStart(ctx, manager{}, noReaper) {
		return
	}
	cdshim.RunShim(ctx, manager{}, noReaper)
}

func init() {
	registry.Register(&plugin.Registration{
		Type:     plugins.TTRPCPlugin,
		ID:       "task",
		Requires: []plugin.Type{plugins.EventPlugin, plugins.InternalPlugin},
		InitFn: func(ic *plugin.InitContext) (any, error) {
			pp, err := ic.GetByID(plugins.EventPlugin, "publisher")
			if err != nil {
				return nil, err
			}
			sd, err := ic.GetByID(plugins.InternalPlugin, "shutdown")
			if err != nil {
				return nil, err
			}
			return newService(ic.Context, pp.(cdshim.Publisher), sd.(shutdown.Service)), nil
		},
	})
}

// service is the task API (v2, which containerd 1.6 to 2.x speak).
type service struct {
	ctx       context.Context
	publisher cdshim.Publisher
	sd        shutdown.Service
	reaper    *childReaper
	events    chan event

	mu    sync.Mutex
	tasks map[string]*ukTask   // unikernel containers
	runcs map[string]*runcTask // containers handed to runc
	runc  *runcService         // made at the first runc container
	oom1  oom.Watcher          // cgroup v1 OOM events, made at the first VMM
}

type event struct {
	topic string
	ev    any
	done  chan struct{} // a marker: closed when every event before it is published
}

func newService(ctx context.Context, p cdshim.Publisher, sd shutdown.Service) *service {
	s := &service{
		ctx: ctx, publisher: p, sd: sd, reaper: newChildReaper(),
		events: make(chan event, 128),
		tasks:  map[string]*ukTask{}, runcs: map[string]*runcTask{},
	}
	s.reaper.run()
	go s.forward()
	sd.RegisterCallback(func(context.Context) error {
		// containerd asks for the shutdown right after delete: the
		// TaskDelete just queued must still go out.
		s.flush(5 * time.Second)
		if addr, err := cdshim.ReadAddress("address"); err == nil {
			_ = cdshim.RemoveSocket(addr) // best effort: containerd's delete removes it too
		}
		s.mu.Lock()
		runc := s.runc != nil
		s.mu.Unlock()
		if runc {
			return nil // runc's task service publishes its last events, then closes it
		}
		return p.Close()
	})
	return s
}

func (s *service) RegisterTTRPC(server *ttrpc.Server) error {
	taskAPI.RegisterTTRPCTaskService(server, s)
	return nil
}

// send queues an event; one goroutine publishes them in order, so a
// task's exit never overtakes its start.
func (s *service) send(topic string, ev any) { s.events <- event{topic: topic, ev: ev} }

func (s *service) forward() {
	ctx := context.WithoutCancel(s.ctx) // shutdown cancels s.ctx
	for e := range s.events {
		if e.done != nil {
			close(e.done)
			continue
		}
		if err := s.publisher.Publish(ctx, e.topic, e.ev); err != nil {
			log.G(ctx).WithError(err).WithField("topic", e.topic).Error("publish event")
		}
	}
}

// flush waits (at most limit) until the events queued so far are published.
func (s *service) flush(limit time.Duration) {
	done := make(chan struct{})
	select {
	case s.events <- event{done: done}:
	case <-time.After(limit):
		return
	}
	select {
	case <-done:
	case <-time.After(limit):
	}
}

// lookup finds a container: a unikernel task, or one of runc's.
func (s *service) lookup(id string) (*ukTask, *runcTask, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tasks[id]; ok {
		return t, nil, nil
	}
	if r, ok := s.runcs[id]; ok {
		return nil, r, nil
	}
	return nil, nil, errgrpc.ToGRPCf(errdefs.ErrNotFound, "container %s", id)
}

// options are the runtime options containerd passes: CRI sends
// runtimeoptions (TypeUrl, ConfigPath) for a runtime_type that is not
// runc's; runc's own options are accepted too (Root, BinaryName and
// SystemdCgroup then apply to the containers handed to runc).
type options struct {
	configPath string
	runc       *runcopts.Options
}

func parseOptions(a *anypb.Any) (options, error) {
	var o options
	if a.GetTypeUrl() == "" {
		return o, nil
	}
	v, err := typeurl.UnmarshalAny(a)
	if err != nil {
		return o, fmt.Errorf("runtime options %s: %w", a.GetTypeUrl(), err)
	}
	switch v := v.(type) {
	case *runtimeoptions.Options:
		o.configPath = v.ConfigPath
	case *runcopts.Options:
		o.runc = v
	default:
		return o, fmt.Errorf("runtime options of type %s are not urunc's (runtimeoptions.v1.Options or runc's)", a.GetTypeUrl())
	}
	return o, nil
}

// Create decides per container: a bundle with a unikernel configuration
// runs in-process under urunc, anything else goes to runc. The rootfs
// must be mounted first: urunc.json may be in it.
func (s *service) Create(ctx context.Context, r *taskAPI.CreateTaskRequest) (_ *taskAPI.CreateTaskResponse, err error) {
	if _, _, err := s.lookup(r.ID); err == nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrAlreadyExists, "container %s", r.ID)
	}
	opts, err := parseOptions(r.Options)
	if err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err))
	}
	rootfs := filepath.Join(r.Bundle, "rootfs")
	mounted := false
	if len(r.Rootfs) > 0 {
		if err := os.MkdirAll(rootfs, 0o711); err != nil { //nolint:gosec // G301: the rootfs mount point, traversable as runc's shim makes it
			return nil, errgrpc.ToGRPC(err)
		}
		if err := mount.All(mount.FromProto(r.Rootfs), rootfs); err != nil {
			return nil, errgrpc.ToGRPCf(errdefs.ErrUnknown, "mount rootfs: %v", err)
		}
		mounted = true
	}
	defer func() {
		if err != nil && mounted {
			unmountRootfs(ctx, r.Bundle)
		}
	}()
	unikernel, err := config.Detect(r.Bundle)
	if err != nil {
		return nil, toGRPC(err)
	}
	if !unikernel {
		return s.createRunc(ctx, r, opts, mounted)
	}
	return s.createUnikernel(ctx, r, opts, mounted)
}

func unmountRootfs(ctx context.Context, bundle string) {
	if err := mount.UnmountRecursive(filepath.Join(bundle, "rootfs"), 0); err != nil {
		log.G(ctx).WithError(err).Warn("unmount rootfs")
	}
}

func (s *service) Start(ctx context.Context, r *taskAPI.StartRequest) (*taskAPI.StartResponse, error) {
	t, rc, err := s.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	if rc != nil {
		return s.runc.Start(ctx, r)
	}
	return t.start(ctx, r)
}

func (s *service) Delete(ctx context.Context, r *taskAPI.DeleteRequest) (*taskAPI.DeleteResponse, error) {
	t, rc, err := s.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	if rc != nil {
		return s.deleteRunc(ctx, rc, r)
	}
	return s.deleteUnikernel(ctx, t, r)
}

func (s *service) Exec(ctx context.Context, r *taskAPI.ExecProcessRequest) (*emptypb.Empty, error) {
	t, rc, err := s.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	if rc != nil {
		return s.runc.Exec(ctx, r)
	}
	return nil, t.exec()
}

func (s *service) ResizePty(ctx context.Context, r *taskAPI.ResizePtyRequest) (*emptypb.Empty, error) {
	t, rc, err := s.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	if rc != nil {
		return s.runc.ResizePty(ctx, r)
	}
	return t.resizePty(r)
}

func (s *service) State(ctx context.Context, r *taskAPI.StateRequest) (*taskAPI.StateResponse, error) {
	t, rc, err := s.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	if rc != nil {
		return s.runc.State(ctx, r)
	}
	return t.state(r)
}

func (s *service) Pause(ctx context.Context, r *taskAPI.PauseRequest) (*emptypb.Empty, error) {
	t, rc, err := s.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	if rc != nil {
		return s.runc.Pause(ctx, r)
	}
	return t.setPaused(ctx, true)
}

func (s *service) Resume(ctx context.Context, r *taskAPI.ResumeRequest) (*emptypb.Empty, error) {
	t, rc, err := s.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	if rc != nil {
		return s.runc.Resume(ctx, r)
	}
	return t.setPaused(ctx, false)
}

func (s *service) Kill(ctx context.Context, r *taskAPI.KillRequest) (*emptypb.Empty, error) {
	t, rc, err := s.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	if rc != nil {
		return s.runc.Kill(ctx, r)
	}
	return t.kill(ctx, r)
}

func (s *service) Pids(ctx context.Context, r *taskAPI.PidsRequest) (*taskAPI.PidsResponse, error) {
	t, rc, err := s.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	if rc != nil {
		return s.runc.Pids(ctx, r)
	}
	return t.pids()
}

func (s *service) CloseIO(ctx context.Context, r *taskAPI.CloseIORequest) (*emptypb.Empty, error) {
	t, rc, err := s.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	if rc != nil {
		return s.runc.CloseIO(ctx, r)
	}
	if r.ExecID != "" {
		return nil, errgrpc.ToGRPCf(errdefs.ErrNotFound, "exec %s", r.ExecID)
	}
	if r.Stdin {
		t.io.CloseStdin()
	}
	return &emptypb.Empty{}, nil
}

func (s *service) Checkpoint(ctx context.Context, r *taskAPI.CheckpointTaskRequest) (*emptypb.Empty, error) {
	_, rc, err := s.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	if rc != nil {
		return s.runc.Checkpoint(ctx, r)
	}
	return nil, toGRPC(unsupported("checkpoint", r.ID, "a VM's state is not checkpointed"))
}

func (s *service) Update(ctx context.Context, r *taskAPI.UpdateTaskRequest) (*emptypb.Empty, error) {
	t, rc, err := s.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	if rc != nil {
		return s.runc.Update(ctx, r)
	}
	return t.update(ctx, r)
}

func (s *service) Wait(ctx context.Context, r *taskAPI.WaitRequest) (*taskAPI.WaitResponse, error) {
	t, rc, err := s.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	if rc != nil {
		return s.runc.Wait(ctx, r)
	}
	return t.wait(ctx, r)
}

func (s *service) Stats(ctx context.Context, r *taskAPI.StatsRequest) (*taskAPI.StatsResponse, error) {
	t, rc, err := s.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	if rc != nil {
		return s.runc.Stats(ctx, r)
	}
	return t.stats()
}

func (s *service) Connect(ctx context.Context, r *taskAPI.ConnectRequest) (*taskAPI.ConnectResponse, error) {
	t, rc, err := s.lookup(r.ID)
	if rc != nil {
		return s.runc.Connect(ctx, r)
	}
	// The shim's pid even before (or after) its container, as runc's.
	resp := &taskAPI.ConnectResponse{ShimPid: uint32(os.Getpid()), Version: Version}
	if err == nil {
		resp.TaskPid = t.pid
	}
	return resp, nil
}

// Shutdown ends the shim once it serves no container (containerd asks
// after every delete).
func (s *service) Shutdown(ctx context.Context, r *taskAPI.ShutdownRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	n := len(s.tasks) + len(s.runcs)
	s.mu.Unlock()
	if n > 0 && !r.Now {
		return &emptypb.Empty{}, nil
	}
	s.sd.Shutdown()
	return &emptypb.Empty{}, nil
}

// classed is an error that reads as err and is also class (an errdefs
// error), so errgrpc gives containerd the right code with urunc's words.
type classed struct{ err, class error }

func (c classed) Error() string   { return c.err.Error() }
func (c classed) Unwrap() []error { return []error{c.err, c.class} }

func as(class, err error) error { return classed{err, class} }

// errIs reports whether err is any of targets.
func errIs(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

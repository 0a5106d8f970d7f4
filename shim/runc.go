package shim

import (
	"context"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v2"
	task3 "github.com/containerd/containerd/api/runtime/task/v3"
	runcopts "github.com/containerd/containerd/api/types/runc/options"
	runctask "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/urunc-dev/urunc/runtime/config"
)

// Containers without a unikernel configuration run under containerd's
// own runc task service (the one containerd-shim-runc-v2 serves), in this
// process. It speaks task API v3; v2 and v3 are the same protobuf
// messages under another package name, so requests and answers are
// re-encoded between the two.

// runcTask is a container handed to runc.
type runcTask struct {
	bundle  string
	mounted bool // the shim mounted its rootfs (to read urunc.json), not runc
}

// runcService is containerd's runc task service behind the v2 API.
type runcService struct{ svc task3.TTRPCTaskService }

// recode copies a message into its twin of the other API version.
func recode(from, to proto.Message) error {
	b, err := proto.Marshal(from)
	if err != nil {
		return err
	}
	return proto.Unmarshal(b, to)
}

// relay calls the v3 method with a re-encoded request and re-encodes its
// answer; p is the v2 answer to fill.
func relay[Q3, P3, P proto.Message](ctx context.Context, q proto.Message, q3 Q3, call func(context.Context, Q3) (P3, error), p P) (P, error) {
	var zero P
	if err := recode(q, q3); err != nil {
		return zero, errgrpc.ToGRPC(err)
	}
	p3, err := call(ctx, q3)
	if err != nil {
		return zero, err
	}
	if err := recode(p3, p); err != nil {
		return zero, errgrpc.ToGRPC(err)
	}
	return p, nil
}

// runcService makes containerd's runc task service at the first container
// it gets; from then on containerd's reaper waits for the children the
// shim did not start itself (reaper.go).
func (s *service) runcService() (*runcService, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runc != nil {
		return s.runc, nil
	}
	s.reaper.delegateOthers()
	svc, err := runctask.NewTaskService(s.ctx, s.publisher, s.sd)
	if err != nil {
		return nil, err
	}
	s.runc = &runcService{svc}
	return s.runc, nil
}

func (s *service) createRunc(ctx context.Context, r *taskAPI.CreateTaskRequest, opts options, mounted bool) (*taskAPI.CreateTaskResponse, error) {
	rs, err := s.runcService()
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	q := proto.Clone(r).(*taskAPI.CreateTaskRequest)
	// runc's options only (CRI's runtimeoptions would not decode there);
	// a systemd-style cgroupsPath needs runc's --systemd-cgroup.
	ro := &runcopts.Options{}
	if opts.runc != nil {
		ro = proto.Clone(opts.runc).(*runcopts.Options)
	}
	if !ro.SystemdCgroup {
		if spec, err := config.LoadSpec(r.Bundle); err == nil && systemdCgroupsPath(spec) {
			ro.SystemdCgroup = true
		}
	}
	if ro.Root == "" {
		ns, _ := namespaces.Namespace(ctx)
		ro.Root = runcRoot(r.Bundle, ns)
	}
	if q.Options, err = typeurl.MarshalAnyToProto(ro); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	// The rootfs is mounted already: runc uses <bundle>/rootfs as it is.
	q.Rootfs = nil
	s.mu.Lock()
	s.runcs[r.ID] = &runcTask{bundle: r.Bundle, mounted: mounted}
	s.mu.Unlock()
	resp, err := relay(ctx, q, &task3.CreateTaskRequest{}, rs.svc.Create, &taskAPI.CreateTaskResponse{})
	if err != nil {
		s.mu.Lock()
		delete(s.runcs, r.ID)
		s.mu.Unlock()
	}
	return resp, err
}

func (s *service) deleteRunc(ctx context.Context, rc *runcTask, r *taskAPI.DeleteRequest) (*taskAPI.DeleteResponse, error) {
	resp, err := relay(ctx, r, &task3.DeleteRequest{}, s.runc.svc.Delete, &taskAPI.DeleteResponse{})
	if err != nil || r.ExecID != "" {
		return resp, err
	}
	if rc.mounted {
		unmountRootfs(ctx, rc.bundle)
	}
	s.mu.Lock()
	delete(s.runcs, r.ID)
	s.mu.Unlock()
	return resp, nil
}

func (rs *runcService) Start(ctx context.Context, r *taskAPI.StartRequest) (*taskAPI.StartResponse, error) {
	return relay(ctx, r, &task3.StartRequest{}, rs.svc.Start, &taskAPI.StartResponse{})
}

func (rs *runcService) Exec(ctx context.Context, r *taskAPI.ExecProcessRequest) (*emptypb.Empty, error) {
	return relay(ctx, r, &task3.ExecProcessRequest{}, rs.svc.Exec, &emptypb.Empty{})
}

func (rs *runcService) ResizePty(ctx context.Context, r *taskAPI.ResizePtyRequest) (*emptypb.Empty, error) {
	return relay(ctx, r, &task3.ResizePtyRequest{}, rs.svc.ResizePty, &emptypb.Empty{})
}

func (rs *runcService) State(ctx context.Context, r *taskAPI.StateRequest) (*taskAPI.StateResponse, error) {
	return relay(ctx, r, &task3.StateRequest{}, rs.svc.State, &taskAPI.StateResponse{})
}

func (rs *runcService) Pause(ctx context.Context, r *taskAPI.PauseRequest) (*emptypb.Empty, error) {
	return relay(ctx, r, &task3.PauseRequest{}, rs.svc.Pause, &emptypb.Empty{})
}

func (rs *runcService) Resume(ctx context.Context, r *taskAPI.ResumeRequest) (*emptypb.Empty, error) {
	return relay(ctx, r, &task3.ResumeRequest{}, rs.svc.Resume, &emptypb.Empty{})
}

func (rs *runcService) Kill(ctx context.Context, r *taskAPI.KillRequest) (*emptypb.Empty, error) {
	return relay(ctx, r, &task3.KillRequest{}, rs.svc.Kill, &emptypb.Empty{})
}

func (rs *runcService) Pids(ctx context.Context, r *taskAPI.PidsRequest) (*taskAPI.PidsResponse, error) {
	return relay(ctx, r, &task3.PidsRequest{}, rs.svc.Pids, &taskAPI.PidsResponse{})
}

func (rs *runcService) CloseIO(ctx context.Context, r *taskAPI.CloseIORequest) (*emptypb.Empty, error) {
	return relay(ctx, r, &task3.CloseIORequest{}, rs.svc.CloseIO, &emptypb.Empty{})
}

func (rs *runcService) Checkpoint(ctx context.Context, r *taskAPI.CheckpointTaskRequest) (*emptypb.Empty, error) {
	return relay(ctx, r, &task3.CheckpointTaskRequest{}, rs.svc.Checkpoint, &emptypb.Empty{})
}

func (rs *runcService) Update(ctx context.Context, r *taskAPI.UpdateTaskRequest) (*emptypb.Empty, error) {
	return relay(ctx, r, &task3.UpdateTaskRequest{}, rs.svc.Update, &emptypb.Empty{})
}

func (rs *runcService) Wait(ctx context.Context, r *taskAPI.WaitRequest) (*taskAPI.WaitResponse, error) {
	return relay(ctx, r, &task3.WaitRequest{}, rs.svc.Wait, &taskAPI.WaitResponse{})
}

func (rs *runcService) Stats(ctx context.Context, r *taskAPI.StatsRequest) (*taskAPI.StatsResponse, error) {
	return relay(ctx, r, &task3.StatsRequest{}, rs.svc.Stats, &taskAPI.StatsResponse{})
}

func (rs *runcService) Connect(ctx context.Context, r *taskAPI.ConnectRequest) (*taskAPI.ConnectResponse, error) {
	return relay(ctx, r, &task3.ConnectRequest{}, rs.svc.Connect, &taskAPI.ConnectResponse{})
}

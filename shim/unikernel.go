package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	eventstypes "github.com/containerd/containerd/api/events"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v2"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	oomv1 "github.com/containerd/containerd/v2/pkg/oom/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/container"
	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// ukTask is a unikernel container run in-process by runtime/container:
// the shim is the VMM's parent and reaps it (childReaper).
type ukTask struct {
	s        *service
	id       string
	bundle   string
	rt       *container.Runtime
	proc     *container.Process
	io       *taskIO
	mounted  bool // the shim mounted the rootfs
	pid      uint32
	stdin    string
	stdout   string
	stderr   string
	terminal bool
	cgroup   any // cgroup1.Cgroup or *cgroup2.Manager, nil without one

	// startMu orders start against the exit: a VMM that exits at once
	// has its exit published after its start.
	startMu    sync.Mutex
	mu         sync.Mutex
	status     tasktypes.Status
	exitStatus uint32
	exitedAt   time.Time
	exited     chan struct{}
}

// systemdCgroupsPath reports whether a spec's cgroupsPath is systemd's
// "slice:prefix:name" (CRI with the systemd cgroup driver) rather than a
// path: the shim has no runc --systemd-cgroup flag to go by.
func systemdCgroupsPath(spec *specs.Spec) bool {
	if spec.Linux == nil {
		return false
	}
	p := spec.Linux.CgroupsPath
	return p != "" && !strings.HasPrefix(p, "/") && strings.Count(p, ":") == 2
}

func (s *service) createUnikernel(ctx context.Context, r *taskAPI.CreateTaskRequest, opts options, mounted bool) (*taskAPI.CreateTaskResponse, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if opts.configPath != "" {
		// The re-exec child reads it too (it inherits the environment).
		os.Setenv("URUNC_CONFIG", opts.configPath)
	}
	host, err := config.LoadHost(config.HostConfigPath())
	if err != nil {
		return nil, toGRPC(err)
	}
	spec, err := config.LoadSpec(r.Bundle)
	if err != nil {
		return nil, toGRPC(err)
	}
	root := StateRoot(r.Bundle, ns)
	// The child's log: where the runc shim has runc's (and urunc's).
	childLog := filepath.Join(r.Bundle, "log.json")
	systemd := systemdCgroupsPath(spec) || (opts.runc != nil && opts.runc.SystemdCgroup)
	global := initArgs(root, childLog)
	if systemd {
		global = append(global, "--systemd-cgroup")
	}
	rt := container.New(container.Options{
		Root: root, Host: host, SystemdCgroup: systemd,
		Log:     slog.New(newLogHandler(log.G(ctx).WithField("id", r.ID))),
		SelfExe: "/proc/self/exe", GlobalArgs: global,
		Reaper: s.reaper,
	})
	tio, err := openIO(ctx, r.ID, ns, r.Stdin, r.Stdout, r.Stderr, r.Terminal, s.reaper)
	if err != nil {
		return nil, toGRPC(err)
	}
	// The shim reaps the VMM and reads the guest's outcome (waitExit).
	proc, err := rt.Create(ctx, container.CreateOptions{
		ID: r.ID, Bundle: r.Bundle, ConsoleSocket: tio.ConsoleSocket,
		Stdin: tio.Stdin, Stdout: tio.Stdout, Stderr: tio.Stderr,
		DecodesExit: true,
	})
	tio.Started()
	if err != nil {
		tio.Close()
		return nil, toGRPC(withChildError(err, childLog))
	}
	t := &ukTask{
		s: s, id: r.ID, bundle: r.Bundle, rt: rt, proc: proc, io: tio, mounted: mounted,
		pid: uint32(proc.Pid), stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, terminal: r.Terminal,
		status: tasktypes.Status_CREATED, exited: make(chan struct{}),
	}
	if r.Terminal {
		if err := tio.Console(ctx, r.Stdin, r.Stdout); err != nil {
			if derr := rt.Delete(context.WithoutCancel(ctx), r.ID, true); derr != nil {
				log.G(ctx).WithError(derr).Warn("delete after a failed console set-up")
			}
			tio.Close()
			return nil, toGRPC(err)
		}
	}
	if st, err := rt.State(r.ID); err == nil {
		if t.cgroup, err = loadCgroup(st.CgroupPaths); err != nil && !errors.Is(err, errNoCgroup) {
			log.G(ctx).WithError(err).Warn("cgroup of the VMM: no stats")
		}
	}
	s.watchOOM(ctx, t)
	s.mu.Lock()
	s.tasks[r.ID] = t
	s.mu.Unlock()
	go t.waitExit() //nolint:gosec // G118: the VMM outlives the create request
	s.send(runtime.TaskCreateEventTopic, &eventstypes.TaskCreate{
		ContainerID: r.ID, Bundle: r.Bundle, Rootfs: r.Rootfs, Pid: t.pid,
		IO: &eventstypes.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
	})
	return &taskAPI.CreateTaskResponse{Pid: t.pid}, nil
}

// watchOOM publishes TaskOOM for the VMM's cgroup.
func (s *service) watchOOM(ctx context.Context, t *ukTask) {
	switch cg := t.cgroup.(type) {
	case cgroup1.Cgroup:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.oom1 == nil {
			w, err := oomv1.New(s.publisher)
			if err != nil {
				log.G(ctx).WithError(err).Warn("OOM watcher")
				return
			}
			go w.Run(s.ctx)
			s.oom1 = w
		}
		if err := s.oom1.Add(t.id, cg); err != nil {
			log.G(ctx).WithError(err).Warn("watch the VMM's cgroup for OOM")
		}
	case *cgroup2.Manager:
		s.watchOOM2(s.ctx, t.id, cg)
	}
}

// withChildError adds the re-exec child's last logged error to a failed
// create's, as the runc shim adds runc's.
func withChildError(err error, logFile string) error {
	f, ferr := os.Open(logFile)
	if ferr != nil {
		return err
	}
	defer f.Close()
	last := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct{ Level, Msg string }
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Level == "error" {
			last = l.Msg
		}
	}
	if last == "" || strings.Contains(err.Error(), last) {
		return err
	}
	return fmt.Errorf("%w (the init child said: %s)", err, last)
}

// waitExit waits for the VMM, reads the guest's outcome from its status
// (Runtime.Outcome, as urunc run does: a Linux guest's program status, a
// signal as 128+n), then publishes the exit once its output is delivered.
func (t *ukTask) waitExit() {
	vmmStatus, err := t.proc.Wait(context.Background())
	status := 255
	switch {
	case err != nil || vmmStatus < 0:
		log.G(t.s.ctx).WithError(err).WithField("id", t.id).Error("the VMM's exit status is lost")
	default:
		out := t.rt.Outcome(t.id, vmmStatus)
		status = out.Status
		if out.Status != 0 {
			log.G(t.s.ctx).WithField("id", t.id).WithField("status", out.Status).Info(out.Reason)
		}
	}
	if !t.io.WaitOutput(3 * time.Second) {
		log.G(t.s.ctx).WithField("id", t.id).Warn("the VMM's output did not end within 3 s of its exit")
	}
	t.startMu.Lock()
	defer t.startMu.Unlock()
	t.mu.Lock()
	t.status, t.exitStatus, t.exitedAt = tasktypes.Status_STOPPED, uint32(status), time.Now()
	close(t.exited)
	t.mu.Unlock()
	t.s.send(runtime.TaskExitEventTopic, &eventstypes.TaskExit{
		ContainerID: t.id, ID: t.id, Pid: t.pid, ExitStatus: uint32(status), ExitedAt: timestamppb.New(t.exitedAt),
	})
}

func (t *ukTask) getStatus() tasktypes.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status
}

func noExec(execID string) error {
	return errgrpc.ToGRPCf(errdefs.ErrNotFound, "exec %s: a unikernel container has no exec processes", execID)
}

func (t *ukTask) start(ctx context.Context, r *taskAPI.StartRequest) (*taskAPI.StartResponse, error) {
	if r.ExecID != "" {
		return nil, noExec(r.ExecID)
	}
	t.startMu.Lock()
	defer t.startMu.Unlock()
	if err := t.rt.Start(ctx, t.id); err != nil {
		return nil, toGRPC(err)
	}
	t.mu.Lock()
	if t.status == tasktypes.Status_CREATED {
		t.status = tasktypes.Status_RUNNING
	}
	t.mu.Unlock()
	t.s.send(runtime.TaskStartEventTopic, &eventstypes.TaskStart{ContainerID: t.id, Pid: t.pid})
	return &taskAPI.StartResponse{Pid: t.pid}, nil
}

func (s *service) deleteUnikernel(ctx context.Context, t *ukTask, r *taskAPI.DeleteRequest) (*taskAPI.DeleteResponse, error) {
	if r.ExecID != "" {
		return nil, noExec(r.ExecID)
	}
	switch t.getStatus() {
	case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED:
		return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "cannot delete %s: its VMM is running (kill it first)", t.id)
	}
	// Created and never started, or stopped: delete with force, which
	// kills a waiting init child (then reaped and reported as exited).
	if err := t.rt.Delete(ctx, t.id, true); err != nil && !errors.Is(err, state.ErrNotExist) {
		return nil, toGRPC(err)
	}
	select {
	case <-t.exited:
	case <-time.After(10 * time.Second):
		return nil, errgrpc.ToGRPCf(errdefs.ErrUnknown, "delete %s: pid %d did not exit", t.id, t.pid)
	}
	t.io.Close()
	if t.mounted {
		unmountRootfs(ctx, t.bundle)
	}
	s.mu.Lock()
	delete(s.tasks, t.id)
	s.mu.Unlock()
	t.mu.Lock()
	resp := &taskAPI.DeleteResponse{Pid: t.pid, ExitStatus: t.exitStatus, ExitedAt: timestamppb.New(t.exitedAt)}
	t.mu.Unlock()
	s.send(runtime.TaskDeleteEventTopic, &eventstypes.TaskDelete{
		ContainerID: t.id, ID: t.id, Pid: resp.Pid, ExitStatus: resp.ExitStatus, ExitedAt: resp.ExitedAt,
	})
	return resp, nil
}

func (t *ukTask) exec() error {
	return toGRPC(unsupported("exec", t.id, "a unikernel has no processes to add"))
}

// unsupported is the runtime's refusal, in urunc's words.
func unsupported(what, id, why string) error {
	return fmt.Errorf("%s in %s: %w: %s", what, id, container.ErrUnsupported, why)
}

func (t *ukTask) resizePty(r *taskAPI.ResizePtyRequest) (*emptypb.Empty, error) {
	if r.ExecID != "" {
		return nil, noExec(r.ExecID)
	}
	if err := t.io.Resize(r.Width, r.Height); err != nil {
		if errors.Is(err, errNoConsole) {
			return nil, errgrpc.ToGRPC(as(errdefs.ErrFailedPrecondition, err))
		}
		return nil, errgrpc.ToGRPC(err)
	}
	return &emptypb.Empty{}, nil
}

func (t *ukTask) state(r *taskAPI.StateRequest) (*taskAPI.StateResponse, error) {
	if r.ExecID != "" {
		return nil, noExec(r.ExecID)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	resp := &taskAPI.StateResponse{
		ID: t.id, Bundle: t.bundle, Pid: t.pid, Status: t.status,
		Stdin: t.stdin, Stdout: t.stdout, Stderr: t.stderr, Terminal: t.terminal,
		ExitStatus: t.exitStatus,
	}
	if !t.exitedAt.IsZero() {
		resp.ExitedAt = timestamppb.New(t.exitedAt)
	}
	return resp, nil
}

func (t *ukTask) setPaused(ctx context.Context, pause bool) (*emptypb.Empty, error) {
	var err error
	if pause {
		err = t.rt.Pause(ctx, t.id)
	} else {
		err = t.rt.Resume(ctx, t.id)
	}
	if err != nil {
		return nil, toGRPC(err)
	}
	t.mu.Lock()
	if t.status != tasktypes.Status_STOPPED {
		t.status = tasktypes.Status_RUNNING
		if pause {
			t.status = tasktypes.Status_PAUSED
		}
	}
	t.mu.Unlock()
	if pause {
		t.s.send(runtime.TaskPausedEventTopic, &eventstypes.TaskPaused{ContainerID: t.id})
	} else {
		t.s.send(runtime.TaskResumedEventTopic, &eventstypes.TaskResumed{ContainerID: t.id})
	}
	return &emptypb.Empty{}, nil
}

func (t *ukTask) kill(ctx context.Context, r *taskAPI.KillRequest) (*emptypb.Empty, error) {
	if r.ExecID != "" {
		return nil, noExec(r.ExecID)
	}
	if t.getStatus() == tasktypes.Status_STOPPED {
		if r.All {
			return &emptypb.Empty{}, nil // nothing left to signal, as runc
		}
		return nil, errgrpc.ToGRPC(as(errdefs.ErrNotFound, errors.New("process already finished")))
	}
	if err := t.rt.Kill(ctx, t.id, unix.Signal(r.Signal), r.All); err != nil {
		return nil, toGRPC(err)
	}
	return &emptypb.Empty{}, nil
}

func (t *ukTask) pids() (*taskAPI.PidsResponse, error) {
	if t.getStatus() == tasktypes.Status_STOPPED {
		return &taskAPI.PidsResponse{}, nil
	}
	pids, err := t.rt.Pids(t.id)
	if err != nil {
		return nil, toGRPC(err)
	}
	resp := &taskAPI.PidsResponse{}
	for _, p := range pids {
		resp.Processes = append(resp.Processes, &tasktypes.ProcessInfo{Pid: uint32(p)})
	}
	return resp, nil
}

func (t *ukTask) update(ctx context.Context, r *taskAPI.UpdateTaskRequest) (*emptypb.Empty, error) {
	var res specs.LinuxResources
	if err := json.Unmarshal(r.Resources.GetValue(), &res); err != nil {
		return nil, errgrpc.ToGRPC(as(errdefs.ErrInvalidArgument, fmt.Errorf("update %s: resources: %w", t.id, err)))
	}
	if err := t.rt.Update(ctx, t.id, &res); err != nil {
		return nil, toGRPC(err)
	}
	return &emptypb.Empty{}, nil
}

func (t *ukTask) wait(ctx context.Context, r *taskAPI.WaitRequest) (*taskAPI.WaitResponse, error) {
	if r.ExecID != "" {
		return nil, noExec(r.ExecID)
	}
	select {
	case <-t.exited:
	case <-ctx.Done():
		return nil, errgrpc.ToGRPC(ctx.Err())
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return &taskAPI.WaitResponse{ExitStatus: t.exitStatus, ExitedAt: timestamppb.New(t.exitedAt)}, nil
}

func (t *ukTask) stats() (*taskAPI.StatsResponse, error) {
	m, err := cgroupMetrics(t.cgroup)
	if err != nil {
		if errors.Is(err, errNoCgroup) {
			return nil, errgrpc.ToGRPC(as(errdefs.ErrNotFound, fmt.Errorf("stats of %s: %w", t.id, err)))
		}
		return nil, errgrpc.ToGRPC(err)
	}
	return &taskAPI.StatsResponse{Stats: m}, nil
}

// toGRPC gives the runtime's errors containerd's codes, keeping urunc's
// message.
func toGRPC(err error) error {
	switch {
	case err == nil:
		return nil
	case errIs(err, state.ErrNotExist):
		err = as(errdefs.ErrNotFound, err)
	case errIs(err, state.ErrExists):
		err = as(errdefs.ErrAlreadyExists, err)
	case errIs(err, container.ErrNotRunning):
		// runc's "container not running": containerd treats a kill of an
		// exited process as done.
		err = as(errdefs.ErrNotFound, err)
	case errIs(err, container.ErrUnsupported):
		err = as(errdefs.ErrNotImplemented, err)
	case errIs(err, state.ErrInvalidTransition, container.ErrNotCreated, container.ErrNotStopped, state.ErrLocked):
		err = as(errdefs.ErrFailedPrecondition, err)
	case errIs(err, config.ErrBadBundle, config.ErrInvalidConfig, config.ErrPathEscapes, state.ErrInvalidID,
		vmm.ErrUnknownGuest, vmm.ErrUnknownHypervisor, vmm.ErrUnsupportedPair, vmm.ErrInvalidValue):
		err = as(errdefs.ErrInvalidArgument, err)
	case errIs(err, vmm.ErrNotInstalled):
		err = as(errdefs.ErrFailedPrecondition, err)
	}
	return errgrpc.ToGRPC(err)
}

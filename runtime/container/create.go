package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/hooks"
	"github.com/urunc-dev/urunc/runtime/ipc"
	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// CreateOptions are create's flags.
type CreateOptions struct {
	ID            string
	Bundle        string
	PidFile       string
	ConsoleSocket string
	// Stdio of the container (the guest console when there is no terminal).
	Stdin, Stdout, Stderr *os.File
}

// Process is the container's init child as seen by the process that
// created it; Run uses it to wait for the VMM's exit.
type Process struct {
	Pid  int
	done chan struct{}
	err  error // cmd.Wait's result, valid after done is closed
	cmd  *exec.Cmd
}

// Wait returns the container's exit status once its VMM has exited.
func (p *Process) Wait(ctx context.Context) (int, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		return -1, context.Cause(ctx)
	}
	return exitStatus(p.cmd.ProcessState), nil
}

func exitStatus(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// undo collects steps to revert if an operation fails half-way.
type undo []func()

func (u *undo) add(f func()) { *u = append(*u, f) }
func (u *undo) run() {
	for i := len(*u) - 1; i >= 0; i-- {
		(*u)[i]()
	}
	*u = nil
}

// Create prepares a unikernel container: it validates everything it can,
// makes the state directory, starts the re-exec child in the container's
// namespaces and completes the BOOTED/ACK handshake. On any failure
// everything it did is undone.
func (r *Runtime) Create(ctx context.Context, o CreateOptions) (_ *Process, err error) {
	if err := state.ValidateID(o.ID); err != nil {
		return nil, err
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, err
	}
	spec, err := config.LoadSpec(bundle)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(bundle, spec)
	if err != nil {
		return nil, err
	}
	if err := vmm.Validate(cfg.Type, cfg.Hypervisor); err != nil {
		return nil, err
	}
	rootfs := config.RootfsPath(bundle, spec)
	if _, err := config.ResolveInRootfs(rootfs, config.KeyBinary, cfg.Binary); err != nil {
		return nil, err
	}
	for _, p := range []struct{ key, v string }{{config.KeyInitrd, cfg.Initrd}, {config.KeyBlock, cfg.Block}} {
		if _, err := config.ResolveInRootfs(rootfs, p.key, p.v); err != nil {
			return nil, err
		}
	}
	if _, err := memoryMB(spec, r.opts.Host.MemoryMB, r.opts.Host.VMMOverheadMB); err != nil {
		return nil, err
	}
	cloneFlags, join, err := namespacePlan(spec)
	if err != nil {
		return nil, err
	}
	terminal := spec.Process != nil && spec.Process.Terminal
	if terminal && o.ConsoleSocket == "" {
		return nil, fmt.Errorf("%w: process.terminal is true but no --console-socket was given", config.ErrBadBundle)
	}
	pidFile := o.PidFile
	if pidFile != "" {
		if pidFile, err = filepath.Abs(pidFile); err != nil {
			return nil, err
		}
	}

	d, err := state.Create(r.opts.Root, o.ID)
	if err != nil {
		return nil, err
	}
	var rollback undo
	defer func() {
		if err != nil {
			r.failed(d, "create", err)
			rollback.run()
		}
	}()
	rollback.add(func() { d.Remove() })
	unlock, err := d.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()

	st := &state.State{
		State: specs.State{
			Version:     specs.Version,
			ID:          o.ID,
			Status:      specs.ContainerState(state.Creating),
			Bundle:      bundle,
			Annotations: spec.Annotations,
		},
		Rootfs:     rootfs,
		Created:    time.Now().UTC(),
		Owner:      currentUser(),
		Guest:      cfg.Type,
		Hypervisor: cfg.Hypervisor,
	}
	if err := d.WriteState(st); err != nil {
		return nil, err
	}
	r.event(d, state.Event{Step: state.StepCreate, Detail: fmt.Sprintf("bundle %s, %s on %s (config from %s)", bundle, cfg.Type, cfg.Hypervisor, cfg.Source)})

	// Listen before spawning: the child may say BOOTED at once.
	initLn, err := ipc.Listen(d.File(state.InitSock))
	if err != nil {
		return nil, err
	}
	defer initLn.Close()

	// The child learns that we died (before ACK) from EOF on this pipe.
	parentR, parentW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer parentR.Close()
	rollback.add(func() { parentW.Close() })

	// The cgroup exists, limits set, before the child does: the VMM it
	// becomes never runs unaccounted or unlimited.
	cgroup, err := r.createCgroup(d, spec, o.ID)
	if err != nil {
		return nil, err
	}
	if cgroup != nil {
		rollback.add(func() { cgroup.Destroy() })
		st.CgroupPaths, st.CgroupDriver = cgroup.Paths, cgroup.Driver
		if err := d.WriteState(st); err != nil {
			return nil, err
		}
	}

	args := append([]string{"urunc"}, r.opts.GlobalArgs...)
	args = append(args, "create", "--reexec", "--bundle", bundle, o.ID)
	cmd := &exec.Cmd{
		Path:       r.opts.SelfExe,
		Args:       args,
		Env:        append(os.Environ(), "URUNC_REEXEC=1"),
		Stdin:      o.Stdin,
		Stdout:     o.Stdout,
		Stderr:     o.Stderr,
		ExtraFiles: []*os.File{parentR},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: cloneFlags,
			Setsid:     true,
		},
	}
	if terminal {
		master, slave, err := newConsole()
		if err != nil {
			return nil, err
		}
		defer master.Close()
		defer slave.Close()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
		cctx, cancel := withTimeout(ctx, r.opts.Host.Timeouts.Booted, "console socket")
		err = sendConsole(cctx, o.ConsoleSocket, master)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	// The child enters the cgroup without a migration: cloned into it on
	// cgroup v2; on v1 it moves its own leader thread after BOOTED, before ACK
	// (Init). Moving a whole process would wait for an RCU grace period.
	if cgroup != nil {
		if dir, ok := cgroup.OnlyUnified(); ok {
			fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil, fmt.Errorf("open cgroup %s: %w", dir, err)
			}
			defer unix.Close(fd)
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
		}
	}
	if err := startIn(cmd, join); err != nil {
		return nil, fmt.Errorf("start init child: %w", err)
	}
	child := &Process{Pid: cmd.Process.Pid, done: make(chan struct{}), cmd: cmd}
	go func() { child.err = cmd.Wait(); close(child.done) }()
	rollback.add(func() {
		cmd.Process.Kill()
		<-child.done
	})
	faultPoint("parent-after-spawn")
	timeouts := r.opts.Host.Timeouts
	r.event(d, state.Event{Step: state.StepChildSpawned, Detail: fmt.Sprintf("init child pid %d", cmd.Process.Pid),
		Waiting: string(ipc.Booted), TimeoutMS: ms(timeouts.Booted)})

	// Every wait below gives up at once if the child dies.
	childCtx, childGone := context.WithCancelCause(ctx)
	defer childGone(nil)
	go func() {
		select {
		case <-child.done:
			childGone(fmt.Errorf("init child exited: %v", child.cmd.ProcessState))
		case <-childCtx.Done():
		}
	}()
	dctx, cancel := withTimeout(childCtx, timeouts.Booted, "waiting for BOOTED from the init child")
	defer cancel()
	conn, err := initLn.Await(dctx, ipc.Booted)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	conn.Close()
	r.event(d, state.Event{Step: state.StepBootedReceived})
	faultPoint("parent-after-booted")

	startTime, err := state.StartTime(child.Pid)
	if err != nil {
		return nil, fmt.Errorf("%w: init child vanished: %v", ErrHandshake, err)
	}
	if pidFile != "" {
		if err := state.WriteFileAtomic(pidFile, []byte(strconv.Itoa(child.Pid)), 0o644); err != nil {
			return nil, fmt.Errorf("write pid file: %w", err)
		}
		rollback.add(func() { os.Remove(pidFile) })
		r.event(d, state.Event{Step: state.StepPidFile, Detail: pidFile})
	}
	st.Pid = child.Pid
	st.PidStartTime = startTime
	if err := d.SetStatus(st, state.Created); err != nil {
		return nil, err
	}

	for _, kind := range []hooks.Kind{hooks.Prestart, hooks.CreateRuntime, hooks.CreateContainer} {
		if err := r.runHooks(ctx, d, kind, spec, st); err != nil {
			return nil, err
		}
	}

	faultPoint("parent-before-ack")
	actx, acancel := withTimeout(childCtx, timeouts.Ack, "sending ACK")
	defer acancel()
	// ACK is answered once the child has set up the guest's network
	// (eth0 exists only after the hooks above): OK, or ERROR with why.
	ackConn, err := ipc.Dial(actx, d.File(state.UruncSock))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	defer ackConn.Close()
	if err := ackConn.Write(ipc.Ack, ""); err != nil {
		return nil, fmt.Errorf("%w: send ACK: %v", ErrHandshake, err)
	}
	r.event(d, state.Event{Step: state.StepAckSent, Waiting: "network set-up", TimeoutMS: ms(timeouts.Ack)})
	switch msg, reason, err := ackConn.Read(actx); {
	case err != nil:
		return nil, fmt.Errorf("%w: no answer to ACK: %v", ErrHandshake, err)
	case msg == ipc.Error:
		return nil, fmt.Errorf("create %s: %s", o.ID, reason)
	case msg != ipc.OK:
		return nil, fmt.Errorf("%w: unexpected answer to ACK: %s", ErrHandshake, msg)
	}
	r.event(d, state.Event{Step: state.StepCreated, Detail: fmt.Sprintf("pid %d", child.Pid)})
	r.log.Debug("created", "id", o.ID, "pid", child.Pid)
	return child, nil
}

func (r *Runtime) runHooks(ctx context.Context, d state.Dir, kind hooks.Kind, spec *specs.Spec, st *state.State) error {
	return hooks.Run(ctx, kind, hooks.List(spec.Hooks, kind), ociState(st), r.opts.Host.Timeouts.Hook.D(), func(h specs.Hook) {
		r.event(d, state.Event{Step: state.StepHook, Detail: fmt.Sprintf("%s %s", kind, h.Path)})
	})
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

// signalPid sends sig to pid if it is still the process we started;
// ErrNotRunning if it is not.
func signalPid(pid int, startTime uint64, sig unix.Signal) error {
	if err := state.Signal(pid, startTime, sig); errors.Is(err, state.ErrNotAlive) {
		return ErrNotRunning
	} else if err != nil {
		return err
	}
	return nil
}

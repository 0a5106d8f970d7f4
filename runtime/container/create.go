package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/internal/atomicfile"
	"github.com/urunc-dev/urunc/runtime/cgroups"
	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/hooks"
	"github.com/urunc-dev/urunc/runtime/ipc"
	"github.com/urunc-dev/urunc/runtime/network"
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
	// DecodesExit: the caller reaps the VMM and reads the guest's outcome
	// with Outcome (urunc run, the native shim), so the VMM may report it
	// through its exit status.
	DecodesExit bool
}

// Process is the container's init child as seen by the process that
// created it; Run uses it to wait for the VMM's exit.
type Process struct {
	Pid  int
	done chan struct{}
	ws   unix.WaitStatus // the wait status, valid after done is closed
	err  error           // why there is none, valid after done is closed
	cmd  *exec.Cmd
	tee  chan struct{} // the console copy's end, or nil
}

// teeDrain bounds how long Wait lets the console copy pass on what the
// VMM wrote last.
const teeDrain = 2 * time.Second

// Wait returns the container's exit status once its VMM has exited (and
// its console copy has passed on the last output).
func (p *Process) Wait(ctx context.Context) (int, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		return -1, context.Cause(ctx)
	}
	if p.tee != nil {
		select {
		case <-p.tee:
		case <-time.After(teeDrain):
		}
	}
	return exitStatus(p.ws, p.err), nil
}

// undo collects the steps to revert when an operation fails half-way,
// run last first (gVisor's cleanup objects).
type undo []func()

func (u *undo) add(f func()) { *u = append(*u, f) }
func (u *undo) run() {
	for i := len(*u) - 1; i >= 0; i-- {
		(*u)[i]()
	}
	*u = nil
}

// creation is one create under way: what the bundle asks for, and what
// has been done so far (undone on failure).
type creation struct {
	r        *Runtime
	o        CreateOptions
	bundle   string
	pidFile  string
	spec     *specs.Spec
	cfg      *config.Unikernel
	rootfs   string
	clone    uintptr
	join     []specs.LinuxNamespace
	terminal bool

	d      state.Dir
	st     *state.State
	cgroup *cgroups.Placement
	child  *Process
	tee    chan struct{} // closed when the console copy has ended (nil: none)
	undo   undo
}

// Create prepares a unikernel container: it validates everything it can,
// makes the state directory, starts the re-exec child in the container's
// namespaces and completes the BOOTED/ACK handshake (sync.go). On any
// failure everything it did is undone.
func (r *Runtime) Create(ctx context.Context, o CreateOptions) (_ *Process, err error) {
	c, err := r.checkBundle(o)
	if err != nil {
		return nil, err
	}
	if c.d, err = state.Create(r.opts.Root, o.ID); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.failed(c.d, "create", err)
			c.undo.run()
		}
	}()
	c.undo.add(func() {
		if err := c.d.Remove(); err != nil {
			r.log.Warn("state directory not removed", "id", o.ID, "error", err)
		}
	})
	unlock, err := c.d.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := c.writeCreating(); err != nil {
		return nil, err
	}
	// Listen before spawning: the child may say BOOTED at once.
	initLn, err := ipc.Listen(c.d.File(state.InitSock))
	if err != nil {
		return nil, err
	}
	defer initLn.Close()
	childCtx, childGone, err := c.spawnChild(ctx)
	if err != nil {
		return nil, err
	}
	defer childGone()
	bctx, cancel := withTimeout(childCtx, r.opts.Host.Timeouts.Booted, "waiting for BOOTED from the init child")
	defer cancel()
	if err := awaitBooted(bctx, initLn); err != nil {
		return nil, err
	}
	r.event(c.d, state.Event{Step: state.StepBootedReceived})
	faultPoint("parent-after-booted")
	if err := c.recordCreated(); err != nil {
		return nil, err
	}
	b := r.budget()
	// Connected from now until the child's answer: the child learns what
	// we run (its wait follows it), we learn at once if it gives up.
	link, err := dialChild(childCtx, c.d.File(state.UruncSock), b.ackMargin())
	if err != nil {
		return nil, fmt.Errorf("%w%s", err, childFailure(c.d, state.StepCreate))
	}
	defer func() {
		if err != nil {
			// Failing: the child goes first, so it does not take our
			// hang-up for a reason of its own (undo reaps it). Kill fails
			// only if it has exited.
			_ = c.child.cmd.Process.Kill()
		}
		link.close()
	}()
	for _, kind := range []hooks.Kind{hooks.Prestart, hooks.CreateRuntime, hooks.CreateContainer} {
		if err := r.runHooks(link.hooksCtx, c.d, kind, c.spec, c.st, link.conn); err != nil {
			if link.hooksCtx.Err() != nil {
				// The child gave up or died: its reason, not the hook's.
				cause, said := context.Cause(link.hooksCtx), ""
				if errors.Is(cause, errChildHungUp) {
					// It is dying: its exit status says more.
					select {
					case <-childCtx.Done():
						cause = context.Cause(childCtx)
					case <-time.After(time.Second):
					}
				}
				if ref := (*errRefused)(nil); !errors.As(cause, &ref) {
					said = childFailure(c.d, state.StepCreate)
				}
				return nil, fmt.Errorf("%w: %w%s (create stopped: %w)", ErrHandshake, cause, said, err)
			}
			return nil, err
		}
	}
	faultPoint("parent-before-ack")
	if err := link.sendAck(); err != nil {
		return nil, err
	}
	r.event(c.d, state.Event{Step: state.StepAckSent, Waiting: "network set-up", TimeoutMS: b.ackMargin().Milliseconds()})
	// The child answers ACK once it has set up the guest's network (eth0
	// exists only after the hooks above): OK, or ERROR with why. It
	// announces the set-up first (STEP network), which extends our wait.
	err = awaitWord(childCtx, link, ipc.OK, "the answer to ACK", "the init child", "create "+o.ID, b.ackMargin(), func(p ipc.Progress, allowance time.Duration) {
		r.event(c.d, state.Event{Step: state.StepProgress, Detail: fmt.Sprintf("the init child runs the %s (limit %s)", p, p.Limit),
			Waiting: "network set-up", TimeoutMS: allowance.Milliseconds()})
	})
	if err != nil {
		if errors.Is(err, ErrHandshake) {
			err = fmt.Errorf("%w%s", err, childFailure(c.d, state.StepCreate))
		}
		return nil, err
	}
	r.event(c.d, state.Event{Step: state.StepCreated, Detail: fmt.Sprintf("pid %d", c.child.Pid)})
	r.log.Debug("created", "id", o.ID, "pid", c.child.Pid)
	return c.child, nil
}

// checkBundle validates everything create can check before it touches
// anything: the id, the spec, the unikernel configuration and its files,
// the VM's size, the namespaces, the console.
func (r *Runtime) checkBundle(o CreateOptions) (*creation, error) {
	if err := state.ValidateID(o.ID); err != nil {
		return nil, err
	}
	c := &creation{r: r, o: o}
	var err error
	if c.bundle, err = filepath.Abs(o.Bundle); err != nil {
		return nil, err
	}
	if c.spec, err = config.LoadSpec(c.bundle); err != nil {
		return nil, err
	}
	if c.cfg, err = config.Load(c.bundle, c.spec); err != nil {
		return nil, err
	}
	if err := vmm.Validate(c.cfg.Type, c.cfg.Hypervisor, r.opts.Host.MonitorPath(vmm.Canonical(c.cfg.Hypervisor))); err != nil {
		return nil, err
	}
	if err := vmm.CheckDevOptions(c.cfg.Hypervisor, vmm.ConsoleKind(c.cfg.Console), c.cfg.GDBOn()); err != nil {
		return nil, fmt.Errorf("%w: %w", config.ErrBadBundle, err)
	}
	if err := network.CheckOptions(c.cfg.NetworkMode, c.cfg.NetworkPorts, c.cfg.NetworkIP); err != nil {
		return nil, fmt.Errorf("%w: %w", config.ErrBadBundle, err)
	}
	c.rootfs = config.RootfsPath(c.bundle, c.spec)
	for _, p := range []struct{ key, v string }{{config.KeyBinary, c.cfg.Binary}, {config.KeyInitrd, c.cfg.Initrd}, {config.KeyBlock, c.cfg.Block}} {
		if _, err := config.ResolveInRootfs(c.rootfs, p.key, p.v); err != nil {
			return nil, err
		}
	}
	if _, err := memoryMB(c.spec, r.opts.Host.MemoryMB, r.opts.Host.VMMOverheadMB); err != nil {
		return nil, err
	}
	if c.clone, c.join, err = namespacePlan(c.spec); err != nil {
		return nil, err
	}
	c.terminal = c.spec.Process != nil && c.spec.Process.Terminal
	if c.terminal && o.ConsoleSocket == "" {
		return nil, fmt.Errorf("%w: process.terminal is true but no --console-socket was given", config.ErrBadBundle)
	}
	if o.PidFile != "" {
		if c.pidFile, err = filepath.Abs(o.PidFile); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// writeCreating writes the first state: status creating.
func (c *creation) writeCreating() error {
	c.st = &state.State{
		State: specs.State{
			Version:     specs.Version,
			ID:          c.o.ID,
			Status:      specs.ContainerState(state.Creating),
			Bundle:      c.bundle,
			Annotations: c.spec.Annotations,
		},
		Rootfs:      c.rootfs,
		Created:     time.Now().UTC(),
		Owner:       currentUser(),
		Guest:       c.cfg.Type,
		Hypervisor:  c.cfg.Hypervisor,
		DecodesExit: c.o.DecodesExit,
	}
	if err := c.d.WriteState(c.st); err != nil {
		return err
	}
	c.r.event(c.d, state.Event{Step: state.StepCreate, Detail: fmt.Sprintf("bundle %s, %s on %s (config from %s)", c.bundle, c.cfg.Type, c.cfg.Hypervisor, c.cfg.Source)})
	return nil
}

// spawnChild makes the container's cgroup and starts the re-exec child
// ("urunc init") in the container's namespaces. The returned context ends
// when the child exits, so every later wait gives up at once; release
// ends it (and its watcher) when create is done.
func (c *creation) spawnChild(ctx context.Context) (_ context.Context, release func(), err error) {
	r := c.r
	// The child learns that we died (before ACK) from EOF on this pipe.
	parentR, parentW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	defer parentR.Close()
	c.undo.add(func() { parentW.Close() })

	// The cgroup exists, limits set, before the child does: the VMM it
	// becomes never runs unaccounted or unlimited.
	if c.cgroup, err = r.createCgroup(c.d, c.spec, c.o.ID); err != nil {
		return nil, nil, err
	}
	if c.cgroup != nil {
		cg := c.cgroup
		c.undo.add(func() {
			if err := cg.Destroy(); err != nil {
				c.r.log.Warn("cgroup not removed", "id", c.o.ID, "error", err)
			}
		})
		c.st.CgroupPaths, c.st.CgroupDriver = cg.Paths, cg.Driver
		if err := c.d.WriteState(c.st); err != nil {
			return nil, nil, err
		}
	}

	args := append([]string{"urunc", InitCommand}, r.opts.GlobalArgs...)
	args = append(args, c.o.ID)
	cmd := &exec.Cmd{
		Path:       r.opts.SelfExe,
		Args:       args,
		Stdin:      c.o.Stdin,
		Stdout:     c.o.Stdout,
		Stderr:     c.o.Stderr,
		ExtraFiles: []*os.File{parentR},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: c.clone,
			Setsid:     true,
		},
	}
	if c.terminal {
		master, slave, err := newConsole()
		if err != nil {
			return nil, nil, err
		}
		defer master.Close()
		defer slave.Close()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
		cctx, cancel := withTimeout(ctx, r.opts.Host.Timeouts.Booted, "console socket")
		err = sendConsole(cctx, c.o.ConsoleSocket, master)
		cancel()
		if err != nil {
			return nil, nil, err
		}
	}
	// The child enters the cgroup without a migration: cloned into it on
	// cgroup v2; on v1 it moves its own leader thread after BOOTED, before ACK
	// (Init). Moving a whole process would wait for an RCU grace period.
	if c.cgroup != nil {
		if dir, ok := c.cgroup.OnlyUnified(); ok {
			fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil, nil, fmt.Errorf("open cgroup %s: %w", dir, err)
			}
			defer unix.Close(fd)
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
		}
	}
	if !vmm.LogsConsole(c.cfg.Hypervisor) {
		pw, err := c.teeConsole(cmd.Stdout, cmd.Stderr)
		if err != nil {
			return nil, nil, err
		}
		defer pw.Close() // the child has its copy (consolePipeFD)
		cmd.ExtraFiles = append(cmd.ExtraFiles, pw)
	}
	start, wait := r.childStarter()
	if err := startIn(cmd, c.join, start); err != nil {
		return nil, nil, fmt.Errorf("start init child: %w", err)
	}
	child := &Process{Pid: cmd.Process.Pid, done: make(chan struct{}), cmd: cmd, tee: c.tee}
	c.child = child
	go func() { child.ws, child.err = wait(cmd); close(child.done) }()
	c.undo.add(func() {
		_ = cmd.Process.Kill() // fails only if it has exited: done either way
		<-child.done
	})
	faultPoint("parent-after-spawn")
	r.event(c.d, state.Event{Step: state.StepChildSpawned, Detail: fmt.Sprintf("init child pid %d", cmd.Process.Pid),
		Waiting: string(ipc.Booted), TimeoutMS: ms(r.opts.Host.Timeouts.Booted)})

	childCtx, childGone := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-child.done:
			childGone(fmt.Errorf("init child exited: %s", describeWait(child.ws, child.err)))
		case <-childCtx.Done():
		}
	}()
	return childCtx, func() { childGone(nil) }, nil
}

// teeBinary copies the console of monitors that only write it to their
// stdout (coreutils' tee: on every Debian system).
const teeBinary = "/usr/bin/tee"

// teeConsole starts the console copy of a monitor that does not log the
// guest console itself: a tee between the VMM's stdout/stderr (the pipe
// returned, which the child hands to the VMM) and the container's stdio,
// appending to serial.log as qemu's chardev logfile does, so the state
// directory holds every guest's console (urunc-dev shows it). It runs in
// the host's pid namespace in a session of its own (so it outlives the
// container's namespace to copy the last bytes and no signal meant for
// the VMM reaches it) and ends at EOF: when the VMM (or the child, if it
// never execs) is gone.
func (c *creation) teeConsole(stdout, stderr io.Writer) (*os.File, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("console copy: %w", err)
	}
	defer pr.Close()
	tee := exec.Command(teeBinary, "-a", c.d.File(state.SerialFile))
	tee.Stdin, tee.Stdout, tee.Stderr = pr, stdout, stderr
	tee.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := tee.Start(); err != nil {
		pw.Close()
		return nil, fmt.Errorf("console copy: %s: %w", teeBinary, err)
	}
	done := make(chan struct{})
	// tee's status says nothing about the container; Kill fails only if
	// it has exited.
	go func() { _ = tee.Wait(); close(done) }()
	c.undo.add(func() { _ = tee.Process.Kill(); <-done })
	c.tee = done
	return pw, nil
}

// recordCreated writes the pid file and the created status, once the
// child has said BOOTED.
func (c *creation) recordCreated() error {
	startTime, err := state.StartTime(c.child.Pid)
	if err != nil {
		return fmt.Errorf("%w: init child vanished: %w", ErrHandshake, err)
	}
	if c.pidFile != "" {
		if err := atomicfile.WriteFile(c.pidFile, []byte(strconv.Itoa(c.child.Pid)), 0o644); err != nil {
			return fmt.Errorf("write pid file: %w", err)
		}
		pidFile := c.pidFile
		c.undo.add(func() { os.Remove(pidFile) })
		c.r.event(c.d, state.Event{Step: state.StepPidFile, Detail: c.pidFile})
	}
	c.st.Pid = c.child.Pid
	c.st.PidStartTime = startTime
	return c.d.SetStatus(c.st, state.Created)
}

// runHooks runs the spec's hooks of one kind. Each is journalled as a
// running wait with its limit (hook) and again when it ends (hook-done),
// and announced on peer, the other side of the handshake (HOOK, then
// DONE; nil: nobody waits on us), so that its wait follows the hook. A
// failed write to peer is its hang-up, which its own reader reports.
func (r *Runtime) runHooks(ctx context.Context, d state.Dir, kind hooks.Kind, spec *specs.Spec, st *state.State, peer *ipc.Conn) error {
	return hooks.Run(ctx, kind, hooks.List(spec.Hooks, kind), ociState(st), r.budget().hooks(), hooks.Observer{
		Started: func(h specs.Hook, pid int, limit time.Duration) {
			p := ipc.Progress{Step: ipc.StepHook, Kind: string(kind), Path: h.Path, Limit: limit}
			r.event(d, state.Event{Step: state.StepHook, Detail: fmt.Sprintf("%s %s, pid %d, limit %s", kind, h.Path, pid, limit),
				Waiting: p.String(), Running: true, TimeoutMS: limit.Milliseconds()})
			if peer != nil {
				if err := peer.Announce(p); err != nil {
					r.log.Warn("hook not announced to the other side of the handshake", "id", d.ID, "hook", h.Path, "error", err)
				}
			}
		},
		Unguarded: func(h specs.Hook, err error) {
			r.log.Warn("hook runs without its guard: what it starts may outlive urunc if urunc dies", "id", d.ID, "hook", h.Path, "error", err)
		},
		Done: func(h specs.Hook, took time.Duration, err error) {
			ev := state.Event{Step: state.StepHookDone, Detail: fmt.Sprintf("%s %s after %s", kind, h.Path, took.Round(time.Millisecond))}
			if err != nil {
				ev.Error = err.Error()
			}
			r.event(d, ev)
			if peer != nil && err == nil {
				_ = peer.Write(ipc.Done, "") // a hang-up: its reader reports it
			}
		},
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

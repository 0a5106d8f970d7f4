package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/internal/atomicfile"
	"github.com/urunc-dev/urunc/runtime/accel"
	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/hooks"
	"github.com/urunc-dev/urunc/runtime/ipc"
	"github.com/urunc-dev/urunc/runtime/jail"
	"github.com/urunc-dev/urunc/runtime/network"
	"github.com/urunc-dev/urunc/runtime/rootfs"
	"github.com/urunc-dev/urunc/runtime/solo5"
	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// InitCommand is the hidden command that runs the re-exec child
// ("urunc init GLOBAL-FLAGS ID", as runc's "runc init").
const InitCommand = "init"

// parentPipeFD is where the re-exec child finds the pipe whose EOF says
// that create's parent died (ExtraFiles[0]); consolePipeFD the pipe to
// the console copy (ExtraFiles[1], see teeConsole), for monitors that do
// not log the console themselves.
const (
	parentPipeFD  = 3
	consolePipeFD = 4
)

// Init is the re-exec child ("urunc init"). It runs inside the
// container's namespaces, completes the handshake (sync.go), waits for
// START, sets up the guest's network and storage and finally execs the
// VMM, which thereby keeps this process's pid: no urunc process stays
// resident. It only returns on failure.
func (r *Runtime) Init(ctx context.Context, id string) (err error) {
	d, err := state.Open(r.opts.Root, id)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil && !errors.As(err, new(journalled)) {
			r.failed(d, "init", err)
		}
	}()
	// A bug must not kill the child without a word: it becomes the
	// journal's failed step (and start's error says START got no answer).
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: internal error in the re-exec child: %v\n%s", ErrHandshake, p, debug.Stack())
		}
	}()
	st, err := d.ReadState()
	if err != nil {
		return err
	}
	ln, err := ipc.Listen(d.File(state.UruncSock))
	if err != nil {
		return err
	}
	defer ln.Close()
	b, err := r.untilAcked(ctx, d, st, ln)
	if err != nil {
		return err
	}

	sctx, scancel := withTimeout(ctx, r.opts.Host.Timeouts.StartWait, "waiting for START")
	defer scancel()
	conn, err := ln.Await(sctx, ipc.Start)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	defer conn.Close()
	ln.Close()
	// From here on, start waits for our answer: whatever fails is its
	// error. If start hangs up first (it gave up or died), we stop.
	wctx, wcancel := context.WithCancelCause(ctx)
	defer wcancel(nil)
	watchPeer(conn, wcancel, "start hung up before the answer to START")
	defer func() {
		if err != nil {
			err = r.refuse(d, conn, err)
		}
	}()
	stor := r.budget().storage()
	// Storage and network lines are the budget's own (TestAnnounceRoundTrip
	// reads such lines back): sending fails only on a hang-up, which the
	// peer's reader (watchPeer, the parent pipe) reports.
	_ = conn.Announce(stor)
	r.event(d, state.Event{Step: state.StepStartReceived, Waiting: stor.String(), Running: true, TimeoutMS: stor.Limit.Milliseconds()})
	// create wrote our pid (as seen from the host: in a new pid namespace
	// we are 1 to ourselves) and the created status after BOOTED.
	if st, err = d.ReadState(); err != nil {
		return err
	}
	pctx, pcancel := withTimeout(wctx, config.Duration(stor.Limit), "storage")
	plan, res, err := r.prepareVMM(pctx, d, st, b)
	pcancel()
	if err != nil {
		return err
	}
	_ = conn.Write(ipc.Done, "") // a hang-up: watchPeer reports it
	defer func() {
		if err != nil {
			res.Undo() // e.g. kill virtiofsd: no VMM will connect
		}
	}()
	if err := r.runHooks(wctx, d, hooks.StartContainer, b.spec, st, conn); err != nil {
		if wctx.Err() != nil {
			return fmt.Errorf("%w: %w (stopped: %w)", ErrHandshake, context.Cause(wctx), err)
		}
		return err
	}
	if err := useConsolePipe(plan.LogsConsole); err != nil {
		return err
	}
	creds, err := r.jailVMM(d, b.spec, plan)
	if err != nil {
		return err
	}
	faultPoint("child-before-exec")
	if err := context.Cause(wctx); err != nil {
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	r.event(d, state.Event{Step: state.StepVMMExec, Detail: strings.Join(plan.Argv, " ")})
	if err := answer(conn, nil); err != nil {
		return fmt.Errorf("answer START: %w", err)
	}
	env := append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, plan.Env...)
	// Drops to the spec's user and capabilities, installs the seccomp
	// filter and execs; returns only on failure.
	return jail.Exec(plan, env, creds)
}

// booted is what the child learnt before START: the bundle, the
// unikernel's Solo5 manifest (for the tenders) and the guest's network,
// set up at ACK.
type booted struct {
	spec      *specs.Spec
	cfg       *config.Unikernel
	manifest  *solo5.Manifest
	net       *vmm.Net
	netDetail string
}

// untilAcked is the child's part of create: BOOTED, then (while create
// runs its hooks) what needs no answer from create, then ACK and the
// guest's network, answered OK or ERROR. create connects right after
// BOOTED and announces each hook it runs (HOOK): the wait for its next
// word allows the hook's limit plus timeouts.ack (budget.go). Until the
// answer, create's death (EOF on its pipe) aborts the handshake (the hook
// create was running dies with create: Pdeathsig and its guard); giving
// up is said to create (ERROR), which then stops its hook and fails.
func (r *Runtime) untilAcked(ctx context.Context, d state.Dir, st *state.State, ln *ipc.Listener) (*booted, error) {
	b := r.budget()
	margin := b.ackMargin()
	unix.CloseOnExec(parentPipeFD)
	// The console copy's pipe (if create gave one) reaches only the VMM
	// (useConsolePipe dups it onto its stdout): a hook that leaves a
	// daemon behind must not keep the copy open.
	unix.CloseOnExec(consolePipeFD)
	parentPipe := os.NewFile(parentPipeFD, "parent-pipe")
	defer parentPipe.Close()
	pctx, pcancel := context.WithCancelCause(ctx)
	defer pcancel(nil)
	go func() {
		_, _ = io.Copy(io.Discard, parentPipe) // EOF or an error: create is gone either way
		pcancel(errParentDied)
	}()

	faultPoint("child-before-booted")
	bctx, bcancel := withTimeout(pctx, config.Duration(margin), "sending BOOTED")
	err := ipc.Send(bctx, d.File(state.InitSock), ipc.Booted)
	bcancel()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	r.event(d, state.Event{Step: state.StepBooted, Waiting: string(ipc.Ack), TimeoutMS: margin.Milliseconds()})
	faultPoint("child-after-booted")
	// create connects now; what needs no answer from create is done
	// while it writes the state and runs its hooks.
	actx, acancel := withTimeout(pctx, config.Duration(margin), "waiting for create to connect")
	defer acancel()
	if err := joinCgroup(st); err != nil {
		return nil, err
	}
	bt := &booted{}
	if bt.spec, err = config.LoadSpec(st.Bundle); err != nil {
		return nil, err
	}
	if bt.cfg, err = config.Load(st.Bundle, bt.spec); err != nil {
		return nil, err
	}
	if hasNewNamespace(bt.spec, specs.MountNamespace) {
		// Mounts made for the guest must not leak back to the host.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return nil, fmt.Errorf("make mounts private: %w", err)
		}
	}
	ack, err := ln.Accept(actx)
	if err != nil {
		return nil, fmt.Errorf("%w: waiting for ACK: %w", ErrHandshake, err)
	}
	defer ack.Close()
	var words reader = ack
	if faultSet("child-ignores-progress") {
		words = deaf{ack}
	}
	err = awaitWord(pctx, words, ipc.Ack, "ACK", "create", "create", margin, func(p ipc.Progress, allowance time.Duration) {
		r.event(d, state.Event{Step: state.StepProgress, Detail: fmt.Sprintf("create runs the %s (limit %s)", p, p.Limit),
			Waiting: string(ipc.Ack), TimeoutMS: allowance.Milliseconds()})
	})
	if err != nil {
		if errors.Is(context.Cause(pctx), errParentDied) {
			// The hook create was running dies with create (its guard).
			return nil, fmt.Errorf("%w: waiting for ACK: %w", ErrHandshake, errParentDied)
		}
		return nil, r.refuse(d, ack, err)
	}
	// The engine's hooks have configured eth0 by now: set up the guest's
	// network while create still waits, so a failure fails create. A
	// Solo5 tender attaches exactly what the unikernel's manifest
	// declares: read it first, so a mismatch fails create too.
	netw := b.network()
	_ = ack.Announce(netw) // fails only on a hang-up: see Init's storage line
	nctx, ncancel := withTimeout(pctx, config.Duration(netw.Limit), "network set-up")
	err = r.answerAck(nctx, d, st, bt)
	ncancel()
	if errors.Is(context.Cause(pctx), errParentDied) {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, errParentDied) // nobody to answer
	}
	if err != nil {
		return nil, r.refuse(d, ack, err)
	}
	if err := answer(ack, nil); err != nil {
		return nil, fmt.Errorf("%w: answer ACK: %w", ErrHandshake, err)
	}
	r.event(d, state.Event{Step: state.StepAcked, Waiting: string(ipc.Start), TimeoutMS: ms(r.opts.Host.Timeouts.StartWait)})
	faultPoint("child-after-acked")
	return bt, nil
}

// refuse ends the child's part of an exchange with err: journalled as
// its failure first, then said to the peer (ERROR), because the peer,
// once told, may kill us at once.
func (r *Runtime) refuse(d state.Dir, conn *ipc.Conn, err error) error {
	r.failed(d, "init", err)
	// Unsaid if the peer has hung up: the failure is journalled either way.
	_ = answer(conn, errors.New(strings.TrimPrefix(err.Error(), ErrHandshake.Error()+": ")))
	return journalled{err}
}

// journalled is an error the child has already written to the journal.
type journalled struct{ error }

func (j journalled) Unwrap() error { return j.error }

// errParentDied is why the child stops when create's pipe reaches EOF.
var errParentDied = errors.New("create exited before the end of the handshake")

// answerAck sets up the guest's network and records it (vmm.json).
func (r *Runtime) answerAck(ctx context.Context, d state.Dir, st *state.State, b *booted) error {
	var err error
	b.manifest, err = readManifest(b.cfg, st.Rootfs)
	if err == nil {
		b.net, b.netDetail, err = r.setupNetwork(ctx, d, b.spec, b.cfg, b.manifest)
	}
	if err == nil && b.manifest != nil {
		err = checkAttachable(b, st.Rootfs)
	}
	if err == nil {
		info := &state.VMMInfo{Network: b.netDetail}
		if b.net != nil {
			info.TapName = b.net.TapName // delete tears it down even if never started
		}
		err = d.WriteVMM(info)
	}
	if err != nil {
		return err
	}
	r.event(d, state.Event{Step: state.StepNetwork, Detail: b.netDetail})
	return nil
}

// jailVMM confines the VMM to what its plan names and checks that the
// spec's user can reach all of it (runtime/jail); it returns the
// credentials the VMM is exec'd with.
func (r *Runtime) jailVMM(d state.Dir, spec *specs.Spec, plan *vmm.Plan) (jail.Creds, error) {
	creds, unknownCaps := jail.CredsFor(spec, plan)
	if len(unknownCaps) > 0 {
		r.log.Warn("capabilities unknown to this build are left out", "id", d.ID, "caps", unknownCaps)
	}
	if hasNewNamespace(spec, specs.MountNamespace) {
		if err := jail.Confine(d.Path(), plan, creds.DeviceOwner()); err != nil {
			return creds, err
		}
	} else {
		r.log.Warn("no private mount namespace: the VMM sees the host's filesystem", "id", d.ID)
	}
	return creds, jail.PrepareAccess(d.Path(), plan, []string{d.File(state.SerialFile)}, creds)
}

// prepareVMM prepares the guest's files (runtime/rootfs) and builds the
// VMM invocation (runtime/vmm) for the network set up at ACK time, and
// records it in vmm.json.
//
// The returned Result's Undo reverts the storage set-up (virtiofsd,
// devmapper hand-off) when the VMM is not exec'd after all; prepareVMM
// undoes it itself when it fails.
func (r *Runtime) prepareVMM(ctx context.Context, d state.Dir, st *state.State, b *booted) (_ *vmm.Plan, _ *rootfs.Result, err error) {
	spec, cfg, manifest, netw, netDetail := b.spec, b.cfg, b.manifest, b.net, b.netDetail
	root := st.Rootfs
	var files [3]string
	for i, f := range []struct{ key, v string }{{config.KeyBinary, cfg.Binary}, {config.KeyInitrd, cfg.Initrd}, {config.KeyBlock, cfg.Block}} {
		if files[i], err = config.ResolveInRootfs(root, f.key, f.v); err != nil {
			return nil, nil, err
		}
	}
	memMB, err := memoryMB(spec, r.opts.Host.MemoryMB, r.opts.Host.VMMOverheadMB)
	if err != nil {
		return nil, nil, err
	}
	req := vmm.Request{
		Guest:       cfg.Type,
		Version:     cfg.Version,
		Hypervisor:  cfg.Hypervisor,
		Cmdline:     cfg.Cmdline,
		MemoryMB:    memMB,
		VCPUs:       vcpus(spec, r.opts.Host.VCPUs),
		StateDir:    d.Path(),
		SerialLog:   d.File(state.SerialFile),
		ControlFD:   -1,
		DecodesExit: st.DecodesExit,
		MonitorPath: r.opts.Host.MonitorPath(vmm.Canonical(cfg.Hypervisor)),
		ExtraArgs:   r.opts.Host.QEMU.ExtraArgs,
	}
	if p := spec.Process; p != nil {
		req.Process = vmm.Process{Args: p.Args, Env: p.Env, Cwd: p.Cwd, UID: p.User.UID, GID: p.User.GID}
	}
	if netw != nil {
		netw.Name = cfg.Solo5NetDev
	}
	if netw != nil && netw.DNS == "" {
		var src string
		netw.DNS, src = network.GuestDNS(spec.Mounts, root)
		r.log.Debug("guest nameserver", "id", d.ID, "dns", netw.DNS, "from", src)
	}
	req.Net = netw

	choice, err := vmm.Choose(cfg.Type, cfg.Hypervisor, accel.Request{
		Accel:   firstSet(cfg.Accel, r.opts.Host.QEMU.Accel),
		CPU:     firstSet(cfg.CPU, r.opts.Host.QEMU.CPU),
		Machine: firstSet(cfg.Machine, r.opts.Host.QEMU.Machine),
	}, accel.Probe())
	if err != nil {
		return nil, nil, err
	}
	req.Use(choice)

	stor, err := rootfs.Prepare(ctx, rootfs.Input{
		Dir: d, Spec: spec, Config: cfg, Host: r.opts.Host, Rootfs: root,
		Kernel: files[0], Initrd: files[1], Block: files[2], Process: req.Process, Net: netw, Log: r.log,
	})
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			stor.Undo()
		}
	}()
	r.event(d, state.Event{Step: state.StepStorage, Detail: stor.Detail})
	req.Kernel, req.Initrd, req.Disks, req.Shares, req.Linux = stor.Kernel, stor.Initrd, stor.Disks, stor.Shares, stor.Linux
	req.Manifest = manifest
	for i := range req.Disks {
		req.Disks[i].Name = cfg.Solo5BlkDev
	}

	if vmm.ControlOf(cfg.Hypervisor) != vmm.NoControl {
		if req.ControlFD, err = listenInherited(d.File(state.QMPSock)); err != nil {
			return nil, nil, err
		}
	}
	// The VMM appends the guest console here; create it first so it is
	// private (0600) rather than whatever mode the VMM would pick.
	if f, err := os.OpenFile(req.SerialLog, os.O_CREATE|os.O_WRONLY, state.FileMode); err == nil {
		f.Close()
	}
	plan, err := vmm.Build(req)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range plan.Files {
		if err := atomicfile.WriteFile(f.Path, f.Data, os.FileMode(f.Mode)); err != nil {
			return nil, nil, fmt.Errorf("write %s: %w", filepath.Base(f.Path), err)
		}
	}
	info := &state.VMMInfo{
		Hypervisor:     cfg.Hypervisor,
		Binary:         plan.Path,
		Argv:           plan.Argv,
		PID:            st.Pid,
		Guest:          cfg.Type,
		GuestCmdline:   plan.GuestCmdline,
		Accel:          choice.Accel,
		AccelReason:    choice.AccelReason,
		CPU:            choice.CPU,
		Machine:        choice.Machine,
		MachineReason:  choice.MachineReason,
		MemoryMB:       req.MemoryMB,
		VCPUs:          req.VCPUs,
		Network:        netDetail,
		GracefulStop:   string(plan.Stop),
		Control:        string(plan.Control),
		Storage:        stor.Detail,
		ExitRule:       string(plan.Exit.Rule),
		FailureMarkers: plan.Exit.FailureMarkers,
	}
	for _, a := range plan.Attachments {
		info.Attachments = append(info.Attachments, a.String())
	}
	if v := stor.Virtiofsd; v != nil {
		info.VirtiofsdPID, info.VirtiofsdStartTime = v.HostPID, v.StartTime
	}
	if netw != nil {
		info.TapName = netw.TapName
	}
	if err := d.WriteVMM(info); err != nil {
		return nil, nil, err
	}
	return plan, stor, nil
}

// listenInherited listens on a unix socket the VMM inherits across exec
// (its control socket) and returns the descriptor: a duplicate without
// close-on-exec that no Go object owns, so no finalizer can close it
// before the exec.
func listenInherited(path string) (int, error) {
	ln, err := ipc.Listen(path)
	if err != nil {
		return -1, err
	}
	f, err := ln.File()
	if err != nil {
		return -1, err
	}
	defer f.Close()
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		return -1, fmt.Errorf("control socket: %w", err)
	}
	return fd, nil
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" && v != "auto" {
			return v
		}
	}
	return ""
}

// minGuestMB is the smallest guest RAM urunc gives a VM.
const minGuestMB = 8

// memoryMB sizes the VM from the spec's memory limit: the limit bounds
// the VMM's cgroup, so the guest gets what the VMM's own overhead leaves.
func memoryMB(spec *specs.Spec, def, overheadMB uint64) (uint64, error) {
	if spec.Linux == nil || spec.Linux.Resources == nil || spec.Linux.Resources.Memory == nil {
		return def, nil
	}
	l := spec.Linux.Resources.Memory.Limit
	if l == nil || *l <= 0 {
		return def, nil
	}
	limitMB := uint64(*l) >> 20
	if limitMB < overheadMB+minGuestMB {
		return 0, fmt.Errorf("%w: memory limit %d MiB is too small for a VM: the VMM needs about %d MiB itself (vmmMemoryOverheadMB in urunc's config) and the guest at least %d MiB",
			config.ErrBadBundle, limitMB, overheadMB, minGuestMB)
	}
	return limitMB - overheadMB, nil
}

// vcpus sizes the VM from the spec's CPU quota or cpuset.
func vcpus(spec *specs.Spec, def int) int {
	if spec.Linux == nil || spec.Linux.Resources == nil || spec.Linux.Resources.CPU == nil {
		return def
	}
	c := spec.Linux.Resources.CPU
	if c.Quota != nil && *c.Quota > 0 && c.Period != nil && *c.Period > 0 {
		return max(1, int(math.Ceil(float64(*c.Quota)/float64(*c.Period))))
	}
	if c.Cpus != "" {
		if n := cpusetSize(c.Cpus); n > 0 {
			return n
		}
	}
	return def
}

// cpusetSize counts the CPUs of a cpuset list like "0-2,4".
func cpusetSize(s string) int {
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		var a, b int
		if _, err := fmt.Sscanf(lo, "%d", &a); err != nil {
			return 0
		}
		b = a
		if isRange {
			if _, err := fmt.Sscanf(hi, "%d", &b); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}

// readManifest reads the unikernel's Solo5 manifest when its monitor
// needs it (a tender attaches exactly the devices it declares); nil
// otherwise.
func readManifest(cfg *config.Unikernel, rootfs string) (*solo5.Manifest, error) {
	if !vmm.NeedsManifest(cfg.Hypervisor) {
		return nil, nil
	}
	kernel, err := config.ResolveInRootfs(rootfs, config.KeyBinary, cfg.Binary)
	if err != nil {
		return nil, err
	}
	m, err := solo5.ReadManifest(kernel)
	if err != nil {
		return nil, fmt.Errorf("%w: %s needs a Solo5 unikernel: %w", config.ErrBadBundle, cfg.Hypervisor, err)
	}
	return m, nil
}

// checkAttachable binds the manifest's devices to what the container
// gives (its network, the block key) as the VMM will at start, so that a
// mismatch (an annotation naming another device, a declared disk the
// bundle does not give) fails create.
func checkAttachable(b *booted, rootfs string) error {
	req := vmm.Request{Hypervisor: b.cfg.Hypervisor, Kernel: b.cfg.Binary, Manifest: b.manifest}
	if b.net != nil {
		n := *b.net
		n.Name = b.cfg.Solo5NetDev
		req.Net = &n
	}
	if b.cfg.Block != "" {
		req.Disks = []vmm.Disk{{Path: b.cfg.Block, Name: b.cfg.Solo5BlkDev}}
	}
	_, err := vmm.Attach(req)
	return err
}

// useConsolePipe makes the VMM write its stdout and stderr into the pipe
// create gave for the console copy (teeConsole), when its monitor does
// not log the console itself.
func useConsolePipe(monitorLogs bool) error {
	if monitorLogs {
		// create gave no pipe (it decides by the same vmm.LogsConsole):
		// whatever descriptor 4 is now is not ours to close.
		return nil
	}
	for _, fd := range []int{1, 2} {
		if err := unix.Dup2(consolePipeFD, fd); err != nil {
			return fmt.Errorf("console copy: no pipe from create: %w", err)
		}
	}
	return unix.Close(consolePipeFD)
}

package vmm

import (
	"errors"
	"fmt"

	"github.com/urunc-dev/urunc/runtime/solo5"
)

// Sentinel errors. Wrap them with %w and a message that names the value.
var (
	ErrUnknownGuest      = errors.New("unknown unikernel type")
	ErrUnknownHypervisor = errors.New("unknown hypervisor")
	ErrUnsupportedPair   = errors.New("unsupported unikernel type and hypervisor combination")
	ErrNotInstalled      = errors.New("hypervisor binary not found")
	ErrInvalidValue      = errors.New("invalid value")
)

// Net describes the container's network as the guest must see it.
// A nil *Net means the guest runs without a NIC.
type Net struct {
	TapName   string // tap device inside the container's network namespace
	MAC       string // guest MAC, "aa:bb:cc:dd:ee:ff"
	IP        string // IPv4 address, dotted quad
	PrefixLen int    // e.g. 24
	Mask      string // dotted quad, e.g. 255.255.255.0
	Gateway   string // dotted quad; may be empty
	DNS       string // may be empty
	MTU       int
	Hostname  string
	// Name is the guest's own name for the NIC (a solo5 manifest's
	// device); "" = the guest type's default.
	Name string
}

// HasAddress reports whether the NIC comes with an address for the guest
// (a tap for a container without a network has none).
func (n *Net) HasAddress() bool { return n != nil && n.IP != "" }

// Disk is a block device (an image file or a host block device) the
// guest sees as its first (and only) disk.
type Disk struct {
	Path     string
	ReadOnly bool
	// MountPoint is where guests that are told (rumprun) mount it.
	MountPoint string
	// Name is the guest's own name for the disk (a solo5 manifest's
	// device); "" = the guest type's default.
	Name string
}

// ShareKind is how a host directory reaches the guest.
type ShareKind string

// Share kinds.
const (
	Share9P       ShareKind = "9p"
	ShareVirtiofs ShareKind = "virtiofs"
)

// Share is a host directory the VMM shares with the guest.
type Share struct {
	Kind     ShareKind
	HostPath string // the directory (9p); served by virtiofsd for virtio-fs
	Tag      string // mount tag the guest mounts it by
	ReadOnly bool
	Socket   string // virtio-fs: the vhost-user socket virtiofsd listens on
	// Root marks the guest's root filesystem (at most one share); the
	// others are volumes.
	Root bool
}

// LinuxInit says a Linux guest boots urunc's own init (runtime/linuxboot):
// its initrd is Request.Initrd and its kernel command line is Cmdline,
// used exactly as given; its root filesystem is the root Share or the
// first Disk.
type LinuxInit struct {
	Cmdline string
}

// Process is what the container's config.json asks to run.
type Process struct {
	Args []string
	Env  []string
	Cwd  string
	UID  uint32
	GID  uint32
}

// Request is everything needed to build one VMM invocation.
type Request struct {
	Guest      string // unikernel type: unikraft, rumprun, mirage, mewz, hermit, linux
	Version    string // unikernel version (unikraft formats depend on it); may be empty
	Hypervisor string // qemu, firecracker, hvt, spt, cloud-hypervisor (aliases solo5-hvt, solo5-spt)

	Kernel  string // host path of the kernel image
	Initrd  string // host path; empty = none
	Cmdline string // the config's cmdline key (used when Process.Args is empty)
	Process Process

	Net    *Net    // nil = no NIC
	Disks  []Disk  // at most one today
	Shares []Share // the shared root filesystem and volumes
	Linux  *LinuxInit

	MemoryMB uint64 // VM memory
	VCPUs    int    // VM vCPUs (>= 1)

	// Machine choices, already decided (see Choose and Use).
	Accel   string // "kvm" or "tcg" (qemu)
	CPU     string // qemu -cpu value; empty = monitor default
	Machine string // qemu -M value, e.g. "microvm" or "pc"; empty = guest default

	StateDir  string // the container's state directory (R/ID), for generated files
	SerialLog string // path where the monitor copies the guest console (qemu chardev logfile)
	// ControlFD is the number of an already listening control socket the
	// monitor inherits (see ControlOf); < 0 = none.
	ControlFD int

	// Console is where the guest's serial console goes ("" = stdio); for
	// ConsoleSocket, ConsoleFD is the listening unix socket the monitor
	// inherits and serves it on.
	Console   ConsoleKind
	ConsoleFD int
	// GDB asks for the monitor's gdb stub; nil = none.
	GDB *GDB

	// Manifest is the unikernel's Solo5 manifest (runtime/solo5), read
	// by the caller for the monitors that need it (NeedsManifest): the
	// tender attaches exactly the devices it declares.
	Manifest *solo5.Manifest

	// DecodesExit says the runtime reaps the VMM and turns its exit
	// status into the container's through Plan.Exit (urunc run, the
	// native shim); otherwise an engine sees the VMM's raw status, and
	// no device is added that would make a clean exit non-zero.
	DecodesExit bool

	// MonitorPath is the monitor binary from the host configuration; ""
	// looks it up on PATH.
	MonitorPath string

	// ExtraArgs are the host configuration's verbatim qemu arguments,
	// already trusted; only the qemu monitor uses them.
	ExtraArgs []string
}

// Use applies a machine choice.
func (r *Request) Use(c Choice) { r.Accel, r.CPU, r.Machine = c.Accel, c.CPU, c.Machine }

// Disk returns the request's disk, or nil.
func (r *Request) Disk() *Disk {
	if len(r.Disks) == 0 {
		return nil
	}
	return &r.Disks[0]
}

// RootShare returns the share that is the guest's root filesystem, or nil.
func (r *Request) RootShare() *Share {
	for i := range r.Shares {
		if r.Shares[i].Root {
			return &r.Shares[i]
		}
	}
	return nil
}

// ConsoleKind is where the monitor puts the guest's serial console. The
// serial log (SerialLog) gets a copy either way.
type ConsoleKind string

const (
	// ConsoleStdio: the container's stdio, as an engine expects (docker
	// logs, attach); the default.
	ConsoleStdio ConsoleKind = "stdio"
	// ConsoleSocket: a unix socket in the state directory (console.sock)
	// that any tool connects to, reading the console and writing the
	// guest's serial input; the container's stdio then carries only what
	// the VMM itself prints.
	ConsoleSocket ConsoleKind = "socket"
)

// GDB is the monitor's gdb stub, served on an inherited listening unix
// socket (the state directory's gdb.sock): a socket file rather than a
// TCP port, because the VMM runs in the container's network namespace
// (where a dynamic-mode redirect sends every frame of eth0 to the guest)
// and sees only its state directory of the host's files, which the host
// reaches at the same path.
type GDB struct {
	FD int
	// Wait keeps the guest paused before its first instruction until a
	// debugger continues it.
	Wait bool
}

// GDBCommand is the command that debugs a guest through the stub on
// socket, with the symbols of kernel: gdb -ex 'target remote SOCKET'
// KERNEL. elf32 says the kernel file is a 32-bit ELF whose code runs in
// 64-bit mode (Unikraft's qemu images, which qemu's multiboot loader
// wants in that form): gdb is told the target's architecture first.
func GDBCommand(socket, kernel string, elf32 bool) []string {
	cmd := []string{"gdb", "-q"}
	if elf32 {
		cmd = append(cmd, "-ex", "set architecture i386:x86-64")
	}
	return append(cmd, "-ex", "target remote "+socket, kernel)
}

// ErrDevOption: a developer option (the console on a socket, the gdb
// stub) the monitor does not have.
var ErrDevOption = errors.New("not available with this hypervisor")

// CheckDevOptions tells whether hypervisor can serve the console on a
// socket and a gdb stub (only qemu can: firecracker and cloud-hypervisor
// have no serial chardev nor gdb stub; Solo5's tenders have no console
// input, and solo5-hvt's gdb stub exists only in the separate
// solo5-hvt-debug build).
func CheckDevOptions(hypervisor string, console ConsoleKind, gdb bool) error {
	switch console {
	case "", ConsoleStdio, ConsoleSocket:
	default:
		return fmt.Errorf("%w: console %q: want stdio or socket", ErrInvalidValue, console)
	}
	h := Canonical(hypervisor)
	if h == QEMU {
		return nil
	}
	if console == ConsoleSocket {
		return fmt.Errorf("%w: the console on a socket is qemu's (%s has no serial chardev to put there)", ErrDevOption, hypervisor)
	}
	if gdb {
		why := "it has no gdb stub"
		switch h {
		case HVT:
			why = "its gdb stub (--gdb, --gdb-port) is only in solo5-hvt-debug, a separate build of the tender without its own seccomp filter, which urunc does not run"
		case SPT:
			why = "it has no gdb stub (the guest is a host process: attach gdb to the tender's pid instead)"
		}
		return fmt.Errorf("%w: gdb stub on %s: %s", ErrDevOption, hypervisor, why)
	}
	return nil
}

// Attachment is one guest device and what it was given, for vmm.json and
// the console.
type Attachment struct {
	Kind   string `json:"kind"`             // net, block, share
	Device string `json:"device,omitempty"` // the guest's name for it (a manifest's), if it has one
	To     string `json:"to,omitempty"`     // the tap, image or directory; "" = not given
	Note   string `json:"note,omitempty"`   // why, when it is not the obvious
}

// String is the attachment in words: "net service0 -> tap0", "block
// storage -> /data.img", "net: not given (why)".
func (a Attachment) String() string {
	s := a.Kind
	if a.Device != "" {
		s += " " + a.Device
	}
	if a.To != "" {
		s += " -> " + a.To
	} else {
		s += ": not given"
	}
	if a.Note != "" {
		s += " (" + a.Note + ")"
	}
	return s
}

// File is a file the runtime must write (atomically) before exec'ing the monitor.
type File struct {
	Path string
	Data []byte
	Mode uint32
}

// Mount is a host path the VMM opens: its confined root holds exactly
// these (besides /usr, the state directory and device nodes), at the
// same paths.
type Mount struct {
	Path     string
	ReadOnly bool
	What     string // for error messages: "the guest kernel", "a volume", ...
}

// Stop is how a SIGTERM to the container reaches the guest.
type Stop string

const (
	// StopACPI: an ACPI power-button press over the control socket, then
	// SIGKILL after the grace period.
	StopACPI Stop = "acpi"
	// StopSignal: the signal is forwarded to the monitor, which ends the
	// guest on it (once it has installed its handler).
	StopSignal Stop = "signal"
	// StopKill: the monitor has no handler (solo5-spt, pid 1 of its pid
	// namespace, would never see a SIGTERM): SIGTERM becomes SIGKILL.
	StopKill Stop = "kill"
)

// ExitRule is how the VMM's exit status maps to the guest's.
type ExitRule string

const (
	// ExitRaw: the VMM's status is the guest's (solo5: the guest's own
	// exit code, 255 for an abort).
	ExitRaw ExitRule = "raw"
	// ExitLinuxInit: urunc-init's isa-debug-exit encoding (status N as
	// 2N+1; 0 as a clean power-off).
	ExitLinuxInit ExitRule = "linux-init"
	// ExitUnikraft: Unikraft's port 0x501 (83 halt, 85 crash).
	ExitUnikraft ExitRule = "unikraft"
)

// Exit says how to read a guest's outcome: its VMM's status through
// Rule, and console lines that mean it failed even when that status
// says success.
type Exit struct {
	Rule           ExitRule `json:"rule"`
	FailureMarkers []string `json:"failureMarkers,omitempty"`
}

// Decode is the guest's exit status for the VMM's; ok is false when the
// status cannot come from the guest (the VMM itself failed).
func (r ExitRule) Decode(vmmStatus int) (status int, ok bool) {
	switch r {
	case ExitLinuxInit:
		switch {
		case vmmStatus == 0:
			return 0, true
		case vmmStatus >= 3 && vmmStatus <= 255 && vmmStatus%2 == 1:
			return (vmmStatus - 1) / 2, true
		}
		return vmmStatus, false
	case ExitUnikraft:
		switch vmmStatus {
		case 0, 83: // powered off (the ACPI request can win the race), halted
			return 0, true
		case 85: // crashed or an init function failed
			return 1, true
		}
		return vmmStatus, false
	}
	return vmmStatus, true
}

// Control is the protocol of a monitor's control socket.
type Control string

const (
	NoControl Control = ""
	QMP       Control = "qmp"
)

// Choice is how the monitor runs the guest, and why (vmm.json).
type Choice struct {
	Accel         string // kvm, tcg, or none (solo5-spt)
	AccelReason   string
	CPU           string
	Machine       string
	MachineReason string
}

// Plan is the result of Build: exactly what to exec, and what the
// runtime must give the VMM for it (the lifecycle executes it without
// knowing which monitor it is).
type Plan struct {
	Path  string   // absolute path of the monitor binary
	Argv  []string // full argv, Argv[0] is the program name
	Env   []string // extra environment for the monitor; usually nil
	Files []File   // files to write first (e.g. firecracker's JSON config)
	// Mounts and Devices are what the VMM opens: its confined root holds
	// them, and a VMM user must be able to reach them.
	Mounts  []Mount
	Devices []string
	Control Control // the control socket the monitor serves (ControlFD)
	Stop    Stop
	// Seccomp names the runtime/seccomp filter the runtime installs before
	// exec ("" = none).
	Seccomp      string
	GuestCmdline string // the guest command line that was built, for vmm.json / the console
	Exit         Exit   // how the guest's outcome is read
	// Attachments say which device of the guest got what.
	Attachments []Attachment
	// LogsConsole says the monitor copies the guest console to
	// Request.SerialLog itself (qemu's chardev logfile); for the others
	// the runtime copies what they write to their stdout.
	LogsConsole bool
}

// Package vmtypes holds the types and sentinel errors of package vm, so
// that runtime/guests and runtime/hypervisors can use them while package vm
// imports those two (package vm re-exports everything here under the same
// names as aliases: vm.Request and vmtypes.Request are one type).
package vmtypes

import "errors"

// Sentinel errors. Wrap them with %w and a message that names the value.
var (
	ErrUnknownGuest      = errors.New("unknown unikernel type")
	ErrUnknownHypervisor = errors.New("unknown hypervisor")
	ErrUnsupportedPair   = errors.New("unsupported unikernel type and hypervisor combination")
	ErrNotInstalled      = errors.New("hypervisor binary not found")
	ErrInvalidValue      = errors.New("invalid value")
)

// Network describes the container's network as the guest must see it.
// A nil *Network means the guest runs without a NIC.
type Network struct {
	TapName   string // tap device inside the container's network namespace
	MAC       string // guest MAC, "aa:bb:cc:dd:ee:ff"
	IP        string // IPv4 address, dotted quad
	PrefixLen int    // e.g. 24
	Mask      string // dotted quad, e.g. 255.255.255.0
	Gateway   string // dotted quad; may be empty
	DNS       string // may be empty
	MTU       int
	Hostname  string
}

// Volume is a host directory the VMM shares with the guest.
type Volume struct {
	HostPath string
	ReadOnly bool
}

// SharedFS shares a host directory (normally the container rootfs) with
// the guest as its root filesystem.
type SharedFS struct {
	Kind     string // "9p" or "virtiofs"
	HostPath string // directory on the host
	Tag      string // mount tag seen by the guest
	Socket   string // virtiofs: vhost-user socket path (virtiofsd listens there)
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

	Kernel          string // host path of the kernel image
	Initrd          string // host path; empty = none
	Block           string // host path of a block image or device; empty = none
	BlockMountPoint string // where the guest should mount Block (rumprun etc.)
	Cmdline         string // the config's cmdline key (used when Process.Args is empty)
	Process         Process

	Network  *Network  // nil = no NIC
	SharedFS *SharedFS // nil = none
	// Volumes are more host directories the VMM shares (Linux guests'
	// bind-mounted directories); the VMM's confined root must hold them.
	Volumes []Volume

	MemoryMB uint64 // VM memory
	VCPUs    int    // VM vCPUs (>= 1)

	// Machine choices, already decided by the runtime (see runtime/accel).
	Accel   string // "kvm" or "tcg"
	CPU     string // qemu -cpu value; empty = monitor default
	Machine string // qemu -M value, e.g. "microvm" or "pc"; empty = guest default

	StateDir  string // the container's state directory (R/ID), for generated files
	SerialLog string // path where the monitor copies the guest console (qemu chardev logfile)
	QMPFD     int    // fd number of an already listening QMP unix socket the monitor inherits; < 0 = none

	// Prepared says Cmdline and the root filesystem devices (in ExtraArgs,
	// or Block) were prepared by runtime/guests/linuxboot for a Linux
	// guest: the command line is used as given.
	Prepared bool

	// ExtraArgs are appended verbatim (from the urunc config file), already
	// trusted. They are qemu arguments: only the qemu monitor uses them
	// (a Linux guest prepared by runtime/guests/linuxboot carries its root
	// filesystem devices here).
	ExtraArgs []string
}

// File is a file the runtime must write (atomically) before exec'ing the monitor.
type File struct {
	Path string
	Data []byte
	Mode uint32
}

// Plan is the result of Build: exactly what to exec.
type Plan struct {
	Path    string   // absolute path of the monitor binary
	Argv    []string // full argv, Argv[0] is the program name
	Env     []string // extra environment for the monitor; usually nil
	Files   []File   // files to write first (e.g. firecracker's JSON config)
	Seccomp bool     // the runtime applies a seccomp filter before exec (solo5 hvt and spt)
	// SeccompProfile names the filter (runtime/seccomp): "solo5-hvt" or "solo5-spt".
	SeccompProfile string
	// GracefulStop says how SIGTERM is delivered: "acpi" (QMP system_powerdown,
	// then SIGKILL after a grace period) or "signal" (forward the signal to the monitor).
	GracefulStop string
	GuestCmdline string // the guest command line that was built, for vmm.json / the console
}

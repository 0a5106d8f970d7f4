package vmm

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/urunc-dev/urunc/runtime/accel"
)

// Canonical monitor names.
const (
	QEMU            = "qemu"
	Firecracker     = "firecracker"
	HVT             = "hvt"
	SPT             = "spt"
	CloudHypervisor = "cloud-hypervisor"
)

// Monitor is one virtual machine monitor (one file each).
type Monitor interface {
	// Name is the canonical name: qemu, firecracker, hvt, spt, cloud-hypervisor.
	Name() string
	// Binary is the executable looked up on PATH.
	Binary() string
	// Build returns the plan for req. path is the binary's location;
	// req.Hypervisor is canonical and req.Machine already set.
	Build(path string, req Request, boot *Boot) (*Plan, error)
	// Choose decides how the monitor runs the guest (accelerator, CPU
	// model, machine type) from what configuration asks for.
	Choose(want accel.Request, facts accel.Facts) Choice
	// Control is the control socket the monitor can serve.
	Control() Control
	// Devices are the device nodes the VMM opens for req.
	Devices(req Request) []string
	// Attach decides which of the request's devices the guest gets (a
	// Solo5 tender: exactly what the manifest declares), adjusting req,
	// and says what each got.
	Attach(req *Request) ([]Attachment, error)
	// NeedsManifest says Attach needs the unikernel's Solo5 manifest.
	NeedsManifest() bool
	// LogsConsole says the monitor copies the guest console to
	// Request.SerialLog itself (qemu's chardev logfile); the others write
	// it to their stdout only, and the runtime copies it.
	LogsConsole() bool
}

// LogsConsole reports whether the monitor copies the guest console to the
// serial log itself (false for unknown names).
func LogsConsole(hypervisor string) bool {
	m, err := LookupMonitor(hypervisor)
	return err == nil && m.LogsConsole()
}

// NeedsManifest reports whether the monitor needs the unikernel's Solo5
// manifest in its request (the solo5 tenders); false for unknown names.
func NeedsManifest(hypervisor string) bool {
	m, err := LookupMonitor(hypervisor)
	return err == nil && m.NeedsManifest()
}

// attachAll gives the guest every device of the request: a monitor that
// does not ask the guest what it declares.
func attachAll(req *Request) []Attachment {
	var att []Attachment
	if n := req.Net; n != nil {
		att = append(att, Attachment{Kind: "net", Device: n.Name, To: n.TapName})
	}
	for _, d := range req.Disks {
		att = append(att, Attachment{Kind: "block", Device: d.Name, To: d.Path})
	}
	for _, s := range req.Shares {
		to := s.HostPath
		if s.Kind == ShareVirtiofs {
			to += " (virtio-fs)"
		}
		att = append(att, Attachment{Kind: "share", Device: s.Tag, To: to})
	}
	return att
}

// generic is the Attach of monitors that give the guest everything.
type generic struct{}

func (generic) Attach(req *Request) ([]Attachment, error) { return attachAll(req), nil }
func (generic) NeedsManifest() bool                       { return false }

func monitors() []Monitor {
	return []Monitor{QEMUMonitor{}, FirecrackerMonitor{}, HVTMonitor{}, SPTMonitor{}, CloudHypervisorMonitor{}}
}

// Canonical maps the aliases solo5-hvt and solo5-spt to hvt and spt.
func Canonical(name string) string {
	switch name {
	case "solo5-hvt", "solo5-spt":
		return strings.TrimPrefix(name, "solo5-")
	}
	return name
}

// LookupMonitor returns the monitor called name (or one of its aliases).
func LookupMonitor(name string) (Monitor, error) {
	c := Canonical(name)
	var names []string
	for _, m := range monitors() {
		if m.Name() == c {
			return m, nil
		}
		names = append(names, m.Name())
	}
	return nil, fmt.Errorf("%w %q (known: %s; aliases solo5-hvt, solo5-spt)", ErrUnknownHypervisor, name, strings.Join(names, ", "))
}

// find returns the monitor's binary: configured (an absolute path that
// must be executable), else looked up on PATH.
func find(m Monitor, configured string) (string, error) {
	if configured != "" {
		if !filepath.IsAbs(configured) {
			return "", fmt.Errorf("%w: %s path %q in urunc's configuration is not absolute", ErrNotInstalled, m.Name(), configured)
		}
		if _, err := exec.LookPath(configured); err != nil {
			return "", fmt.Errorf("%w: %s (hypervisor %s, from urunc's configuration): %w", ErrNotInstalled, configured, m.Name(), err)
		}
		return configured, nil
	}
	p, err := exec.LookPath(m.Binary())
	if err != nil {
		return "", fmt.Errorf("%w: %s (hypervisor %s) is not installed or not on PATH (or set its path in urunc's configuration)", ErrNotInstalled, m.Binary(), m.Name())
	}
	return p, nil
}

// Choose decides how hypervisor runs guest: for qemu the accelerator, CPU
// model and machine type (runtime/accel), for the others what they always
// use. The reasons go to vmm.json.
func Choose(guest, hypervisor string, want accel.Request, facts accel.Facts) (Choice, error) {
	m, err := LookupMonitor(hypervisor)
	if err != nil {
		return Choice{}, err
	}
	if want.GuestMachine == "" {
		want.GuestMachine = DefaultMachine(guest)
	}
	return m.Choose(want, facts), nil
}

// kvmOnly is the choice of a monitor that always runs its guest on KVM.
func kvmOnly(monitor string, want accel.Request) Choice {
	c := Choice{Accel: "kvm", AccelReason: monitor + " always runs its guest on KVM"}
	if want.Accel == "tcg" {
		c.AccelReason += " (the requested tcg does not apply)"
	}
	return c
}

// Device nodes a VMM may open.
const (
	DevKVM = "/dev/kvm"
	DevTun = "/dev/net/tun"
)

// kvmDevices: /dev/kvm, and the tap's clone device when there is a NIC.
func kvmDevices(req Request) []string {
	return append([]string{DevKVM}, tunDevice(req)...)
}

func tunDevice(req Request) []string {
	if req.Net != nil {
		return []string{DevTun}
	}
	return nil
}

// plainValue refuses values for option syntaxes without an escape for
// the characters in chars (',' and others where noted by the caller).
func plainValue(monitor, what, v, chars string) error {
	if strings.ContainsAny(v, chars) {
		return invalid(monitor, what, v, fmt.Sprintf("contains one of %q, which the option syntax cannot carry", chars))
	}
	return nil
}

// qemuValue makes v safe as the value of a qemu "key=value,..." option:
// commas are doubled.
func qemuValue(v string) string { return strings.ReplaceAll(v, ",", ",,") }

// checkNetwork validates the host-side NIC parameters.
func checkNetwork(monitor string, n *Net) error {
	if n == nil {
		return nil
	}
	if n.TapName == "" || len(n.TapName) > 15 || strings.ContainsAny(n.TapName, "/ \t,=:") {
		return invalid(monitor, "tap device", n.TapName, "not a valid interface name")
	}
	if n.MAC != "" {
		if hw, err := net.ParseMAC(n.MAC); err != nil || len(hw) != 6 {
			return invalid(monitor, "MAC", n.MAC, "not aa:bb:cc:dd:ee:ff")
		}
	}
	return nil
}

func memory(monitor string, req Request) error {
	if req.MemoryMB == 0 {
		return fmt.Errorf("%w: %s: VM memory is 0 MB", ErrInvalidValue, monitor)
	}
	return nil
}

func vcpus(req Request) int { return max(req.VCPUs, 1) }

// noShares refuses shared directories on a monitor that has no 9p or
// virtio-fs.
func noShares(monitor string, req Request) error {
	if len(req.Shares) > 0 {
		return fmt.Errorf("%w: %s cannot share a directory with the guest (no 9p or virtio-fs)", ErrUnsupportedPair, monitor)
	}
	return nil
}

// Package accel decides how qemu runs a guest: accelerator (KVM or TCG),
// CPU model and machine type, and records why, for vmm.json.
//
// "/dev/kvm opens" is not enough to choose KVM: on nested PVM hosts
// (kvm_pvm, no VT-x/AMD-V in /proc/cpuinfo) Linux guests cannot boot and
// guest code runs ~100x slower than under TCG (docs/architecture.md).
package accel

import (
	"bytes"
	"os"

	"golang.org/x/sys/unix"
)

// Facts is what the host offers.
type Facts struct {
	KVMOpen    bool   // /dev/kvm can be opened read-write
	KVMError   string // why not, when !KVMOpen
	HardwareVT bool   // vmx or svm in /proc/cpuinfo
	PVM        bool   // /dev/kvm comes from kvm_pvm (nested, page-table based)
}

// Probe reads the host's facts.
func Probe() Facts {
	var f Facts
	fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
		f.KVMOpen = true
	} else {
		f.KVMError = "/dev/kvm: " + err.Error()
	}
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range bytes.Split(info, []byte("\n")) {
			if bytes.HasPrefix(line, []byte("flags")) {
				for _, fl := range bytes.Fields(line) {
					if string(fl) == "vmx" || string(fl) == "svm" {
						f.HardwareVT = true
					}
				}
				break
			}
		}
	}
	if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil {
		f.PVM = true
	}
	return f
}

// Request is what configuration asks for; "" or "auto" means decide.
type Request struct {
	Accel   string
	CPU     string
	Machine string
	// GuestMachine is the guest type's preferred machine ("microvm", "pc").
	GuestMachine string
}

// Choice is the decision and its reasons.
type Choice struct {
	Accel         string
	AccelReason   string
	CPU           string
	Machine       string
	MachineReason string
}

// Decide picks accelerator, CPU model and machine.
func Decide(f Facts, r Request) Choice {
	var c Choice
	switch r.Accel {
	case "kvm", "tcg":
		c.Accel, c.AccelReason = r.Accel, "requested by configuration"
	default:
		switch {
		case !f.KVMOpen:
			c.Accel, c.AccelReason = "tcg", "KVM unavailable ("+f.KVMError+")"
		case f.PVM || !f.HardwareVT:
			c.Accel, c.AccelReason = "tcg", "/dev/kvm is nested PVM without VT-x/AMD-V: guest code runs far slower than under TCG and Linux guests cannot boot"
		default:
			c.Accel, c.AccelReason = "kvm", "/dev/kvm usable with hardware virtualization"
		}
	}
	switch {
	case r.CPU != "" && r.CPU != "auto":
		c.CPU = r.CPU
	case c.Accel == "kvm" && (f.PVM || !f.HardwareVT):
		// -cpu host makes qemu abort on PVM (IA32_ARCH_CAPABILITIES).
		c.CPU = "host,-arch-capabilities"
	case c.Accel == "kvm":
		c.CPU = "host"
	default:
		c.CPU = "" // qemu's default model under TCG
	}
	switch {
	case r.Machine != "" && r.Machine != "auto":
		c.Machine, c.MachineReason = r.Machine, "requested by configuration"
	case r.GuestMachine != "":
		c.Machine, c.MachineReason = r.GuestMachine, "default for the guest type"
	default:
		c.Machine, c.MachineReason = "microvm", "no firmware needed: fastest boot"
	}
	return c
}

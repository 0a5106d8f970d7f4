package vm

// Minimal qemu-only builder so the lifecycle can run end to end; the full
// guest x monitor matrix lives in runtime/guests and runtime/hypervisors.

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Supported maps each guest type to the monitors it runs on.
func Supported() map[string][]string {
	return map[string][]string{
		"unikraft": {"qemu", "firecracker"},
		"rumprun":  {"hvt", "spt"},
		"mirage":   {"qemu", "hvt", "spt"},
		"mewz":     {"qemu"},
		"hermit":   {"qemu"},
		"linux":    {"qemu", "firecracker"},
	}
}

var binaries = map[string]string{
	"qemu": "qemu-system-x86_64", "firecracker": "firecracker", "hvt": "solo5-hvt",
	"spt": "solo5-spt", "cloud-hypervisor": "cloud-hypervisor",
}

func canonical(h string) string { return strings.TrimPrefix(h, "solo5-") }

// Validate checks the pair and that the monitor is installed.
func Validate(guest, hypervisor string) error {
	mons, ok := Supported()[guest]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownGuest, guest)
	}
	h := canonical(hypervisor)
	bin, ok := binaries[h]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownHypervisor, hypervisor)
	}
	found := false
	for _, m := range mons {
		found = found || m == h
	}
	if !found {
		return fmt.Errorf("%w: %s on %s", ErrUnsupportedPair, guest, hypervisor)
	}
	if _, err := exec.LookPath(bin); err != nil {
		return fmt.Errorf("%w: %s (%s) is not on PATH", ErrNotInstalled, bin, hypervisor)
	}
	return nil
}

// DefaultMachine is the qemu machine a guest type needs.
func DefaultMachine(guest string) string {
	if guest == "linux" {
		return "microvm"
	}
	return "pc"
}

func qemuEscape(v string) string { return strings.ReplaceAll(v, ",", ",,") }

// Build returns the VMM invocation.
func Build(req Request) (*Plan, error) {
	if err := Validate(req.Guest, req.Hypervisor); err != nil {
		return nil, err
	}
	if canonical(req.Hypervisor) != "qemu" {
		return nil, fmt.Errorf("%w: %s", ErrNotInstalled, req.Hypervisor)
	}
	path, _ := exec.LookPath("qemu-system-x86_64")
	machine := req.Machine
	if machine == "" {
		machine = DefaultMachine(req.Guest)
	}
	cmdline := req.Cmdline
	if len(req.Process.Args) > 0 && cmdline == "" {
		cmdline = strings.Join(req.Process.Args, " ")
	}
	if n := req.Network; n != nil && req.Guest == "unikraft" {
		// unikraft >= 0.16.1: netdev.ip=<ip>/<prefix>:<gw>:<dns>
		cmdline = fmt.Sprintf("netdev.ip=%s/%d:%s:%s -- %s", n.IP, n.PrefixLen, n.Gateway, n.DNS, cmdline)
	}
	argv := []string{"qemu-system-x86_64", "-M", machine, "-accel", req.Accel}
	if req.CPU != "" {
		argv = append(argv, "-cpu", req.CPU)
	}
	argv = append(argv, "-m", strconv.FormatUint(req.MemoryMB, 10), "-smp", strconv.Itoa(max(req.VCPUs, 1)),
		"-nodefaults", "-no-user-config", "-no-reboot", "-display", "none",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04")
	serial := "stdio,id=serial0,signal=off"
	if req.SerialLog != "" {
		serial += ",logfile=" + qemuEscape(req.SerialLog)
	}
	argv = append(argv, "-chardev", serial, "-serial", "chardev:serial0")
	if req.QMPFD >= 0 {
		argv = append(argv, "-chardev", fmt.Sprintf("socket,id=qmp,fd=%d,server=on,wait=off", req.QMPFD), "-mon", "chardev=qmp,mode=control")
	}
	if n := req.Network; n != nil {
		dev := "virtio-net-pci"
		if strings.HasPrefix(machine, "microvm") {
			dev = "virtio-net-device"
		}
		argv = append(argv, "-netdev", "tap,id=net0,ifname="+qemuEscape(n.TapName)+",script=no,downscript=no",
			"-device", dev+",netdev=net0,mac="+qemuEscape(n.MAC))
	}
	argv = append(argv, "-kernel", req.Kernel)
	if req.Initrd != "" {
		argv = append(argv, "-initrd", req.Initrd)
	}
	if cmdline != "" {
		argv = append(argv, "-append", cmdline)
	}
	argv = append(argv, req.ExtraArgs...)
	graceful := "signal"
	if req.Guest == "linux" {
		graceful = "acpi"
	}
	return &Plan{Path: path, Argv: argv, GracefulStop: graceful, GuestCmdline: cmdline}, nil
}

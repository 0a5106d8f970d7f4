package vmm

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urunc-dev/urunc/runtime/accel"
)

// DebugExitDevice is the exit device every qemu guest gets (unless it
// brings its own): the guest writes N to port 0xf4, qemu exits (N<<1)|1.
const DebugExitDevice = "isa-debug-exit,iobase=0xf4,iosize=0x04"

// QEMUMonitor is qemu-system-x86_64:
//
//	qemu-system-x86_64 -M MACHINE [-accel A] [-cpu C] -m MB -smp N
//	  -nodefaults -no-user-config -no-reboot -display none
//	  [-device isa-debug-exit,iobase=0xf4,iosize=0x04]
//	  -chardev stdio,id=serial0,signal=off[,logfile=L] -serial chardev:serial0
//	    (ConsoleSocket: -chardev socket,id=serial0,fd=N,server=on,wait=off[,logfile=L])
//	  [-chardev socket,id=qmp,fd=N,server=on,wait=off -mon chardev=qmp,mode=control]
//	  [-chardev socket,id=gdb0,fd=N,server=on,wait=off -gdb chardev:gdb0 [-S]]
//	  [-netdev tap,id=net0,ifname=T,script=no,downscript=no -device NIC,netdev=net0[,mac=M]]
//	  [-device virtio-blk-{pci,device},drive=hd0 -drive if=none,format=raw,id=hd0,file=D]
//	  [shared directories: 9p or virtio-fs] [guest extras]
//	  -kernel K [-initrd I] [-append CMDLINE] [ExtraArgs]
//
// Devices are PCI on pc/q35 and virtio-mmio ("-device" models) on microvm.
type QEMUMonitor struct{ generic }

func (QEMUMonitor) Name() string      { return QEMU }
func (QEMUMonitor) Binary() string    { return "qemu-system-x86_64" }
func (QEMUMonitor) Control() Control  { return QMP }
func (QEMUMonitor) LogsConsole() bool { return true }

// Choose: the accelerator, CPU model and machine type of runtime/accel.
func (QEMUMonitor) Choose(want accel.Request, facts accel.Facts) Choice {
	c := accel.Decide(facts, want)
	return Choice{Accel: c.Accel, AccelReason: c.AccelReason, CPU: c.CPU, Machine: c.Machine, MachineReason: c.MachineReason}
}

// Devices: /dev/kvm only under KVM.
func (QEMUMonitor) Devices(req Request) []string {
	if req.Accel == "kvm" {
		return kvmDevices(req)
	}
	return tunDevice(req)
}

func (q QEMUMonitor) Build(path string, req Request, boot *Boot) (*Plan, error) {
	if err := memory("qemu", req); err != nil {
		return nil, err
	}
	if err := checkNetwork("qemu", req.Net); err != nil {
		return nil, err
	}
	if req.Machine == "" {
		return nil, fmt.Errorf("%w: qemu: no machine type", ErrInvalidValue)
	}
	if err := checkMachine(req.Machine); err != nil {
		return nil, err
	}
	if err := checkCPU(req.CPU); err != nil {
		return nil, err
	}
	switch req.Accel {
	case "", "kvm", "tcg":
	default:
		return nil, invalid("qemu", "accel", req.Accel, "want kvm or tcg")
	}
	if req.Kernel == "" {
		return nil, fmt.Errorf("%w: qemu: no kernel", ErrInvalidValue)
	}
	mmio := strings.HasPrefix(req.Machine, "microvm")
	dev := func(model string) string {
		if mmio {
			return model + "-device"
		}
		return model + "-pci"
	}
	argv := []string{q.Binary(), "-M", req.Machine}
	if req.Accel != "" {
		argv = append(argv, "-accel", req.Accel)
	}
	if req.CPU != "" {
		argv = append(argv, "-cpu", req.CPU)
	}
	argv = append(argv, "-m", strconv.FormatUint(req.MemoryMB, 10), "-smp", strconv.Itoa(vcpus(req)),
		"-nodefaults", "-no-user-config", "-no-reboot", "-display", "none")
	if !boot.OwnDebugExit && !hasDevice(req.ExtraArgs, "isa-debug-exit") {
		argv = append(argv, "-device", DebugExitDevice)
	}
	serial := "stdio,id=serial0,signal=off"
	if req.Console == ConsoleSocket {
		if req.ConsoleFD < 0 {
			return nil, fmt.Errorf("%w: qemu: console on a socket without its descriptor", ErrInvalidValue)
		}
		serial = fmt.Sprintf("socket,id=serial0,fd=%d,server=on,wait=off", req.ConsoleFD)
	}
	if req.SerialLog != "" {
		serial += ",logfile=" + qemuValue(req.SerialLog)
	}
	argv = append(argv, "-chardev", serial, "-serial", "chardev:serial0")
	if req.ControlFD >= 0 {
		argv = append(argv, "-chardev", fmt.Sprintf("socket,id=qmp,fd=%d,server=on,wait=off", req.ControlFD),
			"-mon", "chardev=qmp,mode=control")
	}
	if g := req.GDB; g != nil {
		if g.FD < 0 {
			return nil, fmt.Errorf("%w: qemu: gdb stub without its descriptor", ErrInvalidValue)
		}
		argv = append(argv, "-chardev", fmt.Sprintf("socket,id=gdb0,fd=%d,server=on,wait=off", g.FD), "-gdb", "chardev:gdb0")
		if g.Wait {
			argv = append(argv, "-S") // no vCPU runs until gdb continues
		}
	}
	if mmio && !strings.Contains(req.Machine, "pcie=on") && strings.Contains(boot.QEMUNetDevice, "-pci") && req.Net != nil {
		return nil, fmt.Errorf("%w: %s guests need a PCI NIC (%s), which machine %q lacks: use pc, q35 or microvm,pcie=on",
			ErrUnsupportedPair, req.Guest, boot.QEMUNetDevice, req.Machine)
	}
	if n := req.Net; n != nil {
		argv = append(argv, "-netdev", "tap,id=net0,ifname="+qemuValue(n.TapName)+",script=no,downscript=no")
		if !hasDevice(req.ExtraArgs, "netdev=net0") {
			nic := boot.QEMUNetDevice
			if nic == "" {
				nic = dev("virtio-net")
			}
			nic += ",netdev=net0"
			if n.MAC != "" {
				nic += ",mac=" + n.MAC
			}
			argv = append(argv, "-device", nic)
		}
	}
	if d := req.Disk(); d != nil {
		drive := "if=none,format=raw,id=hd0,file=" + qemuValue(d.Path)
		if d.ReadOnly {
			drive += ",readonly=on"
		}
		argv = append(argv, "-device", dev("virtio-blk")+",drive=hd0", "-drive", drive)
	}
	if len(req.Shares) > 0 {
		args, err := shareArgs(req.Shares, req.MemoryMB, mmio, dev)
		if err != nil {
			return nil, err
		}
		argv = append(argv, args...)
	}
	argv = append(argv, boot.QEMUArgs...)
	argv = append(argv, "-kernel", req.Kernel)
	if req.Initrd != "" {
		// qemu splits -initrd on ',' for multiboot kernels: refuse it.
		if err := plainValue("qemu", "initrd", req.Initrd, ","); err != nil {
			return nil, err
		}
		argv = append(argv, "-initrd", req.Initrd)
	}
	if boot.Cmdline != "" {
		argv = append(argv, "-append", boot.Cmdline)
	}
	argv = append(argv, req.ExtraArgs...)
	return &Plan{Path: path, Argv: argv}, nil
}

// Device ids of the shared directories (the guest sees only the tags).
const (
	qemuRootFSDev   = "urunc-root"
	qemuVirtiofsDev = "urunc-vfs"
	qemuSharedMem   = "urunc-mem"
)

// shareArgs shares the directories: 9p devices (each volume under the id
// of its tag), or virtio-fs through a virtiofsd already listening on the
// share's socket. On microvm, virtio-mmio is made non-legacy (virtiofsd
// refuses legacy virtio) and virtio-fs needs guest memory in a shared memfd.
func shareArgs(shares []Share, memMB uint64, mmio bool, dev func(string) string) ([]string, error) {
	var args []string
	if mmio {
		args = append(args, "-global", "virtio-mmio.force-legacy=false")
	}
	virtiofs := 0
	for _, s := range shares {
		if s.Tag == "" || strings.ContainsAny(s.Tag, ", ") {
			return nil, invalid("qemu", "shared filesystem tag", s.Tag, "empty or contains ',' or ' '")
		}
		id := s.Tag
		if s.Root {
			id = qemuRootFSDev
		}
		switch s.Kind {
		case Share9P:
			if s.HostPath == "" {
				return nil, invalid("qemu", "shared filesystem path", s.HostPath, "empty")
			}
			fsdev := "local,id=" + id + ",path=" + qemuValue(s.HostPath) + ",security_model=none"
			if s.ReadOnly {
				fsdev += ",readonly=on"
			}
			args = append(args, "-fsdev", fsdev, "-device", dev("virtio-9p")+",fsdev="+id+",mount_tag="+s.Tag)
		case ShareVirtiofs:
			if s.Socket == "" {
				return nil, invalid("qemu", "virtiofs socket", s.Socket, "empty")
			}
			if virtiofs++; virtiofs > 1 {
				return nil, invalid("qemu", "shared filesystem", s.Tag, "only one virtio-fs share per VM")
			}
			args = append(args,
				"-object", fmt.Sprintf("memory-backend-memfd,id=%s,size=%dM,share=on", qemuSharedMem, memMB),
				"-machine", "memory-backend="+qemuSharedMem,
				"-chardev", "socket,id="+qemuVirtiofsDev+",path="+qemuValue(s.Socket),
				"-device", dev("vhost-user-fs")+",chardev="+qemuVirtiofsDev+",tag="+s.Tag)
		default:
			return nil, invalid("qemu", "shared filesystem kind", string(s.Kind), "want 9p or virtiofs")
		}
	}
	return args, nil
}

// hasDevice reports whether args has a "-device" whose value contains s.
func hasDevice(args []string, s string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-device" && strings.Contains(args[i+1], s) {
			return true
		}
	}
	return false
}

// machineProps are the -M properties a machine value may set: switches of
// the emulated chipset. Everything else is refused, because the machine
// and CPU can come from a per-container annotation and several machine
// properties name host files (kernel=, initrd=, firmware=, dtb=,
// dumpdtb= writes one) or memory backends. The host's own configuration
// can add anything through ExtraArgs.
func machineProps() map[string]bool {
	return map[string]bool{
		// microvm
		"acpi": true, "auto-kernel-cmdline": true, "ioapic2": true, "isa-serial": true, "pcie": true,
		"pic": true, "pit": true, "rtc": true, "x-option-roms": true,
		// pc, q35
		"hpet": true, "i8042": true, "sata": true, "smbus": true, "smm": true, "vmport": true,
		"max-ram-below-4g": true, "default-bus-bypass-iommu": true,
		// every machine
		"usb": true, "mem-merge": true, "graphics": true, "dump-guest-core": true, "suppress-vmdesc": true,
	}
}

// safeToken reports whether s is non-empty and only has letters, digits,
// '.', '_' and '-' (no separators, paths or quotes).
func safeToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// checkMachine accepts "TYPE[,PROP=VALUE...]" with a plain machine type
// (pc, q35, microvm, pc-i440fx-7.2, ...) and only the properties of
// machineProps with plain values.
func checkMachine(m string) error {
	parts := strings.Split(m, ",")
	if !safeToken(parts[0]) || strings.Contains(parts[0], "=") {
		return invalid("qemu", "machine", m, "the machine type must be a plain name such as pc, q35 or microvm")
	}
	allowed := machineProps()
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !allowed[k] || !safeToken(v) {
			return invalid("qemu", "machine", m, fmt.Sprintf("property %q is not one of the chipset switches urunc passes (configure others as extra qemu arguments)", p))
		}
	}
	return nil
}

// checkCPU accepts "MODEL[,[+-]FEATURE[=VALUE]...]" with plain names.
func checkCPU(c string) error {
	if c == "" {
		return nil
	}
	parts := strings.Split(c, ",")
	if !safeToken(parts[0]) {
		return invalid("qemu", "cpu", c, "the CPU model must be a plain name such as host or max")
	}
	for _, p := range parts[1:] {
		k, v, hasValue := strings.Cut(strings.TrimLeft(p, "+-"), "=")
		if !safeToken(k) || (hasValue && !safeToken(v)) {
			return invalid("qemu", "cpu", c, fmt.Sprintf("feature %q is not [+-]NAME or NAME=VALUE", p))
		}
	}
	return nil
}

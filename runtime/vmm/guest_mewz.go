package vmm

// MewzDebugExitDevice is mewz's own exit device (port 0x501, 2 bytes).
const MewzDebugExitDevice = "isa-debug-exit,iobase=0x501,iosize=2"

// Mewz boots mewz unikernels on qemu. Command line: ip=IP/PREFIX
// gateway=GW (nothing without a network; mewz takes no arguments, so
// process.args and the cmdline key are not passed). Its NIC must be a
// modern-only virtio-net-pci, and it exits through isa-debug-exit at 0x501.
// No block device, no shared filesystem.
type Mewz struct{}

func (Mewz) Name() string           { return "mewz" }
func (Mewz) Monitors() []string     { return []string{QEMU} }
func (Mewz) DefaultMachine() string { return "pc" }

func (m Mewz) Boot(req Request) (*Boot, error) {
	name := m.Name()
	if err := network(name, req.Net); err != nil {
		return nil, err
	}
	if err := noBlock(name, req); err != nil {
		return nil, err
	}
	if err := noSharedFS(name, req); err != nil {
		return nil, err
	}
	return &Boot{
		Cmdline:       join(addressWords(req.Net, "ip=", "gateway=")...),
		QEMUNetDevice: "virtio-net-pci,disable-legacy=on,disable-modern=off",
		QEMUArgs:      []string{"-device", MewzDebugExitDevice},
		OwnDebugExit:  true,
		Stop:          StopSignal,
	}, nil
}

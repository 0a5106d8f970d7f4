package vmm

// Hermit boots hermit-rs unikernels on qemu: the kernel is hermit's loader
// and the application comes as the initrd. Command line:
//
//	[ip=IP/PREFIX] [gateway=GW] [-- ARGS]    ("--" only between the two parts)
//
// NIC: virtio-net-pci with legacy virtio off. No block device.
type Hermit struct{}

func (Hermit) Name() string           { return "hermit" }
func (Hermit) Monitors() []string     { return []string{QEMU} }
func (Hermit) DefaultMachine() string { return "pc" }

func (h Hermit) Boot(req Request) (*Boot, error) {
	name := h.Name()
	if err := network(name, req.Net); err != nil {
		return nil, err
	}
	if err := noBlock(name, req); err != nil {
		return nil, err
	}
	if err := noSharedFS(name, req); err != nil {
		return nil, err
	}
	cmd, err := command(name, req, quoteWord)
	if err != nil {
		return nil, err
	}
	netArgs := join(addressWords(req.Net, "ip=", "gateway=")...)
	sep := ""
	if netArgs != "" && cmd != "" {
		sep = "--"
	}
	return &Boot{
		Cmdline:       join(netArgs, sep, cmd),
		QEMUNetDevice: "virtio-net-pci,disable-legacy=on",
		Stop:          StopSignal,
	}, nil
}

package vmm

// Mirage boots MirageOS unikernels (solo5 hvt/spt targets, or the virtio
// target on qemu). Command line:
//
//	[--ipv4=IP/PREFIX [--ipv4-gateway=GW]] ARGS
//
// solo5 devices: --net:service=, --block:storage=.
type Mirage struct{}

func (Mirage) Name() string           { return "mirage" }
func (Mirage) Monitors() []string     { return []string{QEMU, HVT, SPT} }
func (Mirage) DefaultMachine() string { return "pc" }

func (m Mirage) Boot(req Request) (*Boot, error) {
	name := m.Name()
	if err := network(name, req.Net); err != nil {
		return nil, err
	}
	if err := noSharedFS(name, req); err != nil {
		return nil, err
	}
	cmd, err := command(name, req, quoteWord)
	if err != nil {
		return nil, err
	}
	return &Boot{Cmdline: join(append(addressWords(req.Net, "--ipv4=", "--ipv4-gateway="), cmd)...), Stop: StopSignal}, nil
}

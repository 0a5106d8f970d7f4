package vmm

// Solo5 boots a plain Solo5 application (Solo5's own tests, a unikernel
// written against the Solo5 interface directly) on its tenders, or its
// virtio build on qemu. Its command line is exactly its arguments: Solo5
// hands the network configuration to no one, so an application configures
// itself (the MirageOS convention of --ipv4= is the mirage type's). Its
// devices are those its manifest declares (on hvt/spt).
type Solo5 struct{}

func (Solo5) Name() string           { return "solo5" }
func (Solo5) Monitors() []string     { return []string{HVT, SPT, QEMU} }
func (Solo5) DefaultMachine() string { return "pc" }

func (s Solo5) Boot(req Request) (*Boot, error) {
	name := s.Name()
	if err := noSharedFS(name, req); err != nil {
		return nil, err
	}
	cmd, err := command(name, req, quoteWord)
	if err != nil {
		return nil, err
	}
	return &Boot{Cmdline: cmd, Stop: StopSignal}, nil
}

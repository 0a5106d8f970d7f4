package hypervisors

import (
	"fmt"
	"strconv"

	"github.com/urunc-dev/urunc/runtime/guests"
	"github.com/urunc-dev/urunc/runtime/vm/vmtypes"
)

// CloudHypervisor is cloud-hypervisor:
//
//	cloud-hypervisor --memory size=MBM --cpus boot=N --kernel K --console off --serial tty
//	  [--net tap=T[,mac=M]] [--disk path=D] [--initramfs I] [--cmdline C]
//
// Its option parser has no escape for ',' so values containing one are
// refused. The guest console is the monitor's stdout. qemu ExtraArgs do
// not apply.
type CloudHypervisor struct{}

func (CloudHypervisor) Name() string   { return guests.CloudHypervisor }
func (CloudHypervisor) Binary() string { return "cloud-hypervisor" }

func (c CloudHypervisor) Build(path string, req vmtypes.Request, boot *guests.Boot) (*vmtypes.Plan, error) {
	const mon = "cloud-hypervisor"
	if err := memory(mon, req); err != nil {
		return nil, err
	}
	if err := checkNetwork(mon, req.Network); err != nil {
		return nil, err
	}
	if req.SharedFS != nil {
		return nil, fmt.Errorf("%w: %s: shared root filesystems are not implemented", vmtypes.ErrUnsupportedPair, mon)
	}
	for _, v := range []struct{ what, val string }{{"kernel", req.Kernel}, {"initrd", req.Initrd}, {"guest command line", boot.Cmdline}} {
		if err := plain(mon, v.what, v.val); err != nil {
			return nil, err
		}
	}
	argv := []string{c.Binary(),
		"--memory", "size=" + strconv.FormatUint(req.MemoryMB, 10) + "M",
		"--cpus", "boot=" + strconv.Itoa(vcpus(req)),
		"--kernel", req.Kernel,
		"--console", "off", "--serial", "tty"}
	if n := req.Network; n != nil {
		v := "tap=" + n.TapName
		if n.MAC != "" {
			v += ",mac=" + n.MAC
		}
		argv = append(argv, "--net", v)
	}
	if req.Block != "" {
		if err := noComma(mon, "block", req.Block, ",\""); err != nil {
			return nil, err
		}
		argv = append(argv, "--disk", "path="+req.Block)
	}
	if req.Initrd != "" {
		argv = append(argv, "--initramfs", req.Initrd)
	}
	if boot.Cmdline != "" {
		argv = append(argv, "--cmdline", boot.Cmdline)
	}
	graceful := "signal"
	return &vmtypes.Plan{Path: path, Argv: argv, GracefulStop: graceful}, nil
}

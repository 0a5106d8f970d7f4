package hypervisors

import (
	"fmt"
	"strconv"

	"github.com/urunc-dev/urunc/runtime/guests"
	"github.com/urunc-dev/urunc/runtime/vm/vmtypes"
)

// solo5Build is shared by solo5-hvt and solo5-spt:
//
//	solo5-X --mem=MB [--net:NET=TAP [--net-mac:NET=MAC]] [--block:BLK=IMAGE] KERNEL [CMDLINE]
//
// NET and BLK are the device names the guest was built with (guests.Boot).
// The guest command line is one argument (solo5 joins its trailing
// arguments with blanks anyway). No initrd, no shared filesystem, and
// qemu ExtraArgs do not apply.
func solo5Build(monitor, binary, path string, req vmtypes.Request, boot *guests.Boot) (*vmtypes.Plan, error) {
	if err := memory(monitor, req); err != nil {
		return nil, err
	}
	if err := checkNetwork(monitor, req.Network); err != nil {
		return nil, err
	}
	if req.Initrd != "" {
		return nil, fmt.Errorf("%w: %s cannot load an initrd (%s)", vmtypes.ErrInvalidValue, monitor, req.Initrd)
	}
	if req.SharedFS != nil {
		return nil, fmt.Errorf("%w: %s cannot share a root filesystem", vmtypes.ErrUnsupportedPair, monitor)
	}
	if err := noComma(monitor, "kernel", req.Kernel, ""); err != nil {
		return nil, err
	}
	if req.Kernel == "" || req.Kernel[0] == '-' {
		return nil, invalid(monitor, "kernel", req.Kernel, "empty or starts with '-'")
	}
	argv := []string{binary, "--mem=" + strconv.FormatUint(req.MemoryMB, 10)}
	if n := req.Network; n != nil {
		if boot.Solo5Net == "" {
			return nil, fmt.Errorf("%w: %s guests have no solo5 network device name", vmtypes.ErrUnsupportedPair, req.Guest)
		}
		argv = append(argv, "--net:"+boot.Solo5Net+"="+n.TapName)
		if n.MAC != "" {
			argv = append(argv, "--net-mac:"+boot.Solo5Net+"="+n.MAC)
		}
	}
	if req.Block != "" {
		if boot.Solo5Block == "" {
			return nil, fmt.Errorf("%w: %s guests have no solo5 block device name", vmtypes.ErrUnsupportedPair, req.Guest)
		}
		if err := plain(monitor, "block", req.Block); err != nil {
			return nil, err
		}
		argv = append(argv, "--block:"+boot.Solo5Block+"="+req.Block)
	}
	argv = append(argv, req.Kernel)
	if boot.Cmdline != "" {
		if err := plain(monitor, "guest command line", boot.Cmdline); err != nil {
			return nil, err
		}
		argv = append(argv, boot.Cmdline)
	}
	return &vmtypes.Plan{Path: path, Argv: argv, GracefulStop: "signal"}, nil
}

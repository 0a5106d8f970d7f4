package vmm

import (
	"strconv"

	"github.com/urunc-dev/urunc/runtime/accel"
)

// CloudHypervisorMonitor is cloud-hypervisor:
//
//	cloud-hypervisor --memory size=MBM --cpus boot=N --kernel K --console off --serial tty
//	  [--net tap=T[,mac=M]] [--disk path=D] [--initramfs I] [--cmdline C]
//
// Its option parser has no escape for ',' so values containing one are
// refused. The guest console is the monitor's stdout. qemu ExtraArgs do
// not apply.
type CloudHypervisorMonitor struct{ generic }

func (CloudHypervisorMonitor) Name() string      { return CloudHypervisor }
func (CloudHypervisorMonitor) Binary() string    { return "cloud-hypervisor" }
func (CloudHypervisorMonitor) Control() Control  { return NoControl }
func (CloudHypervisorMonitor) LogsConsole() bool { return false }
func (CloudHypervisorMonitor) Choose(want accel.Request, _ accel.Facts) Choice {
	return kvmOnly("cloud-hypervisor", want)
}
func (CloudHypervisorMonitor) Devices(req Request) []string { return kvmDevices(req) }

func (c CloudHypervisorMonitor) Build(path string, req Request, boot *Boot) (*Plan, error) {
	const mon = "cloud-hypervisor"
	if err := memory(mon, req); err != nil {
		return nil, err
	}
	if err := checkNetwork(mon, req.Net); err != nil {
		return nil, err
	}
	if err := noShares(mon, req); err != nil {
		return nil, err
	}
	argv := []string{c.Binary(),
		"--memory", "size=" + strconv.FormatUint(req.MemoryMB, 10) + "M",
		"--cpus", "boot=" + strconv.Itoa(vcpus(req)),
		"--kernel", req.Kernel,
		"--console", "off", "--serial", "tty"}
	if n := req.Net; n != nil {
		v := "tap=" + n.TapName
		if n.MAC != "" {
			v += ",mac=" + n.MAC
		}
		argv = append(argv, "--net", v)
	}
	if d := req.Disk(); d != nil {
		if err := plainValue(mon, "block", d.Path, ",\""); err != nil {
			return nil, err
		}
		disk := "path=" + d.Path
		if d.ReadOnly {
			disk += ",readonly=on"
		}
		argv = append(argv, "--disk", disk)
	}
	if req.Initrd != "" {
		argv = append(argv, "--initramfs", req.Initrd)
	}
	if boot.Cmdline != "" {
		argv = append(argv, "--cmdline", boot.Cmdline)
	}
	return &Plan{Path: path, Argv: argv}, nil
}

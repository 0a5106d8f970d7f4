package vmm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urunc-dev/urunc/runtime/accel"
	"github.com/urunc-dev/urunc/runtime/seccomp"
	"github.com/urunc-dev/urunc/runtime/solo5"
)

// HVTMonitor is solo5-hvt, a KVM tender. The runtime applies a seccomp
// filter before exec (profile solo5-hvt of runtime/seccomp).
type HVTMonitor struct{ tender }

func (HVTMonitor) Name() string     { return HVT }
func (HVTMonitor) Binary() string   { return "solo5-hvt" }
func (HVTMonitor) Control() Control { return NoControl }
func (HVTMonitor) Choose(want accel.Request, _ accel.Facts) Choice {
	return kvmOnly("solo5-hvt", want)
}
func (HVTMonitor) Devices(req Request) []string { return kvmDevices(req) }
func (h HVTMonitor) Build(path string, req Request, boot *Boot) (*Plan, error) {
	return solo5Build("solo5-hvt", h.Binary(), seccomp.HVT, path, req, boot)
}

// SPTMonitor is solo5-spt, a seccomp-sandboxed process tender: no
// hypervisor at all. It installs its own filter once the guest is loaded;
// the runtime's outer filter (profile solo5-spt) covers the loading.
type SPTMonitor struct{ tender }

func (SPTMonitor) Name() string     { return SPT }
func (SPTMonitor) Binary() string   { return "solo5-spt" }
func (SPTMonitor) Control() Control { return NoControl }
func (SPTMonitor) Choose(want accel.Request, _ accel.Facts) Choice {
	c := Choice{Accel: "none", AccelReason: "solo5-spt runs the guest as a seccomp-sandboxed host process, without a hypervisor"}
	if want.Accel == "kvm" || want.Accel == "tcg" {
		c.AccelReason += " (the requested " + want.Accel + " does not apply)"
	}
	return c
}
func (SPTMonitor) Devices(req Request) []string { return tunDevice(req) }
func (s SPTMonitor) Build(path string, req Request, boot *Boot) (*Plan, error) {
	p, err := solo5Build("solo5-spt", s.Binary(), seccomp.SPT, path, req, boot)
	if err != nil {
		return nil, err
	}
	// spt installs no signal handlers ("that would mean adding more to
	// the seccomp policy"): as pid 1 of its pid namespace it never sees
	// a SIGTERM.
	p.Stop = StopKill
	return p, nil
}

// solo5Build is shared by solo5-hvt and solo5-spt:
//
//	solo5-X --mem=MB [--net:NET=TAP [--net-mac:NET=MAC]] [--block:BLK=IMAGE] KERNEL [CMDLINE]
//
// NET and BLK are the device names the guest was built with (Boot).
// The guest command line is one argument (solo5 joins its trailing
// arguments with blanks anyway). No initrd, no shared directories, and
// qemu ExtraArgs do not apply.
func solo5Build(monitor, binary, profile, path string, req Request, boot *Boot) (*Plan, error) {
	if err := memory(monitor, req); err != nil {
		return nil, err
	}
	if err := checkNetwork(monitor, req.Net); err != nil {
		return nil, err
	}
	if req.Initrd != "" {
		return nil, fmt.Errorf("%w: %s cannot load an initrd (%s)", ErrInvalidValue, monitor, req.Initrd)
	}
	if err := noShares(monitor, req); err != nil {
		return nil, err
	}
	if req.Kernel == "" || req.Kernel[0] == '-' {
		return nil, invalid(monitor, "kernel", req.Kernel, "empty or starts with '-'")
	}
	argv := []string{binary, "--mem=" + strconv.FormatUint(req.MemoryMB, 10)}
	// tender.Attach named the devices as the manifest declares them.
	if n := req.Net; n != nil {
		argv = append(argv, "--net:"+n.Name+"="+n.TapName)
		if n.MAC != "" {
			argv = append(argv, "--net-mac:"+n.Name+"="+n.MAC)
		}
	}
	if d := req.Disk(); d != nil {
		argv = append(argv, "--block:"+d.Name+"="+d.Path)
	}
	argv = append(argv, req.Kernel)
	if boot.Cmdline != "" {
		argv = append(argv, boot.Cmdline)
	}
	return &Plan{Path: path, Argv: argv, Seccomp: profile}, nil
}

// ErrDeviceMismatch: the unikernel's manifest and the container's
// devices do not fit together.
var ErrDeviceMismatch = errors.New("the devices do not match the unikernel's Solo5 manifest")

// tender is the device binding of the Solo5 tenders: a tender attaches
// exactly the devices the unikernel's manifest declares (it refuses an
// undeclared one and one declared but not attached).
type tender struct{}

func (tender) NeedsManifest() bool { return true }
func (tender) LogsConsole() bool   { return false }

// Attach binds the manifest's devices: its network device (at most one:
// a container has one network, eth0) to the container's tap, its block
// device (at most one) to the image or rootfs device. A container network
// the unikernel declares no NIC for is not given to it; a name from an
// annotation (solo5NetDev, solo5BlkDev) must be the manifest's.
func (tender) Attach(req *Request) ([]Attachment, error) {
	m := req.Manifest
	if m == nil {
		return nil, fmt.Errorf("%w: no Solo5 manifest of the unikernel %s was read", ErrDeviceMismatch, req.Kernel)
	}
	var att []Attachment
	nets := m.Names(solo5.Net)
	switch {
	case len(nets) > 1:
		return nil, fmt.Errorf("%w: %s declares %d network devices (%s); a container has one network (its eth0)",
			ErrDeviceMismatch, req.Kernel, len(nets), strings.Join(nets, ", "))
	case len(nets) == 0 && req.Net != nil && req.Net.Name != "":
		return nil, fmt.Errorf("%w: the annotation names network device %q but %s declares none", ErrDeviceMismatch, req.Net.Name, req.Kernel)
	case len(nets) == 0 && req.Net != nil:
		att = append(att, Attachment{Kind: "net", Note: "the container's network is not given: the unikernel declares no network device"})
		req.Net = nil
	case len(nets) == 1 && req.Net == nil:
		return nil, fmt.Errorf("%w: %s declares network device %q but the container has no network to give it", ErrDeviceMismatch, req.Kernel, nets[0])
	case len(nets) == 1:
		if req.Net.Name != "" && req.Net.Name != nets[0] {
			return nil, fmt.Errorf("%w: the annotation names network device %q, %s declares %q", ErrDeviceMismatch, req.Net.Name, req.Kernel, nets[0])
		}
		n := *req.Net
		n.Name = nets[0]
		req.Net = &n
		att = append(att, Attachment{Kind: "net", Device: n.Name, To: n.TapName})
	}
	blocks := m.Names(solo5.Block)
	d := req.Disk()
	switch {
	case len(blocks) > 1:
		return nil, fmt.Errorf("%w: %s declares %d block devices (%s); urunc gives one (the block key or a devmapper rootfs)",
			ErrDeviceMismatch, req.Kernel, len(blocks), strings.Join(blocks, ", "))
	case len(blocks) == 0 && d != nil:
		return nil, fmt.Errorf("%w: the bundle gives a block device (%s) but %s declares none", ErrDeviceMismatch, d.Path, req.Kernel)
	case len(blocks) == 1 && d == nil:
		return nil, fmt.Errorf("%w: %s declares block device %q but the bundle gives none (the block key)", ErrDeviceMismatch, req.Kernel, blocks[0])
	case len(blocks) == 1:
		if d.Name != "" && d.Name != blocks[0] {
			return nil, fmt.Errorf("%w: the annotation names block device %q, %s declares %q", ErrDeviceMismatch, d.Name, req.Kernel, blocks[0])
		}
		disks := append([]Disk(nil), req.Disks...)
		disks[0].Name = blocks[0]
		req.Disks = disks
		att = append(att, Attachment{Kind: "block", Device: blocks[0], To: d.Path})
	}
	return att, nil
}

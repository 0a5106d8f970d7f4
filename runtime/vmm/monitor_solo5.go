package vmm

import (
	"fmt"
	"strconv"

	"github.com/urunc-dev/urunc/runtime/accel"
	"github.com/urunc-dev/urunc/runtime/seccomp"
)

// HVTMonitor is solo5-hvt, a KVM tender. The runtime applies a seccomp
// filter before exec (profile solo5-hvt of runtime/seccomp).
type HVTMonitor struct{}

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
type SPTMonitor struct{}

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
	if n := req.Net; n != nil {
		name := firstOf(n.Name, boot.Solo5Net)
		if err := solo5DeviceName(monitor, "network", name, req.Guest); err != nil {
			return nil, err
		}
		argv = append(argv, "--net:"+name+"="+n.TapName)
		if n.MAC != "" {
			argv = append(argv, "--net-mac:"+name+"="+n.MAC)
		}
	}
	if d := req.Disk(); d != nil {
		name := firstOf(d.Name, boot.Solo5Block)
		if err := solo5DeviceName(monitor, "block", name, req.Guest); err != nil {
			return nil, err
		}
		argv = append(argv, "--block:"+name+"="+d.Path)
	}
	argv = append(argv, req.Kernel)
	if boot.Cmdline != "" {
		argv = append(argv, boot.Cmdline)
	}
	return &Plan{Path: path, Argv: argv, Seccomp: profile}, nil
}

// solo5DeviceName checks a device name as Solo5 manifests allow them:
// 1 to 67 letters and digits (MFT_NAME_MAX), which upstream urunc also
// requires of its solo5NetDev/solo5BlkDev annotations.
func solo5DeviceName(monitor, kind, name, guest string) error {
	if name == "" {
		return fmt.Errorf("%w: %s guests have no solo5 %s device name (name it with an annotation)", ErrUnsupportedPair, guest, kind)
	}
	if len(name) > 67 {
		return invalid(monitor, kind+" device name", name, "longer than 67 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return invalid(monitor, kind+" device name", name, "only letters and digits")
		}
	}
	return nil
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

package hypervisors

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/urunc-dev/urunc/runtime/guests"
	"github.com/urunc-dev/urunc/runtime/vm/vmtypes"
)

// FirecrackerConfigFile is the name of the generated configuration in the
// container's state directory.
const FirecrackerConfigFile = "firecracker.json"

// Firecracker runs "firecracker --no-api --config-file STATEDIR/firecracker.json"
// with the configuration written by the runtime first (Plan.Files). The
// guest console is firecracker's stdout. qemu ExtraArgs do not apply.
type Firecracker struct{}

func (Firecracker) Name() string   { return guests.Firecracker }
func (Firecracker) Binary() string { return "firecracker" }

type fcConfig struct {
	BootSource        fcBoot    `json:"boot-source"`
	Drives            []fcDrive `json:"drives"`
	MachineConfig     fcMachine `json:"machine-config"`
	NetworkInterfaces []fcNet   `json:"network-interfaces"`
}

type fcBoot struct {
	KernelImagePath string `json:"kernel_image_path"`
	BootArgs        string `json:"boot_args"`
	InitrdPath      string `json:"initrd_path,omitempty"`
}

type fcDrive struct {
	DriveID      string `json:"drive_id"`
	PathOnHost   string `json:"path_on_host"`
	IsRootDevice bool   `json:"is_root_device"`
	IsReadOnly   bool   `json:"is_read_only"`
}

type fcMachine struct {
	VCPUCount  int    `json:"vcpu_count"`
	MemSizeMiB uint64 `json:"mem_size_mib"`
	SMT        bool   `json:"smt"`
}

type fcNet struct {
	IfaceID     string `json:"iface_id"`
	GuestMAC    string `json:"guest_mac,omitempty"`
	HostDevName string `json:"host_dev_name"`
}

func (f Firecracker) Build(path string, req vmtypes.Request, boot *guests.Boot) (*vmtypes.Plan, error) {
	if err := memory("firecracker", req); err != nil {
		return nil, err
	}
	if err := checkNetwork("firecracker", req.Network); err != nil {
		return nil, err
	}
	if req.StateDir == "" || !filepath.IsAbs(req.StateDir) {
		return nil, invalid("firecracker", "state directory", req.StateDir, "not an absolute path")
	}
	if req.SharedFS != nil {
		return nil, fmt.Errorf("%w: firecracker cannot share a root filesystem (no 9p or virtio-fs)", vmtypes.ErrUnsupportedPair)
	}
	if vcpus(req) > 32 {
		return nil, invalid("firecracker", "vCPUs", fmt.Sprint(req.VCPUs), "at most 32")
	}
	for _, v := range []struct{ what, val string }{{"kernel", req.Kernel}, {"initrd", req.Initrd}, {"block", req.Block}, {"guest command line", boot.Cmdline}} {
		if err := plain("firecracker", v.what, v.val); err != nil {
			return nil, err
		}
	}
	cfg := fcConfig{
		BootSource:        fcBoot{KernelImagePath: req.Kernel, BootArgs: boot.Cmdline, InitrdPath: req.Initrd},
		Drives:            []fcDrive{},
		MachineConfig:     fcMachine{VCPUCount: vcpus(req), MemSizeMiB: req.MemoryMB},
		NetworkInterfaces: []fcNet{},
	}
	if req.Block != "" {
		cfg.Drives = append(cfg.Drives, fcDrive{DriveID: "rootfs", PathOnHost: req.Block, IsRootDevice: true})
	}
	if n := req.Network; n != nil {
		cfg.NetworkInterfaces = append(cfg.NetworkInterfaces, fcNet{IfaceID: "net1", GuestMAC: n.MAC, HostDevName: n.TapName})
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	file := filepath.Join(req.StateDir, FirecrackerConfigFile)
	return &vmtypes.Plan{
		Path:         path,
		Argv:         []string{f.Binary(), "--no-api", "--config-file", file},
		Files:        []vmtypes.File{{Path: file, Data: append(data, '\n'), Mode: 0o600}},
		GracefulStop: "signal",
	}, nil
}

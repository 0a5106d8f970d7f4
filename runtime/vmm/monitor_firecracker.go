package vmm

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/urunc-dev/urunc/runtime/accel"
)

// FirecrackerConfigFile is the name of the generated configuration in the
// container's state directory.
const FirecrackerConfigFile = "firecracker.json"

// FirecrackerMonitor runs "firecracker --no-api --config-file STATEDIR/firecracker.json"
// with the configuration written by the runtime first (Plan.Files). The
// guest console is firecracker's stdout. qemu ExtraArgs do not apply.
type FirecrackerMonitor struct{ generic }

func (FirecrackerMonitor) Name() string      { return Firecracker }
func (FirecrackerMonitor) Binary() string    { return "firecracker" }
func (FirecrackerMonitor) Control() Control  { return NoControl }
func (FirecrackerMonitor) LogsConsole() bool { return false }
func (FirecrackerMonitor) Choose(want accel.Request, _ accel.Facts) Choice {
	return kvmOnly("firecracker", want)
}
func (FirecrackerMonitor) Devices(req Request) []string { return kvmDevices(req) }

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

func (f FirecrackerMonitor) Build(path string, req Request, boot *Boot) (*Plan, error) {
	if err := memory("firecracker", req); err != nil {
		return nil, err
	}
	if err := checkNetwork("firecracker", req.Net); err != nil {
		return nil, err
	}
	if req.StateDir == "" || !filepath.IsAbs(req.StateDir) {
		return nil, invalid("firecracker", "state directory", req.StateDir, "not an absolute path")
	}
	if err := noShares("firecracker", req); err != nil {
		return nil, err
	}
	if vcpus(req) > 32 {
		return nil, invalid("firecracker", "vCPUs", fmt.Sprint(req.VCPUs), "at most 32")
	}
	cfg := fcConfig{
		BootSource:        fcBoot{KernelImagePath: req.Kernel, BootArgs: boot.Cmdline, InitrdPath: req.Initrd},
		Drives:            []fcDrive{},
		MachineConfig:     fcMachine{VCPUCount: vcpus(req), MemSizeMiB: req.MemoryMB},
		NetworkInterfaces: []fcNet{},
	}
	if d := req.Disk(); d != nil {
		cfg.Drives = append(cfg.Drives, fcDrive{DriveID: "rootfs", PathOnHost: d.Path, IsRootDevice: true, IsReadOnly: d.ReadOnly})
	}
	if n := req.Net; n != nil {
		cfg.NetworkInterfaces = append(cfg.NetworkInterfaces, fcNet{IfaceID: "net1", GuestMAC: n.MAC, HostDevName: n.TapName})
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	file := filepath.Join(req.StateDir, FirecrackerConfigFile)
	return &Plan{
		Path:  path,
		Argv:  []string{f.Binary(), "--no-api", "--config-file", file},
		Files: []File{{Path: file, Data: append(data, '\n'), Mode: 0o600}},
	}, nil
}

package linuxboot

import (
	"fmt"
	"strings"
)

// QemuOptions describes the guest-specific part of a qemu invocation for a
// Linux guest booted with BuildInitrd and KernelCmdline. Accelerator, CPU,
// console, -kernel/-initrd/-append and the netdev backend stay with the
// caller.
type QemuOptions struct {
	// Machine is the qemu -M type the caller uses: "microvm" (default,
	// virtio-mmio devices) or a PCI machine such as "pc" or "q35".
	Machine string
	// MemoryMiB must equal the VM's -m size when RootType is virtio-fs
	// (the memory is a shared memfd backend that virtiofsd maps).
	MemoryMiB int
	// Root is the shared root filesystem: Type and Tag as in Config.
	Root Root
	// HostPath is the directory shared over 9p.
	HostPath string
	// VirtiofsSocket is the vhost-user socket virtiofsd listens on.
	VirtiofsSocket string
	// NetdevID, if not empty, adds a virtio-net device on that -netdev
	// (the caller adds "-netdev tap,id=ID,..."); MAC is optional.
	NetdevID string
	MAC      string
	// Volumes are more host directories shared over 9p, each under its
	// own tag (Config.Volumes says where the guest mounts them).
	Volumes []HostVolume
}

// HostVolume is a host directory shared with the guest under Tag.
type HostVolume struct {
	Tag, HostPath string
	ReadOnly      bool
}

// QemuArgs returns the devices and options the guest needs:
//   - isa-debug-exit at 0xf4 and -no-reboot (the exit status, see exit.go);
//   - the root filesystem device, virtio-9p or vhost-user-fs (none for a
//     block root: the monitor attaches the request's block device), in its
//     virtio-mmio ("-device") form on microvm and PCI form otherwise; on
//     microvm virtio-mmio is made non-legacy (virtiofsd refuses legacy
//     virtio) and, for virtio-fs, guest memory is a shared memfd;
//   - the virtio-net device when NetdevID is set.
func QemuArgs(o QemuOptions) ([]string, error) {
	mmio := o.Machine == "" || strings.HasPrefix(o.Machine, "microvm")
	dev := func(name string) string {
		if mmio {
			return name + "-device"
		}
		return name + "-pci"
	}
	args := []string{"-no-reboot", "-device", DebugExitDevice}
	if mmio {
		args = append(args, "-global", "virtio-mmio.force-legacy=false")
	}
	vols, err := volumeArgs(o.Volumes, dev)
	if err != nil {
		return nil, err
	}
	if o.Root.Type == RootBlock {
		// The monitor attaches the block device itself (the request's Block).
		return append(append(args, vols...), netArgs(o, dev)...), nil
	}
	if strings.ContainsAny(o.Root.Tag, ", ") || o.Root.Tag == "" {
		return nil, fmt.Errorf("%w: root tag %q (empty or contains ',' or ' ')", ErrInvalidConfig, o.Root.Tag)
	}
	switch o.Root.Type {
	case Root9P, "":
		if o.HostPath == "" || strings.Contains(o.HostPath, ",") {
			return nil, fmt.Errorf("%w: 9p host path %q (empty or contains ',')", ErrInvalidConfig, o.HostPath)
		}
		args = append(args,
			"-fsdev", "local,id=urunc-root,path="+o.HostPath+",security_model=none",
			"-device", dev("virtio-9p")+",fsdev=urunc-root,mount_tag="+o.Root.Tag)
	case RootVirtiofs:
		if o.VirtiofsSocket == "" || strings.Contains(o.VirtiofsSocket, ",") {
			return nil, fmt.Errorf("%w: virtiofs socket %q (empty or contains ',')", ErrInvalidConfig, o.VirtiofsSocket)
		}
		if o.MemoryMiB <= 0 {
			return nil, fmt.Errorf("%w: virtio-fs needs the VM memory size", ErrInvalidConfig)
		}
		args = append(args,
			"-object", fmt.Sprintf("memory-backend-memfd,id=urunc-mem,size=%dM,share=on", o.MemoryMiB),
			"-machine", "memory-backend=urunc-mem",
			"-chardev", "socket,id=urunc-vfs,path="+o.VirtiofsSocket,
			"-device", dev("vhost-user-fs")+",chardev=urunc-vfs,tag="+o.Root.Tag)
	default:
		return nil, fmt.Errorf("%w: root type %q", ErrInvalidConfig, o.Root.Type)
	}
	return append(append(args, vols...), netArgs(o, dev)...), nil
}

// volumeArgs shares each volume over a 9p device of its own.
func volumeArgs(vols []HostVolume, dev func(string) string) ([]string, error) {
	var args []string
	for _, v := range vols {
		if v.Tag == "" || strings.ContainsAny(v.Tag, ", ") || v.HostPath == "" || strings.Contains(v.HostPath, ",") {
			return nil, fmt.Errorf("%w: volume %q at %q (empty, or ',' in tag or path)", ErrInvalidConfig, v.Tag, v.HostPath)
		}
		fsdev := "local,id=" + v.Tag + ",path=" + v.HostPath + ",security_model=none"
		if v.ReadOnly {
			fsdev += ",readonly=on"
		}
		args = append(args, "-fsdev", fsdev, "-device", dev("virtio-9p")+",fsdev="+v.Tag+",mount_tag="+v.Tag)
	}
	return args, nil
}

func netArgs(o QemuOptions, dev func(string) string) []string {
	if o.NetdevID == "" {
		return nil
	}
	nd := dev("virtio-net") + ",netdev=" + o.NetdevID
	if o.MAC != "" {
		nd += ",mac=" + o.MAC
	}
	return []string{"-device", nd}
}

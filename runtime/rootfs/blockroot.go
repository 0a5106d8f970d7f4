package rootfs

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// BlockRootfs is a container rootfs that is a whole filesystem on a
// device-mapper device.
type BlockRootfs struct {
	Device     string // kernel device node, e.g. /dev/dm-3
	Source     string // the mount's source as mountinfo shows it, e.g. /dev/mapper/thin-snap-7
	FSType     string // ext2, ext3 or ext4
	MountPoint string // the rootfs directory
}

// BlockInput is what PlanBlock looks at.
type BlockInput struct {
	// Mounts is the caller's mount table (/proc/self/mountinfo), in order.
	Mounts []*mountinfo.Info
	// Rootfs is the container's rootfs directory (absolute).
	Rootfs string
	// Guest is the unikernel type.
	Guest string
	// UseDMBlock is the useDMBlock key: "false" turns the hand-off off.
	UseDMBlock string
	// Block is the block key: an image the user chose wins.
	Block string
	// DevName returns the kernel name of block device major:minor (the
	// DEVNAME of /sys/dev/block/M:m/uevent, e.g. "dm-3"), "" if unknown.
	DevName func(major, minor int) string
	// DevicePrefixes are the kernel device names taken as devmapper
	// snapshots; nil means {"dm-"}. (Tests on hosts without device-mapper
	// add "loop", see TestBlockRootLoopEnv.)
	DevicePrefixes []string
}

// BlockPlan says whether to hand the rootfs over as a block device.
type BlockPlan struct {
	Block  *BlockRootfs // nil: keep the rootfs as it is
	Reason string       // why (for logs and vmm.json)
}

// BlockRootGuests are the guest types that can boot from a block rootfs:
// Linux (root=/dev/vda) and rumprun (ext2 on its block device). Unikraft
// only has 9p and initrd roots (upstream docs/unikernel-support.md).
var BlockRootGuests = map[string]bool{"linux": true, "rumprun": true}

var blockFSTypes = map[string]bool{"ext2": true, "ext3": true, "ext4": true}

// PlanBlock decides, without touching the system, whether the rootfs is
// an ext2/3/4 filesystem mounted right at Rootfs from a device-mapper
// device (not a directory inside such a filesystem: on an LVM host every
// directory is on a dm device) and the guest can boot from it.
func PlanBlock(in BlockInput) BlockPlan {
	if in.UseDMBlock == "false" {
		return BlockPlan{Reason: "useDMBlock is false"}
	}
	if in.Block != "" {
		return BlockPlan{Reason: "the block key names an image"}
	}
	root := filepath.Clean(in.Rootfs)
	var m *mountinfo.Info
	for _, mi := range in.Mounts {
		if filepath.Clean(mi.Mountpoint) == root {
			m = mi // the last one is on top
		}
	}
	if m == nil {
		return BlockPlan{Reason: "the rootfs is not a mount point"}
	}
	if m.Root != "/" {
		return BlockPlan{Reason: fmt.Sprintf("the rootfs mounts %s of its filesystem, not the whole of it", m.Root)}
	}
	if !blockFSTypes[m.FSType] {
		return BlockPlan{Reason: fmt.Sprintf("the rootfs is %s, not ext2/3/4", m.FSType)}
	}
	name := ""
	if in.DevName != nil {
		name = in.DevName(m.Major, m.Minor)
	}
	prefixes := in.DevicePrefixes
	if prefixes == nil {
		prefixes = []string{"dm-"}
	}
	known := false
	for _, p := range prefixes {
		known = known || strings.HasPrefix(name, p)
	}
	if !known || strings.ContainsAny(name, "/ ") {
		return BlockPlan{Reason: fmt.Sprintf("the rootfs device %d:%d (%s) is not a device-mapper device", m.Major, m.Minor, m.Source)}
	}
	if !BlockRootGuests[in.Guest] {
		return BlockPlan{Reason: fmt.Sprintf("%s guests cannot boot from a block rootfs", in.Guest)}
	}
	b := &BlockRootfs{Device: "/dev/" + name, Source: m.Source, FSType: m.FSType, MountPoint: root}
	return BlockPlan{Block: b, Reason: fmt.Sprintf("the rootfs is %s on %s (%s)", m.FSType, b.Device, m.Source)}
}

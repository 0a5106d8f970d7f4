package rootfs

import (
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
)

// mountinfoText is a fake /proc/self/mountinfo: an LVM host (/ on dm-0), a
// devmapper snapshot mounted as a bundle rootfs (dm-3), overlay, a bind of
// a subdirectory of the snapshot, an xfs dm mount and a stacked mount.
const mountinfoText = `22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw
40 22 253:3 / /run/containerd/snap/7/rootfs rw,relatime shared:20 - ext4 /dev/mapper/thin-snap-7 rw
41 22 0:50 / /run/docker/overlay/merged rw,relatime - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c
42 22 253:3 /sub /bundles/sub/rootfs rw,relatime - ext4 /dev/mapper/thin-snap-7 rw
43 22 253:4 / /bundles/xfs/rootfs rw,relatime - xfs /dev/mapper/thin-snap-8 rw
44 22 8:1 / /bundles/sda/rootfs rw,relatime - ext4 /dev/sda1 rw
45 22 253:5 / /bundles/stacked/rootfs rw,relatime - ext2 /dev/mapper/thin-snap-9 rw
46 45 0:60 / /bundles/stacked/rootfs rw,relatime - tmpfs tmpfs rw
47 22 253:6 / /bundles/ext2/rootfs rw,relatime - ext2 /dev/mapper/thin-snap-10 rw
`

func devNames(major, minor int) string {
	if major == 253 {
		return "dm-" + string(rune('0'+minor))
	}
	if major == 8 && minor == 1 {
		return "sda1"
	}
	return ""
}

func TestPlanRootfs(t *testing.T) {
	mounts, err := mountinfo.GetMountsFromReader(strings.NewReader(mountinfoText), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		in         BlockInput
		wantDevice string // "" = no hand-off
		wantFS     string
		reason     string
	}{
		{name: "devmapper snapshot, linux", in: BlockInput{Rootfs: "/run/containerd/snap/7/rootfs", Guest: "linux"},
			wantDevice: "/dev/dm-3", wantFS: "ext4", reason: "/dev/mapper/thin-snap-7"},
		{name: "trailing slash", in: BlockInput{Rootfs: "/run/containerd/snap/7/rootfs/", Guest: "rumprun"},
			wantDevice: "/dev/dm-3", wantFS: "ext4"},
		{name: "ext2", in: BlockInput{Rootfs: "/bundles/ext2/rootfs", Guest: "linux"}, wantDevice: "/dev/dm-6", wantFS: "ext2"},
		{name: "useDMBlock false", in: BlockInput{Rootfs: "/run/containerd/snap/7/rootfs", Guest: "linux", UseDMBlock: "false"}, reason: "useDMBlock"},
		{name: "useDMBlock true", in: BlockInput{Rootfs: "/run/containerd/snap/7/rootfs", Guest: "linux", UseDMBlock: "true"}, wantDevice: "/dev/dm-3", wantFS: "ext4"},
		{name: "user block image wins", in: BlockInput{Rootfs: "/run/containerd/snap/7/rootfs", Guest: "linux", Block: "/disk.img"}, reason: "block key"},
		{name: "unikraft cannot", in: BlockInput{Rootfs: "/run/containerd/snap/7/rootfs", Guest: "unikraft"}, reason: "unikraft guests cannot"},
		{name: "directory on an LVM root", in: BlockInput{Rootfs: "/var/lib/bundles/x/rootfs", Guest: "linux"}, reason: "not a mount point"},
		{name: "overlay", in: BlockInput{Rootfs: "/run/docker/overlay/merged", Guest: "linux"}, reason: "overlay, not ext"},
		{name: "bind of a subdirectory", in: BlockInput{Rootfs: "/bundles/sub/rootfs", Guest: "linux"}, reason: "mounts /sub"},
		{name: "xfs", in: BlockInput{Rootfs: "/bundles/xfs/rootfs", Guest: "linux"}, reason: "xfs"},
		{name: "not device-mapper", in: BlockInput{Rootfs: "/bundles/sda/rootfs", Guest: "linux"}, reason: "not a device-mapper"},
		{name: "something mounted on top", in: BlockInput{Rootfs: "/bundles/stacked/rootfs", Guest: "linux"}, reason: "tmpfs"},
		{name: "device name unknown", in: BlockInput{Rootfs: "/run/containerd/snap/7/rootfs", Guest: "linux", DevName: func(int, int) string { return "" }}, reason: "253:3"},
		{name: "loop only when asked", in: BlockInput{Rootfs: "/bundles/sda/rootfs", Guest: "linux", DevicePrefixes: []string{"dm-", "sd"}}, wantDevice: "/dev/sda1", wantFS: "ext4"},
		{name: "hostile device name", in: BlockInput{Rootfs: "/run/containerd/snap/7/rootfs", Guest: "linux", DevName: func(int, int) string { return "dm-1/../sda" }}, reason: "not a device-mapper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Mounts = mounts
			if in.DevName == nil {
				in.DevName = devNames
			}
			p := PlanBlock(in)
			if tt.wantDevice == "" {
				if p.Block != nil {
					t.Fatalf("want no hand-off, got %+v (%s)", *p.Block, p.Reason)
				}
			} else {
				if p.Block == nil {
					t.Fatalf("want %s, got none: %s", tt.wantDevice, p.Reason)
				}
				if p.Block.Device != tt.wantDevice || p.Block.FSType != tt.wantFS || p.Block.MountPoint != strings.TrimSuffix(in.Rootfs, "/") {
					t.Fatalf("got %+v", *p.Block)
				}
			}
			if !strings.Contains(p.Reason, tt.reason) {
				t.Fatalf("reason %q lacks %q", p.Reason, tt.reason)
			}
		})
	}
}

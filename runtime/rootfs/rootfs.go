// Package rootfs decides and prepares how a guest gets its files: the
// kernel and initrd from the image, a devmapper rootfs handed over as a
// block device (PlanBlock), a Linux guest's initrd with urunc's init and
// its rootfs shared over 9p or virtio-fs (virtiofsd), the container's
// bind-mounted files and volumes. Prepare returns typed devices for
// runtime/vmm and one undo for everything it did.
package rootfs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/internal/atomicfile"
	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/linuxboot"
	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// TestBlockRootLoopEnv, set to 1, makes a loop device count as a devmapper
// snapshot, so the block rootfs hand-off can be tested end to end on a
// host whose kernel has no device-mapper (tests/cli's
// TestLinuxGuestLoopRootfs). Like URUNC_FAULT it exists for tests only.
const TestBlockRootLoopEnv = "URUNC_TEST_BLOCKROOT_LOOP"

// Input is what the preparation looks at.
type Input struct {
	Dir    state.Dir // the container's state directory (generated files go there)
	Spec   *specs.Spec
	Config *config.Unikernel
	Host   *config.Host
	Rootfs string // the container rootfs (absolute)
	// Kernel, Initrd and Block are the configured files, resolved inside
	// the rootfs ("" = none).
	Kernel, Initrd, Block string
	Process               vmm.Process
	Net                   *vmm.Net // the guest's network (a Linux guest's init configures it)
	Log                   *slog.Logger
}

// Result is how the guest gets its files.
type Result struct {
	Kernel, Initrd string
	Disks          []vmm.Disk
	Shares         []vmm.Share
	Linux          *vmm.LinuxInit
	Detail         string     // for the journal and vmm.json
	Virtiofsd      *Virtiofsd // a virtio-fs daemon serving the rootfs, or nil
	undo           []func()
}

// Undo reverts every step, last first: when the VMM will not run after all.
func (r *Result) Undo() {
	if r == nil {
		return
	}
	for i := len(r.undo) - 1; i >= 0; i-- {
		r.undo[i]()
	}
	r.undo = nil
}

// Prepare gives the guest its files:
//   - a rootfs that is an ext2/3/4 filesystem on a device-mapper device
//     (containerd's devmapper snapshotter) is handed to the VMM as a
//     block device: kernel (and initrd) copied to the state directory,
//     the rootfs unmounted in our mount namespace;
//   - a Linux guest without its own initrd gets its rootfs through
//     urunc's init (runtime/linuxboot): that block device, or the rootfs
//     shared over 9p or virtio-fs (sharedfs key, else the host config);
//   - otherwise the configured initrd and block image are used as they are.
//
// On error everything done is undone; on success the caller calls Undo
// if the VMM does not get exec'd.
func Prepare(ctx context.Context, in Input) (_ *Result, err error) {
	if in.Log == nil {
		in.Log = slog.New(slog.DiscardHandler)
	}
	// Not the named result: the error returns below set that to nil, and
	// the deferred undo must still see what was done.
	res := &Result{Kernel: in.Kernel, Initrd: in.Initrd}
	defer func() {
		if err != nil {
			res.Undo()
		}
	}()
	if in.Block != "" {
		res.Disks = []vmm.Disk{{Path: in.Block, MountPoint: in.Config.BlkMntPoint}}
	}
	block, err := handOffBlock(in, res)
	if err != nil {
		return nil, err
	}
	if in.Config.Type == "linux" && res.Initrd == "" && (in.Block == "" || block != nil) {
		kind := firstSet(in.Config.SharedFS, in.Host.SharedFS, config.SharedFS9P)
		fstype := ""
		if block != nil {
			kind, fstype = linuxboot.RootBlock, block.FSType
		}
		if err := prepareLinux(ctx, in, kind, fstype, res); err != nil {
			return nil, err
		}
		return res, nil
	}
	if block != nil {
		res.Detail = fmt.Sprintf("block device %s (%s)", block.Device, block.FSType)
		if res.Initrd != "" {
			res.Detail += ", initrd " + res.Initrd
		}
		return res, nil
	}
	res.Detail = "kernel only"
	if res.Initrd != "" {
		res.Detail = "initrd " + res.Initrd
	}
	if in.Block != "" {
		res.Detail += ", block " + in.Block
	}
	return res, nil
}

// handOffBlock applies PlanBlock to our mount table: when the rootfs is a
// devmapper filesystem the guest can boot from, it copies the kernel and
// initrd out to the state directory, unmounts the rootfs and makes the
// device the guest's disk. nil: nothing done.
func handOffBlock(in Input, res *Result) (*BlockRootfs, error) {
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	bi := BlockInput{
		Mounts: mounts, Rootfs: in.Rootfs, Guest: in.Config.Type, UseDMBlock: in.Config.UseDMBlock, Block: in.Block, DevName: sysfsDevName,
	}
	if os.Getenv(TestBlockRootLoopEnv) == "1" {
		bi.DevicePrefixes = []string{"dm-", "loop"}
	}
	plan := PlanBlock(bi)
	if plan.Block == nil {
		in.Log.Debug("rootfs stays a directory", "id", in.Dir.ID, "reason", plan.Reason)
		return nil, nil
	}
	b := plan.Block
	in.Log.Info("handing the rootfs to the VMM as a block device", "id", in.Dir.ID, "reason", plan.Reason)
	for _, f := range []struct {
		p    *string
		name string
	}{{&res.Kernel, state.RootfsKernelFile}, {&res.Initrd, state.RootfsInitrdFile}} {
		if *f.p == "" {
			continue
		}
		dst := in.Dir.File(f.name)
		if err := copyRegular(*f.p, dst); err != nil {
			return nil, fmt.Errorf("devmapper rootfs: copying %s out: %w", *f.p, err)
		}
		res.undo = append(res.undo, func() { os.Remove(dst) })
		*f.p = dst
	}
	if err := unix.Unmount(b.MountPoint, 0); err != nil {
		return nil, fmt.Errorf("devmapper rootfs: unmounting %s: %w", b.MountPoint, err)
	}
	res.undo = append(res.undo, func() {
		if err := unix.Mount(b.Device, b.MountPoint, b.FSType, 0, ""); err != nil {
			in.Log.Warn("devmapper rootfs: remounting after failure", "id", in.Dir.ID, "error", err)
		}
	})
	res.Disks = []vmm.Disk{{Path: b.Device, MountPoint: in.Config.BlkMntPoint}}
	return b, nil
}

// sysfsDevName returns the kernel name of block device major:minor.
func sysfsDevName(major, minor int) string {
	data, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", major, minor))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "DEVNAME="); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// copyRegular copies a regular file (not following a final symlink out of
// the rootfs: src was resolved inside it) to dst, private to root.
func copyRegular(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	return atomicfile.Write(dst, state.FileMode, false, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" && v != "auto" {
			return v
		}
	}
	return ""
}

// tail returns the last lines of a log file for an error message.
func tail(path string) string {
	data, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(data))
	if len(s) > 400 {
		s = "..." + s[len(s)-400:]
	}
	if s == "" {
		return "(no output)"
	}
	return s
}

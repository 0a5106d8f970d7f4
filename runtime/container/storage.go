package container

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/guests/linuxboot"
	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/runtime/storage"
	"github.com/urunc-dev/urunc/runtime/vm"
)

// TestBlockRootLoopEnv, set to 1, makes a loop device count as a devmapper
// snapshot, so the block rootfs hand-off can be tested end to end on a
// host whose kernel has no device-mapper (cmd/urunc's
// TestLinuxGuestLoopRootfs). Like URUNC_FAULT it exists for tests only.
const TestBlockRootLoopEnv = "URUNC_TEST_BLOCKROOT_LOOP"

// storageSetup is what prepareStorage did besides filling in the request.
type storageSetup struct {
	detail    string
	virtiofsd *virtiofsd
	undo      []func() // run in reverse order when the VMM will not run
}

// cleanup undoes every step, last first.
func (s *storageSetup) cleanup() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i]()
	}
	s.undo = nil
}

// prepareStorage fills in storage parts of req:
//   - a rootfs that is an ext2/3/4 filesystem on a device-mapper device
//     (containerd's devmapper snapshotter) is handed to the VMM as a
//     block device: kernel (and initrd) copied to the state directory,
//     the rootfs unmounted in our mount namespace;
//   - a Linux guest without its own initrd gets its rootfs through
//     linuxboot: that block device, or the rootfs shared over 9p or
//     virtio-fs (sharedfs key, else the host config);
//   - otherwise the configured initrd and block image are used as they are.
//
// On error everything done is undone; on success the caller must call
// cleanup if the VMM does not get exec'd.
func (r *Runtime) prepareStorage(ctx context.Context, d state.Dir, spec *specs.Spec, cfg *config.Unikernel, rootfs string, req *vm.Request) (_ *storageSetup, err error) {
	// Not the named result: the error returns below set that to nil, and
	// the deferred undo must still see what was done.
	st := &storageSetup{}
	defer func() {
		if err != nil {
			st.cleanup()
		}
	}()
	block, err := r.handOffBlockRootfs(d, cfg, rootfs, req, st)
	if err != nil {
		return nil, err
	}
	if cfg.Type == "linux" && req.Initrd == "" && (req.Block == "" || block != nil) {
		kind := firstSet(cfg.SharedFS, r.opts.Host.SharedFS, config.SharedFS9P)
		fstype := ""
		if block != nil {
			kind, fstype = linuxboot.RootBlock, block.FSType
		}
		if err := r.prepareLinux(ctx, d, spec, rootfs, kind, fstype, req, st); err != nil {
			return nil, err
		}
		return st, nil
	}
	if block != nil {
		st.detail = fmt.Sprintf("block device %s (%s)", block.Device, block.FSType)
		if req.Initrd != "" {
			st.detail += ", initrd " + req.Initrd
		}
		return st, nil
	}
	st.detail = "kernel only"
	if req.Initrd != "" {
		st.detail = "initrd " + req.Initrd
	}
	if req.Block != "" {
		st.detail += ", block " + req.Block
	}
	return st, nil
}

// handOffBlockRootfs applies storage.PlanRootfs to our mount table: when
// the rootfs is a devmapper filesystem the guest can boot from, it copies
// the kernel and initrd out to the state directory, unmounts the rootfs
// and puts the device in req.Block. nil: nothing done.
func (r *Runtime) handOffBlockRootfs(d state.Dir, cfg *config.Unikernel, rootfs string, req *vm.Request, st *storageSetup) (*storage.BlockRootfs, error) {
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	in := storage.Input{
		Mounts: mounts, Rootfs: rootfs, Guest: cfg.Type, UseDMBlock: cfg.UseDMBlock, Block: req.Block, DevName: sysfsDevName,
	}
	if os.Getenv(TestBlockRootLoopEnv) == "1" {
		in.DevicePrefixes = []string{"dm-", "loop"}
	}
	plan := storage.PlanRootfs(in)
	if plan.Block == nil {
		r.log.Debug("rootfs stays a directory", "id", d.ID, "reason", plan.Reason)
		return nil, nil
	}
	b := plan.Block
	r.log.Info("handing the rootfs to the VMM as a block device", "id", d.ID, "reason", plan.Reason)
	for _, f := range []struct {
		p    *string
		name string
	}{{&req.Kernel, "rootfs-kernel"}, {&req.Initrd, "rootfs-initrd"}} {
		if *f.p == "" {
			continue
		}
		dst := d.File(f.name)
		if err := copyRegular(*f.p, dst); err != nil {
			return nil, fmt.Errorf("devmapper rootfs: copying %s out: %w", *f.p, err)
		}
		st.undo = append(st.undo, func() { os.Remove(dst) })
		*f.p = dst
	}
	if err := unix.Unmount(b.MountPoint, 0); err != nil {
		return nil, fmt.Errorf("devmapper rootfs: unmounting %s: %w", b.MountPoint, err)
	}
	st.undo = append(st.undo, func() {
		if err := unix.Mount(b.Device, b.MountPoint, b.FSType, 0, ""); err != nil {
			r.log.Warn("devmapper rootfs: remounting after failure", "id", d.ID, "error", err)
		}
	})
	req.Block = b.Device
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
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return err
	}
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

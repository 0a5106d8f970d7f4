package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/linuxboot"
)

// filesDir holds the bind-mounted files' content in the initramfs; the
// bind mounts keep it alive after switchRoot removes /urunc.
const filesDir = "/urunc/files"

// bindFiles puts each file of the container's bind mounts (the engine's
// /etc/hosts, /etc/resolv.conf, ...) over its destination in the new root,
// as the engine's bind mount would have: the rootfs itself is not written,
// except for creating a missing mount point, as runc does.
func bindFiles(log logger, root string, files []linuxboot.File) error {
	if len(files) == 0 {
		return nil
	}
	if err := os.MkdirAll(filesDir, 0o755); err != nil { //nolint:gosec // G301: holds files bound into the rootfs for any user; the modes are theirs
		return fmt.Errorf("bind mounts: %w", err)
	}
	for i, f := range files {
		src := filepath.Join(filesDir, fmt.Sprint(i))
		if err := os.WriteFile(src, f.Data, fs.FileMode(f.Mode).Perm()); err != nil {
			return fmt.Errorf("bind mount of %s: %w", f.Path, err)
		}
		// Symlinks in the rootfs (/etc/resolv.conf -> ../run/...) resolve
		// inside it, never into the initramfs.
		dst, err := securejoin.SecureJoin(root, f.Path)
		if err != nil {
			return fmt.Errorf("bind mount of %s: %w", f.Path, err)
		}
		if err := mountPoint(dst); err != nil {
			return fmt.Errorf("bind mount of %s: %w", f.Path, err)
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind mount of %s: %w", f.Path, err)
		}
		if f.ReadOnly {
			if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("bind mount of %s read-only: %w", f.Path, err)
			}
		}
		log.printf("bind-mounted %s (%d bytes)", f.Path, len(f.Data))
	}
	return nil
}

// mountPoint makes sure a regular file exists at p to mount over.
func mountPoint(p string) error {
	fi, err := os.Stat(p)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("%s is a directory in the rootfs", p)
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	// A missing mount point is created as runc does: 0755 directories, an
	// empty 0644 file; what is bound over it has its own mode.
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil { //nolint:gosec // G301: see above
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644) //nolint:gosec // G302: see above
	if err != nil {
		return err
	}
	return f.Close()
}

// mountVolumes mounts each volume's 9p share at its destination in the new
// root (creating the mount point, as runc does).
func mountVolumes(log logger, root string, vols []linuxboot.Volume) error {
	for _, v := range vols {
		dst, err := securejoin.SecureJoin(root, v.Path)
		if err != nil {
			return fmt.Errorf("volume %s: %w", v.Path, err)
		}
		if err := os.MkdirAll(dst, 0o755); err != nil { //nolint:gosec // G301: a missing mount point, as runc makes it
			return fmt.Errorf("volume %s: %w", v.Path, err)
		}
		var flags uintptr
		if v.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		if err := unix.Mount(v.Tag, dst, "9p", flags, linuxboot.Default9POptions); err != nil {
			return fmt.Errorf("volume %s (9p tag %s): %w", v.Path, v.Tag, err)
		}
		log.printf("mounted volume %s at %s", v.Tag, v.Path)
	}
	return nil
}

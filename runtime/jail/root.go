// Package jail confines a VMM before the runtime execs it: a pivoted
// minimal root holding exactly the files and device nodes its plan names
// (runtime/vmm), the container's user, groups and capabilities,
// no_new_privs and the seccomp filter, applied on the one thread that
// execs. It is to urunc what runc's rootfs_linux.go, capabilities/ and
// its init's last steps are to a container.
package jail

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// mount is one thing the VMM may see inside its minimal root.
type mount struct {
	path     string // same path inside and outside
	readOnly bool
}

// baseDevices are the device nodes every VMM gets (absent ones are
// skipped); the plan adds what its monitor opens (/dev/kvm, /dev/net/tun).
func baseDevices() []string {
	return []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"}
}

// Devices are the device nodes the VMM of plan gets.
func Devices(plan *vmm.Plan) []string { return append(baseDevices(), plan.Devices...) }

// Confine makes the VMM see only what it needs: it pivots this process
// (the re-exec child, in the container's private mount namespace) into a
// fresh tmpfs holding read-only binds of /usr (the VMM and its libraries
// and firmware), the files of the plan (kernel, initrd, block image, the
// shared directories) at their own paths, the container's state directory,
// and the plan's device nodes (private copies owned by owner when it is
// set, see makeDevices). The host's /etc, /home, /root, /var and /run
// are gone for it. Must run after everything that needs the host's view.
func Confine(stateDir string, plan *vmm.Plan, owner *Owner) error {
	var mounts []mount
	for _, m := range plan.Mounts {
		mounts = append(mounts, mount{path: m.Path, readOnly: m.ReadOnly})
	}
	newRoot := filepath.Join(stateDir, state.VMMRootDir)
	if err := os.MkdirAll(newRoot, 0o700); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", newRoot, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=16m"); err != nil {
		return fmt.Errorf("confine: tmpfs: %w", err)
	}
	// Debian's merged /usr: /bin, /sbin, /lib* are symlinks into /usr.
	for _, top := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		if target, err := os.Readlink(top); err == nil {
			if err := os.Symlink(target, filepath.Join(newRoot, top)); err != nil {
				return fmt.Errorf("confine: %w", err)
			}
		} else if _, err := os.Stat(top); err == nil {
			mounts = append(mounts, mount{path: top, readOnly: true})
		}
	}
	mounts = append(mounts, mount{path: "/usr", readOnly: true})
	devs := Devices(plan)
	if owner != nil {
		var err error
		if devs, err = makeDevices(newRoot, devs, owner); err != nil {
			return err
		}
	}
	for _, dev := range devs {
		if _, err := os.Stat(dev); err == nil {
			mounts = append(mounts, mount{path: dev})
		}
	}
	mounts = append(mounts, mount{path: stateDir})
	// Parents before children, so a bind inside another bind lands on top.
	sort.SliceStable(mounts, func(i, j int) bool { return strings.Count(mounts[i].path, "/") < strings.Count(mounts[j].path, "/") })
	for _, m := range mounts {
		if err := bindInto(newRoot, m); err != nil {
			return err
		}
	}
	for _, dir := range []string{"tmp", "proc", "etc"} {
		if err := os.MkdirAll(filepath.Join(newRoot, dir), 0o755); err != nil { //nolint:gosec // G301: the VMM's /tmp, /proc, /etc, open to its user like the host's
			return fmt.Errorf("confine: %w", err)
		}
	}
	if err := os.Chmod(filepath.Join(newRoot, "tmp"), 0o1777); err != nil { //nolint:gosec // G302: a /tmp is world-writable and sticky
		return fmt.Errorf("confine: %w", err)
	}
	if err := unix.Mount("proc", filepath.Join(newRoot, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		// Without a new pid namespace the host's proc cannot be mounted
		// afresh; the VMM does without /proc.
		os.Remove(filepath.Join(newRoot, "proc"))
	}
	old := filepath.Join(newRoot, ".oldroot")
	if err := os.Mkdir(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(newRoot, old); err != nil {
		return fmt.Errorf("confine: pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.oldroot", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("confine: detach old root: %w", err)
	}
	return os.Remove("/.oldroot")
}

// bindInto binds m.path of the current root at the same path under newRoot.
func bindInto(newRoot string, m mount) error {
	info, err := os.Stat(m.path)
	if err != nil {
		return fmt.Errorf("confine: %w", err)
	}
	dst := filepath.Join(newRoot, m.path)
	// Mount points in the confined root: 0755 like the host's directories
	// they stand for, so that the VMM's user reaches what is bound there.
	if info.IsDir() {
		err = os.MkdirAll(dst, 0o755) //nolint:gosec // G301: a mount point, see above
	} else {
		if err = os.MkdirAll(filepath.Dir(dst), 0o755); err == nil { //nolint:gosec // G301: a mount point's parents, see above
			var f *os.File
			if f, err = os.OpenFile(dst, os.O_CREATE|os.O_RDONLY, 0o600); err == nil {
				f.Close()
			} else if errors.Is(err, os.ErrExist) {
				err = nil
			}
		}
	}
	if err != nil {
		return fmt.Errorf("confine: mount point for %s: %w", m.path, err)
	}
	if err := unix.Mount(m.path, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("confine: bind %s: %w", m.path, err)
	}
	if m.readOnly {
		if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("confine: read-only %s: %w", m.path, err)
		}
	}
	return nil
}

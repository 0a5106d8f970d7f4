//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/linuxboot"
)

const newRoot = "/newroot"

// Directories urunc-init creates in the guest (mount points, the new
// root) are 0755, as on any Linux system: the container's program may run
// as any user.

func mount(src, dst, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil { //nolint:gosec // G301: a mount point, see above
		return fmt.Errorf("mount %s: %w", dst, err)
	}
	if err := unix.Mount(src, dst, fstype, flags, data); err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("mount -t %s %s %s: %w", fstype, src, dst, err)
	}
	return nil
}

// mountEarly mounts /dev, /proc and /sys in the initramfs.
func mountEarly() error {
	if err := unix.Mount("devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"); err != nil && !errors.Is(err, unix.EBUSY) {
		// No devtmpfs: a tmpfs with the few nodes a container needs.
		if err := mount("tmpfs", "/dev", "tmpfs", unix.MS_NOSUID, "mode=0755"); err != nil {
			return err
		}
		for _, n := range []struct {
			name         string
			major, minor uint32
		}{{"console", 5, 1}, {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}, {"port", 1, 4}} {
			if err := unix.Mknod("/dev/"+n.name, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("mknod /dev/%s: %w", n.name, err)
			}
		}
	}
	if err := mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	return mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}

// loadModules loads the wanted modules and their dependencies from the
// initrd in modules.dep order, passing "<module>.<param>=" values from the
// kernel command line as modprobe would.
func loadModules(log logger, want []string) error {
	f, err := os.Open(filepath.Join(linuxboot.ModulesDir, linuxboot.ModulesDepFile))
	if err != nil {
		return fmt.Errorf("kernel modules: %w", err)
	}
	all, err := linuxboot.ReadModulesDep(f)
	f.Close()
	if err != nil {
		return err
	}
	mods, err := linuxboot.Closure(all, want)
	if err != nil {
		return err
	}
	cmdline, _ := os.ReadFile("/proc/cmdline")
	for _, m := range mods {
		if err := loadModule(m.Name, moduleParams(string(cmdline), m.Name)); err != nil {
			return err
		}
		log.printf("loaded %s", m.Name)
	}
	return nil
}

func loadModule(name, params string) error {
	path := filepath.Join(linuxboot.ModulesDir, name+".ko")
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("loading module %s: %w", name, err)
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), params, 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("loading module %s: %w", name, err)
	}
	return nil
}

// moduleParams collects "name.param=value" words of the kernel command line.
func moduleParams(cmdline, name string) string {
	var out []string
	for _, w := range strings.Fields(cmdline) {
		mod, param, ok := strings.Cut(w, ".")
		if !ok || strings.Contains(mod, "=") || linuxboot.ModuleName(mod) != name {
			continue
		}
		out = append(out, param)
	}
	return strings.Join(out, " ")
}

// mountRoot mounts the shared container rootfs on /newroot. The device may
// show up a little after its driver is loaded, so ENOENT is retried.
func mountRoot(log logger, cfg linuxboot.Config) error {
	var flags uintptr
	if cfg.Root.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	fstype := cfg.MountFSType()
	opts := cfg.MountOptions()
	if err := os.MkdirAll(newRoot, 0o755); err != nil { //nolint:gosec // G301: the new root, see mount
		return fmt.Errorf("mounting the rootfs: %w", err)
	}
	// Drivers probe synchronously when loaded; the retry only covers a
	// late device, so it is short (a wrong tag fails after 1 s).
	deadline := time.Now().Add(time.Second)
	for {
		err := unix.Mount(cfg.Root.Tag, newRoot, fstype, flags, opts)
		if err == nil {
			log.printf("mounted %s %s (%s)", fstype, cfg.Root.Tag, opts)
			return nil
		}
		if !(errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO)) || time.Now().After(deadline) {
			return fmt.Errorf("mounting the rootfs (mount -t %s -o %q %s): %w (does the VMM export tag %q?)", fstype, opts, cfg.Root.Tag, err, cfg.Root.Tag)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// switchRoot moves /dev, /proc and /sys into the new root, drops the
// initramfs files (they would stay in RAM) and makes the new root "/".
func switchRoot(log logger) error {
	for _, d := range []string{"/dev", "/proc", "/sys"} {
		dst := newRoot + d
		if err := os.MkdirAll(dst, 0o755); err != nil { //nolint:gosec // G301: a mount point, see mount
			return fmt.Errorf("switching root: %w", err)
		}
		if err := unix.Mount(d, dst, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("switching root: moving %s: %w", d, err)
		}
	}
	// Best effort: free the initramfs copies of /init and the modules.
	os.RemoveAll("/urunc")
	os.Remove(linuxboot.InitPath)

	if err := unix.Chdir(newRoot); err != nil {
		return fmt.Errorf("switching root: %w", err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("switching root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("switching root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("switching root: %w", err)
	}
	// What a container expects under /dev; failures are not fatal for
	// programs that do not use them, but are reported in debug mode.
	if err := mount("devpts", "/dev/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		log.printf("%v", err)
	} else {
		os.Remove("/dev/ptmx")
		if err := os.Symlink("pts/ptmx", "/dev/ptmx"); err != nil {
			log.printf("%v", err)
		}
	}
	if err := mount("shm", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		log.printf("%v", err)
	}
	log.printf("switched root")
	return nil
}

func sethostname(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("setting hostname %q: %w", name, err)
	}
	return nil
}

// uptime is seconds since boot (for debug lines).
func uptime() float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f, _, _ := bytes.Cut(b, []byte{' '})
	v, _ := strconv.ParseFloat(string(f), 64)
	return v
}

// shutdown ends the VM: reboot (qemu -no-reboot exits 0) for status 0, the
// isa-debug-exit port otherwise. It never returns.
func shutdown(code int, quiet bool) {
	unix.Sync()
	if quiet {
		// The kernel's "reboot: Restarting system" is KERN_EMERG and would
		// end up in the container's output: console_loglevel 0 silences
		// even that (syslog(2) cannot go below 1).
		if err := os.WriteFile("/proc/sys/kernel/printk", []byte("0"), 0); err != nil {
			// Best effort: at worst the kernel's line is in the output.
			_, _ = unix.Klogctl(unix.SYSLOG_ACTION_CONSOLE_OFF, nil)
		}
	}
	if code != 0 {
		v := linuxboot.DebugExitValue(code)
		if err := outb(linuxboot.DebugExitPort, v); err != nil {
			fmt.Fprintf(os.Stderr, "urunc-init: writing exit status %d to port %#x: %v\n", code, linuxboot.DebugExitPort, err)
		}
		// Still running: the VMM has no isa-debug-exit device.
		time.Sleep(200 * time.Millisecond)
		fmt.Fprintf(os.Stderr, "urunc-init: no isa-debug-exit device at %#x: exit status %d lost\n", linuxboot.DebugExitPort, code)
	}
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	// Reboot failed (should not happen as PID 1): halt forever rather than
	// exit, which would panic the kernel.
	fmt.Fprintf(os.Stderr, "urunc-init: reboot: %v\n", err)
	for {
		time.Sleep(time.Hour)
	}
}

// outb writes one byte to an I/O port through /dev/port.
func outb(port int64, v byte) error {
	f, err := os.OpenFile("/dev/port", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteAt([]byte{v}, port)
	return err
}

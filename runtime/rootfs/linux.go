package rootfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/internal/atomicfile"
	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/linuxboot"
	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// linuxRootTag is the 9p mount tag of the container rootfs in a Linux guest.
const linuxRootTag = "urunc-root"

// prepareLinux makes an ordinary container rootfs bootable as a Linux
// microVM: an initrd with urunc's guest init, the kernel modules it needs
// and the container's process (args, env, cwd, user), a kernel command line,
// and the root filesystem: the rootfs shared over 9p or virtio-fs (kind,
// "9p" or "virtiofs"; virtio-fs starts virtiofsd), or the block device
// already in res.Disks (kind "block", fstype given). Directory volumes are
// shared over 9p, one device each. Everything besides the kernel comes
// from the urunc installation, not from the image.
func prepareLinux(ctx context.Context, in Input, kind, fstype string, res *Result) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	assets, err := linuxboot.FindAssets(exe)
	if err != nil {
		return err
	}
	spec := in.Spec
	cfg := linuxboot.Config{
		Args:     in.Process.Args,
		Env:      in.Process.Env,
		Cwd:      in.Process.Cwd,
		UID:      in.Process.UID,
		GID:      in.Process.GID,
		Hostname: spec.Hostname,
		Terminal: spec.Process != nil && spec.Process.Terminal,
	}
	switch kind {
	case config.SharedFS9P:
		cfg.Root = linuxboot.Root{Type: linuxboot.Root9P, Tag: linuxRootTag}
	case config.SharedFSVirtiofs:
		cfg.Root = linuxboot.Root{Type: linuxboot.RootVirtiofs, Tag: linuxRootTag}
	case linuxboot.RootBlock:
		cfg.Root = linuxboot.Root{Type: linuxboot.RootBlock, Tag: linuxboot.BlockRootDevice, FSType: fstype}
	default:
		return fmt.Errorf("%w: linux guest root %q", config.ErrUnknownSharedFS, kind)
	}
	if spec.Process != nil {
		cfg.AdditionalGIDs = spec.Process.User.AdditionalGids
	}
	if n := in.Net; n != nil {
		cfg.Network = &linuxboot.Network{IP: n.IP, PrefixLen: n.PrefixLen, Gateway: n.Gateway, MTU: n.MTU}
	}
	files, vols, err := boundFiles(spec.Mounts)
	if err != nil {
		return err
	}
	cfg.Files = files
	var shares []vmm.Share
	for i, v := range vols {
		tag := fmt.Sprintf("urunc-vol%d", i)
		cfg.Volumes = append(cfg.Volumes, linuxboot.Volume{Tag: tag, Path: v.Destination, ReadOnly: v.ReadOnly})
		shares = append(shares, vmm.Share{Kind: vmm.Share9P, HostPath: v.Source, Tag: tag, ReadOnly: v.ReadOnly})
	}
	d := in.Dir
	initrd := d.File(state.LinuxInitrdFile)
	mods, err := linuxboot.BuildInitrdReport(initrd, linuxboot.InitSpec{
		Config:     cfg,
		Init:       assets.Init,
		ModulesDir: assets.ModulesDir,
		Kernel:     res.Kernel, // the modules only if they are for its release
		CacheDir:   filepath.Join(in.Host.CacheDir, "linux"),
	})
	if err != nil {
		return fmt.Errorf("linux guest initrd: %w", err)
	}
	res.Initrd = initrd
	res.Linux = &vmm.LinuxInit{Cmdline: linuxboot.KernelCmdline(linuxboot.CmdlineOptions{TSCKHz: hostTSCKHz(ctx, in.Host.CacheDir)})}
	switch kind {
	case config.SharedFS9P:
		res.Shares = append([]vmm.Share{{Kind: vmm.Share9P, HostPath: in.Rootfs, Tag: linuxRootTag, Root: true}}, shares...)
		res.Detail = fmt.Sprintf("rootfs %s over 9p (tag %s), initrd %s", in.Rootfs, linuxRootTag, initrd)
	case config.SharedFSVirtiofs:
		v, err := startVirtiofsd(in.Host.Virtiofsd, d, in.Rootfs)
		if err != nil {
			return err
		}
		res.Virtiofsd = v
		res.undo = append(res.undo, v.stop)
		res.Shares = append([]vmm.Share{{Kind: vmm.ShareVirtiofs, HostPath: in.Rootfs, Tag: linuxRootTag, Socket: v.socket, Root: true}}, shares...)
		res.Detail = fmt.Sprintf("rootfs %s over virtio-fs (tag %s, virtiofsd pid %d, socket %s), initrd %s", in.Rootfs, linuxRootTag, v.HostPID, v.socket, initrd)
	default:
		res.Shares = shares
		res.Detail = fmt.Sprintf("block device %s (%s) as %s, initrd %s", res.Disks[0].Path, fstype, linuxboot.BlockRootDevice, initrd)
	}
	res.Detail += " with " + mods.String()
	return nil
}

// hostTSCKHz measures the TSC frequency the guest kernel needs on microvm
// (about 20 ms) once per host boot and keeps it in the cache directory.
// 0 means unknown: the kernel then calibrates itself where it can.
func hostTSCKHz(ctx context.Context, cacheDir string) int {
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	cache := filepath.Join(cacheDir, "tsc-khz")
	if data, err := os.ReadFile(cache); err == nil {
		if id, khz, ok := strings.Cut(strings.TrimSpace(string(data)), " "); ok && id == strings.TrimSpace(string(bootID)) {
			if n, err := strconv.Atoi(khz); err == nil && n > 0 {
				return n
			}
		}
	}
	tctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	khz, err := linuxboot.HostTSCKHz(tctx)
	if err != nil {
		return 0
	}
	// Best effort: uncached, it is measured again next time. The directory
	// is /var/cache/urunc, 0755 like its neighbours; a frequency is no secret.
	if os.MkdirAll(cacheDir, 0o755) == nil { //nolint:gosec // G301: see above
		_ = atomicfile.WriteFile(cache, []byte(fmt.Sprintf("%s %d\n", strings.TrimSpace(string(bootID)), khz)), 0o644)
	}
	return khz
}

// boundFiles reads the spec's bind mounts of small regular files (the
// engine's /etc/hosts, /etc/resolv.conf, /etc/hostname, secrets) for the
// guest's init to bind over their destinations, and returns the bind
// mounts of directories (volumes), which the guest gets over 9p.
func boundFiles(mounts []specs.Mount) (files []linuxboot.File, volumes []boundDir, err error) {
	total := 0
	for _, m := range mounts {
		// The guest has its own /dev (and shm), /proc and /sys.
		if !isBind(m) || underAny(m.Destination, "/dev", "/proc", "/sys") {
			continue
		}
		fi, err := os.Stat(m.Source)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: bind mount source %s: %w", config.ErrBadBundle, m.Source, err)
		}
		ro := slices.Contains(m.Options, "ro")
		if fi.IsDir() {
			if strings.ContainsAny(m.Source, ",") {
				return nil, nil, fmt.Errorf("%w: volume %s: a ',' in the path cannot be shared with a Linux guest", config.ErrBadBundle, m.Source)
			}
			volumes = append(volumes, boundDir{Source: m.Source, Destination: m.Destination, ReadOnly: ro})
			continue
		}
		if !fi.Mode().IsRegular() {
			return nil, nil, fmt.Errorf("%w: bind mount source %s is neither a file nor a directory", config.ErrBadBundle, m.Source)
		}
		if fi.Size() > linuxboot.MaxFileSize || total+int(fi.Size()) > linuxboot.MaxFilesTotal {
			return nil, nil, fmt.Errorf("%w: bind-mounted file %s is %d bytes: a Linux guest gets at most %d per file, %d in all",
				config.ErrBadBundle, m.Source, fi.Size(), linuxboot.MaxFileSize, linuxboot.MaxFilesTotal)
		}
		data, err := os.ReadFile(m.Source)
		if err != nil {
			return nil, nil, fmt.Errorf("bind mount source %s: %w", m.Source, err)
		}
		total += len(data)
		files = append(files, linuxboot.File{Path: m.Destination, Data: data, Mode: uint32(fi.Mode().Perm()), ReadOnly: ro})
	}
	return files, volumes, nil
}

// boundDir is a bind-mounted host directory (a volume).
type boundDir struct {
	Source, Destination string
	ReadOnly            bool
}

func isBind(m specs.Mount) bool {
	return m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
}

func underAny(p string, dirs ...string) bool {
	p = filepath.Clean(p)
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

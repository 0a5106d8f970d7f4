package linuxboot

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urunc-dev/urunc/internal/atomicfile"
)

// ErrAsset is wrapped when the init binary, the modules or the kernel
// cannot be found or read.
var ErrAsset = errors.New("linux guest asset")

// initrdFormat changes whenever the layout of the static part changes, so
// stale cache files are not reused.
const initrdFormat = "urunc-linux-initrd-v1"

// InitSpec is everything BuildInitrd needs: the guest Config and where the
// host keeps the static pieces.
type InitSpec struct {
	Config Config
	// Init is the path of the static urunc-init binary (becomes /init).
	Init string
	// ModulesDir holds the .ko files and modules.dep made by
	// `make linux-kernel` (build/linux/modules, Debian's modules). Empty
	// or absent: no modules (only allowed with Kernel set).
	ModulesDir string
	// Kernel, if set, is the kernel the guest boots. The modules go into
	// the initrd only when they were built for its release (their
	// vermagic): a kernel of another release could not load them, and
	// one without modules (urunc's microvm kernel) has what the guest
	// needs built in. Empty: the modules are taken as they are.
	Kernel string
	// CacheDir, if not empty, keeps the static part of the initrd (init +
	// modules) between calls; it is created if missing. The cache key is
	// the identity (size, mtime, inode) of every input file.
	CacheDir string
}

// BuildInitrd writes the initrd for spec to dst: the static part (/init and
// the modules the Config needs), then a second newc archive holding only
// ConfigPath. The kernel unpacks concatenated archives in order. dst is
// replaced atomically.
func BuildInitrd(dst string, spec InitSpec) error {
	_, err := BuildInitrdReport(dst, spec)
	return err
}

// InitrdReport says which kernel modules an initrd carries and why.
type InitrdReport struct {
	KernelRelease  string   // of InitSpec.Kernel; "" if not given or not found
	ModulesRelease string   // what the available modules were built for; "" if none or unknown
	Modules        []string // the modules in the initrd, in load order
}

// String is a short note for logs and vmm.json's storage detail.
func (r InitrdReport) String() string {
	switch {
	case len(r.Modules) > 0 && r.ModulesRelease != "":
		return fmt.Sprintf("%d kernel modules (%s)", len(r.Modules), r.ModulesRelease)
	case len(r.Modules) > 0:
		return fmt.Sprintf("%d kernel modules", len(r.Modules))
	case r.KernelRelease != "" && r.ModulesRelease != "":
		return fmt.Sprintf("no kernel modules (kernel %s; urunc's modules are for %s)", r.KernelRelease, r.ModulesRelease)
	case r.KernelRelease != "":
		return fmt.Sprintf("no kernel modules (kernel %s)", r.KernelRelease)
	default:
		return "no kernel modules"
	}
}

// BuildInitrdReport is BuildInitrd, also saying which modules it put in.
func BuildInitrdReport(dst string, spec InitSpec) (InitrdReport, error) {
	if err := spec.Config.Validate(); err != nil {
		return InitrdReport{}, err
	}
	cfgJSON, err := spec.Config.Marshal()
	if err != nil {
		return InitrdReport{}, err
	}
	mods, rep, err := spec.modules()
	if err != nil {
		return InitrdReport{}, err
	}

	err = atomicfile.Write(dst, 0o600, false, func(w io.Writer) error {
		if spec.CacheDir != "" {
			static, err := spec.cachedStatic(mods)
			if err != nil {
				return err
			}
			f, err := os.Open(static)
			if err != nil {
				return fmt.Errorf("opening cached initrd part: %w", err)
			}
			_, err = io.Copy(w, f) // copy_file_range on Linux
			f.Close()
			if err != nil {
				return fmt.Errorf("copying cached initrd part: %w", err)
			}
		} else if err := spec.writeStatic(w, mods); err != nil {
			return err
		}
		cw := newCPIOWriter(w)
		if err := cw.File(ConfigPath, 0o644, cfgJSON); err != nil {
			return fmt.Errorf("writing %s: %w", ConfigPath, err)
		}
		if err := cw.Close(); err != nil {
			return fmt.Errorf("writing %s: %w", ConfigPath, err)
		}
		return nil
	})
	if err != nil {
		return InitrdReport{}, fmt.Errorf("initrd %s: %w", dst, err)
	}
	return rep, nil
}

// modules returns the modules (in load order) the Config needs and the
// kernel can load.
func (s InitSpec) modules() ([]Module, InitrdReport, error) {
	var rep InitrdReport
	if s.Kernel != "" {
		rel, err := KernelRelease(s.Kernel)
		if err != nil && !errors.Is(err, ErrNoRelease) {
			return nil, rep, fmt.Errorf("%w: guest kernel: %w", ErrAsset, err)
		}
		rep.KernelRelease = rel
	}
	var all []Module
	if s.ModulesDir != "" {
		f, err := os.Open(filepath.Join(s.ModulesDir, ModulesDepFile))
		switch {
		case err == nil:
			all, err = ReadModulesDep(f)
			f.Close()
			if err != nil {
				return nil, rep, err
			}
		case !errors.Is(err, os.ErrNotExist) || s.Kernel == "":
			return nil, rep, fmt.Errorf("%w: %w (run make linux-kernel)", ErrAsset, err)
		}
	} else if s.Kernel == "" {
		return nil, rep, fmt.Errorf("%w: no modules directory given (run make linux-kernel)", ErrAsset)
	}
	mods, err := Closure(all, ModulesFor(s.Config))
	if err != nil {
		return nil, rep, err
	}
	if len(mods) > 0 {
		// All modules of one modules.dep come from one kernel package.
		if rel, err := moduleFileRelease(filepath.Join(s.ModulesDir, mods[0].Name+".ko")); err == nil {
			rep.ModulesRelease = rel
		}
		if rep.KernelRelease != "" && rep.ModulesRelease != "" && rep.KernelRelease != rep.ModulesRelease {
			mods = nil
		}
	}
	for _, m := range mods {
		rep.Modules = append(rep.Modules, m.Name)
	}
	return mods, rep, nil
}

func moduleFileRelease(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return ModuleRelease(f)
}

// writeStatic writes the archive with /init, the modules and the mount
// points urunc-init uses.
func (s InitSpec) writeStatic(w io.Writer, mods []Module) error {
	cw := newCPIOWriter(w)
	for _, d := range []string{"dev", "proc", "sys", "newroot", "urunc", "urunc/modules"} {
		if err := cw.Dir(d, 0o755); err != nil {
			return err
		}
	}
	if err := cw.CharDev("dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	if err := cw.CharDev("dev/port", 0o600, 1, 4); err != nil {
		return err
	}
	if err := cw.CharDev("dev/null", 0o666, 1, 3); err != nil {
		return err
	}
	if err := copyInto(cw, InitPath, 0o755, s.Init); err != nil {
		return err
	}
	for _, m := range mods {
		src := filepath.Join(s.ModulesDir, m.Name+".ko")
		if err := copyInto(cw, ModulesDir+"/"+m.Name+".ko", 0o644, src); err != nil {
			return err
		}
	}
	var dep strings.Builder
	if err := WriteModulesDep(&dep, mods); err != nil {
		return err
	}
	if err := cw.File(ModulesDir+"/"+ModulesDepFile, 0o644, []byte(dep.String())); err != nil {
		return err
	}
	return cw.Close()
}

func copyInto(cw *cpioWriter, name string, perm os.FileMode, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAsset, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAsset, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrAsset, src)
	}
	return cw.FileFrom(name, perm, st.Size(), f)
}

// cachedStatic returns the path of the cached static part for mods,
// building it first if needed.
func (s InitSpec) cachedStatic(mods []Module) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, initrdFormat)
	inputs := []string{s.Init}
	for _, m := range mods {
		inputs = append(inputs, filepath.Join(s.ModulesDir, m.Name+".ko"))
	}
	for _, p := range inputs {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrAsset, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrAsset, err)
		}
		var ino uint64
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			ino = sys.Ino
		}
		fmt.Fprintf(h, "%s %d %d %d\n", abs, st.Size(), st.ModTime().UnixNano(), ino)
	}
	for _, m := range mods {
		fmt.Fprintf(h, "dep %s: %s\n", m.Name, strings.Join(m.Depends, " "))
	}
	name := filepath.Join(s.CacheDir, "linux-initrd-"+hex.EncodeToString(h.Sum(nil))[:24]+".cpio")
	if _, err := os.Stat(name); err == nil {
		return name, nil
	}
	if err := os.MkdirAll(s.CacheDir, 0o755); err != nil { //nolint:gosec // G301: a cache directory like /var/cache's others; the initrds in it are 0600
		return "", fmt.Errorf("initrd cache: %w", err)
	}
	// Concurrent builders race harmlessly: both files are identical.
	if err := atomicfile.Write(name, 0o600, false, func(w io.Writer) error { return s.writeStatic(w, mods) }); err != nil {
		return "", fmt.Errorf("initrd cache: %w", err)
	}
	return name, nil
}

// Assets are the host files a Linux guest boots from.
type Assets struct {
	Kernel     string // uncompressed vmlinux (PVH entry)
	Init       string // urunc-init
	ModulesDir string // .ko files + modules.dep; "" if there are none
}

// FindAssets looks for the guest assets near the urunc binary exe: the init
// beside it (or in ../bin), the kernel and modules in ../build/linux (the
// layout `make build linux-kernel` produces) or ../lib/urunc/linux (an
// installed layout). The modules are optional (a kernel with everything
// built in needs none). The error names every path tried.
func FindAssets(exe string) (Assets, error) {
	dir := filepath.Dir(exe)
	pick := func(what string, cands ...string) (string, error) {
		for _, c := range cands {
			if _, err := os.Stat(c); err == nil {
				return c, nil
			}
		}
		return "", fmt.Errorf("%w: %s not found (tried %s; run make build linux-kernel)", ErrAsset, what, strings.Join(cands, ", "))
	}
	var a Assets
	var err error
	if a.Init, err = pick("urunc-init",
		filepath.Join(dir, "urunc-init"),
		filepath.Join(dir, "..", "bin", "urunc-init"),
		filepath.Join(dir, "..", "build", "urunc-init")); err != nil {
		return Assets{}, err
	}
	if a.Kernel, err = pick("vmlinux",
		filepath.Join(dir, "..", "build", "linux", "vmlinux"),
		filepath.Join(dir, "..", "lib", "urunc", "linux", "vmlinux")); err != nil {
		return Assets{}, err
	}
	a.ModulesDir, _ = pick("kernel modules",
		filepath.Join(dir, "..", "build", "linux", "modules"),
		filepath.Join(dir, "..", "lib", "urunc", "linux", "modules"))
	return a, nil
}

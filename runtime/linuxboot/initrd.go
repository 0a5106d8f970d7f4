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
	// `make linux-kernel` (build/linux/modules).
	ModulesDir string
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
	if err := spec.Config.Validate(); err != nil {
		return err
	}
	cfgJSON, err := spec.Config.Marshal()
	if err != nil {
		return err
	}
	mods, err := spec.modules()
	if err != nil {
		return err
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
		return fmt.Errorf("initrd %s: %w", dst, err)
	}
	return nil
}

// modules returns the modules (in load order) the Config needs.
func (s InitSpec) modules() ([]Module, error) {
	if s.ModulesDir == "" {
		return nil, fmt.Errorf("%w: no modules directory given (run make linux-kernel)", ErrAsset)
	}
	f, err := os.Open(filepath.Join(s.ModulesDir, ModulesDepFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %w (run make linux-kernel)", ErrAsset, err)
	}
	defer f.Close()
	all, err := ReadModulesDep(f)
	if err != nil {
		return nil, err
	}
	return Closure(all, ModulesFor(s.Config))
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
	ModulesDir string // .ko files + modules.dep
}

// FindAssets looks for the guest assets near the urunc binary exe: the init
// beside it (or in ../bin), the kernel and modules in ../build/linux (the
// layout `make build linux-kernel` produces) or ../lib/urunc/linux (an
// installed layout). The error names every path tried.
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
	if a.ModulesDir, err = pick("kernel modules",
		filepath.Join(dir, "..", "build", "linux", "modules"),
		filepath.Join(dir, "..", "lib", "urunc", "linux", "modules")); err != nil {
		return Assets{}, err
	}
	return a, nil
}

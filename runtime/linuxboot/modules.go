package linuxboot

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
)

// ErrModule is wrapped by every error about kernel modules: a module that
// cannot be found, read or ordered.
var ErrModule = errors.New("kernel module")

// ModulesDepFile is the name of the dependency list beside the .ko files, both
// in build/linux/modules on the host and in ModulesDir inside the initrd.
const ModulesDepFile = "modules.dep"

// Module is one loadable kernel module and the modules it needs loaded first.
type Module struct {
	Name    string   // normalised module name (underscores, no .ko)
	Depends []string // normalised names of direct dependencies
}

// ModuleName normalises a module or file name the way the kernel does:
// directory and ".ko" suffix dropped, '-' replaced by '_'.
func ModuleName(s string) string {
	s = filepath.Base(s)
	s = strings.TrimSuffix(s, ".ko")
	return strings.ReplaceAll(s, "-", "_")
}

// ReadModinfo returns the name and direct dependencies of a .ko file, read
// from its ".modinfo" ELF section (the "name=" and "depends=" strings that
// modinfo(8) shows). No host tool (depmod, modinfo) is needed.
func ReadModinfo(r io.ReaderAt) (Module, error) {
	info, err := readModinfo(r)
	if err != nil {
		return Module{}, err
	}
	var m Module
	for _, kv := range info {
		switch kv[0] {
		case "name":
			m.Name = ModuleName(kv[1])
		case "depends":
			for _, d := range strings.Split(kv[1], ",") {
				if d = strings.TrimSpace(d); d != "" {
					m.Depends = append(m.Depends, ModuleName(d))
				}
			}
		}
	}
	return m, nil
}

// ModuleRelease returns the kernel release a .ko file was built for: the
// first word of its "vermagic=" modinfo string ("6.1.0-57-amd64 SMP preempt
// mod_unload modversions"), which is what the kernel checks when loading it.
func ModuleRelease(r io.ReaderAt) (string, error) {
	info, err := readModinfo(r)
	if err != nil {
		return "", err
	}
	for _, kv := range info {
		if kv[0] == "vermagic" {
			if f := strings.Fields(kv[1]); len(f) > 0 {
				return f[0], nil
			}
		}
	}
	return "", fmt.Errorf("%w: no vermagic in .modinfo", ErrModule)
}

// readModinfo returns the key=value strings of a module's .modinfo section.
func readModinfo(r io.ReaderAt) ([][2]string, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%w: not an ELF object: %w", ErrModule, err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("%w: no .modinfo section", ErrModule)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("%w: reading .modinfo: %w", ErrModule, err)
	}
	var out [][2]string
	for _, kv := range bytes.Split(data, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			out = append(out, [2]string{k, v})
		}
	}
	return out, nil
}

// IndexModules maps module names to paths for every .ko file under root
// (typically lib/modules/<version> of an unpacked linux-image package).
func IndexModules(fsys fs.FS) (map[string]string, error) {
	idx := make(map[string]string)
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			idx[ModuleName(p)] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: indexing modules: %w", ErrModule, err)
	}
	return idx, nil
}

// ResolveModules returns roots and everything they depend on, dependencies
// first, reading each module's modinfo with read. Names in builtin are
// compiled into the kernel and are left out (as are their dependencies,
// which are then built in as well).
func ResolveModules(roots []string, builtin map[string]bool, read func(name string) (Module, error)) ([]Module, error) {
	var (
		order    []Module
		done     = make(map[string]bool)
		visiting = make(map[string]bool)
	)
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		name = ModuleName(name)
		if done[name] || builtin[name] {
			return nil
		}
		if visiting[name] {
			return fmt.Errorf("%w: dependency cycle %s", ErrModule, strings.Join(append(chain, name), " -> "))
		}
		visiting[name] = true
		m, err := read(name)
		if err != nil {
			return err
		}
		for _, d := range m.Depends {
			if err := visit(d, append(chain, name)); err != nil {
				return err
			}
		}
		visiting[name] = false
		done[name] = true
		m.Name = name
		order = append(order, m)
		return nil
	}
	for _, r := range roots {
		if err := visit(r, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// WriteModulesDep writes mods, which must be in load order, one per line
// as "name: dep1 dep2".
func WriteModulesDep(w io.Writer, mods []Module) error {
	bw := bufio.NewWriter(w)
	for _, m := range mods {
		fmt.Fprintf(bw, "%s:", m.Name)
		for _, d := range m.Depends {
			fmt.Fprintf(bw, " %s", d)
		}
		_ = bw.WriteByte('\n') // a bufio.Writer's error sticks: Flush reports it
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("%w: writing %s: %w", ErrModule, ModulesDepFile, err)
	}
	return nil
}

// ReadModulesDep parses what WriteModulesDep wrote.
func ReadModulesDep(r io.Reader) ([]Module, error) {
	var mods []Module
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, deps, ok := strings.Cut(text, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("%w: %s line %d: want \"name: deps\", got %q", ErrModule, ModulesDepFile, line, text)
		}
		mods = append(mods, Module{Name: ModuleName(strings.TrimSpace(name)), Depends: strings.Fields(deps)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrModule, ModulesDepFile, err)
	}
	return mods, nil
}

// Closure returns the modules of all (in load order) that the names in want
// need, including themselves. Wanted names absent from all are taken to be
// built into the kernel and are skipped; a dependency of a listed module that
// is itself absent is an error (the list is incomplete).
func Closure(all []Module, want []string) ([]Module, error) {
	pos := make(map[string]int, len(all))
	for i, m := range all {
		pos[m.Name] = i
	}
	need := make(map[string]bool)
	var mark func(name string, top bool) error
	mark = func(name string, top bool) error {
		i, ok := pos[name]
		if !ok {
			if top {
				return nil
			}
			return fmt.Errorf("%w: %s is needed but not in %s", ErrModule, name, ModulesDepFile)
		}
		if need[name] {
			return nil
		}
		need[name] = true
		for _, d := range all[i].Depends {
			if err := mark(d, false); err != nil {
				return err
			}
		}
		return nil
	}
	for _, w := range want {
		if err := mark(ModuleName(w), true); err != nil {
			return nil, err
		}
	}
	out := make([]Module, 0, len(need))
	for _, m := range all {
		if need[m.Name] {
			out = append(out, m)
		}
	}
	// all is in load order, but verify: a dependency listed after its user
	// would make finit_module fail with unknown symbols.
	seen := make(map[string]bool)
	for _, m := range out {
		for _, d := range m.Depends {
			if need[d] && !seen[d] {
				return nil, fmt.Errorf("%w: %s is listed before its dependency %s", ErrModule, m.Name, d)
			}
		}
		seen[m.Name] = true
	}
	return out, nil
}

// ModulesFor lists the modules the guest init loads for cfg: the virtio
// transports, the ACPI power button and evdev (graceful stop), the shared
// root filesystem, the network driver when the guest has a network, and
// cfg.Modules.
func ModulesFor(cfg Config) []string {
	mods := []string{"virtio_mmio", "virtio_pci", "button", "evdev"}
	switch cfg.Root.Type {
	case RootVirtiofs:
		mods = append(mods, "virtiofs")
	case RootBlock:
		// ext4 asks for the crc32c algorithm by name (a softdep, not in
		// depends=): without crc32c_generic it refuses to mount.
		mods = append(mods, "virtio_blk", "crc32c_generic", cfg.Root.FSType)
	case Root9P, "":
		mods = append(mods, "9pnet_virtio", "9p")
	}
	if len(cfg.Volumes) > 0 && cfg.Root.Type != Root9P && cfg.Root.Type != "" {
		mods = append(mods, "9pnet_virtio", "9p") // volumes are 9p shares
	}
	if cfg.Network != nil {
		mods = append(mods, "virtio_net")
	}
	mods = append(mods, cfg.Modules...)
	return mods
}

// BuiltinModules parses a kernel's modules.builtin (paths of modules that
// are compiled in, one per line).
func BuiltinModules(r io.Reader) (map[string]bool, error) {
	b := make(map[string]bool)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			b[ModuleName(t)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: reading modules.builtin: %w", ErrModule, err)
	}
	return b, nil
}

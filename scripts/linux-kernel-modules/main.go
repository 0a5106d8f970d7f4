// Command linux-kernel-modules copies a set of kernel modules and everything
// they depend on out of an unpacked linux-image package, and writes their
// load order to modules.dep. Dependencies come from each .ko's modinfo
// "depends=" string, so neither depmod nor modinfo is needed on the host.
//
//	go run ./scripts/linux-kernel-modules -src DIR/lib/modules/VER -dst build/linux/modules 9p virtiofs ...
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urunc-dev/urunc/runtime/linuxboot"
)

func main() {
	src := flag.String("src", "", "lib/modules/<version> directory of the unpacked kernel package")
	dst := flag.String("dst", "", "output directory (replaced)")
	flag.Parse()
	if err := run(*src, *dst, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "linux-kernel-modules:", err)
		os.Exit(1)
	}
}

func run(src, dst string, roots []string) error {
	if src == "" || dst == "" || len(roots) == 0 {
		return errors.New("usage: linux-kernel-modules -src DIR -dst DIR MODULE [MODULE...]")
	}
	idx, err := linuxboot.IndexModules(os.DirFS(src))
	if err != nil {
		return err
	}
	builtin := map[string]bool{}
	if f, err := os.Open(filepath.Join(src, "modules.builtin")); err == nil {
		builtin, err = linuxboot.BuiltinModules(f)
		f.Close()
		if err != nil {
			return err
		}
	}
	for _, r := range roots {
		if _, ok := idx[linuxboot.ModuleName(r)]; !ok && !builtin[linuxboot.ModuleName(r)] {
			return fmt.Errorf("module %s is neither in %s nor built in", r, src)
		}
	}
	read := func(name string) (linuxboot.Module, error) {
		p, ok := idx[name]
		if !ok {
			return linuxboot.Module{}, fmt.Errorf("%w: %s not found under %s", linuxboot.ErrModule, name, src)
		}
		b, err := os.ReadFile(filepath.Join(src, p))
		if err != nil {
			return linuxboot.Module{}, fmt.Errorf("%w: %w", linuxboot.ErrModule, err)
		}
		m, err := linuxboot.ReadModinfo(bytes.NewReader(b))
		if err != nil {
			return linuxboot.Module{}, fmt.Errorf("%s: %w", p, err)
		}
		return m, nil
	}
	mods, err := linuxboot.ResolveModules(roots, builtin, read)
	if err != nil {
		return err
	}
	tmp := dst + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil { //nolint:gosec // G301: the guest's modules, installed world-readable with the kernel
		return err
	}
	for _, m := range mods {
		if err := copyFile(filepath.Join(src, idx[m.Name]), filepath.Join(tmp, m.Name+".ko")); err != nil {
			return err
		}
	}
	f, err := os.Create(filepath.Join(tmp, linuxboot.ModulesDepFile))
	if err != nil {
		return err
	}
	if err := linuxboot.WriteModulesDep(f, mods); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	for _, m := range mods {
		fmt.Printf("  %s (%s)\n", m.Name, idx[m.Name])
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return out.Close()
}

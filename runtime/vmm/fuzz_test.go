package vmm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unescapedCommas counts the commas that separate qemu option keys (",,"
// is an escaped comma inside a value).
func unescapedCommas(s string) int { return strings.Count(strings.ReplaceAll(s, ",,", ""), ",") }

// FuzzBuildQemu: whatever the paths, command line, arguments, environment
// and hostname hold, Build either refuses them or gives qemu exactly the
// arguments it gives for harmless values: the same argv length and, in
// every argument but the guest command line, the same number of option
// separators (a comma in a value cannot add a qemu option). No argument
// carries a control character.
func FuzzBuildQemu(f *testing.F) {
	f.Add(uint8(0), "/k", "", "", "app", "a b", "K=V", "web")
	f.Add(uint8(1), "/k,if=none", "/d,format=qcow2", "/i", "x", `"quoted" arg`, "A=1,B=2", "h,x")
	f.Add(uint8(2), "/k", "/b.img,,", "", "", "--ipv4=1.2.3.4", "E= -x", "h h")
	f.Add(uint8(3), "/k", "", "/initrd,id=x", "", "-- evil", "", "")
	bin := f.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "qemu-system-x86_64"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		f.Fatal(err)
	}
	f.Setenv("PATH", bin)
	f.Fuzz(func(t *testing.T, g uint8, kernel, block, initrd, cmdline, arg, env, host string) {
		guests := []string{"unikraft", "mirage", "mewz", "hermit"}
		guest := guests[int(g)%len(guests)]
		if kernel == "" {
			return
		}
		mk := func(kernel, block, initrd, cmdline, arg, env, host string) Request {
			r := withNet(baseRequest(guest, "qemu"))
			r.Kernel, r.Initrd, r.Cmdline = kernel, initrd, cmdline
			if block != "" {
				r.Disks = []Disk{{Path: block}}
			}
			r.Process.Args = []string{"app", arg}
			r.Process.Env = []string{env}
			r.Net.Hostname = host
			return r
		}
		plan, err := build(mk(kernel, block, initrd, cmdline, arg, env, host))
		if err != nil {
			return
		}
		benign := func(s string) string {
			if s == "" {
				return ""
			}
			return "/x"
		}
		ref, err := build(mk("/x", benign(block), benign(initrd), benign(cmdline), "x", "X=1", "h"))
		if err != nil {
			return // the harmless shape is refused on its own (e.g. hermit without initrd)
		}
		if len(plan.Argv) != len(ref.Argv) {
			t.Fatalf("argv length %d, harmless %d:\n%q\n%q", len(plan.Argv), len(ref.Argv), plan.Argv, ref.Argv)
		}
		for i, a := range plan.Argv {
			for _, r := range a {
				if r < 0x20 || r == 0x7f {
					t.Fatalf("control character in argument %q", a)
				}
			}
			if i > 0 && (plan.Argv[i-1] == "-append" || plan.Argv[i-1] == "-kernel" || plan.Argv[i-1] == "-initrd") {
				continue // plain values, not option lists
			}
			if unescapedCommas(a) != unescapedCommas(ref.Argv[i]) {
				t.Fatalf("argument %d %q has other option separators than %q", i, a, ref.Argv[i])
			}
		}
	})
}

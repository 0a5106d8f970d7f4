package linuxboot

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeELF builds a little ELF64 object with the given sections (in
// order), enough for debug/elf: a vmlinux with .rodata, a .ko with
// .modinfo.
func fakeELF(t *testing.T, typ elf.Type, sections ...elfSection) []byte {
	t.Helper()
	shstr := []byte{0}
	nameOff := func(n string) uint32 {
		off := len(shstr)
		shstr = append(append(shstr, n...), 0)
		return uint32(off)
	}
	const ehsize = 64
	var body bytes.Buffer
	hdrs := []elf.Section64{{}} // SHN_UNDEF
	for _, s := range sections {
		hdrs = append(hdrs, elf.Section64{Name: nameOff(s.name), Type: uint32(elf.SHT_PROGBITS),
			Flags: uint64(elf.SHF_ALLOC), Off: uint64(ehsize + body.Len()), Size: uint64(len(s.data)), Addralign: 1})
		body.Write(s.data)
	}
	strName := nameOff(".shstrtab")
	hdrs = append(hdrs, elf.Section64{Name: strName, Type: uint32(elf.SHT_STRTAB),
		Off: uint64(ehsize + body.Len()), Size: uint64(len(shstr)), Addralign: 1})
	body.Write(shstr)
	for body.Len()%8 != 0 {
		body.WriteByte(0)
	}
	h := elf.Header64{Type: uint16(typ), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Shoff: uint64(ehsize + body.Len()), Ehsize: ehsize, Shentsize: 64,
		Shnum: uint16(len(hdrs)), Shstrndx: uint16(len(hdrs) - 1)}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS], h.Ident[elf.EI_DATA], h.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, h)
	out.Write(body.Bytes())
	binary.Write(&out, binary.LittleEndian, hdrs)
	return out.Bytes()
}

type elfSection struct {
	name string
	data []byte
}

// fakeVmlinux is an ELF kernel whose .rodata holds pad bytes, then the
// banner of release.
func fakeVmlinux(t *testing.T, pad int, release string) []byte {
	t.Helper()
	ro := append(bytes.Repeat([]byte{0}, pad), "Linux version "+release+" (builder@host) (gcc) #1 SMP\n\x00"...)
	return fakeELF(t, elf.ET_EXEC, elfSection{".text", []byte{0x90}}, elfSection{".rodata", ro})
}

// fakeKO is a module for release (modinfo only).
func fakeKO(t *testing.T, name, release string) []byte {
	t.Helper()
	info := "license=GPL\x00name=" + name + "\x00"
	if release != "" {
		info += "vermagic=" + release + " SMP preempt mod_unload modversions \x00"
	}
	return fakeELF(t, elf.ET_REL, elfSection{".modinfo", []byte(info)})
}

// fakeBzImage has a boot protocol header whose kernel_version names release.
func fakeBzImage(release string) []byte {
	b := make([]byte, 0x1000)
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], 0x020f)
	binary.LittleEndian.PutUint16(b[0x20e:], 0x0600) // string at 0x800
	copy(b[0x800:], release+" (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC\x00")
	return b
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKernelRelease(t *testing.T) {
	dir := t.TempDir()
	// A string that starts like the banner but is not one comes first.
	decoy := fakeELF(t, elf.ET_EXEC, elfSection{".rodata", []byte("Linux version %s\x00pad Linux version 6.1.192-urunc-microvm (u@h) #1\x00")})
	for _, tc := range []struct {
		name, want string
		data       []byte
		noRelease  bool
	}{
		{"vmlinux", "6.1.0-57-amd64", fakeVmlinux(t, 416, "6.1.0-57-amd64"), false},
		{"banner across a read chunk", "6.1.192-urunc-microvm", fakeVmlinux(t, 64<<10-20, "6.1.192-urunc-microvm"), false},
		{"banner deep in .rodata", "6.1.0-1-cloud-amd64", fakeVmlinux(t, 3<<20, "6.1.0-1-cloud-amd64"), false},
		{"decoy first", "6.1.192-urunc-microvm", decoy, false},
		{"bzImage", "6.1.0-57-amd64", fakeBzImage("6.1.0-57-amd64"), false},
		{"ELF without .rodata", "", fakeELF(t, elf.ET_EXEC, elfSection{".text", []byte{0x90}}), true},
		{"ELF without a banner", "", fakeELF(t, elf.ET_EXEC, elfSection{".rodata", bytes.Repeat([]byte("x"), 100<<10)}), true},
		{"not a kernel", "", []byte("#!/bin/sh\necho hi\n"), true},
		{"empty file", "", nil, true},
		{"unikernel-like ELF", "", fakeELF(t, elf.ET_EXEC, elfSection{".rodata", []byte("Solo5 version v0.9 (x)\x00")}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "_"), tc.data)
			got, err := KernelRelease(p)
			if tc.noRelease {
				if !errors.Is(err, ErrNoRelease) || got != "" {
					t.Fatalf("KernelRelease = %q, %v; want ErrNoRelease", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("KernelRelease = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := KernelRelease(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrNoRelease) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
}

// The kernels make linux-kernel builds, when they are there.
func TestKernelReleaseOfBuiltKernels(t *testing.T) {
	root := filepath.Join("..", "..", "build", "linux")
	for _, tc := range []struct{ dir, suffix string }{{"microvm", "-urunc-microvm"}, {"debian", "-amd64"}} {
		p := filepath.Join(root, tc.dir, "vmlinux")
		if _, err := os.Stat(p); err != nil {
			t.Logf("%s: not built (make linux-kernel)", p)
			continue
		}
		rel, err := KernelRelease(p)
		if err != nil || !strings.HasPrefix(rel, "6.") || !strings.HasSuffix(rel, tc.suffix) {
			t.Errorf("KernelRelease(%s) = %q, %v; want 6.*%s", p, rel, err, tc.suffix)
		}
	}
}

func TestModuleRelease(t *testing.T) {
	rel, err := ModuleRelease(bytes.NewReader(fakeKO(t, "virtio_net", "6.1.0-57-amd64")))
	if err != nil || rel != "6.1.0-57-amd64" {
		t.Errorf("ModuleRelease = %q, %v", rel, err)
	}
	if _, err := ModuleRelease(bytes.NewReader(fakeKO(t, "x", ""))); !errors.Is(err, ErrModule) {
		t.Errorf("no vermagic: err = %v, want ErrModule", err)
	}
	if _, err := ModuleRelease(strings.NewReader("ko:x")); !errors.Is(err, ErrModule) {
		t.Errorf("not ELF: err = %v, want ErrModule", err)
	}
	m, err := ReadModinfo(bytes.NewReader(fakeKO(t, "virtio-net", "6.1.0-57-amd64")))
	if err != nil || m.Name != "virtio_net" {
		t.Errorf("ReadModinfo = %+v, %v", m, err)
	}
}

// The initrd carries the modules only for a kernel of their release.
func TestBuildInitrdModulesFollowKernel(t *testing.T) {
	const modRel = "6.1.0-57-amd64"
	dir := t.TempDir()
	initPath := writeFile(t, dir, "urunc-init", []byte("init"))
	modDir := filepath.Join(dir, "modules")
	os.Mkdir(modDir, 0o755)
	var dep bytes.Buffer
	WriteModulesDep(&dep, testModules())
	writeFile(t, modDir, ModulesDepFile, dep.Bytes())
	for _, m := range testModules() {
		writeFile(t, modDir, m.Name+".ko", fakeKO(t, m.Name, modRel))
	}
	debian := writeFile(t, dir, "vmlinux-debian", fakeVmlinux(t, 100, modRel))
	debianBz := writeFile(t, dir, "vmlinuz-debian", fakeBzImage(modRel))
	microvm := writeFile(t, dir, "vmlinux-microvm", fakeVmlinux(t, 100, "6.1.192-urunc-microvm"))
	unknown := writeFile(t, dir, "kernel-unknown", []byte("no banner here"))
	noDep := t.TempDir()
	cfg := validConfig() // 9p root + network
	want9P := "virtio_ring virtio virtio_mmio virtio_pci 9pnet 9pnet_virtio netfs fscache 9p failover net_failover virtio_net"

	for _, tc := range []struct {
		name       string
		kernel     string
		modDir     string
		wantMods   string
		wantReport string
	}{
		{"no kernel given: as before", "", modDir, want9P, "12 kernel modules (6.1.0-57-amd64)"},
		{"kernel of the modules' release", debian, modDir, want9P, "12 kernel modules (6.1.0-57-amd64)"},
		{"bzImage of the modules' release", debianBz, modDir, want9P, "12 kernel modules (6.1.0-57-amd64)"},
		{"kernel of another release", microvm, modDir, "", "no kernel modules (kernel 6.1.192-urunc-microvm; urunc's modules are for 6.1.0-57-amd64)"},
		{"kernel without a release string", unknown, modDir, want9P, "12 kernel modules (6.1.0-57-amd64)"},
		{"no modules directory", microvm, "", "", "no kernel modules (kernel 6.1.192-urunc-microvm)"},
		{"modules directory without modules.dep", microvm, noDep, "", "no kernel modules (kernel 6.1.192-urunc-microvm)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "initrd")
			rep, err := BuildInitrdReport(dst, InitSpec{Config: cfg, Init: initPath, ModulesDir: tc.modDir, Kernel: tc.kernel, CacheDir: filepath.Join(dir, "cache")})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(rep.Modules, " "); got != tc.wantMods {
				t.Errorf("report modules %q, want %q", got, tc.wantMods)
			}
			if rep.String() != tc.wantReport {
				t.Errorf("report %q, want %q", rep, tc.wantReport)
			}
			b, _ := os.ReadFile(dst)
			static := readCPIO(t, b)[0]
			var kos []string
			for name := range static {
				if strings.HasSuffix(name, ".ko") {
					kos = append(kos, name)
				}
			}
			if tc.wantMods == "" && len(kos) != 0 {
				t.Errorf("initrd carries %v", kos)
			}
			dep, err := ReadModulesDep(bytes.NewReader(static["urunc/modules/"+ModulesDepFile].data))
			if err != nil || names(dep) != tc.wantMods {
				t.Errorf("initrd modules.dep %q, %v; want %q", names(dep), err, tc.wantMods)
			}
			if _, ok := static["init"]; !ok {
				t.Error("no /init")
			}
		})
	}

	// A kernel that cannot be read is an error, and nothing is left behind.
	dst := filepath.Join(t.TempDir(), "initrd")
	if _, err := BuildInitrdReport(dst, InitSpec{Config: cfg, Init: initPath, ModulesDir: modDir, Kernel: filepath.Join(dir, "nope")}); !errors.Is(err, ErrAsset) {
		t.Errorf("missing kernel: err = %v, want ErrAsset", err)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Error("initrd left behind")
	}
	// Without a kernel, the modules are still required.
	if _, err := BuildInitrdReport(dst, InitSpec{Config: cfg, Init: initPath}); !errors.Is(err, ErrAsset) {
		t.Errorf("no kernel, no modules: err = %v, want ErrAsset", err)
	}
}

// With the assets make linux-kernel made: the microvm kernel gets no
// modules, Debian's gets its own.
func TestBuildInitrdBuiltKernels(t *testing.T) {
	root := filepath.Join("..", "..", "build", "linux")
	microvm, debian, mods := filepath.Join(root, "microvm", "vmlinux"), filepath.Join(root, "debian", "vmlinux"), filepath.Join(root, "modules")
	for _, p := range []string{microvm, debian, filepath.Join(mods, ModulesDepFile)} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s: not built (make linux-kernel)", p)
		}
	}
	initPath := writeFile(t, t.TempDir(), "urunc-init", []byte("init"))
	for _, tc := range []struct {
		kernel string
		want   bool
	}{{microvm, false}, {debian, true}} {
		rep, err := BuildInitrdReport(filepath.Join(t.TempDir(), "initrd"), InitSpec{Config: validConfig(), Init: initPath, ModulesDir: mods, Kernel: tc.kernel})
		if err != nil {
			t.Fatal(err)
		}
		if (len(rep.Modules) > 0) != tc.want {
			t.Errorf("%s: %s", tc.kernel, rep)
		}
		t.Logf("%s: %s", tc.kernel, rep)
	}
}

package vmm

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/urunc-dev/urunc/runtime/linuxboot"
	"github.com/urunc-dev/urunc/runtime/solo5"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func allBinaries() []string {
	return []string{"qemu-system-x86_64", "firecracker", "solo5-hvt", "solo5-spt", "cloud-hypervisor"}
}

// fakePath puts stub executables named bins on an otherwise empty PATH.
func fakePath(t *testing.T, bins ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, b := range bins {
		if err := os.WriteFile(filepath.Join(dir, b), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	return dir
}

func baseRequest(guest, hv string) Request {
	return Request{
		Guest:      guest,
		Hypervisor: hv,
		Kernel:     "/rootfs/unikernel",
		Process: Process{
			Args: []string{"app", "--greeting", "hello world"},
			Env:  []string{"PATH=/usr/bin:/bin", "MODE=prod"},
			Cwd:  "/",
		},
		MemoryMB:  256,
		VCPUs:     1,
		Accel:     "kvm",
		StateDir:  "/run/urunc/c1",
		SerialLog: "/run/urunc/c1/serial.log",
		ControlFD: 3,
	}
}

// build is Build with, for the Solo5 tenders, a manifest that declares
// what the request gives (under the names MirageOS and rumprun images
// use), as a unikernel built for it would.
func build(r Request) (*Plan, error) {
	if NeedsManifest(r.Hypervisor) && r.Manifest == nil {
		net, blk := "service", "storage"
		if r.Guest == "rumprun" {
			net, blk = "tap", "rootfs"
		}
		m := &solo5.Manifest{Version: 1}
		if r.Net != nil {
			m.Devices = append(m.Devices, solo5.Device{Name: net, Type: solo5.Net})
		}
		if len(r.Disks) > 0 {
			m.Devices = append(m.Devices, solo5.Device{Name: blk, Type: solo5.Block})
		}
		r.Manifest = m
	}
	return Build(r)
}

func withNet(r Request) Request {
	r.Net = &Net{TapName: "tap0_urunc", MAC: "02:00:0a:04:00:02", IP: "10.4.0.2", PrefixLen: 24,
		Mask: "255.255.255.0", Gateway: "10.4.0.1", MTU: 1500, Hostname: "web"}
	return r
}

func withBlock(r Request) Request {
	r.Disks = []Disk{{Path: "/rootfs/data.img", MountPoint: "/data"}}
	return r
}
func withInitrd(r Request) Request {
	r.Initrd = "/rootfs/initrd.cpio"
	return r
}

type variant struct {
	name string
	mod  func(Request) Request
}

func variants() []variant {
	return []variant{
		{"plain", func(r Request) Request { return r }},
		{"net", withNet},
		{"block", withBlock},
		{"initrd", withInitrd},
		{"net_block", func(r Request) Request { return withBlock(withNet(r)) }},
		{"net_initrd", func(r Request) Request { return withInitrd(withNet(r)) }},
		{"cmdline_key", func(r Request) Request { r.Process.Args = nil; r.Cmdline = "-c /etc/app.conf"; return r }},
	}
}

// render is the golden form of a plan (Path depends on PATH: left out).
func render(p *Plan, err error) string {
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "guest cmdline: %s\n", p.GuestCmdline)
	fmt.Fprintf(&b, "seccomp: %v\ngraceful stop: %s\nargv:\n", p.Seccomp != "", p.Stop)
	for _, a := range p.Argv {
		fmt.Fprintf(&b, "  %s\n", a)
	}
	for _, f := range p.Files {
		fmt.Fprintf(&b, "file %s (%04o):\n%s", f.Path, f.Mode, f.Data)
	}
	return b.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./runtime/vmm -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file:\n--- got\n%s--- want\n%s", name, got, want)
	}
}

// Every supported (guest, monitor) pair, with and without network, block
// and initrd.
func TestGoldenEveryPair(t *testing.T) {
	fakePath(t, allBinaries()...)
	sup := Supported()
	var gs []string
	for g := range sup {
		gs = append(gs, g)
	}
	sort.Strings(gs)
	n := 0
	for _, g := range gs {
		for _, hv := range sup[g] {
			for _, v := range variants() {
				name := g + "_" + hv + "_" + v.name
				t.Run(name, func(t *testing.T) {
					p, err := build(v.mod(baseRequest(g, hv)))
					checkGolden(t, name, render(p, err))
				})
				n++
			}
		}
	}
	if n < 12*len(variants()) {
		t.Fatalf("only %d cases", n)
	}
}

// Special cases beyond the matrix.
func TestGoldenSpecial(t *testing.T) {
	fakePath(t, allBinaries()...)
	prepared := func() Request {
		r := withNet(baseRequest("linux", "qemu"))
		r.Machine = "microvm"
		r.Accel = "tcg"
		r.Initrd = "/run/urunc/c1/initrd.img"
		r.Linux = &LinuxInit{Cmdline: linuxboot.KernelCmdline(linuxboot.CmdlineOptions{TSCKHz: 2000000})}
		r.Shares = []Share{{Kind: Share9P, HostPath: "/bundle/rootfs", Tag: "urunc-root", Root: true}}
		return r
	}
	cases := []struct {
		name string
		req  Request
	}{
		{"unikraft_qemu_microvm_net", func() Request {
			r := withNet(baseRequest("unikraft", "qemu"))
			r.Machine = "microvm"
			r.CPU = "host,-arch-capabilities"
			return r
		}()},
		{"unikraft_qemu_dns", func() Request { r := withNet(baseRequest("unikraft", "qemu")); r.Net.DNS = "8.8.8.8"; return r }()},
		{"unikraft_qemu_v0.15.0_net_initrd", func() Request {
			r := withInitrd(withNet(baseRequest("unikraft", "qemu")))
			r.Version = "0.15.0"
			return r
		}()},
		{"unikraft_qemu_v0.16.1_net_initrd", func() Request {
			r := withInitrd(withNet(baseRequest("unikraft", "qemu")))
			r.Version = "v0.16.1"
			return r
		}()},
		{"unikraft_solo5-hvt_alias", baseRequest("unikraft", "solo5-hvt")},
		{"rumprun_solo5-hvt_alias_net_block", withBlock(withNet(baseRequest("rumprun", "solo5-hvt")))},
		{"linux_qemu_prepared_9p", prepared()},
		{"linux_firecracker_prepared_9p", func() Request { r := prepared(); r.Hypervisor = "firecracker"; return r }()},
		{"linux_qemu_sharedfs_9p_pc", func() Request {
			r := baseRequest("linux", "qemu")
			r.Machine = "pc"
			r.Shares = []Share{{Kind: Share9P, HostPath: "/bundle/root,fs", Tag: "root0", Root: true}}
			return r
		}()},
		{"linux_qemu_sharedfs_virtiofs", func() Request {
			r := baseRequest("linux", "qemu")
			r.Shares = []Share{{Kind: ShareVirtiofs, HostPath: "/bundle/rootfs", Tag: "root0", Socket: "/run/urunc/c1/vfs.sock", Root: true}}
			return r
		}()},
		{"qemu_comma_escaping", func() Request {
			r := withBlock(baseRequest("unikraft", "qemu"))
			r.Disks[0].Path = "/rootfs/a,b.img"
			r.SerialLog = "/run/urunc/c,1/serial.log"
			return r
		}()},
		{"qemu_no_qmp_no_accel", func() Request { r := baseRequest("mirage", "qemu"); r.ControlFD = -1; r.Accel = ""; return r }()},
		{"mewz_qemu_microvm_net", func() Request { r := withNet(baseRequest("mewz", "qemu")); r.Machine = "microvm"; return r }()},
		{"args_quoting", func() Request {
			r := baseRequest("unikraft", "qemu")
			r.Process.Args = []string{"app", "", "it's", `say "hi"`, "a\\b"}
			return r
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := build(c.req)
			checkGolden(t, "special_"+c.name, render(p, err))
		})
	}
}

// A Linux guest booted by urunc's init gets one isa-debug-exit, its root
// filesystem device once, and its command line as given.
func TestLinuxInitNoDuplicateDevices(t *testing.T) {
	fakePath(t, allBinaries()...)
	r := baseRequest("linux", "qemu")
	r.Machine = "microvm"
	r.Linux = &LinuxInit{Cmdline: "console=ttyS0 rdinit=/init"}
	r.Shares = []Share{{Kind: Share9P, HostPath: "/r", Tag: "t", Root: true}}
	p, err := build(r)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(p.Argv, " ")
	if c := strings.Count(all, "isa-debug-exit"); c != 1 {
		t.Fatalf("%d isa-debug-exit devices: %s", c, all)
	}
	if c := strings.Count(all, "-no-reboot"); c != 1 {
		t.Fatalf("%d -no-reboot: %s", c, all)
	}
	if strings.Count(all, "-fsdev") != 1 {
		t.Fatalf("root fs devices duplicated: %s", all)
	}
	if p.GuestCmdline != r.Linux.Cmdline || !strings.Contains(all, "-append "+r.Linux.Cmdline) {
		t.Fatalf("cmdline changed: %q", p.GuestCmdline)
	}
	if p.Stop != StopACPI {
		t.Fatalf("graceful stop %q", p.Stop)
	}
}

func TestValidateErrors(t *testing.T) {
	fakePath(t, "qemu-system-x86_64")
	tests := []struct {
		guest, hv string
		want      error
		names     []string
	}{
		{"unikraft", "qemu", nil, nil},
		{"mirage", "qemu", nil, nil},
		{"osv", "qemu", ErrUnknownGuest, []string{`"osv"`}},
		{"", "qemu", ErrUnknownGuest, []string{`""`}},
		{"unikraft", "bochs", ErrUnknownHypervisor, []string{`"bochs"`}},
		{"unikraft", "solo5-xyz", ErrUnknownHypervisor, []string{"solo5-xyz"}},
		{"rumprun", "qemu", ErrUnsupportedPair, []string{"rumprun", "qemu"}},
		{"mewz", "solo5-hvt", ErrUnsupportedPair, []string{"mewz", "solo5-hvt"}},
		{"unikraft", "firecracker", ErrNotInstalled, []string{"firecracker"}},
		{"rumprun", "solo5-hvt", ErrNotInstalled, []string{"solo5-hvt", "hvt"}},
		{"mirage", "spt", ErrNotInstalled, []string{"solo5-spt", "spt"}},
		{"linux", "cloud-hypervisor", ErrNotInstalled, []string{"cloud-hypervisor"}},
	}
	for _, tt := range tests {
		err := Validate(tt.guest, tt.hv, "")
		if tt.want == nil {
			if err != nil {
				t.Errorf("%s/%s: %v", tt.guest, tt.hv, err)
			}
			continue
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%s/%s: %v, want %v", tt.guest, tt.hv, err, tt.want)
			continue
		}
		for _, n := range tt.names {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("%s/%s: %q does not name %s", tt.guest, tt.hv, err, n)
			}
		}
		if _, berr := build(baseRequest(tt.guest, tt.hv)); !errors.Is(berr, tt.want) {
			t.Errorf("Build %s/%s: %v, want %v", tt.guest, tt.hv, berr, tt.want)
		}
	}
	// Not installed at all: an empty PATH.
	fakePath(t)
	if err := Validate("unikraft", "qemu", ""); !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "qemu-system-x86_64") {
		t.Errorf("empty PATH: %v", err)
	}
}

func TestBuildFindsBinaryOnPath(t *testing.T) {
	dir := fakePath(t, allBinaries()...)
	for g, hvs := range Supported() {
		for _, hv := range hvs {
			p, err := build(baseRequest(g, hv))
			if err != nil {
				t.Fatalf("%s/%s: %v", g, hv, err)
			}
			if filepath.Dir(p.Path) != dir || !filepath.IsAbs(p.Path) {
				t.Errorf("%s/%s: path %q not in %s", g, hv, p.Path, dir)
			}
		}
	}
}

func TestRefusals(t *testing.T) {
	fakePath(t, allBinaries()...)
	tests := []struct {
		name string
		req  Request
		want error
		text string
	}{
		{"newline in arg", func() Request { r := baseRequest("unikraft", "qemu"); r.Process.Args = []string{"a\nb"}; return r }(), ErrInvalidValue, "argument"},
		{"NUL in env", func() Request { r := baseRequest("linux", "qemu"); r.Process.Env = []string{"A=\x00"}; return r }(), ErrInvalidValue, "environment"},
		{"newline in cmdline", func() Request {
			r := baseRequest("mirage", "hvt")
			r.Process.Args = nil
			r.Cmdline = "x\n--evil"
			return r
		}(), ErrInvalidValue, "cmdline"},
		{"newline in kernel", func() Request { r := baseRequest("unikraft", "firecracker"); r.Kernel = "/k\n"; return r }(), ErrInvalidValue, "kernel"},
		{"newline in extra args", func() Request { r := baseRequest("unikraft", "qemu"); r.ExtraArgs = []string{"-x\n"}; return r }(), ErrInvalidValue, "extra"},
		{"both quotes in unikraft arg", func() Request { r := baseRequest("unikraft", "qemu"); r.Process.Args = []string{`a"b'c d`}; return r }(), ErrInvalidValue, "argument"},
		{"quote in unikraft env", func() Request {
			r := baseRequest("unikraft", "qemu")
			r.Process.Env = []string{`A=x" netdev.ip="y' z`}
			return r
		}(), ErrInvalidValue, "environment"},
		{"quote in linux arg", func() Request {
			r := withBlock(baseRequest("linux", "qemu"))
			r.Process.Args = []string{"/bin/sh", `"x`}
			return r
		}(), ErrInvalidValue, "argument"},
		{"blank in linux init", func() Request {
			r := withBlock(baseRequest("linux", "qemu"))
			r.Process.Args = []string{"/bin/sh x"}
			return r
		}(), ErrInvalidValue, "program"},
		{"unikraft env closes the list", func() Request {
			r := baseRequest("unikraft", "qemu")
			r.Process.Env = []string{"A=x]", "netdev.ip=1.2.3.4/8"}
			return r
		}(), ErrInvalidValue, "env.vars"},
		{"linux env replaces root", func() Request {
			r := withBlock(baseRequest("linux", "qemu"))
			r.Process.Env = []string{"root=/dev/vdb"}
			return r
		}(), ErrInvalidValue, "root="},
		{"linux env module param", func() Request {
			r := withInitrd(baseRequest("linux", "firecracker"))
			r.Process.Env = []string{"virtio_net.x=1"}
			return r
		}(), ErrInvalidValue, "virtio_net.x"},
		{"bad env", func() Request { r := baseRequest("linux", "qemu"); r.Process.Env = []string{"NOVALUE"}; return r }(), ErrInvalidValue, "NOVALUE"},
		{"hostname smuggling", func() Request {
			r := withNet(baseRequest("linux", "qemu"))
			r.Net.Hostname = "h init=/bin/sh"
			return r
		}(), ErrInvalidValue, "hostname"},
		{"ip not an address", func() Request {
			r := withNet(baseRequest("unikraft", "qemu"))
			r.Net.IP = "1.2.3.4 vfs.rootfs=x"
			return r
		}(), ErrInvalidValue, "IP"},
		{"gateway not an address", func() Request { r := withNet(baseRequest("mewz", "qemu")); r.Net.Gateway = "1.1.1.1:x"; return r }(), ErrInvalidValue, "gateway"},
		{"bad MAC", func() Request { r := withNet(baseRequest("unikraft", "qemu")); r.Net.MAC = "02:00,id=x"; return r }(), ErrInvalidValue, "MAC"},
		{"bad tap", func() Request {
			r := withNet(baseRequest("unikraft", "qemu"))
			r.Net.TapName = "tap0,script=/x"
			return r
		}(), ErrInvalidValue, "tap"},
		{"comma in qemu initrd", func() Request { r := baseRequest("hermit", "qemu"); r.Initrd = "/a,b"; return r }(), ErrInvalidValue, "initrd"},
		{"comma in cloud-hypervisor disk", func() Request {
			r := withBlock(baseRequest("linux", "cloud-hypervisor"))
			r.Disks[0].Path = "/a,b"
			return r
		}(), ErrInvalidValue, "block"},
		{"mewz block", withBlock(baseRequest("mewz", "qemu")), ErrInvalidValue, "block"},
		{"hermit block", withBlock(baseRequest("hermit", "qemu")), ErrInvalidValue, "block"},
		{"solo5 initrd", withInitrd(baseRequest("mirage", "spt")), ErrInvalidValue, "initrd"},
		{"rumprun relative mount point", func() Request {
			r := withBlock(baseRequest("rumprun", "spt"))
			r.Disks[0].MountPoint = "data"
			return r
		}(), ErrInvalidValue, "mount point"},
		{"firecracker without state dir", func() Request { r := baseRequest("unikraft", "firecracker"); r.StateDir = ""; return r }(), ErrInvalidValue, "state directory"},
		{"no memory", func() Request { r := baseRequest("unikraft", "qemu"); r.MemoryMB = 0; return r }(), ErrInvalidValue, "memory"},
		{"machine loads a host file", func() Request {
			r := baseRequest("unikraft", "qemu")
			r.Machine = "microvm,kernel=/etc/shadow"
			return r
		}(), ErrInvalidValue, "kernel=/etc/shadow"},
		{"machine writes a host file", func() Request { r := baseRequest("linux", "qemu"); r.Machine = "pc,dumpdtb=/etc/x"; return r }(), ErrInvalidValue, "dumpdtb"},
		{"machine memory backend", func() Request { r := baseRequest("linux", "qemu"); r.Machine = "pc,memory-backend=m"; return r }(), ErrInvalidValue, "memory-backend"},
		{"machine type with path", func() Request { r := baseRequest("mirage", "qemu"); r.Machine = "/x"; return r }(), ErrInvalidValue, "machine"},
		{"machine escaped comma", func() Request { r := baseRequest("mirage", "qemu"); r.Machine = "microvm,pit=off,,kernel=x"; return r }(), ErrInvalidValue, "machine"},
		{"cpu with path", func() Request { r := baseRequest("mirage", "qemu"); r.CPU = "host,x=/dev/mem"; return r }(), ErrInvalidValue, "cpu"},
		{"cpu blank", func() Request { r := baseRequest("mirage", "qemu"); r.CPU = "host -x"; return r }(), ErrInvalidValue, "cpu"},
		{"accel with options", func() Request { r := baseRequest("mirage", "qemu"); r.Accel = "tcg,thread=multi"; return r }(), ErrInvalidValue, "accel"},
		{"shared fs on firecracker", func() Request {
			r := baseRequest("linux", "firecracker")
			r.Shares = []Share{{Kind: Share9P, HostPath: "/r", Tag: "t", Root: true}}
			return r
		}(), ErrUnsupportedPair, "firecracker"},
	}
	for _, tt := range tests {
		_, err := build(tt.req)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("%s: %v, want %v mentioning %q", tt.name, err, tt.want, tt.text)
		}
	}
}

func TestDefaultMachine(t *testing.T) {
	want := map[string]string{"linux": "microvm", "unikraft": "pc", "mewz": "pc", "hermit": "pc", "rumprun": "pc", "mirage": "pc", "nope": "pc"}
	for g, m := range want {
		if got := DefaultMachine(g); got != m {
			t.Errorf("%s: %s, want %s", g, got, m)
		}
	}
}

// Machine and CPU values that only switch chipset parts or CPU features
// pass; the prefix of the argv is exactly what was asked for.
func TestQEMUMachineAndCPUAccepted(t *testing.T) {
	fakePath(t, allBinaries()...)
	for _, c := range []struct{ machine, cpu string }{
		{"microvm", ""},
		{"microvm,pit=off,pic=off,rtc=off,isa-serial=on", "host,-arch-capabilities"},
		{"microvm,pcie=on,acpi=off,x-option-roms=off", "max"},
		{"pc", "qemu64,+ssse3,-x2apic,level=13"},
		{"q35,smm=off,hpet=off,usb=off", "Haswell-noTSX-IBRS"},
		{"pc-i440fx-7.2,vmport=off,max-ram-below-4g=2G", ""},
	} {
		r := baseRequest("linux", "qemu")
		r.Machine, r.CPU = c.machine, c.cpu
		p, err := build(withBlock(r))
		if err != nil {
			t.Errorf("%q %q: %v", c.machine, c.cpu, err)
			continue
		}
		want := []string{"qemu-system-x86_64", "-M", c.machine, "-accel", "kvm"}
		if c.cpu != "" {
			want = append(want, "-cpu", c.cpu)
		}
		if got := p.Argv[:len(want)]; strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("%q %q: argv starts %q", c.machine, c.cpu, got)
		}
	}
}

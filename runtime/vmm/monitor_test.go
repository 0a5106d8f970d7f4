package vmm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urunc-dev/urunc/runtime/accel"
	"github.com/urunc-dev/urunc/runtime/seccomp"
	"github.com/urunc-dev/urunc/runtime/solo5"
)

func TestLookupAndCanonical(t *testing.T) {
	for name, want := range map[string]string{"qemu": "qemu", "firecracker": "firecracker", "hvt": "hvt", "solo5-hvt": "hvt",
		"spt": "spt", "solo5-spt": "spt", "cloud-hypervisor": "cloud-hypervisor"} {
		h, err := LookupMonitor(name)
		if err != nil || h.Name() != want {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, bad := range []string{"", "kvmtool", "solo5-qemu", "QEMU"} {
		if _, err := LookupMonitor(bad); !errors.Is(err, ErrUnknownHypervisor) || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

// Find uses PATH: a stub executable is found, a missing one is an error
// naming binary and hypervisor, a non-executable file does not count.
func TestFindOnFakePath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "solo5-hvt"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "firecracker"), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	if p, err := find(HVTMonitor{}, ""); err != nil || p != filepath.Join(dir, "solo5-hvt") {
		t.Fatalf("hvt: %q %v", p, err)
	}
	for _, h := range []Monitor{FirecrackerMonitor{}, SPTMonitor{}, QEMUMonitor{}, CloudHypervisorMonitor{}} {
		_, err := find(h, "")
		if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), h.Binary()) || !strings.Contains(err.Error(), h.Name()) {
			t.Fatalf("%s: %v", h.Name(), err)
		}
	}
}

func TestQEMUValueEscaping(t *testing.T) {
	if v := qemuValue("a,b,,c"); v != "a,,b,,,,c" {
		t.Fatalf("%q", v)
	}
	fakePath(t, allBinaries()...)
	for _, bad := range []string{"a\nb", "a\x00b", "\r"} {
		r := withBlock(baseRequest("unikraft", "qemu"))
		r.Disks[0].Path = bad
		if _, err := build(r); !errors.Is(err, ErrInvalidValue) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

func TestQEMUDebugExitOnce(t *testing.T) {
	req := Request{Guest: "linux", Hypervisor: "qemu", Kernel: "/k", MemoryMB: 64, Machine: "microvm", ControlFD: -1,
		ExtraArgs: []string{"-device", DebugExitDevice}}
	p, err := QEMUMonitor{}.Build("/usr/bin/qemu-system-x86_64", req, &Boot{})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.Join(p.Argv, " "), "isa-debug-exit"); n != 1 {
		t.Fatalf("%d debug-exit devices: %v", n, p.Argv)
	}
	req.ExtraArgs = nil
	p, _ = QEMUMonitor{}.Build("/q", req, &Boot{OwnDebugExit: true, QEMUArgs: []string{"-device", MewzDebugExitDevice}})
	if all := strings.Join(p.Argv, " "); strings.Contains(all, "0xf4") || !strings.Contains(all, "0x501") {
		t.Fatalf("mewz: %v", p.Argv)
	}
}

func TestSolo5KernelOperand(t *testing.T) {
	req := Request{Guest: "x", Kernel: "-flag", MemoryMB: 64}
	if _, err := (SPTMonitor{}).Build("/s", req, &Boot{}); !errors.Is(err, ErrInvalidValue) {
		t.Fatal(err)
	}
}

// The solo5 tenders ask for the runtime's filter, by a profile that
// runtime/seccomp knows; the other monitors do not.
func TestSeccompProfiles(t *testing.T) {
	req := Request{Guest: "x", Kernel: "/k", MemoryMB: 64}
	for _, h := range []Monitor{HVTMonitor{}, SPTMonitor{}} {
		p, err := h.Build("/m", req, &Boot{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Seccomp != "solo5-"+h.Name() {
			t.Errorf("%s: seccomp profile %q", h.Name(), p.Seccomp)
		}
		if _, err := seccomp.Rules(p.Seccomp); err != nil {
			t.Errorf("%s: %v", h.Name(), err)
		}
	}
	p, err := (QEMUMonitor{}).Build("/q", Request{Guest: "unikraft", Hypervisor: "qemu", Kernel: "/k", MemoryMB: 64, Accel: "tcg", Machine: "microvm"}, &Boot{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Seccomp != "" {
		t.Errorf("qemu gets the solo5 filter: %q", p.Seccomp)
	}
}

// Shared directories: a 9p root and read-only volumes, virtio-fs on a
// shared memfd, a block root with its volumes; virtio-mmio non-legacy on
// microvm only; bad shares refused.
func TestShareDevices(t *testing.T) {
	fakePath(t, allBinaries()...)
	argv := func(machine string, disks []Disk, shares ...Share) (string, error) {
		r := baseRequest("linux", "qemu")
		r.Machine, r.Disks, r.Shares = machine, disks, shares
		r.MemoryMB = 512
		r.Linux = &LinuxInit{Cmdline: "console=ttyS0"}
		p, err := build(r)
		if err != nil {
			return "", err
		}
		return strings.Join(p.Argv, " "), nil
	}
	cases := []struct {
		name    string
		machine string
		disks   []Disk
		shares  []Share
		want    []string
		notWant []string
	}{
		{"9p root and a read-only volume", "microvm", nil,
			[]Share{{Kind: Share9P, HostPath: "/r", Tag: "rootfs", Root: true}, {Kind: Share9P, HostPath: "/data", Tag: "urunc-vol0", ReadOnly: true}},
			[]string{"-global virtio-mmio.force-legacy=false",
				"-fsdev local,id=urunc-root,path=/r,security_model=none -device virtio-9p-device,fsdev=urunc-root,mount_tag=rootfs",
				"-fsdev local,id=urunc-vol0,path=/data,security_model=none,readonly=on -device virtio-9p-device,fsdev=urunc-vol0,mount_tag=urunc-vol0"}, nil},
		{"virtio-fs root on pc", "pc", nil,
			[]Share{{Kind: ShareVirtiofs, HostPath: "/r", Tag: "fs", Socket: "/s", Root: true}},
			[]string{"memory-backend-memfd,id=urunc-mem,size=512M,share=on", "-machine memory-backend=urunc-mem",
				"-chardev socket,id=urunc-vfs,path=/s", "-device vhost-user-fs-pci,chardev=urunc-vfs,tag=fs"},
			[]string{"force-legacy", "9p"}},
		{"block root keeps its volumes", "pc", []Disk{{Path: "/dev/dm-3"}},
			[]Share{{Kind: Share9P, HostPath: "/d", Tag: "v"}},
			[]string{"-drive if=none,format=raw,id=hd0,file=/dev/dm-3",
				"-fsdev local,id=v,path=/d,security_model=none -device virtio-9p-pci,fsdev=v,mount_tag=v"},
			[]string{"vhost-user"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := argv(c.machine, c.disks, c.shares...)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("argv lacks %q:\n%s", w, got)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(got, w) {
					t.Errorf("argv has %q:\n%s", w, got)
				}
			}
		})
	}
	for name, s := range map[string][]Share{
		"no tag":       {{Kind: Share9P, HostPath: "/r", Root: true}},
		"comma in tag": {{Kind: Share9P, HostPath: "/r", Tag: "a,b", Root: true}},
		"no host path": {{Kind: Share9P, Tag: "t", Root: true}},
		"no socket":    {{Kind: ShareVirtiofs, Tag: "t", Root: true}},
		"bad kind":     {{Kind: "nfs", Tag: "t", HostPath: "/r", Root: true}},
		"two virtio-fs": {{Kind: ShareVirtiofs, Tag: "a", Socket: "/a", Root: true},
			{Kind: ShareVirtiofs, Tag: "b", Socket: "/b"}},
	} {
		if _, err := argv("microvm", nil, s...); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// What a plan asks of the runtime follows from the request alone: the
// files the VMM opens, its device nodes, its control socket.
func TestPlanNeeds(t *testing.T) {
	dir := fakePath(t, allBinaries()...)
	r := withBlock(withNet(baseRequest("linux", "qemu")))
	r.Accel = "tcg"
	r.Initrd = "/rootfs/initrd"
	r.Shares = []Share{{Kind: Share9P, HostPath: "/vol", Tag: "urunc-vol0", ReadOnly: true}}
	p, err := build(r)
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{{"/rootfs/unikernel", true, "the guest kernel"}, {"/rootfs/initrd", true, "the initrd"},
		{"/rootfs/data.img", false, "the block device"}, {"/vol", true, "a volume"}, {filepath.Join(dir, "qemu-system-x86_64"), true, "the VMM binary"}}
	if fmt.Sprint(p.Mounts) != fmt.Sprint(want) {
		t.Errorf("mounts %v, want %v", p.Mounts, want)
	}
	if fmt.Sprint(p.Devices) != fmt.Sprint([]string{DevTun}) || p.Control != QMP {
		t.Errorf("tcg qemu: devices %v control %q", p.Devices, p.Control)
	}
	r.Accel, r.ControlFD = "kvm", -1
	if p, _ = build(r); fmt.Sprint(p.Devices) != fmt.Sprint([]string{DevKVM, DevTun}) || p.Control != NoControl {
		t.Errorf("kvm qemu without a control fd: devices %v control %q", p.Devices, p.Control)
	}
	// A virtio-fs root is not a mount: virtiofsd serves it.
	r.Shares = []Share{{Kind: ShareVirtiofs, HostPath: "/rootfs", Tag: "r", Socket: "/run/urunc/c1/virtiofs.sock", Root: true}}
	r.Disks = nil
	if p, _ = build(r); len(p.Mounts) != 3 {
		t.Errorf("virtio-fs mounts %v", p.Mounts)
	}
	spt, err := build(withNet(baseRequest("mirage", "spt")))
	if err != nil || fmt.Sprint(spt.Devices) != fmt.Sprint([]string{DevTun}) || spt.Control != NoControl {
		t.Errorf("spt: %v devices %v control %q", err, spt.Devices, spt.Control)
	}
}

// Each monitor says truthfully how it runs its guest (vmm.json).
func TestChoose(t *testing.T) {
	pvm := accel.Facts{KVMOpen: true, PVM: true}
	for _, c := range []struct {
		guest, hv string
		want      accel.Request
		accel     string
		reason    string
		machine   string
	}{
		{"unikraft", "qemu", accel.Request{}, "tcg", "nested PVM", "pc"},
		{"linux", "qemu", accel.Request{Accel: "kvm"}, "kvm", "requested", "microvm"},
		{"mirage", "hvt", accel.Request{}, "kvm", "solo5-hvt always runs its guest on KVM", ""},
		{"mirage", "solo5-hvt", accel.Request{Accel: "tcg"}, "kvm", "the requested tcg does not apply", ""},
		{"mirage", "spt", accel.Request{}, "none", "without a hypervisor", ""},
		{"unikraft", "firecracker", accel.Request{}, "kvm", "firecracker", ""},
	} {
		got, err := Choose(c.guest, c.hv, c.want, pvm)
		if err != nil || got.Accel != c.accel || !strings.Contains(got.AccelReason, c.reason) || got.Machine != c.machine {
			t.Errorf("%s on %s: %+v %v", c.guest, c.hv, got, err)
		}
	}
	if _, err := Choose("unikraft", "bochs", accel.Request{}, pvm); !errors.Is(err, ErrUnknownHypervisor) {
		t.Errorf("bochs: %v", err)
	}
}

// A monitor path from the host configuration wins over PATH; a bad one is
// refused naming the path.
func TestConfiguredMonitorPath(t *testing.T) {
	dir := fakePath(t) // nothing on PATH
	tender := filepath.Join(t.TempDir(), "my-solo5-spt")
	if err := os.WriteFile(tender, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Validate("mirage", "spt", tender); err != nil {
		t.Fatal(err)
	}
	r := baseRequest("mirage", "spt")
	r.MonitorPath = tender
	if p, err := build(r); err != nil || p.Path != tender || p.Argv[0] != "solo5-spt" {
		t.Fatalf("%v %v", p, err)
	}
	for _, bad := range []string{"relative/spt", filepath.Join(dir, "missing"), filepath.Join(dir)} {
		if err := Validate("mirage", "spt", bad); !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// A tender gets exactly the devices the manifest declares, under its
// names: none declared, none given (the container's network is simply not
// given); one NIC and one disk bound to the tap and the image; an
// annotation's name must be the manifest's; what cannot be attached is a
// create error naming both sides.
func TestSolo5ManifestDevices(t *testing.T) {
	fakePath(t, allBinaries()...)
	decl := func(devs ...solo5.Device) *solo5.Manifest { return &solo5.Manifest{Version: 1, Devices: devs} }
	svc0 := solo5.Device{Name: "service0", Type: solo5.Net}
	stor := solo5.Device{Name: "storage", Type: solo5.Block}
	r := withNet(baseRequest("mirage", "spt"))
	r.Manifest = decl()
	p, err := Build(r)
	if err != nil || strings.Contains(strings.Join(p.Argv, " "), "--net") || strings.Contains(p.GuestCmdline, "--ipv4") ||
		len(p.Attachments) != 1 || p.Attachments[0].To != "" || !strings.Contains(p.Attachments[0].Note, "not given") {
		t.Fatalf("no NIC declared: %v %+v %v", p.Argv, p.Attachments, err)
	}
	r = withBlock(withNet(baseRequest("mirage", "hvt")))
	r.Manifest = decl(svc0, stor)
	if p, err = Build(r); err != nil || !strings.Contains(strings.Join(p.Argv, " "), "--net:service0=tap0_urunc --net-mac:service0=02:00:0a:04:00:02 --block:storage=/rootfs/data.img") ||
		fmt.Sprint(p.Attachments) != "[net service0 -> tap0_urunc block storage -> /rootfs/data.img]" {
		t.Fatalf("declared: %v %+v %v", p.Argv, p.Attachments, err)
	}
	r.Net.Name = "service0" // an annotation agreeing with the manifest
	if _, err = Build(r); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		req  Request
		text string
	}{
		"annotation disagrees": {func() Request { q := r; n := *r.Net; n.Name = "service"; q.Net = &n; return q }(), `"service", /rootfs/unikernel declares "service0"`},
		"two NICs": {func() Request {
			q := r
			q.Manifest = decl(svc0, solo5.Device{Name: "service1", Type: solo5.Net}, stor)
			return q
		}(), "2 network devices (service0, service1)"},
		"NIC without network": {func() Request { q := r; q.Net = nil; return q }(), `declares network device "service0" but the container has no network`},
		"disk not declared":   {func() Request { q := r; q.Manifest = decl(svc0); return q }(), "gives a block device (/rootfs/data.img) but"},
		"disk not given":      {func() Request { q := r; q.Disks = nil; return q }(), `declares block device "storage" but the bundle gives none`},
		"no manifest":         {func() Request { q := r; q.Manifest = nil; return q }(), "no Solo5 manifest"},
	} {
		if _, err := Build(c.req); !errors.Is(err, ErrDeviceMismatch) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: %v, want %q", name, err, c.text)
		}
	}
	// Monitors that do not read manifests give the guest everything.
	q := withNet(baseRequest("mirage", "qemu"))
	if p, err := Build(q); err != nil || len(p.Attachments) != 1 || p.Attachments[0].To != "tap0_urunc" {
		t.Fatalf("qemu: %+v %v", p, err)
	}
}

// The developer options: the console on a socket (qemu only).
func TestDevOptions(t *testing.T) {
	fakePath(t, allBinaries()...)
	cases := []struct {
		name, guest, hv string
		mod             func(*Request)
		want            string // in the argv
		err             error
		errText         string
	}{
		{"qemu console on a socket", "unikraft", "qemu", func(r *Request) { r.Console, r.ConsoleFD = ConsoleSocket, 5 },
			"socket,id=serial0,fd=5,server=on,wait=off,logfile=/run/urunc/c1/serial.log", nil, ""},
		{"qemu console on stdio", "unikraft", "qemu", func(r *Request) { r.Console = ConsoleStdio },
			"stdio,id=serial0,signal=off,logfile=/run/urunc/c1/serial.log", nil, ""},
		{"console socket without its fd", "unikraft", "qemu", func(r *Request) { r.Console, r.ConsoleFD = ConsoleSocket, -1 },
			"", ErrInvalidValue, "without its descriptor"},
		{"unknown console", "unikraft", "qemu", func(r *Request) { r.Console = "tcp" }, "", ErrInvalidValue, `console "tcp"`},
		{"firecracker", "unikraft", "firecracker", func(r *Request) { r.Console, r.ConsoleFD = ConsoleSocket, 5 }, "", ErrDevOption, "qemu's"},
		{"hvt", "solo5", "hvt", func(r *Request) { r.Console, r.ConsoleFD = ConsoleSocket, 5 }, "", ErrDevOption, "qemu's"},
		{"cloud-hypervisor", "linux", "cloud-hypervisor", func(r *Request) { r.Console, r.ConsoleFD = ConsoleSocket, 5 }, "", ErrDevOption, "qemu's"},
		{"qemu gdb stub", "unikraft", "qemu", func(r *Request) { r.GDB = &GDB{FD: 6} },
			"-chardev socket,id=gdb0,fd=6,server=on,wait=off -gdb chardev:gdb0 -kernel", nil, ""},
		{"qemu gdb stub, paused", "unikraft", "qemu", func(r *Request) { r.GDB = &GDB{FD: 6, Wait: true} },
			"-gdb chardev:gdb0 -S -kernel", nil, ""},
		{"gdb stub without its fd", "unikraft", "qemu", func(r *Request) { r.GDB = &GDB{FD: -1} }, "", ErrInvalidValue, "gdb stub without its descriptor"},
		{"gdb on hvt", "solo5", "hvt", func(r *Request) { r.GDB = &GDB{FD: 6} }, "", ErrDevOption, "only in solo5-hvt-debug"},
		{"gdb on spt", "solo5", "spt", func(r *Request) { r.GDB = &GDB{FD: 6} }, "", ErrDevOption, "tender's pid"},
		{"gdb on firecracker", "unikraft", "firecracker", func(r *Request) { r.GDB = &GDB{FD: 6} }, "", ErrDevOption, "no gdb stub"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := baseRequest(c.guest, c.hv)
			c.mod(&r)
			p, err := build(r)
			if c.err != nil {
				if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.errText) {
					t.Fatalf("err = %v, want %v with %q", err, c.err, c.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(p.Argv, " "), c.want) {
				t.Fatalf("argv lacks %q: %q", c.want, p.Argv)
			}
		})
	}
}

func TestGDBCommand(t *testing.T) {
	got := strings.Join(GDBCommand("/run/urunc/a/gdb.sock", "/b/rootfs/unikernel/app.elf", false), "|")
	if got != "gdb|-q|-ex|target remote /run/urunc/a/gdb.sock|/b/rootfs/unikernel/app.elf" {
		t.Fatal(got)
	}
	got = strings.Join(GDBCommand("/s", "/k", true), "|")
	if got != "gdb|-q|-ex|set architecture i386:x86-64|-ex|target remote /s|/k" {
		t.Fatal(got)
	}
}

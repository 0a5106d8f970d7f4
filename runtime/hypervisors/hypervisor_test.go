package hypervisors

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urunc-dev/urunc/runtime/guests"
	"github.com/urunc-dev/urunc/runtime/seccomp"
	"github.com/urunc-dev/urunc/runtime/vm/vmtypes"
)

func TestLookupAndCanonical(t *testing.T) {
	for name, want := range map[string]string{"qemu": "qemu", "firecracker": "firecracker", "hvt": "hvt", "solo5-hvt": "hvt",
		"spt": "spt", "solo5-spt": "spt", "cloud-hypervisor": "cloud-hypervisor"} {
		h, err := Lookup(name)
		if err != nil || h.Name() != want {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, bad := range []string{"", "kvmtool", "solo5-qemu", "QEMU"} {
		if _, err := Lookup(bad); !errors.Is(err, vmtypes.ErrUnknownHypervisor) || !strings.Contains(err.Error(), `"`+bad+`"`) {
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
	if p, err := Find(HVT{}); err != nil || p != filepath.Join(dir, "solo5-hvt") {
		t.Fatalf("hvt: %q %v", p, err)
	}
	for _, h := range []Hypervisor{Firecracker{}, SPT{}, QEMU{}, CloudHypervisor{}} {
		_, err := Find(h)
		if !errors.Is(err, vmtypes.ErrNotInstalled) || !strings.Contains(err.Error(), h.Binary()) || !strings.Contains(err.Error(), h.Name()) {
			t.Fatalf("%s: %v", h.Name(), err)
		}
	}
}

func TestQEMUValueEscaping(t *testing.T) {
	v, err := qemuValue("x", "a,b,,c")
	if err != nil || v != "a,,b,,,,c" {
		t.Fatalf("%q %v", v, err)
	}
	for _, bad := range []string{"a\nb", "a\x00b", "\r"} {
		if _, err := qemuValue("x", bad); !errors.Is(err, vmtypes.ErrInvalidValue) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

func TestQEMUDebugExitOnce(t *testing.T) {
	req := vmtypes.Request{Guest: "linux", Hypervisor: "qemu", Kernel: "/k", MemoryMB: 64, Machine: "microvm", QMPFD: -1,
		ExtraArgs: []string{"-device", DebugExitDevice}}
	p, err := QEMU{}.Build("/usr/bin/qemu-system-x86_64", req, &guests.Boot{})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.Join(p.Argv, " "), "isa-debug-exit"); n != 1 {
		t.Fatalf("%d debug-exit devices: %v", n, p.Argv)
	}
	req.ExtraArgs = nil
	p, _ = QEMU{}.Build("/q", req, &guests.Boot{OwnDebugExit: true, QEMUArgs: []string{"-device", guests.MewzDebugExitDevice}})
	if all := strings.Join(p.Argv, " "); strings.Contains(all, "0xf4") || !strings.Contains(all, "0x501") {
		t.Fatalf("mewz: %v", p.Argv)
	}
}

func TestSolo5NeedsDeviceNames(t *testing.T) {
	req := vmtypes.Request{Guest: "x", Kernel: "/k", MemoryMB: 64, Block: "/b"}
	if _, err := (SPT{}).Build("/s", req, &guests.Boot{}); !errors.Is(err, vmtypes.ErrUnsupportedPair) {
		t.Fatal(err)
	}
	req.Kernel = "-flag"
	if _, err := (SPT{}).Build("/s", req, &guests.Boot{Solo5Block: "b"}); !errors.Is(err, vmtypes.ErrInvalidValue) {
		t.Fatal(err)
	}
}

// The solo5 tenders ask for the runtime's filter, by a profile that
// runtime/seccomp knows; the other monitors do not.
func TestSeccompProfiles(t *testing.T) {
	req := vmtypes.Request{Guest: "x", Kernel: "/k", MemoryMB: 64}
	for _, h := range []Hypervisor{HVT{}, SPT{}} {
		p, err := h.Build("/m", req, &guests.Boot{})
		if err != nil {
			t.Fatal(err)
		}
		if !p.Seccomp || p.SeccompProfile != "solo5-"+h.Name() {
			t.Errorf("%s: Seccomp %v profile %q", h.Name(), p.Seccomp, p.SeccompProfile)
		}
		if _, err := seccomp.Rules(p.SeccompProfile); err != nil {
			t.Errorf("%s: %v", h.Name(), err)
		}
	}
	p, err := (QEMU{}).Build("/q", vmtypes.Request{Guest: "unikraft", Hypervisor: "qemu", Kernel: "/k", MemoryMB: 64, Accel: "tcg", Machine: "microvm"}, &guests.Boot{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Seccomp || p.SeccompProfile != "" {
		t.Errorf("qemu gets the solo5 filter: %v %q", p.Seccomp, p.SeccompProfile)
	}
}

package network

import (
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestGuestDNS(t *testing.T) {
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	bind := filepath.Join(dir, "resolv.conf")
	os.WriteFile(bind, []byte("nameserver 127.0.0.11\nnameserver 10.0.0.53\n"), 0o644)
	spec := &specs.Spec{}

	if dns, src := GuestDNS(spec.Mounts, rootfs); dns != "8.8.8.8" || src != "default" {
		t.Fatalf("no resolv.conf: %s from %s", dns, src)
	}
	os.WriteFile(filepath.Join(rootfs, "etc", "resolv.conf"), []byte("nameserver 192.168.7.1\n"), 0o644)
	if dns, _ := GuestDNS(spec.Mounts, rootfs); dns != "192.168.7.1" {
		t.Fatalf("rootfs: %s", dns)
	}
	spec.Mounts = []specs.Mount{{Destination: "/etc/hosts", Source: "/nonexistent"}, {Destination: "/etc/resolv.conf", Source: bind, Options: []string{"rbind"}}}
	if dns, src := GuestDNS(spec.Mounts, rootfs); dns != "10.0.0.53" || src != bind {
		t.Fatalf("bind mount: %s from %s", dns, src)
	}
	// A mount without a usable nameserver falls back to the rootfs's.
	os.WriteFile(bind, []byte("nameserver 127.0.0.53\n"), 0o644)
	if dns, _ := GuestDNS(spec.Mounts, rootfs); dns != "192.168.7.1" {
		t.Fatalf("loopback-only mount: %s", dns)
	}
	// A symlink in the rootfs stays inside it: it cannot read a host file.
	os.Remove(filepath.Join(rootfs, "etc", "resolv.conf"))
	os.Symlink(bind, filepath.Join(rootfs, "etc", "resolv.conf"))
	os.WriteFile(bind, []byte("nameserver 10.9.9.9\n"), 0o644)
	spec.Mounts = nil
	if dns, _ := GuestDNS(spec.Mounts, rootfs); dns != "8.8.8.8" {
		t.Fatalf("symlink out of the rootfs followed: %s", dns)
	}
}

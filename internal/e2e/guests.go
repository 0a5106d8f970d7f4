package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urunc-dev/urunc/internal/fixtures"
)

// Guest returns the path of a real guest file (e.g.
// "solo5-v0.12.1/test_hello.spt"), or skips the test saying where the
// fixtures are expected (internal/fixtures finds them).
func Guest(t testing.TB, rel string) string {
	t.Helper()
	dir, _ := fixtures.GuestsDir()
	p := filepath.Join(dir, rel)
	if _, err := os.Stat(p); err != nil {
		t.Skip(fixtures.Missing(p))
	}
	return p
}

// CNINamespace makes a network namespace the way a CNI plugin would: a
// veth pair whose inner end is eth0 with an address and a default route.
// It returns the namespace's name and path, eth0's address and the
// host-side address; everything goes at the end of the test. With ip
// set, eth0 gets that /24 address (the host side .1) instead of a fresh
// 10.201.N.2.
func CNINamespace(t testing.TB, ip ...string) (name, path, guestIP, hostIP string) {
	t.Helper()
	n := rand.IntN(200) + 20 //nolint:gosec // G404: a name that should not collide, not a secret
	name = fmt.Sprintf("urunc-e2e-%d-%d", os.Getpid(), n)
	hostIf := fmt.Sprintf("uv%d-%d", os.Getpid()%10000, n)
	hostIP = fmt.Sprintf("10.201.%d.1", n)
	guestIP = fmt.Sprintf("10.201.%d.2", n)
	if len(ip) > 0 {
		guestIP = ip[0]
		hostIP = guestIP[:strings.LastIndexByte(guestIP, '.')] + ".1"
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	// What cannot be removed is left behind: say so.
	cleanup := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Logf("clean-up: ip %v: %v %s", args, err, out)
		}
	}
	run("netns", "add", name)
	t.Cleanup(func() { cleanup("netns", "del", name) })
	run("link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", name)
	t.Cleanup(func() { cleanup("link", "del", hostIf) })
	run("addr", "add", hostIP+"/24", "dev", hostIf)
	run("link", "set", hostIf, "up")
	run("-n", name, "addr", "add", guestIP+"/24", "dev", "eth0")
	run("-n", name, "link", "set", "eth0", "up")
	run("-n", name, "link", "set", "lo", "up")
	run("-n", name, "route", "add", "default", "via", hostIP)
	return name, "/var/run/netns/" + name, guestIP, hostIP
}

// DockerCaps are the capabilities Docker gives a container by default.
func DockerCaps() []string {
	return []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
}

// DockerLike makes a spec look as Docker hands it over: a linux.seccomp
// section (which switches urunc's solo5 filters on), Docker's default
// capabilities and no_new_privs off.
func DockerLike(s *specs.Spec) {
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write", "exit_group"}, Action: specs.ActAllow}}}
	caps := DockerCaps()
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
}

package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// procStatus returns the "Key:" lines of /proc/pid/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m
}

// Docker's default capabilities, for the root case.
var dockerCaps = e2e.DockerCaps()

// capMask is the /proc status form of caps (numbers from linux/capability.h).
func capMask(caps []string) string {
	num := map[string]uint{"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5,
		"CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13,
		"CAP_SYS_CHROOT": 18, "CAP_MKNOD": 27, "CAP_AUDIT_WRITE": 29, "CAP_SETFCAP": 31}
	var m uint64
	for _, c := range caps {
		m |= 1 << num[c]
	}
	return fmt.Sprintf("%016x", m)
}

// TestVMMUser runs the test unikernel in real qemu with process.user
// 1000:1000 (plus a supplementary group, no_new_privs and Docker's
// capabilities) and checks, in /proc, that the VMM runs as that user with
// no capabilities, and that the guest's console still reaches the serial
// log and create's stdio. With KVM this needs the private /dev/kvm node of
// the confined root (the host's is 0600 root). The root case keeps uid 0
// and gets exactly Docker's capability sets.
func TestVMMUser(t *testing.T) {
	for _, tc := range []struct {
		name  string
		accel string
		uid   uint32
	}{{"user-tcg", "tcg", 1000}, {"user-kvm", "kvm", 1000}, {"root-tcg", "tcg", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			u := setup(t)
			if tc.accel == "kvm" && !e2e.KVMUsable() {
				t.Skip("/dev/kvm cannot be opened: KVM variant needs it")
			}
			bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(map[string]string{"com.urunc.vmm.accel": tc.accel})})
			// The bundle lives in a 0700 temp dir: let the user reach the kernel.
			for d := bundle; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
				os.Chmod(d, 0o755)
			}
			e2e.EditSpec(t, bundle, func(s *specs.Spec) {
				s.Process.User = specs.User{UID: tc.uid, GID: tc.uid}
				if tc.uid != 0 {
					s.Process.User.AdditionalGids = []uint32{2000}
				}
				s.Process.NoNewPrivileges = true
				s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: dockerCaps, Effective: dockerCaps, Permitted: dockerCaps}
			})
			out := outFile(t)
			if r := u.RunWith(t, out, "create", "-b", bundle, "u1"); r.Code != 0 {
				t.Fatalf("create: %s; log: %s", r, u.LastError())
			}
			if r := u.Run(t, "start", "u1"); r.Code != 0 {
				t.Fatalf("start: %s; log: %s", r, u.LastError())
			}
			serial := filepath.Join(u.Root, "u1", "serial.log")
			e2e.WaitFor(t, 30*time.Second, "heartbeat in serial.log", func() bool { return e2e.FileContains(serial, "heartbeat") })
			e2e.WaitFor(t, 10*time.Second, "heartbeat on create's stdio", func() bool { return e2e.FileContains(out.Name(), "heartbeat") })
			pid := int(u.State(t, "u1")["pid"].(float64))
			if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); !strings.Contains(exe, "qemu-system") {
				t.Fatalf("pid %d is %q, not qemu", pid, exe)
			}
			var vmm map[string]any
			json.Unmarshal([]byte(e2e.ReadFile(filepath.Join(u.Root, "u1", "vmm.json"))), &vmm)
			if vmm["accel"] != tc.accel {
				t.Fatalf("vmm.json accel %v, want %s", vmm["accel"], tc.accel)
			}
			st := procStatus(t, pid)
			id := strconv.Itoa(int(tc.uid))
			want := map[string]string{"Uid": strings.Repeat(id+" ", 3) + id, "Gid": strings.Repeat(id+" ", 3) + id, "NoNewPrivs": "1",
				"CapBnd": capMask(dockerCaps)}
			if tc.uid != 0 {
				want["Groups"] = "2000"
				want["CapEff"], want["CapPrm"] = capMask(nil), capMask(nil)
			} else {
				want["CapEff"], want["CapPrm"] = capMask(dockerCaps), capMask(dockerCaps)
			}
			for k, v := range want {
				if st[k] != v {
					t.Errorf("/proc/%d/status %s = %q, want %q", pid, k, st[k], v)
				}
			}
			if tc.uid != 0 {
				var fst unix.Stat_t
				if err := unix.Stat(serial, &fst); err != nil {
					t.Fatal(err)
				}
				if fst.Uid != 1000 || fst.Gid != 1000 {
					t.Errorf("serial.log owned by %d:%d", fst.Uid, fst.Gid)
				}
			}
			u.MustRun(t, "kill", "u1", "KILL")
			e2e.WaitFor(t, 10*time.Second, "stopped", func() bool { return u.Status(t, "u1") == "stopped" })
			u.MustRun(t, "delete", "u1")
			if left := u.Leftovers(); len(left) != 0 {
				t.Fatalf("left under root: %v", left)
			}
		})
	}
}

// TestVMMUserRefused: a kernel the user cannot read fails start with a
// message naming the file, not a VMM dying on EACCES.
func TestVMMUserRefused(t *testing.T) {
	u := setup(t)
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(map[string]string{"com.urunc.vmm.accel": "tcg"})})
	for d := bundle; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	if err := os.Chmod(filepath.Join(bundle, "rootfs", "unikernel", "app.elf"), 0o600); err != nil {
		t.Fatal(err)
	}
	e2e.EditSpec(t, bundle, func(s *specs.Spec) { s.Process.User = specs.User{UID: 1000, GID: 1000} })
	out := outFile(t)
	if r := u.RunWith(t, out, "create", "-b", bundle, "r1"); r.Code != 0 {
		t.Fatalf("create: %s; log: %s", r, u.LastError())
	}
	r := u.Run(t, "start", "r1")
	if r.Code == 0 {
		t.Fatal("start succeeded with a kernel the VMM's user cannot read")
	}
	if msg := u.LastError(); !strings.Contains(msg, "app.elf") || !strings.Contains(msg, "uid 1000") {
		t.Fatalf("start error does not name the file and user: %q", msg)
	}
	u.Run(t, "delete", "--force", "r1")
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left under root: %v", left)
	}
}

// fakeSolo5 is a stand-in solo5-hvt (solo5 is not packaged here): a shell
// script, so that what runs after the runtime's execve is a real program
// under the real filter. It spins a while (the test reads its
// /proc/PID/status meanwhile), then tries a fork. Shell builtins only:
// dash's redirections need dup2, which the filter refuses.
const fakeSolo5 = `#!/bin/sh
echo "fake-solo5 args: $*"
i=0
while [ $i -lt 300000 ]; do i=$((i+1)); done
/bin/true && echo "fake-solo5 fork allowed"
`

// TestSolo5SeccompThroughChild runs a rumprun/hvt container whose
// "solo5-hvt" is fakeSolo5: the child installs the solo5-hvt filter and
// execs it through the pointer-matched execve; inside, the filter is
// active (Seccomp: 2) and a fork is refused. Without a seccomp section in
// the spec (seccomp=unconfined) no filter is installed.
func TestSolo5SeccompThroughChild(t *testing.T) {
	for _, withSeccomp := range []bool{true, false} {
		t.Run(fmt.Sprintf("seccomp=%v", withSeccomp), func(t *testing.T) {
			u := setup(t)
			binDir := t.TempDir()
			if err := os.WriteFile(filepath.Join(binDir, "solo5-hvt"), []byte(fakeSolo5), 0o755); err != nil {
				t.Fatal(err)
			}
			u.Env = append(u.Env, "PATH="+binDir+":"+os.Getenv("PATH"))
			// A tender attaches what the unikernel's Solo5 manifest
			// declares: the kernel must be a real Solo5 one (test_hello
			// declares no device); the tender itself is the stand-in.
			kernel := e2e.Guest(t, "solo5-v0.12.1/test_hello.hvt")
			bundle := e2e.NewBundle(t, e2e.Bundle{Kernel: kernel, Type: "rumprun", Hypervisor: "hvt", Cmdline: "hello"})
			e2e.EditSpec(t, bundle, func(s *specs.Spec) {
				if withSeccomp {
					s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
				}
			})
			out := outFile(t)
			if r := u.RunWith(t, out, "create", "-b", bundle, "s1"); r.Code != 0 {
				t.Fatalf("create: %s; log: %s", r, u.LastError())
			}
			if r := u.Run(t, "start", "s1"); r.Code != 0 {
				t.Fatalf("start: %s; log: %s", r, u.LastError())
			}
			e2e.WaitFor(t, 10*time.Second, "the fake monitor", func() bool { return e2e.FileContains(out.Name(), "fake-solo5 args") })
			pid := int(u.State(t, "s1")["pid"].(float64))
			st := procStatus(t, pid)
			wantSeccomp, wantNNP := "0", "0"
			if withSeccomp {
				wantSeccomp, wantNNP = "2", "1"
			}
			if st["Seccomp"] != wantSeccomp || st["NoNewPrivs"] != wantNNP {
				t.Errorf("monitor Seccomp %q NoNewPrivs %q, want %s %s", st["Seccomp"], st["NoNewPrivs"], wantSeccomp, wantNNP)
			}
			e2e.WaitFor(t, 20*time.Second, "stopped", func() bool { return u.Status(t, "s1") == "stopped" })
			// The tender's stdout reaches create's through urunc's console
			// copy, which passes on the last line a moment after the exit.
			e2e.WaitFor(t, 10*time.Second, "the fork's outcome", func() bool {
				return e2e.FileContains(out.Name(), "fork") // "fork allowed", or the shell's "Cannot fork"
			})
			got := e2e.ReadFile(out.Name())
			t.Logf("monitor output:\n%s", got)
			if forked := strings.Contains(got, "fork allowed"); forked == withSeccomp {
				t.Errorf("fork allowed: %v, with the filter: %v", forked, withSeccomp)
			}
			if withSeccomp && !strings.Contains(got, "Cannot fork") {
				t.Error("the monitor's fork was not refused")
			}
			u.MustRun(t, "delete", "s1")
		})
	}
}

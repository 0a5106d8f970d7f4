package seccomp

import (
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const (
	retAllow = uint32(libseccomp.ActionAllow)
	retEPERM = uint32(libseccomp.ActionErrno) | uint32(unix.EPERM)
)

// Calls the monitors never need: each must be refused by every profile.
var mustDeny = []string{
	"mount", "umount2", "pivot_root", "chroot", "ptrace", "process_vm_writev", "kexec_load",
	"init_module", "finit_module", "delete_module", "bpf", "perf_event_open", "unshare", "setns",
	"keyctl", "add_key", "open_by_handle_at", "userfaultfd", "execveat", "fork", "vfork",
	"setuid", "setgid", "setgroups", "capset", "socketpair", "connect", "listen", "accept",
	"reboot", "swapon", "sethostname", "kill", "mknod", "chmod", "chown", "unlink", "rename",
}

func TestRulesTable(t *testing.T) {
	if _, err := Rules("qemu"); !errors.Is(err, ErrUnknownProfile) {
		t.Fatalf("Rules(qemu) = %v, want ErrUnknownProfile", err)
	}
	for _, profile := range []string{HVT, SPT} {
		rules, err := Rules(profile)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]Rule{}
		for _, r := range rules {
			if _, dup := byName[r.Name]; dup {
				t.Errorf("%s: %s listed twice", profile, r.Name)
			}
			if r.Why == "" {
				t.Errorf("%s: %s has no reason", profile, r.Name)
			}
			byName[r.Name] = r
		}
		for _, name := range []string{"execve", "openat", "read", "pread64", "mmap", "mprotect", "munmap",
			"brk", "fstat", "newfstatat", "ioctl", "close", "exit_group", "rt_sigaction", "rt_sigreturn",
			"write", "pwrite64", "clock_gettime", "getrandom", "seccomp", "prctl"} {
			if _, ok := byName[name]; !ok {
				t.Errorf("%s: %s is not allowed", profile, name)
			}
		}
		for _, name := range mustDeny {
			if _, ok := byName[name]; ok {
				t.Errorf("%s: %s must not be allowed", profile, name)
			}
		}
		if len(byName["socket"].Any) == 0 || len(byName["clone"].Any) == 0 {
			t.Errorf("%s: socket and clone must be conditional", profile)
		}
	}
	hvt, _ := Rules(HVT)
	spt, _ := Rules(SPT)
	has := func(rs []Rule, name string) *Rule {
		for i := range rs {
			if rs[i].Name == name {
				return &rs[i]
			}
		}
		return nil
	}
	if r := has(hvt, "ioctl"); r == nil || len(r.Any) != 0 {
		t.Error("hvt: ioctl must be allowed for every KVM request")
	}
	if r := has(spt, "ioctl"); r == nil || len(r.Any) == 0 {
		t.Error("spt: ioctl must be limited (no KVM)")
	}
	for _, name := range []string{"epoll_pwait", "timerfd_create", "clone3"} {
		if has(hvt, name) == nil {
			t.Errorf("hvt: %s missing", name)
		}
		if has(spt, name) != nil {
			t.Errorf("spt: %s allowed, spt does not use it", name)
		}
	}
	if has(spt, "ppoll") == nil {
		t.Error("spt: ppoll missing")
	}
}

// seccompData is struct seccomp_data as the kernel's native (little-endian)
// 32-bit loads see it, laid out for x/net/bpf's VM, whose loads are
// big-endian: each 32-bit word is stored big-endian at its native offset.
func seccompData(nr int, args ...uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], uint32(nr))
	binary.BigEndian.PutUint32(b[4:], uint32(arch.X86_64.ID))
	for i, a := range args {
		off := 16 + 8*i
		binary.BigEndian.PutUint32(b[off:], uint32(a))       // low half first (little-endian)
		binary.BigEndian.PutUint32(b[off+4:], uint32(a>>32)) // high half
	}
	return b
}

type progCase struct {
	what string
	nr   int
	args []uint64
	want uint32
}

// TestPolicyProgram runs the assembled BPF program of each profile on
// system calls: what the table allows passes, the rest gets EPERM, and
// execve passes only with the prepared filename pointer.
func TestPolicyProgram(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the program test encodes x86_64 system call numbers")
	}
	x, err := NewExec("/bin/true", []string{"true"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, profile := range []string{HVT, SPT} {
		p, err := Policy(profile, x)
		if err != nil {
			t.Fatal(err)
		}
		insts, err := p.Assemble()
		if err != nil {
			t.Fatalf("%s: %v", profile, err)
		}
		vm, err := bpf.NewVM(insts)
		if err != nil {
			t.Fatalf("%s: %v", profile, err)
		}
		run := func(nr int, args ...uint64) uint32 {
			r, err := vm.Run(seccompData(nr, args...))
			if err != nil {
				t.Fatal(err)
			}
			return uint32(r)
		}
		cases := []progCase{
			{"execve of the prepared path", unix.SYS_EXECVE, []uint64{x.PathPointer()}, retAllow},
			{"execve of another pointer", unix.SYS_EXECVE, []uint64{x.PathPointer() + 8}, retEPERM},
			{"execve, pointer differs in the high half", unix.SYS_EXECVE, []uint64{x.PathPointer() ^ 1<<40}, retEPERM},
			{"openat", unix.SYS_OPENAT, nil, retAllow},
			{"mmap", unix.SYS_MMAP, nil, retAllow},
			{"exit_group", unix.SYS_EXIT_GROUP, nil, retAllow},
			{"socket(AF_NETLINK)", unix.SYS_SOCKET, []uint64{unix.AF_NETLINK}, retAllow},
			{"socket(AF_INET)", unix.SYS_SOCKET, []uint64{unix.AF_INET}, retEPERM},
			{"clone(thread)", unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND}, retAllow},
			{"clone(fork)", unix.SYS_CLONE, []uint64{uint64(unix.SIGCHLD)}, retEPERM},
			{"mount", unix.SYS_MOUNT, nil, retEPERM},
			{"ptrace", unix.SYS_PTRACE, nil, retEPERM},
			{"execveat", unix.SYS_EXECVEAT, nil, retEPERM},
			{"unshare", unix.SYS_UNSHARE, nil, retEPERM},
		}
		if profile == SPT {
			cases = append(cases,
				progCase{"ioctl(TUNSETIFF)", unix.SYS_IOCTL, []uint64{3, unix.TUNSETIFF}, retAllow},
				progCase{"ioctl(KVM_CREATE_VM)", unix.SYS_IOCTL, []uint64{3, 0xae01}, retEPERM},
				progCase{"epoll_pwait", unix.SYS_EPOLL_PWAIT, nil, retEPERM},
			)
		} else {
			cases = append(cases, progCase{"ioctl(KVM_CREATE_VM)", unix.SYS_IOCTL, []uint64{3, 0xae01}, retAllow})
		}
		for _, c := range cases {
			if got := run(c.nr, c.args...); got != c.want {
				t.Errorf("%s: %s = %#x, want %#x", profile, c.what, got, c.want)
			}
		}
		// A foreign architecture (i386 ABI) is refused.
		in := seccompData(unix.SYS_OPENAT)
		binary.BigEndian.PutUint32(in[4:], uint32(arch.I386.ID))
		if r, _ := vm.Run(in); uint32(r) == retAllow {
			t.Errorf("%s: i386 system call allowed", profile)
		}
	}
}

package seccomp

import (
	"encoding/binary"
	"errors"
	"runtime"
	"slices"
	"sort"
	"testing"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const (
	retAllow  = uint32(libseccomp.ActionAllow)
	retEPERM  = uint32(libseccomp.ActionErrno) | uint32(unix.EPERM)
	retENOSYS = uint32(libseccomp.ActionErrno) | uint32(unix.ENOSYS)
)

// Calls the tenders never need: each must be refused by every profile.
var mustDeny = []string{
	"mount", "umount2", "pivot_root", "chroot", "ptrace", "process_vm_writev", "process_vm_readv", "kexec_load",
	"init_module", "finit_module", "delete_module", "bpf", "perf_event_open", "unshare", "setns",
	"keyctl", "add_key", "open_by_handle_at", "userfaultfd", "execveat", "fork", "vfork",
	"setuid", "setgid", "setgroups", "capset", "socketpair", "connect", "listen", "accept", "accept4",
	"reboot", "swapon", "sethostname", "kill", "mknod", "chmod", "chown", "unlink", "rename",
	"open", "creat", "pidfd_open", "pidfd_getfd", "io_uring_setup", "memfd_secret", "mremap",
}

// The allowed calls of each profile, exactly: a change of the table must
// change this list too (and docs/solo5.md).
var (
	wantCommon = []string{
		"access", "arch_prctl", "bind", "brk", "clock_gettime", "close", "epoll_create1", "epoll_ctl", "epoll_pwait",
		"execve", "exit_group", "fcntl", "fstat", "futex", "getpid", "getrandom", "getsockname", "gettid", "ioctl",
		"lseek", "memfd_create", "mmap", "mprotect", "munmap", "newfstatat", "openat", "personality", "prctl",
		"pread64", "prlimit64", "pwrite64", "read", "recvmsg", "rseq", "rt_sigprocmask", "rt_sigreturn",
		"seccomp", "sendto", "set_robust_list", "set_tid_address", "socket", "tgkill", "timerfd_create",
		"timerfd_settime", "write",
	}
	wantHVTOnly = []string{"clone", "eventfd2", "exit", "madvise", "rt_sigaction"}
)

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
		var allowed []string
		for _, r := range rules {
			if _, dup := byName[r.Name]; dup {
				t.Errorf("%s: %s listed twice", profile, r.Name)
			}
			if r.Why == "" {
				t.Errorf("%s: %s has no reason", profile, r.Name)
			}
			if !r.Allowed() && len(r.Any) != 0 {
				t.Errorf("%s: %s is refused with a specific errno and has conditions", profile, r.Name)
			}
			for _, all := range r.Any {
				if len(all) == 0 {
					t.Errorf("%s: %s has an empty alternative (it would allow every call)", profile, r.Name)
				}
			}
			byName[r.Name] = r
			if r.Allowed() {
				allowed = append(allowed, r.Name)
			}
		}
		want := slices.Clone(wantCommon)
		if profile == HVT {
			want = append(want, wantHVTOnly...)
		}
		sort.Strings(want)
		if !slices.Equal(allowed, want) {
			t.Errorf("%s allows\n  %v\nwant\n  %v", profile, allowed, want)
		}
		for _, name := range mustDeny {
			if r, ok := byName[name]; ok && r.Allowed() {
				t.Errorf("%s: %s must not be allowed", profile, name)
			}
		}
		// Calls whose arguments select a more dangerous operation must
		// be conditional.
		for _, name := range []string{"socket", "ioctl", "mmap", "mprotect", "personality", "prctl", "prlimit64",
			"arch_prctl", "openat", "bind", "sendto", "tgkill", "clock_gettime", "epoll_ctl", "fcntl"} {
			if len(byName[name].Any) == 0 {
				t.Errorf("%s: %s must be conditional", profile, name)
			}
		}
		if r := byName["clone3"]; r.Errno != unix.ENOSYS {
			t.Errorf("%s: clone3 must fail with ENOSYS (glibc then falls back to clone), got %v", profile, r.Errno)
		}
		if profile == HVT && (len(byName["clone"].Any) == 0 || len(byName["rt_sigaction"].Any) == 0) {
			t.Errorf("hvt: clone and rt_sigaction must be conditional")
		}
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

// sysClone3 is clone3's number (x/sys/unix has it as SYS_CLONE3 only on
// some versions).
const sysClone3 = 435

const (
	rwx = unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC
	// personality flags READ_IMPLIES_EXEC and ADDR_NO_RANDOMIZE
	readImpliesExe = 0x0400000
	addrNoRandom   = 0x0040000
	// glibc fork() and the Go runtime's threads
	forkFlags    = unix.CLONE_CHILD_SETTID | unix.CLONE_CHILD_CLEARTID | uint64(unix.SIGCHLD)
	goCloneFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD | unix.CLONE_SETTLS
	// the gdb module's KVM requests (solo5-hvt-debug only)
	kvmGetSregs    = 0x8138ae83
	kvmSetGuestDbg = 0x4048ae9b
	sizeofSockIn   = unix.SizeofSockaddrInet4
)

// commonCases hold for both profiles: what the tenders need passes, the
// dangerous variants of the same calls do not.
func commonCases(x *Exec) []progCase {
	p := x.PathPointer()
	return []progCase{
		{"execve of the prepared path", unix.SYS_EXECVE, []uint64{p}, retAllow},
		{"execve of another pointer", unix.SYS_EXECVE, []uint64{p + 8}, retEPERM},
		{"execve, pointer differs in the high half", unix.SYS_EXECVE, []uint64{p ^ 1<<40}, retEPERM},
		{"execveat", unix.SYS_EXECVEAT, nil, retEPERM},

		{"openat O_RDONLY|O_CLOEXEC (libraries)", unix.SYS_OPENAT, []uint64{uint64(0xffffff9c), 0, unix.O_RDONLY | unix.O_CLOEXEC}, retAllow},
		{"openat O_RDWR (block image)", unix.SYS_OPENAT, []uint64{0, 0, unix.O_RDWR}, retAllow},
		{"openat O_RDWR|O_NONBLOCK (/dev/net/tun)", unix.SYS_OPENAT, []uint64{0, 0, unix.O_RDWR | unix.O_NONBLOCK}, retAllow},
		{"openat O_RDWR|O_CLOEXEC (/dev/kvm)", unix.SYS_OPENAT, []uint64{0, 0, unix.O_RDWR | unix.O_CLOEXEC}, retAllow},
		{"openat O_WRONLY|O_CREAT", unix.SYS_OPENAT, []uint64{0, 0, unix.O_WRONLY | unix.O_CREAT}, retEPERM},
		{"openat O_RDWR|O_TRUNC", unix.SYS_OPENAT, []uint64{0, 0, unix.O_RDWR | unix.O_TRUNC}, retEPERM},
		{"openat O_TMPFILE", unix.SYS_OPENAT, []uint64{0, 0, unix.O_RDWR | unix.O_TMPFILE}, retEPERM},
		{"open (legacy)", unix.SYS_OPEN, []uint64{0, unix.O_RDONLY}, retEPERM},

		{"mmap R|X (libraries)", unix.SYS_MMAP, []uint64{0, 4096, unix.PROT_READ | unix.PROT_EXEC, unix.MAP_PRIVATE}, retAllow},
		{"mmap RW (guest memory)", unix.SYS_MMAP, []uint64{0, 4096, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_SHARED | unix.MAP_ANONYMOUS}, retAllow},
		{"mmap PROT_NONE (thread stack guard)", unix.SYS_MMAP, []uint64{0, 4096, unix.PROT_NONE}, retAllow},
		{"mmap RWX", unix.SYS_MMAP, []uint64{0, 4096, rwx, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS}, retEPERM},
		{"mmap W|X", unix.SYS_MMAP, []uint64{0, 4096, unix.PROT_WRITE | unix.PROT_EXEC}, retEPERM},
		{"mprotect R|X (spt guest text)", unix.SYS_MPROTECT, []uint64{0, 4096, unix.PROT_READ | unix.PROT_EXEC}, retAllow},
		{"mprotect R (RELRO)", unix.SYS_MPROTECT, []uint64{0, 4096, unix.PROT_READ}, retAllow},
		{"mprotect RWX", unix.SYS_MPROTECT, []uint64{0, 4096, rwx}, retEPERM},
		{"mremap", unix.SYS_MREMAP, nil, retEPERM},

		{"personality query", unix.SYS_PERSONALITY, []uint64{0xffffffff}, retAllow},
		{"personality(READ_IMPLIES_EXEC)", unix.SYS_PERSONALITY, []uint64{readImpliesExe}, retEPERM},
		{"personality(ADDR_NO_RANDOMIZE)", unix.SYS_PERSONALITY, []uint64{addrNoRandom}, retEPERM},
		{"personality(PER_LINUX)", unix.SYS_PERSONALITY, []uint64{0}, retEPERM},

		{"epoll_create1", unix.SYS_EPOLL_CREATE1, []uint64{0}, retAllow},
		{"epoll_ctl ADD", unix.SYS_EPOLL_CTL, []uint64{3, unix.EPOLL_CTL_ADD}, retAllow},
		{"epoll_ctl DEL", unix.SYS_EPOLL_CTL, []uint64{3, unix.EPOLL_CTL_DEL}, retEPERM},
		{"epoll_pwait", unix.SYS_EPOLL_PWAIT, nil, retAllow},
		{"timerfd_create", unix.SYS_TIMERFD_CREATE, []uint64{unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK}, retAllow},
		{"timerfd_settime", unix.SYS_TIMERFD_SETTIME, nil, retAllow},
		{"memfd_create", unix.SYS_MEMFD_CREATE, []uint64{0, 0}, retAllow},
		{"clock_gettime(MONOTONIC)", unix.SYS_CLOCK_GETTIME, []uint64{unix.CLOCK_MONOTONIC}, retAllow},
		{"clock_gettime(REALTIME)", unix.SYS_CLOCK_GETTIME, []uint64{unix.CLOCK_REALTIME}, retAllow},
		{"clock_gettime(another process's CPU clock)", unix.SYS_CLOCK_GETTIME, []uint64{uint64(0xfffffffffffffff6)}, retEPERM},

		{"socket(AF_INET, SOCK_DGRAM) (SIOCGIFMTU)", unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_DGRAM, 0}, retAllow},
		{"socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) (getifaddrs)", unix.SYS_SOCKET,
			[]uint64{unix.AF_NETLINK, unix.SOCK_RAW | unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE}, retAllow},
		{"socket(AF_INET, SOCK_STREAM)", unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_STREAM, 0}, retEPERM},
		{"socket(AF_INET, SOCK_RAW)", unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP}, retEPERM},
		{"socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)", unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP}, retEPERM},
		{"socket(AF_INET6, SOCK_DGRAM)", unix.SYS_SOCKET, []uint64{unix.AF_INET6, unix.SOCK_DGRAM, 0}, retEPERM},
		{"socket(AF_UNIX)", unix.SYS_SOCKET, []uint64{unix.AF_UNIX, unix.SOCK_STREAM, 0}, retEPERM},
		{"socket(AF_PACKET)", unix.SYS_SOCKET, []uint64{unix.AF_PACKET, unix.SOCK_RAW, 0}, retEPERM},
		{"socket(AF_NETLINK, NETLINK_KOBJECT_UEVENT)", unix.SYS_SOCKET,
			[]uint64{unix.AF_NETLINK, unix.SOCK_RAW | unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT}, retEPERM},
		{"bind(sockaddr_nl)", unix.SYS_BIND, []uint64{4, 0, unix.SizeofSockaddrNetlink}, retAllow},
		{"bind(sockaddr_in)", unix.SYS_BIND, []uint64{5, 0, sizeofSockIn}, retEPERM},
		{"sendto(sockaddr_nl)", unix.SYS_SENDTO, []uint64{4, 0, 20, 0, 0, unix.SizeofSockaddrNetlink}, retAllow},
		{"sendto(sockaddr_in)", unix.SYS_SENDTO, []uint64{5, 0, 20, 0, 0, sizeofSockIn}, retEPERM},
		{"connect", unix.SYS_CONNECT, nil, retEPERM},
		{"listen", unix.SYS_LISTEN, nil, retEPERM},

		{"ioctl(TUNSETIFF)", unix.SYS_IOCTL, []uint64{4, unix.TUNSETIFF}, retAllow},
		{"ioctl(SIOCGIFMTU)", unix.SYS_IOCTL, []uint64{5, unix.SIOCGIFMTU}, retAllow},
		{"ioctl(SIOCETHTOOL)", unix.SYS_IOCTL, []uint64{5, unix.SIOCETHTOOL}, retAllow},
		{"ioctl(SIOCSIFMTU)", unix.SYS_IOCTL, []uint64{5, unix.SIOCSIFMTU}, retEPERM},
		{"ioctl(TUNSETOWNER)", unix.SYS_IOCTL, []uint64{4, unix.TUNSETOWNER}, retEPERM},
		{"ioctl(TIOCSTI)", unix.SYS_IOCTL, []uint64{0, unix.TIOCSTI}, retEPERM},
		{"ioctl(TCGETS)", unix.SYS_IOCTL, []uint64{0, unix.TCGETS}, retEPERM},
		{"ioctl(KVM_GET_SREGS) (gdb module only)", unix.SYS_IOCTL, []uint64{6, kvmGetSregs}, retEPERM},
		{"ioctl(KVM_SET_GUEST_DEBUG) (gdb module only)", unix.SYS_IOCTL, []uint64{6, kvmSetGuestDbg}, retEPERM},

		{"prctl(PR_SET_NO_NEW_PRIVS)", unix.SYS_PRCTL, []uint64{unix.PR_SET_NO_NEW_PRIVS, 1}, retAllow},
		{"prctl(PR_SET_DUMPABLE)", unix.SYS_PRCTL, []uint64{unix.PR_SET_DUMPABLE, 1}, retEPERM},
		{"prctl(PR_SET_MM)", unix.SYS_PRCTL, []uint64{unix.PR_SET_MM}, retEPERM},
		{"prctl(PR_CAP_AMBIENT)", unix.SYS_PRCTL, []uint64{unix.PR_CAP_AMBIENT}, retEPERM},
		{"seccomp (the tender's own filter)", unix.SYS_SECCOMP, []uint64{unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC}, retAllow},
		{"arch_prctl(ARCH_SET_FS)", unix.SYS_ARCH_PRCTL, []uint64{archSetFS}, retAllow},
		{"arch_prctl(ARCH_SET_GS)", unix.SYS_ARCH_PRCTL, []uint64{0x1001}, retEPERM},
		{"prlimit64 read of RLIMIT_STACK", unix.SYS_PRLIMIT64, []uint64{0, unix.RLIMIT_STACK, 0, 0x1000}, retAllow},
		{"prlimit64 setting RLIMIT_STACK", unix.SYS_PRLIMIT64, []uint64{0, unix.RLIMIT_STACK, 0x1000, 0}, retEPERM},
		{"prlimit64 of another process", unix.SYS_PRLIMIT64, []uint64{1, unix.RLIMIT_STACK, 0, 0x1000}, retEPERM},
		{"prlimit64 read of RLIMIT_NOFILE", unix.SYS_PRLIMIT64, []uint64{0, unix.RLIMIT_NOFILE, 0, 0x1000}, retEPERM},
		{"setrlimit", unix.SYS_SETRLIMIT, nil, retEPERM},

		{"fcntl(F_SETFL) (tap as @FD)", unix.SYS_FCNTL, []uint64{3, unix.F_SETFL, unix.O_NONBLOCK}, retAllow},
		{"fcntl(F_DUPFD) (sh moves its script fd)", unix.SYS_FCNTL, []uint64{3, unix.F_DUPFD, 10}, retAllow},
		{"fcntl(F_SETFD)", unix.SYS_FCNTL, []uint64{11, unix.F_SETFD, unix.FD_CLOEXEC}, retAllow},
		{"fcntl(F_SETOWN)", unix.SYS_FCNTL, []uint64{3, unix.F_SETOWN, 1}, retEPERM},
		{"fcntl(F_SETLEASE)", unix.SYS_FCNTL, []uint64{3, unix.F_SETLEASE, unix.F_WRLCK}, retEPERM},
		{"fcntl(F_NOTIFY)", unix.SYS_FCNTL, []uint64{3, unix.F_NOTIFY, 0}, retEPERM},
		{"dup2", unix.SYS_DUP2, nil, retEPERM},

		{"tgkill SIGABRT (abort())", unix.SYS_TGKILL, []uint64{1, 1, uint64(unix.SIGABRT)}, retAllow},
		{"tgkill SIGKILL", unix.SYS_TGKILL, []uint64{1, 1, uint64(unix.SIGKILL)}, retEPERM},
		{"kill", unix.SYS_KILL, []uint64{1, uint64(unix.SIGKILL)}, retEPERM},

		{"clone3", sysClone3, nil, retENOSYS},
		{"clone(fork)", unix.SYS_CLONE, []uint64{forkFlags}, retEPERM},
		{"clone(Go runtime thread flags)", unix.SYS_CLONE, []uint64{goCloneFlags}, retEPERM},
		{"fork", unix.SYS_FORK, nil, retEPERM},
		{"vfork", unix.SYS_VFORK, nil, retEPERM},

		{"futex", unix.SYS_FUTEX, nil, retAllow},
		{"rt_sigreturn", unix.SYS_RT_SIGRETURN, nil, retAllow},
		{"exit_group", unix.SYS_EXIT_GROUP, nil, retAllow},
		{"mount", unix.SYS_MOUNT, nil, retEPERM},
		{"ptrace", unix.SYS_PTRACE, nil, retEPERM},
		{"unshare", unix.SYS_UNSHARE, nil, retEPERM},
		{"setns", unix.SYS_SETNS, nil, retEPERM},
		{"bpf", unix.SYS_BPF, nil, retEPERM},
	}
}

// hvtCases: solo5-hvt's extra needs (KVM, the net I/O thread, signal handlers).
var hvtCases = []progCase{
	{"ioctl(KVM_CREATE_VM)", unix.SYS_IOCTL, []uint64{5, kvmCreateVM}, retAllow},
	{"ioctl(KVM_RUN)", unix.SYS_IOCTL, []uint64{7, kvmRun}, retAllow},
	{"ioctl(KVM_GET_SUPPORTED_CPUID) (request above 2^31)", unix.SYS_IOCTL, []uint64{5, kvmGetSupportedCPUID}, retAllow},
	{"ioctl(KVM_GET_SUPPORTED_CPUID) sign-extended", unix.SYS_IOCTL, []uint64{5, 0xffffffff00000000 | kvmGetSupportedCPUID}, retEPERM},
	{"ioctl(KVM_IOEVENTFD)", unix.SYS_IOCTL, []uint64{6, kvmIOEventFD}, retAllow},
	{"eventfd2", unix.SYS_EVENTFD2, []uint64{0, unix.EFD_CLOEXEC}, retAllow},
	{"clone(glibc pthread_create)", unix.SYS_CLONE, []uint64{pthreadCloneFlags}, retAllow},
	{"exit (thread)", unix.SYS_EXIT, nil, retAllow},
	{"madvise", unix.SYS_MADVISE, []uint64{0, 4096, unix.MADV_DONTNEED}, retAllow},
	{"rt_sigaction(SIGTERM)", unix.SYS_RT_SIGACTION, []uint64{uint64(unix.SIGTERM)}, retAllow},
	{"rt_sigaction(SIGINT)", unix.SYS_RT_SIGACTION, []uint64{uint64(unix.SIGINT)}, retAllow},
	{"rt_sigaction(33) (glibc pthread)", unix.SYS_RT_SIGACTION, []uint64{33}, retAllow},
	{"rt_sigaction(SIGSYS)", unix.SYS_RT_SIGACTION, []uint64{uint64(unix.SIGSYS)}, retEPERM},
	{"rt_sigaction(SIGCHLD)", unix.SYS_RT_SIGACTION, []uint64{uint64(unix.SIGCHLD)}, retEPERM},
}

// sptCases: solo5-spt is single-threaded, has no KVM and no signal handlers.
var sptCases = []progCase{
	{"ioctl(KVM_CREATE_VM)", unix.SYS_IOCTL, []uint64{5, kvmCreateVM}, retEPERM},
	{"ioctl(KVM_RUN)", unix.SYS_IOCTL, []uint64{7, kvmRun}, retEPERM},
	{"eventfd2", unix.SYS_EVENTFD2, []uint64{0, unix.EFD_CLOEXEC}, retEPERM},
	{"clone(glibc pthread_create)", unix.SYS_CLONE, []uint64{pthreadCloneFlags}, retEPERM},
	{"exit (thread)", unix.SYS_EXIT, nil, retEPERM},
	{"madvise", unix.SYS_MADVISE, nil, retEPERM},
	{"rt_sigaction(SIGTERM)", unix.SYS_RT_SIGACTION, []uint64{uint64(unix.SIGTERM)}, retEPERM},
}

// TestPolicyProgram runs the assembled BPF program of each profile on
// system calls: what the tenders need passes, the rest gets EPERM (clone3
// ENOSYS), and execve passes only with the prepared filename pointer.
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
		cases := commonCases(x)
		if profile == HVT {
			cases = append(cases, hvtCases...)
		} else {
			cases = append(cases, sptCases...)
		}
		for _, c := range cases {
			if got := run(c.nr, c.args...); got != c.want {
				t.Errorf("%s: %s = %#x, want %#x", profile, c.what, got, c.want)
			}
		}
		// Every name of mustDeny, with any arguments, is refused.
		for _, name := range mustDeny {
			nr, ok := arch.X86_64.SyscallNames[name]
			if !ok {
				t.Fatalf("unknown system call %s", name)
			}
			if got := run(nr, 0, 0, 0); got != retEPERM {
				t.Errorf("%s: %s = %#x, want EPERM", profile, name, got)
			}
		}
		// A foreign architecture (i386 ABI) and the x32 ABI are refused.
		in := seccompData(unix.SYS_OPENAT)
		binary.BigEndian.PutUint32(in[4:], uint32(arch.I386.ID))
		if r, _ := vm.Run(in); uint32(r) == retAllow {
			t.Errorf("%s: i386 system call allowed", profile)
		}
		if r := run(unix.SYS_READ | 0x40000000); r == retAllow {
			t.Errorf("%s: x32 system call allowed", profile)
		}
	}
}

// TestPolicyGroups: one allow group, one ENOSYS group with clone3, EPERM
// for everything else.
func TestPolicyGroups(t *testing.T) {
	x, err := NewExec("/bin/true", []string{"true"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Policy(HVT, x)
	if err != nil {
		t.Fatal(err)
	}
	if p.DefaultAction != libseccomp.ActionErrno {
		t.Errorf("default action %v, want errno (EPERM)", p.DefaultAction)
	}
	if len(p.Syscalls) != 2 || p.Syscalls[0].Action != libseccomp.ActionAllow ||
		uint32(p.Syscalls[1].Action) != retENOSYS || !slices.Equal(p.Syscalls[1].Names, []string{"clone3"}) {
		t.Errorf("groups %+v, want allow + ENOSYS{clone3}", p.Syscalls)
	}
}

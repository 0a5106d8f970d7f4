package seccomp

import (
	"fmt"
	"sort"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// The allow-lists below are derived from what the real Solo5 v0.12.1
// tenders call on Debian 12 (glibc 2.36), measured with strace from their
// execve to the installation of their own filter, and then verified by
// running both tenders under this filter (TestRealTenders; docs/solo5.md
// has the method and the per-call evidence). Everything not listed fails
// with EPERM.

// Cond is one test of a system call argument.
type Cond struct {
	Arg   uint32
	Op    libseccomp.Operation
	Value uint64
}

// All is a conjunction: it holds when every one of its conditions holds.
type All []Cond

// Rule is one system call of a profile.
//
// With Errno zero the call is allowed: unconditionally when Any is empty,
// otherwise when at least one element of Any holds. With Errno set the
// call is refused with that errno instead of EPERM (Any must be empty):
// clone3 gets ENOSYS so that glibc falls back to clone, whose flags the
// filter can read.
//
// Why says who needs the call and where it was seen, so that a reader can
// check the table against the tenders' sources and traces.
type Rule struct {
	Name  string
	Why   string
	Any   []All
	Errno unix.Errno
}

// Allowed reports whether the rule lets the call through (under its
// conditions), as opposed to refusing it with a specific errno.
func (r Rule) Allowed() bool { return r.Errno == 0 }

// oneOf is "argument arg equals one of vals".
func oneOf(arg uint32, vals ...uint64) []All {
	a := make([]All, len(vals))
	for i, v := range vals {
		a[i] = All{{Arg: arg, Op: libseccomp.Equal, Value: v}}
	}
	return a
}

func eq(arg uint32, v uint64) Cond { return Cond{Arg: arg, Op: libseccomp.Equal, Value: v} }

// noWX allows a protection argument (arg 2 of mmap and mprotect) unless it
// asks for PROT_WRITE and PROT_EXEC together.
var noWX = []All{
	{{Arg: 2, Op: libseccomp.BitsNotSet, Value: unix.PROT_EXEC}},
	{{Arg: 2, Op: libseccomp.BitsNotSet, Value: unix.PROT_WRITE}},
}

// oTmpfile is the bit that makes O_TMPFILE (unix.O_TMPFILE also contains
// O_DIRECTORY, which must not be part of the refused mask).
const oTmpfile = unix.O_TMPFILE &^ unix.O_DIRECTORY

// Flags of the one clone the tenders make: glibc 2.36's pthread_create
// (CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|
// CHILD_CLEARTID = 0x3d0f00), seen after clone3 returned ENOSYS.
const pthreadCloneFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
	unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID

// sizeofSockaddrNL is sizeof(struct sockaddr_nl): the address length of
// getifaddrs' netlink bind and sendto. An AF_INET socket refuses an
// address that short (EINVAL), so matching it limits bind and sendto to
// netlink in practice.
const sizeofSockaddrNL = unix.SizeofSockaddrNetlink

// archSetFS is ARCH_SET_FS of asm/prctl.h (not in x/sys/unix).
const archSetFS = 0x1002

// KVM ioctl request numbers solo5-hvt v0.12.1 issues (x/sys/unix has no
// KVM constants). glibc passes the request zero-extended, so a 64-bit
// Equal matches.
const (
	kvmGetAPIVersion       = 0xae00
	kvmCreateVM            = 0xae01
	kvmCheckExtension      = 0xae03
	kvmGetVCPUMmapSize     = 0xae04
	kvmGetSupportedCPUID   = 0xc008ae05
	kvmCreateVCPU          = 0xae41
	kvmSetUserMemoryRegion = 0x4020ae46
	kvmIOEventFD           = 0x4040ae79
	kvmRun                 = 0xae80
	kvmGetRegs             = 0x8090ae81
	kvmSetRegs             = 0x4090ae82
	kvmSetSregs            = 0x4138ae84
	kvmSetCPUID2           = 0x4008ae90
	kvmGetTSCKHz           = 0xaea3
)

// tapIoctls are the tap requests of both tenders when a NIC is attached by
// name: TUNSETIFF on /dev/net/tun, then SIOCGIFMTU (required) and
// SIOCETHTOOL ×2 (ETHTOOL_SGRO/SGSO off; failure ignored) on an AF_INET
// datagram socket.
var tapIoctls = []uint64{unix.TUNSETIFF, unix.SIOCGIFMTU, unix.SIOCETHTOOL}

// kvmIoctls are the KVM requests of solo5-hvt: set-up on /dev/kvm, the VM
// and the vCPU fds, KVM_RUN, KVM_IOEVENTFD for the net I/O thread, and
// KVM_GET_REGS, which only the error paths use (for the message).
// GET_SREGS, SET_GUEST_DEBUG, GET_FPU belong to the gdb and dumpcore
// modules, built only into solo5-hvt-debug, and stay refused.
var kvmIoctls = []uint64{kvmGetAPIVersion, kvmCreateVM, kvmCheckExtension, kvmGetVCPUMmapSize,
	kvmGetSupportedCPUID, kvmCreateVCPU, kvmSetUserMemoryRegion, kvmIOEventFD, kvmRun,
	kvmGetRegs, kvmSetRegs, kvmSetSregs, kvmSetCPUID2, kvmGetTSCKHz}

// common is what both tenders (and the runtime's last steps) need.
func common() []Rule {
	return []Rule{
		// The runtime's exec of the tender (pointer-matched, see Policy).
		{Name: "execve", Why: "the runtime's exec of the tender, only with the runtime's own filename pointer"},

		// The Go runtime on the filtered, locked thread between Load and
		// execve: a signal arriving there returns through rt_sigreturn, and
		// parking or waking the locked M is a futex (futexwakeup failing
		// is fatal in Go). A locked M never clones: Go hands thread
		// creation to its template thread.
		{Name: "futex", Why: "Go runtime before execve; hvt: glibc locks and pthread_join of the net I/O thread"},
		{Name: "rt_sigreturn", Why: "return from a signal handler (Go runtime before execve; hvt's handlers)"},
		{Name: "rt_sigprocmask", Why: "abort() on a tender assertion; hvt: pthread_create and the I/O thread"},

		// ld.so and glibc start-up (every trace).
		{Name: "brk", Why: "malloc"},
		{Name: "access", Why: "ld.so: access(/etc/ld.so.preload, R_OK)"},
		{Name: "arch_prctl", Why: "ld.so TLS; spt: the guest sets its own FS base", Any: oneOf(0, archSetFS)},
		{Name: "set_tid_address", Why: "glibc start-up"},
		{Name: "set_robust_list", Why: "glibc start-up (hvt: also the I/O thread)"},
		{Name: "rseq", Why: "glibc >= 2.35 start-up (hvt: also the I/O thread)"},
		{Name: "getrandom", Why: "glibc malloc (GRND_NONBLOCK)"},
		// prlimit64(0, RLIMIT_STACK, NULL, &old): a read of the own stack
		// limit. Setting a limit, or touching another process, is refused.
		{Name: "prlimit64", Why: "glibc start-up reads RLIMIT_STACK", Any: []All{{eq(0, 0), eq(1, unix.RLIMIT_STACK), eq(2, 0)}}},

		// Files: libraries, the kernel ELF, the block image, /dev/net/tun,
		// /dev/kvm, /dev/urandom (random MAC). Paths are pointers and cannot
		// be checked; no call creates or truncates a file.
		{Name: "openat", Why: "libraries, kernel ELF, block image (O_RDWR), /dev/net/tun, /dev/kvm, /dev/urandom; never O_CREAT/O_TRUNC/O_TMPFILE",
			Any: []All{{{Arg: 2, Op: libseccomp.BitsNotSet, Value: unix.O_CREAT | unix.O_TRUNC | oTmpfile}}}},
		{Name: "read", Why: "libraries, ELF headers, /dev/urandom, memfd, tap, eventfd"},
		{Name: "write", Why: "console, stderr messages, tap, memfd, eventfd"},
		{Name: "pread64", Why: "ELF header, phdrs, notes and segments; block reads"},
		{Name: "pwrite64", Why: "block writes"},
		{Name: "lseek", Why: "block capacity (SEEK_END), memfd rewind"},
		{Name: "newfstatat", Why: "ld.so and glibc fstat (AT_EMPTY_PATH), memfd size"},
		{Name: "fstat", Why: "the same on hosts whose glibc is older than 2.33 (the tenders link the host's glibc)"},
		{Name: "close", Why: "descriptors"},
		// F_SETFL: O_NONBLOCK on a tap given as --net:NAME=@FD (the
		// tenders' code path; the option itself is broken since v0.10.0,
		// the runtime passes taps by name). F_DUPFD and F_SETFD: not used by the
		// tenders, but by a /bin/sh script standing in for a tender (the
		// end-to-end test in tests/cli), which moves its script's fd up;
		// both are as harmless as dup. F_SETOWN, F_SETLEASE, F_NOTIFY,
		// F_SETPIPE_SZ, F_ADD_SEALS ... stay refused.
		{Name: "fcntl", Why: "F_SETFL (tap as @FD); F_DUPFD, F_SETFD (a shell script as the monitor)",
			Any: oneOf(1, unix.F_SETFL, unix.F_DUPFD, unix.F_SETFD)},

		// Memory: never writable and executable at once. Libraries are
		// mapped R|X, guest memory RW (hvt: MAP_SHARED, spt: MAP_FIXED at
		// 0x10000), and spt mprotects the guest's text to R|X.
		{Name: "mmap", Why: "libraries, malloc, guest memory, kvm_run; never PROT_WRITE|PROT_EXEC", Any: noWX},
		{Name: "mprotect", Why: "ld.so RELRO, guest segments (hvt: R, spt: R|X); never PROT_WRITE|PROT_EXEC", Any: noWX},
		{Name: "munmap", Why: "ld.so, malloc"},

		// Both tenders abort the process with personality(0xffffffff) (a
		// query) refused, and refuse to run with READ_IMPLIES_EXEC set.
		// Setting a personality is refused.
		{Name: "personality", Why: "query only, the tenders' READ_IMPLIES_EXEC check (hvt_drop_privileges, spt_init)", Any: oneOf(0, 0xffffffff)},

		// The poll hypercall: an epoll set with a timerfd (and the tap).
		{Name: "epoll_create1", Why: "poll hypercall (hvt and spt since v0.10)"},
		{Name: "epoll_ctl", Why: "poll hypercall: EPOLL_CTL_ADD of the timerfd and the tap", Any: oneOf(1, unix.EPOLL_CTL_ADD)},
		{Name: "epoll_pwait", Why: "poll hypercall (spt: by the guest)"},
		{Name: "timerfd_create", Why: "poll timeout"},
		{Name: "timerfd_settime", Why: "poll timeout"},
		{Name: "clock_gettime", Why: "walltime and monotonic clocks (spt guest: a real syscall; elsewhere the vDSO's fallback)",
			Any: oneOf(0, unix.CLOCK_REALTIME, unix.CLOCK_MONOTONIC)},

		// The tender installs its own, tighter filter: libseccomp's probes
		// (seccomp ops 0-3; each only tightens the caller), the export of
		// the BPF through a memfd, no_new_privs, then the filter.
		{Name: "memfd_create", Why: "the tender exports its own BPF through a memfd (hvt_bpf_filter / bpf_filter)"},
		{Name: "prctl", Why: "PR_SET_NO_NEW_PRIVS before the tender's own filter", Any: oneOf(0, unix.PR_SET_NO_NEW_PRIVS)},
		{Name: "seccomp", Why: "libseccomp probes and the tender's own filter"},

		// A tap attached by name (the runtime's way; --net:NAME=@FD is
		// broken in v0.12.1): getifaddrs checks the interface over
		// NETLINK_ROUTE, then TUNSETIFF on /dev/net/tun and SIOCGIFMTU /
		// SIOCETHTOOL on an AF_INET datagram socket. No other socket,
		// no connect, no listen.
		{Name: "socket", Why: "getifaddrs (AF_NETLINK, NETLINK_ROUTE); SIOCGIFMTU/SIOCETHTOOL (AF_INET, SOCK_DGRAM)", Any: []All{
			{eq(0, unix.AF_NETLINK), eq(1, unix.SOCK_RAW|unix.SOCK_CLOEXEC), eq(2, unix.NETLINK_ROUTE)},
			{eq(0, unix.AF_INET), eq(1, unix.SOCK_DGRAM), eq(2, 0)},
		}},
		{Name: "bind", Why: "getifaddrs: its netlink socket (address length of a sockaddr_nl)", Any: []All{{eq(2, sizeofSockaddrNL)}}},
		{Name: "sendto", Why: "getifaddrs: RTM_GETLINK/RTM_GETADDR to the kernel (sockaddr_nl: no datagram leaves through AF_INET)", Any: []All{{eq(5, sizeofSockaddrNL)}}},
		{Name: "getsockname", Why: "getifaddrs netlink socket"},
		{Name: "recvmsg", Why: "getifaddrs netlink replies"},
		{Name: "ioctl", Why: "tap: TUNSETIFF, SIOCGIFMTU, SIOCETHTOOL"},

		// abort(): a failed tender assertion ends in a clean SIGABRT.
		{Name: "getpid", Why: "abort()"},
		{Name: "gettid", Why: "abort()"},
		{Name: "tgkill", Why: "abort() raises SIGABRT on itself", Any: []All{{eq(2, uint64(unix.SIGABRT))}}},
		{Name: "exit_group", Why: "tender and spt guest exit"},

		// clone3's flags sit in a struct BPF cannot read: ENOSYS (not
		// EPERM) makes glibc fall back to clone, whose flags are checked.
		{Name: "clone3", Why: "glibc pthread_create tries it first; ENOSYS makes it use clone", Errno: unix.ENOSYS},
	}
}

// Rules is the policy table of a profile, sorted by name.
func Rules(profile string) ([]Rule, error) {
	r := common()
	ioctls := tapIoctls
	switch profile {
	case HVT:
		ioctls = append(append([]uint64{}, tapIoctls...), kvmIoctls...)
		r = append(r,
			// The net I/O thread (only with a NIC): an eventfd signalled by
			// KVM_IOEVENTFD, a pthread, and its exit when the guest halts.
			Rule{Name: "eventfd2", Why: "hvt net I/O thread wake-up (without it hvt falls back to hypercall I/O)"},
			Rule{Name: "clone", Why: "hvt net I/O thread: glibc pthread_create's flags exactly (no fork)", Any: oneOf(0, pthreadCloneFlags)},
			Rule{Name: "exit", Why: "hvt net I/O thread exit"},
			Rule{Name: "madvise", Why: "hvt: glibc frees the I/O thread's stack and malloc arena (MADV_DONTNEED)"},
			// SIGINT and SIGTERM handlers (errx "Exiting on signal"), and
			// glibc's SIGRTMIN+1 (33) handler set by pthread_create.
			Rule{Name: "rt_sigaction", Why: "hvt: SIGINT, SIGTERM handlers; glibc pthread_create's signal 33",
				Any: oneOf(0, uint64(unix.SIGINT), uint64(unix.SIGTERM), 33)},
		)
	case SPT:
		// spt is single-threaded and installs no signal handlers.
	default:
		return nil, fmt.Errorf("%w %q (known: %s, %s)", ErrUnknownProfile, profile, HVT, SPT)
	}
	for i := range r {
		if r[i].Name == "ioctl" {
			r[i].Any = oneOf(1, ioctls...)
			if profile == HVT {
				r[i].Why += "; KVM set-up, KVM_RUN, KVM_IOEVENTFD, KVM_GET_REGS (error messages)"
			}
		}
	}
	sort.Slice(r, func(i, j int) bool { return r[i].Name < r[j].Name })
	return r, nil
}

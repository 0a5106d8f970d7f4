package seccomp

import (
	"fmt"
	"sort"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// Cond is one alternative for an argument of a conditional rule.
type Cond struct {
	Arg   uint32
	Op    libseccomp.Operation
	Value uint64
}

// Rule allows one system call, unconditionally or when any of Any holds.
// Why says who needs it (kept in the table so that a reader can check it
// against the monitors' sources).
type Rule struct {
	Name string
	Why  string
	Any  []Cond
}

func eq(arg uint32, vals ...uint64) []Cond {
	c := make([]Cond, len(vals))
	for i, v := range vals {
		c[i] = Cond{Arg: arg, Op: libseccomp.Equal, Value: v}
	}
	return c
}

// common is what both solo5 tenders and the runtime's last steps need.
func common() []Rule {
	return []Rule{
		// The runtime's exec of the monitor (pointer-matched, see Policy),
		// and the few calls its thread may make before or instead of it.
		{Name: "execve", Why: "the runtime's exec of the monitor, only with the runtime's own filename pointer"},
		{Name: "write", Why: "console, tap, stderr; the runtime's error report if exec fails"},
		{Name: "futex", Why: "glibc locks, pthread join; Go runtime before exec"},
		{Name: "rt_sigreturn", Why: "signal handler return"},
		{Name: "rt_sigprocmask", Why: "glibc, pthread, Go runtime"},
		{Name: "rt_sigaction", Why: "tender signal handlers"},
		{Name: "sigaltstack", Why: "Go runtime before exec"},
		{Name: "nanosleep", Why: "Go runtime before exec"},
		{Name: "sched_yield", Why: "Go runtime, glibc spin locks"},
		{Name: "getpid", Why: "getifaddrs (netlink), abort()"},
		{Name: "gettid", Why: "abort(), Go runtime"},
		{Name: "tgkill", Why: "abort(), Go runtime preemption"},
		{Name: "exit", Why: "thread exit"},
		{Name: "exit_group", Why: "monitor and guest exit"},
		// Dynamic loader and glibc start-up.
		{Name: "brk", Why: "malloc"},
		{Name: "arch_prctl", Why: "TLS set-up by ld.so"},
		{Name: "set_tid_address", Why: "glibc start-up"},
		{Name: "set_robust_list", Why: "glibc start-up, pthread_create"},
		{Name: "rseq", Why: "glibc >= 2.35 start-up"},
		{Name: "prlimit64", Why: "glibc start-up (stack limit)"},
		{Name: "getrandom", Why: "glibc malloc, stack protector"},
		{Name: "access", Why: "ld.so (/etc/ld.so.preload)"},
		{Name: "open", Why: "kernel ELF, block image, /dev/net/tun, /dev/urandom, libraries"},
		{Name: "openat", Why: "same, through glibc's openat"},
		{Name: "read", Why: "ELF headers, tap, libraries"},
		{Name: "pread64", Why: "ELF segments, block reads"},
		{Name: "pwrite64", Why: "block writes"},
		{Name: "lseek", Why: "block size, ELF loading"},
		{Name: "fstat", Why: "ELF and block image size"},
		{Name: "newfstatat", Why: "fstat through glibc >= 2.33"},
		{Name: "fcntl", Why: "O_NONBLOCK on the tap"},
		{Name: "close", Why: "descriptors"},
		{Name: "mmap", Why: "guest memory, libraries, malloc"},
		{Name: "mprotect", Why: "ld.so RELRO, guest segments"},
		{Name: "munmap", Why: "libraries, malloc trim"},
		{Name: "madvise", Why: "malloc, thread stacks"},
		{Name: "clock_gettime", Why: "walltime/monotonic hypercalls"},
		// getifaddrs() checks that the tap exists: a netlink socket only.
		{Name: "socket", Why: "getifaddrs: AF_NETLINK only", Any: eq(0, unix.AF_NETLINK)},
		{Name: "bind", Why: "getifaddrs netlink socket"},
		{Name: "getsockname", Why: "getifaddrs netlink socket"},
		{Name: "sendto", Why: "getifaddrs netlink request"},
		{Name: "recvmsg", Why: "getifaddrs netlink reply"},
		{Name: "recvfrom", Why: "getifaddrs netlink reply (older glibc)"},
		// The tender installs its own filter (libseccomp) once loaded.
		{Name: "prctl", Why: "the tender's own PR_SET_NO_NEW_PRIVS before its filter"},
		{Name: "seccomp", Why: "the tender's own, tighter filter"},
		// Threads: the Go runtime before exec and solo5-hvt's I/O thread.
		// A fork (clone without CLONE_THREAD) is refused.
		{Name: "clone", Why: "threads only", Any: []Cond{{Arg: 0, Op: libseccomp.BitsSet, Value: unix.CLONE_THREAD}}},
	}
}

// Rules is the policy table of a profile, sorted by name.
func Rules(profile string) ([]Rule, error) {
	r := common()
	switch profile {
	case HVT:
		r = append(r,
			Rule{Name: "ioctl", Why: "KVM (many requests on /dev/kvm, the VM and vCPU fds) and TUNSETIFF"},
			Rule{Name: "epoll_create1", Why: "poll hypercall"},
			Rule{Name: "epoll_ctl", Why: "poll hypercall"},
			Rule{Name: "epoll_wait", Why: "poll hypercall"},
			Rule{Name: "epoll_pwait", Why: "poll hypercall"},
			Rule{Name: "timerfd_create", Why: "poll timeout"},
			Rule{Name: "timerfd_settime", Why: "poll timeout"},
			Rule{Name: "clone3", Why: "glibc pthread_create (I/O thread): glibc falls back to clone only on ENOSYS, not EPERM"},
			Rule{Name: "memfd_create", Why: "hvt exports its own filter through a memfd before loading it"},
		)
	case SPT:
		r = append(r,
			Rule{Name: "ioctl", Why: "TUNSETIFF; isatty() (TCGETS)", Any: eq(1, unix.TUNSETIFF, unix.TCGETS, unix.TIOCGWINSZ)},
			Rule{Name: "ppoll", Why: "poll hypercall"},
		)
	default:
		return nil, fmt.Errorf("%w %q (known: %s, %s)", ErrUnknownProfile, profile, HVT, SPT)
	}
	sort.Slice(r, func(i, j int) bool { return r[i].Name < r[j].Name })
	return r, nil
}

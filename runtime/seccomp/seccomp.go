// Package seccomp is the outer seccomp fence around a VMM: the runtime's
// re-exec child installs it on its own thread right before it execs the
// monitor, so the monitor runs under it from its first instruction.
//
// The filter is an allow-list per monitor (see Rules), derived from
// strace of the real Solo5 v0.12.1 tenders and tested by running them
// under it (docs/solo5.md); every other system call fails with EPERM
// (clone3 with ENOSYS, so that glibc falls back to clone, whose flags the
// filter checks). execve itself is allowed only with the exact filename
// pointer the runtime passes (Exec), which the monitor's fresh
// address space does not reproduce: in practice the exec of the monitor is
// the one execve the filter lets through. The solo5 monitors install their
// own, tighter filters after they loaded the guest; this one covers the
// loading phase and bounds what those filters may allow.
//
// Filters are built with github.com/elastic/go-seccomp-bpf (no BPF is
// assembled here).
package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// Profile names: the monitors that get a filter.
const (
	HVT = "solo5-hvt"
	SPT = "solo5-spt"
)

// Sentinel errors. Wrapped with %w and the details.
var (
	ErrUnknownProfile = errors.New("unknown seccomp profile")
	ErrUnsupported    = errors.New("the kernel does not support seccomp filters (CONFIG_SECCOMP_FILTER)")
	ErrLoad           = errors.New("cannot install the seccomp filter")
)

// Exec is an execve prepared in advance: its filename pointer is fixed
// before the filter is built, so that the filter can allow exactly this
// call. Keep the value alive until Run.
type Exec struct {
	path string
	ptr  *byte
	argv []*byte
	envv []*byte
}

// NewExec prepares execve(path, argv, env).
func NewExec(path string, argv, env []string) (*Exec, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return nil, fmt.Errorf("exec %s: %w", path, err)
	}
	a, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return nil, fmt.Errorf("exec %s: argv: %w", path, err)
	}
	e, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return nil, fmt.Errorf("exec %s: env: %w", path, err)
	}
	return &Exec{path: path, ptr: p, argv: a, envv: e}, nil
}

// PathPointer is the filename argument the filter allows for execve.
//
// The filter compares execve's filename argument with this address, so it
// is the address of the string Run passes (kept alive by e).
func (e *Exec) PathPointer() uint64 { return uint64(uintptr(unsafe.Pointer(e.ptr))) } //nolint:gosec // G103: see above

// Run execs. It returns only on failure. Unlike syscall.Exec it does not
// build the filename anew, so the pointer is the one the filter allows.
// The caller runs on a locked OS thread (the one the filter is on) and
// has restored whatever the Go runtime changed (RLIMIT_NOFILE).
func (e *Exec) Run() error {
	// unsafe: a raw execve of the pointers NewExec built, as syscall.Exec
	// does; runtime.KeepAlive keeps them until the call.
	//nolint:gosec // G103: see above
	_, _, errno := syscall.RawSyscall(unix.SYS_EXECVE,
		uintptr(unsafe.Pointer(e.ptr)),
		uintptr(unsafe.Pointer(&e.argv[0])),
		uintptr(unsafe.Pointer(&e.envv[0])))
	runtime.KeepAlive(e)
	return fmt.Errorf("exec %s: %w", e.path, errno)
}

// Policy is the filter of profile for an exec of x: one group of allowed
// calls, one group per specific errno (clone3: ENOSYS), EPERM for the rest.
func Policy(profile string, x *Exec) (libseccomp.Policy, error) {
	rules, err := Rules(profile)
	if err != nil {
		return libseccomp.Policy{}, err
	}
	allow := libseccomp.SyscallGroup{Action: libseccomp.ActionAllow}
	var refuse []libseccomp.SyscallGroup
	byErrno := map[unix.Errno]int{}
	for _, r := range rules {
		switch {
		case !r.Allowed():
			if len(r.Any) != 0 {
				return libseccomp.Policy{}, fmt.Errorf("seccomp profile %s: %s: a refused call cannot have conditions", profile, r.Name)
			}
			i, ok := byErrno[r.Errno]
			if !ok {
				// go-seccomp-bpf validates only the default action; a
				// group's action is returned as it is, errno included.
				i = len(refuse)
				byErrno[r.Errno] = i
				refuse = append(refuse, libseccomp.SyscallGroup{Action: libseccomp.Action(unix.SECCOMP_RET_ERRNO | uint32(r.Errno))})
			}
			refuse[i].Names = append(refuse[i].Names, r.Name)
		case r.Name == "execve":
			allow.NamesWithCondtions = append(allow.NamesWithCondtions, libseccomp.NameWithConditions{
				Name:       "execve",
				Conditions: libseccomp.ArgumentConditions{{Argument: 0, Operation: libseccomp.Equal, Value: x.PathPointer()}},
			})
		case len(r.Any) == 0:
			allow.Names = append(allow.Names, r.Name)
		default:
			for _, all := range r.Any {
				conds := make(libseccomp.ArgumentConditions, len(all))
				for i, c := range all {
					conds[i] = libseccomp.Condition{Argument: c.Arg, Operation: c.Op, Value: c.Value}
				}
				allow.NamesWithCondtions = append(allow.NamesWithCondtions, libseccomp.NameWithConditions{Name: r.Name, Conditions: conds})
			}
		}
	}
	groups := append([]libseccomp.SyscallGroup{allow}, refuse...)
	return libseccomp.Policy{DefaultAction: libseccomp.ActionErrno, Syscalls: groups}, nil
}

// Load installs the filter on the calling thread only (no TSYNC) and sets
// its no_new_privs bit, which an unprivileged caller needs and which the
// monitors set themselves anyway. The caller must have locked its OS
// thread and exec from it: the other threads of the Go runtime stay
// unfiltered and vanish at execve.
func Load(p libseccomp.Policy) error {
	if !libseccomp.Supported() {
		return ErrUnsupported
	}
	if err := libseccomp.LoadFilter(libseccomp.Filter{NoNewPrivs: true, Policy: p}); err != nil {
		return fmt.Errorf("%w: %w", ErrLoad, err)
	}
	return nil
}

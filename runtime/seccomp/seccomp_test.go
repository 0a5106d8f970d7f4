package seccomp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// helperEnv selects the helper mode of the test binary (TestMain): its
// value is the profile. With quietEnv set the helper only installs the
// filter and execs (the real tenders' test), without probing.
const (
	helperEnv = "URUNC_SECCOMP_HELPER"
	quietEnv  = "URUNC_SECCOMP_HELPER_QUIET"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode, os.Getenv(quietEnv) != "", os.Args[1:]))
	}
	os.Exit(m.Run())
}

// helper is the child: it installs the filter of profile on its locked
// thread exactly as the runtime does (NewExec, Policy, Load, Run: see
// jail.Exec in runtime/jail), unless quiet probes a few calls from Go
// (printed as "name=errno"), then execs argv with the prepared pointer.
func helper(profile string, quiet bool, argv []string) int {
	runtime.LockOSThread()
	x, err := NewExec(argv[0], argv, []string{"PATH=/usr/bin:/bin"})
	if err != nil {
		fmt.Println("prepare:", err)
		return 10
	}
	p, err := Policy(profile, x)
	if err != nil {
		fmt.Println("policy:", err)
		return 11
	}
	if err := Load(p); err != nil {
		fmt.Println("load:", err)
		if errors.Is(err, ErrUnsupported) {
			return 12
		}
		return 13
	}
	if !quiet {
		probes(x, argv[0])
	}
	err = x.Run()
	fmt.Println("exec:", err)
	return 14
}

// probes makes real system calls under the filter and prints their errno.
func probes(x *Exec, path string) {
	probe := func(name string, nr uintptr, a ...uintptr) {
		var args [6]uintptr
		copy(args[:], a)
		r, _, e := syscall.RawSyscall6(nr, args[0], args[1], args[2], args[3], args[4], args[5])
		if e == 0 && (nr == unix.SYS_SOCKET || nr == unix.SYS_EVENTFD2 || nr == unix.SYS_MEMFD_CREATE) {
			unix.Close(int(r))
		}
		if e == 0 && nr == unix.SYS_MMAP {
			unix.Syscall(unix.SYS_MUNMAP, r, 4096, 0)
		}
		fmt.Printf("%s=%d\n", name, int(e))
	}
	name, _ := unix.BytePtrFromString("probe")
	// What the tenders need.
	probe("socket_inet_dgram", unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_DGRAM, 0)
	probe("socket_netlink", unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	probe("personality_query", unix.SYS_PERSONALITY, 0xffffffff)
	probe("eventfd2", unix.SYS_EVENTFD2, 0, unix.EFD_CLOEXEC)
	probe("memfd_create", unix.SYS_MEMFD_CREATE, uintptr(unsafe.Pointer(name)), 0)
	probe("mmap_rx", unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uintptr(0), 0)
	probe("getpid", unix.SYS_GETPID)
	// What stays refused.
	probe("socket_inet_stream", unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0)
	probe("mmap_wx", unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uintptr(0), 0)
	probe("personality_set", unix.SYS_PERSONALITY, 0x0400000)
	probe("prctl_dumpable", unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, 1)
	probe("clone3", 435, 0, 0)
	probe("mount", unix.SYS_MOUNT, 0, 0, 0)
	probe("ptrace", unix.SYS_PTRACE, unix.PTRACE_TRACEME)
	probe("unshare", unix.SYS_UNSHARE, unix.CLONE_NEWNS)
	// The same program by another filename pointer: refused.
	other, _ := unix.BytePtrFromString(path)
	probe("execve_other", unix.SYS_EXECVE, uintptr(unsafe.Pointer(other)), uintptr(unsafe.Pointer(&x.argv[0])), uintptr(unsafe.Pointer(&x.envv[0])))
}

// runHelper runs the test binary in helper mode and returns its output.
func runHelper(t *testing.T, profile string, argv ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], argv...)
	cmd.Env = append(os.Environ(), helperEnv+"="+profile)
	cmd.Env = append(cmd.Env, quietEnv+"=")
	out, err := cmd.CombinedOutput()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() == 12 {
		t.Fatalf("this kernel cannot install seccomp filters (CONFIG_SECCOMP_FILTER missing?): %s", out)
	}
	return string(out), err
}

// TestFilterOnChild installs the real solo5-hvt and solo5-spt filters on a
// child process, checks allowed and refused calls from Go (what the
// tenders need and what stays refused), execs a real
// dynamically linked program under the filter (ld.so and glibc start-up
// must pass), and checks that the filter survives the exec: the shell can
// run builtins but cannot fork, and cannot execve anything itself.
func TestFilterOnChild(t *testing.T) {
	if !libseccomp.Supported() {
		t.Fatal("this kernel cannot install seccomp filters (CONFIG_SECCOMP_FILTER missing?)")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	for _, profile := range []string{HVT, SPT} {
		t.Run(profile, func(t *testing.T) {
			out, err := runHelper(t, profile, sh, "-c", "echo builtin-ok; /bin/true; echo status=$?; exec /bin/true")
			t.Logf("child output:\n%s", out)
			eperm, enosys := fmt.Sprint(int(unix.EPERM)), fmt.Sprint(int(unix.ENOSYS))
			want := map[string]string{
				"socket_inet_dgram":  "0",
				"socket_netlink":     "0",
				"personality_query":  "0",
				"memfd_create":       "0",
				"mmap_rx":            "0",
				"getpid":             "0",
				"eventfd2":           eperm,
				"socket_inet_stream": eperm,
				"mmap_wx":            eperm,
				"personality_set":    eperm,
				"prctl_dumpable":     eperm,
				"clone3":             enosys,
				"mount":              eperm,
				"ptrace":             eperm,
				"unshare":            eperm,
				"execve_other":       eperm,
			}
			if profile == HVT {
				want["eventfd2"] = "0"
			}
			for k, v := range want {
				if !strings.Contains(out, k+"="+v+"\n") {
					t.Errorf("%s: want %s=%s", profile, k, v)
				}
			}
			if strings.Contains(out, "exec:") {
				t.Fatalf("the prepared execve was refused: %s", out)
			}
			if !strings.Contains(out, "builtin-ok") {
				t.Errorf("the shell did not run under the filter")
			}
			// /bin/true needs a fork: refused. The shell's own exec of
			// /bin/true uses its own pointer: refused too, so sh fails.
			if strings.Contains(out, "status=0") {
				t.Errorf("the shell forked under the filter")
			}
			if err == nil {
				t.Errorf("the shell's exec of /bin/true succeeded under the filter")
			}
		})
	}
}

// TestExecUnderFilter: a dynamically linked program starts and exits 0
// under each filter (the runtime's exec, ld.so, glibc start-up, exit).
func TestExecUnderFilter(t *testing.T) {
	tr, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true on PATH")
	}
	for _, profile := range []string{HVT, SPT} {
		out, err := runHelper(t, profile, tr)
		if err != nil {
			t.Errorf("%s: %s under the filter: %v\n%s", profile, tr, err, out)
		}
	}
}

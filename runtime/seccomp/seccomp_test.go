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

// helperEnv selects the helper mode of the test binary (TestMain).
const helperEnv = "URUNC_SECCOMP_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// helper is the child: it installs the filter of profile on its locked
// thread exactly as the runtime does, probes a few calls from Go (printed
// as "name=errno"), then execs argv with the prepared pointer.
func helper(profile string, argv []string) int {
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
	probe := func(name string, nr uintptr, a ...uintptr) {
		var args [3]uintptr
		copy(args[:], a)
		r, _, e := syscall.RawSyscall(nr, args[0], args[1], args[2])
		if e == 0 && nr == unix.SYS_SOCKET {
			unix.Close(int(r))
		}
		fmt.Printf("%s=%d\n", name, int(e))
	}
	probe("socket_inet", unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_DGRAM, 0)
	probe("socket_netlink", unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE)
	probe("getpid", unix.SYS_GETPID)
	probe("mount", unix.SYS_MOUNT, 0, 0, 0)
	probe("ptrace", unix.SYS_PTRACE, unix.PTRACE_TRACEME)
	probe("unshare", unix.SYS_UNSHARE, unix.CLONE_NEWNS)
	// The same program by another filename pointer: refused.
	other, _ := unix.BytePtrFromString(argv[0])
	probe("execve_other", unix.SYS_EXECVE, uintptr(unsafe.Pointer(other)), uintptr(unsafe.Pointer(&x.argv[0])), uintptr(unsafe.Pointer(&x.envv[0])))
	err = x.Run()
	fmt.Println("exec:", err)
	return 14
}

// runHelper runs the test binary in helper mode and returns its output.
func runHelper(t *testing.T, profile string, argv ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], argv...)
	cmd.Env = append(os.Environ(), helperEnv+"="+profile)
	out, err := cmd.CombinedOutput()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() == 12 {
		t.Fatalf("this kernel cannot install seccomp filters (CONFIG_SECCOMP_FILTER missing?): %s", out)
	}
	return string(out), err
}

// TestFilterOnChild installs the real solo5-hvt and solo5-spt filters on a
// child process, checks allowed and refused calls from Go, execs a real
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
			want := map[string]string{
				"socket_inet":    fmt.Sprint(int(unix.EPERM)),
				"socket_netlink": "0",
				"getpid":         "0",
				"mount":          fmt.Sprint(int(unix.EPERM)),
				"ptrace":         fmt.Sprint(int(unix.EPERM)),
				"unshare":        fmt.Sprint(int(unix.EPERM)),
				"execve_other":   fmt.Sprint(int(unix.EPERM)),
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

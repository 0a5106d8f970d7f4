package seccomp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	libseccomp "github.com/elastic/go-seccomp-bpf"

	"github.com/urunc-dev/urunc/internal/fixtures"
	"github.com/urunc-dev/urunc/internal/testenv"
)

// The fixtures: Solo5 v0.12.1's tenders and test unikernels (see
// ../shared/guests/README.md). Not in the repository.
const solo5Fixtures = "solo5-v0.12.1"

// lockedBuffer collects a child's output while the test polls it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tenderRun is one tender started under the filter.
type tenderRun struct {
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	done           chan struct{}
	err            error
}

// startTender runs argv (argv[0] the tender's path) the way the runtime
// does: this test binary re-exec'd as a helper locks its thread, installs
// the profile's filter with NewExec/Policy/Load and execs the tender
// through the prepared pointer. With netns set, the helper starts in
// that network namespace (ip netns exec execs it, so the process started
// here is the tender).
func startTender(t *testing.T, profile, netns string, argv ...string) *tenderRun {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var cmd *exec.Cmd
	if netns != "" {
		cmd = exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", netns, self}, argv...)...)
	} else {
		cmd = exec.CommandContext(ctx, self, argv...)
	}
	cmd.Env = append(os.Environ(), helperEnv+"="+profile, quietEnv+"=1")
	r := &tenderRun{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &r.stdout, &r.stderr
	t.Logf("under the %s filter: %s", profile, strings.Join(argv, " "))
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		r.err = cmd.Wait()
		cancel()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// wait waits for the tender to exit and returns its exit code, or -signal
// when a signal ended it.
func (r *tenderRun) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		r.cmd.Process.Kill()
		<-r.done
		t.Fatalf("still running after %v\nstdout:\n%s\nstderr:\n%s", timeout, r.stdout.String(), r.stderr.String())
	}
	var ee *exec.ExitError
	switch {
	case r.err == nil:
		return 0
	case errors.As(r.err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	default:
		t.Fatalf("wait: %v", r.err)
		return 0
	}
}

// waitOutput waits until stdout contains s, or fails when the tender exits
// or timeout passes first.
func (r *tenderRun) waitOutput(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(r.stdout.String(), s) {
		select {
		case <-r.done:
			t.Fatalf("exited (%v) before printing %q\nstdout:\n%s\nstderr:\n%s", r.err, s, r.stdout.String(), r.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q after %v\nstdout:\n%s\nstderr:\n%s", s, timeout, r.stdout.String(), r.stderr.String())
		}
	}
}

// checkClean fails on the messages a refused call makes the tenders print:
// EPERM from a needed call, hvt's fallback warning without eventfd2, an
// assertion (personality refused), or the helper's own failure.
func (r *tenderRun) checkClean(t *testing.T) {
	t.Helper()
	out := r.stdout.String() + r.stderr.String()
	for _, bad := range []string{"Operation not permitted", "failed", "Assertion", "Function not implemented",
		"prepare:", "policy:", "load:", "exec:"} {
		if strings.Contains(out, bad) {
			t.Errorf("output contains %q:\n%s", bad, out)
		}
	}
}

// status returns the "Key:" lines of /proc/pid/status.
func status(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// tapNetns makes a private network namespace holding tap0 (10.0.0.1/24,
// up), removed (with its tap) when the test ends.
func tapNetns(t *testing.T) string {
	t.Helper()
	ns := fmt.Sprintf("urunc-s5-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	ip("-n", ns, "tuntap", "add", "tap0", "mode", "tap")
	ip("-n", ns, "link", "set", "lo", "up")
	ip("-n", ns, "link", "set", "tap0", "up")
	ip("-n", ns, "addr", "add", "10.0.0.1/24", "dev", "tap0")
	return ns
}

var received = regexp.MustCompile(`(\d+) packets received`)

// ping pings the guest from the namespace with busybox (the host has no
// ping binary), when busybox exists, and fails unless replies came back.
func ping(t *testing.T, ns string) {
	t.Helper()
	bb := "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		t.Logf("no %s: guest not pinged", bb)
		return
	}
	out, err := exec.Command("ip", "netns", "exec", ns, bb, "ping", "-c", "3", "-W", "3", "10.0.0.2").CombinedOutput()
	t.Logf("ping:\n%s", out)
	m := received.FindSubmatch(out)
	if m == nil {
		t.Fatalf("ping: %v", err)
	}
	if n, _ := strconv.Atoi(string(m[1])); n == 0 {
		t.Fatalf("the guest answered no ping")
	}
}

// TestRealTenders runs the real Solo5 v0.12.1 tenders with their test
// unikernels under the runtime's filter, as the runtime execs them:
// test_hello and test_blk must print SUCCESS and exit 0; test_net and
// test_net_mirage must attach a tap by name in a private network
// namespace, serve ping, run under two filters (ours and the tender's own)
// and stop on SIGTERM as without a filter (hvt: exit 1 from its handler;
// spt: no handler, killed); test_net with a bad command line must exit 1
// after the net I/O thread's teardown. No output may show a refused call.
// hvt runs when /dev/kvm opens. An end-to-end test: URUNC_E2E=1 and root
// (netns, tap, /dev/kvm).
func TestRealTenders(t *testing.T) {
	testenv.RequireRoot(t) // network namespaces, taps, /dev/kvm
	dir := fixtures.Guests(t, solo5Fixtures)
	if !libseccomp.Supported() {
		t.Fatal("this kernel cannot install seccomp filters (CONFIG_SECCOMP_FILTER missing?)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (Debian package iproute2)")
	}
	for _, tc := range []struct {
		tender, profile, ext string
	}{{"solo5-hvt", HVT, "hvt"}, {"solo5-spt", SPT, "spt"}} {
		t.Run(tc.tender, func(t *testing.T) {
			tender := filepath.Join(dir, tc.tender)
			kernel := func(name string) string { return filepath.Join(dir, name+"."+tc.ext) }
			for _, p := range []string{tender, kernel("test_hello"), kernel("test_blk"), kernel("test_net"), kernel("test_net_mirage")} {
				if _, err := os.Stat(p); err != nil {
					t.Skip(fixtures.Missing(p))
				}
			}
			if tc.profile == HVT {
				f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
				if err != nil {
					t.Skipf("solo5-hvt needs /dev/kvm: %v", err)
				}
				f.Close()
			}

			t.Run("hello", func(t *testing.T) {
				r := startTender(t, tc.profile, "", tender, "--mem=64", kernel("test_hello"), "Hello_Solo5")
				if code := r.wait(t, time.Minute); code != 0 {
					t.Errorf("exit %d, want 0", code)
				}
				if !strings.Contains(r.stdout.String(), "SUCCESS") {
					t.Errorf("no SUCCESS")
				}
				r.checkClean(t)
				t.Logf("stdout:\n%s", r.stdout.String())
			})

			t.Run("blk", func(t *testing.T) {
				disk := filepath.Join(t.TempDir(), "disk.img")
				if err := os.WriteFile(disk, make([]byte, 1<<20), 0o600); err != nil {
					t.Fatal(err)
				}
				r := startTender(t, tc.profile, "", tender, "--mem=64", "--block:storage="+disk, kernel("test_blk"))
				if code := r.wait(t, time.Minute); code != 0 {
					t.Errorf("exit %d, want 0", code)
				}
				if !strings.Contains(r.stdout.String(), "SUCCESS") {
					t.Errorf("no SUCCESS\nstdout:\n%s\nstderr:\n%s", r.stdout.String(), r.stderr.String())
				}
				r.checkClean(t)
			})

			for _, nc := range []struct {
				name, kernel string
				args         []string
				want         []string
			}{
				{"net", "test_net", []string{"--net:service0=tap0"}, nil},
				{"net_mirage", "test_net_mirage",
					[]string{"--net:service=tap0", "--net-mac:service=02:aa:bb:cc:dd:01"},
					[]string{"02aabbccdd01", "Command line is: --ipv4=10.0.0.2/24"}},
			} {
				t.Run(nc.name, func(t *testing.T) {
					ns := tapNetns(t)
					argv := append(append([]string{tender, "--mem=64"}, nc.args...), kernel(nc.kernel))
					if nc.kernel == "test_net_mirage" {
						argv = append(argv, "--ipv4=10.0.0.2/24")
					}
					r := startTender(t, tc.profile, ns, argv...)
					r.waitOutput(t, "Serving ping on 10.0.0.2", time.Minute)
					for _, w := range nc.want {
						if !strings.Contains(r.stdout.String(), w) {
							t.Errorf("stdout lacks %q", w)
						}
					}
					// Ours and the tender's own filter, no_new_privs.
					st := status(t, r.cmd.Process.Pid)
					if st["Seccomp"] != "2" || st["Seccomp_filters"] != "2" || st["NoNewPrivs"] != "1" {
						t.Errorf("tender Seccomp %q Seccomp_filters %q NoNewPrivs %q, want 2 2 1", st["Seccomp"], st["Seccomp_filters"], st["NoNewPrivs"])
					}
					if !strings.HasPrefix(st["Name"], "solo5-") {
						t.Errorf("pid %d is %q, not the tender", r.cmd.Process.Pid, st["Name"])
					}
					ping(t, ns)
					if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
						t.Fatal(err)
					}
					code := r.wait(t, 30*time.Second)
					switch tc.profile {
					case HVT:
						if code != 1 || !strings.Contains(r.stderr.String(), "Exiting on signal 15") {
							t.Errorf("after SIGTERM: exit %d, stderr %q; want 1 and \"Exiting on signal 15\"", code, r.stderr.String())
						}
					case SPT:
						if code != -int(syscall.SIGTERM) {
							t.Errorf("after SIGTERM: exit %d, want killed by SIGTERM", code)
						}
					}
					r.checkClean(t)
				})
			}

			// The guest exits 1 on a bad command line: with a NIC this
			// covers hvt's halt path (I/O thread wake-up, exit, join).
			t.Run("net_exit", func(t *testing.T) {
				ns := tapNetns(t)
				r := startTender(t, tc.profile, ns, tender, "--mem=64", "--net:service0=tap0", kernel("test_net"), "x")
				if code := r.wait(t, time.Minute); code != 1 {
					t.Errorf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, r.stdout.String(), r.stderr.String())
				}
				if !strings.Contains(r.stdout.String(), "Error in command line") {
					t.Errorf("no \"Error in command line\"")
				}
				r.checkClean(t)
			})
		})
	}
}

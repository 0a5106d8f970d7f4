// Package oci_test runs the OCI runtime-tools validation suite against
// runc and then against bin/urunc, exactly as the suite's README calls a
// runtime (RUNTIME=<path>, no global flags), and fails when urunc's
// results differ from runc's. urunc hands every bundle of the suite (none
// is a unikernel) to runc, so the two must agree program by program.
// It runs with URUNC_E2E=1 as root (make test, make e2e);
// docs/conformance.md has the results and how to run it.
package oci_test

import (
	"bufio"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/internal/e2e"
	"github.com/urunc-dev/urunc/internal/testenv"
)

// programTimeout bounds one validation program (the slowest, delete,
// takes about 14 s: it polls a status for 10 s).
const programTimeout = 60

// flaky programs may differ between the runtimes: such a program is run
// again for both, once. If it still differs, the difference is allowed
// (and logged with the reason) only when, in both attempts, one of the
// two results shows the flake's own sign in its output: any other
// difference fails the test.
var flaky = map[string]struct {
	reason string
	sign   *regexp.Regexp
}{
	"process_rlimits": {"the test sets RLIMIT_AS soft = 1 GiB, which runc init applies before loading seccomp; " +
		"create then fails now and then with 'error adding seccomp filter rule for syscall geteuid: cannot allocate memory', " +
		"with runc alone as well as through urunc",
		regexp.MustCompile(`cannot allocate memory`)},
	"pidfile": {"racy test: the container's process (true) exits before the test's kill, which then fails with 'container not running'; " +
		"it fails so almost always, and passes now and then, with either runtime",
		regexp.MustCompile(`container not running`)},
}

// suite is the built validation suite (make oci-suite).
type suite struct {
	version string
	bin     string // the validation programs
	work    string // cwd of every program: runtimetest and rootfs-amd64.tar.gz
	out     string // results of the last run, per runtime
}

// suiteVersion is the pinned runtime-tools version (tests/oci/suite/go.mod).
func suiteVersion(t *testing.T) string {
	data, err := os.ReadFile(filepath.Join(e2e.RepoRoot(), "tests", "oci", "suite", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "require" && f[1] == "github.com/opencontainers/runtime-tools" {
			return f[2]
		}
	}
	t.Fatal("tests/oci/suite/go.mod does not require github.com/opencontainers/runtime-tools on one line")
	return ""
}

func openSuite(t *testing.T) suite {
	v := suiteVersion(t)
	dir := filepath.Join(e2e.RepoRoot(), "build", "oci", v)
	s := suite{version: v, bin: filepath.Join(dir, "bin"), work: filepath.Join(dir, "work"), out: filepath.Join(dir, "results")}
	// A dynamic runtimetest cannot run in the suite's busybox rootfs, and
	// then most programs print nothing and exit 0.
	f, err := elf.Open(filepath.Join(s.work, "runtimetest"))
	if err != nil {
		t.Fatalf("runtimetest: %v (make oci-suite)", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("runtimetest is dynamically linked: build it with CGO_ENABLED=0 (make oci-suite)")
		}
	}
	if _, err := os.Stat(filepath.Join(s.work, "rootfs-amd64.tar.gz")); err != nil {
		t.Fatalf("%v (make oci-suite)", err)
	}
	return s
}

func (s suite) programs(t *testing.T) []string {
	entries, err := os.ReadDir(s.bin)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) < 50 {
		t.Fatalf("only %d validation programs in %s", len(names), s.bin)
	}
	return names
}

// run runs one program against runtime with bundles in tmpdir, in a
// private mount namespace (linux_ns_itype shares its caller's: runc's
// mounts of its bundle would otherwise land on the host), under
// timeout(1). Output goes to files: an orphan may keep a pipe open.
func (s suite) run(t *testing.T, program, runtime, tmpdir, out string) result {
	t.Helper()
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	tapPath, errPath := filepath.Join(out, program+".tap"), filepath.Join(out, program+".err")
	tapF, err := os.Create(tapPath)
	if err != nil {
		t.Fatal(err)
	}
	errF, _ := os.Create(errPath)
	defer tapF.Close()
	defer errF.Close()
	ctx, cancel := context.WithTimeout(context.Background(), (programTimeout+20)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "--",
		"timeout", "-k", "5", fmt.Sprint(programTimeout), filepath.Join(s.bin, program))
	cmd.Dir = s.work
	cmd.Env = append(environWithout("RUNTIME", "TMPDIR"), "RUNTIME="+runtime, "TMPDIR="+tmpdir)
	cmd.Stdout, cmd.Stderr = tapF, errF
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	rc := 0
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		rc = 137
	case errors.As(err, &ee):
		rc = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", program, err)
	}
	r := parseTAP(program, e2e.ReadFile(tapPath), rc)
	r.Secs = time.Since(start).Seconds()
	r.Out = out
	r.Output = e2e.ReadFile(tapPath) + e2e.ReadFile(errPath)
	return r
}

func environWithout(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, k) {
			env = append(env, kv)
		}
	}
	return env
}

// pass is one runtime's run of a list of programs.
type pass struct {
	name    string // runc, urunc, runc-retry, ...
	runtime string // RUNTIME
	tmpdir  string
	results map[string]result
	secs    float64
}

// TestOCIValidation: every validation program gives urunc the same
// result as runc (verdict, ok/not-ok/skip counts, failing descriptions),
// and neither leaves anything behind.
func TestOCIValidation(t *testing.T) {
	testenv.Require(t) // about 3 minutes
	if os.Geteuid() != 0 {
		t.Skip("needs root: the validation programs create containers, cgroups and mounts (run as root, or make test as root)")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc not found: install Debian package runc")
	}
	for _, tool := range []string{"unshare", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found", tool)
		}
	}
	e2e.Make(t, "build", "oci-suite")
	s := openSuite(t)
	programs := s.programs(t)
	urunc := e2e.URuncBin()

	// Only one run of the suite at a time on this machine: it uses fixed
	// cgroups (/cgrouptest). Released last, after the cleanup below.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "urunc-oci-validation.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })

	// Orphans of the programs become our children: found and reaped.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })

	for _, d := range cgroupDirs() {
		if len(cgroupProcs(d)) > 0 {
			t.Fatalf("the suite's cgroup %s has processes: is the suite running elsewhere on this machine?", d)
		}
	}
	// What an interrupted earlier run left (a test timeout skips the
	// cleanups) goes first: its containers, by the bundle prefix every run
	// of this test uses, and the suite's empty cgroups.
	stale := filepath.Join(os.TempDir(), "urunc-oci-run-")
	if failed := cleanup(runc, urunc, stale); len(failed) > 0 {
		t.Fatalf("cleaning up after an earlier run: %s", strings.Join(failed, "; "))
	}

	// Not t.TempDir(): its 0700 directories keep a container whose root
	// is a mapped uid (linux_uid_mappings, linux_ns_nopath's user
	// namespace) from reaching its bundle ("permission denied").
	base, err := os.MkdirTemp("", "urunc-oci-run-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if mountsUnder(base+"/") == nil {
			os.RemoveAll(base)
		}
	})
	var prefixes []string
	t.Cleanup(func() {
		for _, p := range prefixes {
			if failed := cleanup(runc, urunc, p); len(failed) > 0 {
				t.Errorf("cleanup: %s", strings.Join(failed, "; "))
			}
		}
		cleanup(runc, urunc, base+"/") // the suite's cgroup parents
	})

	runPass := func(name, runtime string, progs []string) *pass {
		p := &pass{name: name, runtime: runtime, tmpdir: filepath.Join(base, name), results: map[string]result{}}
		if err := os.MkdirAll(p.tmpdir, 0o755); err != nil {
			t.Fatal(err)
		}
		prefixes = append(prefixes, p.tmpdir+"/")
		out := filepath.Join(s.out, name)
		os.RemoveAll(out)
		start := time.Now()
		for _, prog := range progs {
			p.results[prog] = s.run(t, prog, runtime, p.tmpdir, out)
			// What a program leaves can break the next one (a container
			// holding /cgrouptest, an id reused): check and clean after each.
			if probs := collect(runc, p.tmpdir+"/").problems(); len(probs) > 0 {
				t.Errorf("%s against %s left: %s", prog, name, strings.Join(probs, "; "))
			}
			if failed := cleanup(runc, urunc, p.tmpdir+"/"); len(failed) > 0 {
				t.Errorf("cleanup after %s against %s: %s", prog, name, strings.Join(failed, "; "))
			}
		}
		p.secs = time.Since(start).Seconds()
		if left := collect(runc, p.tmpdir+"/").all(); len(left) > 0 {
			t.Errorf("still there after cleaning up %s: %s", name, strings.Join(left, "; "))
		}
		t.Logf("%s: %d programs in %.0f s (%s)", name, len(progs), p.secs, summary(p.results))
		return p
	}

	// Sequentially, never both at once: they share the suite's cgroups.
	runcPass := runPass("runc", runc, programs)
	uruncPass := runPass("urunc", urunc, programs)

	var differ []string
	for _, prog := range programs {
		if runcPass.results[prog].key() != uruncPass.results[prog].key() {
			differ = append(differ, prog)
		}
	}
	var retry []string
	for _, prog := range differ {
		if _, ok := flaky[prog]; ok {
			retry = append(retry, prog)
		}
	}
	again := map[string][2]result{}
	if len(retry) > 0 {
		t.Logf("differ, known flaky, run again: %v", retry)
		rr := runPass("runc-retry", runc, retry)
		ur := runPass("urunc-retry", urunc, retry)
		for _, prog := range retry {
			again[prog] = [2]result{rr.results[prog], ur.results[prog]}
		}
	}
	same := 0
	for _, prog := range programs {
		rr, ur := runcPass.results[prog], uruncPass.results[prog]
		if rr.key() == ur.key() {
			same++
			continue
		}
		if f, ok := flaky[prog]; ok {
			rr2, ur2 := again[prog][0], again[prog][1]
			if rr2.key() == ur2.key() {
				same++
				t.Logf("%s: differed (runc %s, urunc %s), the same when run again (%s); known flaky: %s", prog, rr.short(), ur.short(), rr2.short(), f.reason)
				continue
			}
			signed := func(a, b result) bool { return f.sign.MatchString(a.Output) || f.sign.MatchString(b.Output) }
			if signed(rr, ur) && signed(rr2, ur2) {
				t.Logf("%s: differs twice (runc %s then %s, urunc %s then %s), each time with the flake's sign %q; allowed: %s",
					prog, rr.short(), rr2.short(), ur.short(), ur2.short(), f.sign, f.reason)
				continue
			}
		}
		msg := fmt.Sprintf("%s: urunc's result differs from runc's:\n  runc:  %s\n  urunc: %s\n  TAP: %s, %s", prog, rr.key(), ur.key(),
			filepath.Join(rr.Out, prog+".tap"), filepath.Join(ur.Out, prog+".tap"))
		if a, ok := again[prog]; ok {
			msg += fmt.Sprintf("\n  again: runc %s, urunc %s (without the sign of its known flake)", a[0].key(), a[1].key())
		}
		t.Error(msg)
	}
	table := resultTable(programs, runcPass, uruncPass, again)
	os.WriteFile(filepath.Join(s.out, "summary.md"), []byte(table), 0o644)
	t.Logf("runtime-tools %s: %d/%d programs give urunc the same result as runc; table in %s\n%s",
		s.version, same, len(programs), filepath.Join(s.out, "summary.md"), table)
}

func summary(results map[string]result) string {
	n := map[string]int{}
	ok, nok, skip := 0, 0, 0
	for _, r := range results {
		n[r.Verdict]++
		ok, nok, skip = ok+r.OK, nok+r.NotOK, skip+r.Skip
	}
	return fmt.Sprintf("PASS %d, FAIL %d, NOPLAN %d, TIMEOUT %d; ok %d, not ok %d, skip %d", n["PASS"], n["FAIL"], n["NOPLAN"], n["TIMEOUT"], ok, nok, skip)
}

// resultTable is a Markdown table: verdict and ok/not-ok/skip for each
// runtime, whether they agree, and each program's wall time.
func resultTable(programs []string, a, b *pass, again map[string][2]result) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "| program | runc | urunc | same | runc s | urunc s |\n|---|---|---|---|--:|--:|\n")
	for _, prog := range programs {
		r, u := a.results[prog], b.results[prog]
		same := "yes"
		if r.key() != u.key() {
			same = "**no**"
			if rr, ok := again[prog]; ok {
				same += fmt.Sprintf(" (again: runc %s, urunc %s)", rr[0].short(), rr[1].short())
			}
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %.1f | %.1f |\n", prog, r.short(), u.short(), same, r.Secs, u.Secs)
	}
	fmt.Fprintf(&sb, "\nrunc: %s, %.0f s. urunc: %s, %.0f s.\n", summary(a.results), a.secs, summary(b.results), b.secs)
	return sb.String()
}

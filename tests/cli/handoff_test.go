package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/internal/e2e"
	"github.com/urunc-dev/urunc/internal/testenv"
)

// The hand-off to runc: bundles without a unikernel configuration are run
// by runc, and every later command reaches urunc first. runc must keep
// the container under urunc's root (--root, default /run/urunc), or urunc
// cannot find it again. These tests use plain busybox bundles and need
// runc, busybox and root, but neither qemu nor the test unikernel.

var buildURuncOnce sync.Once

// uruncRoot is urunc's default --root.
const uruncRoot = "/run/urunc"

// listEntry is the part of urunc list --format json (runc's shape) the
// tests read.
type listEntry struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// setupHandoff skips unless end-to-end tests run (URUNC_E2E=1) as root
// with runc and busybox, and builds bin/urunc once per test binary. It
// returns runc's path.
func setupHandoff(t *testing.T) string {
	t.Helper()
	e2e.RequireRoot(t)
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc not found: install Debian package runc")
	}
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("busybox not found: install Debian package busybox-static")
	}
	buildURuncOnce.Do(func() { e2e.Make(t, "build") })
	return runc
}

// handoffID is a container id no other test or session uses.
func handoffID(name string) string {
	return fmt.Sprintf("handoff-%s-%d-%d", name, os.Getpid(), time.Now().UnixNano()%1e9)
}

// runcBundle is an ordinary busybox bundle (runc spec, no terminal) that
// runs args, in its own cgroup /<id> in every hierarchy.
func runcBundle(t *testing.T, runc, id string, args ...string) string {
	t.Helper()
	bundle := t.TempDir()
	bin := filepath.Join(bundle, "rootfs", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	bb, _ := exec.LookPath("busybox")
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(runc, "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v %s", err, out)
	}
	e2e.EditSpec(t, bundle, func(s *specs.Spec) {
		s.Process.Terminal = false
		s.Process.Args = args
		s.Linux.CgroupsPath = "/" + id
	})
	return bundle
}

// handoffCLI runs bin/urunc with fixed global flags (none: the defaults), in dir.
type handoffCLI struct {
	bin     string
	globals []string
	dir     string
	env     []string
}

// run runs urunc with a 60 s limit. Stdout and stderr are files: a
// created container inherits them and must not keep the call waiting.
func (u handoffCLI) run(t *testing.T, args ...string) e2e.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, u.bin, append(slices.Clone(u.globals), args...)...)
	cmd.Dir = u.dir
	cmd.Env = append(os.Environ(), u.env...)
	dir := t.TempDir()
	outF, _ := os.Create(filepath.Join(dir, "stdout"))
	errF, _ := os.Create(filepath.Join(dir, "stderr"))
	cmd.Stdout, cmd.Stderr = outF, errF
	err := cmd.Run()
	outF.Close()
	errF.Close()
	r := e2e.Result{Stdout: e2e.ReadFile(outF.Name()), Stderr: e2e.ReadFile(errF.Name())}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("urunc %v did not finish within 60 s", args)
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("urunc %v: %v", args, err)
	}
	return r
}

func (u handoffCLI) must(t *testing.T, args ...string) e2e.Result {
	t.Helper()
	r := u.run(t, args...)
	if r.Code != 0 {
		t.Fatalf("urunc %v %v: %s", u.globals, args, r)
	}
	return r
}

func (u handoffCLI) status(t *testing.T, id string) string {
	t.Helper()
	var st struct{ Status string }
	r := u.must(t, "state", id)
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("state %s: %v: %q", id, err, r.Stdout)
	}
	return st.Status
}

// runcState is runc's own view of id under root ("" when runc does not
// know it), and the container's pid.
func runcState(t *testing.T, runc, root, id string) (string, int) {
	t.Helper()
	out, err := exec.Command(runc, "--root", root, "state", id).Output()
	if err != nil {
		return "", 0
	}
	var st struct {
		Status string
		Pid    int
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("runc state %s: %v: %q", id, err, out)
	}
	return st.Status, st.Pid
}

// runcList returns the ids `runc --root root list` shows.
func runcList(t *testing.T, runc, root string) []string {
	t.Helper()
	out, err := exec.Command(runc, "--root", root, "list", "-q").Output()
	if err != nil {
		t.Fatalf("runc --root %s list: %v", root, err)
	}
	return strings.Fields(string(out))
}

// runcCgroups returns the cgroup directories runc recorded for a live
// container (<root>/<id>/state.json, cgroup_paths: controller -> dir).
func runcCgroups(t *testing.T, root, id string) map[string]string {
	t.Helper()
	var st struct {
		CgroupPaths map[string]string `json:"cgroup_paths"`
	}
	if err := json.Unmarshal([]byte(e2e.ReadFile(filepath.Join(root, id, "state.json"))), &st); err != nil {
		t.Fatalf("runc's state.json of %s under %s: %v", id, root, err)
	}
	for _, d := range st.CgroupPaths {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("runc's cgroup %s of %s does not exist: %v", d, id, err)
		}
	}
	if len(st.CgroupPaths) == 0 {
		t.Fatalf("runc recorded no cgroups for %s", id)
	}
	return st.CgroupPaths
}

// alwaysRemove force-deletes id with runc itself under every root it
// might be in, whatever the test did.
func alwaysRemove(t *testing.T, runc, id string, roots ...string) {
	t.Cleanup(func() {
		for _, r := range append(roots, "/run/urunc", "/run/runc") {
			if _, err := os.Stat(filepath.Join(r, id)); err == nil {
				exec.Command(runc, "--root", r, "delete", "--force", id).Run()
				os.RemoveAll(filepath.Join(r, id))
			}
		}
		removeCgroupParent(id)
	})
}

// assertGone checks that nothing of id is left: no process, no state dir
// under root or runc's default root, no cgroup, not in runc's list.
func assertGone(t *testing.T, runc, root, id string, pids []int, cgroups map[string]string) {
	t.Helper()
	for _, pid := range pids {
		e2e.WaitFor(t, 5*time.Second, fmt.Sprintf("process %d of %s gone", pid, id), func() bool { return !procAlive(pid) })
	}
	for _, r := range []string{root, "/run/urunc", "/run/runc"} {
		if _, err := os.Stat(filepath.Join(r, id)); err == nil {
			t.Errorf("state dir %s left", filepath.Join(r, id))
		}
		if _, err := os.Stat(r); err == nil && slices.Contains(runcList(t, runc, r), id) {
			t.Errorf("runc --root %s list still shows %s", r, id)
		}
	}
	for _, d := range cgroups {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left", d)
		}
	}
}

// handoffLifecycle drives runc containers through urunc with the given
// global flags only, and checks runc's own view under root after each
// step: create, state, list, start, ps, exec, pause/resume, update, kill,
// delete; delete --force of a running and of a created container; run.
func handoffLifecycle(t *testing.T, runc string, u handoffCLI, root string) {
	a, b, c, d := handoffID("a"), handoffID("b"), handoffID("c"), handoffID("d")
	for _, id := range []string{a, b, c, d} {
		alwaysRemove(t, runc, id, root)
	}

	// a: create, state, list, start, ps, exec, pause, resume, update, kill, delete.
	u.must(t, "create", "--bundle", runcBundle(t, runc, a, "/bin/busybox", "sleep", "300"), a)
	if st, _ := runcState(t, runc, root, a); st != "created" {
		t.Fatalf("runc --root %s state %s: %q after urunc create (runc's default root has it: %v)",
			root, a, st, dirExists(filepath.Join("/run/runc", a)))
	}
	if _, err := os.Stat(filepath.Join(root, a, "state.json")); err != nil {
		t.Fatalf("runc's state.json: %v", err)
	}
	if s := u.status(t, a); s != "created" {
		t.Fatalf("urunc state %s: %s", a, s)
	}
	if q := u.must(t, "list", "-q").Stdout; !slices.Contains(strings.Fields(q), a) {
		t.Fatalf("urunc list -q does not show %s: %q", a, q)
	}
	var entries []listEntry
	if err := json.Unmarshal([]byte(u.must(t, "list", "--format", "json").Stdout), &entries); err != nil {
		t.Fatal(err)
	}
	if n := countID(entries, a); n != 1 {
		t.Fatalf("urunc list --format json shows %s %d times: %+v", a, n, entries)
	}
	cgroups := runcCgroups(t, root, a)
	u.must(t, "start", a)
	st, pid := runcState(t, runc, root, a)
	if st != "running" || u.status(t, a) != "running" {
		t.Fatalf("after start: runc says %q, urunc says %q", st, u.status(t, a))
	}
	var pids []int
	if err := json.Unmarshal([]byte(u.must(t, "ps", "--format", "json", a).Stdout), &pids); err != nil || !slices.Contains(pids, pid) {
		t.Fatalf("urunc ps %s: %v %v (pid %d)", a, pids, err, pid)
	}
	if out := u.must(t, "exec", a, "/bin/busybox", "echo", "exec-through-urunc").Stdout; !strings.Contains(out, "exec-through-urunc") {
		t.Fatalf("urunc exec: %q", out)
	}
	u.must(t, "pause", a)
	if st, _ := runcState(t, runc, root, a); st != "paused" {
		t.Fatalf("after pause: runc says %q", st)
	}
	u.must(t, "resume", a)
	u.must(t, "update", "--pids-limit", "42", a)
	pidsDir, ok := cgroups["pids"]
	if !ok {
		pidsDir = cgroups[""] // cgroup v2
	}
	if got := strings.TrimSpace(e2e.ReadFile(filepath.Join(pidsDir, "pids.max"))); got != "42" {
		t.Fatalf("%s/pids.max after urunc update: %q", pidsDir, got)
	}
	u.must(t, "kill", a, "KILL")
	e2e.WaitFor(t, 10*time.Second, a+" stopped", func() bool { return u.status(t, a) == "stopped" })
	u.must(t, "delete", a)
	assertGone(t, runc, root, a, []int{pid}, cgroups)

	// b: delete --force of a running container.
	u.must(t, "create", "--bundle", runcBundle(t, runc, b, "/bin/busybox", "sleep", "300"), b)
	cgroups = runcCgroups(t, root, b)
	u.must(t, "start", b)
	_, pid = runcState(t, runc, root, b)
	u.must(t, "delete", "--force", b)
	assertGone(t, runc, root, b, []int{pid}, cgroups)

	// c: delete --force of a created container (runc init waits in it).
	u.must(t, "create", "--bundle", runcBundle(t, runc, c, "/bin/busybox", "true"), c)
	_, pid = runcState(t, runc, root, c)
	cgroups = runcCgroups(t, root, c)
	u.must(t, "delete", "--force", c)
	assertGone(t, runc, root, c, []int{pid}, cgroups)

	// d: run in the foreground, exit status and nothing left.
	if r := u.run(t, "run", "--bundle", runcBundle(t, runc, d, "/bin/busybox", "sh", "-c", "exit 3"), d); r.Code != 3 {
		t.Fatalf("urunc run: %s", r)
	}
	assertGone(t, runc, root, d, nil, nil)

	// An id that exists nowhere: the same answer as runc's, from urunc.
	never := handoffID("never")
	for _, cmd := range []string{"state", "start", "kill", "delete"} {
		if r := u.run(t, cmd, never); r.Code == 0 || !strings.Contains(r.Stderr, "container does not exist") {
			t.Errorf("urunc %s of a missing container: %s", cmd, r)
		}
	}
	u.must(t, "delete", "--force", never)
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func countID(entries []listEntry, id string) int {
	n := 0
	for _, e := range entries {
		if e.ID == id {
			n++
		}
	}
	return n
}

// TestHandoffDefaultRoot: without --root (as the OCI validation suite
// and many tools call a runtime), a handed-off container lives in
// /run/urunc, where every later urunc command finds it; nothing goes to
// runc's own default /run/runc.
func TestHandoffDefaultRoot(t *testing.T) {
	runc := setupHandoff(t)
	handoffLifecycle(t, runc, handoffCLI{bin: e2e.URuncBin()}, uruncRoot)
}

// TestHandoffCustomRoot: with --root, absolute, or relative and written
// --root=DIR: runc gets the same root, made absolute.
func TestHandoffCustomRoot(t *testing.T) {
	runc := setupHandoff(t)
	t.Run("absolute", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "root")
		handoffLifecycle(t, runc, handoffCLI{bin: e2e.URuncBin(), globals: []string{"--root", root}}, root)
	})
	t.Run("relative", func(t *testing.T) {
		dir := t.TempDir()
		handoffLifecycle(t, runc, handoffCLI{bin: e2e.URuncBin(), globals: []string{"--root=state/root"}, dir: dir},
			filepath.Join(dir, "state", "root"))
	})
}

// TestHandoffAbortedRunc: a runc directory under the root without
// state.json (what an aborted runc create leaves) goes to runc: state
// says runc's "container does not exist", delete --force removes it.
func TestHandoffAbortedRunc(t *testing.T) {
	runc := setupHandoff(t)
	root := filepath.Join(t.TempDir(), "root")
	id := handoffID("aborted")
	alwaysRemove(t, runc, id, root)
	if err := os.MkdirAll(filepath.Join(root, id), 0o700); err != nil {
		t.Fatal(err)
	}
	u := handoffCLI{bin: e2e.URuncBin(), globals: []string{"--root", root}}
	if r := u.run(t, "state", id); r.Code == 0 || !strings.Contains(r.Stderr, "container does not exist") {
		t.Fatalf("state: %s", r)
	}
	u.must(t, "delete", "--force", id)
	if dirExists(filepath.Join(root, id)) {
		t.Fatal("delete --force left the directory")
	}
}

// fakeRunc is a runc that records its argv (one argument a line) in
// dir/argv and prints $FAKE_RUNC_LIST for list. URUNC_CONFIG in env
// makes urunc use it.
func fakeRunc(t *testing.T) (dir string, env []string) {
	t.Helper()
	dir = t.TempDir()
	script := filepath.Join(dir, "runc")
	body := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > " + filepath.Join(dir, "argv") + "\n" +
		"for a in \"$@\"; do [ \"$a\" = list ] && printf '%s' \"$FAKE_RUNC_LIST\"; done\nexit 0\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{"runc": %q}`, script)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, []string{"URUNC_CONFIG=" + cfg}
}

// TestHandoffArgv: the argv runc gets for each command, through a fake
// runc: --root is urunc's root, absolute, whether given or not; the
// other global flags reach runc as given (values unchanged, in runc's
// --name value form), before the command; the command's own arguments
// are passed unchanged. Needs bin/urunc only, not root.
func TestHandoffArgv(t *testing.T) {
	testenv.Require(t)
	buildURuncOnce.Do(func() { e2e.Make(t, "build") })
	fake, env := fakeRunc(t)
	work := t.TempDir()
	root := filepath.Join(work, "root")
	// A runc container: a directory under the root without urunc's marker.
	if err := os.MkdirAll(filepath.Join(root, "rc1"), 0o700); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(work, "bundle")
	os.MkdirAll(bundle, 0o755)
	e2e.WriteSpec(t, bundle, &specs.Spec{Version: specs.Version, Root: &specs.Root{Path: "rootfs"}, Process: &specs.Process{Args: []string{"sh"}, Cwd: "/"}})

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"create, default root", []string{"create", "--bundle", bundle, "c1"},
			[]string{"--root", "/run/urunc", "create", "--bundle", bundle, "c1"}},
		{"run, default root", []string{"run", "-d", "-b", bundle, "c1"},
			[]string{"--root", "/run/urunc", "run", "-d", "-b", bundle, "c1"}},
		{"create, every global flag", []string{"--root", root, "--log", "rel.log", "--log-format", "json", "--debug", "--systemd-cgroup",
			"--rootless", "false", "create", "--bundle", bundle, "--pid-file", "p", "c1"},
			[]string{"--root", root, "--log", "rel.log", "--log-format", "json", "--rootless", "false", "--debug", "--systemd-cgroup",
				"create", "--bundle", bundle, "--pid-file", "p", "c1"}},
		{"--name=value forms, relative root", []string{"--root=root", "--log=" + work + "/y.log", "--debug=false", "state", "rc1"},
			[]string{"--root", root, "--log", work + "/y.log", "state", "rc1"}},
		{"start", []string{"--root", root, "start", "rc1"}, []string{"--root", root, "start", "rc1"}},
		{"kill", []string{"--root", root, "kill", "--all", "rc1", "KILL"}, []string{"--root", root, "kill", "--all", "rc1", "KILL"}},
		{"delete", []string{"--root", root, "delete", "-f", "rc1"}, []string{"--root", root, "delete", "-f", "rc1"}},
		{"ps", []string{"--root", root, "ps", "rc1", "-o", "pid"}, []string{"--root", root, "ps", "rc1", "-o", "pid"}},
		{"pause", []string{"--root", root, "pause", "rc1"}, []string{"--root", root, "pause", "rc1"}},
		{"resume", []string{"--root", root, "resume", "rc1"}, []string{"--root", root, "resume", "rc1"}},
		{"update", []string{"--root", root, "update", "--memory", "64m", "rc1"}, []string{"--root", root, "update", "--memory", "64m", "rc1"}},
		{"exec", []string{"--root", root, "--debug", "exec", "-e", "A=1", "--tty", "rc1", "sh", "-c", "echo --root"},
			[]string{"--root", root, "--debug", "exec", "-e", "A=1", "--tty", "rc1", "sh", "-c", "echo --root"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(filepath.Join(fake, "argv"))
			u := handoffCLI{bin: e2e.URuncBin(), dir: work, env: env}
			if r := u.run(t, tt.args...); r.Code != 0 {
				t.Fatalf("urunc %v: %s", tt.args, r)
			}
			got := strings.Split(strings.TrimSuffix(e2e.ReadFile(filepath.Join(fake, "argv")), "\n"), "\n")
			if !slices.Equal(got, tt.want) {
				t.Fatalf("runc got\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}

	// list: runc is asked under urunc's root, and an id runc reports
	// that carries urunc's marker is not shown twice (urunc lists it).
	uk := filepath.Join(root, "uk1")
	os.MkdirAll(uk, 0o700)
	os.WriteFile(filepath.Join(uk, "urunc"), nil, 0o600)
	os.WriteFile(filepath.Join(uk, "lock"), nil, 0o600)
	os.WriteFile(filepath.Join(uk, "state.json"), []byte(`{"ociVersion":"1.2.0","id":"uk1","status":"stopped","pid":0,"bundle":"/b","created":"2026-01-01T00:00:00Z","owner":""}`), 0o600)
	list := `[{"ociVersion":"1.0.2","id":"rc1","pid":1,"status":"running","bundle":"/b","rootfs":"/b/rootfs","created":"2026-01-01T00:00:00Z","owner":"root"},` +
		`{"ociVersion":"1.0.2","id":"uk1","pid":0,"status":"stopped","bundle":"/b","rootfs":"/b/rootfs","created":"2026-01-01T00:00:00Z","owner":"root"}]`
	u := handoffCLI{bin: e2e.URuncBin(), dir: work, env: append(env, "FAKE_RUNC_LIST="+list)}
	var entries []listEntry
	if err := json.Unmarshal([]byte(u.must(t, "--root", root, "list", "--format", "json").Stdout), &entries); err != nil {
		t.Fatal(err)
	}
	if countID(entries, "rc1") != 1 || countID(entries, "uk1") != 1 || len(entries) != 2 {
		t.Fatalf("list: %+v", entries)
	}
	if got := e2e.ReadFile(filepath.Join(fake, "argv")); got != "--root\n"+root+"\nlist\n--format\njson\n" {
		t.Fatalf("runc list argv: %q", got)
	}
}

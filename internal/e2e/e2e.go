// Package e2e holds helpers for end-to-end tests that drive the real
// bin/urunc with real qemu: building the binaries and the test unikernel,
// making bundles, running commands and waiting with deadlines.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urunc-dev/urunc/internal/bundle"
	"github.com/urunc-dev/urunc/internal/testenv"
	"github.com/urunc-dev/urunc/runtime/config"
)

// RepoRoot returns the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Make runs make targets in the repository root (once per process is the
// caller's business) and fails the test on error. The bound is generous:
// on a machine that has not built it yet, make linux-kernel compiles the
// microvm guest kernel (~8 min on 2 busy cores), or waits for another
// clone's build of it.
func Make(t testing.TB, targets ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", append([]string{"-C", RepoRoot()}, targets...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %v: %v\n%s", targets, err, out)
	}
}

// RequireRoot skips end-to-end tests unless they were asked for
// (internal/testenv's switch) and the process is root.
func RequireRoot(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
}

// RequireQEMU skips when qemu is missing.
func RequireQEMU(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not found: install Debian package qemu-system-x86")
	}
}

// KVMUsable reports whether /dev/kvm can be opened.
func KVMUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// Unikernel returns the path of the project's test unikernel.
func Unikernel() string { return filepath.Join(RepoRoot(), "build", "unikernel", "hello.elf") }

// URuncBin returns bin/urunc.
func URuncBin() string { return filepath.Join(RepoRoot(), "bin", "urunc") }

// Bundle describes a test bundle.
type Bundle struct {
	Kernel      string            // host file copied to /unikernel/app.elf; default: the test unikernel
	Type        string            // default "unikraft"
	Hypervisor  string            // default "qemu"
	Cmdline     string            // guest command line
	Args        []string          // process.args
	Annotations map[string]string // extra annotations
	URuncJSON   bool              // carry the config in rootfs/urunc.json (base64) instead of annotations
	Hooks       *specs.Hooks
	Terminal    bool
	Namespaces  []specs.LinuxNamespace // default: pid, ipc, uts, mount, network (all new)
	Binary      string                 // override the binary path in the config
	Memory      int64                  // bytes
}

// NewBundle writes a bundle into a temp dir and returns its path.
func NewBundle(t testing.TB, b Bundle) string {
	t.Helper()
	dir := t.TempDir()
	kernel := b.Kernel
	if kernel == "" {
		kernel = Unikernel()
	}
	if _, err := os.Stat(kernel); err != nil {
		t.Fatalf("kernel: %v (run make unikernel)", err)
	}
	cfg := map[string]string{
		config.KeyType:       or(b.Type, "unikraft"),
		config.KeyHypervisor: or(b.Hypervisor, "qemu"),
	}
	if b.Cmdline != "" {
		cfg[config.KeyCmdline] = b.Cmdline
	}
	spec, err := bundle.Write(bundle.Unikernel{
		Dir: dir, Kernel: kernel, KernelName: "app.elf", Config: cfg,
		Annotate: !b.URuncJSON, URuncJSON: b.URuncJSON, Annotations: b.Annotations,
		Spec: bundle.SpecOptions{Args: b.Args, Terminal: b.Terminal, Namespaces: b.Namespaces},
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.Binary != "" {
		// A binary path the bundle does not hold (bad-input tests).
		if b.URuncJSON {
			cfg[config.KeyBinary] = b.Binary
			if err := os.WriteFile(filepath.Join(dir, "rootfs", config.URuncJSON), config.EncodeURuncJSON(cfg), 0o644); err != nil { //nolint:gosec // G306: a bundle, world-readable (see internal/bundle)
				t.Fatal(err)
			}
		} else {
			spec.Annotations[config.KeyBinary] = b.Binary
		}
	}
	spec.Hooks = b.Hooks
	if b.Memory > 0 {
		spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &b.Memory}}
	}
	WriteSpec(t, dir, spec)
	return dir
}

// WriteSpec writes config.json into a bundle.
func WriteSpec(t testing.TB, dir string, spec *specs.Spec) {
	t.Helper()
	if err := bundle.WriteSpec(dir, spec); err != nil {
		t.Fatal(err)
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// URunc runs bin/urunc against one root with a JSON log, as containerd does.
type URunc struct {
	Bin  string
	Root string
	Log  string
	Env  []string
}

// NewURunc returns a runner with a fresh root in a temp dir.
func NewURunc(t testing.TB) *URunc {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	u := &URunc{Bin: URuncBin(), Root: root, Log: filepath.Join(filepath.Dir(root), "log.json")}
	t.Cleanup(func() { u.Cleanup(t) })
	return u
}

// Result is one command's outcome.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs urunc with the global flags and args, with a 60 s limit.
// Stdout/stderr are temp files, so a re-exec child inheriting them cannot
// keep the call waiting.
func (u *URunc) Run(t testing.TB, args ...string) Result {
	t.Helper()
	return u.RunWith(t, nil, args...)
}

// RunWith is Run with the command's stdio given (nil = temp files).
func (u *URunc) RunWith(t testing.TB, stdout *os.File, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"--root", u.Root, "--log", u.Log, "--log-format", "json"}, args...)
	cmd := exec.CommandContext(ctx, u.Bin, full...)
	cmd.Env = append(os.Environ(), u.Env...)
	outF, _ := os.CreateTemp("", "urunc-out")
	errF, _ := os.CreateTemp("", "urunc-err")
	defer os.Remove(outF.Name())
	defer os.Remove(errF.Name())
	cmd.Stdout, cmd.Stderr = outF, errF
	if stdout != nil {
		cmd.Stdout, cmd.Stderr = stdout, stdout
	}
	err := cmd.Run()
	outF.Close()
	errF.Close()
	o, _ := os.ReadFile(outF.Name())
	e, _ := os.ReadFile(errF.Name())
	r := Result{Stdout: string(o), Stderr: string(e)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("urunc %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("urunc %v did not finish within 60 s", args)
	}
	return r
}

// MustRun runs and fails the test on a non-zero exit.
func (u *URunc) MustRun(t testing.TB, args ...string) Result {
	t.Helper()
	r := u.Run(t, args...)
	if r.Code != 0 {
		t.Fatalf("urunc %v: exit %d\nstdout: %s\nstderr: %s\nlog: %s", args, r.Code, r.Stdout, r.Stderr, u.LastError())
	}
	return r
}

// State returns `urunc state id` decoded.
func (u *URunc) State(t testing.TB, id string) map[string]any {
	t.Helper()
	r := u.MustRun(t, "state", id)
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &m); err != nil {
		t.Fatalf("state %s: %v: %s", id, err, r.Stdout)
	}
	return m
}

// Status returns the status field of `urunc state`.
func (u *URunc) Status(t testing.TB, id string) string {
	t.Helper()
	s, _ := u.State(t, id)["status"].(string)
	return s
}

// LastError returns the msg of the log's last "level":"error" line.
func (u *URunc) LastError() string {
	f, err := os.Open(u.Log)
	if err != nil {
		return ""
	}
	defer f.Close()
	last := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct{ Level, Msg string }
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Level == "error" {
			last = l.Msg
		}
	}
	return last
}

// Cleanup force-deletes whatever is left under the root.
func (u *URunc) Cleanup(t testing.TB) {
	entries, _ := os.ReadDir(u.Root)
	for _, e := range entries {
		u.Run(t, "delete", "--force", e.Name())
	}
}

// Leftovers lists what remains under the root.
func (u *URunc) Leftovers() []string {
	entries, _ := os.ReadDir(u.Root)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// WaitFor polls cond every 20 ms until it holds or timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FileContains reports whether path contains s.
func FileContains(path, s string) bool {
	data, err := os.ReadFile(path)
	return err == nil && bytes.Contains(data, []byte(s))
}

// ReadFile returns a file's content or "".
func ReadFile(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

// Describe formats a result for failure messages.
func (r Result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.Code, strings.TrimSpace(r.Stdout), strings.TrimSpace(r.Stderr))
}

// ExitCode is a command's exit status from its Run/Wait error: 0, the
// status, or -1 when it did not run or was killed by a signal.
func ExitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// setupOnce builds what the lifecycle tests run, once per test binary.
var setupOnce sync.Once

// Setup skips unless end-to-end tests run as root with qemu, builds
// bin/urunc and the test unikernel (once per test binary) and returns a
// urunc with a fresh root.
func Setup(t *testing.T) *URunc {
	t.Helper()
	RequireRoot(t)
	RequireQEMU(t)
	setupOnce.Do(func() { Make(t, "build", "unikernel") })
	return NewURunc(t)
}

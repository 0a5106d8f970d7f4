// Package reliability_test drives the real bin/urunc with real qemu under
// injected faults, concurrency and load (docs/reliability.md).
package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// setup skips without root or qemu, builds bin/urunc and the test
// unikernel once, and points urunc at short handshake timeouts.
func setup(t *testing.T) *e2e.URunc {
	t.Helper()
	return setupWith(t, `{"timeouts":{"booted":"2s","ack":"2s","startReply":"3s","lock":"5s","stopGrace":"1s"}}`)
}

// setupWith is setup with another host config.
func setupWith(t *testing.T, hostConfig string) *e2e.URunc {
	t.Helper()
	u := e2e.Setup(t)
	cfg := filepath.Join(t.TempDir(), "host.json")
	if err := os.WriteFile(cfg, []byte(hostConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	u.Env = append(u.Env, "URUNC_CONFIG="+cfg)
	t.Cleanup(func() { killUnder(u.Root) })
	return u
}

func heartbeat(t *testing.T) string {
	return e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: map[string]string{"com.urunc.vmm.machine": "microvm"}})
}

func stdio(t *testing.T) *os.File {
	f, err := os.Create(filepath.Join(t.TempDir(), "stdio"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// outcome of one bounded urunc command.
type outcome struct {
	code     int
	took     time.Duration
	timedOut bool
	out      string
}

// runBounded runs urunc with extra env and kills it (SIGKILL, as an engine
// giving up would) after limit.
func runBounded(t *testing.T, u *e2e.URunc, env []string, limit time.Duration, out *os.File, args ...string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, u.Bin, append([]string{"--root", u.Root, "--log", u.Log, "--log-format", "json"}, args...)...)
	cmd.Env = append(append(os.Environ(), u.Env...), env...)
	if out == nil {
		out = stdio(t)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Do not wait for inherited stdio held by a child or the VMM.
	cmd.WaitDelay = time.Second
	start := time.Now()
	err := cmd.Run()
	o := outcome{took: time.Since(start), timedOut: ctx.Err() != nil, out: e2e.ReadFile(out.Name())}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		o.code = ee.ExitCode()
	case err != nil && !o.timedOut:
		t.Fatalf("urunc %v: %v", args, err)
	}
	return o
}

// processesUnder lists live (non-zombie) processes whose command line
// or environment mentions root: re-exec children (--root R), VMMs (serial
// log in R) and the tests' hooks and what they start (an environment
// variable naming R).
func processesUnder(root string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if environ, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ")); !strings.Contains(string(cmdline), root) && !strings.Contains(string(environ), "="+root+"\x00") {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := strings.LastIndex(string(stat), ") "); i >= 0 && strings.HasPrefix(string(stat[i+2:]), "Z") {
			continue
		}
		found = append(found, fmt.Sprintf("%d %s", pid, strings.ReplaceAll(string(cmdline), "\x00", " ")))
	}
	return found
}

// killUnder SIGKILLs what a failed test left running under root.
func killUnder(root string) {
	for _, p := range processesUnder(root) {
		pid, _ := strconv.Atoi(strings.Fields(p)[0])
		if pid > 0 {
			syscallKill(pid)
		}
	}
}

func noProcesses(t *testing.T, root string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		p := processesUnder(root)
		if len(p) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left: %v", p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clean checks that nothing of the container is left: no directory (so no
// socket, no state.json) under the root, no process, no mount.
func clean(t *testing.T, u *e2e.URunc) {
	t.Helper()
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left under the root: %v", left)
	}
	noProcesses(t, u.Root, 5*time.Second)
	if m := mountsUnder(u.Root); len(m) != 0 {
		t.Fatalf("mounts left: %v", m)
	}
}

func mountsUnder(root string) []string {
	var found []string
	for _, l := range strings.Split(e2e.ReadFile("/proc/self/mountinfo"), "\n") {
		if strings.Contains(l, root) {
			found = append(found, l)
		}
	}
	return found
}

// status returns `urunc state`'s status, failing if state does not answer
// within 5 s.
func status(t *testing.T, u *e2e.URunc, id string) string {
	t.Helper()
	o := runBounded(t, u, nil, 5*time.Second, nil, "state", id)
	if o.timedOut {
		t.Fatalf("state %s hung", id)
	}
	if o.code != 0 {
		return "error: " + u.LastError()
	}
	i := strings.Index(o.out, `"status":`)
	if i < 0 {
		return "unparsed: " + o.out
	}
	s := o.out[i+len(`"status":`):]
	s = strings.TrimLeft(s, ` "`)
	return s[:strings.IndexAny(s, `"`)]
}

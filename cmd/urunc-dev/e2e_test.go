package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

var buildOnce sync.Once

// tmuxConsole runs the real bin/urunc-dev in a tmux session.
type tmuxConsole struct {
	t       *testing.T
	session string
}

func startConsole(t *testing.T, root, bundles string) *tmuxConsole {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not found: install Debian package tmux")
	}
	e2e.RequireRoot(t)
	e2e.RequireQEMU(t)
	buildOnce.Do(func() { e2e.Make(t, "build", "unikernel") })
	bin := filepath.Join(e2e.RepoRoot(), "bin", "urunc-dev")
	s := fmt.Sprintf("urunc-dev-e2e-%d-%d", os.Getpid(), time.Now().UnixNano()%100000)
	cmd := fmt.Sprintf("%s --root %s --bundles %s", bin, root, bundles)
	if out, err := exec.Command("tmux", "new-session", "-d", "-s", s, "-x", "160", "-y", "45", cmd).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	c := &tmuxConsole{t: t, session: s}
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", s).Run() })
	return c
}

func (c *tmuxConsole) screen() string {
	out, _ := exec.Command("tmux", "capture-pane", "-p", "-t", c.session).Output()
	return string(out)
}

func (c *tmuxConsole) keys(keys ...string) {
	c.t.Helper()
	for _, k := range keys {
		if out, err := exec.Command("tmux", "send-keys", "-t", c.session, k).CombinedOutput(); err != nil {
			c.t.Fatalf("send-keys %s: %v %s", k, err, out)
		}
		time.Sleep(80 * time.Millisecond)
	}
}

// waitScreen waits until the screen shows every string.
func (c *tmuxConsole) waitScreen(what string, timeout time.Duration, all ...string) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := c.screen()
		ok := true
		for _, a := range all {
			ok = ok && strings.Contains(s, a)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("screen never showed %s (%q) within %s:\n%s", what, all, timeout, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitRow waits until the container's row contains want ("" = row gone).
func (c *tmuxConsole) waitRow(id, want string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := c.screen()
		row := rowOf(s, id)
		if (want == "" && row == "") || (want != "" && strings.Contains(row, want)) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("row of %s never showed %q within %s:\n%s", id, want, timeout, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rowOf returns the list row of a container.
func rowOf(screen, id string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), id+" ") {
			return l
		}
	}
	return ""
}

func TestConsoleFollowsContainersMadeElsewhere(t *testing.T) {
	u := e2e.NewURunc(t)
	bundles := t.TempDir()
	os.MkdirAll(u.Root, 0o700)
	con := startConsole(t, u.Root, bundles)
	con.waitScreen("empty list", 10*time.Second, "no containers under")

	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: map[string]string{"com.urunc.vmm.machine": "microvm"}})
	out, _ := os.Create(filepath.Join(t.TempDir(), "stdio"))
	defer out.Close()
	u.RunWith(t, out, "create", "-b", bundle, "hb1")
	con.waitScreen("created", 5*time.Second, "hb1")
	con.waitRow("hb1", "created", 5*time.Second)

	u.MustRun(t, "start", "hb1")
	con.waitRow("hb1", "running", 5*time.Second)

	con.keys("Enter")
	con.waitScreen("handshake steps", 5*time.Second, "1 Handshake", "child-spawned", "booted", "acked", "vmm-exec", "running")
	con.keys("2")
	con.waitScreen("serial output", 15*time.Second, "Hello from the urunc test unikernel", "heartbeat 2")
	con.keys("4")
	con.waitScreen("config", 5*time.Second, "accel", "qemu-system-x86_64")
	con.keys("Escape")

	u.MustRun(t, "kill", "hb1", "KILL")
	con.waitRow("hb1", "stopped", 5*time.Second)
	u.MustRun(t, "delete", "hb1")
	con.waitRow("hb1", "", 5*time.Second)
}

func TestConsoleActions(t *testing.T) {
	u := e2e.NewURunc(t)
	bundles := t.TempDir()
	if err := MakeBundle(BundleOptions{Kernel: e2e.Unikernel(), Type: "unikraft", Hypervisor: "qemu", Cmdline: "heartbeat",
		Out: filepath.Join(bundles, "heartbeat"), Annotations: map[string]string{"com.urunc.vmm.machine": "microvm"}}); err != nil {
		t.Skipf("demo bundle: %v (run make unikernel)", err)
	}
	os.MkdirAll(u.Root, 0o700)
	con := startConsole(t, u.Root, bundles)
	con.waitScreen("empty list", 10*time.Second, "no containers under")

	// c: pick the bundle, accept the default id, create and start.
	con.keys("c")
	con.waitScreen("bundle picker", 5*time.Second, "Create a container from a bundle", "heartbeat")
	con.keys("Enter")
	con.waitScreen("id prompt", 5*time.Second, "id: heartbeat-1")
	con.keys("Enter")
	con.waitRow("heartbeat-1", "running", 15*time.Second)
	if s := u.Status(t, "heartbeat-1"); s != "running" {
		t.Fatalf("urunc says %s", s)
	}

	// K k: kill with SIGKILL.
	con.keys("K")
	con.waitScreen("kill dialog", 5*time.Second, "[k]ILL")
	con.keys("k")
	con.waitRow("heartbeat-1", "stopped", 10*time.Second)

	// D y: delete.
	con.keys("D")
	con.waitScreen("confirmation", 5*time.Second, "delete heartbeat-1? (y/N)")
	con.keys("y")
	con.waitRow("heartbeat-1", "", 10*time.Second)
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left under root: %v", left)
	}

	// An error from urunc shows as one readable line.
	con.keys("c", "Enter", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace")
	con.keys("b", "a", "d", "/", "i", "d", "Enter")
	con.waitScreen("error line", 10*time.Second, "invalid container id")

	// q quits.
	con.keys("q")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if exec.Command("tmux", "has-session", "-t", con.session).Run() != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("console did not quit on q")
}

func TestBundleCommand(t *testing.T) {
	kernel := filepath.Join(t.TempDir(), "k.elf")
	os.WriteFile(kernel, []byte("kernel"), 0o644)
	out := filepath.Join(t.TempDir(), "b")
	if err := MakeBundle(BundleOptions{Kernel: kernel, Type: "hermit", Hypervisor: "qemu", Cmdline: "a b", Out: out,
		Annotations: map[string]string{"x": "y"}}); err != nil {
		t.Fatal(err)
	}
	cfg := e2e.ReadFile(filepath.Join(out, "config.json"))
	for _, want := range []string{`"com.urunc.unikernel.unikernelType": "hermit"`, `"com.urunc.unikernel.binary": "/unikernel/k.elf"`, `"x": "y"`, `"a"`} {
		if !strings.Contains(cfg, want) {
			t.Fatalf("config.json lacks %s:\n%s", want, cfg)
		}
	}
	uj := e2e.ReadFile(filepath.Join(out, "rootfs", "urunc.json"))
	if !strings.Contains(uj, `"aGVybWl0"`) { // base64("hermit")
		t.Fatalf("urunc.json: %s", uj)
	}
	if e2e.ReadFile(filepath.Join(out, "rootfs", "unikernel", "k.elf")) != "kernel" {
		t.Fatal("kernel not copied")
	}
}

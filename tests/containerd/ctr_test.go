// Package containerd_test drives a private, real containerd (Debian's
// containerd 1.6) with ctr, urunc as the runc binary of the runc.v2 shim.
package containerd_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

type containerd struct {
	t    *testing.T
	sock string
}

func startContainerd(t *testing.T) *containerd {
	t.Helper()
	e2e.RequireRoot(t)
	e2e.RequireQEMU(t)
	for _, b := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not found: install Debian package containerd", b)
		}
	}
	e2e.Make(t, "build", "unikernel")
	e2e.LockEngines(t)
	base, err := os.MkdirTemp("/tmp", "uc")
	if err != nil {
		t.Fatal(err)
	}
	c := &containerd{t: t, sock: filepath.Join(base, "c.sock")}
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
`, filepath.Join(base, "root"), filepath.Join(base, "state"), c.sock)
	os.WriteFile(filepath.Join(base, "config.toml"), []byte(cfg), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "containerd", "--config", filepath.Join(base, "config.toml"))
	logf, _ := os.Create(filepath.Join(base, "containerd.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		logf.Close()
		exec.Command("umount", "-R", base).Run()
		os.RemoveAll(base)
	})
	deadline := time.Now().Add(30 * time.Second)
	for c.run(nil, "version").code != 0 {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(base, "containerd.log"))
			t.Fatalf("containerd did not come up:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

type result struct {
	out  string
	code int
}

func (c *containerd) run(stdin []byte, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"-a", c.sock}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	code := e2e.ExitCode(err)
	return result{string(out), code}
}

func (c *containerd) must(args ...string) string {
	c.t.Helper()
	r := c.run(nil, args...)
	if r.code != 0 {
		c.t.Fatalf("ctr %v: exit %d: %s", args, r.code, r.out)
	}
	return r.out
}

// dockerArchive builds a `docker save` style tarball: one layer with the
// test unikernel and a base64 urunc.json, and the image's CMD.
func dockerArchive(t *testing.T, ref, cmd string) []byte {
	return e2e.DockerArchive(ref, e2e.UnikernelRootfsTar(t), map[string]any{"Cmd": []string{cmd}})
}

func TestCtrRun(t *testing.T) {
	c := startContainerd(t)
	for ref, cmd := range map[string]string{"docker.io/library/urunc-hb:test": "heartbeat", "docker.io/library/urunc-exit:test": "exit=5"} {
		if r := c.run(dockerArchive(t, ref, cmd), "images", "import", "-"); r.code != 0 {
			t.Fatalf("ctr images import: %s", r.out)
		}
	}
	urunc := e2e.URuncBin()
	// Foreground: the guest's output and exit status.
	r := c.run(nil, "run", "--rm", "--runtime", "io.containerd.runc.v2", "--runc-binary", urunc, "docker.io/library/urunc-exit:test", "fg1")
	if r.code != 11 || !strings.Contains(r.out, "cmdline:") {
		t.Fatalf("ctr run: exit %d: %s", r.code, r.out)
	}
	// Detached: running, then killed and removed.
	c.must("run", "-d", "--runtime", "io.containerd.runc.v2", "--runc-binary", urunc, "docker.io/library/urunc-hb:test", "bg1")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(c.must("task", "ls"), "RUNNING") {
		if time.Now().After(deadline) {
			t.Fatalf("task not running: %s", c.must("task", "ls"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.must("task", "kill", "-s", "SIGKILL", "bg1")
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(c.must("task", "ls"), "STOPPED") {
		if time.Now().After(deadline) {
			t.Fatalf("task not stopped: %s", c.must("task", "ls"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.must("task", "rm", "bg1")
	c.must("container", "rm", "bg1")
	for _, id := range []string{"fg1", "bg1"} {
		if _, err := os.Stat(filepath.Join("/run/containerd/runc/default", id)); err == nil {
			t.Fatalf("state of %s left under /run/containerd/runc/default", id)
		}
	}
}

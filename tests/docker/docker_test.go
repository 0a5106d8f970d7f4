// Package docker_test drives a private, real dockerd (Debian's docker.io)
// with urunc registered as a runtime.
package docker_test

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

	"github.com/creack/pty"

	"github.com/urunc-dev/urunc/internal/e2e"
)

type dockerd struct {
	t       *testing.T
	sock    string
	base    string
	execDir string
	extra   []string
	env     []string // more environment for dockerd (and so the shims and urunc)
	cmd     *exec.Cmd
	logf    *os.File
}

// startDockerd runs dockerd with its own data/exec roots and socket, no
// bridge and no iptables, and urunc as runtime "urunc"; extra are more
// dockerd flags.
func startDockerd(t *testing.T, extra ...string) *dockerd {
	t.Helper()
	return startDockerdEnv(t, nil, extra...)
}

// startDockerdEnv is startDockerd with more environment for dockerd (it
// reaches urunc through containerd and its shims).
func startDockerdEnv(t *testing.T, env []string, extra ...string) *dockerd {
	t.Helper()
	e2e.RequireRoot(t)
	e2e.RequireQEMU(t)
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Skip("dockerd not found: install Debian package docker.io")
	}
	e2e.Make(t, "build", "unikernel")
	e2e.LockEngines(t)
	// Short paths: containerd's sockets live under the exec root.
	base, err := os.MkdirTemp("/tmp", "ud")
	if err != nil {
		t.Fatal(err)
	}
	d := &dockerd{t: t, sock: filepath.Join(base, "d.sock"), base: base, execDir: filepath.Join(base, "x"), extra: extra, env: env}
	t.Cleanup(func() {
		d.stop()
		exec.Command("umount", "-R", base).Run()
		os.RemoveAll(base)
	})
	d.start()
	return d
}

// start runs dockerd and waits until it answers.
func (d *dockerd) start() {
	d.t.Helper()
	args := append([]string{
		"--data-root", filepath.Join(d.base, "data"), "--exec-root", d.execDir,
		"--pidfile", filepath.Join(d.base, "d.pid"), "-H", "unix://" + d.sock,
		"--bridge", "none", "--iptables=false", "--ip-masq=false",
		"--add-runtime", "urunc=" + e2e.URuncBin()}, d.extra...)
	d.cmd = exec.Command("dockerd", args...)
	d.cmd.Env = append(os.Environ(), d.env...)
	d.logf, _ = os.OpenFile(filepath.Join(d.base, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	d.cmd.Stdout, d.cmd.Stderr = d.logf, d.logf
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for d.run("version").code != 0 {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(d.base, "dockerd.log"))
			d.t.Fatalf("dockerd did not come up:\n%s", log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop ends dockerd (SIGINT, as systemd's stop does) and waits for it.
func (d *dockerd) stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
	d.logf.Close()
	d.cmd = nil
}

type result struct {
	out  string
	code int
}

func (d *dockerd) run(args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/docker", append([]string{"-H", "unix://" + d.sock}, args...)...)
	out, err := cmd.CombinedOutput()
	code := e2e.ExitCode(err)
	return result{string(out), code}
}

func (d *dockerd) must(args ...string) string {
	d.t.Helper()
	r := d.run(args...)
	if r.code != 0 {
		d.t.Fatalf("docker %v: exit %d: %s", args, r.code, r.out)
	}
	return r.out
}

// importImage builds an image from a rootfs holding the test unikernel and
// a base64 urunc.json, as upstream urunc images carry their config.
func (d *dockerd) importImage(name, cmd string) {
	d.t.Helper()
	buf := bytes.NewReader(e2e.UnikernelRootfsTar(d.t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, "/usr/bin/docker", "-H", "unix://"+d.sock, "import", "--change", fmt.Sprintf(`CMD [%q]`, cmd), "-", name)
	c.Stdin = buf
	if out, err := c.CombinedOutput(); err != nil {
		d.t.Fatalf("docker import: %v %s", err, out)
	}
}

// runtimeRoot is where dockerd 20.10 makes urunc keep its state: the
// containerd shim passes runc's root (runtime-runc) to every runtime binary.
func (d *dockerd) runtimeRoot() string { return filepath.Join(d.execDir, "runtime-runc", "moby") }

func (d *dockerd) leftovers() []string {
	entries, _ := os.ReadDir(d.runtimeRoot())
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDockerRunDetachedLogsStopRm(t *testing.T) {
	d := startDockerd(t)
	d.importImage("urunc-heartbeat:test", "heartbeat")
	id := strings.TrimSpace(d.must("run", "-d", "--runtime", "urunc", "--network", "none", "--memory", "128m", "--cpus", "0.5", "urunc-heartbeat:test"))
	waitFor(t, 30*time.Second, "heartbeat in docker logs", func() bool {
		return strings.Contains(d.run("logs", id).out, "heartbeat 2")
	})
	if !strings.Contains(d.run("logs", id).out, "Hello from the urunc test unikernel") {
		t.Fatalf("logs: %s", d.run("logs", id).out)
	}
	vmm, err := os.ReadFile(filepath.Join(d.runtimeRoot(), id, "vmm.json"))
	if err != nil || !strings.Contains(string(vmm), `"memoryMB":64`) || !strings.Contains(string(vmm), `"vcpus":1`) {
		t.Fatalf("vmm.json (guest memory = --memory 128m - 64 MiB VMM overhead): %s %v", vmm, err)
	}
	// The VMM is in the container's cgroup, so the engine accounts for it.
	cgroupDir := filepath.Join("/sys/fs/cgroup/memory/docker", id)
	if got := strings.TrimSpace(d.must("stats", "--no-stream", "--format", "{{.MemUsage}}", id)); !strings.HasSuffix(got, "/ 128MiB") || strings.HasPrefix(got, "0B") {
		t.Fatalf("docker stats memory %q: want the VMM's usage against the 128MiB limit", got)
	}
	if quota, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/cpu/docker", id, "cpu.cfs_quota_us")); err != nil || strings.TrimSpace(string(quota)) != "50000" {
		t.Fatalf("--cpus 0.5 quota: %q %v", quota, err)
	}
	if r := d.run("exec", id, "ls"); r.code == 0 || !strings.Contains(r.out, "not supported for unikernel") {
		t.Fatalf("docker exec: %d %s", r.code, r.out)
	}
	start := time.Now()
	d.must("stop", "-t", "5", id)
	t.Logf("docker stop took %v", time.Since(start).Round(time.Millisecond))
	if st := strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}}", id)); st != "exited" {
		t.Fatalf("status after stop: %s", st)
	}
	d.must("rm", id)
	if left := d.leftovers(); len(left) != 0 {
		t.Fatalf("left under %s: %v", d.runtimeRoot(), left)
	}
	if out, _ := exec.Command("sh", "-c", "ps -eo args | grep -c '[q]emu-system.*"+id[:12]+"' || true").Output(); strings.TrimSpace(string(out)) != "0" {
		t.Fatalf("qemu left running")
	}
	if _, err := os.Stat(cgroupDir); err == nil {
		t.Fatalf("cgroup %s left after docker rm", cgroupDir)
	}
}

func TestDockerRunForegroundExitStatus(t *testing.T) {
	d := startDockerd(t)
	d.importImage("urunc-exit:test", "exit=5")
	r := d.run("run", "--rm", "--runtime", "urunc", "--network", "none", "urunc-exit:test")
	if r.code != 11 || !strings.Contains(r.out, "cmdline:") {
		t.Fatalf("exit %d (want 11 = isa-debug-exit 5): %s", r.code, r.out)
	}
	if left := d.leftovers(); len(left) != 0 {
		t.Fatalf("left: %v", left)
	}
}

// docker run -it: the guest console on a pty (console socket).
func TestDockerRunTTY(t *testing.T) {
	d := startDockerd(t)
	d.importImage("urunc-tty:test", "echo=tty")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/docker", "-H", "unix://"+d.sock, "run", "-it", "--rm", "--runtime", "urunc", "--network", "none", "urunc-tty:test")
	f, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(out.String(), "bye") {
		f.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := f.Read(buf)
		if err != nil {
			t.Fatalf("reading the tty: %v; got %q", err, out.String())
		}
		out.Write(buf[:n])
	}
	if !strings.Contains(out.String(), "echo: tty") {
		t.Fatalf("tty output: %q", out.String())
	}
	cmd.Wait()
	if left := d.leftovers(); len(left) != 0 {
		t.Fatalf("left: %v", left)
	}
}

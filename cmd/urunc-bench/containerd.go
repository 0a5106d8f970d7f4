package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
	"github.com/urunc-dev/urunc/runtime/state"
)

// engineLock is the lock the end-to-end suites hold while they run a
// container engine (e2e.LockEngines): the bench's containerd must not
// share the machine with theirs.
const engineLock = e2e.EngineLockPath

const (
	shimRuntime   = "io.containerd.urunc.v2"
	runcRuntime   = "io.containerd.runc.v2"
	benchUK       = "docker.io/library/urunc-bench-hello:latest"
	benchUKBeat   = "docker.io/library/urunc-bench-hb:latest"
	benchBusybox  = "docker.io/library/urunc-bench-busybox:latest"
	benchCtrdWait = 30 * time.Second
)

// ctrdBench is a private containerd 1.6 for section 6.
type ctrdBench struct {
	b    *bench
	dir  string
	sock string
	ns   string
	stop func()
}

// containerd compares, side by side and interleaved, `ctr run --rm` of
// the test unikernel (it prints and powers off) through the native shim
// and through runc.v2 + urunc, busybox /bin/true through runc.v2 + runc,
// and the same qemu command line by hand; then the start latency of
// `ctr run -d` (it returns once the task is RUNNING).
func (b *bench) containerd() {
	b.p("## 6. containerd 1.6: the native shim, runc.v2 + urunc, runc.v2 + runc (%d runs)\n\n", b.runs)
	shim := filepath.Join(b.repo, "bin", "containerd-shim-urunc-v2")
	var missing []string
	for _, tool := range []string{"containerd", "ctr", "runc", "busybox"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if _, err := os.Stat(shim); err != nil {
		missing = append(missing, shim+" (make build)")
	}
	if len(missing) > 0 {
		b.p("not measured: %s missing\n\n", strings.Join(missing, ", "))
		return
	}
	unlock, err := lockEngine(10 * time.Minute)
	if err != nil {
		b.p("not measured: %v\n\n", err)
		return
	}
	defer unlock()
	c, err := b.startContainerd()
	if err != nil {
		b.p("not measured: %v\n\n", err)
		return
	}
	defer c.cleanup()
	if err := c.importImages(); err != nil {
		b.p("not measured: %v\n\n", err)
		return
	}
	argv, err := b.helloArgv()
	if err != nil {
		b.p("not measured: %v\n\n", err)
		return
	}

	type variant struct {
		name string
		args func(id string) []string
		want string // in the output
	}
	variants := []variant{
		{"unikernel, native shim (`--runtime " + shimRuntime + "`)", func(id string) []string {
			return []string{"run", "--rm", "--runtime", shimRuntime, benchUK, id}
		}, "bye"},
		{"unikernel, runc.v2 shim + urunc (`--runc-binary bin/urunc`)", func(id string) []string {
			return []string{"run", "--rm", "--runtime", runcRuntime, "--runc-binary", b.urunc, benchUK, id}
		}, "bye"},
		{"busybox `/bin/true`, runc.v2 shim + runc", func(id string) []string {
			return []string{"run", "--rm", "--runtime", runcRuntime, benchBusybox, id, "/bin/true"}
		}, ""},
	}
	runs := make([][]time.Duration, len(variants)+1)
	// Warm-up: page cache, the snapshotter's first mounts (a failure
	// shows in the measured runs).
	for i, v := range variants {
		_, _ = c.ctr(v.args(fmt.Sprintf("warm%d", i))...)
	}
	for i := 0; i < b.runs; i++ {
		for j, v := range variants {
			id := fmt.Sprintf("r%d-%d", j, i)
			t0 := time.Now()
			out, err := c.ctr(v.args(id)...)
			d := time.Since(t0)
			if err != nil || !strings.Contains(out, v.want) {
				b.p("not measured: ctr %s: %v: %s\n\n", strings.Join(v.args(id), " "), err, out)
				return
			}
			runs[j] = append(runs[j], d)
		}
		t0 := time.Now()
		cmd := exec.Command("qemu-system-x86_64", argv[1:]...)
		if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("bye")) {
			b.p("not measured: qemu by hand: %v: %s\n\n", err, out)
			return
		}
		runs[len(variants)] = append(runs[len(variants)], time.Since(t0))
	}
	med := func(d []time.Duration) time.Duration { m, _, _ := stats(d); return m }
	shimMed := med(runs[0])
	b.p("`ctr run --rm` to the container's removal (the unikernel prints its lines and powers off; busybox runs `/bin/true`):\n\n")
	b.p("| | median (min-max) | native shim vs this |\n|---|---|---|\n")
	for j, v := range variants {
		b.p("| %s | %s | %.2fx |\n", v.name, fmtStats(runs[j]), float64(shimMed)/float64(med(runs[j])))
	}
	byHand := med(runs[len(variants)])
	b.p("| the same qemu command line by hand, to its exit | %s | %.2fx |\n\n", fmtStats(runs[len(variants)]), float64(shimMed)/float64(byHand))
	b.p("Less the guest's own run (qemu by hand, %s), a unikernel's `ctr run --rm` through the native shim costs %s: %.2fx the runc container's whole %s (its `/bin/true` takes about a millisecond), and %s less than through runc.v2 + urunc.\n\n",
		ms(byHand), ms(shimMed-byHand), float64(shimMed-byHand)/float64(med(runs[2])), ms(med(runs[2])), ms(med(runs[1])-shimMed))

	// Start latency: `ctr run -d` returns after the task's Start, i.e.
	// once it is RUNNING (checked); kill and removal are not timed.
	starts := []variant{
		{"unikernel, native shim", func(id string) []string {
			return []string{"run", "-d", "--runtime", shimRuntime, benchUKBeat, id}
		}, ""},
		{"unikernel, runc.v2 shim + urunc", func(id string) []string {
			return []string{"run", "-d", "--runtime", runcRuntime, "--runc-binary", b.urunc, benchUKBeat, id}
		}, ""},
		{"busybox (a shell that sleeps), runc.v2 shim + runc", func(id string) []string {
			return []string{"run", "-d", "--runtime", runcRuntime, benchBusybox, id}
		}, ""},
	}
	lat := make([][]time.Duration, len(starts))
	for i := 0; i < b.runs; i++ {
		for j, v := range starts {
			id := fmt.Sprintf("d%d-%d", j, i)
			t0 := time.Now()
			_, err := c.ctr(v.args(id)...)
			d := time.Since(t0)
			out, _ := c.ctr("task", "ls")
			if err != nil || !taskRunning(out, id) {
				b.p("not measured: ctr %s: %v: %s\n\n", strings.Join(v.args(id), " "), err, out)
				return
			}
			lat[j] = append(lat[j], d)
			c.remove(id)
		}
	}
	shimStart := med(lat[0])
	b.p("Start latency, `ctr run -d` until it returns with the task RUNNING:\n\n")
	b.p("| | median (min-max) | native shim vs this |\n|---|---|---|\n")
	for j, v := range starts {
		b.p("| %s | %s | %.2fx |\n", v.name, fmtStats(lat[j]), float64(shimStart)/float64(med(lat[j])))
	}
	b.p("\nThe native shim runs urunc's lifecycle in its own process: no `urunc create`, `start`, `state`, `kill` or `delete` process, and no `runc` either; what remains is the shim's own start (the `start` helper and the daemon, as every shim), the re-exec child and qemu. ")
	b.p("Through runc.v2 + urunc each task call is a urunc process, as with runc itself. Every variant pays `ctr`'s own start-up and containerd's snapshot and container records alike.\n\n")
}

func taskRunning(ls, id string) bool {
	for _, l := range strings.Split(ls, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == id && f[2] == "RUNNING" {
			return true
		}
	}
	return false
}

func lockEngine(limit time.Duration) (func(), error) {
	f, err := os.OpenFile(engineLock, os.O_CREATE|os.O_RDWR, 0o644) //nolint:gosec // G302: an empty lock file every test run shares
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(limit)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing it releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%s: %w (held by another engine test)", engineLock, err)
		}
		time.Sleep(time.Second)
	}
}

func (b *bench) startContainerd() (*ctrdBench, error) {
	dir := filepath.Join(b.work, "ctrd")
	c := &ctrdBench{b: b, dir: dir, sock: filepath.Join(dir, "c.sock"), ns: fmt.Sprintf("urunc-bench-%d", os.Getpid())}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, c.sock+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	// bin/ first: io.containerd.urunc.v2 is this tree's shim.
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(b.repo, "bin")+":"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	c.stop = func() {
		_ = cmd.Process.Signal(os.Interrupt) // it may have died: Wait tells
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }() // SIGINT's status is not an error here
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill() // still there: end it
			<-done
		}
		logf.Close()
	}
	deadline := time.Now().Add(benchCtrdWait)
	for {
		if _, err := c.ctr("version"); err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			c.cleanup()
			return nil, fmt.Errorf("private containerd did not come up (log: %s)", filepath.Join(dir, "containerd.log"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *ctrdBench) ctr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"-a", c.sock, "-n", c.ns}, args...)...).CombinedOutput()
	return string(out), err
}

// remove kills and removes a container (not measured): a step that fails
// leaves it to the next, and cleanup to the end.
func (c *ctrdBench) remove(id string) {
	_, _ = c.ctr("task", "kill", "-s", "SIGKILL", id)
	c.waitStopped(id)
	_, _ = c.ctr("task", "rm", id)
	_, _ = c.ctr("container", "rm", id)
}

func (c *ctrdBench) waitStopped(id string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := c.ctr("task", "ls")
		if !taskRunning(out, id) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *ctrdBench) importImages() error {
	layer, err := e2e.UnikernelRootfs()
	if err != nil {
		return err
	}
	bb, err := busyboxLayer()
	if err != nil {
		return err
	}
	for ref, img := range map[string][]byte{
		benchUK:      e2e.DockerArchive(benchUK, layer, map[string]any{"Cmd": []string{"hello"}}),
		benchUKBeat:  e2e.DockerArchive(benchUKBeat, layer, map[string]any{"Cmd": []string{"heartbeat"}}),
		benchBusybox: e2e.DockerArchive(benchBusybox, bb, map[string]any{"Cmd": []string{"/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"}, "Env": []string{"PATH=/bin"}}),
	} {
		cmd := exec.Command("ctr", "-a", c.sock, "-n", c.ns, "images", "import", "-")
		cmd.Stdin = bytes.NewReader(img)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ctr images import %s: %w: %s", ref, err, out)
		}
	}
	return nil
}

// busyboxLayer is /bin/busybox (static) with sh, sleep and true.
func busyboxLayer() ([]byte, error) {
	path, err := exec.LookPath("busybox")
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var werr error
	add := func(h *tar.Header, content []byte) {
		if werr == nil {
			h.Size = int64(len(content))
			werr = tw.WriteHeader(h)
		}
		if werr == nil && len(content) > 0 {
			_, werr = tw.Write(content)
		}
	}
	add(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	add(&tar.Header{Name: "bin/busybox", Mode: 0o755}, data)
	for _, l := range []string{"sh", "sleep", "true"} {
		add(&tar.Header{Name: "bin/" + l, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil)
	}
	for _, d := range []string{"proc", "sys", "dev", "etc", "tmp"} {
		add(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	if err := tw.Close(); werr == nil {
		werr = err
	}
	return buf.Bytes(), werr
}

// helloArgv is the qemu command line urunc builds for the test unikernel
// with the image's command ("hello"), as section 1 runs it by hand.
func (b *bench) helloArgv() ([]string, error) {
	bundle := b.bundle("hello", "hello")
	id := "argv-hello"
	if err := b.uruncCmd(nil, "create", "-b", bundle, id); err != nil {
		return nil, fmt.Errorf("urunc create: %w", err)
	}
	defer func() { _ = b.uruncCmd(nil, "delete", "--force", id) }() // what is left, the bench's cleanup finds
	if err := b.uruncCmd(nil, "start", id); err != nil {
		return nil, fmt.Errorf("urunc start: %w", err)
	}
	info, err := (state.Dir{Root: b.root, ID: id}).ReadVMM()
	if err != nil {
		return nil, err
	}
	return rawArgv(info.Argv), nil
}

// cleanup stops containerd and removes whatever the runs left.
func (c *ctrdBench) cleanup() {
	if out, err := c.ctr("container", "ls", "-q"); err == nil {
		for _, id := range strings.Fields(out) {
			c.remove(id)
		}
	}
	c.stop()
	data, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], c.dir+"/") {
			_ = syscall.Unmount(f[4], syscall.MNT_DETACH) // best effort: RemoveAll below fails on what stays
		}
	}
	for _, sub := range []string{"", "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids", "systemd", "unified"} {
		_ = syscall.Rmdir(filepath.Join("/sys/fs/cgroup", sub, c.ns)) // the namespace's parent cgroup, if it is there and empty
	}
	os.Remove(filepath.Join("/run/containerd/runc", c.ns)) // runc.v2's default root
	os.RemoveAll(c.dir)
}

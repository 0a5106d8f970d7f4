// Package shim_test drives urunc's containerd shim (bin/containerd-shim-
// urunc-v2, runtime_type io.containerd.urunc.v2) through a private, real
// containerd (Debian's 1.6): with ctr, through the CRI plugin with crictl,
// and under faults (the shim killed, containerd restarted, guests that
// die). Each test holds the engine lock (e2e.LockEngines) while its
// containerd runs, and checks that nothing is left: processes, taps, cgroups,
// mounts, state directories.
package shim_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

const runtimeType = "io.containerd.urunc.v2"

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var buildOnce sync.Once

func requireTools(t *testing.T, extra ...string) {
	t.Helper()
	e2e.RequireRoot(t)
	e2e.RequireQEMU(t)
	for _, b := range append([]string{"containerd", "ctr", "runc"}, extra...) {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not found: install the Debian packages containerd and runc (make deps)", b)
		}
	}
	buildOnce.Do(func() { e2e.Make(t, "build", "unikernel") })
	if _, err := os.Stat(shimBin()); err != nil {
		t.Fatalf("%v (make build)", err)
	}
}

func shimBin() string { return filepath.Join(e2e.RepoRoot(), "bin", "containerd-shim-urunc-v2") }

// ctrd is one private containerd: its own root, state, sockets, and
// bin/ first on its PATH, so io.containerd.urunc.v2 is this tree's shim.
type ctrd struct {
	t          *testing.T
	containerd string // binaries: Debian's, or containerd 2.x's
	ctrBin     string
	base       string
	sock       string
	state      string
	ns         string // ctr's namespace
	cfg        string
	stop       func() // nil when not running
	// allowErrors are containerd's own error lines a test expects.
	allowErrors []string
}

// startContainerd starts a private containerd (Debian's 1.6); criSection
// is appended to its config (empty: the CRI plugin is disabled).
func startContainerd(t *testing.T, criSection string) *ctrd {
	t.Helper()
	disabled := `disabled_plugins = ["io.containerd.grpc.v1.cri"]`
	if criSection != "" {
		disabled = ""
	}
	return startContainerdWith(t, "containerd", "ctr", 2, disabled, criSection)
}

// startContainerdWith starts the given containerd and ctr with a config
// of that version (2: containerd 1.6/1.7, 3: containerd 2.x), top-level
// keys top and tables.
func startContainerdWith(t *testing.T, containerd, ctr string, version int, top, tables string) *ctrd {
	t.Helper()
	e2e.LockEngines(t)
	base, err := os.MkdirTemp("/tmp", "ushim")
	if err != nil {
		t.Fatal(err)
	}
	c := &ctrd{t: t, containerd: containerd, ctrBin: ctr, base: base, sock: filepath.Join(base, "c.sock"),
		state: filepath.Join(base, "state"), ns: "ushim-" + randHex(3), cfg: filepath.Join(base, "config.toml")}
	cfg := fmt.Sprintf(`version = %d
root = %q
state = %q
%s
[grpc]
  address = %q
[ttrpc]
  address = %q
%s`, version, filepath.Join(base, "root"), c.state, top, c.sock, c.sock+".ttrpc", tables)
	if err := os.WriteFile(c.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs last: after containerd has stopped.
	t.Cleanup(c.cleanupHost)
	c.start()
	t.Cleanup(func() {
		if c.stop != nil {
			c.stop()
		}
		if t.Failed() || os.Getenv("URUNC_SHIM_LOG") != "" {
			log, _ := os.ReadFile(filepath.Join(base, "containerd.log"))
			t.Logf("containerd log (last lines):\n%s", lastLines(string(log), 80))
		}
	})
	return c
}

// start runs containerd and waits until it answers; stop ends it with
// SIGINT (shims and containers stay, as on a containerd upgrade).
func (c *ctrd) start() {
	t := c.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, c.containerd, "--config", c.cfg)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(shimBin())+":"+os.Getenv("PATH"))
	logf, err := os.OpenFile(filepath.Join(c.base, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	c.stop = func() {
		cancel()
		cmd.Wait()
		logf.Close()
		c.stop = nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.ctr(nil, "version").code != 0 {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(c.base, "containerd.log"))
			t.Fatalf("containerd did not come up:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type result struct {
	out  string
	code int
}

// ctr runs ctr in the test's namespace.
func (c *ctrd) ctr(stdin []byte, args ...string) result {
	return c.ctrIn(c.ns, stdin, args...)
}

func (c *ctrd) ctrIn(ns string, stdin []byte, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.ctrBin, append([]string{"-a", c.sock, "-n", ns}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return result{dropDeprecations(string(out)), e2e.ExitCode(err)}
}

// dropDeprecations removes the warning ctr 2.x prints on cgroup v1
// hosts with every command.
func dropDeprecations(out string) string {
	if !strings.Contains(out, "DEPRECATION") {
		return out
	}
	var keep []string
	for _, l := range strings.SplitAfter(out, "\n") {
		if !strings.Contains(l, `level=warning msg="DEPRECATION`) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

func (c *ctrd) must(args ...string) string {
	c.t.Helper()
	r := c.ctr(nil, args...)
	if r.code != 0 {
		c.t.Fatalf("ctr %v: exit %d: %s", args, r.code, r.out)
	}
	return r.out
}

// uruncRoot is where the shim keeps the unikernel containers of ns.
func (c *ctrd) uruncRoot(ns string) string { return filepath.Join(c.state, "urunc", ns) }

// urunc runs bin/urunc on the shim's state root of ns.
func (c *ctrd) urunc(ns string, args ...string) result {
	out, err := exec.Command(e2e.URuncBin(), append([]string{"--root", c.uruncRoot(ns)}, args...)...).CombinedOutput()
	return result{string(out), e2e.ExitCode(err)}
}

// uruncState is `urunc state` of a shim-run container.
func (c *ctrd) uruncState(ns, id string) (status string, pid int) {
	r := c.urunc(ns, "state", id)
	var st struct {
		Status string
		Pid    int
	}
	if json.Unmarshal([]byte(r.out), &st) != nil {
		return "", 0
	}
	return st.Status, st.Pid
}

// taskStatus is a task's STATUS and PID in `ctr task ls`.
func (c *ctrd) taskStatus(id string) (string, int) {
	for _, l := range strings.Split(c.must("task", "ls"), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == id {
			pid, _ := strconv.Atoi(f[1])
			return f[2], pid
		}
	}
	return "", 0
}

func (c *ctrd) waitTask(id, status string, timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s, pid := c.taskStatus(id)
		if s == status {
			return pid
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("task %s is %q, want %s within %s", id, s, status, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// events records `ctr events` (all namespaces); restart it after
// containerd restarts (ctr events ends with its containerd).
type events struct {
	c   *ctrd
	cmd *exec.Cmd
	buf *bytes.Buffer
	mu  *sync.Mutex
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (c *ctrd) events() *events {
	c.t.Helper()
	e := &events{c: c, buf: &bytes.Buffer{}, mu: &sync.Mutex{}}
	e.restart()
	c.t.Cleanup(func() { e.cmd.Process.Kill(); e.cmd.Wait() })
	return e
}

func (e *events) restart() {
	if e.cmd != nil {
		e.cmd.Process.Kill()
		e.cmd.Wait()
	}
	e.cmd = exec.Command(e.c.ctrBin, "-a", e.c.sock, "events")
	e.cmd.Stdout = lockedWriter{e.mu, e.buf}
	if err := e.cmd.Start(); err != nil {
		e.c.t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // subscribed
}

type eventLine struct {
	topic string
	body  map[string]any
}

// of returns the events of container id, in order.
func (e *events) of(id string) []eventLine {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []eventLine
	sc := bufio.NewScanner(bytes.NewReader(e.buf.Bytes()))
	for sc.Scan() {
		// "<date> <time> +0000 UTC <namespace> <topic> <json>"
		f := strings.SplitN(sc.Text(), " ", 7)
		if len(f) < 7 {
			continue
		}
		var body map[string]any
		if json.Unmarshal([]byte(f[6]), &body) != nil {
			continue
		}
		if body["container_id"] == id || body["id"] == id || body["key"] == id {
			out = append(out, eventLine{f[5], body})
		}
	}
	return out
}

func (e *events) waitFor(t *testing.T, id, topic string, timeout time.Duration) eventLine {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, ev := range e.of(id) {
			if ev.topic == topic {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event for %s within %s: %v", topic, id, timeout, e.of(id))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func topics(evs []eventLine) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.topic)
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ---- leftovers ---------------------------------------------------------

// processesUsing lists processes (not this one) whose command line
// mentions dir: shims (their bundle is the cwd, their -address is under
// it), VMMs (their kernel and serial log are under it).
func processesUsing(dir string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cl, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.Contains(cl, []byte(dir+"/")) && !bytes.Contains(cl, []byte("config.toml")) && !bytes.Contains(cl, []byte("\x00events")) {
			found = append(found, fmt.Sprintf("%d %s", pid, strings.ReplaceAll(string(cl), "\x00", " ")))
		}
	}
	return found
}

func pidsOf(lines []string) []int {
	var pids []int
	for _, l := range lines {
		if pid, err := strconv.Atoi(strings.Fields(l)[0]); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// mountsUnder lists mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	var ms []string
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			ms = append(ms, f[4])
		}
	}
	sort.Slice(ms, func(i, j int) bool { return len(ms[i]) > len(ms[j]) })
	return ms
}

// cgroupDirs lists the directories named rel (a cgroup path) in every v1
// hierarchy and the unified one.
func cgroupDirs(rel string) []string {
	var dirs []string
	tops, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", rel))
	for _, d := range append(tops, filepath.Join("/sys/fs/cgroup", rel)) {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// checkClean fails on anything of the test's containers left on the host:
// containers, urunc state, shims and VMMs, mounts, the containers'
// cgroups (ctr puts them at /<namespace>/<id>).
func (c *ctrd) checkClean(ids ...string) {
	t := c.t
	t.Helper()
	if out := strings.TrimSpace(c.must("container", "ls", "-q")); out != "" {
		t.Errorf("containers left: %s", out)
	}
	if entries, _ := os.ReadDir(c.uruncRoot(c.ns)); len(entries) > 0 {
		t.Errorf("urunc state left under %s: %v", c.uruncRoot(c.ns), entries)
	}
	var left []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		if left = processesUsing(c.base); len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
	if ms := mountsUnder(c.state); len(ms) > 0 {
		t.Errorf("mounts left: %v", ms)
	}
	for _, id := range ids {
		if d := cgroupDirs(filepath.Join(c.ns, id)); len(d) > 0 {
			t.Errorf("cgroups of %s left: %v", id, d)
		}
		if sock := c.shimSocket(c.ns, id); fileExists(sock) {
			t.Errorf("shim socket of %s left: %s", id, sock)
		}
	}
}

// shimSocket is where the shim of container id listens: containerd's
// socket directory, named by a hash of containerd's address, namespace
// and id (pkg/shim's CreateSocketAddress).
func (c *ctrd) shimSocket(ns, id string) string {
	sum := sha256.Sum256([]byte(filepath.Join(c.sock, ns, id)))
	return filepath.Join("/run/containerd/s", hex.EncodeToString(sum[:]))
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// cleanupHost removes what may outlive containerd after a failure:
// urunc and runc containers (deleted with force), then any shim or VMM of the test
// by pid, mounts, cgroups, the temp dir.
func (c *ctrd) cleanupHost() {
	roots, _ := filepath.Glob(filepath.Join(c.state, "urunc", "*"))
	for _, root := range roots {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			exec.CommandContext(ctx, e2e.URuncBin(), "--root", root, "delete", "--force", e.Name()).Run()
			cancel()
		}
	}
	runcRoots, _ := filepath.Glob(filepath.Join(c.state, "runc", "*"))
	for _, root := range runcRoots {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			exec.CommandContext(ctx, "runc", "--root", root, "delete", "--force", e.Name()).Run()
			cancel()
		}
	}
	for _, pid := range pidsOf(processesUsing(c.base)) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	// Sockets of shims that had to be killed.
	addrs, _ := filepath.Glob(filepath.Join(c.state, "io.containerd.runtime.v2.task", "*", "*", "address"))
	for _, a := range addrs {
		if data, err := os.ReadFile(a); err == nil {
			os.Remove(strings.TrimPrefix(strings.TrimSpace(string(data)), "unix://"))
		}
	}
	time.Sleep(100 * time.Millisecond)
	for _, m := range mountsUnder(c.base) {
		syscall.Unmount(m, syscall.MNT_DETACH)
	}
	// The test's namespace's cgroups (ctr's /<namespace>/<id>), deepest
	// first.
	var dirs []string
	for _, top := range cgroupDirs(c.ns) {
		filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		syscall.Rmdir(d)
	}
	os.RemoveAll(c.base)
}

// ---- images -------------------------------------------------------------

const (
	hbImage   = "docker.io/library/urunc-shim-hb:test"
	exitImage = "docker.io/library/urunc-shim-exit:test"
	bbImage   = "docker.io/library/urunc-shim-busybox:test"
)

// importImages imports the test unikernel (CMD heartbeat, and exit=5)
// and a busybox image into ns.
func (c *ctrd) importImages(ns string) {
	c.t.Helper()
	for ref, cmd := range map[string]string{hbImage: "heartbeat", exitImage: "exit=5"} {
		archive := e2e.DockerArchive(ref, e2e.UnikernelRootfsTar(c.t), map[string]any{"Cmd": []string{cmd}})
		if r := c.ctrIn(ns, archive, "images", "import", "-"); r.code != 0 {
			c.t.Fatalf("ctr images import %s: %s", ref, r.out)
		}
	}
	if r := c.ctrIn(ns, busyboxArchive(c.t, bbImage), "images", "import", "-"); r.code != 0 {
		c.t.Fatalf("ctr images import %s: %s", bbImage, r.out)
	}
}

// busyboxArchive is an image of /bin/busybox (busybox-static) alone, with
// a shell loop that sleeps until TERM/INT as its entrypoint: a pod's
// pause image, and an ordinary container.
func busyboxArchive(t *testing.T, ref string) []byte {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("/bin/busybox: %v (install busybox-static)", err)
	}
	var buf bytes.Buffer
	tw := newTar(&buf)
	tw.dir("bin")
	tw.file("bin/busybox", bb, 0o755)
	for _, l := range []string{"sh", "sleep", "cat", "echo", "true"} {
		tw.symlink("bin/"+l, "busybox")
	}
	for _, d := range []string{"proc", "sys", "dev", "etc", "tmp"} {
		tw.dir(d)
	}
	tw.close()
	return e2e.DockerArchive(ref, buf.Bytes(), map[string]any{
		"Entrypoint": []string{"/bin/sh", "-c", pauseScript},
		"Env":        []string{"PATH=/bin"},
	})
}

// pauseScript sleeps until SIGTERM/SIGINT.
const pauseScript = `trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done`

// countIn counts occurrences of s in a file.
func countIn(path, s string) int {
	data, _ := os.ReadFile(path)
	return strings.Count(string(data), s)
}

// tarWriter writes a layer.
type tarWriter struct{ tw *tar.Writer }

func newTar(w *bytes.Buffer) *tarWriter { return &tarWriter{tar.NewWriter(w)} }

func (w *tarWriter) dir(name string) {
	w.tw.WriteHeader(&tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: 0o755})
}

func (w *tarWriter) file(name string, data []byte, mode int64) {
	w.tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data))})
	w.tw.Write(data)
}

func (w *tarWriter) symlink(name, target string) {
	w.tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777})
}

func (w *tarWriter) close() { w.tw.Close() }

// checkNoErrors fails on error lines in containerd's log (the shim's own
// log goes there too).
func (c *ctrd) checkNoErrors() {
	c.t.Helper()
	for _, l := range strings.Split(readFile(filepath.Join(c.base, "containerd.log")), "\n") {
		if strings.Contains(l, "level=error") && !containsAny(l, c.allowErrors) {
			c.t.Errorf("containerd logged an error: %s", l)
		}
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// Package cri_test drives a private, real containerd (Debian's containerd
// 1.6) through its CRI plugin with crictl, as the kubelet would: a runtime
// handler "urunc" (runc.v2 shim, urunc as its runc binary), a pause image
// built from busybox-static, CNI from Debian's containernetworking-plugins
// (a private bridge and subnet; traffic stays on the machine). No image is
// ever pulled: every image is imported into the k8s.io namespace.
package cri_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

const (
	pauseImage = "localhost/urunc-pause:test"
	appImage   = "docker.io/library/urunc-cri-hb:test"
	cniBinDir  = "/usr/lib/cni"
)

// cri is one private containerd with the CRI plugin, its crictl and the
// CNI network it uses.
type cri struct {
	t         *testing.T
	base      string // everything of this containerd lives here
	sock      string
	crictl    string
	cfg       string // crictl config file
	uruncRoot string // --root the shim gives bin/urunc: the handler's Root option + /k8s.io
	runcRoot  string // --root of the default (runc) handler (+ /k8s.io)
	bridge    string
	subnet    *net.IPNet
	netName   string
	cgroup    string   // cgroup parent of every pod: /urunc-cri-<id>
	netnses   []string // pod netns paths seen, removed on cleanup if left
	pods      []string // sandbox ids created (for CNI's loopback result cache)
	taps      []string // tap names from vmm.json

	stopDaemon func() // nil when containerd is not running
}

func requireTools(t *testing.T) {
	t.Helper()
	e2e.RequireRoot(t)
	e2e.RequireQEMU(t)
	for _, b := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "runc", "ip"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not found: install the Debian packages containerd, runc, iproute2 (make deps)", b)
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, p)); err != nil {
			t.Skipf("CNI plugin %s/%s not found: install Debian package containernetworking-plugins (make deps)", cniBinDir, p)
		}
	}
	// The pause image is /bin/busybox alone: it must be the static one.
	f, err := elf.Open("/bin/busybox")
	if err != nil {
		t.Skipf("/bin/busybox: %v: install Debian package busybox-static (make deps)", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Skip("/bin/busybox is dynamically linked: install Debian package busybox-static (make deps)")
		}
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// freeSubnet picks 10.88.X.0/24 with no route on the host yet.
func freeSubnet(t *testing.T) *net.IPNet {
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").CombinedOutput()
	if err != nil {
		t.Fatalf("ip route: %v: %s", err, out)
	}
	for i := 0; i < 50; i++ {
		n, _ := rand.Int(rand.Reader, big.NewInt(150))
		x := 100 + n.Int64()
		prefix := fmt.Sprintf("10.88.%d.", x)
		if !strings.Contains(string(out), prefix) {
			_, ipn, _ := net.ParseCIDR(prefix + "0/24")
			return ipn
		}
	}
	t.Fatal("no free 10.88.x.0/24 subnet")
	return nil
}

func startCRI(t *testing.T) *cri {
	t.Helper()
	requireTools(t)
	e2e.Make(t, "build", "unikernel", "crictl")
	e2e.LockEngines(t)
	base, err := os.MkdirTemp("/tmp", "ucri")
	if err != nil {
		t.Fatal(err)
	}
	id := randHex(3)
	c := &cri{
		t: t, base: base, sock: filepath.Join(base, "c.sock"),
		crictl:    filepath.Join(e2e.RepoRoot(), "build", "bin", "crictl"),
		cfg:       filepath.Join(base, "crictl.yaml"),
		uruncRoot: filepath.Join(base, "urunc-root", "k8s.io"),
		runcRoot:  filepath.Join(base, "runc-root", "k8s.io"),
		bridge:    "ucri" + id,
		netName:   "urunc-cri-" + id,
		cgroup:    "/urunc-cri-" + id,
		subnet:    freeSubnet(t),
	}
	// Registered first, so it runs last: after containerd has stopped.
	t.Cleanup(c.cleanupHost)

	cniDir := filepath.Join(base, "cni")
	os.MkdirAll(cniDir, 0o755)
	conflist, _ := json.MarshalIndent(map[string]any{
		"cniVersion": "0.4.0",
		"name":       c.netName,
		"plugins": []any{map[string]any{
			"type": "bridge", "bridge": c.bridge, "isGateway": true, "ipMasq": false,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  [][]map[string]string{{{"subnet": c.subnet.String()}}},
				"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				"dataDir": filepath.Join(base, "cni-ipam"),
			},
		}},
	}, "", "  ")
	mustWrite(t, filepath.Join(cniDir, "10-urunc-test.conflist"), conflist)

	cfg := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[4]q
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # Root on these machines lacks CAP_SYS_RESOURCE: the sandbox's default
  # oom_score_adj (-998) cannot be set; clamp to containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = %[5]q
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.urunc]
      runtime_type = "io.containerd.runc.v2"
      pod_annotations = ["com.urunc.*"]
      container_annotations = ["com.urunc.*"]
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.urunc.options]
        BinaryName = %[6]q
        Root = %[7]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[8]q
    conf_dir = %[9]q
    max_conf_num = 1
`, filepath.Join(base, "root"), filepath.Join(base, "state"), c.sock, pauseImage,
		filepath.Dir(c.runcRoot), e2e.URuncBin(), filepath.Dir(c.uruncRoot), cniBinDir, cniDir)
	mustWrite(t, filepath.Join(base, "config.toml"), []byte(cfg))
	mustWrite(t, c.cfg, []byte(fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\ndebug: false\npull-image-on-create: false\n", c.sock, c.sock)))

	c.startDaemon()
	t.Cleanup(func() {
		// Whatever the test left: pods (and their containers) first, while
		// containerd still runs, then containerd itself.
		if c.stopDaemon != nil {
			if r := c.run("rmp", "--force", "--all"); r.code != 0 || strings.TrimSpace(r.out) != "" {
				t.Logf("cleanup: crictl rmp -fa: %s%s", r.out, r.stderr)
			}
			c.stopDaemon()
		}
		if t.Failed() || os.Getenv("URUNC_CRI_LOG") != "" {
			log, _ := os.ReadFile(filepath.Join(base, "containerd.log"))
			t.Logf("containerd log:\n%s", lastLines(string(log), 60))
		}
	})
	c.importImage(pauseArchive(t))
	c.importImage(unikernelArchive(t, appImage, "heartbeat"))
	return c
}

// startDaemon starts containerd on the test's config and waits for its
// CRI service; stopDaemon stops it (SIGINT; shims and containers stay).
func (c *cri) startDaemon() {
	t := c.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "containerd", "--config", filepath.Join(c.base, "config.toml"))
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
	c.stopDaemon = func() {
		cancel()
		cmd.Wait()
		logf.Close()
		c.stopDaemon = nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.run("version").code != 0 {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(c.base, "containerd.log"))
			t.Fatalf("containerd's CRI did not come up:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cleanupHost removes what may outlive containerd after a failure: its
// containers (deleted with the runtimes themselves, then whatever is left
// in the test's cgroups killed), shims and VMMs, mounts, pod network
// namespaces, the bridge, CNI's result cache, cgroups, the temp dir. Each
// step is a no-op when already clean, and touches only what this test made.
func (c *cri) cleanupHost() {
	for root, bin := range map[string]string{c.uruncRoot: e2e.URuncBin(), c.runcRoot: "runc"} {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			exec.CommandContext(ctx, bin, "--root", root, "delete", "--force", e.Name()).Run()
			cancel()
		}
	}
	for _, pid := range append(c.cgroupProcs(), c.processesUsingBase()...) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	time.Sleep(100 * time.Millisecond)
	for _, m := range mountsUnder(c.base) {
		syscall.Unmount(m, syscall.MNT_DETACH)
	}
	for _, ns := range c.netnses {
		if _, err := os.Stat(ns); err == nil {
			syscall.Unmount(ns, syscall.MNT_DETACH)
			os.Remove(ns)
		}
	}
	exec.Command("ip", "link", "del", c.bridge).Run()
	for _, f := range c.cniResults() {
		os.Remove(f)
	}
	dirs := c.cgroupDirs()
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		syscall.Rmdir(d)
	}
	os.RemoveAll(c.base)
}

// cgroupDirs lists the test's cgroup parent and everything below it, in
// every v1 hierarchy and the unified one.
func (c *cri) cgroupDirs() []string {
	tops, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", c.cgroup))
	if d := filepath.Join("/sys/fs/cgroup", c.cgroup); isDir(d) {
		tops = append(tops, d)
	}
	var dirs []string
	for _, top := range tops {
		filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	return dirs
}

// cgroupProcs lists the processes in the test's cgroups.
func (c *cri) cgroupProcs() []int {
	seen := map[int]bool{}
	var pids []int
	for _, d := range c.cgroupDirs() {
		data, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func isDir(p string) bool { fi, err := os.Stat(p); return err == nil && fi.IsDir() }

// cniResults lists CNI's cached results of the test's network and of the
// loopback network of the test's pods.
func (c *cri) cniResults() []string {
	files, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", c.netName+"-*"))
	for _, pod := range c.pods {
		if f := filepath.Join("/var/lib/cni/results", "cni-loopback-"+pod+"-lo"); fileExists(f) {
			files = append(files, f)
		}
	}
	return files
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// processesUsingBase lists processes (not this one) whose command line
// mentions the temp dir: shims (their -address), VMMs (their kernel path).
func (c *cri) processesUsingBase() []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cl, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.Contains(cl, []byte(c.base+"/")) && !bytes.Contains(cl, []byte("config.toml")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// mountsUnder lists mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var ms []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			ms = append(ms, fields[4])
		}
	}
	sort.Slice(ms, func(i, j int) bool { return len(ms[i]) > len(ms[j]) })
	return ms
}

type result struct {
	out, stderr string // crictl's warnings go to stderr
	code        int
}

// run runs crictl against the private containerd only.
func (c *cri) run(args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	full := append([]string{"--config", c.cfg, "--runtime-endpoint", "unix://" + c.sock, "--image-endpoint", "unix://" + c.sock}, args...)
	cmd := exec.CommandContext(ctx, c.crictl, full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := e2e.ExitCode(err)
	return result{string(out), stderr.String(), code}
}

func (c *cri) must(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("crictl %v: exit %d: %s%s", args, r.code, r.out, r.stderr)
	}
	return strings.TrimSpace(r.out)
}

func (c *cri) ctr(stdin []byte, args ...string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"-a", c.sock, "-n", "k8s.io"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("ctr %v: %v: %s", args, err, out)
	}
}

func (c *cri) importImage(archive []byte) { c.t.Helper(); c.ctr(archive, "images", "import", "-") }

// inspect runs crictl inspect/inspectp and decodes the JSON.
func (c *cri) inspect(cmd, id string) map[string]any {
	c.t.Helper()
	out := c.must(cmd, "-o", "json", id)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		c.t.Fatalf("crictl %s %s: %v: %s", cmd, id, err, out)
	}
	return m
}

// field walks a decoded JSON object along keys.
func field(m any, keys ...string) any {
	for _, k := range keys {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[k]
	}
	return m
}

func str(m any, keys ...string) string { s, _ := field(m, keys...).(string); return s }

func (c *cri) writeJSON(name string, v any) string {
	c.t.Helper()
	j, _ := json.MarshalIndent(v, "", "  ")
	p := filepath.Join(c.base, name)
	mustWrite(c.t, p, j)
	return p
}

// podConfig writes a pod sandbox config; logs go under the temp dir.
func (c *cri) podConfig(name string, annotations map[string]string) string {
	return c.writeJSON(name+"-pod.json", map[string]any{
		"annotations":   annotations,
		"metadata":      map[string]any{"name": name, "namespace": "default", "uid": randHex(8), "attempt": 0},
		"hostname":      name,
		"log_directory": filepath.Join(c.base, "pods", name),
		"linux":         map[string]any{"cgroup_parent": c.cgroup},
	})
}

func (c *cri) containerConfig(name, image string, args, command []string, linux map[string]any) string {
	if linux == nil {
		linux = map[string]any{}
	}
	cfg := map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": image},
		"log_path": name + ".log",
		"linux":    linux,
	}
	if args != nil {
		cfg["args"] = args
	}
	if command != nil {
		cfg["command"] = command
	}
	return c.writeJSON(name+"-ctr.json", cfg)
}

// ---- images -----------------------------------------------------------

type layerFile struct {
	name, link string
	data       []byte
	mode       int64
	dir        bool
}

func layerTar(files []layerFile) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		switch {
		case f.dir:
			tw.WriteHeader(&tar.Header{Name: f.name + "/", Typeflag: tar.TypeDir, Mode: 0o755})
		case f.link != "":
			tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeSymlink, Linkname: f.link, Mode: 0o777})
		default:
			tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))})
			tw.Write(f.data)
		}
	}
	tw.Close()
	return buf.Bytes()
}

// pauseScript is the sandbox's process: sleeps until SIGTERM/SIGINT.
const pauseScript = `trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done`

// pauseArchive is the pod sandbox image: busybox-static and a shell loop
// that sleeps forever and exits on TERM/INT (no registry, no pull).
func pauseArchive(t *testing.T) []byte {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	layer := layerTar([]layerFile{
		{name: "bin", dir: true},
		{name: "bin/busybox", data: bb, mode: 0o755},
		{name: "bin/sh", link: "busybox"},
		{name: "bin/sleep", link: "busybox"},
		{name: "bin/cat", link: "busybox"},
		{name: "bin/echo", link: "busybox"},
		{name: "bin/ip", link: "busybox"},
		{name: "proc", dir: true}, {name: "sys", dir: true}, {name: "dev", dir: true},
		{name: "etc", dir: true}, {name: "tmp", dir: true},
	})
	return e2e.DockerArchive(pauseImage, layer, map[string]any{
		"Entrypoint": []string{"/bin/sh", "-c", pauseScript},
		"Env":        []string{"PATH=/bin"},
	})
}

// unikernelArchive is an upstream-style unikernel image: the test unikernel
// and a base64 urunc.json in the rootfs; cmd is the image's CMD.
func unikernelArchive(t *testing.T, ref, cmd string) []byte {
	return e2e.DockerArchive(ref, e2e.UnikernelRootfsTar(t), map[string]any{"Cmd": []string{cmd}})
}

// ---- checks -----------------------------------------------------------

func (c *cri) waitState(id, want string, timeout time.Duration) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := c.inspect("inspect", id)
		if got := str(m, "status", "state"); got == want {
			return m
		} else if time.Now().After(deadline) {
			c.t.Fatalf("container %s: state %s, want %s; logs:\n%s", id, got, want, c.logs(id))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cri) waitLogs(id string, timeout time.Duration, want ...string) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := c.logs(id)
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(out, w)
		}
		if ok {
			return out
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("crictl logs %s: want %q within %s, got:\n%s", id, want, timeout, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkLeftovers fails on anything of the test's pods left on the host.
func (c *cri) checkLeftovers(netns string) {
	c.t.Helper()
	for _, root := range []string{c.uruncRoot, c.runcRoot} {
		if entries, _ := os.ReadDir(root); len(entries) > 0 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			c.t.Errorf("left under the runtime root %s: %v", root, names)
		}
	}
	if netns != "" {
		if _, err := os.Stat(netns); err == nil {
			c.t.Errorf("pod network namespace %s left", netns)
		}
	}
	e2e.WaitFor(c.t, 10*time.Second, "shims and VMMs of the test to exit", func() bool {
		return len(c.processesUsingBase()) == 0
	})
	for _, tap := range c.taps {
		// Taps live in the pod netns; one in the host netns is a leak.
		if out, err := exec.Command("ip", "-o", "link", "show", tap).CombinedOutput(); err == nil {
			c.t.Errorf("tap %s in the host network namespace: %s", tap, out)
		}
	}
	if out, _ := exec.Command("ip", "-o", "link", "show", "master", c.bridge).CombinedOutput(); strings.TrimSpace(string(out)) != "" {
		c.t.Errorf("veths left on bridge %s: %s", c.bridge, out)
	}
	if cached := c.cniResults(); len(cached) > 0 {
		c.t.Errorf("CNI results left: %v", cached)
	}
	if procs := c.cgroupProcs(); len(procs) > 0 {
		c.t.Errorf("processes left in the pods' cgroups: %v", procs)
	}
	for _, d := range c.cgroupDirs() {
		// runc and urunc remove their containers' cgroups; the parent is
		// the kubelet's (here the test's) to remove.
		if filepath.Base(d) != filepath.Base(c.cgroup) {
			c.t.Errorf("cgroup left: %s", d)
		}
	}
}

// runp starts a pod sandbox and records it for cleanup.
func (c *cri) runp(args ...string) string {
	c.t.Helper()
	id := c.must(append([]string{"runp"}, args...)...)
	c.pods = append(c.pods, id)
	if p := c.inspect("inspectp", id); podNetns(p) != "" {
		c.netnses = append(c.netnses, podNetns(p))
	}
	return id
}

// TestCRIUnikernelPod: a pod with runtime handler urunc (its pause
// container handed to runc by urunc), unikernel containers in it that get
// the pod's IP and whose serial output is in crictl logs, with the pod's pid
// namespace (crictl's default) and with their own (the kubelet's default);
// an ordinary container beside them (urunc hands it to runc); stop and
// removal of everything with nothing left.
func TestCRIUnikernelPod(t *testing.T) {
	c := startCRI(t)
	start := time.Now()

	// A urunc annotation on the pod reaches every container of it
	// (pod_annotations), the sandbox included: urunc must still hand the
	// sandbox, which has no unikernel configuration, to runc.
	podCfg := c.podConfig("uk", map[string]string{"com.urunc.vmm.accel": "tcg"})
	pod := c.runp("--runtime", "urunc", podCfg)
	p := c.inspect("inspectp", pod)
	if s := str(p, "status", "state"); s != "SANDBOX_READY" {
		t.Fatalf("pod state %s, want SANDBOX_READY", s)
	}
	if h := str(p, "status", "runtimeHandler"); h != "urunc" {
		t.Errorf("pod runtime handler %q, want urunc", h)
	}
	podIP := net.ParseIP(str(p, "status", "network", "ip"))
	if podIP == nil || !c.subnet.Contains(podIP) {
		t.Fatalf("pod IP %q not in the test subnet %s", str(p, "status", "network", "ip"), c.subnet)
	}
	netns := podNetns(p)
	if netns == "" {
		t.Fatalf("crictl inspectp: no network namespace path: %v", field(p, "info", "runtimeSpec", "linux"))
	}
	// The sandbox is runc's: urunc handed it over unchanged, so its state
	// is runc's (no urunc marker) under the handler's root.
	c.checkRuncOwned(pod)
	pausePid, _ := field(p, "info", "pid").(float64)
	t.Logf("pod ready %s after runp", time.Since(start).Round(time.Millisecond))

	// An ordinary container in the urunc pod: runc runs it.
	side := c.must("create", pod, c.containerConfig("side", pauseImage, nil,
		[]string{"/bin/sh", "-c", "echo side-ok; " + pauseScript}, nil), podCfg)
	c.must("start", side)
	c.waitState(side, "CONTAINER_RUNNING", 30*time.Second)
	c.waitLogs(side, 10*time.Second, "side-ok")
	c.checkRuncOwned(side)

	wantIP := fmt.Sprintf("netdev.ip=%s/24:%s", podIP, ipAdd(c.subnet.IP, 1))

	// A guest that exits by itself: its status reaches the CRI (the test
	// unikernel's exit=5 leaves qemu with (5<<1)|1, as with ctr). The
	// exited container is kept, as the kubelet keeps it when it restarts a
	// container: the next unikernel must get the pod network all the same.
	exited := c.must("create", pod, c.containerConfig("app-exit", appImage, []string{"exit=5"}, nil, nil), podCfg)
	c.must("start", exited)
	m := c.waitState(exited, "CONTAINER_EXITED", 60*time.Second)
	if code, _ := field(m, "status", "exitCode").(float64); code != 11 {
		t.Errorf("app-exit: exit code %v, want 11; logs:\n%s", field(m, "status", "exitCode"), c.logs(exited))
	}
	if logs := c.waitLogs(exited, 5*time.Second, "bye"); !strings.Contains(logs, wantIP) {
		t.Errorf("app-exit: guest cmdline lacks the pod IP (%s):\n%s", wantIP, logs)
	}

	// CRI's NamespaceMode: POD = 0 (crictl's default), CONTAINER = 1 (the
	// kubelet's). The first is stopped and removed with crictl; the second
	// is left running for the pod's stop.
	var last string
	for i, pidMode := range []string{"POD", "CONTAINER"} {
		name := fmt.Sprintf("app%d", i)
		word := "from-cri-" + strings.ToLower(pidMode)
		t0 := time.Now()
		ctr := c.must("create", pod, c.containerConfig(name, appImage, []string{"echo=" + word, "heartbeat"}, nil,
			map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{"pid": i}}}), podCfg)
		c.must("start", ctr)
		m := c.waitState(ctr, "CONTAINER_RUNNING", 30*time.Second)
		if got := nsPath(m, "pid") != ""; got != (pidMode == "POD") {
			t.Errorf("%s: pid namespace path %q with mode %s", name, nsPath(m, "pid"), pidMode)
		}
		// The VMM is in the pod's network, IPC and UTS namespaces, and in
		// its pid namespace only with POD.
		vmmPid, _ := field(m, "info", "pid").(float64)
		for _, ns := range []string{"net", "ipc", "uts", "pid"} {
			same := nsOf(int(pausePid), ns) == nsOf(int(vmmPid), ns)
			if want := ns != "pid" || pidMode == "POD"; same != want || nsOf(int(vmmPid), ns) == "" {
				t.Errorf("%s: %s namespace %s, pause's %s", name, ns, nsOf(int(vmmPid), ns), nsOf(int(pausePid), ns))
			}
		}
		logs := c.waitLogs(ctr, 60*time.Second, "echo: "+word, "heartbeat 2")
		if !strings.Contains(logs, wantIP) {
			t.Errorf("%s: guest cmdline lacks the pod IP (%s):\n%s", name, wantIP, logs)
		}
		t.Logf("%s (pid namespace %s): running and logging after %s", name, pidMode, time.Since(t0).Round(time.Millisecond))
		c.checkUnikernel(ctr, m, netns, podIP, wantIP)
		c.checkAccounted(ctr, int(vmmPid))
		if i == 1 {
			last = ctr
			break
		}
		c.must("stop", "--timeout", "10", ctr)
		m = c.waitState(ctr, "CONTAINER_EXITED", 30*time.Second)
		t.Logf("%s: exit code %v, reason %v", name, field(m, "status", "exitCode"), field(m, "status", "reason"))
		c.must("rm", ctr)
		if _, err := os.Stat(filepath.Join(c.uruncRoot, ctr)); err == nil {
			t.Errorf("%s: state left under %s after crictl rm", name, c.uruncRoot)
		}
	}

	// exec is refused for a unikernel, with urunc's reason.
	if r := c.run("exec", last, "/bin/sh", "-c", "true"); r.code == 0 || !strings.Contains(r.out+r.stderr, "not supported for unikernel") {
		t.Errorf("crictl exec into a unikernel: exit %d: %s%s", r.code, r.out, r.stderr)
	}

	// Stopping the pod stops its running containers (unikernel and runc).
	c.must("stopp", pod)
	for _, id := range []string{last, side} {
		if s := str(c.inspect("inspect", id), "status", "state"); s != "CONTAINER_EXITED" {
			t.Errorf("%s after stopp: %s", id, s)
		}
	}
	c.must("rmp", pod)
	if out := c.must("pods", "-q"); out != "" {
		t.Errorf("pods left: %s", out)
	}
	c.checkLeftovers(netns)
	c.checkNoErrors()
	t.Logf("whole pod lifecycle %s", time.Since(start).Round(time.Millisecond))
}

// checkRuncOwned: id's state dir under the urunc handler's root is runc's.
// checkAccounted: the VMM is in the container's cgroup under the pod's
// cgroup parent, so crictl stats reports the VM (not the host's root
// cgroup, which is what the shim would read with the VMM outside it).
func (c *cri) checkAccounted(id string, vmmPid int) {
	c.t.Helper()
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", vmmPid))
	// The memory controller's line; on a pure v2 host the unified one.
	var memCg, unified string
	for _, line := range strings.Split(string(data), "\n") {
		if parts := strings.SplitN(line, ":", 3); len(parts) == 3 {
			switch parts[1] {
			case "memory":
				memCg = parts[2]
			case "":
				unified = parts[2]
			}
		}
	}
	if memCg == "" {
		memCg = unified
	}
	if !strings.HasPrefix(memCg, c.cgroup+"/") {
		c.t.Errorf("%s: VMM pid %d in memory cgroup %q, not under the pod's %s", id, vmmPid, memCg, c.cgroup)
	}
	var stats struct {
		Stats []struct {
			Memory struct {
				WorkingSetBytes struct {
					Value string `json:"value"`
				} `json:"workingSetBytes"`
			} `json:"memory"`
		} `json:"stats"`
	}
	out := c.must("stats", "-o", "json", "--id", id)
	if err := json.Unmarshal([]byte(out), &stats); err != nil || len(stats.Stats) != 1 {
		c.t.Errorf("%s: crictl stats: %v %s", id, err, out)
		return
	}
	var ws int64
	fmt.Sscan(stats.Stats[0].Memory.WorkingSetBytes.Value, &ws)
	if ws < 1<<20 || ws > 256<<20 {
		c.t.Errorf("%s: crictl stats working set %d bytes: not the VMM's (~40 MiB)", id, ws)
	}
}

func (c *cri) checkRuncOwned(id string) {
	c.t.Helper()
	dir := filepath.Join(c.uruncRoot, id)
	if _, err := os.Stat(filepath.Join(dir, "state.json")); err != nil {
		c.t.Errorf("%s: no runc state under the urunc handler's root: %v", id, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "urunc")); err == nil {
		c.t.Errorf("%s: urunc ran it; want it handed to runc", id)
	}
}

// checkUnikernel compares urunc's own view of a running unikernel
// container with the CRI's: status, pid, the guest's command line and
// network (vmm.json), the tap in the pod's network namespace.
func (c *cri) checkUnikernel(ctr string, m map[string]any, netns string, podIP net.IP, wantIP string) {
	t := c.t
	t.Helper()
	var st struct {
		Status string
		Pid    int
	}
	stOut, err := exec.Command(e2e.URuncBin(), "--root", c.uruncRoot, "state", ctr).CombinedOutput()
	if err := errors.Join(err, json.Unmarshal(stOut, &st)); err != nil || st.Status != "running" {
		t.Errorf("urunc state %s: %v: %s", ctr, err, stOut)
	}
	if pid, _ := field(m, "info", "pid").(float64); pid <= 0 || int(pid) != st.Pid {
		t.Errorf("crictl inspect pid %v, urunc state pid %d", pid, st.Pid)
	}
	// Not checked: the VMM in the spec's cgroupsPath. urunc does not place
	// it there yet (docs/kubernetes.md, docs/docker.md).
	var info struct {
		Hypervisor, GuestCmdline, Network, TapName, Accel, AccelReason string
	}
	data, err := os.ReadFile(filepath.Join(c.uruncRoot, ctr, "vmm.json"))
	if err := errors.Join(err, json.Unmarshal(data, &info)); err != nil {
		t.Errorf("vmm.json: %v", err)
		return
	}
	if info.Accel != "tcg" || info.AccelReason != "requested by configuration" {
		t.Errorf("vmm.json accel %q (%s): want tcg from the pod annotation", info.Accel, info.AccelReason)
	}
	if !strings.Contains(info.GuestCmdline, wantIP) {
		t.Errorf("vmm.json guestCmdline %q lacks %s", info.GuestCmdline, wantIP)
	}
	if !strings.Contains(info.Network, podIP.String()) || info.TapName == "" {
		t.Errorf("vmm.json network %q tap %q: want the pod IP %s on a tap", info.Network, info.TapName, podIP)
		return
	}
	c.taps = append(c.taps, info.TapName)
	// The VMM runs in the pod's network namespace: the tap is there.
	if out, err := exec.Command("nsenter", "--net="+netns, "ip", "-o", "link", "show", info.TapName).CombinedOutput(); err != nil {
		t.Errorf("tap %s not in the pod netns %s: %v: %s", info.TapName, netns, err, out)
	}
}

// checkNoErrors fails on error lines in containerd's log (a kill that
// containerd did not recognise as "already exited" is logged there).
func (c *cri) checkNoErrors() {
	c.t.Helper()
	log, _ := os.ReadFile(filepath.Join(c.base, "containerd.log"))
	for _, l := range strings.Split(string(log), "\n") {
		if strings.Contains(l, "level=error") {
			c.t.Errorf("containerd logged an error: %s", l)
		}
	}
}

// nsOf returns a process's namespace of a type, e.g. "net:[4026532177]".
func nsOf(pid int, typ string) string {
	l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, typ))
	return l
}

// podNetns returns the pod's network namespace path from crictl inspectp.
func podNetns(p map[string]any) string { return nsPath(p, "network") }

// nsPath returns the path of a namespace in crictl inspect(p)'s runtime spec.
func nsPath(m map[string]any, typ string) string {
	nss, _ := field(m, "info", "runtimeSpec", "linux", "namespaces").([]any)
	for _, ns := range nss {
		if str(ns, "type") == typ {
			return str(ns, "path")
		}
	}
	return ""
}

func ipAdd(ip net.IP, n byte) net.IP {
	out := make(net.IP, len(ip.To4()))
	copy(out, ip.To4())
	out[3] += n
	return out
}

// TestCRIRuncPodBaseline: the same containerd's default handler (plain
// runc) runs a pod of the pause image: the setup itself works.
func TestCRIRuncPodBaseline(t *testing.T) {
	c := startCRI(t)
	pod := c.runp(c.podConfig("rc", nil))
	c.must("stopp", pod)
	c.must("rmp", pod)
	c.checkLeftovers("")
	c.checkNoErrors()
}

// logs returns crictl logs (the container's stdout and stderr).
func (c *cri) logs(id string) string {
	r := c.run("logs", id)
	return r.out + r.stderr
}

// TestCRIContainerdRestart: containerd restarts while a unikernel pod
// runs (the kubelet's node keeps running pods across containerd upgrades):
// the container is still running afterwards, its log continues, and it
// stops and is removed as usual.
func TestCRIContainerdRestart(t *testing.T) {
	c := startCRI(t)
	podCfg := c.podConfig("rs", nil)
	pod := c.runp("--runtime", "urunc", podCfg)
	netns := podNetns(c.inspect("inspectp", pod))
	ctr := c.must("create", pod, c.containerConfig("app", appImage, []string{"heartbeat"}, nil, nil), podCfg)
	c.must("start", ctr)
	c.waitState(ctr, "CONTAINER_RUNNING", 30*time.Second)
	c.waitLogs(ctr, 60*time.Second, "heartbeat 1")
	pid := field(c.inspect("inspect", ctr), "info", "pid")

	t0 := time.Now()
	c.stopDaemon()
	time.Sleep(2 * time.Second) // the guest goes on meanwhile
	c.startDaemon()
	t.Logf("containerd restarted in %s", time.Since(t0).Round(time.Millisecond))

	m := c.waitState(ctr, "CONTAINER_RUNNING", 10*time.Second)
	if got := field(m, "info", "pid"); got != pid {
		t.Errorf("pid %v after the restart, %v before", got, pid)
	}
	if s := str(c.inspect("inspectp", pod), "status", "state"); s != "SANDBOX_READY" {
		t.Errorf("pod %s after the restart", s)
	}
	// The log goes on: a heartbeat later than any before the restart.
	n := strings.Count(c.logs(ctr), "heartbeat ")
	c.waitLogs(ctr, 30*time.Second, fmt.Sprintf("heartbeat %d", n+2))

	c.must("stop", "--timeout", "10", ctr)
	c.waitState(ctr, "CONTAINER_EXITED", 30*time.Second)
	c.must("rm", ctr)
	c.must("stopp", pod)
	c.must("rmp", pod)
	c.checkLeftovers(netns)
	c.checkNoErrors()
}

package shim_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

const (
	cniBinDir   = "/usr/lib/cni"
	pauseImage  = "localhost/urunc-shim-pause:test"
	criAppImage = "docker.io/library/urunc-shim-cri-hb:test"
)

// cri is a private containerd with the CRI plugin: a runtime handler
// "urunc" whose runtime_type is the native shim, runc as the default, a
// CNI bridge of its own.
type cri struct {
	*ctrd
	crictl, crictlCfg   string
	bridge, netName     string
	subnet              *net.IPNet
	cgroup              string // every pod's cgroup parent
	pods, netnses, taps []string
}

func startCRI(t *testing.T) *cri { return startCRIOn(t, false) }

// startCRIOn starts containerd 1.6, or with v2 containerd 2.x (its CRI
// config lives under io.containerd.cri.v1.*).
func startCRIOn(t *testing.T, v2 bool) *cri {
	t.Helper()
	requireTools(t, "ip")
	bin, ctr := filepath.Join(containerd2Dir(), "containerd"), filepath.Join(containerd2Dir(), "ctr")
	if v2 {
		for _, b := range []string{bin, ctr} {
			if _, err := os.Stat(b); err != nil {
				t.Skipf("%s missing: run make containerd2", b)
			}
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, p)); err != nil {
			t.Skipf("CNI plugin %s/%s not found: install Debian package containernetworking-plugins", cniBinDir, p)
		}
	}
	crictl := filepath.Join(e2e.RepoRoot(), "build", "bin", "crictl")
	if _, err := os.Stat(crictl); err != nil {
		e2e.Make(t, "crictl")
	}
	id := randHex(3)
	c := &cri{crictl: crictl, bridge: "ushim" + id, netName: "urunc-shim-" + id, cgroup: "/urunc-shim-" + id, subnet: freeSubnet(t)}
	base, err := os.MkdirTemp("/tmp", "ushimcni")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cleanupNet(); os.RemoveAll(base) })
	conflist, _ := json.Marshal(map[string]any{
		"cniVersion": "0.4.0", "name": c.netName,
		"plugins": []any{map[string]any{
			"type": "bridge", "bridge": c.bridge, "isGateway": true, "ipMasq": false,
			"ipam": map[string]any{"type": "host-local", "ranges": [][]map[string]string{{{"subnet": c.subnet.String()}}},
				"routes": []map[string]string{{"dst": "0.0.0.0/0"}}, "dataDir": filepath.Join(base, "ipam")},
		}},
	})
	os.WriteFile(filepath.Join(base, "10-urunc-shim.conflist"), conflist, 0o644)
	section := fmt.Sprintf(`[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # root here lacks CAP_SYS_RESOURCE: clamp the sandbox's oom_score_adj.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.urunc]
      runtime_type = %q
      pod_annotations = ["com.urunc.*"]
      container_annotations = ["com.urunc.*"]
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
    max_conf_num = 1
`, pauseImage, runtimeType, cniBinDir, base)
	if v2 {
		section = fmt.Sprintf(`disabled_plugins = ["io.containerd.nri.v1.nri"]
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = %q
[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.urunc]
      runtime_type = %q
      pod_annotations = ["com.urunc.*"]
      container_annotations = ["com.urunc.*"]
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [%q]
    conf_dir = %q
    max_conf_num = 1
[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`, pauseImage, runtimeType, cniBinDir, base)
		top, tables, _ := strings.Cut(section, "\n")
		c.ctrd = startContainerdWith(t, bin, ctr, 3, top, tables)
	} else {
		c.ctrd = startContainerd(t, section)
	}
	c.crictlCfg = filepath.Join(c.base, "crictl.yaml")
	os.WriteFile(c.crictlCfg, []byte(fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\n", c.sock, c.sock)), 0o644)
	t.Cleanup(func() {
		if c.stop != nil {
			if r := c.crictlRun("rmp", "--force", "--all"); r.code != 0 {
				t.Logf("cleanup: crictl rmp -fa: %s", r.out)
			}
		}
	})
	// The pods' runc state is under the private containerd's state
	// (the shim's runc root for a bundle there).
	if r := c.ctrIn("k8s.io", busyboxArchive(t, pauseImage), "images", "import", "-"); r.code != 0 {
		t.Fatalf("import pause image: %s", r.out)
	}
	archive := e2e.DockerArchive(criAppImage, e2e.UnikernelRootfsTar(t), map[string]any{"Cmd": []string{"heartbeat"}})
	if r := c.ctrIn("k8s.io", archive, "images", "import", "-"); r.code != 0 {
		t.Fatalf("import unikernel image: %s", r.out)
	}
	return c
}

// freeSubnet picks 10.89.X.0/24 with no route on the host.
func freeSubnet(t *testing.T) *net.IPNet {
	out, _ := exec.Command("ip", "-4", "route", "show", "table", "all").CombinedOutput()
	for i := 0; i < 50; i++ {
		n, _ := rand.Int(rand.Reader, big.NewInt(150))
		prefix := fmt.Sprintf("10.89.%d.", 100+n.Int64())
		if !strings.Contains(string(out), prefix) {
			_, ipn, _ := net.ParseCIDR(prefix + "0/24")
			return ipn
		}
	}
	t.Fatal("no free 10.89.x.0/24")
	return nil
}

func (c *cri) cleanupNet() {
	for _, ns := range c.netnses {
		if _, err := os.Stat(ns); err == nil {
			syscall.Unmount(ns, syscall.MNT_DETACH)
			os.Remove(ns)
		}
	}
	exec.Command("ip", "link", "del", c.bridge).Run()
	files, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", c.netName+"-*"))
	for _, pod := range c.pods {
		files = append(files, filepath.Join("/var/lib/cni/results", "cni-loopback-"+pod+"-lo"))
	}
	for _, f := range files {
		os.Remove(f)
	}
	for _, d := range append(cgroupDirs(c.cgroup), cgroupSubdirs(c.cgroup)...) {
		syscall.Rmdir(d)
	}
}

// cgroupSubdirs lists the cgroups under rel, deepest first.
func cgroupSubdirs(rel string) []string {
	var dirs []string
	for _, top := range cgroupDirs(rel) {
		filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != top {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	for i, j := 0, len(dirs)-1; i < j; i, j = i+1, j-1 {
		dirs[i], dirs[j] = dirs[j], dirs[i]
	}
	return dirs
}

type criResult struct {
	out  string
	code int
}

func (c *cri) crictlRun(args ...string) criResult {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	full := append([]string{"--config", c.crictlCfg, "--runtime-endpoint", "unix://" + c.sock, "--image-endpoint", "unix://" + c.sock}, args...)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, c.crictl, full...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return criResult{string(out) + stderr.String(), e2e.ExitCode(err)}
}

func (c *cri) crictlMust(args ...string) string {
	c.t.Helper()
	full := append([]string{"--config", c.crictlCfg, "--runtime-endpoint", "unix://" + c.sock, "--image-endpoint", "unix://" + c.sock}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, c.crictl, full...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("crictl %v: %v: %s%s", args, err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func (c *cri) inspect(cmd, id string) map[string]any {
	c.t.Helper()
	var m map[string]any
	out := c.crictlMust(cmd, "-o", "json", id)
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		c.t.Fatalf("crictl %s %s: %v: %s", cmd, id, err, out)
	}
	return m
}

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
	j, _ := json.Marshal(v)
	p := filepath.Join(c.base, name)
	os.WriteFile(p, j, 0o644)
	return p
}

func (c *cri) podConfig(name string) string {
	return c.writeJSON(name+"-pod.json", map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": "default", "uid": randHex(8), "attempt": 0},
		"hostname":      name,
		"log_directory": filepath.Join(c.base, "pods", name),
		"linux":         map[string]any{"cgroup_parent": c.cgroup},
		"annotations":   map[string]string{"com.urunc.vmm.accel": "tcg"},
	})
}

func (c *cri) containerConfig(name, image string, args, command []string) string {
	cfg := map[string]any{"metadata": map[string]any{"name": name}, "image": map[string]any{"image": image}, "log_path": name + ".log", "linux": map[string]any{}}
	if args != nil {
		cfg["args"] = args
	}
	if command != nil {
		cfg["command"] = command
	}
	return c.writeJSON(name+"-ctr.json", cfg)
}

func (c *cri) runp(cfg string) string {
	c.t.Helper()
	pod := c.crictlMust("runp", "--runtime", "urunc", cfg)
	c.pods = append(c.pods, pod)
	if ns := netnsOf(c.inspect("inspectp", pod)); ns != "" {
		c.netnses = append(c.netnses, ns)
	}
	return pod
}

func netnsOf(m map[string]any) string {
	nss, _ := field(m, "info", "runtimeSpec", "linux", "namespaces").([]any)
	for _, ns := range nss {
		if str(ns, "type") == "network" {
			return str(ns, "path")
		}
	}
	return ""
}

func (c *cri) logs(id string) string { return c.crictlRun("logs", id).out }

func (c *cri) waitState(id, want string, timeout time.Duration) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := c.inspect("inspect", id)
		if str(m, "status", "state") == want {
			return m
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("container %s: %s, want %s; logs:\n%s", id, str(m, "status", "state"), want, c.logs(id))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *cri) waitLogs(id string, timeout time.Duration, want string) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(c.logs(id), want) {
		if time.Now().After(deadline) {
			c.t.Fatalf("crictl logs %s: no %q within %s:\n%s", id, want, timeout, c.logs(id))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkCRIClean: nothing of the pods left, and no error in containerd's
// log.
func (c *cri) checkCRIClean() {
	t := c.t
	t.Helper()
	if out := c.crictlMust("pods", "-q"); out != "" {
		t.Errorf("pods left: %s", out)
	}
	for _, root := range []string{c.uruncRoot("k8s.io"), filepath.Join(c.state, "runc", "k8s.io")} {
		if entries, _ := os.ReadDir(root); len(entries) > 0 {
			t.Errorf("state left under %s: %v", root, entries)
		}
	}
	e2e.WaitFor(t, 10*time.Second, "shims and VMMs to exit", func() bool { return len(processesUsing(c.base)) == 0 })
	for _, ns := range c.netnses {
		if _, err := os.Stat(ns); err == nil {
			t.Errorf("pod netns %s left", ns)
		}
	}
	for _, tap := range c.taps {
		if out, err := exec.Command("ip", "-o", "link", "show", tap).CombinedOutput(); err == nil {
			t.Errorf("tap %s in the host netns: %s", tap, out)
		}
	}
	if out, _ := exec.Command("ip", "-o", "link", "show", "master", c.bridge).CombinedOutput(); strings.TrimSpace(string(out)) != "" {
		t.Errorf("veths left on %s: %s", c.bridge, out)
	}
	if d := cgroupSubdirs(c.cgroup); len(d) > 0 {
		t.Errorf("cgroups left under the pods' parent: %v", d)
	}
	if ms := mountsUnder(c.state); len(ms) > 0 {
		t.Errorf("mounts left: %v", ms)
	}
	c.checkNoErrors()
}

func (c *cri) recordTap(id string) {
	var info struct{ TapName string }
	data, _ := os.ReadFile(filepath.Join(c.uruncRoot("k8s.io"), id, "vmm.json"))
	if json.Unmarshal(data, &info) == nil && info.TapName != "" {
		c.taps = append(c.taps, info.TapName)
	}
}

// TestShimCRIPod: a pod with runtime handler urunc (runtime_type
// io.containerd.urunc.v2): the shim hands the pause container to runc; a
// runc container and unikernels in the pod; the unikernel's logs, exit
// code, stats, exec refused, urunc's own view; stop and removal with
// nothing left.
func TestShimCRIPod(t *testing.T) {
	c := startCRI(t)
	t0 := time.Now()
	podCfg := c.podConfig("uk")
	pod := c.runp(podCfg)
	p := c.inspect("inspectp", pod)
	if s := str(p, "status", "state"); s != "SANDBOX_READY" {
		t.Fatalf("pod %s", s)
	}
	podIP := str(p, "status", "network", "ip")
	if ip := net.ParseIP(podIP); ip == nil || !c.subnet.Contains(ip) {
		t.Fatalf("pod IP %q not in %s", podIP, c.subnet)
	}
	t.Logf("pod ready after %s", time.Since(t0).Round(time.Millisecond))
	// The pause container is runc's (no urunc state for it).
	if _, err := os.Stat(filepath.Join(c.uruncRoot("k8s.io"), pod)); err == nil {
		t.Errorf("the sandbox ran under urunc")
	}
	if _, err := os.Stat(filepath.Join(c.state, "runc", "k8s.io", pod, "state.json")); err != nil {
		t.Errorf("no runc state for the sandbox: %v", err)
	}

	side := c.crictlMust("create", pod, c.containerConfig("side", pauseImage, nil, []string{"/bin/sh", "-c", "echo side-ok; " + pauseScript}), podCfg)
	c.crictlMust("start", side)
	c.waitState(side, "CONTAINER_RUNNING", 30*time.Second)
	c.waitLogs(side, 10*time.Second, "side-ok")
	// exec into the runc container works (runc's task service).
	if out := c.crictlMust("exec", side, "/bin/echo", "exec-ok"); out != "exec-ok" {
		t.Errorf("crictl exec into the runc container: %q", out)
	}

	// A guest that exits by itself: its status reaches the CRI.
	ex := c.crictlMust("create", pod, c.containerConfig("app-exit", criAppImage, []string{"exit=5"}, nil), podCfg)
	c.crictlMust("start", ex)
	m := c.waitState(ex, "CONTAINER_EXITED", 60*time.Second)
	if code, _ := field(m, "status", "exitCode").(float64); code != 11 {
		t.Errorf("app-exit: exit code %v, want 11", field(m, "status", "exitCode"))
	}
	c.waitLogs(ex, 10*time.Second, "bye")
	if logs := c.logs(ex); !strings.Contains(logs, "netdev.ip="+podIP+"/24") {
		t.Errorf("app-exit: the guest did not get the pod IP %s:\n%s", podIP, logs)
	}

	t1 := time.Now()
	app := c.crictlMust("create", pod, c.containerConfig("app", criAppImage, []string{"echo=from-cri", "heartbeat"}, nil), podCfg)
	c.crictlMust("start", app)
	m = c.waitState(app, "CONTAINER_RUNNING", 30*time.Second)
	c.waitLogs(app, 60*time.Second, "heartbeat 2")
	t.Logf("unikernel running and logging after %s", time.Since(t1).Round(time.Millisecond))
	c.recordTap(app)
	vmmPid, _ := field(m, "info", "pid").(float64)
	if st, pid := c.uruncState("k8s.io", app); st != "running" || pid != int(vmmPid) {
		t.Errorf("urunc state %s pid %d; crictl pid %v", st, pid, vmmPid)
	}
	// The VMM is accounted in its own cgroup: crictl stats reads it.
	var stats struct {
		Stats []struct {
			Memory struct {
				WorkingSetBytes struct{ Value string } `json:"workingSetBytes"`
			} `json:"memory"`
		} `json:"stats"`
	}
	out := c.crictlMust("stats", "-o", "json", "--id", app)
	var ws int64
	if err := json.Unmarshal([]byte(out), &stats); err == nil && len(stats.Stats) == 1 {
		fmt.Sscan(stats.Stats[0].Memory.WorkingSetBytes.Value, &ws)
	}
	if ws < 1<<20 || ws > 512<<20 {
		t.Errorf("crictl stats: working set %d bytes, want the VMM's: %s", ws, out)
	}
	// crictl update reaches the VMM's cgroup (the VM keeps its size).
	c.crictlMust("update", "--memory", "314572800", app)
	if got := strings.TrimSpace(readFile(memoryCgroupFile(int(vmmPid), "memory.limit_in_bytes"))); got != "314572800" {
		t.Errorf("memory limit after crictl update: %q, want 314572800", got)
	}
	if r := c.crictlRun("exec", app, "/bin/sh", "-c", "true"); r.code == 0 || !strings.Contains(r.out, "not supported for unikernel") {
		t.Errorf("crictl exec into a unikernel: exit %d: %s", r.code, r.out)
	}

	// Stop and remove one container, then the pod with the rest running.
	c.crictlMust("stop", "--timeout", "10", ex)
	c.crictlMust("rm", ex)
	c.crictlMust("stopp", pod)
	for _, id := range []string{app, side} {
		if s := str(c.inspect("inspect", id), "status", "state"); s != "CONTAINER_EXITED" {
			t.Errorf("%s after stopp: %s", id, s)
		}
	}
	c.crictlMust("rmp", pod)
	c.checkCRIClean()
	t.Logf("whole pod lifecycle %s", time.Since(t0).Round(time.Millisecond))
}

// TestShimCRIContainerdRestart: containerd restarts under a running
// unikernel pod: still running with the same pid, the log goes on (the
// shim kept copying into the FIFOs containerd reopened), then stop and
// removal as usual.
func TestShimCRIContainerdRestart(t *testing.T) {
	c := startCRI(t)
	podCfg := c.podConfig("rs")
	pod := c.runp(podCfg)
	app := c.crictlMust("create", pod, c.containerConfig("app", criAppImage, []string{"heartbeat"}, nil), podCfg)
	c.crictlMust("start", app)
	c.waitState(app, "CONTAINER_RUNNING", 30*time.Second)
	c.waitLogs(app, 60*time.Second, "heartbeat 1")
	c.recordTap(app)
	pid := field(c.inspect("inspect", app), "info", "pid")

	c.stop()
	time.Sleep(2 * time.Second) // the guest goes on
	c.start()
	m := c.waitState(app, "CONTAINER_RUNNING", 20*time.Second)
	if got := field(m, "info", "pid"); got != pid {
		t.Errorf("pid %v after the restart, %v before", got, pid)
	}
	if s := str(c.inspect("inspectp", pod), "status", "state"); s != "SANDBOX_READY" {
		t.Errorf("pod %s after the restart", s)
	}
	n := strings.Count(c.logs(app), "heartbeat ")
	c.waitLogs(app, 30*time.Second, fmt.Sprintf("heartbeat %d", n+2))

	c.crictlMust("stop", "--timeout", "10", app)
	c.waitState(app, "CONTAINER_EXITED", 30*time.Second)
	c.crictlMust("rm", app)
	c.crictlMust("stopp", pod)
	c.crictlMust("rmp", pod)
	c.checkCRIClean()
}

// memoryCgroupFile is a file of pid's v1 memory cgroup (these machines
// are cgroup v1; on a v2-only host it is "" and the check fails loudly).
func memoryCgroupFile(pid int, name string) string {
	for _, l := range strings.Split(readFile(fmt.Sprintf("/proc/%d/cgroup", pid)), "\n") {
		if parts := strings.SplitN(l, ":", 3); len(parts) == 3 && parts[1] == "memory" {
			return filepath.Join("/sys/fs/cgroup/memory", parts[2], name)
		}
	}
	return ""
}

// TestShimCRIContainerd2: the pod of TestShimCRIPod under containerd
// 2.x's CRI (the shim started through the bootstrap protocol).
func TestShimCRIContainerd2(t *testing.T) {
	c := startCRIOn(t, true)
	podCfg := c.podConfig("v2")
	pod := c.runp(podCfg)
	if s := str(c.inspect("inspectp", pod), "status", "state"); s != "SANDBOX_READY" {
		t.Fatalf("pod %s", s)
	}
	app := c.crictlMust("create", pod, c.containerConfig("app", criAppImage, []string{"echo=from-cri2", "heartbeat"}, nil), podCfg)
	c.crictlMust("start", app)
	c.waitState(app, "CONTAINER_RUNNING", 30*time.Second)
	c.waitLogs(app, 60*time.Second, "heartbeat 1")
	c.recordTap(app)
	if r := c.crictlRun("exec", app, "/bin/sh", "-c", "true"); r.code == 0 || !strings.Contains(r.out, "not supported for unikernel") {
		t.Errorf("crictl exec into a unikernel: exit %d: %s", r.code, r.out)
	}
	c.crictlMust("stop", "--timeout", "10", app)
	c.waitState(app, "CONTAINER_EXITED", 30*time.Second)
	c.crictlMust("rm", app)
	c.crictlMust("stopp", pod)
	c.crictlMust("rmp", pod)
	c.checkCRIClean()
}

// TestShimCRIShimKilled: the shim of a running unikernel in a pod is
// killed: containerd's cleanup (the shim's delete) removes the VMM, its
// tap in the pod's netns, its cgroup and state; the CRI sees the
// container exited (137); the pod goes on and is removed as usual.
func TestShimCRIShimKilled(t *testing.T) {
	c := startCRI(t)
	podCfg := c.podConfig("sk")
	pod := c.runp(podCfg)
	netns := netnsOf(c.inspect("inspectp", pod))
	app := c.crictlMust("create", pod, c.containerConfig("app", criAppImage, []string{"heartbeat"}, nil), podCfg)
	c.crictlMust("start", app)
	m := c.waitState(app, "CONTAINER_RUNNING", 30*time.Second)
	c.waitLogs(app, 60*time.Second, "heartbeat 1")
	c.recordTap(app)
	vmm, _ := field(m, "info", "pid").(float64)
	var tap string
	if len(c.taps) > 0 {
		tap = c.taps[len(c.taps)-1]
	}
	if tap == "" {
		t.Fatal("no tap recorded in vmm.json")
	}
	if out, err := exec.Command("nsenter", "--net="+netns, "ip", "-o", "link", "show", tap).CombinedOutput(); err != nil {
		t.Fatalf("tap %s not in the pod netns: %v: %s", tap, err, out)
	}
	syscall.Kill(c.shimPid(t, app), syscall.SIGKILL)
	m = c.waitState(app, "CONTAINER_EXITED", 30*time.Second)
	// containerd 1.6's CRI waits on the task through the shim: when that
	// connection breaks it records 255 ("unknown") and logs "failed to get
	// task exit status", whatever the shim (runc's too).
	if code, _ := field(m, "status", "exitCode").(float64); code != 137 && code != 255 {
		t.Errorf("exit code after the shim died: %v, want 137 or 255", field(m, "status", "exitCode"))
	}
	c.allowErrors = append(c.allowErrors, "failed to get task exit status")
	// The CRI says exited as soon as the shim's connection breaks;
	// containerd's cleanup (the shim's delete) follows.
	e2e.WaitFor(t, 10*time.Second, "the VMM to be gone", func() bool { return !alive(int(vmm)) })
	e2e.WaitFor(t, 10*time.Second, "the urunc state to be removed", func() bool {
		_, err := os.Stat(filepath.Join(c.uruncRoot("k8s.io"), app))
		return err != nil
	})
	if out, err := exec.Command("nsenter", "--net="+netns, "ip", "-o", "link", "show", tap).CombinedOutput(); err == nil {
		t.Errorf("tap %s left in the pod netns after the shim died: %s", tap, out)
	}
	if s := str(c.inspect("inspectp", pod), "status", "state"); s != "SANDBOX_READY" {
		t.Errorf("pod %s after its container's shim died", s)
	}
	c.crictlMust("rm", app)
	c.crictlMust("stopp", pod)
	c.crictlMust("rmp", pod)
	c.checkCRIClean()
}

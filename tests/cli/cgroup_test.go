package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// cgroupBundle is a heartbeat unikernel bundle with the given cgroupsPath
// and resources.
func cgroupBundle(t *testing.T, path string, res *specs.LinuxResources) string {
	t.Helper()
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil)})
	e2e.EditSpec(t, bundle, func(spec *specs.Spec) {
		spec.Linux.CgroupsPath = path
		spec.Linux.Resources = res
	})
	return bundle
}

// procCgroup returns pid's cgroup for a v1 controller ("" = v2).
func procCgroup(t *testing.T, pid int, controller string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				return parts[2]
			}
		}
	}
	t.Fatalf("no %q line in /proc/%d/cgroup:\n%s", controller, pid, data)
	return ""
}

// removeCgroupParent removes a test's parent cgroup in every hierarchy
// (delete removes the container's own, never its parents).
func removeCgroupParent(name string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", name))
	for _, d := range dirs {
		os.Remove(d)
	}
}

func cgroupV1(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		t.Skip("this test reads cgroup v1 files; /sys/fs/cgroup/memory is not a v1 hierarchy here")
	}
}

// TestCgroupLimits: the VMM runs in the spec's cgroupsPath with its
// limits, the VM is sized from the limit minus the VMM's overhead, and
// delete removes the cgroup.
func TestCgroupLimits(t *testing.T) {
	u := setup(t)
	cgroupV1(t)
	id := fmt.Sprintf("cg%d", os.Getpid())
	path := "/urunc-e2e/" + id
	limit, quota, period, pids := int64(128<<20), int64(50000), uint64(100000), int64(32)
	bundle := cgroupBundle(t, path, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &limit},
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period},
		Pids:   &specs.LinuxPids{Limit: &pids},
	})
	t.Cleanup(func() { removeCgroupParent("urunc-e2e") })
	out := outFile(t)
	if r := u.RunWith(t, out, "create", "--bundle", bundle, id); r.Code != 0 {
		t.Fatalf("create: %s; log: %s", r, u.LastError())
	}
	pid := int(u.State(t, id)["pid"].(float64))
	for _, ctl := range []string{"memory", "cpu", "pids"} {
		if got := procCgroup(t, pid, ctl); got != path {
			t.Fatalf("init child's %s cgroup = %q, want %q", ctl, got, path)
		}
	}
	expect := map[string]string{
		"memory/urunc-e2e/" + id + "/memory.limit_in_bytes": fmt.Sprint(limit),
		"cpu/urunc-e2e/" + id + "/cpu.cfs_quota_us":         "50000",
		"pids/urunc-e2e/" + id + "/pids.max":                "32",
	}
	for f, want := range expect {
		if got := strings.TrimSpace(e2e.ReadFile("/sys/fs/cgroup/" + f)); got != want {
			t.Fatalf("%s = %q, want %q", f, got, want)
		}
	}
	u.MustRun(t, "start", id)
	e2e.WaitFor(t, 20*time.Second, "guest heartbeat", func() bool { return e2e.FileContains(out.Name(), "heartbeat") })
	// The child exec'd the VMM: the same pid, still in the cgroup, and the
	// cgroup's memory usage is the VM's.
	if got := procCgroup(t, pid, "memory"); got != path {
		t.Fatalf("VMM's memory cgroup = %q", got)
	}
	// Every thread of the VMM (qemu starts several) is in it: the child
	// moved only its leader thread, which exec'd.
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if len(tasks) < 2 {
		t.Fatalf("VMM has %d threads", len(tasks))
	}
	for _, task := range tasks {
		tid := 0
		fmt.Sscan(filepath.Base(task), &tid)
		if got := procCgroup(t, tid, "memory"); got != path {
			t.Fatalf("VMM thread %d in memory cgroup %q", tid, got)
		}
	}
	if procs := strings.Fields(e2e.ReadFile("/sys/fs/cgroup/memory/urunc-e2e/" + id + "/cgroup.procs")); len(procs) != 1 || procs[0] != fmt.Sprint(pid) {
		t.Fatalf("cgroup.procs %v, want only the VMM %d", procs, pid)
	}
	var usage int64
	fmt.Sscan(e2e.ReadFile("/sys/fs/cgroup/memory/urunc-e2e/"+id+"/memory.usage_in_bytes"), &usage)
	if usage < 8<<20 {
		t.Fatalf("cgroup memory usage %d bytes: the VMM is not accounted", usage)
	}
	var vmm map[string]any
	json.Unmarshal([]byte(e2e.ReadFile(filepath.Join(u.Root, id, "vmm.json"))), &vmm)
	if vmm["memoryMB"] != float64(64) {
		t.Fatalf("guest memory %v MiB, want 128 - 64 (VMM overhead)", vmm["memoryMB"])
	}
	// update changes the cgroup's limits (the VM keeps its size).
	u.MustRun(t, "update", "--memory", "100m", "--pids-limit", "16", id)
	resFile := filepath.Join(t.TempDir(), "res.json")
	os.WriteFile(resFile, []byte(`{"cpu":{"quota":25000,"period":100000}}`), 0o644)
	u.MustRun(t, "update", "--resources", resFile, id)
	expect = map[string]string{
		"memory/urunc-e2e/" + id + "/memory.limit_in_bytes": fmt.Sprint(100 << 20),
		"pids/urunc-e2e/" + id + "/pids.max":                "16",
		"cpu/urunc-e2e/" + id + "/cpu.cfs_quota_us":         "25000",
	}
	for f, want := range expect {
		if got := strings.TrimSpace(e2e.ReadFile("/sys/fs/cgroup/" + f)); got != want {
			t.Fatalf("after update %s = %q, want %q", f, got, want)
		}
	}
	if r := u.Run(t, "update", "--memory", "lots", id); r.Code == 0 || !strings.Contains(u.LastError(), `--memory "lots"`) {
		t.Fatalf("bad --memory accepted: %s %s", r, u.LastError())
	}
	u.MustRun(t, "kill", id, "KILL")
	e2e.WaitFor(t, 10*time.Second, "stopped", func() bool { return u.Status(t, id) == "stopped" })
	u.MustRun(t, "delete", id)
	for _, ctl := range []string{"memory", "cpu", "pids", "devices", "freezer"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctl, "urunc-e2e", id)); err == nil {
			t.Errorf("%s cgroup left after delete", ctl)
		}
	}
}

// TestCgroupSystemdPath: with --systemd-cgroup and no systemd running, a
// slice:prefix:name path becomes the cgroupfs path systemd would make.
func TestCgroupSystemdPath(t *testing.T) {
	u := setup(t)
	cgroupV1(t)
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here: the systemd driver would be used (needs D-Bus), not the cgroupfs mapping this test checks")
	}
	id := fmt.Sprintf("sd%d", os.Getpid())
	bundle := cgroupBundle(t, "urunce2e.slice:urunc:"+id, nil)
	t.Cleanup(func() { removeCgroupParent("urunce2e.slice") })
	if r := u.Run(t, "--systemd-cgroup", "create", "--bundle", bundle, id); r.Code != 0 {
		t.Fatalf("create: %s; log: %s", r, u.LastError())
	}
	pid := int(u.State(t, id)["pid"].(float64))
	want := "/urunce2e.slice/urunc-" + id + ".scope"
	if got := procCgroup(t, pid, "memory"); got != want {
		t.Fatalf("memory cgroup %q, want %q", got, want)
	}
	u.MustRun(t, "--systemd-cgroup", "delete", "--force", id)
	if _, err := os.Stat("/sys/fs/cgroup/memory" + want); err == nil {
		t.Fatal("scope cgroup left after delete")
	}
}

// TestCgroupRefusals: bad cgroup paths and a memory limit too small for a
// VM fail create with a message naming the problem, leaving nothing.
func TestCgroupRefusals(t *testing.T) {
	u := setup(t)
	t.Cleanup(func() { removeCgroupParent("urunc-e2e") })
	small := int64(32 << 20)
	tests := []struct {
		name    string
		global  []string
		path    string
		res     *specs.LinuxResources
		wantMsg string
	}{
		{name: "escaping path", path: "/urunc-e2e/../../x", wantMsg: "cgroupsPath"},
		{name: "systemd path without flag", path: "system.slice:urunc:x", wantMsg: "--systemd-cgroup"},
		{name: "bad systemd path", global: []string{"--systemd-cgroup"}, path: "not-a-slice-path", wantMsg: "slice:prefix:name"},
		{name: "memory too small", path: "/urunc-e2e/small", res: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &small}}, wantMsg: "memory limit 32 MiB is too small"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle := cgroupBundle(t, tt.path, tt.res)
			args := append(append([]string{}, tt.global...), "create", "--bundle", bundle, "bad")
			r := u.Run(t, args...)
			if r.Code == 0 {
				t.Fatal("create succeeded")
			}
			if msg := u.LastError(); !strings.Contains(msg, tt.wantMsg) {
				t.Fatalf("error %q does not say %q", msg, tt.wantMsg)
			}
			if left := u.Leftovers(); len(left) != 0 {
				t.Fatalf("left under root: %v", left)
			}
			if _, err := os.Stat("/sys/fs/cgroup/memory/urunc-e2e/small"); err == nil {
				t.Fatal("cgroup made for a refused container")
			}
		})
	}
}

// TestCgroupV2Placement runs urunc in a mount namespace where
// /sys/fs/cgroup is the cgroup2 hierarchy (on this hybrid machine it has
// no controllers, so only placement is checked): the VMM's pid lands in
// the unified cgroup and delete removes it.
func TestCgroupV2Placement(t *testing.T) {
	u := setup(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) not found")
	}
	id := fmt.Sprintf("v2%d", os.Getpid())
	bundle := cgroupBundle(t, "/urunc-e2e-v2/"+id, nil)
	script := fmt.Sprintf(`set -e
mount --make-rprivate /
mount -t cgroup2 none /sys/fs/cgroup
U="%[1]s --root %[2]s --log %[3]s --log-format json"
$U create --bundle %[4]s %[5]s
pid=$($U state %[5]s | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
echo "cgroup: $(cat /proc/$pid/cgroup)"
test -d /sys/fs/cgroup/urunc-e2e-v2/%[5]s
$U delete --force %[5]s
test ! -d /sys/fs/cgroup/urunc-e2e-v2/%[5]s && echo removed
rmdir /sys/fs/cgroup/urunc-e2e-v2
`, u.Bin, u.Root, u.Log, bundle, id)
	out, err := exec.Command("unshare", "-m", "sh", "-c", script).CombinedOutput()
	if strings.Contains(string(out), "mount: ") && strings.Contains(string(out), "cgroup2") {
		t.Skipf("cannot mount cgroup2 here: %s", out)
	}
	if err != nil {
		t.Fatalf("%v\n%s\nlog: %s", err, out, u.LastError())
	}
	if !strings.Contains(string(out), "0::/urunc-e2e-v2/"+id+"\n") || !strings.Contains(string(out), "removed") {
		t.Fatalf("VMM not placed in the v2 cgroup, or not removed:\n%s", out)
	}
}

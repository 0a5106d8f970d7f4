package reliability_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// podNetns makes a network namespace as a CNI plugin leaves it: eth0 (one
// end of a veth pair) with an address and a default route. Loopback-only
// traffic: the host end has no route anywhere else.
func podNetns(t *testing.T, i int) (name, guestIP string) {
	t.Helper()
	name = fmt.Sprintf("urunc-soak-%d-%d", os.Getpid(), i)
	hostIf := fmt.Sprintf("us%d-%d", os.Getpid()%10000, i)
	hostIP := fmt.Sprintf("10.202.%d.1", i)
	guestIP = fmt.Sprintf("10.202.%d.2", i)
	for _, args := range [][]string{
		{"netns", "add", name},
		{"link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", name},
		{"addr", "add", hostIP + "/24", "dev", hostIf},
		{"link", "set", hostIf, "up"},
		{"-n", name, "addr", "add", guestIP + "/24", "dev", "eth0"},
		{"-n", name, "link", "set", "eth0", "up"},
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "route", "add", "default", "via", hostIP},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", name).Run()
		exec.Command("ip", "link", "del", hostIf).Run()
	})
	return name, guestIP
}

// netnsLeftovers lists what a lifecycle may leave in its pod namespace:
// links besides lo and eth0 (a tap), qdiscs on eth0 besides the default.
func netnsLeftovers(name string) []string {
	var left []string
	out, _ := exec.Command("ip", "-n", name, "-o", "link", "show").Output()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			link := strings.TrimSuffix(strings.Split(f[1], "@")[0], ":")
			if link != "lo" && link != "eth0" {
				left = append(left, "link "+link)
			}
		}
	}
	out, _ = exec.Command("tc", "-n", name, "qdisc", "show", "dev", "eth0").Output()
	if strings.Contains(string(out), "ingress") {
		left = append(left, "ingress qdisc on eth0")
	}
	return left
}

// TestSoakNetwork runs lifecycles of unikernels that each join a pod
// network namespace (as under containerd/CRI): the guest must get eth0's
// address every time, and each namespace must be as the CNI plugin left
// it afterwards (no tap, no tc redirect), so the next container of the pod
// gets the network again. In the suite: 8 lifecycles over 4 namespaces,
// 4 at a time (two rounds per namespace).
func TestSoakNetwork(t *testing.T) {
	u := setup(t)
	n, par := envInt("URUNC_SOAK_NET", 8), 4
	type pod struct{ name, ip string }
	pods := make([]pod, par)
	for i := range pods {
		pods[i].name, pods[i].ip = podNetns(t, 10+i)
	}
	prefix := fmt.Sprintf("nsoak%d-", os.Getpid())
	before := snapshot(prefix)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	start := time.Now()
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := pods[w]
			for i := w; i < n; i += par {
				id := fmt.Sprintf("%s%d", prefix, i)
				if err := netLifecycle(t, u, p.name, p.ip, id); err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s in %s: %v", id, p.name, err))
					mu.Unlock()
					runBounded(t, u, nil, 15*time.Second, nil, "delete", "--force", id)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("SOAK-NET: %d lifecycles in %d pod namespaces: wall %v, %d failures", n, par, time.Since(start).Round(time.Millisecond), len(failures))
	for _, f := range failures {
		t.Error(f)
	}
	clean(t, u)
	after := snapshot(prefix)
	if l := added(before.links, after.links); len(l) != 0 {
		t.Errorf("host links left: %v", l)
	}
	if len(after.cgroups) != 0 {
		t.Errorf("cgroups left: %v", after.cgroups)
	}
}

func netLifecycle(t *testing.T, u *e2e.URunc, netns, guestIP, id string) error {
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: map[string]string{"com.urunc.vmm.machine": "microvm"},
		Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace},
			{Type: specs.NetworkNamespace, Path: "/var/run/netns/" + netns}}})
	for _, step := range [][]string{{"create", "-b", bundle, id}, {"start", id}} {
		if o := runBounded(t, u, nil, 20*time.Second, nil, step...); o.timedOut || o.code != 0 {
			return fmt.Errorf("%s: exit %d timed out %v: %s", step[0], o.code, o.timedOut, strings.TrimSpace(o.out))
		}
	}
	vmm, err := os.ReadFile(filepath.Join(u.Root, id, "vmm.json"))
	if err != nil {
		return fmt.Errorf("the guest did not get eth0's address %s: %w", guestIP, err)
	}
	if !strings.Contains(string(vmm), "netdev.ip="+guestIP+"/24") || !strings.Contains(string(vmm), `"tapName"`) {
		return fmt.Errorf("the guest did not get eth0's address %s: %s", guestIP, vmm)
	}
	// While the guest runs its tap is there (eth0's traffic is redirected to it).
	if left := netnsLeftovers(netns); !strings.Contains(strings.Join(left, " "), "link tap") {
		return fmt.Errorf("no tap in %s while the guest runs: %v", netns, left)
	}
	for _, step := range [][]string{{"kill", id, "KILL"}, {"delete", "--force", id}} {
		if o := runBounded(t, u, nil, 20*time.Second, nil, step...); o.timedOut || o.code != 0 {
			return fmt.Errorf("%s: exit %d timed out %v: %s", step[0], o.code, o.timedOut, strings.TrimSpace(o.out))
		}
	}
	if left := netnsLeftovers(netns); len(left) != 0 {
		return fmt.Errorf("left in %s after delete: %v", netns, left)
	}
	return nil
}

// TestSoakLinuxGuests runs Linux microVMs one after another, alternating
// the rootfs share (9p, virtio-fs): every run returns the program's exit
// status and output, and nothing stays behind: no state, no virtiofsd or
// qemu, no mount under the root, no cgroup. In the suite: 4 runs (~3 s
// each under TCG).
func TestSoakLinuxGuests(t *testing.T) {
	u := setup(t)
	e2e.Make(t, "linux-kernel")
	if _, err := os.Stat("/usr/lib/qemu/virtiofsd"); err != nil {
		t.Skip("/usr/lib/qemu/virtiofsd missing: apt-get install qemu-system-common")
	}
	n := envInt("URUNC_SOAK_LINUX", 4)
	prefix := fmt.Sprintf("lsoak%d-", os.Getpid())
	bundles := map[string]string{}
	for _, fs := range []string{"9p", "virtiofs"} {
		bundles[fs] = e2e.BusyboxLinuxBundle(t, []string{"sh", "-c", "cat /etc/hello; exit 7"}, []string{"PATH=/bin"})
		e2e.EditSpec(t, bundles[fs], func(s *specs.Spec) { s.Annotations["com.urunc.unikernel.sharedfs"] = fs })
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		fs := []string{"9p", "virtiofs"}[i%2]
		id := fmt.Sprintf("%s%d", prefix, i)
		out := stdio(t)
		o := runBounded(t, u, nil, 90*time.Second, out, "run", "-b", bundles[fs], id)
		output := e2e.ReadFile(out.Name())
		if o.timedOut || o.code != 7 || !strings.Contains(output, "hello from the rootfs") {
			t.Errorf("%s (%s): exit %d (want 7), timed out %v, output %q", id, fs, o.code, o.timedOut, output)
			runBounded(t, u, nil, 15*time.Second, nil, "delete", "--force", id)
		}
	}
	t.Logf("SOAK-LINUX: %d Linux guest runs: wall %v", n, time.Since(start).Round(time.Millisecond))
	if left := u.Leftovers(); len(left) != 0 {
		t.Errorf("state left: %v", left)
	}
	if out, _ := exec.Command("pgrep", "-f", "virtiofsd.*"+u.Root).Output(); len(out) != 0 {
		t.Errorf("virtiofsd left: %s", out)
	}
	noProcesses(t, u.Root, 5*time.Second)
	if m := mountsUnder(u.Root); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
	if after := snapshot(prefix); len(after.cgroups) != 0 {
		t.Errorf("cgroups left: %v", after.cgroups)
	}
}

package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/internal/e2e"
)

func TestLinuxGuestRunsContainerRootfs(t *testing.T) {
	u := setup(t)
	bundle := e2e.BusyboxLinuxBundle(t,
		[]string{"sh", "-c", `echo "greeting=$GREETING"; cat /etc/hello; echo "cwd=$(pwd)"; echo "args:" "$0" "two words"`},
		[]string{"PATH=/bin", "GREETING=hi there"})
	out := outFile(t)
	start := time.Now()
	r := u.RunWith(t, out, "run", "-b", bundle, "linux1")
	output := e2e.ReadFile(out.Name())
	t.Logf("urunc run of a Linux guest: %v", time.Since(start).Round(time.Millisecond))
	if r.Code != 0 {
		t.Fatalf("exit %d; output %q; log %q", r.Code, output, u.LastError())
	}
	for _, want := range []string{"greeting=hi there", "hello from the rootfs", "cwd=/tmp", "args: sh two words"} {
		if !strings.Contains(output, want) {
			t.Fatalf("output lacks %q:\n%s", want, output)
		}
	}
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left under root: %v", left)
	}
}

func TestLinuxGuestExitStatus(t *testing.T) {
	u := setup(t)
	bundle := e2e.BusyboxLinuxBundle(t, []string{"sh", "-c", "echo failing; exit 3"}, []string{"PATH=/bin"})
	out := outFile(t)
	r := u.RunWith(t, out, "run", "-b", bundle, "linux2")
	if r.Code != 3 {
		t.Fatalf("exit %d, want 3; output %q; log %q", r.Code, e2e.ReadFile(out.Name()), u.LastError())
	}
	if !e2e.FileContains(out.Name(), "failing") {
		t.Fatalf("output %q", e2e.ReadFile(out.Name()))
	}
}

func TestLinuxGuestLifecycleAndGracefulStop(t *testing.T) {
	u := setup(t)
	bundle := e2e.BusyboxLinuxBundle(t, []string{"sh", "-c", "echo up; while true; do sleep 1; done"}, []string{"PATH=/bin"})
	out := outFile(t)
	u.RunWith(t, out, "create", "-b", bundle, "linux3")
	u.MustRun(t, "start", "linux3")
	e2e.WaitFor(t, 60*time.Second, "linux guest output", func() bool { return e2e.FileContains(out.Name(), "up") })
	vmm := e2e.ReadFile(filepath.Join(u.Root, "linux3", "vmm.json"))
	if !strings.Contains(vmm, `"accel"`) || !strings.Contains(vmm, "accelReason") {
		t.Fatalf("vmm.json: %s", vmm)
	}
	start := time.Now()
	u.MustRun(t, "kill", "linux3", "TERM")
	e2e.WaitFor(t, 20*time.Second, "stopped after TERM", func() bool { return u.Status(t, "linux3") == "stopped" })
	t.Logf("TERM to stopped: %v", time.Since(start).Round(time.Millisecond))
	u.MustRun(t, "delete", "linux3")
}

func requireVirtiofsd(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/lib/qemu/virtiofsd"); err != nil {
		t.Skip("/usr/lib/qemu/virtiofsd missing: apt-get install qemu-system-common")
	}
}

func readVMM(t *testing.T, u *e2e.URunc, id string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(e2e.ReadFile(filepath.Join(u.Root, id, "vmm.json"))), &m); err != nil {
		t.Fatalf("vmm.json: %v", err)
	}
	return m
}

// procAlive reports whether pid runs and is not a zombie.
func procAlive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// The rootfs reaches the guest over virtio-fs when the container asks:
// virtiofsd serves it, qemu gets vhost-user-fs on a shared memfd, the
// guest init mounts virtiofs, and virtiofsd is gone with the VM.
func TestLinuxGuestVirtiofs(t *testing.T) {
	u := setup(t)
	requireVirtiofsd(t)
	bundle := e2e.BusyboxLinuxBundle(t,
		[]string{"sh", "-c", `echo "greeting=$GREETING"; cat /etc/hello; grep -o 'urunc-root / virtiofs' /proc/mounts; echo done`},
		[]string{"PATH=/bin", "GREETING=over virtio-fs"})
	e2e.EditSpec(t, bundle, func(s *specs.Spec) { s.Annotations["com.urunc.unikernel.sharedfs"] = "virtiofs" })
	out := outFile(t)
	if r := u.RunWith(t, out, "create", "-b", bundle, "vfs1"); r.Code != 0 {
		t.Fatalf("create: %s; log %q", r, u.LastError())
	}
	u.MustRun(t, "start", "vfs1")
	e2e.WaitFor(t, 60*time.Second, "guest output", func() bool { return e2e.FileContains(out.Name(), "done") })
	output := e2e.ReadFile(out.Name())
	for _, want := range []string{"greeting=over virtio-fs", "hello from the rootfs", "urunc-root / virtiofs"} {
		if !strings.Contains(output, want) {
			t.Fatalf("output lacks %q:\n%s", want, output)
		}
	}
	vmm := readVMM(t, u, "vfs1")
	argv := fmt.Sprint(vmm["argv"])
	for _, want := range []string{"vhost-user-fs-device,chardev=urunc-vfs,tag=urunc-root", "share=on", filepath.Join(u.Root, "vfs1", "virtiofs.sock")} {
		if !strings.Contains(argv, want) {
			t.Fatalf("qemu argv lacks %q: %s", want, argv)
		}
	}
	if strings.Contains(argv, "virtio-9p") {
		t.Fatalf("9p device with virtio-fs: %s", argv)
	}
	pid, _ := vmm["virtiofsdPid"].(float64)
	if pid <= 0 {
		t.Fatalf("vmm.json records no virtiofsd pid: %v", vmm)
	}
	e2e.WaitFor(t, 20*time.Second, "stopped", func() bool { return u.Status(t, "vfs1") == "stopped" })
	e2e.WaitFor(t, 5*time.Second, "virtiofsd exit", func() bool { return !procAlive(int(pid)) })
	u.MustRun(t, "delete", "vfs1")
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left under root: %v", left)
	}
}

// A virtiofsd whose VMM never came (the child died just before exec, and
// without a pid namespace nothing else kills it) is killed by delete.
func TestLinuxGuestVirtiofsdKilledByDelete(t *testing.T) {
	u := setup(t)
	requireVirtiofsd(t)
	bundle := e2e.BusyboxLinuxBundle(t, []string{"sh", "-c", "echo never"}, []string{"PATH=/bin"})
	e2e.EditSpec(t, bundle, func(s *specs.Spec) {
		s.Annotations["com.urunc.unikernel.sharedfs"] = "virtiofs"
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.PIDNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
	})
	u.Env = []string{"URUNC_FAULT=child-before-exec:kill"}
	if r := u.RunWith(t, outFile(t), "create", "-b", bundle, "vfs2"); r.Code != 0 {
		t.Fatalf("create: %s; log %q", r, u.LastError())
	}
	if r := u.Run(t, "start", "vfs2"); r.Code == 0 {
		t.Fatal("start succeeded although the child died before exec")
	}
	pid, _ := readVMM(t, u, "vfs2")["virtiofsdPid"].(float64)
	if pid <= 0 || !procAlive(int(pid)) {
		t.Fatalf("virtiofsd pid %v not running after the child died: the test cannot check delete", pid)
	}
	// virtiofsd is the container's too: accounted in its cgroup.
	if got := procCgroup(t, int(pid), "memory"); got != "/urunc/vfs2" {
		t.Fatalf("virtiofsd in memory cgroup %q, want /urunc/vfs2", got)
	}
	u.MustRun(t, "delete", "--force", "vfs2")
	e2e.WaitFor(t, 5*time.Second, "virtiofsd killed by delete", func() bool { return !procAlive(int(pid)) })
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left under root: %v", left)
	}
}

// An unknown shared filesystem kind fails create and leaves nothing.
func TestLinuxGuestUnknownSharedFS(t *testing.T) {
	u := setup(t)
	bundle := e2e.BusyboxLinuxBundle(t, []string{"true"}, nil)
	e2e.EditSpec(t, bundle, func(s *specs.Spec) { s.Annotations["com.urunc.unikernel.sharedfs"] = "nfs" })
	r := u.RunWith(t, outFile(t), "create", "-b", bundle, "vfs3")
	if r.Code == 0 || !strings.Contains(u.LastError(), `unknown shared filesystem kind "nfs"`) {
		t.Fatalf("create: %s; log %q", r, u.LastError())
	}
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left under root: %v", left)
	}
}

// The engine's bind mounts reach the Linux guest at their destinations:
// files (here /etc/hosts read-only and a file at a path the rootfs lacks)
// without writing the rootfs's own files, and directories (volumes, one
// read-write, one read-only) over 9p.
func TestLinuxGuestBindMountedFiles(t *testing.T) {
	u := setup(t)
	bundle := e2e.BusyboxLinuxBundle(t,
		[]string{"sh", "-c", `cat /etc/hosts /run/secrets/greeting; echo x > /etc/hosts 2>/dev/null || echo hosts-read-only; ` +
			`cat /data/in.txt; echo written-by-guest > /data/out.txt; cat /ro/in.txt; echo x > /ro/new 2>/dev/null || echo ro-volume-read-only`},
		[]string{"PATH=/bin"})
	dir := t.TempDir()
	hosts, greeting := filepath.Join(dir, "hosts"), filepath.Join(dir, "greeting")
	os.WriteFile(hosts, []byte("10.9.8.7 from-the-engine\n"), 0o644)
	os.WriteFile(greeting, []byte("secret greeting\n"), 0o600)
	os.WriteFile(filepath.Join(bundle, "rootfs", "etc", "hosts"), []byte("127.0.0.1 image-own\n"), 0o644)
	vol, roVol := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(vol, "in.txt"), []byte("from the host volume\n"), 0o644)
	os.WriteFile(filepath.Join(roVol, "in.txt"), []byte("from the read-only volume\n"), 0o644)
	e2e.EditSpec(t, bundle, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/data", Type: "bind", Source: vol, Options: []string{"rbind"}},
			specs.Mount{Destination: "/ro", Type: "bind", Source: roVol, Options: []string{"rbind", "ro"}},
			specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: hosts, Options: []string{"rbind", "ro"}},
			specs.Mount{Destination: "/run/secrets/greeting", Type: "bind", Source: greeting, Options: []string{"rbind"}},
			specs.Mount{Destination: "/dev/shm", Type: "bind", Source: dir, Options: []string{"rbind"}})
	})
	out := outFile(t)
	if r := u.RunWith(t, out, "run", "-b", bundle, "binds1"); r.Code != 0 {
		t.Fatalf("exit %d; output %q; log %q", r.Code, e2e.ReadFile(out.Name()), u.LastError())
	}
	output := e2e.ReadFile(out.Name())
	for _, want := range []string{"10.9.8.7 from-the-engine", "secret greeting", "hosts-read-only",
		"from the host volume", "from the read-only volume", "ro-volume-read-only"} {
		if !strings.Contains(output, want) {
			t.Fatalf("output lacks %q:\n%s", want, output)
		}
	}
	if strings.Contains(output, "image-own") {
		t.Fatalf("the image's own /etc/hosts was shown, not the engine's:\n%s", output)
	}
	if got := e2e.ReadFile(filepath.Join(vol, "out.txt")); got != "written-by-guest\n" {
		t.Fatalf("the guest's write to the volume did not reach the host: %q", got)
	}
	if _, err := os.Stat(filepath.Join(roVol, "new")); err == nil {
		t.Fatal("the guest wrote into the read-only volume")
	}
	if got := e2e.ReadFile(filepath.Join(bundle, "rootfs", "etc", "hosts")); got != "127.0.0.1 image-own\n" {
		t.Fatalf("the rootfs's /etc/hosts was written: %q", got)
	}
}

package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// The initrd and block keys reach the VMM as the guest expects: the files
// are resolved inside the rootfs and attached, and the guest boots.
func TestInitrdAndBlock(t *testing.T) {
	u := setup(t)
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "echo=storage", Annotations: microvm(map[string]string{
		"com.urunc.unikernel.initrd": "/unikernel/initrd.img",
		"com.urunc.unikernel.block":  "/data/disk.img",
	})})
	os.WriteFile(filepath.Join(bundle, "rootfs", "unikernel", "initrd.img"), []byte("initrd contents\n"), 0o644)
	os.MkdirAll(filepath.Join(bundle, "rootfs", "data"), 0o755)
	os.WriteFile(filepath.Join(bundle, "rootfs", "data", "disk.img"), make([]byte, 1<<20), 0o644)
	out := outFile(t)
	u.RunWith(t, out, "create", "-b", bundle, "st1")
	u.MustRun(t, "start", "st1")
	e2e.WaitFor(t, 20*time.Second, "guest output", func() bool { return e2e.FileContains(out.Name(), "echo: storage") })
	vmm := e2e.ReadFile(filepath.Join(u.Root, "st1", "vmm.json"))
	for _, want := range []string{"-initrd", filepath.Join(bundle, "rootfs", "unikernel", "initrd.img"), "disk.img", "virtio-blk"} {
		if !strings.Contains(vmm, want) {
			t.Fatalf("VMM argv lacks %q: %s", want, vmm)
		}
	}
	u.MustRun(t, "delete", "-f", "st1")

	// A block path outside the rootfs is refused at create.
	bad := e2e.NewBundle(t, e2e.Bundle{Cmdline: "x", Annotations: microvm(map[string]string{"com.urunc.unikernel.block": "/../../etc/passwd"})})
	if r := u.RunWith(t, outFile(t), "create", "-b", bad, "st2"); r.Code == 0 || !strings.Contains(u.LastError(), "escapes") {
		t.Fatalf("escaping block: %s %q", r, u.LastError())
	}
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
}

// blockRootfs puts the bundle's rootfs directory into an ext4 image
// (mkfs.ext4 -d), attaches it to a loop device and, with dm, a linear
// device-mapper target over it, and mounts that at the rootfs. It returns
// the kernel name of the mounted device (loopN or dm-N). Everything is
// undone at cleanup, also when the test fails.
func blockRootfs(t *testing.T, bundle string, dm bool) string {
	t.Helper()
	tools := []string{"losetup", "mkfs.ext4"}
	if dm {
		tools = append(tools, "dmsetup")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: apt-get install dmsetup e2fsprogs mount (scripts/deps.sh)", tool)
		}
	}
	if dm {
		if out, err := exec.Command("dmsetup", "version").CombinedOutput(); err != nil {
			t.Skipf("the host kernel has no device-mapper (dmsetup version: %v: %s); TestLinuxGuestLoopRootfs covers the hand-off with a loop device", err, strings.TrimSpace(string(out)))
		}
	}
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v: %s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	rootfs := filepath.Join(bundle, "rootfs")
	img := filepath.Join(t.TempDir(), "rootfs.ext4")
	run("mkfs.ext4", "-q", "-d", rootfs, img, "160M")
	if err := os.RemoveAll(rootfs); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(rootfs, 0o755)
	loop := run("losetup", "--find", "--show", img)
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	dev := loop
	if dm {
		name := fmt.Sprintf("urunc-e2e-%d", os.Getpid())
		sectors := run("blockdev", "--getsz", loop)
		run("dmsetup", "create", name, "--table", "0 "+sectors+" linear "+loop+" 0")
		t.Cleanup(func() {
			for i := 0; i < 20 && exec.Command("dmsetup", "remove", name).Run() != nil; i++ {
				time.Sleep(100 * time.Millisecond)
			}
		})
		dev = "/dev/mapper/" + name
	}
	run("mount", "-t", "ext4", dev, rootfs)
	t.Cleanup(func() {
		if err := unix.Unmount(rootfs, 0); err != nil {
			unix.Unmount(rootfs, unix.MNT_DETACH)
		}
	})
	resolved, err := filepath.EvalSymlinks(dev)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Base(resolved)
}

func testBlockRootfs(t *testing.T, dm bool, id string) {
	u := setup(t)
	bundle := e2e.BusyboxLinuxBundle(t,
		[]string{"sh", "-c", `echo "greeting=$GREETING"; cat /etc/hello; grep ' / ' /proc/mounts; echo done`},
		[]string{"PATH=/bin", "GREETING=from a block device"})
	devName := blockRootfs(t, bundle, dm)
	if !dm {
		u.Env = []string{"URUNC_TEST_BLOCKROOT_LOOP=1"}
	}
	out := outFile(t)
	if r := u.RunWith(t, out, "create", "-b", bundle, id); r.Code != 0 {
		t.Fatalf("create: %s; log %q", r, u.LastError())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("guest output:\n%s\nvmm.json: %s\nlog: %s", e2e.ReadFile(out.Name()), e2e.ReadFile(filepath.Join(u.Root, id, "vmm.json")), e2e.ReadFile(u.Log))
		}
	})
	u.MustRun(t, "start", id)
	e2e.WaitFor(t, 60*time.Second, "guest output", func() bool { return e2e.FileContains(out.Name(), "done") })
	output := e2e.ReadFile(out.Name())
	for _, want := range []string{"greeting=from a block device", "hello from the rootfs", "/dev/vda / ext4"} {
		if !strings.Contains(output, want) {
			t.Fatalf("output lacks %q:\n%s", want, output)
		}
	}
	vmm := readVMM(t, u, id)
	argv := fmt.Sprint(vmm["argv"])
	for _, want := range []string{"virtio-blk-device,drive=hd0", "file=/dev/" + devName, filepath.Join(u.Root, id, "rootfs-kernel")} {
		if !strings.Contains(argv, want) {
			t.Fatalf("qemu argv lacks %q: %s", want, argv)
		}
	}
	if strings.Contains(argv, "9p") || strings.Contains(argv, "vhost-user-fs") {
		t.Fatalf("rootfs shared as well as handed over: %s", argv)
	}
	if s, _ := vmm["storage"].(string); !strings.Contains(s, "block device /dev/"+devName) {
		t.Fatalf("vmm.json storage: %q", s)
	}
	e2e.WaitFor(t, 20*time.Second, "stopped", func() bool { return u.Status(t, id) == "stopped" })
	u.MustRun(t, "delete", id)
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left under root: %v", left)
	}
}

// A rootfs that is an ext4 filesystem on a device-mapper device (what
// containerd's devmapper snapshotter mounts) is handed to the Linux guest
// as /dev/vda instead of being shared.
func TestLinuxGuestDevmapperRootfs(t *testing.T) { testBlockRootfs(t, true, "dm1") }

// The same hand-off with a loop device standing in for device-mapper
// (URUNC_TEST_BLOCKROOT_LOOP), for hosts whose kernel lacks device-mapper.
func TestLinuxGuestLoopRootfs(t *testing.T) { testBlockRootfs(t, false, "loop1") }

// A block rootfs that cannot be read when start hands it over (here: its
// filesystem corrupted after create) fails start with the reason, not with
// a child that died without answering START; nothing is left.
func TestLinuxGuestBlockRootfsUnreadable(t *testing.T) {
	u := setup(t)
	bundle := e2e.BusyboxLinuxBundle(t, []string{"sh", "-c", "echo done"}, []string{"PATH=/bin"})
	dev := blockRootfs(t, bundle, false)
	u.Env = []string{"URUNC_TEST_BLOCKROOT_LOOP=1"}
	out := outFile(t)
	if r := u.RunWith(t, out, "create", "-b", bundle, "bad1"); r.Code != 0 {
		t.Fatalf("create: %s; log %q", r, u.LastError())
	}
	f, err := os.OpenFile("/dev/"+dev, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(make([]byte, 4096), 0)
	f.Sync()
	f.Close()
	r := u.Run(t, "start", "bad1")
	if r.Code == 0 {
		t.Fatalf("start of a container whose rootfs cannot be read succeeded; output %q", e2e.ReadFile(out.Name()))
	}
	if msg := u.LastError(); !strings.Contains(msg, "devmapper rootfs") || strings.Contains(msg, "no answer to START") {
		t.Fatalf("start error %q: want the storage step's reason", msg)
	}
	e2e.WaitFor(t, 10*time.Second, "stopped", func() bool { return u.Status(t, "bad1") == "stopped" })
	u.MustRun(t, "delete", "bad1")
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left under root: %v", left)
	}
}

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// busyboxLinuxBundle is an ordinary busybox container rootfs plus a kernel
// copied from build/linux/vmlinux, run as a Linux microVM.
func busyboxLinuxBundle(t *testing.T, args []string, env []string) string {
	t.Helper()
	vmlinux := filepath.Join(e2e.RepoRoot(), "build", "linux", "vmlinux")
	if _, err := os.Stat(vmlinux); err != nil {
		t.Skip("build/linux/vmlinux missing: run make linux-kernel")
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not found: install Debian package busybox-static")
	}
	bundle := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"bin", "etc", "boot", "tmp"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0o755)
	}
	copyFile(t, busybox, filepath.Join(rootfs, "bin", "busybox"), 0o755)
	for _, c := range []string{"sh", "echo", "cat", "id", "pwd", "sleep", "httpd", "ip"} {
		os.Symlink("busybox", filepath.Join(rootfs, "bin", c))
	}
	os.WriteFile(filepath.Join(rootfs, "etc", "hello"), []byte("hello from the rootfs\n"), 0o644)
	copyFile(t, vmlinux, filepath.Join(rootfs, "boot", "vmlinux"), 0o644)
	spec := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{Args: args, Env: env, Cwd: "/tmp"},
		Root:    &specs.Root{Path: "rootfs"},
		Annotations: map[string]string{
			"com.urunc.unikernel.unikernelType": "linux",
			"com.urunc.unikernel.hypervisor":    "qemu",
			"com.urunc.unikernel.binary":        "/boot/vmlinux",
		},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
			{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.NetworkNamespace}}},
	}
	e2e.WriteSpec(t, bundle, spec)
	return bundle
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
}

func TestLinuxGuestRunsContainerRootfs(t *testing.T) {
	u := setup(t)
	bundle := busyboxLinuxBundle(t,
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
	bundle := busyboxLinuxBundle(t, []string{"sh", "-c", "echo failing; exit 3"}, []string{"PATH=/bin"})
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
	bundle := busyboxLinuxBundle(t, []string{"sh", "-c", "echo up; while true; do sleep 1; done"}, []string{"PATH=/bin"})
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

package e2e

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urunc-dev/urunc/internal/bundle"
	"github.com/urunc-dev/urunc/runtime/config"

	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// LinuxKernelEnv picks the guest kernel the end-to-end tests boot:
// "microvm" or "debian" (build/linux/NAME/vmlinux, both made by `make
// linux-kernel`); unset, build/linux/vmlinux, the one make selected
// (LINUX_KERNEL, default microvm).
const LinuxKernelEnv = "URUNC_TEST_LINUX_KERNEL"

// LinuxKernel is the guest kernel `make linux-kernel` prepares (see
// LinuxKernelEnv).
func LinuxKernel() string {
	if k := os.Getenv(LinuxKernelEnv); k != "" {
		return filepath.Join(RepoRoot(), "build", "linux", filepath.Base(k), "vmlinux")
	}
	return filepath.Join(RepoRoot(), "build", "linux", "vmlinux")
}

// BusyboxLinuxRootfsTar returns an image rootfs for a Linux microVM: an
// ordinary busybox userland, the guest kernel at /boot/vmlinux, /www with
// an index.html, and a base64 urunc.json (type linux, qemu) at the root.
// It skips the test when the kernel or busybox is missing.
func BusyboxLinuxRootfsTar(t testing.TB, index string) []byte {
	t.Helper()
	kernel, err := os.ReadFile(LinuxKernel())
	if err != nil {
		t.Skipf("%s missing: run make linux-kernel", LinuxKernel())
	}
	bbPath, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not found: install Debian package busybox-static")
	}
	busybox, err := os.ReadFile(bbPath)
	if err != nil {
		t.Fatal(err)
	}
	uj := config.EncodeURuncJSON(map[string]string{
		"com.urunc.unikernel.unikernelType": "linux", "com.urunc.unikernel.hypervisor": "qemu",
		"com.urunc.unikernel.binary": "/boot/vmlinux",
	})
	var buf bytes.Buffer
	tw := newTarWriter(&buf)
	for _, d := range []string{"bin/", "boot/", "etc/", "tmp/", "www/"} {
		tw.header(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	file := func(name string, mode int64, data []byte) {
		tw.file(&tar.Header{Name: name, Mode: mode}, data)
	}
	file("bin/busybox", 0o755, busybox)
	for _, c := range []string{"sh", "echo", "cat", "sleep", "httpd", "ip"} {
		tw.header(&tar.Header{Name: "bin/" + c, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	file("boot/vmlinux", 0o644, kernel)
	file("www/index.html", 0o644, []byte(index))
	file("urunc.json", 0o644, uj)
	if err := tw.close(); err != nil {
		t.Fatalf("Linux image rootfs tarball: %v", err)
	}
	return buf.Bytes()
}

// BusyboxLinuxBundle is an ordinary busybox container rootfs plus a kernel
// copied from build/linux/vmlinux, run as a Linux microVM.
func BusyboxLinuxBundle(t testing.TB, args []string, env []string) string {
	t.Helper()
	vmlinux := LinuxKernel()
	if _, err := os.Stat(vmlinux); err != nil {
		t.Skipf("%s missing: run make linux-kernel", vmlinux)
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not found: install Debian package busybox-static")
	}
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	// A rootfs as images have it: 0755 directories, 0644 files (the
	// container's program need not be root).
	for _, d := range []string{"bin", "etc", "boot", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil { //nolint:gosec // G301: see above
			t.Fatal(err)
		}
	}
	copyFile(t, busybox, filepath.Join(rootfs, "bin", "busybox"), 0o755)
	for _, c := range []string{"sh", "echo", "cat", "id", "pwd", "sleep", "httpd", "ip"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc", "hello"), []byte("hello from the rootfs\n"), 0o644); err != nil { //nolint:gosec // G306: see above
		t.Fatal(err)
	}
	copyFile(t, vmlinux, filepath.Join(rootfs, "boot", "vmlinux"), 0o644)
	spec := bundle.Spec(bundle.SpecOptions{Args: args, Env: env, Cwd: "/tmp", Annotations: map[string]string{
		config.KeyType: "linux", config.KeyHypervisor: "qemu", config.KeyBinary: "/boot/vmlinux",
	}})
	WriteSpec(t, dir, spec)
	return dir
}

func copyFile(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil { //nolint:gosec // G703: a path in the test's own bundle
		t.Fatal(err)
	}
}

// EditSpec changes a bundle's config.json through f.
func EditSpec(t testing.TB, dir string, f func(*specs.Spec)) {
	t.Helper()
	var spec specs.Spec
	if err := json.Unmarshal([]byte(ReadFile(filepath.Join(dir, "config.json"))), &spec); err != nil {
		t.Fatal(err)
	}
	f(&spec)
	WriteSpec(t, dir, &spec)
}

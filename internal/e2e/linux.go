package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// LinuxKernel is the guest kernel `make linux-kernel` prepares.
func LinuxKernel() string { return filepath.Join(RepoRoot(), "build", "linux", "vmlinux") }

// BusyboxLinuxRootfsTar returns an image rootfs for a Linux microVM: an
// ordinary busybox userland, the guest kernel at /boot/vmlinux, /www with
// an index.html, and a base64 urunc.json (type linux, qemu) at the root.
// It skips the test when the kernel or busybox is missing.
func BusyboxLinuxRootfsTar(t testing.TB, index string) []byte {
	t.Helper()
	kernel, err := os.ReadFile(LinuxKernel())
	if err != nil {
		t.Skip("build/linux/vmlinux missing: run make linux-kernel")
	}
	bbPath, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not found: install Debian package busybox-static")
	}
	busybox, err := os.ReadFile(bbPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]string{}
	for k, v := range map[string]string{
		"com.urunc.unikernel.unikernelType": "linux", "com.urunc.unikernel.hypervisor": "qemu",
		"com.urunc.unikernel.binary": "/boot/vmlinux",
	} {
		cfg[k] = base64.StdEncoding.EncodeToString([]byte(v))
	}
	uj, _ := json.Marshal(cfg)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "boot/", "etc/", "tmp/", "www/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	file := func(name string, mode int64, data []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data))})
		tw.Write(data)
	}
	file("bin/busybox", 0o755, busybox)
	for _, c := range []string{"sh", "echo", "cat", "sleep", "httpd", "ip"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + c, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	file("boot/vmlinux", 0o644, kernel)
	file("www/index.html", 0o644, []byte(index))
	file("urunc.json", 0o644, uj)
	tw.Close()
	return buf.Bytes()
}

package docker_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// TestDockerBridgeLinuxGuestHTTP: `docker run --network <bridge>` of a Linux
// guest image; busybox httpd in the microVM answers at the container's IP
// on the bridge (host <-> bridge traffic only: no NAT, nothing leaves).
func TestDockerBridgeLinuxGuestHTTP(t *testing.T) {
	d := startDockerd(t)
	e2e.Make(t, "linux-kernel")
	page := fmt.Sprintf("served by a urunc microVM %d\n", os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	imp := exec.CommandContext(ctx, "/usr/bin/docker", "-H", "unix://"+d.sock, "import",
		"--change", `CMD ["httpd", "-f", "-p", "80", "-h", "/www"]`, "--change", "ENV PATH=/bin", "-", "urunc-httpd:test")
	imp.Stdin = bytes.NewReader(e2e.BusyboxLinuxRootfsTar(t, page))
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v %s", err, out)
	}
	bridge := fmt.Sprintf("urbr%d", os.Getpid()%100000)
	d.must("network", "create", "--driver", "bridge", "--subnet", "10.213.77.0/24",
		"--opt", "com.docker.network.bridge.name="+bridge, "urunc-net")
	t.Cleanup(func() { d.run("network", "rm", "urunc-net") })

	id := strings.TrimSpace(d.must("run", "-d", "--runtime", "urunc", "--network", "urunc-net", "--memory", "256m", "urunc-httpd:test"))
	ip := strings.TrimSpace(d.must("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id))
	if !strings.HasPrefix(ip, "10.213.77.") {
		t.Fatalf("container IP %q not on the bridge network", ip)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	var body string
	deadline := time.Now().Add(90 * time.Second) // a TCG boot takes a few seconds
	for time.Now().Before(deadline) {
		if resp, err := client.Get("http://" + ip + "/index.html"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if body != page {
		t.Fatalf("GET http://%s/ = %q, want %q; logs:\n%s", ip, body, page, d.run("logs", id).out)
	}
	// The guest, not a process on the host, answered: qemu holds the tap.
	vmm, err := os.ReadFile(d.runtimeRoot() + "/" + id + "/vmm.json")
	if err != nil || !strings.Contains(string(vmm), `"tapName"`) || !strings.Contains(string(vmm), ip) {
		t.Fatalf("vmm.json lacks the tap and the container IP %s: %s %v", ip, vmm, err)
	}
	d.must("stop", "-t", "10", id)
	d.must("rm", id)
	if left := d.leftovers(); len(left) != 0 {
		t.Fatalf("left under %s: %v", d.runtimeRoot(), left)
	}
	d.must("network", "rm", "urunc-net")
	if out, _ := exec.Command("ip", "link", "show", bridge).CombinedOutput(); !strings.Contains(string(out), "does not exist") {
		t.Fatalf("bridge %s left: %s", bridge, out)
	}
}

// Docker's bind mounts reach a Linux guest: /etc/hosts with --add-host,
// the container's hostname, and a -v volume (read and written).
func TestDockerLinuxGuestSeesEngineFiles(t *testing.T) {
	d := startDockerd(t)
	e2e.Make(t, "linux-kernel")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	imp := exec.CommandContext(ctx, "/usr/bin/docker", "-H", "unix://"+d.sock, "import",
		"--change", "ENV PATH=/bin", "-", "urunc-busybox:test")
	imp.Stdin = bytes.NewReader(e2e.BusyboxLinuxRootfsTar(t, "unused\n"))
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v %s", err, out)
	}
	vol := t.TempDir()
	os.WriteFile(filepath.Join(vol, "note"), []byte("from a docker volume\n"), 0o644)
	r := d.run("run", "--rm", "--runtime", "urunc", "--network", "none", "--hostname", "uvm",
		"--add-host", "engine-host:10.1.2.3", "-v", vol+":/data", "urunc-busybox:test",
		"sh", "-c", "cat /etc/hosts /etc/hostname /data/note; echo from-the-guest > /data/back")
	if r.code != 0 {
		t.Fatalf("docker run: exit %d: %s", r.code, r.out)
	}
	for _, want := range []string{"10.1.2.3\tengine-host", "uvm", "from a docker volume"} {
		if !strings.Contains(r.out, want) {
			t.Fatalf("guest output lacks %q:\n%s", want, r.out)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(vol, "back")); string(b) != "from-the-guest\n" {
		t.Fatalf("the guest's write to the volume: %q", b)
	}
	if left := d.leftovers(); len(left) != 0 {
		t.Fatalf("left: %v", left)
	}
}

package docker_test

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// An image made by `urunc-dev image` from the test unikernel loads with
// docker load, runs detached under urunc (docker logs shows the guest),
// takes docker run's arguments as the guest's, and leaves nothing behind.
func TestDockerLoadURuncDevImage(t *testing.T) {
	d := startDockerd(t)
	const ref = "urunc/hello-image:test"
	archive := e2e.URuncDevImage(t, "--kernel", e2e.Unikernel(), "--type", "unikraft", "--hypervisor", "qemu",
		"--cmdline", "heartbeat", "--label", "com.urunc.vmm.machine=microvm", "--tag", ref)
	if out := d.must("load", "-i", archive); !strings.Contains(out, "Loaded image: "+ref) {
		t.Fatalf("docker load: %s", out)
	}
	var labels map[string]string
	if err := json.Unmarshal([]byte(d.must("image", "inspect", "-f", "{{json .Config.Labels}}", ref)), &labels); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"com.urunc.unikernel.unikernelType": "unikraft", "com.urunc.unikernel.hypervisor": "qemu",
		"com.urunc.unikernel.binary": "/unikernel/hello.elf", "com.urunc.unikernel.cmdline": "heartbeat",
		"com.urunc.vmm.machine": "microvm",
	}
	if !reflect.DeepEqual(labels, want) {
		t.Fatalf("labels %v, want %v", labels, want)
	}

	id := strings.TrimSpace(d.must("run", "-d", "--runtime", "urunc", "--network", "none", ref))
	waitFor(t, 30*time.Second, "heartbeat in docker logs", func() bool {
		return strings.Contains(d.run("logs", id).out, "heartbeat 2")
	})
	if logs := d.run("logs", id).out; !strings.Contains(logs, "Hello from the urunc test unikernel") {
		t.Fatalf("logs: %s", logs)
	}
	d.must("stop", "-t", "5", id)
	if st := strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}}", id)); st != "exited" {
		t.Fatalf("status after stop: %s", st)
	}
	d.must("rm", id)

	// docker run's arguments replace the image's CMD and reach the guest.
	r := d.run("run", "--rm", "--runtime", "urunc", "--network", "none", ref, "echo=loaded", "exit=5")
	if r.code != 11 || !strings.Contains(r.out, "echo: loaded") {
		t.Fatalf("exit %d (want 11 = isa-debug-exit 5): %s", r.code, r.out)
	}

	d.must("rmi", ref)
	if left := d.leftovers(); len(left) != 0 {
		t.Fatalf("left under %s: %v", d.runtimeRoot(), left)
	}
	if out := strings.TrimSpace(d.must("ps", "-aq")); out != "" {
		t.Fatalf("containers left: %s", out)
	}
	if out, _ := exec.Command("sh", "-c", "ps -eo args | grep -c '[q]emu-system.*"+id[:12]+"' || true").Output(); strings.TrimSpace(string(out)) != "0" {
		t.Fatalf("qemu left running")
	}
}

package docker_test

import (
	"encoding/json"
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

// startDockerdWithTenders is startDockerd with urunc configured to find
// the real Solo5 tenders of ../shared/guests (they are not on PATH), and a
// bridge network, as Docker's default one is, for the guests.
func startDockerdWithTenders(t *testing.T) (*dockerd, string) {
	t.Helper()
	hvt, spt := e2e.Guest(t, "solo5-v0.12.1/solo5-hvt"), e2e.Guest(t, "solo5-v0.12.1/solo5-spt")
	cfg := filepath.Join(t.TempDir(), "urunc.json")
	data, _ := json.Marshal(map[string]any{"monitors": map[string]any{"hvt": map[string]string{"path": hvt}, "spt": map[string]string{"path": spt}}})
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(cfg), 0o755)
	d := startDockerdEnv(t, []string{"URUNC_CONFIG=" + cfg})
	bridge := fmt.Sprintf("urgb%d", os.Getpid()%100000)
	d.must("network", "create", "--driver", "bridge", "--subnet", "10.214.77.0/24",
		"--opt", "com.docker.network.bridge.name="+bridge, "urunc-guests")
	t.Cleanup(func() { d.run("network", "rm", "urunc-guests") })
	return d, "urunc-guests"
}

// loadGuestImage packs a real guest with urunc-dev image and docker-loads it.
func loadGuestImage(t *testing.T, d *dockerd, ref, kernel string, args ...string) {
	t.Helper()
	archive := e2e.URuncDevImage(t, append([]string{"--kernel", e2e.Guest(t, kernel), "--tag", ref}, args...)...)
	if out := d.must("load", "-i", archive); !strings.Contains(out, "Loaded image: "+ref) {
		t.Fatalf("docker load: %s", out)
	}
	t.Cleanup(func() { d.run("rmi", "-f", ref) })
}

// Solo5's test_hello in the foreground under Docker's default seccomp
// profile and a bridge network: it declares no NIC (none is given), prints
// SUCCESS and its exit status is docker run's; test_net with a bad command
// line exits 1, and that is docker run's too.
func TestDockerSolo5Foreground(t *testing.T) {
	d, net := startDockerdWithTenders(t)
	for _, hv := range []string{"spt", "hvt"} {
		if hv == "hvt" && !e2e.KVMUsable() {
			t.Log("no hvt run: /dev/kvm cannot be opened")
			continue
		}
		ref := "urunc/solo5-hello-" + hv + ":test"
		loadGuestImage(t, d, ref, "solo5-v0.12.1/test_hello."+hv, "--type", "solo5", "--hypervisor", hv, "--cmdline", "Hello_Solo5")
		r := d.run("run", "--rm", "--runtime", "urunc", "--network", net, ref)
		if r.code != 0 || !strings.Contains(r.out, "SUCCESS") {
			t.Fatalf("%s: exit %d: %s", hv, r.code, r.out)
		}
	}
	ref := "urunc/solo5-net:test"
	loadGuestImage(t, d, ref, "solo5-v0.12.1/test_net.spt", "--type", "solo5", "--hypervisor", "spt")
	r := d.run("run", "--rm", "--runtime", "urunc", "--network", net, ref, "bogus")
	if r.code != 1 || !strings.Contains(r.out, "Error in command line") {
		t.Fatalf("test_net bogus: exit %d: %s", r.code, r.out)
	}
	if left := d.leftovers(); len(left) != 0 {
		t.Fatalf("left under %s: %v", d.runtimeRoot(), left)
	}
}

// Unikraft's httpreply detached on a bridge network, as an image without
// CMD: it answers HTTP at the container's address, docker logs shows its
// console, stop and rm leave nothing.
func TestDockerUnikraftHTTPReply(t *testing.T) {
	d, net := startDockerdWithTenders(t)
	ref := "urunc/httpreply:test"
	loadGuestImage(t, d, ref, "unikraft-0.15.0/httpreply_qemu-x86_64", "--type", "unikraft", "--hypervisor", "qemu", "--version", "0.15.0")
	id := strings.TrimSpace(d.must("run", "-d", "--runtime", "urunc", "--network", net, ref))
	ip := strings.TrimSpace(d.must("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id))
	client := &http.Client{Timeout: 2 * time.Second}
	var body string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if resp, err := client.Get("http://" + ip + ":8123/"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
	}
	if !strings.Contains(body, "It works!") {
		t.Fatalf("GET http://%s:8123/ = %q; logs:\n%s", ip, body, d.run("logs", id).out)
	}
	if logs := d.run("logs", id).out; !strings.Contains(logs, "Listening on port 8123") {
		t.Fatalf("logs: %s", logs)
	}
	d.must("stop", "-t", "5", id)
	d.must("rm", id)
	if left := d.leftovers(); len(left) != 0 {
		t.Fatalf("left under %s: %v", d.runtimeRoot(), left)
	}
	if out, _ := exec.Command("sh", "-c", "ps -eo args | grep -c '[q]emu-system.*httpreply' || true").Output(); strings.TrimSpace(string(out)) != "0" {
		t.Fatal("qemu left running")
	}
}

package docker_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// TestEngineRestartKeepsState: with --live-restore the guest keeps running
// while dockerd (and its containerd) restart; afterwards docker, `urunc
// state` and `urunc ps --format json` still agree on the same VMM, and the
// container stops and goes away normally.
func TestEngineRestartKeepsState(t *testing.T) {
	d := startDockerd(t, "--live-restore")
	d.importImage("urunc-restart:test", "heartbeat")
	id := strings.TrimSpace(d.must("run", "-d", "--runtime", "urunc", "--network", "none", "urunc-restart:test"))
	waitFor(t, 30*time.Second, "heartbeat", func() bool { return strings.Contains(d.run("logs", id).out, "heartbeat 1") })
	urunc := func(args ...string) string {
		out, err := exec.Command(e2e.URuncBin(), append([]string{"--root", d.runtimeRoot()}, args...)...).Output()
		if err != nil {
			t.Fatalf("urunc %v: %v", args, err)
		}
		return string(out)
	}
	pidBefore := strings.TrimSpace(d.must("inspect", "-f", "{{.State.Pid}}", id))

	d.stop()
	// The engine is down, the guest is not.
	var st struct {
		Status string `json:"status"`
		Pid    int    `json:"pid"`
	}
	json.Unmarshal([]byte(urunc("state", id)), &st)
	if st.Status != "running" || strconv.Itoa(st.Pid) != pidBefore {
		t.Fatalf("with dockerd down: state %+v, docker had pid %s", st, pidBefore)
	}
	d.start()

	if got := strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", id)); got != "running "+pidBefore {
		t.Fatalf("after restart docker says %q, want running %s", got, pidBefore)
	}
	json.Unmarshal([]byte(urunc("state", id)), &st)
	var pids []int
	json.Unmarshal([]byte(urunc("ps", "--format", "json", id)), &pids)
	if st.Status != "running" || len(pids) != 1 || strconv.Itoa(pids[0]) != pidBefore {
		t.Fatalf("after restart: state %+v, ps %v, want pid %s", st, pids, pidBefore)
	}
	n := strings.Count(d.run("logs", id).out, "heartbeat")
	waitFor(t, 10*time.Second, "heartbeats after the restart", func() bool {
		return strings.Count(d.run("logs", id).out, "heartbeat") > n
	})
	d.must("stop", "-t", "5", id)
	d.must("rm", id)
	if left := d.leftovers(); len(left) != 0 {
		t.Fatalf("left under %s: %v", d.runtimeRoot(), left)
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/docker/" + id); err == nil {
		t.Fatal("cgroup left")
	}
}

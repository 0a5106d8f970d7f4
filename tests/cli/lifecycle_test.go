package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// setup skips without root or qemu and builds bin/urunc and the test
// unikernel once per test binary.
func setup(t *testing.T) *e2e.URunc {
	t.Helper()
	return e2e.Setup(t)
}

// outFile returns a file to give create as the container's stdio.
func outFile(t *testing.T) *os.File {
	f, err := os.Create(filepath.Join(t.TempDir(), "stdio"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func microvm(extra map[string]string) map[string]string {
	m := map[string]string{"com.urunc.vmm.machine": "microvm"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestLifecycleAnnotations(t *testing.T) {
	for _, accel := range []string{"tcg", "kvm"} {
		t.Run(accel, func(t *testing.T) {
			u := setup(t)
			if accel == "kvm" && !e2e.KVMUsable() {
				t.Skip("/dev/kvm cannot be opened: KVM variant needs it")
			}
			bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "echo=lifecycle", Annotations: microvm(map[string]string{"com.urunc.vmm.accel": accel})})
			out := outFile(t)
			pidFile := filepath.Join(t.TempDir(), "c.pid")
			if r := u.RunWith(t, out, "create", "--bundle", bundle, "--pid-file", pidFile, "c1"); r.Code != 0 {
				t.Fatalf("create: %s; log: %s", r, u.LastError())
			}
			st := u.State(t, "c1")
			if st["status"] != "created" {
				t.Fatalf("status after create = %v", st["status"])
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(e2e.ReadFile(pidFile)))
			if pid <= 0 || int(st["pid"].(float64)) != pid {
				t.Fatalf("pid file %d, state pid %v", pid, st["pid"])
			}
			if st["bundle"] != bundle || st["ociVersion"] == "" || st["id"] != "c1" {
				t.Fatalf("state: %v", st)
			}
			if e2e.FileContains(out.Name(), "Hello") {
				t.Fatal("guest ran before start")
			}
			u.MustRun(t, "start", "c1")
			e2e.WaitFor(t, 20*time.Second, "guest greeting on create's stdio", func() bool {
				return e2e.FileContains(out.Name(), "Hello from the urunc test unikernel") && e2e.FileContains(out.Name(), "echo: lifecycle")
			})
			serial := filepath.Join(u.Root, "c1", "serial.log")
			e2e.WaitFor(t, 10*time.Second, "serial.log copy", func() bool { return e2e.FileContains(serial, "echo: lifecycle") })
			e2e.WaitFor(t, 20*time.Second, "stopped after the guest exits", func() bool { return u.Status(t, "c1") == "stopped" })
			var vmm map[string]any
			json.Unmarshal([]byte(e2e.ReadFile(filepath.Join(u.Root, "c1", "vmm.json"))), &vmm)
			if vmm["accel"] != accel || vmm["machine"] != "microvm" || int(vmm["pid"].(float64)) != pid {
				t.Fatalf("vmm.json: %v", vmm)
			}
			u.MustRun(t, "delete", "c1")
			if left := u.Leftovers(); len(left) != 0 {
				t.Fatalf("left under root: %v", left)
			}
		})
	}
}

func TestLifecycleURuncJSONKill(t *testing.T) {
	u := setup(t)
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", URuncJSON: true, Annotations: microvm(nil)})
	out := outFile(t)
	u.RunWith(t, out, "create", "-b", bundle, "hb")
	if s := u.Status(t, "hb"); s != "created" {
		t.Fatalf("status %s; log: %s", s, u.LastError())
	}
	u.MustRun(t, "start", "hb")
	e2e.WaitFor(t, 20*time.Second, "heartbeat", func() bool { return e2e.FileContains(out.Name(), "heartbeat") })
	if s := u.Status(t, "hb"); s != "running" {
		t.Fatalf("status %s", s)
	}
	// A running container is not deleted without --force.
	r := u.Run(t, "delete", "hb")
	if r.Code == 0 || !strings.Contains(u.LastError(), "running") {
		t.Fatalf("delete of running container: %s, log %q", r, u.LastError())
	}
	pid := int(u.State(t, "hb")["pid"].(float64))
	u.MustRun(t, "kill", "hb", "TERM")
	e2e.WaitFor(t, 10*time.Second, "stopped after TERM", func() bool { return u.Status(t, "hb") == "stopped" })
	if unix.Kill(pid, 0) == nil {
		if data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); !strings.Contains(string(data), ") Z") {
			t.Fatalf("VMM pid %d still alive after TERM", pid)
		}
	}
	u.MustRun(t, "delete", "hb")
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left under root: %v", left)
	}
}

func TestDeleteForce(t *testing.T) {
	u := setup(t)
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil)})
	// Running.
	u.RunWith(t, outFile(t), "create", "-b", bundle, "run1")
	u.MustRun(t, "start", "run1")
	pid := int(u.State(t, "run1")["pid"].(float64))
	u.MustRun(t, "delete", "--force", "run1")
	if _, err := os.Stat(filepath.Join(u.Root, "run1")); err == nil {
		t.Fatal("state dir left")
	}
	if data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(data), ") Z") {
		t.Fatalf("VMM still running after delete --force: %s", data)
	}
	// Created, never started: the waiting child is killed.
	u.RunWith(t, outFile(t), "create", "-b", bundle, "created1")
	u.MustRun(t, "delete", "--force", "created1")
	// Already dead.
	u.RunWith(t, outFile(t), "create", "-b", bundle, "dead1")
	u.MustRun(t, "start", "dead1")
	u.MustRun(t, "kill", "dead1", "KILL")
	e2e.WaitFor(t, 10*time.Second, "stopped", func() bool { return u.Status(t, "dead1") == "stopped" })
	u.MustRun(t, "delete", "--force", "dead1")
	// Nonexistent: --force succeeds, plain delete fails.
	u.MustRun(t, "delete", "--force", "never")
	if r := u.Run(t, "delete", "never"); r.Code == 0 {
		t.Fatal("delete of a missing container succeeded")
	}
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left under root: %v", left)
	}
}

func TestRunForegroundExitStatus(t *testing.T) {
	u := setup(t)
	tests := []struct {
		cmdline string
		code    int
	}{
		{"echo=run", 0},
		{"exit=5", 11}, // isa-debug-exit: (5<<1)|1
	}
	for _, tt := range tests {
		bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: tt.cmdline, Annotations: microvm(nil)})
		out := outFile(t)
		r := u.RunWith(t, out, "run", "-b", bundle, "fg")
		if r.Code != tt.code {
			t.Fatalf("%s: exit %d, want %d; output %q; log %q", tt.cmdline, r.Code, tt.code, e2e.ReadFile(out.Name()), u.LastError())
		}
		if !e2e.FileContains(out.Name(), "cmdline:") {
			t.Fatalf("no guest output: %q", e2e.ReadFile(out.Name()))
		}
		if left := u.Leftovers(); len(left) != 0 {
			t.Fatalf("run left %v", left)
		}
	}
	// Detached: returns while the guest runs.
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil)})
	u.RunWith(t, outFile(t), "run", "--detach", "-b", bundle, "bg")
	if s := u.Status(t, "bg"); s != "running" {
		t.Fatalf("detached run: %s", s)
	}
	u.MustRun(t, "delete", "-f", "bg")
}

func TestListPsFeaturesPause(t *testing.T) {
	u := setup(t)
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil)})
	out := outFile(t)
	u.RunWith(t, out, "create", "-b", bundle, "p1")
	u.MustRun(t, "start", "p1")
	pid := int(u.State(t, "p1")["pid"].(float64))

	table := u.MustRun(t, "list").Stdout
	if !strings.Contains(table, "ID") || !strings.Contains(table, "p1") || !strings.Contains(table, "running") {
		t.Fatalf("list: %s", table)
	}
	if q := strings.TrimSpace(u.MustRun(t, "list", "-q").Stdout); q != "p1" {
		t.Fatalf("list -q: %q", q)
	}
	var entries []map[string]any
	if err := json.Unmarshal([]byte(u.MustRun(t, "list", "--format", "json").Stdout), &entries); err != nil || len(entries) != 1 || entries[0]["status"] != "running" {
		t.Fatalf("list json: %v %v", entries, err)
	}
	var pids []int
	if err := json.Unmarshal([]byte(u.MustRun(t, "ps", "--format", "json", "p1").Stdout), &pids); err != nil || len(pids) != 1 || pids[0] != pid {
		t.Fatalf("ps: %v %v (pid %d)", pids, err, pid)
	}
	if ps := u.MustRun(t, "ps", "p1").Stdout; !strings.Contains(ps, "PID") || !strings.Contains(ps, strconv.Itoa(pid)) {
		t.Fatalf("ps table: %s", ps)
	}

	u.MustRun(t, "pause", "p1")
	if s := u.Status(t, "p1"); s != "paused" {
		t.Fatalf("after pause: %s", s)
	}
	before := strings.Count(e2e.ReadFile(out.Name()), "heartbeat ")
	time.Sleep(2500 * time.Millisecond)
	if after := strings.Count(e2e.ReadFile(out.Name()), "heartbeat "); after > before+1 {
		t.Fatalf("guest kept running while paused: %d -> %d heartbeats", before, after)
	}
	if r := u.Run(t, "pause", "p1"); r.Code == 0 {
		t.Fatal("pausing a paused container succeeded")
	}
	u.MustRun(t, "resume", "p1")
	if s := u.Status(t, "p1"); s != "running" {
		t.Fatalf("after resume: %s", s)
	}
	n := strings.Count(e2e.ReadFile(out.Name()), "heartbeat ")
	e2e.WaitFor(t, 10*time.Second, "heartbeats after resume", func() bool {
		return strings.Count(e2e.ReadFile(out.Name()), "heartbeat ") > n
	})
	u.MustRun(t, "delete", "--force", "p1")

	var f map[string]any
	if err := json.Unmarshal([]byte(u.MustRun(t, "features").Stdout), &f); err != nil || f["ociVersionMin"] == nil || f["ociVersionMax"] == nil {
		t.Fatalf("features: %v %v", f, err)
	}
	if cg := fmt.Sprint(f["linux"].(map[string]any)["cgroup"]); cg != "map[systemd:true v1:true v2:true]" {
		t.Fatalf("features cgroup: %s", cg)
	}
	if v := u.MustRun(t, "version").Stdout; !strings.Contains(v, "urunc version") || !strings.Contains(v, "spec:") {
		t.Fatalf("version: %s", v)
	}
}

func TestHooks(t *testing.T) {
	u := setup(t)
	dir := t.TempDir()
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + filepath.Join(dir, name)}}
	}
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil), Hooks: &specs.Hooks{
		CreateRuntime:   []specs.Hook{hook("createRuntime")},
		CreateContainer: []specs.Hook{hook("createContainer")},
		StartContainer:  []specs.Hook{hook("startContainer")},
		Poststart:       []specs.Hook{hook("poststart")},
		Poststop:        []specs.Hook{hook("poststop")},
	}})
	u.RunWith(t, outFile(t), "create", "-b", bundle, "h1")
	for _, h := range []string{"createRuntime", "createContainer"} {
		if !e2e.FileContains(filepath.Join(dir, h), `"id":"h1"`) {
			t.Fatalf("%s hook did not get the state: %q", h, e2e.ReadFile(filepath.Join(dir, h)))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "poststart")); err == nil {
		t.Fatal("poststart ran during create")
	}
	u.MustRun(t, "start", "h1")
	for _, h := range []string{"startContainer", "poststart"} {
		if !e2e.FileContains(filepath.Join(dir, h), `"id":"h1"`) {
			t.Fatalf("%s hook: %q", h, e2e.ReadFile(filepath.Join(dir, h)))
		}
	}
	u.MustRun(t, "delete", "--force", "h1")
	if !e2e.FileContains(filepath.Join(dir, "poststop"), `"id":"h1"`) {
		t.Fatalf("poststop: %q", e2e.ReadFile(filepath.Join(dir, "poststop")))
	}

	// A failing createRuntime hook fails create and leaves nothing.
	bad := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil), Hooks: &specs.Hooks{
		CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo hook-says-no >&2; exit 7"}}},
	}})
	r := u.RunWith(t, outFile(t), "create", "-b", bad, "h2")
	if r.Code == 0 || !strings.Contains(u.LastError(), "hook-says-no") {
		t.Fatalf("failing hook: %s; log %q", r, u.LastError())
	}
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left under root: %v", left)
	}
	// A hanging hook times out.
	one := 1
	slow := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil), Hooks: &specs.Hooks{
		CreateRuntime: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "30"}, Timeout: &one}},
	}})
	start := time.Now()
	if r := u.RunWith(t, outFile(t), "create", "-b", slow, "h3"); r.Code == 0 || !strings.Contains(u.LastError(), "timed out") {
		t.Fatalf("hanging hook: %s; log %q", r, u.LastError())
	}
	if time.Since(start) > 20*time.Second {
		t.Fatal("hook timeout not honoured")
	}
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left under root: %v", left)
	}
}

func TestConsoleSocket(t *testing.T) {
	u := setup(t)
	sock := filepath.Join(t.TempDir(), "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan *os.File, 1)
	go func() {
		conn, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		defer conn.Close()
		buf := make([]byte, 256)
		oob := make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if len(msgs) == 1 {
			fds, _ := unix.ParseUnixRights(&msgs[0])
			if len(fds) == 1 {
				got <- os.NewFile(uintptr(fds[0]), "pty-master")
			}
		}
	}()
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "echo=tty heartbeat", Terminal: true, Annotations: microvm(nil)})
	u.MustRun(t, "create", "-b", bundle, "--console-socket", sock, "tty1")
	var master *os.File
	select {
	case master = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no pty master received on the console socket")
	}
	defer master.Close()
	u.MustRun(t, "start", "tty1")
	var buf strings.Builder
	master.SetReadDeadline(time.Now().Add(20 * time.Second))
	b := make([]byte, 4096)
	for !strings.Contains(buf.String(), "echo: tty") {
		n, err := master.Read(b)
		if err != nil {
			t.Fatalf("reading pty: %v; got %q", err, buf.String())
		}
		buf.Write(b[:n])
	}
	u.MustRun(t, "delete", "--force", "tty1")

	// terminal without a console socket is refused.
	if r := u.Run(t, "create", "-b", bundle, "tty2"); r.Code == 0 || !strings.Contains(u.LastError(), "console-socket") {
		t.Fatalf("terminal without console socket: %s %q", r, u.LastError())
	}
}

func TestJSONLogErrors(t *testing.T) {
	u := setup(t)
	r := u.Run(t, "start", "nosuch")
	if r.Code != 1 {
		t.Fatalf("start of a missing container: %s", r)
	}
	data, _ := os.ReadFile(u.Log)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("log line not JSON: %q", lines[len(lines)-1])
	}
	if last["level"] != "error" || !strings.Contains(last["msg"].(string), "nosuch") || last["time"] == nil {
		t.Fatalf("log line: %v", last)
	}
	if !strings.Contains(r.Stderr, "nosuch") {
		t.Fatalf("stderr: %q", r.Stderr)
	}
}

func TestRuncDelegation(t *testing.T) {
	u := setup(t)
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc not found: install Debian package runc")
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not found: install Debian package busybox-static")
	}
	_ = runc
	bundle := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755)
	data, _ := os.ReadFile(busybox)
	os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), data, 0o755)
	cmd := exec.Command(runc, "spec", "--bundle", bundle)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v %s", err, out)
	}
	var spec specs.Spec
	json.Unmarshal([]byte(e2e.ReadFile(filepath.Join(bundle, "config.json"))), &spec)
	spec.Process.Terminal = false
	spec.Process.Args = []string{"/bin/busybox", "sh", "-c", "echo from-runc; exit 3"}
	e2e.WriteSpec(t, bundle, &spec)

	out := outFile(t)
	if r := u.RunWith(t, out, "run", "-b", bundle, "plain"); r.Code != 3 {
		t.Fatalf("runc run through urunc: exit %d; output %q", r.Code, e2e.ReadFile(out.Name()))
	}
	if !e2e.FileContains(out.Name(), "from-runc") {
		t.Fatalf("output: %q", e2e.ReadFile(out.Name()))
	}
	if left := u.Leftovers(); len(left) != 0 { // runc run deletes on exit
		t.Fatalf("left after run: %v", left)
	}

	spec.Process.Args = []string{"/bin/busybox", "sleep", "30"}
	e2e.WriteSpec(t, bundle, &spec)
	u.RunWith(t, outFile(t), "create", "-b", bundle, "plain2")
	u.MustRun(t, "start", "plain2")
	if s := u.Status(t, "plain2"); s != "running" {
		t.Fatalf("runc container status %s", s)
	}
	if !strings.Contains(u.MustRun(t, "list").Stdout, "plain2") {
		t.Fatal("list does not show runc's container")
	}
	u.MustRun(t, "kill", "plain2", "KILL")
	e2e.WaitFor(t, 10*time.Second, "runc container stopped", func() bool { return u.Status(t, "plain2") == "stopped" })
	u.MustRun(t, "delete", "plain2")
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left under root: %v", left)
	}
}

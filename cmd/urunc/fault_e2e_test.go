package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// shortTimeouts points urunc at a config with 2 s handshake timeouts.
func shortTimeouts(t *testing.T, u *e2e.URunc) {
	cfg := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(cfg, []byte(`{"timeouts":{"booted":"2s","ack":"2s","startReply":"3s","lock":"5s"}}`), 0o644)
	u.Env = append(u.Env, "URUNC_CONFIG="+cfg)
}

// processesUnder lists live processes whose command line mentions root
// (re-exec children and VMMs of this test's containers).
func processesUnder(root string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), root) {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if strings.Contains(string(stat), ") Z") {
			continue
		}
		found = append(found, fmt.Sprintf("%d %s", pid, strings.ReplaceAll(string(cmdline), "\x00", " ")))
	}
	return found
}

func noProcesses(t *testing.T, root string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		p := processesUnder(root)
		if len(p) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left: %v", p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFaults kills or hangs each side of the handshake at each step: no
// command may hang past its timeout, the status must be right, delete
// --force must clean up, and the same id must be usable again.
func TestFaults(t *testing.T) {
	tests := []struct {
		fault       string
		createFails bool
		startFails  bool
		status      string // after create (when it succeeded) or "" if no container left
		// raceOK: the child dies right after BOOTED; create's ACK may still
		// land in its socket first. Either create fails and leaves nothing,
		// or it succeeds and the container reads stopped.
		raceOK bool
	}{
		{fault: "parent-after-spawn:kill", createFails: true, status: "stopped"},
		{fault: "parent-after-booted:kill", createFails: true, status: "stopped"},
		{fault: "parent-before-ack:kill", createFails: true, status: "stopped"},
		{fault: "child-before-booted:kill", createFails: true},
		{fault: "child-after-booted:kill", raceOK: true},
		{fault: "child-before-booted:hang", createFails: true},
		{fault: "child-after-acked:kill", status: "stopped", startFails: true},
		{fault: "child-before-exec:kill", status: "created", startFails: true},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			u := setup(t)
			shortTimeouts(t, u)
			bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil)})
			faulty := &e2e.URunc{Bin: u.Bin, Root: u.Root, Log: u.Log, Env: append(append([]string{}, u.Env...), "URUNC_FAULT="+tt.fault)}

			start := time.Now()
			r := faulty.RunWith(t, outFile(t), "create", "-b", bundle, "f1")
			if took := time.Since(start); took > 8*time.Second {
				t.Fatalf("create took %s", took)
			}
			if tt.raceOK {
				tt.createFails = r.Code != 0
				if !tt.createFails {
					tt.status, tt.startFails = "stopped", true
				}
			}
			if (r.Code != 0) != tt.createFails {
				t.Fatalf("create: %s (log %q)", r, u.LastError())
			}
			if tt.status == "" {
				if left := u.Leftovers(); len(left) != 0 {
					t.Fatalf("failed create left %v", left)
				}
			} else {
				e2e.WaitFor(t, 5*time.Second, "status "+tt.status, func() bool { return u.Status(t, "f1") == tt.status })
			}
			if !tt.createFails {
				start = time.Now()
				r := faulty.Run(t, "start", "f1")
				if (r.Code != 0) != tt.startFails {
					t.Fatalf("start: %s (log %q)", r, u.LastError())
				}
				if took := time.Since(start); took > 8*time.Second {
					t.Fatalf("start took %s", took)
				}
			}
			u.MustRun(t, "delete", "--force", "f1")
			if left := u.Leftovers(); len(left) != 0 {
				t.Fatalf("left under root: %v", left)
			}
			noProcesses(t, u.Root, 5*time.Second)

			// The same id works again, without faults.
			out := outFile(t)
			u.RunWith(t, out, "create", "-b", bundle, "f1")
			if r := u.Run(t, "start", "f1"); r.Code != 0 {
				t.Fatalf("start after recovery: %s\njournal:\n%s\nstdio: %s", r, e2e.ReadFile(filepath.Join(u.Root, "f1", "events.jsonl")), e2e.ReadFile(out.Name()))
			}
			e2e.WaitFor(t, 15*time.Second, "heartbeat", func() bool { return e2e.FileContains(out.Name(), "heartbeat") })
			u.MustRun(t, "delete", "--force", "f1")
			noProcesses(t, u.Root, 5*time.Second)
		})
	}
}

func TestVMMDiesOnItsOwn(t *testing.T) {
	u := setup(t)
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil)})
	u.RunWith(t, outFile(t), "create", "-b", bundle, "d1")
	u.MustRun(t, "start", "d1")
	pid := int(u.State(t, "d1")["pid"].(float64))
	unix.Kill(pid, unix.SIGKILL)
	e2e.WaitFor(t, 5*time.Second, "stopped", func() bool { return u.Status(t, "d1") == "stopped" })
	if p, _ := u.State(t, "d1")["pid"].(float64); p != 0 {
		t.Fatalf("stopped container reports pid %v", p)
	}
	u.MustRun(t, "delete", "d1")
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
}

func TestLeftoversOfACrash(t *testing.T) {
	u := setup(t)
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil)})
	// A half-written state.json and a stale socket, as a crash leaves them.
	dir := filepath.Join(u.Root, "crashed")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "urunc"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "state.json"), []byte(`{"ociVersion":"1.2.0","id":"crashed","sta`), 0o600)
	os.WriteFile(filepath.Join(dir, "urunc.sock"), nil, 0o600)
	if r := u.Run(t, "state", "crashed"); r.Code == 0 || !strings.Contains(u.LastError(), "corrupt") {
		t.Fatalf("state of a torn state.json: %s %q", r, u.LastError())
	}
	if r := u.Run(t, "delete", "crashed"); r.Code == 0 {
		t.Fatal("plain delete of a corrupt container succeeded")
	}
	u.MustRun(t, "delete", "--force", "crashed")
	u.RunWith(t, outFile(t), "create", "-b", bundle, "crashed")
	u.MustRun(t, "start", "crashed")
	u.MustRun(t, "delete", "--force", "crashed")
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
}

func TestReadOnlyStateRoot(t *testing.T) {
	u := setup(t)
	os.MkdirAll(u.Root, 0o700)
	if err := unix.Mount("tmpfs", u.Root, "tmpfs", unix.MS_RDONLY, "size=1m"); err != nil {
		t.Skipf("cannot mount a read-only tmpfs: %v", err)
	}
	defer unix.Unmount(u.Root, unix.MNT_DETACH)
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil)})
	start := time.Now()
	r := u.RunWith(t, outFile(t), "create", "-b", bundle, "ro1")
	if r.Code == 0 || !strings.Contains(u.LastError(), "read-only") {
		t.Fatalf("create on a read-only root: %s %q", r, u.LastError())
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("create on a read-only root was slow to fail")
	}
}

func TestFullStateRoot(t *testing.T) {
	u := setup(t)
	os.MkdirAll(u.Root, 0o700)
	if err := unix.Mount("tmpfs", u.Root, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	defer unix.Unmount(u.Root, unix.MNT_DETACH)
	filler, _ := os.Create(filepath.Join(u.Root, ".filler"))
	filler.Write(make([]byte, 64*1024))
	filler.Close()
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil)})
	r := u.RunWith(t, outFile(t), "create", "-b", bundle, "full1")
	if r.Code == 0 || !strings.Contains(u.LastError(), "no space") {
		t.Fatalf("create on a full root: %s %q", r, u.LastError())
	}
	if _, err := os.Stat(filepath.Join(u.Root, "full1")); err == nil {
		t.Fatal("a failed create left its directory")
	}
	noProcesses(t, u.Root, 5*time.Second)
}

func TestConcurrency(t *testing.T) {
	u := setup(t)
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil)})

	// The same id created 10 times at once: exactly one wins.
	var wg sync.WaitGroup
	codes := make([]int, 10)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = u.RunWith(t, outFile(t), "create", "-b", bundle, "same").Code
		}()
	}
	wg.Wait()
	wins := 0
	for _, c := range codes {
		if c == 0 {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d creates of one id succeeded: %v", wins, codes)
	}
	u.MustRun(t, "start", "same")

	// Many commands on one container at once: all answer, state stays sane.
	cmds := [][]string{{"state", "same"}, {"pause", "same"}, {"resume", "same"}, {"list"}, {"ps", "--format", "json", "same"},
		{"state", "same"}, {"list", "-q"}, {"pause", "same"}, {"resume", "same"}, {"state", "same"}}
	for _, c := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u.Run(t, c...)
		}()
	}
	wg.Wait()
	if s := u.Status(t, "same"); s != "running" && s != "paused" {
		t.Fatalf("status after concurrent commands: %s", s)
	}
	// Five force-deletes at once: all succeed, nothing left.
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := u.Run(t, "delete", "--force", "same"); r.Code != 0 {
				t.Errorf("concurrent delete --force: %s", r)
			}
		}()
	}
	wg.Wait()
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
	noProcesses(t, u.Root, 5*time.Second)
}

// TestSoakSmall: 10 lifecycles, 5 at a time (make soak runs 50, 10 at a time).
func TestSoakSmall(t *testing.T) {
	u := setup(t)
	n, par := 10, 5
	if v := os.Getenv("URUNC_SOAK"); v != "" {
		n, _ = strconv.Atoi(v)
		par = 10
	}
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil)})
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := 0
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id := fmt.Sprintf("soak%d", i)
			ok := u.RunWith(t, outFile(t), "create", "-b", bundle, id).Code == 0 &&
				u.Run(t, "start", id).Code == 0 &&
				u.Run(t, "kill", id, "KILL").Code == 0 &&
				u.Run(t, "delete", "--force", id).Code == 0
			if !ok {
				mu.Lock()
				failures++
				mu.Unlock()
				t.Errorf("lifecycle %s failed: %s", id, u.LastError())
			}
		}()
	}
	wg.Wait()
	t.Logf("%d lifecycles, %d at a time: %v, %d failures", n, par, time.Since(start).Round(time.Millisecond), failures)
	if left := u.Leftovers(); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
	noProcesses(t, u.Root, 5*time.Second)
	if out, _ := exec.Command("sh", "-c", "grep -c "+u.Root+" /proc/self/mountinfo").Output(); strings.TrimSpace(string(out)) != "0" {
		t.Fatalf("mounts left under the root: %s", out)
	}
}

// TestPermissions: only root reaches a container's state and sockets.
func TestPermissions(t *testing.T) {
	u := setup(t)
	bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil)})
	u.RunWith(t, outFile(t), "create", "-b", bundle, "perm")
	u.MustRun(t, "start", "perm")
	dir := filepath.Join(u.Root, "perm")
	info, _ := os.Stat(dir)
	if info.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode %v", info.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil || fi.IsDir() {
			continue
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is readable by others: %v", e.Name(), fi.Mode())
		}
	}
	u.MustRun(t, "delete", "--force", "perm")
}

// Package unikernel_test builds the project's tiny test unikernel
// (testdata/unikernel, `make unikernel`) and boots it under a real
// qemu-system-x86_64: with TCG always, and with KVM as well when /dev/kvm
// can be opened.
package unikernel_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const qemuBin = "qemu-system-x86_64"

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// repoRoot is the repository root, two levels above this file.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// kernel builds build/unikernel/hello.elf once (make unikernel) and
// returns its path. It skips the test when qemu or the toolchain is missing.
func kernel(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath(qemuBin); err != nil {
		t.Skipf("%s not found (install the Debian package qemu-system-x86): %v", qemuBin, err)
	}
	for _, tool := range []string{"make", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (install the Debian package %s): %v", tool, tool, err)
		}
	}
	root := repoRoot(t)
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "make", "-C", root, "unikernel")
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("make unikernel: %v\n%s", err, out)
			return
		}
		buildPath = filepath.Join(root, "build", "unikernel", "hello.elf")
		if _, err := os.Stat(buildPath); err != nil {
			buildErr = fmt.Errorf("make unikernel did not produce %s: %v", buildPath, err)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

type vmConfig struct {
	name    string
	machine string   // -M value
	accel   []string // accelerator and CPU options
	bootMax time.Duration
}

func configs(t *testing.T) []vmConfig {
	tcg := []string{"-accel", "tcg"}
	// Under the nested (PVM) KVM of the CI machines a plain -cpu host
	// aborts on MSR 0x10a (IA32_ARCH_CAPABILITIES).
	kvm := []string{"-accel", "kvm", "-cpu", "host,-arch-capabilities"}
	cs := []vmConfig{{name: "microvm-tcg", machine: "microvm", accel: tcg, bootMax: 20 * time.Second}}
	haveKVM := false
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
		f.Close()
		haveKVM = true
		cs = append(cs, vmConfig{name: "microvm-kvm", machine: "microvm", accel: kvm, bootMax: 20 * time.Second})
	} else {
		t.Logf("no KVM subtests: %v", err)
	}
	if !testing.Short() {
		// -M pc boots through SeaBIOS + the PVH option ROM: slower,
		// especially under the nested KVM (seconds).
		cs = append(cs, vmConfig{name: "pc-tcg", machine: "pc", accel: tcg, bootMax: 30 * time.Second})
		if haveKVM {
			cs = append(cs, vmConfig{name: "pc-kvm", machine: "pc", accel: kvm, bootMax: 60 * time.Second})
		}
	}
	return cs
}

func qemuArgs(c vmConfig, elf, cmdline string, serial []string) []string {
	args := []string{"-M", c.machine, "-nodefaults", "-no-user-config", "-no-reboot",
		"-display", "none", "-m", "16M"}
	args = append(args, c.accel...)
	args = append(args, serial...)
	args = append(args,
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-kernel", elf, "-append", cmdline)
	return args
}

// boot runs qemu until it exits and returns the serial output (stdout)
// and qemu's exit status.
func boot(t *testing.T, c vmConfig, elf, cmdline string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.bootMax)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, qemuBin, qemuArgs(c, elf, cmdline, []string{"-serial", "stdio"})...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s %q: %v (%s)", c.name, cmdline, time.Since(start).Round(time.Millisecond), strings.TrimSpace(stderr.String()))
	if ctx.Err() != nil {
		t.Fatalf("qemu did not exit within %v; output:\n%s\nstderr:\n%s", c.bootMax, stdout.String(), stderr.String())
	}
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("running qemu: %v", err)
		}
		code = ee.ExitCode()
	}
	return strings.ReplaceAll(stdout.String(), "\r", ""), code
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		have[l] = true
	}
	for _, l := range lines {
		if !have[l] {
			t.Errorf("output lacks line %q; output:\n%s", l, out)
		}
	}
}

func TestUnikernel(t *testing.T) {
	elf := kernel(t)
	for _, c := range configs(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Run("default-exit-0", func(t *testing.T) {
				cmdline := "hello world echo=ping-42 x=y"
				out, code := boot(t, c, elf, cmdline)
				wantLines(t, out,
					"Hello from the urunc test unikernel",
					"cmdline: "+cmdline,
					"echo: ping-42",
					"bye")
				if code != 0 {
					t.Errorf("exit status %d, want 0; output:\n%s", code, out)
				}
			})
			t.Run("exit=5", func(t *testing.T) {
				out, code := boot(t, c, elf, "exit=5")
				wantLines(t, out, "Hello from the urunc test unikernel", "cmdline: exit=5", "bye")
				if code != 11 {
					t.Errorf("exit status %d, want 11 ((5<<1)|1); output:\n%s", code, out)
				}
			})
			t.Run("heartbeat", func(t *testing.T) {
				heartbeat(t, c, elf)
			})
		})
	}
}

// heartbeat boots with "heartbeat" and wants two heartbeat lines within
// 5 s of the greeting, then kills qemu.
func heartbeat(t *testing.T, c vmConfig, elf string) {
	ctx, cancel := context.WithTimeout(context.Background(), c.bootMax+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemuBin, qemuArgs(c, elf, "heartbeat", []string{"-serial", "stdio"})...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting qemu: %v", err)
	}
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.CloseWithError(io.EOF)
		exited <- err
	}()
	defer func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("qemu did not go away after kill")
		}
	}()

	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- strings.TrimRight(sc.Text(), "\r")
		}
	}()

	var out []string
	next := func(d time.Duration) (string, bool) {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case l, ok := <-lines:
			if ok {
				out = append(out, l)
			}
			return l, ok
		case <-timer.C:
			return "", false
		case <-ctx.Done():
			return "", false
		}
	}
	// Greeting first (boot time depends on the machine/accelerator).
	bootDeadline := time.Now().Add(c.bootMax)
	for {
		l, ok := next(time.Until(bootDeadline))
		if !ok {
			t.Fatalf("no greeting within %v; output %q, stderr %q", c.bootMax, out, stderr.String())
		}
		if l == "Hello from the urunc test unikernel" {
			break
		}
	}
	// The order and numbering of the heartbeats is the point, not their
	// pace: the limit only stops a hung guest (a loaded host slows TCG).
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	beats := 0
	for beats < 2 {
		l, ok := next(time.Until(deadline))
		if !ok {
			t.Fatalf("%d heartbeats within 60 s, want 2; output %q, stderr %q", beats, out, stderr.String())
		}
		if strings.HasPrefix(l, "heartbeat ") {
			beats++
			if want := fmt.Sprintf("heartbeat %d", beats); l != want {
				t.Errorf("got %q, want %q", l, want)
			}
		}
	}
	took := time.Since(start)
	t.Logf("%s: 2 heartbeats %v after the greeting", c.name, took.Round(time.Millisecond))
	if took < 1500*time.Millisecond {
		t.Errorf("2 heartbeats after only %v: not ~1/s", took)
	}
}

// TestSerialLogfile checks the serial console set-up the runtime uses: a
// stdio chardev that also writes a log file.
func TestSerialLogfile(t *testing.T) {
	elf := kernel(t)
	c := configs(t)[0]
	logf := filepath.Join(t.TempDir(), "console.log")
	ctx, cancel := context.WithTimeout(context.Background(), c.bootMax)
	defer cancel()
	serial := []string{"-chardev", "stdio,id=c0,logfile=" + logf + ",signal=off", "-serial", "chardev:c0"}
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, qemuBin, qemuArgs(c, elf, "echo=logged exit=3", serial)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("qemu: %v, want exit status 7; output:\n%s", err, stdout.String())
	}
	b, err := os.ReadFile(logf)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.ReplaceAll(string(b), "\r", "")
	wantLines(t, out, "Hello from the urunc test unikernel", "cmdline: echo=logged exit=3", "echo: logged", "bye")
	if !strings.Contains(stdout.String(), "echo: logged") {
		t.Errorf("stdout lacks the serial output: %q", stdout.String())
	}
}

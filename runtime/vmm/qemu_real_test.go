package vmm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/testenv"
)

// realQEMU returns the kernel of the project's test unikernel and makes
// sure qemu is installed (else the test is skipped).
func realQEMU(t *testing.T) string {
	t.Helper()
	testenv.Require(t) // runs qemu
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed (Debian package qemu-system-x86)")
	}
	kernel, err := filepath.Abs(filepath.Join("..", "..", "build", "unikernel", "hello.elf"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(kernel); err != nil {
		t.Skipf("%s missing: run make unikernel", kernel)
	}
	return kernel
}

// The generated argv of a unikraft guest on microvm starts a real qemu
// (paused with -S) that answers QMP on the inherited listening socket and
// exits 0 on "quit". The kernel's path holds a comma and an '=' (-kernel
// takes its value verbatim).
func TestRealQEMUQMPQuit(t *testing.T) {
	data, err := os.ReadFile(realQEMU(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kernel := filepath.Join(dir, "hello,id=x.elf")
	if err := os.WriteFile(kernel, data, 0o644); err != nil {
		t.Fatal(err)
	}
	req := Request{Guest: "unikraft", Hypervisor: "qemu", Kernel: kernel, Cmdline: "echo=qmp",
		MemoryMB: 64, VCPUs: 1, Accel: "tcg", Machine: "microvm",
		StateDir: dir, SerialLog: filepath.Join(dir, "serial.log")}
	qmpQuit(t, req, nil)
}

// Machine properties and CPU features that checkMachine / checkCPU let
// through are accepted by the real qemu (pc, q35 and microvm).
func TestRealQEMUMachineProperties(t *testing.T) {
	kernel := realQEMU(t)
	for _, c := range []struct{ machine, cpu string }{
		{"microvm,pit=off,pic=off,rtc=off,isa-serial=on", "qemu64,+ssse3,-x2apic"},
		{"microvm,pcie=on,acpi=off,x-option-roms=off,ioapic2=off,auto-kernel-cmdline=off", "max"},
		{"q35,smm=off,hpet=off,usb=off,sata=off,smbus=off,i8042=off", ""},
		{"pc,vmport=off,max-ram-below-4g=2G,mem-merge=off,graphics=off,dump-guest-core=off,suppress-vmdesc=on", "qemu64,level=13"},
	} {
		t.Run(c.machine, func(t *testing.T) {
			dir := t.TempDir()
			req := Request{Guest: "linux", Hypervisor: "qemu", Kernel: kernel, Process: Process{Args: []string{"/init"}},
				MemoryMB: 64, VCPUs: 1, Accel: "tcg", CPU: c.cpu, Machine: c.machine,
				StateDir: dir, SerialLog: filepath.Join(dir, "serial.log")}
			qmpQuit(t, req, nil)
		})
	}
}

// Every qemu guest's generated argv, with block, initrd and shared
// filesystem devices on both machine types (and a NIC in a private network
// namespace when unshare is available), is accepted by the real qemu.
func TestRealQEMUAcceptsEveryGuestArgv(t *testing.T) {
	kernel := realQEMU(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "disk,1.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(dir, "initrd.cpio")
	if err := os.WriteFile(initrd, []byte("07070100000000"), 0o600); err != nil {
		t.Fatal(err)
	}
	var netns []string
	if u, err := exec.LookPath("unshare"); err == nil && os.Geteuid() == 0 {
		netns = []string{u, "--net"}
	}
	for g, hvs := range Supported() {
		if !slices.Contains(hvs, "qemu") {
			continue
		}
		for _, machine := range []string{"pc", "microvm", "microvm,pcie=on"} {
			for _, v := range []string{"block", "initrd", "9p", "net"} {
				req := Request{Guest: g, Hypervisor: "qemu", Kernel: kernel, Process: Process{Args: []string{"a", "b c"}},
					MemoryMB: 64, VCPUs: 1, Accel: "tcg", Machine: machine,
					StateDir: dir, SerialLog: filepath.Join(dir, "serial.log")}
				var wrap []string
				switch v {
				case "block":
					req.Disks = []Disk{{Path: img}}
				case "initrd":
					req.Initrd = initrd
				case "9p":
					req.Shares = []Share{{Kind: Share9P, HostPath: dir, Tag: "root0", Root: true}}
				case "net":
					if netns == nil {
						continue
					}
					wrap = netns
					req.Net = &Net{TapName: "tap0", MAC: "02:00:00:00:00:02", IP: "10.9.0.2", PrefixLen: 24, Gateway: "10.9.0.1"}
				}
				t.Run(g+"_"+machine+"_"+v, func(t *testing.T) {
					if _, err := Build(withFD(req)); err != nil {
						if errors.Is(err, ErrInvalidValue) || errors.Is(err, ErrUnsupportedPair) {
							t.Skipf("refused by design: %v", err)
						}
						t.Fatal(err)
					}
					qmpQuit(t, req, wrap)
				})
			}
		}
	}
}

func withFD(r Request) Request { r.ControlFD = 3; return r }

// qmpQuit runs the plan of req (paused, -S) with a listening QMP socket as
// fd 3, negotiates capabilities, asks for the status, quits and expects
// exit status 0. wrap is prepended to the command (e.g. unshare --net).
func qmpQuit(t *testing.T, req Request, wrap []string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lf, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	plan, err := Build(withFD(req))
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append(wrap, plan.Path), append(plan.Argv[1:], "-S")...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.ExtraFiles = []*os.File{lf} // fd 3
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			<-done
		}
	}()

	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	rd := bufio.NewReader(conn)
	read := func(want string) {
		t.Helper()
		for {
			line, err := rd.ReadBytes('\n')
			if err != nil {
				t.Fatalf("QMP read (waiting for %s): %v; argv %q; qemu stderr %q", want, err, argv, stderr.String())
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("QMP: %q: %v", line, err)
			}
			if _, ok := m["error"]; ok {
				t.Fatalf("QMP error: %s", line)
			}
			if _, ok := m[want]; ok {
				return
			}
		}
	}
	read("QMP")
	conn.Write([]byte(`{"execute":"qmp_capabilities"}` + "\n"))
	read("return")
	conn.Write([]byte(`{"execute":"query-status"}` + "\n"))
	read("return")
	conn.Write([]byte(`{"execute":"quit"}` + "\n"))
	select {
	case err := <-done:
		exited = true
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("qemu exit %d, want 0; argv %q; stderr %q", ee.ExitCode(), argv, stderr.String())
			}
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatalf("qemu did not quit within the test's deadline; stderr %q", stderr.String())
	}
}

// The guest command line really reaches the guest: the test unikernel
// prints it on the serial console, which the plan copies to SerialLog.
func TestRealQEMUGuestCmdline(t *testing.T) {
	kernel := realQEMU(t)
	dir := t.TempDir()
	req := Request{Guest: "unikraft", Hypervisor: "qemu", Kernel: kernel,
		Process:  Process{Args: []string{"echo=real", "two words"}, Env: []string{"A=1"}},
		MemoryMB: 64, VCPUs: 1, Accel: "tcg", Machine: "microvm",
		StateDir: dir, SerialLog: filepath.Join(dir, "serial,log"), ControlFD: -1}
	plan, err := Build(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, plan.Path, plan.Argv[1:]...)
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err = cmd.Run()
	out := buf.String()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out: %w", ctx.Err())
	}
	if err != nil {
		t.Fatalf("qemu: %v; output %q", err, out)
	}
	log, err := os.ReadFile(req.SerialLog)
	if err != nil {
		t.Fatalf("serial log (comma in its path): %v", err)
	}
	want := "cmdline: " + plan.GuestCmdline
	if !strings.Contains(string(log), want) || !strings.Contains(string(log), "echo: real") {
		t.Fatalf("serial log lacks %q:\n%s", want, log)
	}
}

// A virtio-fs shared root (not prepared by linuxboot): the generated
// memfd backend, vhost-user chardev and vhost-user-fs device are accepted
// by the real qemu connected to Debian's virtiofsd, on both machine types.
func TestRealQEMUVirtiofs(t *testing.T) {
	kernel := realQEMU(t)
	const virtiofsd = "/usr/lib/qemu/virtiofsd"
	if _, err := os.Stat(virtiofsd); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and " + virtiofsd + " (Debian package qemu-system-common)")
	}
	for _, machine := range []string{"microvm", "pc"} {
		t.Run(machine, func(t *testing.T) {
			dir := t.TempDir()
			sock := filepath.Join(dir, "vfs.sock")
			d := exec.Command(virtiofsd, "--socket-path="+sock, "-o", "source="+dir, "-o", "cache=none")
			var dout strings.Builder
			d.Stdout, d.Stderr = &dout, &dout
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
			ddone := make(chan error, 1)
			go func() { ddone <- d.Wait() }()
			defer func() {
				select {
				case <-ddone:
				case <-time.After(5 * time.Second):
					d.Process.Kill()
					<-ddone
				}
			}()
			for i := 0; i < 100; i++ {
				if _, err := os.Stat(sock); err == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			req := Request{Guest: "linux", Hypervisor: "qemu", Kernel: kernel, Process: Process{Args: []string{"/bin/sh"}},
				MemoryMB: 64, VCPUs: 1, Accel: "tcg", Machine: machine, StateDir: dir, SerialLog: filepath.Join(dir, "serial.log"),
				Shares: []Share{{Kind: ShareVirtiofs, HostPath: dir, Tag: "root0", Socket: sock, Root: true}}}
			qmpQuit(t, req, nil)
		})
	}
}

//go:build linux

package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/linuxboot"
)

func TestModuleParams(t *testing.T) {
	cl := "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5 virtio-mmio.device=4K@0xd0001000:6 9p.debug=1 foo=virtio_mmio.x"
	if got, want := moduleParams(cl, "virtio_mmio"), "device=4K@0xd0000000:5 device=4K@0xd0001000:6"; got != want {
		t.Errorf("moduleParams = %q, want %q", got, want)
	}
	if got := moduleParams(cl, "9pnet"); got != "" {
		t.Errorf("9pnet params = %q", got)
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "prog")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "data"), nil, 0o644)
	if got, err := lookPath("prog", "/nonexistent:"+dir); err != nil || got != exe {
		t.Errorf("lookPath(prog) = %q, %v", got, err)
	}
	if got, err := lookPath(exe, ""); err != nil || got != exe {
		t.Errorf("lookPath(abs) = %q, %v", got, err)
	}
	for name, code := range map[string]int{
		"missing":                  linuxboot.ExitNotFound,
		"data":                     linuxboot.ExitNotFound, // not executable: skipped in PATH
		filepath.Join(dir, "data"): linuxboot.ExitNotExecutable,
		filepath.Join(dir, "nope"): linuxboot.ExitNotFound,
		dir + "/":                  linuxboot.ExitNotExecutable,
	} {
		_, err := lookPath(name, dir)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != code {
			t.Errorf("lookPath(%q): err = %v, want code %d", name, err, code)
		}
	}
}

func TestLookupEnv(t *testing.T) {
	env := []string{"A=1", "PATH=/x", "A=2", "B"}
	if lookupEnv(env, "A") != "2" || lookupEnv(env, "PATH") != "/x" || lookupEnv(env, "B") != "" {
		t.Error("lookupEnv")
	}
}

func TestStartErrorCodes(t *testing.T) {
	for err, code := range map[error]int{
		&os.PathError{Op: "fork/exec", Path: "p", Err: unix.ENOENT}: linuxboot.ExitNotFound,
		&os.PathError{Op: "fork/exec", Path: "p", Err: unix.EACCES}: linuxboot.ExitNotExecutable,
		unix.ENOEXEC:          linuxboot.ExitNotExecutable,
		errors.New("strange"): linuxboot.ExitInitFailed,
	} {
		var ee *exitError
		if e := startError("p", err); !errors.As(e, &ee) || ee.code != code {
			t.Errorf("startError(%v) = %v, want code %d", err, e, code)
		}
	}
}

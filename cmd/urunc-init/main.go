//go:build linux

// Command urunc-init is PID 1 of urunc's Linux microVM guests. The runtime
// puts it at /init of the initrd with the kernel modules it needs and the
// container's process description (/urunc/config.json, see package
// linuxboot). It mounts the container rootfs shared by the host (9p or
// virtio-fs) and switches into it, configures the network, runs the
// container's process with its env, cwd and uid/gid, copies its output to
// the console, reaps zombies and finally powers the VM off so that qemu's
// exit status carries the program's (runtime/vmm ExitLinuxInit).
//
// Any failure prints one line "urunc-init: <error>" on the console and ends
// the VM with status 125 (126/127 when the program cannot be executed or
// found). Build it static: CGO_ENABLED=0.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/urunc-dev/urunc/runtime/linuxboot"
)

// exitError carries the guest status an init failure ends with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// logger prints debug lines with the time since boot when enabled.
type logger struct {
	on bool
}

func (l logger) printf(format string, a ...any) {
	if l.on {
		fmt.Fprintf(os.Stderr, "urunc-init: [%6.3f] %s\n", uptime(), fmt.Sprintf(format, a...))
	}
}

func main() {
	code, quiet := 0, true
	func() {
		defer func() {
			if r := recover(); r != nil {
				fmt.Fprintf(os.Stderr, "urunc-init: panic: %v\n%s", r, debug.Stack())
				code = linuxboot.ExitInitFailed
			}
		}()
		var err error
		code, err = run(&quiet)
		if err != nil {
			fmt.Fprintf(os.Stderr, "urunc-init: %v\n", err)
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
			} else {
				code = linuxboot.ExitInitFailed
			}
		}
	}()
	shutdown(code, quiet)
}

// run sets the guest up, runs the program and returns its exit status.
// It clears *quiet in debug mode (kernel messages stay on at shutdown).
func run(quiet *bool) (int, error) {
	if os.Getpid() != 1 {
		return 0, errors.New("must run as PID 1 of a Linux guest")
	}
	if err := mountEarly(); err != nil {
		return 0, err
	}
	raw, err := os.ReadFile(linuxboot.ConfigPath)
	if err != nil {
		return 0, fmt.Errorf("reading the container config: %w", err)
	}
	cfg, err := linuxboot.ParseConfig(raw)
	if err != nil {
		return 0, err
	}
	log := logger{on: cfg.Debug}
	*quiet = !cfg.Debug
	log.printf("config: args=%q root=%s:%s", cfg.Args, cfg.RootType(), cfg.Root.Tag)

	if err := loadModules(log, linuxboot.ModulesFor(cfg)); err != nil {
		return 0, err
	}
	if err := mountRoot(log, cfg); err != nil {
		return 0, err
	}
	if err := mountVolumes(log, newRoot, cfg.Volumes); err != nil {
		return 0, err
	}
	if err := bindFiles(log, newRoot, cfg.Files); err != nil {
		return 0, err
	}
	if cfg.Network != nil {
		if err := setupNetwork(log, *cfg.Network); err != nil {
			return 0, err
		}
	} else if err := loopbackUp(); err != nil {
		return 0, err
	}
	if cfg.Hostname != "" {
		if err := sethostname(cfg.Hostname); err != nil {
			return 0, err
		}
	}
	power := openPowerButton(log) // before /dev moves; nil if none
	if err := switchRoot(log); err != nil {
		return 0, err
	}
	return runProgram(log, cfg, power)
}

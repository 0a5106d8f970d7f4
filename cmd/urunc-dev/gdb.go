package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/tui"
)

// gdbCommand is urunc-dev gdb [--print] ID: the debugger on a guest whose
// VMM serves a gdb stub (annotation com.urunc.vmm.gdb), with the kernel's
// symbols, as vmm.json names it.
func gdbCommand() *cli.Command {
	return &cli.Command{
		Name:      "gdb",
		Usage:     "debug a container's guest through its VMM's gdb stub (annotation com.urunc.vmm.gdb=on or wait)",
		ArgsUsage: "ID",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: "/run/urunc", Usage: "urunc state root"},
			&cli.BoolFlag{Name: "print", Usage: "print the gdb command instead of running it"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("gdb: want one container ID, got %d arguments", c.NArg())
			}
			argv, err := gdbArgv(c.String("root"), c.Args().First())
			if err != nil {
				return err
			}
			if c.Bool("print") {
				fmt.Println(tui.ShellJoin(argv))
				return nil
			}
			path, err := exec.LookPath(argv[0])
			if err != nil {
				return fmt.Errorf("gdb: %w (install Debian package gdb)", err)
			}
			return syscall.Exec(path, argv, os.Environ())
		},
	}
}

// gdbArgv is the gdb command of container id under root, or why there
// is none.
func gdbArgv(root, id string) ([]string, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	d, err := state.Open(root, id)
	if err != nil {
		return nil, fmt.Errorf("gdb: %w", err)
	}
	st, err := d.ReadState()
	if err != nil {
		return nil, fmt.Errorf("gdb: %w", err)
	}
	info, err := d.ReadVMM()
	if errors.Is(err, os.ErrNotExist) || err == nil && info.Binary == "" {
		return nil, fmt.Errorf("gdb: %s has not started (its VMM serves the stub once started)", id)
	}
	if err != nil {
		return nil, fmt.Errorf("gdb: %w", err)
	}
	if len(info.GDBCommand) == 0 {
		return nil, fmt.Errorf("gdb: %s's VMM has no gdb stub: create it with the annotation com.urunc.vmm.gdb=on (or wait)", id)
	}
	if !st.StatusOf().Live() {
		return nil, fmt.Errorf("gdb: %s is %s", id, st.Status)
	}
	return info.GDBCommand, nil
}

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/container"
	"github.com/urunc-dev/urunc/runtime/state"
)

// runcPath finds the runtime that runs ordinary containers.
func runcPath() (string, error) {
	host, err := config.LoadHost(config.HostConfigPath())
	if err != nil {
		return "", err
	}
	p, err := exec.LookPath(host.RuncPath)
	if err != nil {
		return "", fmt.Errorf("this bundle is not a unikernel and runc was not found (%s): %w", host.RuncPath, err)
	}
	return p, nil
}

// delegateToRunc replaces this process with runc, same arguments.
func delegateToRunc() error {
	p, err := runcPath()
	if err != nil {
		return err
	}
	argv := append([]string{"runc"}, os.Args[1:]...)
	return syscall.Exec(p, argv, os.Environ())
}

// isRuncContainer reports whether id under the root belongs to runc.
func isRuncContainer(c *cli.Context, id string) bool {
	_, err := state.Open(c.String("root"), id)
	return errors.Is(err, state.ErrNotUrunc)
}

// withContainer runs f for a urunc container, or hands the whole command
// to runc when the container is runc's.
func withContainer(c *cli.Context, f func(id string) error) error {
	id, err := idArg(c)
	if err != nil {
		return err
	}
	if isRuncContainer(c, id) {
		return delegateToRunc()
	}
	return f(id)
}

// containerAction is the action of every command that acts on one
// container: runc's containers go to runc, urunc's to run.
func containerAction(run func(c *cli.Context, rt *container.Runtime, id string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		return withContainer(c, func(id string) error {
			rt, err := newRuntime(c)
			if err != nil {
				return err
			}
			return run(c, rt, id)
		})
	}
}

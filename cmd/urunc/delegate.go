package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// stateRoot returns the --root in effect as an absolute path: urunc's
// own containers and the ones it hands to runc live under it.
func stateRoot(c *cli.Context) (string, error) {
	r := c.String("root") // looked up through the lineage: a global flag
	if r == "" {
		return "", fmt.Errorf("--root must not be empty")
	}
	return filepath.Abs(r)
}

// delegateToRunc replaces this process with runc. runc gets the global
// flags as urunc parsed them, with --root always set to urunc's own
// (absolute) root, so that every later command, which urunc receives
// first, finds the container where it looks: runc's state dir is then
// <root>/<id>, and runc accepts global flags only before the command.
// The command and everything after it are passed unchanged.
func delegateToRunc(c *cli.Context) error {
	p, err := runcPath()
	if err != nil {
		return err
	}
	argv, err := runcArgv(c, os.Args[1:])
	if err != nil {
		return err
	}
	return syscall.Exec(p, argv, os.Environ()) //nolint:gosec // G702: the host's runc with the caller's own arguments is the hand-off
}

// runcArgv is runc's argv for urunc's args (os.Args[1:]).
func runcArgv(c *cli.Context, args []string) ([]string, error) {
	root, err := stateRoot(c)
	if err != nil {
		return nil, err
	}
	argv := []string{"runc", "--root", root}
	for _, name := range []string{"log", "log-format", "rootless", "criu"} {
		if c.IsSet(name) {
			argv = append(argv, "--"+name, c.String(name))
		}
	}
	for _, name := range []string{"debug", "systemd-cgroup"} {
		if c.Bool(name) {
			argv = append(argv, "--"+name)
		}
	}
	return append(argv, commandArgs(c.App.Flags, args)...), nil
}

// commandArgs drops the global flags from args: what remains starts with
// the command's name. Flags that take a value consume the next argument
// unless written as --name=value.
func commandArgs(flags []cli.Flag, args []string) []string {
	takes := map[string]bool{}
	for _, f := range flags {
		v := false
		if d, ok := f.(cli.DocGenerationFlag); ok {
			v = d.TakesValue()
		}
		for _, n := range f.Names() {
			takes[n] = v
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return args[i+1:]
		case len(a) > 1 && a[0] == '-':
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if takes[name] {
				i++
			}
		default:
			return args[i:]
		}
	}
	return nil
}

// isRuncContainer reports whether id under the root belongs to runc: a
// directory there without urunc's marker (runc keeps <root>/<id>/state.json).
func isRuncContainer(c *cli.Context, id string) bool {
	root, err := stateRoot(c)
	if err != nil {
		return false
	}
	_, err = state.Open(root, id)
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
		return delegateToRunc(c)
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

package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/container"
)

func execCommand() *cli.Command {
	return &cli.Command{
		Name:            "exec",
		Usage:           "run a process in a container (runc containers only)",
		ArgsUsage:       "<container-id> <command>",
		SkipFlagParsing: true, // runc's many exec flags: only the id matters here
		Action: func(c *cli.Context) error {
			id := ""
			args := c.Args().Slice()
			for i := 0; i < len(args); i++ {
				a := args[i]
				if len(a) > 0 && a[0] == '-' {
					if takesValue(a) {
						i++
					}
					continue
				}
				id = a
				break
			}
			if id == "" {
				return fmt.Errorf("exec: missing container id")
			}
			if isRuncContainer(c, id) {
				return delegateToRunc(c)
			}
			return fmt.Errorf("exec in %s: %w: a unikernel has no processes to add", id, container.ErrUnsupported)
		},
	}
}

// takesValue lists runc exec's flags that take a separate value.
func takesValue(flag string) bool {
	switch flag {
	case "--console-socket", "--cwd", "--env", "-e", "--user", "-u", "--additional-gids", "-g",
		"--process", "-p", "--apparmor", "--process-label", "--pid-file", "--cap", "-c", "--preserve-fds", "--cgroup":
		return true
	}
	return false
}

package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/container"
)

func killCommand() *cli.Command {
	return &cli.Command{
		Name:      "kill",
		Usage:     "send a signal to the container (default TERM)",
		ArgsUsage: "<container-id> [signal]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every process of the container"},
		},
		Action: containerAction(func(c *cli.Context, rt *container.Runtime, id string) error {
			sig := unix.SIGTERM
			if c.NArg() > 1 {
				var err error
				if sig, err = parseSignal(c.Args().Get(1)); err != nil {
					return err
				}
			}
			return rt.Kill(c.Context, id, sig, c.Bool("all"))
		}),
	}
}

// parseSignal accepts "9", "KILL", "SIGKILL", "kill".
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q", s)
}

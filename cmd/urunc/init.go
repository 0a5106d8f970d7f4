package main

import (
	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/container"
)

// initCommand is the re-exec child of create (runtime/container Init):
// "urunc init [global flags] ID". Hidden: only urunc itself runs it. The
// global flags come after the command name, so it declares them itself.
func initCommand() *cli.Command {
	return &cli.Command{
		Name:   container.InitCommand,
		Hidden: true,
		Flags:  globalFlags(),
		Before: setupLogging,
		Action: func(c *cli.Context) error {
			id, err := idArg(c)
			if err != nil {
				return err
			}
			rt, err := newRuntime(c)
			if err != nil {
				return err
			}
			return rt.Init(c.Context, id)
		},
	}
}

package main

import (
	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/container"
)

func startCommand() *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "start a created container",
		ArgsUsage: "<container-id>",
		Action: containerAction(func(c *cli.Context, rt *container.Runtime, id string) error {
			return rt.Start(c.Context, id)
		}),
	}
}

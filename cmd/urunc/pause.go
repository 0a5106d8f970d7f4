package main

import (
	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/container"
)

func pauseCommand() *cli.Command {
	return &cli.Command{
		Name:      "pause",
		Usage:     "pause the guest's vCPUs",
		ArgsUsage: "<container-id>",
		Action: containerAction(func(c *cli.Context, rt *container.Runtime, id string) error {
			return rt.Pause(c.Context, id)
		}),
	}
}

func resumeCommand() *cli.Command {
	return &cli.Command{
		Name:      "resume",
		Usage:     "resume a paused container",
		ArgsUsage: "<container-id>",
		Action: containerAction(func(c *cli.Context, rt *container.Runtime, id string) error {
			return rt.Resume(c.Context, id)
		}),
	}
}

package main

import "github.com/urfave/cli/v2"

func pauseCommand() *cli.Command {
	return &cli.Command{
		Name:      "pause",
		Usage:     "pause the guest's vCPUs",
		ArgsUsage: "<container-id>",
		Action: func(c *cli.Context) error {
			return withContainer(c, func(id string) error {
				rt, err := newRuntime(c)
				if err != nil {
					return err
				}
				return rt.Pause(c.Context, id)
			})
		},
	}
}

func resumeCommand() *cli.Command {
	return &cli.Command{
		Name:      "resume",
		Usage:     "resume a paused container",
		ArgsUsage: "<container-id>",
		Action: func(c *cli.Context) error {
			return withContainer(c, func(id string) error {
				rt, err := newRuntime(c)
				if err != nil {
					return err
				}
				return rt.Resume(c.Context, id)
			})
		},
	}
}

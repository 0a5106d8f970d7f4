package main

import "github.com/urfave/cli/v2"

func startCommand() *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "start a created container",
		ArgsUsage: "<container-id>",
		Action: func(c *cli.Context) error {
			return withContainer(c, func(id string) error {
				rt, err := newRuntime(c)
				if err != nil {
					return err
				}
				return rt.Start(c.Context, id)
			})
		},
	}
}

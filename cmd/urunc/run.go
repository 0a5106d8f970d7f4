package main

import (
	"github.com/urfave/cli/v2"
	"github.com/urunc-dev/urunc/runtime/config"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "create and start a container; in the foreground, wait and return its exit status",
		ArgsUsage: "<container-id>",
		Flags: append(createFlags(),
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the container runs"},
			&cli.BoolFlag{Name: "keep", Usage: "accepted for runc compatibility"},
		),
		Action: func(c *cli.Context) error {
			id, err := idArg(c)
			if err != nil {
				return err
			}
			ok, err := config.Detect(c.String("bundle"))
			if err != nil {
				return err
			}
			if !ok {
				return delegateToRunc(c)
			}
			rt, err := newRuntime(c)
			if err != nil {
				return err
			}
			status, err := rt.Run(c.Context, createOptions(c, id), c.Bool("detach"))
			if err != nil {
				return err
			}
			if status != 0 {
				return cli.Exit("", status)
			}
			return nil
		},
	}
}

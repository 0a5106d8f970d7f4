package main

import (
	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/container"
)

func deleteCommand() *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "delete a stopped container (--force: any container)",
		ArgsUsage: "<container-id>",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill the container first if it is running"},
		},
		Action: containerAction(func(c *cli.Context, rt *container.Runtime, id string) error {
			return rt.Delete(c.Context, id, c.Bool("force"))
		}),
	}
}

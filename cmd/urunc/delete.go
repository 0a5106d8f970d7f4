package main

import "github.com/urfave/cli/v2"

func deleteCommand() *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "delete a stopped container (--force: any container)",
		ArgsUsage: "<container-id>",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill the container first if it is running"},
		},
		Action: func(c *cli.Context) error {
			return withContainer(c, func(id string) error {
				rt, err := newRuntime(c)
				if err != nil {
					return err
				}
				return rt.Delete(c.Context, id, c.Bool("force"))
			})
		},
	}
}

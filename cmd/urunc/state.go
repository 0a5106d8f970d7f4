package main

import (
	"encoding/json"
	"os"

	"github.com/urfave/cli/v2"
)

func stateCommand() *cli.Command {
	return &cli.Command{
		Name:      "state",
		Usage:     "print the container's OCI state as JSON",
		ArgsUsage: "<container-id>",
		Action: func(c *cli.Context) error {
			return withContainer(c, func(id string) error {
				rt, err := newRuntime(c)
				if err != nil {
					return err
				}
				st, err := rt.State(id)
				if err != nil {
					return err
				}
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			})
		},
	}
}

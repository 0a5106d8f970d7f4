package main

import (
	"encoding/json"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/container"
)

func stateCommand() *cli.Command {
	return &cli.Command{
		Name:      "state",
		Usage:     "print the container's OCI state as JSON",
		ArgsUsage: "<container-id>",
		Action: containerAction(func(c *cli.Context, rt *container.Runtime, id string) error {
			st, err := rt.State(id)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		}),
	}
}

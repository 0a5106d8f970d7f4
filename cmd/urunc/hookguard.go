package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/hooks"
)

// hookGuardCommand kills a hook's process group if the urunc process
// running the hook dies mid-hook (runtime/hooks Guard): "urunc hook-guard
// PGID", its stdin a pipe from that process. Hidden: only urunc runs it.
func hookGuardCommand() *cli.Command {
	return &cli.Command{
		Name:   hooks.GuardCommand,
		Hidden: true,
		Action: func(c *cli.Context) error {
			pgid, err := hooks.ParseGuardArgs(c.Args().Slice())
			if err != nil {
				return err
			}
			return hooks.Guard(os.Stdin, pgid)
		},
	}
}

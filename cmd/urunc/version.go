package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print version information",
		Action: func(c *cli.Context) error {
			rev := commit
			if rev == "" {
				if bi, ok := debug.ReadBuildInfo(); ok {
					for _, s := range bi.Settings {
						if s.Key == "vcs.revision" {
							rev = s.Value
						}
					}
				}
			}
			fmt.Printf("urunc version %s\ncommit: %s\nspec: %s\ngo: %s\n", version, rev, specs.Version, runtime.Version())
			return nil
		},
	}
}

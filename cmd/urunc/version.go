package main

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/internal/version"
)

// build is the version the Makefile stamped (internal/version).
var build = version.Get()

// versionText follows "urunc version " in runc's layout, for both
// `urunc --version` and `urunc version`:
//
//	urunc version 0.1.0
//	commit: 7024d7ee44874a83605c513b6ef398c6a5c89653
//	spec: 1.3.0
//	go: go1.26.8
func versionText() string { return build.Text("spec: " + specs.Version) }

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print version information",
		Action: func(c *cli.Context) error {
			fmt.Printf("urunc version %s\n", versionText())
			return nil
		},
	}
}

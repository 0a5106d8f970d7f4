package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/internal/bundle"
	"github.com/urunc-dev/urunc/runtime/config"
)

func specCommand() *cli.Command {
	return &cli.Command{
		Name:  "spec",
		Usage: "write an example config.json for a unikernel bundle",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "directory to write config.json to"},
		},
		Action: func(c *cli.Context) error {
			path := filepath.Join(c.String("bundle"), "config.json")
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("%s exists: remove it first", path)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			data, err := json.MarshalIndent(exampleSpec(), "", "\t")
			if err != nil {
				return err
			}
			return os.WriteFile(path, append(data, '\n'), 0o644) //nolint:gosec // G306: a bundle's config.json, world-readable as runc spec writes it
		},
	}
}

func exampleSpec() *specs.Spec {
	return bundle.Spec(bundle.SpecOptions{
		Args:     []string{"hello"},
		Env:      []string{"PATH=/usr/bin:/bin"},
		Hostname: "unikernel",
		Annotations: map[string]string{
			config.KeyType:       "unikraft",
			config.KeyHypervisor: "qemu",
			config.KeyBinary:     bundle.KernelDir + "/app.elf",
			config.KeyCmdline:    "hello",
		},
	})
}

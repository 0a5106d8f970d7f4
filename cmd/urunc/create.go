package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/container"
)

func createFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "path to the bundle directory"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the container's pid to this file"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the console pty master"},
		&cli.BoolFlag{Name: "no-pivot", Usage: "accepted for runc compatibility"},
		&cli.BoolFlag{Name: "no-new-keyring", Usage: "accepted for runc compatibility"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "accepted for runc compatibility"},
	}
}

func createCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "create a container",
		ArgsUsage: "<container-id>",
		Flags:     createFlags(),
		Action: func(c *cli.Context) error {
			id, err := idArg(c)
			if err != nil {
				return err
			}
			rt, err := newRuntime(c)
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
			_, err = rt.Create(c.Context, createOptions(c, id))
			return err
		},
	}
}

func createOptions(c *cli.Context, id string) container.CreateOptions {
	return container.CreateOptions{
		ID:            id,
		Bundle:        c.String("bundle"),
		PidFile:       c.String("pid-file"),
		ConsoleSocket: c.String("console-socket"),
		Stdin:         os.Stdin,
		Stdout:        os.Stdout,
		Stderr:        os.Stderr,
	}
}

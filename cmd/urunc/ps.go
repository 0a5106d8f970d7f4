package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/container"
)

func psCommand() *cli.Command {
	return &cli.Command{
		Name:      "ps",
		Usage:     "list the container's processes",
		ArgsUsage: "<container-id> [ps options]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
		},
		Action: containerAction(func(c *cli.Context, rt *container.Runtime, id string) error {
			pids, err := rt.Pids(id)
			if err != nil {
				return err
			}
			switch c.String("format") {
			case "json":
				return json.NewEncoder(os.Stdout).Encode(pids)
			case "table":
				return psTable(pids, c.Args().Tail())
			}
			return fmt.Errorf("invalid --format %q: want table or json", c.String("format"))
		}),
	}
}

// psTable runs ps(1) and keeps the header and the container's lines, as runc does.
func psTable(pids []int, psArgs []string) error {
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	out, err := exec.Command("ps", psArgs...).Output()
	if err != nil {
		return fmt.Errorf("ps: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	if !sc.Scan() {
		return nil
	}
	header := sc.Text()
	pidCol := -1
	for i, f := range strings.Fields(header) {
		if f == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return fmt.Errorf("ps output has no PID column")
	}
	fmt.Println(header)
	want := map[string]bool{}
	for _, p := range pids {
		want[strconv.Itoa(p)] = true
	}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > pidCol && want[f[pidCol]] {
			fmt.Println(sc.Text())
		}
	}
	return nil
}

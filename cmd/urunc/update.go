package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/docker/go-units"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/container"
)

func updateCommand() *cli.Command {
	return &cli.Command{
		Name:      "update",
		Usage:     "update the limits of a container's cgroup (the VM keeps its size)",
		ArgsUsage: "<container-id>",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "JSON file of linux.resources, - for stdin"},
			&cli.StringFlag{Name: "memory", Usage: "memory limit, e.g. 256m"},
			&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
			&cli.StringFlag{Name: "memory-swap", Usage: "memory + swap limit, -1 for unlimited"},
			&cli.StringFlag{Name: "cpu-period", Usage: "CPU CFS period (µs)"},
			&cli.StringFlag{Name: "cpu-quota", Usage: "CPU CFS quota (µs)"},
			&cli.StringFlag{Name: "cpu-share", Usage: "CPU shares"},
			&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs allowed"},
			&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes allowed"},
			&cli.IntFlag{Name: "pids-limit", Usage: "maximum number of processes"},
			&cli.StringFlag{Name: "blkio-weight", Usage: "block IO weight (10-1000)"},
		},
		Action: containerAction(func(c *cli.Context, rt *container.Runtime, id string) error {
			res, err := updateResources(c)
			if err != nil {
				return fmt.Errorf("update %s: %w", id, err)
			}
			return rt.Update(c.Context, id, res)
		}),
	}
}

// updateResources reads --resources, then lets the other flags override
// it, as runc does.
func updateResources(c *cli.Context) (*specs.LinuxResources, error) {
	res := &specs.LinuxResources{}
	if f := c.String("resources"); f != "" {
		var data []byte
		var err error
		if f == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(data, res); err != nil {
			return nil, fmt.Errorf("--resources %s: %w", f, err)
		}
	}
	mem := func() *specs.LinuxMemory {
		if res.Memory == nil {
			res.Memory = &specs.LinuxMemory{}
		}
		return res.Memory
	}
	cpu := func() *specs.LinuxCPU {
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		return res.CPU
	}
	for _, m := range []struct {
		flag string
		set  func(int64)
	}{
		{"memory", func(v int64) { mem().Limit = &v }},
		{"memory-reservation", func(v int64) { mem().Reservation = &v }},
		{"memory-swap", func(v int64) { mem().Swap = &v }},
	} {
		if s := c.String(m.flag); s != "" {
			v := int64(-1)
			if s != "-1" {
				var err error
				if v, err = units.RAMInBytes(s); err != nil {
					return nil, fmt.Errorf("--%s %q: %w", m.flag, s, err)
				}
			}
			m.set(v)
		}
	}
	for _, n := range []struct {
		flag string
		set  func(string) error
	}{
		{"cpu-period", func(s string) error { v, err := strconv.ParseUint(s, 10, 64); cpu().Period = &v; return err }},
		{"cpu-quota", func(s string) error { v, err := strconv.ParseInt(s, 10, 64); cpu().Quota = &v; return err }},
		{"cpu-share", func(s string) error { v, err := strconv.ParseUint(s, 10, 64); cpu().Shares = &v; return err }},
		{"blkio-weight", func(s string) error {
			v, err := strconv.ParseUint(s, 10, 16)
			w := uint16(v)
			res.BlockIO = &specs.LinuxBlockIO{Weight: &w}
			return err
		}},
	} {
		if s := c.String(n.flag); s != "" {
			if err := n.set(s); err != nil {
				return nil, fmt.Errorf("--%s %q: not a number", n.flag, s)
			}
		}
	}
	if s := c.String("cpuset-cpus"); s != "" {
		cpu().Cpus = s
	}
	if s := c.String("cpuset-mems"); s != "" {
		cpu().Mems = s
	}
	if c.IsSet("pids-limit") {
		res.Pids = &specs.LinuxPids{Limit: new(int64)}
		*res.Pids.Limit = int64(c.Int("pids-limit"))
	}
	return res, nil
}

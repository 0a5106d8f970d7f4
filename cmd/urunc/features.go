package main

import (
	"encoding/json"
	"os"
	"sort"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/vm"
)

func featuresCommand() *cli.Command {
	return &cli.Command{
		Name:  "features",
		Usage: "print the runtime's features as JSON (OCI runtime-spec features)",
		Action: func(c *cli.Context) error {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "    ")
			return enc.Encode(runtimeFeatures())
		},
	}
}

func runtimeFeatures() *features.Features {
	yes := true
	guests := vm.Supported()
	names := make([]string, 0, len(guests))
	for g := range guests {
		names = append(names, g)
	}
	sort.Strings(names)
	var pairs []string
	for _, g := range names {
		pairs = append(pairs, g+"="+strings.Join(guests[g], ","))
	}
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  []string{},
		Linux: &features.Linux{
			Namespaces: []string{"cgroup", "ipc", "mount", "network", "pid", "uts"},
			Cgroup:     &features.Cgroup{V1: &yes, V2: &yes},
		},
		Annotations: map[string]string{
			"io.github.urunc.version":     version,
			"io.github.urunc.guests":      strings.Join(pairs, ";"),
			"io.github.urunc.handoff":     "bundles without a unikernel configuration are run by runc",
			"io.github.urunc.annotations": "com.urunc.unikernel.*, com.urunc.vmm.{accel,cpu,machine}, com.urunc.network.mode",
		},
	}
}

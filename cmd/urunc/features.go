package main

import (
	"encoding/json"
	"os"
	"sort"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/vmm"
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
	guests := vmm.Supported()
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
			// systemd: slice:prefix:name paths with --systemd-cgroup (the
			// systemd driver when systemd runs, else its cgroupfs layout).
			Cgroup: &features.Cgroup{V1: &yes, V2: &yes, Systemd: &yes},
		},
		Annotations: map[string]string{
			"io.github.urunc.version":     build.Release,
			"io.github.urunc.commit":      build.Commit,
			"io.github.urunc.dirty":       build.Dirty,
			"io.github.urunc.guests":      strings.Join(pairs, ";"),
			"io.github.urunc.handoff":     "bundles without a unikernel configuration are run by runc",
			"io.github.urunc.annotations": "com.urunc.unikernel.* (incl. sharedfs=9p|virtiofs), com.urunc.vmm.{accel,cpu,machine}, com.urunc.network.mode",
			"io.github.urunc.seccomp":     "the spec's profile is not applied to a VMM; solo5-hvt/spt get urunc's own filter when the spec has a seccomp section",
			"io.github.urunc.vmm":         "runs in the container's cgroup and namespaces, pivoted into a minimal root, as process.user with process.capabilities",
		},
	}
}

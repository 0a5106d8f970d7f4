// Package hypervisors builds the exact invocation of each virtual machine
// monitor (one file per monitor) from a vmtypes.Request and the guest's
// needs (guests.Boot).
package hypervisors

import (
	"fmt"
	"net"
	"os/exec"
	"strings"

	"github.com/urunc-dev/urunc/runtime/guests"
	"github.com/urunc-dev/urunc/runtime/vm/vmtypes"
)

// Hypervisor is one monitor.
type Hypervisor interface {
	// Name is the canonical name: qemu, firecracker, hvt, spt, cloud-hypervisor.
	Name() string
	// Binary is the executable looked up on PATH.
	Binary() string
	// Build returns the plan for req. path is the binary's location (see
	// Find); req.Hypervisor is canonical and req.Machine already set.
	Build(path string, req vmtypes.Request, boot *guests.Boot) (*vmtypes.Plan, error)
}

// All returns every monitor. Each call returns new values.
func All() []Hypervisor {
	return []Hypervisor{QEMU{}, Firecracker{}, HVT{}, SPT{}, CloudHypervisor{}}
}

// Canonical maps the aliases solo5-hvt and solo5-spt to hvt and spt.
func Canonical(name string) string {
	switch name {
	case "solo5-hvt", "solo5-spt":
		return strings.TrimPrefix(name, "solo5-")
	}
	return name
}

// Lookup returns the monitor called name (or one of its aliases).
func Lookup(name string) (Hypervisor, error) {
	c := Canonical(name)
	var names []string
	for _, h := range All() {
		if h.Name() == c {
			return h, nil
		}
		names = append(names, h.Name())
	}
	return nil, fmt.Errorf("%w %q (known: %s; aliases solo5-hvt, solo5-spt)", vmtypes.ErrUnknownHypervisor, name, strings.Join(names, ", "))
}

// Find looks the monitor's binary up on PATH.
func Find(h Hypervisor) (string, error) {
	p, err := exec.LookPath(h.Binary())
	if err != nil {
		return "", fmt.Errorf("%w: %s (hypervisor %s) is not installed or not on PATH", vmtypes.ErrNotInstalled, h.Binary(), h.Name())
	}
	return p, nil
}

// invalid returns an error wrapping vmtypes.ErrInvalidValue.
func invalid(monitor, what, value, why string) error {
	return fmt.Errorf("%w: %s %s %q: %s", vmtypes.ErrInvalidValue, monitor, what, value, why)
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// plain refuses control characters (newlines, NULs) in a value.
func plain(monitor, what, v string) error {
	if hasControl(v) {
		return invalid(monitor, what, v, "contains a control character")
	}
	return nil
}

// qemuValue makes v safe as the value of a qemu "key=value,..." option:
// commas are doubled, control characters refused.
func qemuValue(what, v string) (string, error) {
	if err := plain("qemu", what, v); err != nil {
		return "", err
	}
	return strings.ReplaceAll(v, ",", ",,"), nil
}

// noComma refuses values for option syntaxes without an escape for ','
// (and '=' or blanks where noted by the caller's chars).
func noComma(monitor, what, v, chars string) error {
	if err := plain(monitor, what, v); err != nil {
		return err
	}
	if strings.ContainsAny(v, chars) {
		return invalid(monitor, what, v, fmt.Sprintf("contains one of %q, which the option syntax cannot carry", chars))
	}
	return nil
}

// checkNetwork validates the host-side NIC parameters.
func checkNetwork(monitor string, n *vmtypes.Network) error {
	if n == nil {
		return nil
	}
	if n.TapName == "" || len(n.TapName) > 15 || strings.ContainsAny(n.TapName, "/ \t,=:") || hasControl(n.TapName) {
		return invalid(monitor, "tap device", n.TapName, "not a valid interface name")
	}
	if n.MAC != "" {
		if hw, err := net.ParseMAC(n.MAC); err != nil || len(hw) != 6 {
			return invalid(monitor, "MAC", n.MAC, "not aa:bb:cc:dd:ee:ff")
		}
	}
	return nil
}

func memory(monitor string, req vmtypes.Request) error {
	if req.MemoryMB == 0 {
		return fmt.Errorf("%w: %s: VM memory is 0 MB", vmtypes.ErrInvalidValue, monitor)
	}
	return nil
}

func vcpus(req vmtypes.Request) int { return max(req.VCPUs, 1) }

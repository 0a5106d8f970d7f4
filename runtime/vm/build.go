package vm

import (
	"fmt"
	"strings"

	"github.com/urunc-dev/urunc/runtime/guests"
	"github.com/urunc-dev/urunc/runtime/hypervisors"
)

// Supported maps each guest type to the (canonical) monitors it runs on.
func Supported() map[string][]string {
	m := map[string][]string{}
	for _, g := range guests.All() {
		m[g.Name()] = g.Monitors()
	}
	return m
}

// Validate checks that the guest type and the hypervisor are known, that
// the guest runs on that hypervisor, and that the monitor's binary is on
// PATH. Errors wrap ErrUnknownGuest, ErrUnknownHypervisor,
// ErrUnsupportedPair or ErrNotInstalled and name the offending value.
func Validate(guest, hypervisor string) error {
	_, _, _, err := resolve(guest, hypervisor)
	return err
}

func resolve(guest, hypervisor string) (guests.Guest, hypervisors.Hypervisor, string, error) {
	g, err := guests.Lookup(guest)
	if err != nil {
		return nil, nil, "", err
	}
	h, err := hypervisors.Lookup(hypervisor)
	if err != nil {
		return nil, nil, "", err
	}
	if !guests.Supports(g, h.Name()) {
		return nil, nil, "", fmt.Errorf("%w: %s on %s (%s runs on %s)", ErrUnsupportedPair, guest, hypervisor,
			guest, strings.Join(g.Monitors(), ", "))
	}
	path, err := hypervisors.Find(h)
	if err != nil {
		return nil, nil, "", err
	}
	return g, h, path, nil
}

// DefaultMachine is the qemu machine a guest type needs: "microvm" for
// linux, "pc" (PCI devices) for the unikernels and unknown types.
func DefaultMachine(guest string) string {
	if g, err := guests.Lookup(guest); err == nil {
		return g.DefaultMachine()
	}
	return "pc"
}

// Build returns the VMM invocation for req: Validate, then the guest's
// command line (runtime/guests) and the monitor's argv and files
// (runtime/hypervisors). An empty req.Machine gets the guest's default.
func Build(req Request) (*Plan, error) {
	g, h, path, err := resolve(req.Guest, req.Hypervisor)
	if err != nil {
		return nil, err
	}
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	req.Hypervisor = h.Name()
	if req.Machine == "" {
		req.Machine = g.DefaultMachine()
	}
	boot, err := g.Boot(req)
	if err != nil {
		return nil, err
	}
	plan, err := h.Build(path, req, boot)
	if err != nil {
		return nil, err
	}
	plan.GuestCmdline = boot.Cmdline
	return plan, nil
}

// checkRequest refuses newlines and NULs (and other control characters)
// in every string the request carries: none of them may add lines or
// arguments to a command line or a generated file.
func checkRequest(req Request) error {
	fields := []struct{ name, v string }{
		{"version", req.Version}, {"kernel", req.Kernel}, {"initrd", req.Initrd}, {"block", req.Block},
		{"block mount point", req.BlockMountPoint}, {"cmdline", req.Cmdline}, {"cwd", req.Process.Cwd},
		{"accel", req.Accel}, {"cpu", req.CPU}, {"machine", req.Machine},
		{"state directory", req.StateDir}, {"serial log", req.SerialLog},
	}
	for _, a := range req.Process.Args {
		fields = append(fields, struct{ name, v string }{"argument", a})
	}
	for _, e := range req.Process.Env {
		fields = append(fields, struct{ name, v string }{"environment variable", e})
	}
	if n := req.Network; n != nil {
		fields = append(fields, []struct{ name, v string }{{"tap", n.TapName}, {"MAC", n.MAC}, {"IP", n.IP},
			{"mask", n.Mask}, {"gateway", n.Gateway}, {"DNS", n.DNS}, {"hostname", n.Hostname}}...)
	}
	if fs := req.SharedFS; fs != nil {
		fields = append(fields, []struct{ name, v string }{{"shared filesystem kind", fs.Kind},
			{"shared filesystem path", fs.HostPath}, {"shared filesystem tag", fs.Tag}, {"virtiofs socket", fs.Socket}}...)
	}
	for _, a := range req.ExtraArgs {
		fields = append(fields, struct{ name, v string }{"extra argument", a})
	}
	for _, f := range fields {
		for _, r := range f.v {
			if r < 0x20 || r == 0x7f {
				return fmt.Errorf("%w: %s %q contains a control character (newline, NUL, ...)", ErrInvalidValue, f.name, f.v)
			}
		}
	}
	return nil
}

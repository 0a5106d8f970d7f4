// Package vmm turns a container's unikernel configuration into the exact
// invocation of a virtual machine monitor, and says what that monitor
// needs from the runtime (the files it opens, device nodes, a control
// socket, how it stops, a seccomp filter) so the lifecycle can execute
// the plan without knowing which monitor it is.
//
// A guest type (guest_*.go: how the guest's own command line looks and
// what it needs from the monitor) is combined with a monitor
// (monitor_*.go: how it is invoked). Devices are typed (Net, Disks,
// Shares) and rendered by each monitor alone.
//
// The lifecycle calls Validate at create time (fail early, name the
// problem), Choose for the machine, and Build right before it execs.
package vmm

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Supported maps each guest type to the (canonical) monitors it runs on.
func Supported() map[string][]string {
	m := map[string][]string{}
	for _, g := range guests() {
		m[g.Name()] = g.Monitors()
	}
	return m
}

// Supports checks that guest and monitor are known and that the guest
// runs on that monitor, without looking for the monitor's binary.
func Supports(guest, monitor string) error {
	_, _, err := lookupPair(guest, monitor)
	return err
}

// Validate checks that the guest type and the hypervisor are known, that
// the guest runs on that hypervisor, and that the monitor's binary is
// there: monitorPath (the host configuration's), or on PATH when it is
// empty. Errors wrap ErrUnknownGuest, ErrUnknownHypervisor,
// ErrUnsupportedPair or ErrNotInstalled and name the offending value.
func Validate(guest, hypervisor, monitorPath string) error {
	_, _, _, err := resolve(guest, hypervisor, monitorPath)
	return err
}

func lookupPair(guest, hypervisor string) (Guest, Monitor, error) {
	g, err := LookupGuest(guest)
	if err != nil {
		return nil, nil, err
	}
	m, err := LookupMonitor(hypervisor)
	if err != nil {
		return nil, nil, err
	}
	if !runsOn(g, m.Name()) {
		return nil, nil, fmt.Errorf("%w: %s on %s (%s runs on %s)", ErrUnsupportedPair, guest, hypervisor,
			guest, strings.Join(g.Monitors(), ", "))
	}
	return g, m, nil
}

func resolve(guest, hypervisor, monitorPath string) (Guest, Monitor, string, error) {
	g, m, err := lookupPair(guest, hypervisor)
	if err != nil {
		return nil, nil, "", err
	}
	path, err := find(m, monitorPath)
	if err != nil {
		return nil, nil, "", err
	}
	return g, m, path, nil
}

// DefaultMachine is the qemu machine a guest type needs: "microvm" for
// linux, "pc" (PCI devices) for the unikernels and unknown types.
func DefaultMachine(guest string) string {
	if g, err := LookupGuest(guest); err == nil {
		return g.DefaultMachine()
	}
	return "pc"
}

// ControlOf is the control socket the monitor serves when the runtime
// hands it one (Request.ControlFD); NoControl for an unknown monitor.
func ControlOf(hypervisor string) Control {
	if m, err := LookupMonitor(hypervisor); err == nil {
		return m.Control()
	}
	return NoControl
}

// Attach is the device binding Build applies, on its own: which of the
// request's devices the guest gets (a Solo5 tender: exactly what the
// unikernel's manifest declares), so a mismatch can fail early.
func Attach(req Request) ([]Attachment, error) {
	m, err := LookupMonitor(req.Hypervisor)
	if err != nil {
		return nil, err
	}
	return m.Attach(&req)
}

// Build returns the VMM invocation for req: Validate, then the guest's
// command line (guest_*.go) and the monitor's argv and files
// (monitor_*.go), and what the VMM will open. An empty req.Machine gets
// the guest's default.
func Build(req Request) (*Plan, error) {
	g, m, path, err := resolve(req.Guest, req.Hypervisor, req.MonitorPath)
	if err != nil {
		return nil, err
	}
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	if err := CheckDevOptions(m.Name(), req.Console, req.GDB != nil); err != nil {
		return nil, err
	}
	req.Hypervisor = m.Name()
	if req.Machine == "" {
		req.Machine = g.DefaultMachine()
	}
	attached, err := m.Attach(&req)
	if err != nil {
		return nil, err
	}
	boot, err := g.Boot(req)
	if err != nil {
		return nil, err
	}
	plan, err := m.Build(path, req, boot)
	if err != nil {
		return nil, err
	}
	plan.GuestCmdline = boot.Cmdline
	plan.Exit = boot.Exit
	if plan.Exit.Rule == "" {
		plan.Exit.Rule = ExitRaw
	}
	// The guest's way to stop, unless the monitor decides (a tender
	// without signal handlers); an ACPI power-down needs the monitor's
	// control socket.
	if plan.Stop == "" {
		plan.Stop = boot.Stop
	}
	if plan.Stop == "" || (plan.Stop == StopACPI && m.Control() != QMP) {
		plan.Stop = StopSignal
	}
	plan.Control = NoControl
	if req.ControlFD >= 0 {
		plan.Control = m.Control()
	}
	plan.Attachments = attached
	plan.LogsConsole = m.LogsConsole()
	plan.Mounts = mounts(req, plan)
	plan.Devices = m.Devices(req)
	return plan, nil
}

// mounts lists every host file the VMM opens (the jail binds exactly
// these): kernel, initrd, disks, shared directories and, when it lives
// outside /usr, the monitor binary itself.
func mounts(req Request, plan *Plan) []Mount {
	var out []Mount
	if req.Kernel != "" {
		out = append(out, Mount{Path: req.Kernel, ReadOnly: true, What: "the guest kernel"})
	}
	if req.Initrd != "" {
		out = append(out, Mount{Path: req.Initrd, ReadOnly: true, What: "the initrd"})
	}
	for _, d := range req.Disks {
		out = append(out, Mount{Path: d.Path, ReadOnly: d.ReadOnly, What: "the block device"})
	}
	for _, s := range req.Shares {
		// virtio-fs: virtiofsd serves the directory; the VMM only needs
		// its socket (in the state directory).
		if s.Kind == ShareVirtiofs || s.HostPath == "" {
			continue
		}
		what := "a volume"
		if s.Root {
			what = "the shared root filesystem"
		}
		out = append(out, Mount{Path: s.HostPath, ReadOnly: s.ReadOnly, What: what})
	}
	if filepath.IsAbs(plan.Path) && !strings.HasPrefix(plan.Path, "/usr/") {
		out = append(out, Mount{Path: plan.Path, ReadOnly: true, What: "the VMM binary"})
	}
	return out
}

// checkRequest is the one control-character check: no string the request
// carries may hold a newline, NUL or other control character, which could
// add lines or arguments to a command line or a generated file.
func checkRequest(req Request) error {
	fields := []struct{ name, v string }{
		{"version", req.Version}, {"kernel", req.Kernel}, {"initrd", req.Initrd},
		{"cmdline", req.Cmdline}, {"cwd", req.Process.Cwd},
		{"accel", req.Accel}, {"cpu", req.CPU}, {"machine", req.Machine},
		{"state directory", req.StateDir}, {"serial log", req.SerialLog},
	}
	for _, a := range req.Process.Args {
		fields = append(fields, struct{ name, v string }{"argument", a})
	}
	for _, e := range req.Process.Env {
		fields = append(fields, struct{ name, v string }{"environment variable", e})
	}
	if n := req.Net; n != nil {
		fields = append(fields, []struct{ name, v string }{{"tap", n.TapName}, {"MAC", n.MAC}, {"IP", n.IP},
			{"mask", n.Mask}, {"gateway", n.Gateway}, {"DNS", n.DNS}, {"hostname", n.Hostname}}...)
	}
	for _, d := range req.Disks {
		fields = append(fields, []struct{ name, v string }{{"block", d.Path}, {"block mount point", d.MountPoint}}...)
	}
	for _, s := range req.Shares {
		fields = append(fields, []struct{ name, v string }{{"shared filesystem kind", string(s.Kind)},
			{"shared filesystem path", s.HostPath}, {"shared filesystem tag", s.Tag}, {"virtiofs socket", s.Socket}}...)
	}
	if req.Linux != nil {
		fields = append(fields, struct{ name, v string }{"cmdline", req.Linux.Cmdline})
	}
	for _, a := range req.ExtraArgs {
		fields = append(fields, struct{ name, v string }{"extra argument", a})
	}
	for _, f := range fields {
		if hasControl(f.v) {
			return fmt.Errorf("%w: %s %q contains a control character (newline, NUL, ...)", ErrInvalidValue, f.name, f.v)
		}
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// invalid returns an error wrapping ErrInvalidValue.
func invalid(who, what, value, why string) error {
	return fmt.Errorf("%w: %s %s %q: %s", ErrInvalidValue, who, what, value, why)
}

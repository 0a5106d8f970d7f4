// Package guests knows how each unikernel framework (and a Linux microVM)
// expects to be booted: the guest's own command line and what it needs
// from the monitor besides the generic devices (device models, extra
// arguments, solo5 device names).
//
// Each guest type lives in its own file; Lookup returns one by name. The
// hypervisor packages (runtime/hypervisors) turn a Boot into an argv.
package guests

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/urunc-dev/urunc/runtime/vm/vmtypes"
)

// Canonical monitor names (runtime/hypervisors uses the same).
const (
	QEMU            = "qemu"
	Firecracker     = "firecracker"
	HVT             = "hvt"
	SPT             = "spt"
	CloudHypervisor = "cloud-hypervisor"
)

// Guest is one guest type.
type Guest interface {
	// Name is the unikernelType value, e.g. "unikraft".
	Name() string
	// Monitors lists the canonical hypervisor names the guest runs on.
	Monitors() []string
	// DefaultMachine is the qemu -M type the guest needs when nothing
	// else is configured: "pc" for guests that need PCI devices (and
	// firmware), "microvm" for Linux.
	DefaultMachine() string
	// Boot turns a request into the guest command line and the monitor
	// extras. req.Hypervisor is canonical (see hypervisors.Canonical).
	Boot(req vmtypes.Request) (*Boot, error)
}

// Boot is what a guest needs from the monitor.
type Boot struct {
	// Cmdline is the guest's command line (qemu -append, firecracker
	// boot_args, solo5's trailing arguments, cloud-hypervisor --cmdline).
	Cmdline string

	// QEMUNetDevice is the qemu -device model of the NIC with guest-specific
	// options, e.g. "virtio-net-pci,disable-legacy=on,disable-modern=off";
	// the monitor appends netdev= and mac=. Empty: virtio-net-device on
	// microvm, virtio-net-pci otherwise.
	QEMUNetDevice string
	// QEMUArgs are guest-specific qemu arguments (e.g. mewz's own
	// isa-debug-exit port).
	QEMUArgs []string
	// OwnDebugExit says the guest brings its own isa-debug-exit device
	// (in QEMUArgs): the monitor must not add the default one at 0xf4.
	OwnDebugExit bool
	// Prepared says the command line and the root filesystem devices
	// were prepared by the caller (runtime/guests/linuxboot: Cmdline and
	// ExtraArgs of the request) and are used as given.
	Prepared bool

	// Solo5 device names the guest was built with (--net:NAME=, --block:NAME=).
	Solo5Net   string
	Solo5Block string

	// GracefulStop: "acpi" or "signal" (see vmtypes.Plan).
	GracefulStop string
}

// All returns every guest type, sorted by name. Each call returns new values.
func All() []Guest {
	g := []Guest{Unikraft{}, Rumprun{}, Mirage{}, Mewz{}, Hermit{}, Linux{}}
	sort.Slice(g, func(i, j int) bool { return g[i].Name() < g[j].Name() })
	return g
}

// Lookup returns the guest type called name.
func Lookup(name string) (Guest, error) {
	for _, g := range All() {
		if g.Name() == name {
			return g, nil
		}
	}
	var names []string
	for _, g := range All() {
		names = append(names, g.Name())
	}
	return nil, fmt.Errorf("%w %q (known: %s)", vmtypes.ErrUnknownGuest, name, strings.Join(names, ", "))
}

// Supports reports whether g runs on the canonical monitor name.
func Supports(g Guest, monitor string) bool {
	for _, m := range g.Monitors() {
		if m == monitor {
			return true
		}
	}
	return false
}

// invalid returns an error wrapping vmtypes.ErrInvalidValue.
func invalid(guest, what, value, why string) error {
	return fmt.Errorf("%w: %s %s %q: %s", vmtypes.ErrInvalidValue, guest, what, value, why)
}

// args returns the guest's arguments as separate words: Process.Args, or
// nil when the command line comes from Request.Cmdline (see command).
func command(guest string, req vmtypes.Request, quote func(string) (string, bool)) (string, error) {
	if len(req.Process.Args) == 0 {
		if strings.ContainsAny(req.Cmdline, "\n\r\x00") {
			return "", invalid(guest, "cmdline", req.Cmdline, "contains a newline or NUL")
		}
		return strings.TrimSpace(req.Cmdline), nil
	}
	words := make([]string, 0, len(req.Process.Args))
	for _, a := range req.Process.Args {
		q, ok := quote(a)
		if !ok {
			return "", invalid(guest, "argument", a, "cannot be carried on its command line")
		}
		words = append(words, q)
	}
	return strings.Join(words, " "), nil
}

// quoteWord quotes a word for guests whose command-line parser splits on
// blanks and understands double or single quotes (unikraft's uklibparam,
// solo5 guests, the Linux kernel for its init's arguments): a word without
// blanks or quotes is left alone; otherwise it is wrapped in double quotes,
// or single quotes if it contains a double quote. A word holding both
// kinds of quote, a backslash next to a quote, or a control character
// cannot be carried.
func quoteWord(w string) (string, bool) {
	if hasControl(w) {
		return "", false
	}
	if w != "" && !strings.ContainsAny(w, " \t\"'") {
		return w, true
	}
	switch {
	case !strings.Contains(w, `"`) && !strings.HasSuffix(w, `\`):
		return `"` + w + `"`, true
	case !strings.Contains(w, `'`) && !strings.HasSuffix(w, `\`):
		return `'` + w + `'`, true
	}
	return "", false
}

// quoteDouble is quoteWord for parsers that only know double quotes (the
// Linux kernel command line).
func quoteDouble(w string) (string, bool) {
	if hasControl(w) || strings.Contains(w, `"`) {
		return "", false
	}
	if w != "" && !strings.ContainsAny(w, " \t") {
		return w, true
	}
	return `"` + w + `"`, true
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// network checks the parts of n that end up on a guest command line: an
// attacker-controlled value must not add parameters.
func network(guest string, n *vmtypes.Network) error {
	if n == nil {
		return nil
	}
	if ip := net.ParseIP(n.IP); ip == nil || ip.To4() == nil {
		return invalid(guest, "network IP", n.IP, "not an IPv4 address")
	}
	if n.PrefixLen < 0 || n.PrefixLen > 32 {
		return invalid(guest, "network prefix length", fmt.Sprint(n.PrefixLen), "not in 0..32")
	}
	for _, v := range []struct{ what, val string }{{"gateway", n.Gateway}, {"DNS", n.DNS}, {"mask", n.Mask}} {
		if v.val == "" {
			continue
		}
		if ip := net.ParseIP(v.val); ip == nil || ip.To4() == nil {
			return invalid(guest, "network "+v.what, v.val, "not an IPv4 address")
		}
	}
	if strings.ContainsAny(n.Hostname, " \t\"':,=/\\") || hasControl(n.Hostname) {
		return invalid(guest, "hostname", n.Hostname, "contains blanks, quotes or separators")
	}
	return nil
}

// mask returns the dotted-quad netmask of n.
func mask(n *vmtypes.Network) string {
	if n.Mask != "" {
		return n.Mask
	}
	return net.IP(net.CIDRMask(n.PrefixLen, 32)).String()
}

// envWords quotes the environment for a blank-separated K=V list.
func envWords(guest string, env []string, quote func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, e := range env {
		k, _, ok := strings.Cut(e, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\"'") {
			return nil, invalid(guest, "environment variable", e, "not NAME=VALUE")
		}
		q, ok := quote(e)
		if !ok {
			return nil, invalid(guest, "environment variable", e, "cannot be carried on its command line")
		}
		out = append(out, q)
	}
	return out, nil
}

func noBlock(guest string, req vmtypes.Request) error {
	if req.Block != "" {
		return fmt.Errorf("%w: %s guests cannot use a block device (%s)", vmtypes.ErrInvalidValue, guest, req.Block)
	}
	return nil
}

func noSharedFS(guest string, req vmtypes.Request) error {
	if req.SharedFS != nil {
		return fmt.Errorf("%w: %s guests cannot use a shared root filesystem", vmtypes.ErrInvalidValue, guest)
	}
	return nil
}

func join(words ...string) string {
	var out []string
	for _, w := range words {
		if w != "" {
			out = append(out, w)
		}
	}
	return strings.Join(out, " ")
}

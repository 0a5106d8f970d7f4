package vmm

import (
	"fmt"
	"net"
	"sort"
	"strings"
)

// Guest is one guest type: how the unikernel framework (or a Linux
// microVM) expects to be booted, its own command line and what it needs
// from the monitor besides the generic devices. One file each.
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
	// extras. req.Hypervisor is canonical (see Canonical).
	Boot(req Request) (*Boot, error)
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

	// Stop is how the guest is asked to stop (Plan.Stop).
	Stop Stop
	// Exit is how the guest's outcome is read (Plan.Exit).
	Exit Exit
}

// guests returns every guest type, sorted by name.
func guests() []Guest {
	g := []Guest{Unikraft{}, Rumprun{}, Mirage{}, Mewz{}, Hermit{}, Linux{}, Solo5{}}
	sort.Slice(g, func(i, j int) bool { return g[i].Name() < g[j].Name() })
	return g
}

// LookupGuest returns the guest type called name.
func LookupGuest(name string) (Guest, error) {
	for _, g := range guests() {
		if g.Name() == name {
			return g, nil
		}
	}
	var names []string
	for _, g := range guests() {
		names = append(names, g.Name())
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownGuest, name, strings.Join(names, ", "))
}

// runsOn reports whether g runs on the canonical monitor name.
func runsOn(g Guest, monitor string) bool {
	for _, m := range g.Monitors() {
		if m == monitor {
			return true
		}
	}
	return false
}

// args returns the guest's arguments as separate words: Process.Args, or
// nil when the command line comes from Request.Cmdline (see command).
func command(guest string, req Request, quote func(string) (string, bool)) (string, error) {
	if len(req.Process.Args) == 0 {
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

// network checks the parts of n that end up on a guest command line: an
// attacker-controlled value must not add parameters.
func network(guest string, n *Net) error {
	if !n.HasAddress() {
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
func mask(n *Net) string {
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

func noBlock(guest string, req Request) error {
	if d := req.Disk(); d != nil {
		return fmt.Errorf("%w: %s guests cannot use a block device (%s)", ErrInvalidValue, guest, d.Path)
	}
	return nil
}

func noSharedFS(guest string, req Request) error {
	if len(req.Shares) > 0 {
		return fmt.Errorf("%w: %s guests cannot use a shared directory", ErrInvalidValue, guest)
	}
	return nil
}

// addressWords are the guest's address and gateway as IPKEY IP/PREFIX
// and GWKEY GW (the gateway only when there is one); none without a NIC.
func addressWords(n *Net, ipKey, gwKey string) []string {
	if !n.HasAddress() {
		return nil
	}
	words := []string{fmt.Sprintf("%s%s/%d", ipKey, n.IP, n.PrefixLen)}
	if n.Gateway != "" {
		words = append(words, gwKey+n.Gateway)
	}
	return words
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

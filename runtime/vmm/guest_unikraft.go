package vmm

import (
	"fmt"
	"strconv"
	"strings"
)

// UnikraftCompatVersion is the first unikraft version with the current
// command-line format (netdev.ip=, vfs.fstab=, env.vars=).
const UnikraftCompatVersion = "0.16.1"

// UnikraftDefaultDNS is the nameserver of a unikraft guest whose request
// names none (upstream urunc's fixed value; the runtime normally fills in
// the container's own from its resolv.conf).
const UnikraftDefaultDNS = "8.8.8.8"

// unikraftApp is argv[0] of the guest (the word before the libparams).
const unikraftApp = "Unikraft"

// Unikraft boots unikraft unikernels. Command line (>= 0.16.1 or version unset):
//
//	Unikraft [env.vars=[ K=V ... ]] [netdev.ip=IP/PREFIX:[GW]:DNS] [vfs.fstab=[ "initrd0:/:extract:::" ]] [-- ARGS]
//
// older versions: netdev.ipv4_addr=IP netdev.ipv4_gw_addr=GW
// netdev.ipv4_subnet_mask=MASK and vfs.rootfs=initrd, and no environment.
type Unikraft struct{}

func (Unikraft) Name() string           { return "unikraft" }
func (Unikraft) Monitors() []string     { return []string{QEMU, Firecracker} }
func (Unikraft) DefaultMachine() string { return "pc" }

func (u Unikraft) Boot(req Request) (*Boot, error) {
	name := u.Name()
	if err := network(name, req.Net); err != nil {
		return nil, err
	}
	cmd, err := command(name, req, quoteWord)
	if err != nil {
		return nil, err
	}
	current := unikraftCurrent(req.Version)
	words := []string{unikraftApp}
	n := req.Net
	if !n.HasAddress() {
		n = nil // a NIC without an address gets no address parameters
	}
	if current {
		if len(req.Process.Env) > 0 {
			// uklibparam ends a [ ... ] list at the first word whose
			// last character is ']' (after unquoting): such a value
			// would turn the following variables into libparams.
			for _, e := range req.Process.Env {
				if strings.HasSuffix(e, "]") {
					return nil, invalid(name, "environment variable", e, "ends with ']', which would end unikraft's env.vars list early")
				}
			}
			env, err := envWords(name, req.Process.Env, quoteWord)
			if err != nil {
				return nil, err
			}
			words = append(words, "env.vars=[ "+strings.Join(env, " ")+" ]")
		}
		if n != nil {
			// As upstream, a nameserver is always passed.
			dns := n.DNS
			if dns == "" {
				dns = UnikraftDefaultDNS
			}
			words = append(words, fmt.Sprintf("netdev.ip=%s/%d:%s:%s", n.IP, n.PrefixLen, n.Gateway, dns))
		}
		switch {
		case req.RootShare() != nil:
			root := req.RootShare()
			if root.Kind != Share9P {
				return nil, invalid(name, "shared filesystem kind", string(root.Kind), "unikraft guests only mount 9p")
			}
			if root.Tag == "" || strings.ContainsAny(root.Tag, " \t\"':,") {
				return nil, invalid(name, "9p tag", root.Tag, "empty or contains blanks, quotes or separators")
			}
			words = append(words, `vfs.fstab=[ "`+root.Tag+`:/:9pfs:::" ]`)
		case req.Initrd != "":
			words = append(words, `vfs.fstab=[ "initrd0:/:extract:::" ]`)
		}
	} else {
		if n != nil {
			words = append(words, "netdev.ipv4_addr="+n.IP)
			if n.Gateway != "" {
				words = append(words, "netdev.ipv4_gw_addr="+n.Gateway)
			}
			words = append(words, "netdev.ipv4_subnet_mask="+mask(n))
		}
		if err := noSharedFS(name+" "+req.Version, req); err != nil {
			return nil, err
		}
		if req.Initrd != "" {
			words = append(words, "vfs.rootfs=initrd")
		}
	}
	// Unikraft reads its boot parameters only before a "--" that has a
	// word in front of it; without one every word (env.vars=, netdev.ip=)
	// would reach main as an argument. A trailing "--" is harmless.
	words = append(words, "--", cmd)
	b := &Boot{Cmdline: join(words...), Stop: StopSignal, Exit: Exit{Rule: ExitRaw, FailureMarkers: unikraftFailureMarkers()}}
	if req.Hypervisor == QEMU && req.DecodesExit {
		// Unikraft writes 41 (halt) or 42 (crash, failed init) to port
		// 0x501 before it powers off: qemu then exits 83 or 85. The
		// default exit device at 0xf4 stays for guests that use it.
		b.QEMUArgs = []string{"-device", UnikraftDebugExitDevice}
		b.Exit.Rule = ExitUnikraft
	}
	return b, nil
}

// UnikraftDebugExitDevice is where Unikraft 0.15-0.17 on qemu/x86 report
// how they shut down.
const UnikraftDebugExitDevice = "isa-debug-exit,iobase=0x501,iosize=2"

// unikraftFailureMarkers are console lines of a Unikraft guest that has
// failed even though it powered the VM off normally (0.15-0.17: an init
// function's error, a critical message, main() not launched).
func unikraftFailureMarkers() []string {
	return []string{"Init function at ", "] CRIT: [", "Failed to launch application's main()"}
}

// unikraftCurrent reports whether version uses the current command-line
// format: unset, or >= 0.16.1. As upstream, a version that does not parse
// as MAJOR[.MINOR[.PATCH]] (optionally with a leading "v" and a "-suffix")
// also gets the current format.
func unikraftCurrent(version string) bool {
	if version == "" {
		return true
	}
	v, err := parseVersion(version)
	if err != nil {
		return true
	}
	c, _ := parseVersion(UnikraftCompatVersion)
	for i := range v {
		if v[i] != c[i] {
			return v[i] > c[i]
		}
	}
	return true
}

func parseVersion(s string) ([3]int, error) {
	var v [3]int
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return v, fmt.Errorf("more than three components")
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("component %q is not a number", p)
		}
		v[i] = n
	}
	return v, nil
}

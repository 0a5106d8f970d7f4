package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Several unikernels in one pod (docs/network.md). In static mode every
// guest of a namespace gets a tap of its own, routed rather than bridged:
// the tap carries StaticTapIP/32 (the guests' gateway), the guest's own
// address is a /32 route through its tap, and proxy ARP on the taps lets
// guests on the same /24 reach one another through the namespace. Adding
// that route (NLM_F_EXCL) is what claims an address, so two creates in one
// pod cannot take the same one. Each guest's nftables table (urunc_<tap>)
// masquerades its traffic out of eth0 and forwards the ports it publishes
// from eth0's address (and from 127.0.0.1 and eth0's address inside the
// pod, for its sibling containers) to it. Everything of one guest lives on
// its tap or in its table: deleting them leaves the others untouched, and
// the last one leaves the namespace as it was (but ip_forward).
//
// Every tap urunc makes, in either mode, carries an alias (IFLA_IFALIAS)
// naming its owner (a hash of the runtime root), its guest's address and
// the ports it publishes, so a later setup knows the namespace's guests
// and, asking Options.Stale, can remove one left by a container that is
// gone or whose VMM died: a stale guest never blocks the next.

// Port is a port a guest publishes on its pod's address (static mode).
type Port struct {
	Number uint16
	Proto  string // "tcp" or "udp"
}

func (p Port) String() string { return fmt.Sprintf("%d/%s", p.Number, p.Proto) }

// ParsePorts reads a port list: "8080", "8080/tcp", "53/udp", separated
// by commas or blanks; "" is none. A port twice is an error.
func ParsePorts(s string) ([]Port, error) {
	var out []Port
	seen := map[Port]bool{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		num, proto, _ := strings.Cut(f, "/")
		if proto == "" {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil || n == 0 || (proto != "tcp" && proto != "udp") {
			return nil, fmt.Errorf("%w: port %q: want NUMBER[/tcp|/udp], 1 to 65535", ErrInvalidOptions, f)
		}
		p := Port{Number: uint16(n), Proto: proto}
		if seen[p] {
			return nil, fmt.Errorf("%w: port %s given twice", ErrInvalidOptions, p)
		}
		seen[p] = true
		out = append(out, p)
	}
	return out, nil
}

// CheckOptions validates a container's network choices before anything
// is made (create): the mode, its published ports and its address.
func CheckOptions(mode, ports, guestIP string) error {
	ps, err := ParsePorts(ports)
	if err != nil {
		return err
	}
	_, err = Options{ContainerID: "check", Mode: mode, Ports: ps, GuestIP: guestIP}.normalize()
	return err
}

func joinPorts(ps []Port) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// tagPrefix starts the alias of every tap urunc makes.
const tagPrefix = "urunc "

// maxAlias is IFALIASZ-1.
const maxAlias = 255

// tapTag is what a tap's alias says of its guest.
type tapTag struct {
	owner string // ownerTag of the runtime root
	ip    string // the guest's address; "dynamic": eth0's, through tc
	ports []Port
}

const dynamicTag = "dynamic"

func (t tapTag) String() string {
	s := tagPrefix + "o=" + t.owner + " ip=" + t.ip
	if len(t.ports) > 0 {
		s += " p=" + joinPorts(t.ports)
	}
	return s
}

func parseTag(alias string) (tapTag, bool) {
	rest, ok := strings.CutPrefix(alias, tagPrefix)
	if !ok {
		return tapTag{}, false
	}
	var t tapTag
	for _, f := range strings.Fields(rest) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "o":
			t.owner = v
		case "ip":
			t.ip = v
		case "p":
			ps, err := ParsePorts(v)
			if err != nil {
				return tapTag{}, false
			}
			t.ports = ps
		}
	}
	return t, t.owner != "" && t.ip != ""
}

// ownerTag identifies the runtime root that made a tap (12 hex digits
// of its hash: alias space is short); "-" when none was given.
func ownerTag(owner string) string {
	if owner == "" {
		return "-"
	}
	sum := sha256.Sum256([]byte(owner))
	return hex.EncodeToString(sum[:])[:12]
}

// guestTap is one urunc tap of the namespace.
type guestTap struct {
	link netlink.Link
	tag  tapTag
}

// guestTaps lists the namespace's urunc taps (those carrying a tag).
func guestTaps(h *netlink.Handle) ([]guestTap, error) {
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []guestTap
	for _, l := range links {
		if _, ok := l.(*netlink.Tuntap); !ok {
			continue
		}
		if t, ok := parseTag(l.Attrs().Alias); ok {
			out = append(out, guestTap{link: l, tag: t})
		}
	}
	return out, nil
}

// reclaimStale removes the guests of opts.Owner that opts.Stale says are
// left over (their container is gone, or its VMM died), and returns the
// guests left. Taps of other owners are never judged.
func reclaimStale(e *env, opts Options) ([]guestTap, error) {
	taps, err := guestTaps(e.h)
	if err != nil {
		return nil, err
	}
	owner := ownerTag(opts.Owner)
	var live []guestTap
	for _, g := range taps {
		name := g.link.Attrs().Name
		// Our own name too: a leftover of this very id (a create that
		// crashed before recording its tap).
		if opts.Stale != nil && g.tag.owner == owner && opts.Stale(name) {
			if err := teardown(e, name); err != nil {
				return nil, fmt.Errorf("remove the stale guest network %s: %w", name, err)
			}
			continue
		}
		live = append(live, g)
	}
	return live, nil
}

// checkGuests refuses what cannot share the namespace with the guests
// already there: a dynamic guest takes all of eth0's traffic, so it
// excludes every other guest; a port is published by one guest only.
func checkGuests(guests []guestTap, opts Options) error {
	for _, g := range guests {
		name := g.link.Attrs().Name
		if g.tag.ip == dynamicTag {
			return fmt.Errorf("%w: %s's guest has eth0's traffic (network mode dynamic): several unikernels in one pod need com.urunc.network.mode=static on all of them (docs/network.md)", ErrNamespaceBusy, name)
		}
		if opts.Mode == ModeDynamic {
			return fmt.Errorf("%w: the pod already has a guest in network mode static (%s, %s): a dynamic one would take all of eth0's traffic; give this one com.urunc.network.mode=static too (docs/network.md)", ErrNamespaceBusy, name, g.tag.ip)
		}
		for _, p := range opts.Ports {
			for _, q := range g.tag.ports {
				if p == q {
					return fmt.Errorf("%w: port %s is published by another guest of the pod (%s, %s)", ErrNamespaceBusy, p, name, g.tag.ip)
				}
			}
		}
		if opts.GuestIP != "" && g.tag.ip == opts.GuestIP {
			return fmt.Errorf("%w: address %s is another guest's (%s)", ErrNamespaceBusy, opts.GuestIP, name)
		}
	}
	return nil
}

// tagTap writes the tag on the tap.
func tagTap(h *netlink.Handle, tap netlink.Link, t tapTag) error {
	s := t.String()
	if len(s) > maxAlias {
		return fmt.Errorf("%w: too many published ports for the tap's alias (%d bytes, at most %d)", ErrInvalidOptions, len(s), maxAlias)
	}
	if err := h.LinkSetAlias(tap, s); err != nil {
		return fmt.Errorf("set the alias of %s: %w", tap.Attrs().Name, err)
	}
	return nil
}

// staticSubnet is the guests' /24.
func staticSubnet() *net.IPNet {
	return &net.IPNet{IP: net.ParseIP(StaticTapIP).To4().Mask(net4Mask(StaticPrefixLen)), Mask: net4Mask(StaticPrefixLen)}
}

// claimAddress routes the guest's address through tap: want, else the
// first free of 172.16.1.2-254. Adding the route (NLM_F_EXCL) is the claim:
// of two guests trying one address, one gets EEXIST and tries the next.
func claimAddress(h *netlink.Handle, tap netlink.Link, want string) (net.IP, error) {
	var candidates []net.IP
	if want != "" {
		candidates = []net.IP{net.ParseIP(want).To4()}
	} else {
		base := net.ParseIP(StaticTapIP).To4()
		for n := 2; n < 255; n++ {
			candidates = append(candidates, net.IPv4(base[0], base[1], base[2], byte(n)).To4())
		}
	}
	for _, ip := range candidates {
		r := &netlink.Route{LinkIndex: tap.Attrs().Index, Dst: &net.IPNet{IP: ip, Mask: net4Mask(32)}, Scope: netlink.SCOPE_LINK}
		err := h.RouteAdd(r)
		switch {
		case err == nil:
			return ip, nil
		case errors.Is(err, unix.EEXIST) && want == "":
			continue
		case errors.Is(err, unix.EEXIST):
			return nil, fmt.Errorf("%w: address %s is routed to another interface of the namespace", ErrNamespaceBusy, want)
		default:
			return nil, fmt.Errorf("route %s to %s: %w", ip, tap.Attrs().Name, err)
		}
	}
	return nil, fmt.Errorf("%w: every address of %s is taken", ErrNamespaceBusy, staticSubnet())
}

// confSysctl writes 1 to /proc/sys/net/ipv4/conf/<tap>/<key> (in the
// namespace: run it through env.run).
func confSysctl(tap, key string) func() error {
	return func() error {
		p := "/proc/sys/net/ipv4/conf/" + tap + "/" + key
		if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil { //nolint:gosec // G306: a sysctl: it exists, the mode is never applied
			return fmt.Errorf("set %s: %w", p, err)
		}
		return nil
	}
}

// LockNamespace takes an exclusive lock on the network namespace at
// nsPath ("" = the calling thread's), waiting until ctx is done: flock on
// the namespace file itself, which is the same inode by every path, so
// every urunc (in the container's mount namespace or on the host) agrees
// on it and nothing is left behind. The runtime holds it from setting a
// guest's network up until it has recorded the tap, and while tearing one
// down, so a concurrent setup never judges a half-made guest stale.
func LockNamespace(ctx context.Context, nsPath string) (unlock func(), err error) {
	path := nsPath
	if path == "" {
		path = "/proc/thread-self/ns/net"
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return func() {}, nil // gone: nothing to serialise
		}
		return nil, fmt.Errorf("%w: lock %s: %w", ErrNamespace, path, err)
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			var once sync.Once
			return func() { once.Do(func() { unix.Close(fd) }) }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			unix.Close(fd)
			return nil, fmt.Errorf("%w: lock %s: %w", ErrNamespace, path, err)
		}
		select {
		case <-ctx.Done():
			unix.Close(fd)
			return nil, fmt.Errorf("%w: lock %s: another urunc holds it: %w", ErrNamespace, path, ctx.Err())
		case <-tick.C:
		}
	}
}

// sortedPorts is ps sorted (stable aliases and rule order).
func sortedPorts(ps []Port) []Port {
	out := append([]Port(nil), ps...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Proto != out[j].Proto {
			return out[i].Proto < out[j].Proto
		}
		return out[i].Number < out[j].Number
	})
	return out
}

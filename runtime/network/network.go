// Package network gives a unikernel guest the network of its container.
//
// The container's network namespace normally holds one interface, eth0,
// configured by a CNI plugin or by docker's prestart hook. Setup creates a
// tap device next to it and joins the two with tc: an ingress qdisc on
// each and a u32 match-all filter with a mirred egress redirect in each
// direction, so every frame that arrives on eth0 leaves through the tap
// (into the guest) and every frame the guest sends leaves through eth0.
// The guest is configured with eth0's IPv4 address and gateway; the
// namespace's own stack no longer sees eth0's inbound traffic.
//
// Static mode (for Knative) instead routes: the tap gets 172.16.1.1/24, the
// guest 172.16.1.2/24, and traffic from the tap is masqueraded out of eth0
// with an nftables table of its own.
//
// Everything Setup creates is undone when it fails, and Teardown removes
// only what belongs to one container (its tap, the filters that point at
// it, its nftables table), so other taps and other users of the namespace
// are left alone. See docs/network.md.
package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/urunc-dev/urunc/runtime/vmm"
)

// Modes of Options.Mode.
const (
	// ModeDynamic (the default, also "") hands eth0's address to the guest
	// and bridges eth0 and the tap with tc mirred redirects.
	ModeDynamic = "dynamic"
	// ModeStatic gives the guest StaticGuestIP behind a NAT (Knative).
	ModeStatic = "static"
	// ModeNone does nothing: the guest has no NIC.
	ModeNone = "none"
)

// Addresses used by static mode.
const (
	StaticTapIP     = "172.16.1.1"
	StaticGuestIP   = "172.16.1.2"
	StaticPrefixLen = 24
)

// DefaultInterface is the container interface whose network the guest gets.
const DefaultInterface = "eth0"

// TapPrefix starts every tap name that DefaultTapName derives.
const TapPrefix = "tap"

// maxIfName is IFNAMSIZ-1, the longest Linux interface name.
const maxIfName = 15

// Sentinel errors. They are wrapped with %w and a message naming the value.
var (
	ErrInvalidOptions = errors.New("invalid network options")
	ErrNamespace      = errors.New("cannot use network namespace")
	ErrTapExists      = errors.New("tap device name already in use")
	ErrNamespaceBusy  = errors.New("network namespace already serves a guest")
	ErrNoIPv4         = errors.New("interface has no IPv4 address")
	ErrSetup          = errors.New("network setup failed")
	ErrTeardown       = errors.New("network teardown failed")
	ErrNotTap         = errors.New("interface is not a tap device")
)

// Options says what Setup does. The zero value plus ContainerID (or
// TapName) is a valid dynamic-mode request for a root-owned tap.
type Options struct {
	// ContainerID is used to derive TapName and a generated MAC.
	ContainerID string
	// Mode is "" or ModeDynamic, ModeStatic or ModeNone.
	Mode string
	// Interface is the container interface to use; "" means eth0.
	Interface string
	// TapName is the tap device to create; "" means DefaultTapName(ContainerID).
	TapName string
	// UID and GID own the tap, so that a VMM running as the container's
	// user can open it without CAP_NET_ADMIN.
	UID, GID uint32
	// MAC overrides the guest MAC. "" means eth0's MAC in dynamic mode
	// (frames addressed to the pod's MAC reach the guest even when the
	// CNI pinned that MAC in a neighbour entry) and GeneratedMAC(ContainerID)
	// in static mode.
	MAC string
	// Hostname is copied into the result.
	Hostname string
	// Unconnected: when the interface does not exist, still create the
	// tap, up and connected to nothing, and return it without an address:
	// for a guest that must have a NIC (a Solo5 unikernel that declares
	// one) in a container without a network.
	Unconnected bool

	// Owner names who makes the tap (the runtime root): its guests are
	// told apart from other runtimes' in a shared namespace, and only they
	// are ever judged stale.
	Owner string
	// Stale tells whether a tap of the same Owner found in the namespace
	// is left over (its container is gone, or its VMM died): such a guest's
	// network is removed before this one is set up, so it never blocks it.
	// nil: none is.
	Stale func(tapName string) bool
	// Ports are what the guest publishes on the pod's address (static
	// mode; in dynamic mode every port of eth0's address is the guest's).
	Ports []Port
	// GuestIP is the guest's address in static mode ("" = the next free
	// of 172.16.1.2-254), for a guest whose address is built in (Solo5's
	// test_net serves 10.0.0.2).
	GuestIP string

	// failAfter makes setup fail right after the named step (tests only).
	failAfter string
}

// DefaultTapName derives a tap name unique to a container: "tap" and the
// first 12 hex digits of the SHA-256 of the id (15 characters, the
// longest an interface name may be).
func DefaultTapName(containerID string) string {
	sum := sha256.Sum256([]byte(containerID))
	return TapPrefix + hex.EncodeToString(sum[:])[:maxIfName-len(TapPrefix)]
}

// GeneratedMAC derives a stable, locally administered unicast MAC from a
// container id.
func GeneratedMAC(containerID string) string {
	sum := sha256.Sum256([]byte("urunc-mac:" + containerID))
	mac := net.HardwareAddr{0x02, sum[0], sum[1], sum[2], sum[3], sum[4]}
	return mac.String()
}

// normalize fills defaults and validates.
func (o Options) normalize() (Options, error) {
	switch o.Mode {
	case "", ModeDynamic:
		o.Mode = ModeDynamic
	case ModeStatic, ModeNone:
	default:
		return o, fmt.Errorf("%w: mode %q (want %q, %q or %q)", ErrInvalidOptions, o.Mode, ModeDynamic, ModeStatic, ModeNone)
	}
	if o.Interface == "" {
		o.Interface = DefaultInterface
	}
	if err := validIfName(o.Interface); err != nil {
		return o, fmt.Errorf("%w: interface: %w", ErrInvalidOptions, err)
	}
	if o.TapName == "" {
		if o.ContainerID == "" {
			return o, fmt.Errorf("%w: neither TapName nor ContainerID given", ErrInvalidOptions)
		}
		o.TapName = DefaultTapName(o.ContainerID)
	}
	if err := validIfName(o.TapName); err != nil {
		return o, fmt.Errorf("%w: tap name: %w", ErrInvalidOptions, err)
	}
	if o.TapName == o.Interface {
		return o, fmt.Errorf("%w: tap name %q equals the interface name", ErrInvalidOptions, o.TapName)
	}
	if o.GuestIP != "" {
		ip := net.ParseIP(o.GuestIP).To4()
		if ip == nil || o.Mode != ModeStatic {
			return o, fmt.Errorf("%w: guest address %q: an IPv4 address, in network mode static only", ErrInvalidOptions, o.GuestIP)
		}
		if sub := staticSubnet(); sub.Contains(ip) && (ip[3] == 0 || ip[3] == 1 || ip[3] == 255) {
			return o, fmt.Errorf("%w: guest address %s is %s's network, gateway or broadcast address", ErrInvalidOptions, ip, sub)
		}
		o.GuestIP = ip.String()
	}
	o.Ports = sortedPorts(o.Ports)
	if o.MAC != "" {
		hw, err := net.ParseMAC(o.MAC)
		if err != nil || len(hw) != 6 {
			return o, fmt.Errorf("%w: MAC %q", ErrInvalidOptions, o.MAC)
		}
		if hw[0]&1 != 0 {
			return o, fmt.Errorf("%w: MAC %q is a multicast address", ErrInvalidOptions, o.MAC)
		}
		o.MAC = hw.String()
	}
	return o, nil
}

func validIfName(name string) error {
	if name == "" || len(name) > maxIfName {
		return fmt.Errorf("%q must have 1 to %d characters", name, maxIfName)
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/:% \t\n") {
		return fmt.Errorf("%q contains a character not allowed in an interface name", name)
	}
	return nil
}

// Setup configures the guest network in the caller's current network
// namespace (the re-exec child already is in the container's). It returns
// (nil, nil) when the interface does not exist or the mode is "none": the
// guest then runs without a NIC. Any other failure is an error and
// everything done so far has been undone.
func Setup(ctx context.Context, opts Options) (*vmm.Net, error) {
	opts, err := opts.normalize()
	if err != nil || opts.Mode == ModeNone {
		return nil, err
	}
	e, err := currentEnv()
	if err != nil {
		return nil, err
	}
	defer e.close()
	return setup(ctx, e, opts)
}

// SetupIn is Setup for the network namespace at nsPath (e.g.
// /var/run/netns/NAME or /proc/PID/ns/net). The calling goroutine's
// namespace is not changed.
func SetupIn(ctx context.Context, nsPath string, opts Options) (*vmm.Net, error) {
	opts, err := opts.normalize()
	if err != nil || opts.Mode == ModeNone {
		return nil, err
	}
	e, err := pathEnv(nsPath)
	if err != nil {
		return nil, err
	}
	defer e.close()
	return setup(ctx, e, opts)
}

// Teardown removes what Setup created for the tap tapName in the network
// namespace at nsPath: the filters that redirect to it, the ingress qdisc
// of the interface they were on once no filter is left on it, the static
// mode nftables table, and the tap. It is idempotent, and a namespace that
// no longer exists is not an error (its devices are gone with it).
func Teardown(nsPath, tapName string) error {
	if err := validIfName(tapName); err != nil {
		return fmt.Errorf("%w: tap name: %w", ErrInvalidOptions, err)
	}
	e, err := pathEnv(nsPath)
	if errors.Is(err, errNoNamespace) {
		return nil
	}
	if err != nil {
		return err
	}
	defer e.close()
	return teardown(e, tapName)
}

// TeardownCurrent is Teardown in the caller's current network namespace.
func TeardownCurrent(tapName string) error {
	if err := validIfName(tapName); err != nil {
		return fmt.Errorf("%w: tap name: %w", ErrInvalidOptions, err)
	}
	e, err := currentEnv()
	if err != nil {
		return err
	}
	defer e.close()
	return teardown(e, tapName)
}

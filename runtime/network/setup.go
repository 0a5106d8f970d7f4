package network

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"

	"github.com/urunc-dev/urunc/runtime/vmm"
)

// undoStack collects the inverse of every step done so far; on failure
// they run in reverse order (gVisor's "cleanup" objects).
type undoStack []func() error

func (u *undoStack) push(f func() error) { *u = append(*u, f) }

func (u undoStack) run() error {
	var errs []error
	for i := len(u) - 1; i >= 0; i-- {
		if err := u[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ifaceInfo is what the guest inherits from the container interface.
type ifaceInfo struct {
	link    netlink.Link
	ip      net.IP
	prefix  int
	mask    net.IPMask
	gateway net.IP
	mtu     int
	mac     net.HardwareAddr
}

// readIface reads name's IPv4 address, default gateway, MTU and MAC. The
// link is nil when the interface does not exist. needIPv4 makes a missing
// IPv4 address an error.
func readIface(h *netlink.Handle, name string, needIPv4 bool) (*ifaceInfo, error) {
	link, err := h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, nil
		}
		return nil, fmt.Errorf("look up %s: %w", name, err)
	}
	info := &ifaceInfo{link: link, mtu: link.Attrs().MTU, mac: link.Attrs().HardwareAddr}
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", name, err)
	}
	var chosen *netlink.Addr
	for i := range addrs {
		a := &addrs[i]
		if a.IPNet == nil || a.IP.To4() == nil {
			continue
		}
		if chosen == nil || (chosen.Scope != int(netlink.SCOPE_UNIVERSE) && a.Scope == int(netlink.SCOPE_UNIVERSE)) {
			chosen = a
		}
	}
	if chosen == nil {
		if needIPv4 {
			return nil, fmt.Errorf("%w: %s", ErrNoIPv4, name)
		}
		return info, nil
	}
	info.ip = chosen.IP.To4()
	info.mask = chosen.Mask
	info.prefix, _ = chosen.Mask.Size()

	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: link.Attrs().Index}, netlink.RT_FILTER_OIF)
	if err != nil {
		return nil, fmt.Errorf("list routes of %s: %w", name, err)
	}
	for _, r := range routes {
		isDefault := r.Dst == nil
		if r.Dst != nil {
			ones, _ := r.Dst.Mask.Size()
			isDefault = ones == 0 && r.Dst.IP.IsUnspecified()
		}
		if isDefault && r.Gw != nil && (r.Table == 0 || r.Table == 254) {
			info.gateway = r.Gw.To4()
			break
		}
	}
	return info, nil
}

// setup is Setup and SetupIn once the namespace is open.
func setup(ctx context.Context, e *env, opts Options) (n *vmm.Net, err error) {
	h := e.h
	fail := func(step string, err error) error {
		return fmt.Errorf("%w in %s: %s: %w", ErrSetup, e.desc, step, err)
	}
	var undo undoStack
	defer func() {
		if err != nil {
			if uerr := undo.run(); uerr != nil {
				err = fmt.Errorf("%w (and undoing: %w)", err, uerr)
			}
			n = nil
		}
	}()
	step := func(name string) error {
		if opts.failAfter == name {
			return fail(name, errors.New("injected failure"))
		}
		if err := ctx.Err(); err != nil {
			return fail(name, err)
		}
		return nil
	}

	iface, err := readIface(h, opts.Interface, opts.Mode == ModeDynamic)
	if err != nil {
		return nil, fail("read "+opts.Interface, err)
	}
	if iface == nil && !opts.Unconnected {
		return nil, nil // no interface: the guest runs without a NIC
	}
	if iface == nil {
		return unconnectedTap(ctx, e, opts, &undo, step)
	}
	if err := step("read"); err != nil {
		return nil, err
	}

	// The guests already there: stale ones go, the others must agree.
	guests, err := reclaimStale(e, opts)
	if err != nil {
		return nil, fail("reclaim stale guests", err)
	}
	if err := checkGuests(guests, opts); err != nil {
		return nil, fail("check the pod's other guests", err)
	}
	if err := checkIngressFree(h, iface.link); err != nil {
		return nil, fail("check "+opts.Interface+" ingress", err)
	}
	// The tap name must be free. IFF_TUN_EXCL closes the remaining race.
	if _, err := h.LinkByName(opts.TapName); err == nil {
		return nil, fail("check tap name", fmt.Errorf("%w: %q", ErrTapExists, opts.TapName))
	} else if !errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil, fail("check tap name", err)
	}
	if opts.Mode == ModeStatic {
		if err := checkStaticFree(h); err != nil {
			return nil, fail("check static addresses", err)
		}
	}

	// The tap.
	if err := e.run(ctx, func() error { return createTap(opts.TapName, opts.UID, opts.GID) }); err != nil {
		// A context expiry may leave the goroutine to create the tap later;
		// try to remove it anyway.
		_ = delTapByName(h, opts.TapName)
		return nil, fail("create tap "+opts.TapName, err)
	}
	undo.push(func() error { return delTapByName(h, opts.TapName) })
	if err := step("tap"); err != nil {
		return nil, err
	}
	tap, err := h.LinkByName(opts.TapName)
	if err != nil {
		return nil, fail("look up new tap "+opts.TapName, err)
	}
	if err := h.LinkSetMTU(tap, iface.mtu); err != nil {
		return nil, fail(fmt.Sprintf("set MTU %d on %s", iface.mtu, opts.TapName), err)
	}

	out := &vmm.Net{
		TapName:  opts.TapName,
		MTU:      iface.mtu,
		Hostname: opts.Hostname,
	}
	if opts.Mode == ModeStatic {
		ip, err := setupStatic(ctx, e, opts, iface, tap, &undo, step)
		if err != nil {
			return nil, err
		}
		if err := tagTap(h, tap, tapTag{owner: ownerTag(opts.Owner), ip: ip.String(), ports: opts.Ports}); err != nil {
			return nil, fail("tag "+opts.TapName, err)
		}
		mask := net4Mask(StaticPrefixLen)
		out.IP, out.PrefixLen, out.Mask = ip.String(), StaticPrefixLen, net.IP(mask).String()
		if staticSubnet().Contains(ip) {
			out.Gateway = StaticTapIP
		}
		out.MAC = opts.generatedMAC()
	} else {
		if err := tagTap(h, tap, tapTag{owner: ownerTag(opts.Owner), ip: dynamicTag}); err != nil {
			return nil, fail("tag "+opts.TapName, err)
		}
		if err := setupDynamic(e, opts, iface, tap, &undo, step); err != nil {
			return nil, err
		}
		out.IP, out.PrefixLen, out.Mask = iface.ip.String(), iface.prefix, net.IP(net4Mask(iface.prefix)).String()
		if iface.gateway != nil {
			out.Gateway = iface.gateway.String()
		}
		out.MAC = iface.mac.String()
		if len(iface.mac) != 6 {
			out.MAC = opts.generatedMAC()
		}
	}
	if opts.MAC != "" {
		out.MAC = opts.MAC
	}
	if err := h.LinkSetUp(tap); err != nil {
		return nil, fail("set "+opts.TapName+" up", err)
	}
	if err := step("up"); err != nil {
		return nil, err
	}
	return out, nil
}

// unconnectedTap makes the tap of a guest whose container has no network:
// up, default MTU, a generated MAC, no address and nothing redirected to
// or from it.
func unconnectedTap(ctx context.Context, e *env, opts Options, undo *undoStack, step func(string) error) (*vmm.Net, error) {
	h := e.h
	fail := func(what string, err error) error {
		return fmt.Errorf("%w in %s: %s: %w", ErrSetup, e.desc, what, err)
	}
	if _, err := h.LinkByName(opts.TapName); err == nil {
		return nil, fail("check tap name", fmt.Errorf("%w: %q", ErrTapExists, opts.TapName))
	}
	if err := e.run(ctx, func() error { return createTap(opts.TapName, opts.UID, opts.GID) }); err != nil {
		_ = delTapByName(h, opts.TapName)
		return nil, fail("create tap "+opts.TapName, err)
	}
	undo.push(func() error { return delTapByName(h, opts.TapName) })
	tap, err := h.LinkByName(opts.TapName)
	if err != nil {
		return nil, fail("look up new tap "+opts.TapName, err)
	}
	if err := h.LinkSetUp(tap); err != nil {
		return nil, fail("set "+opts.TapName+" up", err)
	}
	if err := step("up"); err != nil {
		return nil, err
	}
	mac := opts.MAC
	if mac == "" {
		mac = opts.generatedMAC()
	}
	return &vmm.Net{TapName: opts.TapName, MAC: mac, MTU: tap.Attrs().MTU, Hostname: opts.Hostname}, nil
}

// setupDynamic joins iface and tap with ingress qdiscs and redirect filters.
func setupDynamic(e *env, opts Options, iface *ifaceInfo, tap netlink.Link, undo *undoStack, step func(string) error) error {
	h := e.h
	fail := func(s string, err error) error {
		return fmt.Errorf("%w in %s: %s: %w", ErrSetup, e.desc, s, err)
	}
	eth := iface.link
	if eth.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(eth); err != nil {
			return fail("set "+opts.Interface+" up", err)
		}
	}
	tapParent, _, err := ensureIngress(h, tap)
	if err != nil {
		return fail("tap ingress qdisc", err)
	}
	// (removed with the tap)
	if err := step("tap-qdisc"); err != nil {
		return err
	}
	ethParent, created, err := ensureIngress(h, eth)
	if err != nil {
		return fail(opts.Interface+" ingress qdisc", err)
	}
	if created {
		undo.push(func() error { return delIngress(h, eth) })
	}
	if err := step("eth-qdisc"); err != nil {
		return err
	}
	prio, err := addRedirect(h, eth, ethParent, tap.Attrs().Index)
	if err != nil {
		return fail("redirect "+opts.Interface+" -> "+opts.TapName, err)
	}
	undo.push(func() error { return delPrio(h, eth, ethParent, prio) })
	if err := step("eth-filter"); err != nil {
		return err
	}
	if _, err := addRedirect(h, tap, tapParent, eth.Attrs().Index); err != nil {
		return fail("redirect "+opts.TapName+" -> "+opts.Interface, err)
	}
	return step("tap-filter")
}

// setupStatic routes the guest: the tap gets StaticTapIP/32 (the guests'
// gateway; every guest's tap has it), proxy ARP (guests reach each other
// through the namespace) and route_localnet (siblings reach a published
// port on 127.0.0.1); the guest's address is claimed by its /32 route
// through the tap; the guest's nftables table masquerades it out of iface
// and forwards its ports to it. It returns the guest's address.
func setupStatic(ctx context.Context, e *env, opts Options, iface *ifaceInfo, tap netlink.Link, undo *undoStack, step func(string) error) (net.IP, error) {
	h := e.h
	fail := func(s string, err error) error {
		return fmt.Errorf("%w in %s: %s: %w", ErrSetup, e.desc, s, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(StaticTapIP).To4(), Mask: net4Mask(32)}}
	if err := h.AddrAdd(tap, addr); err != nil {
		return nil, fail("address "+addr.IPNet.String()+" on "+opts.TapName, err)
	}
	// (removed with the tap, as are its sysctls and routes)
	if err := step("static-addr"); err != nil {
		return nil, err
	}
	for _, key := range []string{"proxy_arp", "route_localnet"} {
		if err := e.run(ctx, confSysctl(opts.TapName, key)); err != nil {
			return nil, fail(key, err)
		}
	}
	if err := e.run(ctx, enableForwarding); err != nil {
		return nil, fail("forwarding", err)
	}
	// A route needs its interface up (no carrier until the VMM opens it).
	if err := h.LinkSetUp(tap); err != nil {
		return nil, fail("set "+opts.TapName+" up", err)
	}
	ip, err := claimAddress(h, tap, opts.GuestIP)
	if err != nil {
		return nil, fail("claim the guest's address", err)
	}
	if err := step("static-route"); err != nil {
		return nil, err
	}
	c, err := e.nft()
	if err != nil {
		return nil, fail("nftables", err)
	}
	if err := addMasquerade(c, opts.TapName, opts.Interface, ip, iface.ip, opts.Ports); err != nil {
		_ = delMasquerade(c, opts.TapName)
		return nil, fail("masquerade", err)
	}
	undo.push(func() error { return delMasquerade(c, opts.TapName) })
	return ip, step("static-nat")
}

// checkIngressFree refuses an interface whose ingress already redirects to
// a live device: a second redirect would never see a frame (one eth0
// cannot feed two guests that share its address). Redirects whose target
// is gone drop every frame; they are leftovers of a crashed runtime and
// are removed.
func checkIngressFree(h *netlink.Handle, eth netlink.Link) error {
	parent, ok, err := ingressFilterParent(h, eth)
	if err != nil || !ok {
		return err
	}
	reds, err := redirects(h, eth, parent)
	if err != nil {
		return err
	}
	for _, r := range reds {
		if r.target > 0 {
			if l, err := h.LinkByIndex(r.target); err == nil {
				return fmt.Errorf("%w: %s already redirects to %s (see docs/network.md, several unikernels in one pod)", ErrNamespaceBusy, eth.Attrs().Name, l.Attrs().Name)
			}
		}
		if r.target == -1 {
			continue // someone else's mixed filter: leave it alone
		}
		if err := delPrio(h, eth, parent, r.prio); err != nil {
			return fmt.Errorf("remove stale redirect: %w", err)
		}
	}
	return nil
}

// checkStaticFree refuses a namespace where an interface other than a
// guest's tap has an address in static mode's /24 (the pod's own network
// uses it: the guests' routes would collide with it).
func checkStaticFree(h *netlink.Handle) error {
	addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	guests, err := guestTaps(h)
	if err != nil {
		return err
	}
	isGuest := map[int]bool{}
	for _, g := range guests {
		isGuest[g.link.Attrs().Index] = true
	}
	static := staticSubnet()
	for _, a := range addrs {
		if a.IPNet != nil && static.Contains(a.IP) && !isGuest[a.LinkIndex] {
			name := fmt.Sprint(a.LinkIndex)
			if l, err := h.LinkByIndex(a.LinkIndex); err == nil {
				name = l.Attrs().Name
			}
			return fmt.Errorf("%w: %s already has %s, inside static mode's %s", ErrNamespaceBusy, name, a.IPNet, static)
		}
	}
	return nil
}

// delTapByName deletes the tap device name if it exists and is a tap.
func delTapByName(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		if errors.As(err, new(netlink.LinkNotFoundError)) {
			return nil
		}
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if _, ok := l.(*netlink.Tuntap); !ok {
		return fmt.Errorf("%w: %s is a %s", ErrNotTap, name, l.Type())
	}
	if err := h.LinkDel(l); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// generatedMAC is GeneratedMAC of the container id (of the tap name when
// no id was given).
func (o Options) generatedMAC() string {
	if o.ContainerID != "" {
		return GeneratedMAC(o.ContainerID)
	}
	return GeneratedMAC(o.TapName)
}

func net4Mask(prefix int) net.IPMask { return net.CIDRMask(prefix, 32) }

package network

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// teardown is Teardown and TeardownCurrent once the namespace is open.
//
// Order matters: the redirect filters are found by their target's ifindex,
// so they go before the tap. Filters whose target no longer exists (a
// previous teardown that stopped half way, a crash) drop every frame and
// are removed too; nothing else is touched.
func teardown(e *env, tapName string) error {
	h := e.h
	fail := func(step string, err error) error {
		return fmt.Errorf("%w in %s: %s: %w", ErrTeardown, e.desc, step, err)
	}
	tapIndex := 0
	switch tap, err := h.LinkByName(tapName); {
	case err == nil:
		if _, ok := tap.(*netlink.Tuntap); !ok {
			return fail("check "+tapName, fmt.Errorf("%w: %s is a %s, not removing it", ErrNotTap, tapName, tap.Type()))
		}
		tapIndex = tap.Attrs().Index
	case errors.As(err, new(netlink.LinkNotFoundError)):
	default:
		return fail("look up "+tapName, err)
	}

	links, err := h.LinkList()
	if err != nil {
		return fail("list links", err)
	}
	exists := make(map[int]bool, len(links))
	for _, l := range links {
		exists[l.Attrs().Index] = true
	}
	var errs []error
	for _, l := range links {
		if l.Attrs().Index == tapIndex {
			continue // its qdisc and filters go with it
		}
		if err := removeRedirects(h, l, tapIndex, exists); err != nil {
			errs = append(errs, err)
		}
	}

	if c, err := e.nft(); err != nil {
		errs = append(errs, fmt.Errorf("nftables: %w", err))
	} else if err := delMasquerade(c, tapName); err != nil && !nftUnsupported(err) {
		errs = append(errs, err)
	}

	if err := delTapByName(h, tapName); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fail("remove "+tapName, err)
	}
	return nil
}

// removeRedirects deletes the redirect filters on l's ingress hook that
// point at tapIndex or at a device that no longer exists, and then l's
// ingress qdisc if no filter at all is left on it (a clsact qdisc, which
// this package never creates, is left alone).
func removeRedirects(h *netlink.Handle, l netlink.Link, tapIndex int, exists map[int]bool) error {
	parent, ok, err := ingressFilterParent(h, l)
	if err != nil || !ok {
		return err
	}
	reds, err := redirects(h, l, parent)
	if err != nil {
		return err
	}
	removed := false
	for _, r := range reds {
		mine := tapIndex != 0 && r.target == tapIndex
		dangling := r.target == 0 || (r.target > 0 && !exists[r.target])
		if !mine && !dangling {
			continue
		}
		if err := delPrio(h, l, parent, r.prio); err != nil {
			return err
		}
		removed = true
	}
	if !removed || parent != ingressHandle {
		return nil
	}
	n, err := filterCount(h, l, parent)
	if err != nil {
		return err
	}
	if n == 0 {
		return delIngress(h, l)
	}
	return nil
}

// nftUnsupported: the kernel has no nftables, so there is nothing to remove.
func nftUnsupported(err error) bool {
	return errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EOPNOTSUPP)
}

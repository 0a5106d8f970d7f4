package network

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ingressHandle is the ingress qdisc's handle, ffff: (MakeHandle(0xffff, 0)).
const ingressHandle uint32 = 0xffff0000

// ingressFilterParent returns the parent that ingress filters of link
// attach to: ffff: for an ingress qdisc, ffff:fff2 for a clsact qdisc.
// ok is false when the link has neither.
func ingressFilterParent(h *netlink.Handle, link netlink.Link) (parent uint32, ok bool, err error) {
	qdiscs, err := h.QdiscList(link)
	if err != nil {
		return 0, false, fmt.Errorf("list qdiscs of %s: %w", link.Attrs().Name, err)
	}
	for _, q := range qdiscs {
		switch q.(type) {
		case *netlink.Ingress:
			return ingressHandle, true, nil
		case *netlink.Clsact:
			return netlink.HANDLE_MIN_INGRESS, true, nil
		}
	}
	return 0, false, nil
}

// ensureIngress adds an ingress qdisc to link unless it already has an
// ingress or clsact qdisc. created says whether one was added.
func ensureIngress(h *netlink.Handle, link netlink.Link) (parent uint32, created bool, err error) {
	parent, ok, err := ingressFilterParent(h, link)
	if err != nil || ok {
		return parent, false, err
	}
	q := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: link.Attrs().Index,
		Handle:    ingressHandle,
		Parent:    netlink.HANDLE_INGRESS,
	}}
	if err := h.QdiscAdd(q); err != nil {
		return 0, false, fmt.Errorf("add ingress qdisc to %s: %w", link.Attrs().Name, err)
	}
	return ingressHandle, true, nil
}

// delIngress removes link's ingress qdisc (and with it its filters).
func delIngress(h *netlink.Handle, link netlink.Link) error {
	q := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: link.Attrs().Index,
		Handle:    ingressHandle,
		Parent:    netlink.HANDLE_INGRESS,
	}}
	if err := h.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("delete ingress qdisc of %s: %w", link.Attrs().Name, err)
	}
	return nil
}

// addRedirect adds a u32 match-all filter on link's ingress hook that
// redirects every frame to the egress of the interface with index target.
// The kernel picks a priority below every existing one, so the filter sits
// alone in its own priority; the priority is returned.
func addRedirect(h *netlink.Handle, link netlink.Link, parent uint32, target int) (uint16, error) {
	f := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: link.Attrs().Index,
			Parent:    parent,
			Protocol:  unix.ETH_P_ALL,
		},
		Actions: []netlink.Action{&netlink.MirredAction{
			ActionAttrs:  netlink.ActionAttrs{Action: netlink.TC_ACT_STOLEN},
			MirredAction: netlink.TCA_EGRESS_REDIR,
			Ifindex:      target,
		}},
	}
	if err := h.FilterAdd(f); err != nil {
		return 0, fmt.Errorf("add redirect filter %s -> ifindex %d: %w", link.Attrs().Name, target, err)
	}
	reds, err := redirects(h, link, parent)
	if err != nil {
		return 0, err
	}
	for _, r := range reds {
		if r.target == target {
			return r.prio, nil
		}
	}
	return 0, fmt.Errorf("redirect filter %s -> ifindex %d not found after adding it", link.Attrs().Name, target)
}

// redirect is one filter priority on an ingress hook whose filters all
// redirect (mirred egress) to target; target 0 means the target device
// is gone (such a filter drops every frame).
type redirect struct {
	prio   uint16
	target int
}

// redirects lists the filter priorities on link's ingress hook that carry
// a mirred egress redirect, with their target. A priority that mixes
// targets or other actions is reported with target -1 (not ours).
func redirects(h *netlink.Handle, link netlink.Link, parent uint32) ([]redirect, error) {
	filters, err := h.FilterList(link, parent)
	if err != nil {
		return nil, fmt.Errorf("list filters of %s: %w", link.Attrs().Name, err)
	}
	type acc struct {
		target  int
		seen    bool
		foreign bool
	}
	byPrio := map[uint16]*acc{}
	var order []uint16
	for _, f := range filters {
		prio := f.Attrs().Priority
		a := byPrio[prio]
		if a == nil {
			a = &acc{}
			byPrio[prio] = a
			order = append(order, prio)
		}
		u, ok := f.(*netlink.U32)
		if !ok {
			a.foreign = true
			continue
		}
		for _, act := range u.Actions {
			m, ok := act.(*netlink.MirredAction)
			if !ok || m.MirredAction != netlink.TCA_EGRESS_REDIR {
				a.foreign = true
				continue
			}
			if a.seen && a.target != m.Ifindex {
				a.foreign = true
			}
			a.seen, a.target = true, m.Ifindex
		}
	}
	var out []redirect
	for _, prio := range order {
		a := byPrio[prio]
		switch {
		case !a.seen:
			continue
		case a.foreign:
			out = append(out, redirect{prio: prio, target: -1})
		default:
			out = append(out, redirect{prio: prio, target: a.target})
		}
	}
	return out, nil
}

// delPrio deletes every filter of one priority on link's ingress hook.
func delPrio(h *netlink.Handle, link netlink.Link, parent uint32, prio uint16) error {
	f := &netlink.U32{FilterAttrs: netlink.FilterAttrs{
		LinkIndex: link.Attrs().Index,
		Parent:    parent,
		Priority:  prio,
		Protocol:  unix.ETH_P_ALL,
	}}
	if err := h.FilterDel(f); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete filter priority %d of %s: %w", prio, link.Attrs().Name, err)
	}
	return nil
}

// filterCount counts the filters left on link's ingress hook.
func filterCount(h *netlink.Handle, link netlink.Link, parent uint32) (int, error) {
	filters, err := h.FilterList(link, parent)
	if err != nil {
		return 0, fmt.Errorf("list filters of %s: %w", link.Attrs().Name, err)
	}
	return len(filters), nil
}

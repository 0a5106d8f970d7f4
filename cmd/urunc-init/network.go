//go:build linux

package main

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/urunc-dev/urunc/runtime/linuxboot"
)

func loopbackUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("network: lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("network: lo up: %w", err)
	}
	return nil
}

// setupNetwork configures the guest interface with netlink (the Debian
// kernel has no IP autoconfiguration, so ip= cannot do it).
func setupNetwork(log logger, n linuxboot.Network) error {
	if err := loopbackUp(); err != nil {
		return err
	}
	name := n.Interface
	if name == "" {
		name = linuxboot.DefaultInterface
	}
	var link netlink.Link
	deadline := time.Now().Add(3 * time.Second)
	for {
		var err error
		link, err = netlink.LinkByName(name)
		if err == nil {
			break
		}
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) || time.Now().After(deadline) {
			return fmt.Errorf("network: interface %s: %w (does the VMM attach a virtio-net device?)", name, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n.MTU > 0 {
		if err := netlink.LinkSetMTU(link, n.MTU); err != nil {
			return fmt.Errorf("network: %s mtu %d: %w", name, n.MTU, err)
		}
	}
	ip := net.ParseIP(n.IP)
	bits := 32
	if ip.To4() == nil {
		bits = 128
	} else {
		ip = ip.To4()
	}
	ipnet := &net.IPNet{IP: ip, Mask: net.CIDRMask(n.PrefixLen, bits)}
	if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: ipnet}); err != nil {
		return fmt.Errorf("network: %s address %s: %w", name, ipnet, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("network: %s up: %w", name, err)
	}
	if n.Gateway != "" {
		gw := net.ParseIP(n.Gateway)
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw}
		if !ipnet.Contains(gw) {
			r.Flags = int(netlink.FLAG_ONLINK)
		}
		if err := netlink.RouteAdd(r); err != nil {
			return fmt.Errorf("network: default route via %s: %w", gw, err)
		}
	}
	log.printf("network: %s %s gw %q mtu %d", name, ipnet, n.Gateway, n.MTU)
	return nil
}

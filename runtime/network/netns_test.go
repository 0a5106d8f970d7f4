package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/urunc-dev/urunc/internal/testenv"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// The tests below need root: they create named network namespaces and a
// veth pair per test ("peer" namespace: veth0 10.199.0.1/24; "container"
// namespace: eth0 10.199.0.2/24, default via 10.199.0.1, MTU 1400), and
// touch nothing outside them.

const (
	peerIP  = "10.199.0.1"
	ctrIP   = "10.199.0.2"
	testMTU = 1400
)

type testNS struct {
	name, path string
}

func requireRoot(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t) // creates network namespaces, veth pairs and tap devices
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("needs /dev/net/tun: %v", err)
	}
}

// inThread runs fn on a locked OS thread that joined ns; the thread is
// thrown away afterwards.
func inThread(ns netns.NsHandle, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if ns >= 0 {
			if err := netns.Set(ns); err != nil {
				done <- err
				return
			}
		}
		done <- fn()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		return errors.New("timed out")
	}
}

func newNS(t *testing.T, role string) *testNS {
	t.Helper()
	requireRoot(t)
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "urunc-nt-" + role + "-" + hex.EncodeToString(suffix)
	err := inThread(-1, func() error {
		h, err := netns.NewNamed(name)
		if err == nil {
			h.Close()
		}
		return err
	})
	if err != nil {
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	ns := &testNS{name: name, path: filepath.Join("/var/run/netns", name)}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			t.Logf("delete netns %s: %v", name, err)
		}
	})
	// bring lo up: harmless, and what a container has
	h := ns.handle(t)
	if lo, err := h.LinkByName("lo"); err == nil {
		_ = h.LinkSetUp(lo)
	}
	return ns
}

func (ns *testNS) handle(t *testing.T) *netlink.Handle {
	t.Helper()
	fd, err := netns.GetFromPath(ns.path)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	h, err := netlink.NewHandleAt(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func (ns *testNS) fd(t *testing.T) netns.NsHandle {
	t.Helper()
	fd, err := netns.GetFromPath(ns.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fd.Close() })
	return fd
}

// newPair makes a container namespace with eth0 and a peer namespace with
// the other end of the veth.
func newPair(t *testing.T) (ctr, peer *testNS) {
	t.Helper()
	ctr, peer = newNS(t, "c"), newNS(t, "p")
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: "veth0", MTU: testMTU, Namespace: netlink.NsFd(peer.fd(t))},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(ctr.fd(t)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Skipf("cannot create a veth pair here: %v", err)
	}
	configure := func(ns *testNS, name, ip string) netlink.Link {
		h := ns.handle(t)
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetMTU(l, testMTU); err != nil {
			t.Fatal(err)
		}
		addr, _ := netlink.ParseAddr(ip + "/24")
		if err := h.AddrAdd(l, addr); err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	configure(peer, "veth0", peerIP)
	eth := configure(ctr, "eth0", ctrIP)
	h := ctr.handle(t)
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: net.ParseIP(peerIP)}); err != nil {
		t.Fatal(err)
	}
	return ctr, peer
}

// snapshot describes everything this package could leave in a namespace.
func snapshot(t *testing.T, ns *testNS) string {
	t.Helper()
	h := ns.handle(t)
	links, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		a := l.Attrs()
		out = append(out, fmt.Sprintf("link %s %s mtu %d", a.Name, l.Type(), a.MTU))
		qs, err := h.QdiscList(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.Type() == "ingress" || q.Type() == "clsact" {
				out = append(out, fmt.Sprintf("qdisc %s %s", a.Name, q.Type()))
				parent, _, err := ingressFilterParent(h, l)
				if err != nil {
					t.Fatal(err)
				}
				fs, err := h.FilterList(l, parent)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range fs {
					out = append(out, fmt.Sprintf("filter %s %s prio %d", a.Name, f.Type(), f.Attrs().Priority))
				}
			}
		}
		addrs, _ := h.AddrList(l, netlink.FAMILY_V4)
		for _, ad := range addrs {
			out = append(out, fmt.Sprintf("addr %s %s", a.Name, ad.IPNet))
		}
		if a.Alias != "" {
			out = append(out, fmt.Sprintf("alias %s %q", a.Name, a.Alias))
		}
	}
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		out = append(out, "route "+r.String())
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(ns.fd(t))))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		out = append(out, "nft table "+tb.Name)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// checkRedirect asserts that link's ingress carries exactly one redirect,
// to target.
func checkRedirect(t *testing.T, h *netlink.Handle, link, target string) {
	t.Helper()
	l, err := h.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := h.LinkByName(target)
	if err != nil {
		t.Fatal(err)
	}
	parent, ok, err := ingressFilterParent(h, l)
	if err != nil || !ok {
		t.Fatalf("%s has no ingress qdisc (%v)", link, err)
	}
	reds, err := redirects(h, l, parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(reds) != 1 || reds[0].target != tl.Attrs().Index {
		t.Fatalf("%s redirects = %+v, want one to %s (ifindex %d)", link, reds, target, tl.Attrs().Index)
	}
}

func TestSetupInDynamic(t *testing.T) {
	ctr, _ := newPair(t)
	before := snapshot(t, ctr)
	h := ctr.handle(t)
	eth, _ := h.LinkByName("eth0")

	n, err := SetupIn(ctx(t), ctr.path, Options{ContainerID: "ctr-dyn", UID: 1234, GID: 5678, Hostname: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	if n == nil {
		t.Fatal("nil network with eth0 present")
	}
	want := DefaultTapName("ctr-dyn")
	if n.TapName != want || n.IP != ctrIP || n.PrefixLen != 24 || n.Mask != "255.255.255.0" ||
		n.Gateway != peerIP || n.MTU != testMTU || n.MAC != eth.Attrs().HardwareAddr.String() || n.DNS != "" || n.Hostname != "h1" {
		t.Fatalf("network = %+v", n)
	}
	l, err := h.LinkByName(want)
	if err != nil {
		t.Fatal(err)
	}
	tap, ok := l.(*netlink.Tuntap)
	if !ok {
		t.Fatalf("%s is a %s", want, l.Type())
	}
	if tap.Owner != 1234 || tap.Group != 5678 || tap.MTU != testMTU || tap.Mode != netlink.TUNTAP_MODE_TAP ||
		tap.Flags&netlink.TUNTAP_VNET_HDR == 0 || tap.Flags&netlink.TUNTAP_NO_PI == 0 ||
		tap.Flags&netlink.TUNTAP_MULTI_QUEUE != 0 || tap.NonPersist || tap.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("tap = owner %d group %d mtu %d mode %d flags %#x nonpersist %v up %v",
			tap.Owner, tap.Group, tap.MTU, tap.Mode, tap.Flags, tap.NonPersist, tap.Attrs().Flags&net.FlagUp != 0)
	}
	checkRedirect(t, h, "eth0", want)
	checkRedirect(t, h, want, "eth0")

	if err := Teardown(ctr.path, n.TapName); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, ctr); after != before {
		t.Fatalf("teardown left something:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if err := Teardown(ctr.path, n.TapName); err != nil {
		t.Fatalf("second teardown: %v", err)
	}
}

func TestSetupCurrentNamespace(t *testing.T) {
	ctr, _ := newPair(t)
	before := snapshot(t, ctr)
	fd := ctr.fd(t)
	var n *vmm.Net
	err := inThread(fd, func() error {
		var err error
		n, err = Setup(ctx(t), Options{TapName: "urtap0", Interface: "eth0"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == nil || n.TapName != "urtap0" || n.IP != ctrIP {
		t.Fatalf("network = %+v", n)
	}
	checkRedirect(t, ctr.handle(t), "eth0", "urtap0")
	if err := inThread(fd, func() error { return TeardownCurrent("urtap0") }); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, ctr); after != before {
		t.Fatalf("teardown left something:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestNoInterface(t *testing.T) {
	ns := newNS(t, "e")
	before := snapshot(t, ns)
	n, err := SetupIn(ctx(t), ns.path, Options{ContainerID: "c"})
	if n != nil || err != nil {
		t.Fatalf("no eth0: got %+v, %v; want nil, nil", n, err)
	}
	n, err = SetupIn(ctx(t), ns.path, Options{ContainerID: "c", Mode: ModeStatic})
	if n != nil || err != nil {
		t.Fatalf("no eth0, static: got %+v, %v; want nil, nil", n, err)
	}
	if after := snapshot(t, ns); after != before {
		t.Fatalf("setup without eth0 changed the namespace:\n%s", after)
	}
}

func TestNoIPv4IsAnError(t *testing.T) {
	ctr, _ := newPair(t)
	h := ctr.handle(t)
	eth, _ := h.LinkByName("eth0")
	addr, _ := netlink.ParseAddr(ctrIP + "/24")
	if err := h.AddrDel(eth, addr); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, ctr)
	if _, err := SetupIn(ctx(t), ctr.path, Options{ContainerID: "c"}); !errors.Is(err, ErrNoIPv4) || !errors.Is(err, ErrSetup) {
		t.Fatalf("err = %v, want ErrSetup wrapping ErrNoIPv4", err)
	}
	if after := snapshot(t, ctr); after != before {
		t.Fatalf("failed setup left something:\n%s", after)
	}
}

// makeTap creates a persistent tap in ns the way another program would.
func makeTap(t *testing.T, ns *testNS, name string) {
	t.Helper()
	if err := inThread(ns.fd(t), func() error { return createTap(name, 0, 0) }); err != nil {
		t.Fatal(err)
	}
}

func TestUnrelatedTapSurvives(t *testing.T) {
	ctr, _ := newPair(t)
	makeTap(t, ctr, "tapX")
	h := ctr.handle(t)
	if _, err := h.LinkByName("tapX"); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, ctr)
	n, err := SetupIn(ctx(t), ctr.path, Options{ContainerID: "with-tapx"})
	if err != nil {
		t.Fatalf("an unrelated tapX must not block setup: %v", err)
	}
	checkRedirect(t, h, "eth0", n.TapName)
	if err := Teardown(ctr.path, n.TapName); err != nil {
		t.Fatal(err)
	}
	if _, err := h.LinkByName("tapX"); err != nil {
		t.Fatalf("tapX did not survive teardown: %v", err)
	}
	if after := snapshot(t, ctr); after != before {
		t.Fatalf("teardown left or removed something:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestTapNameCollision(t *testing.T) {
	ctr, _ := newPair(t)
	makeTap(t, ctr, "tapX")
	before := snapshot(t, ctr)
	_, err := SetupIn(ctx(t), ctr.path, Options{TapName: "tapX"})
	if !errors.Is(err, ErrTapExists) || !errors.Is(err, ErrSetup) {
		t.Fatalf("err = %v, want ErrSetup wrapping ErrTapExists", err)
	}
	if after := snapshot(t, ctr); after != before {
		t.Fatalf("failed setup changed the namespace:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// The existing device must also be refused by the kernel (IFF_TUN_EXCL),
	// not silently attached to.
	if err := inThread(ctr.fd(t), func() error { return createTap("tapX", 0, 0) }); !errors.Is(err, ErrTapExists) {
		t.Fatalf("createTap on an existing tap: %v, want ErrTapExists", err)
	}
	// A non-tap device of that name is refused as well.
	h := ctr.handle(t)
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "tapD"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := SetupIn(ctx(t), ctr.path, Options{TapName: "tapD"}); !errors.Is(err, ErrTapExists) {
		t.Fatalf("bridge tapD: %v, want ErrTapExists", err)
	}
	if err := Teardown(ctr.path, "tapD"); !errors.Is(err, ErrNotTap) {
		t.Fatalf("Teardown of a non-tap: %v, want ErrNotTap", err)
	}
	if _, err := h.LinkByName("tapD"); err != nil {
		t.Fatalf("Teardown removed a device that is not a tap: %v", err)
	}
}

func TestFailureMidwayLeavesNothing(t *testing.T) {
	steps := map[string][]string{
		ModeDynamic: {"read", "tap", "tap-qdisc", "eth-qdisc", "eth-filter", "tap-filter", "up"},
		ModeStatic:  {"read", "tap", "static-addr", "static-route", "static-nat", "up"},
	}
	for mode, list := range steps {
		for _, step := range list {
			t.Run(mode+"/"+step, func(t *testing.T) {
				ctr, _ := newPair(t)
				makeTap(t, ctr, "tapX")
				before := snapshot(t, ctr)
				_, err := SetupIn(ctx(t), ctr.path, Options{ContainerID: "mid", Mode: mode, failAfter: step, Ports: []Port{{8123, "tcp"}}})
				if !errors.Is(err, ErrSetup) {
					t.Fatalf("err = %v, want ErrSetup", err)
				}
				if after := snapshot(t, ctr); after != before {
					t.Fatalf("failure after %q left something:\nbefore:\n%s\nafter:\n%s", step, before, after)
				}
			})
		}
	}
}

func TestSecondGuestIsRefused(t *testing.T) {
	ctr, _ := newPair(t)
	h := ctr.handle(t)
	n1, err := SetupIn(ctx(t), ctr.path, Options{ContainerID: "first"})
	if err != nil {
		t.Fatal(err)
	}
	with1 := snapshot(t, ctr)
	_, err = SetupIn(ctx(t), ctr.path, Options{ContainerID: "second"})
	if !errors.Is(err, ErrNamespaceBusy) {
		t.Fatalf("second guest: %v, want ErrNamespaceBusy", err)
	}
	t.Logf("second guest refused: %v", err)
	// Tearing down the second (never set up) must not touch the first.
	if err := Teardown(ctr.path, DefaultTapName("second")); err != nil {
		t.Fatal(err)
	}
	if now := snapshot(t, ctr); now != with1 {
		t.Fatalf("the refused guest disturbed the first:\nbefore:\n%s\nafter:\n%s", with1, now)
	}
	checkRedirect(t, h, "eth0", n1.TapName)
	if err := Teardown(ctr.path, n1.TapName); err != nil {
		t.Fatal(err)
	}
}

func TestStaleRedirectIsCleaned(t *testing.T) {
	ctr, _ := newPair(t)
	before := snapshot(t, ctr)
	h := ctr.handle(t)
	n, err := SetupIn(ctx(t), ctr.path, Options{ContainerID: "crashed"})
	if err != nil {
		t.Fatal(err)
	}
	// Simulate a crash that lost the tap but left eth0's filter behind.
	l, _ := h.LinkByName(n.TapName)
	if err := h.LinkDel(l); err != nil {
		t.Fatal(err)
	}
	// A new guest can still be set up: the dead redirect is replaced.
	n2, err := SetupIn(ctx(t), ctr.path, Options{ContainerID: "next"})
	if err != nil {
		t.Fatalf("setup after a stale redirect: %v", err)
	}
	checkRedirect(t, h, "eth0", n2.TapName)
	if err := Teardown(ctr.path, n2.TapName); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, ctr); after != before {
		t.Fatalf("left something:\n%s", after)
	}
	// And teardown of the crashed container alone also cleans up.
	n, err = SetupIn(ctx(t), ctr.path, Options{ContainerID: "crashed"})
	if err != nil {
		t.Fatal(err)
	}
	l, _ = h.LinkByName(n.TapName)
	_ = h.LinkDel(l)
	if err := Teardown(ctr.path, n.TapName); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, ctr); after != before {
		t.Fatalf("teardown after a crash left something:\n%s", after)
	}
}

// sysctlIn reads a /proc/sys/net file inside ns.
func sysctlIn(t *testing.T, ns *testNS, path string) string {
	t.Helper()
	var v []byte
	if err := inThread(ns.fd(t), func() error {
		var err error
		v, err = os.ReadFile(path)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(v))
}

func TestStatic(t *testing.T) {
	ctr, _ := newPair(t)
	before := snapshot(t, ctr)
	n, err := SetupIn(ctx(t), ctr.path, Options{ContainerID: "knative", Mode: ModeStatic, Owner: "/run/urunc"})
	if err != nil {
		t.Fatal(err)
	}
	if n.IP != StaticGuestIP || n.PrefixLen != 24 || n.Mask != "255.255.255.0" || n.Gateway != StaticTapIP ||
		n.MTU != testMTU || n.MAC != GeneratedMAC("knative") {
		t.Fatalf("network = %+v", n)
	}
	h := ctr.handle(t)
	tap, err := h.LinkByName(n.TapName)
	if err != nil {
		t.Fatal(err)
	}
	// Routed: the gateway's address on the tap, the guest's /32 through it.
	addrs, _ := h.AddrList(tap, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != StaticTapIP+"/32" {
		t.Fatalf("tap addresses = %v", addrs)
	}
	routes, _ := h.RouteList(tap, netlink.FAMILY_V4)
	if len(routes) != 1 || routes[0].Dst.String() != StaticGuestIP+"/32" {
		t.Fatalf("tap routes = %v", routes)
	}
	if a := tap.Attrs().Alias; a != "urunc o="+ownerTag("/run/urunc")+" ip="+StaticGuestIP {
		t.Fatalf("tap alias %q", a)
	}
	for _, k := range []string{"proxy_arp", "route_localnet"} {
		if v := sysctlIn(t, ctr, "/proc/sys/net/ipv4/conf/"+n.TapName+"/"+k); v != "1" {
			t.Fatalf("%s = %s", k, v)
		}
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(ctr.fd(t))))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := hasMasquerade(c, n.TapName); !ok || err != nil {
		t.Fatalf("masquerade table: %v %v", ok, err)
	}
	if err := Teardown(ctr.path, n.TapName); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, ctr); after != before {
		t.Fatalf("teardown left something:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// Several guests in one pod (static mode): each its own address, tap and
// table; what cannot share the pod is refused naming the other guest;
// removing any of them leaves the others exactly as they were.
func TestStaticSeveralGuests(t *testing.T) {
	ctr, _ := newPair(t)
	before := snapshot(t, ctr)
	static := func(id, ip string, ports ...Port) Options {
		return Options{ContainerID: id, Mode: ModeStatic, Owner: "/run/urunc", GuestIP: ip, Ports: ports}
	}
	a, err := SetupIn(ctx(t), ctr.path, static("a", "", Port{8123, "tcp"}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := SetupIn(ctx(t), ctr.path, static("c", "10.0.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	if a.IP != "172.16.1.2" || a.Gateway != StaticTapIP || c.IP != "10.0.0.2" || c.Gateway != "" {
		t.Fatalf("a %+v, c %+v", a, c)
	}
	withAC := snapshot(t, ctr)
	b, err := SetupIn(ctx(t), ctr.path, static("b", "", Port{53, "udp"}, Port{8124, "tcp"}))
	if err != nil {
		t.Fatal(err)
	}
	if b.IP != "172.16.1.3" {
		t.Fatalf("b %+v", b)
	}
	for _, bad := range []struct {
		name string
		opts Options
		want string
	}{
		{"a port taken", static("d", "", Port{8123, "tcp"}), "port 8123/tcp is published by another guest of the pod (" + a.TapName + ", 172.16.1.2)"},
		{"an address taken", static("e", "10.0.0.2"), "address 10.0.0.2 is another guest's (" + c.TapName + ")"},
		{"a dynamic guest", Options{ContainerID: "f", Owner: "/run/urunc"}, "a dynamic one would take all of eth0's traffic"},
	} {
		withABC := snapshot(t, ctr)
		_, err := SetupIn(ctx(t), ctr.path, bad.opts)
		if !errors.Is(err, ErrNamespaceBusy) || !strings.Contains(err.Error(), bad.want) {
			t.Fatalf("%s: %v, want ErrNamespaceBusy with %q", bad.name, err, bad.want)
		}
		if now := snapshot(t, ctr); now != withABC {
			t.Fatalf("%s: the refused guest changed the pod:\n%s", bad.name, now)
		}
	}
	// The same port number over another protocol is another port.
	if _, err := SetupIn(ctx(t), ctr.path, static("g", "", Port{8123, "udp"})); err != nil {
		t.Fatal(err)
	}
	if err := Teardown(ctr.path, DefaultTapName("g")); err != nil {
		t.Fatal(err)
	}
	if err := Teardown(ctr.path, b.TapName); err != nil {
		t.Fatal(err)
	}
	if now := snapshot(t, ctr); now != withAC {
		t.Fatalf("removing b disturbed a and c:\nbefore:\n%s\nafter:\n%s", withAC, now)
	}
	for _, n := range []string{a.TapName, c.TapName} {
		if err := Teardown(ctr.path, n); err != nil {
			t.Fatal(err)
		}
	}
	if after := snapshot(t, ctr); after != before {
		t.Fatalf("left something:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// A dynamic guest excludes static ones.
	d, err := SetupIn(ctx(t), ctr.path, Options{ContainerID: "dyn", Owner: "/run/urunc"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SetupIn(ctx(t), ctr.path, static("s", "")); !errors.Is(err, ErrNamespaceBusy) || !strings.Contains(err.Error(), "com.urunc.network.mode=static") {
		t.Fatalf("static beside dynamic: %v", err)
	}
	if err := Teardown(ctr.path, d.TapName); err != nil {
		t.Fatal(err)
	}
}

// A guest left over (its container gone, its VMM dead: Options.Stale
// says so) never blocks the next: its network is removed first. Only the
// same owner's taps are judged.
func TestStaleGuestIsReclaimed(t *testing.T) {
	ctr, _ := newPair(t)
	before := snapshot(t, ctr)
	stale := map[string]bool{}
	opts := func(id, mode, owner string, ports ...Port) Options {
		return Options{ContainerID: id, Mode: mode, Owner: owner, Ports: ports, Stale: func(tap string) bool { return stale[tap] }}
	}
	old, err := SetupIn(ctx(t), ctr.path, opts("old", ModeStatic, "/run/urunc", Port{8123, "tcp"}))
	if err != nil {
		t.Fatal(err)
	}
	stale[old.TapName] = true
	next, err := SetupIn(ctx(t), ctr.path, opts("next", ModeStatic, "/run/urunc", Port{8123, "tcp"}))
	if err != nil {
		t.Fatalf("a stale guest blocked the next: %v", err)
	}
	if next.IP != StaticGuestIP {
		t.Fatalf("the stale guest's address was not freed: %+v", next)
	}
	if _, err := ctr.handle(t).LinkByName(old.TapName); err == nil {
		t.Fatal("the stale tap is still there")
	}
	// Another runtime's guest is never judged, stale or not.
	other, err := SetupIn(ctx(t), ctr.path, opts("other", ModeStatic, "/var/run/docker/runtime-runc/moby", Port{9000, "tcp"}))
	if err != nil {
		t.Fatal(err)
	}
	stale[other.TapName] = true
	if _, err := SetupIn(ctx(t), ctr.path, opts("mine", ModeStatic, "/run/urunc", Port{9000, "tcp"})); !errors.Is(err, ErrNamespaceBusy) {
		t.Fatalf("another owner's guest was judged: %v", err)
	}
	for _, n := range []string{next.TapName, other.TapName} {
		if err := Teardown(ctr.path, n); err != nil {
			t.Fatal(err)
		}
	}
	// Dynamic mode too: a stale guest's redirect does not block the next.
	dyn, err := SetupIn(ctx(t), ctr.path, opts("dyn-old", ModeDynamic, "/run/urunc"))
	if err != nil {
		t.Fatal(err)
	}
	stale[dyn.TapName] = true
	dyn2, err := SetupIn(ctx(t), ctr.path, opts("dyn-next", ModeDynamic, "/run/urunc"))
	if err != nil {
		t.Fatalf("a stale dynamic guest blocked the next: %v", err)
	}
	checkRedirect(t, ctr.handle(t), "eth0", dyn2.TapName)
	if err := Teardown(ctr.path, dyn2.TapName); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, ctr); after != before {
		t.Fatalf("left something:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// LockNamespace: one holder at a time, by any path of the namespace.
func TestLockNamespace(t *testing.T) {
	ctr, _ := newPair(t)
	unlock, err := LockNamespace(ctx(t), ctr.path)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var err2 error
	inThread(ctr.fd(t), func() error { _, err2 = LockNamespace(short, ""); return nil })
	if !errors.Is(err2, context.DeadlineExceeded) {
		t.Fatalf("second lock from inside the namespace: %v", err2)
	}
	unlock()
	var unlock2 func()
	inThread(ctr.fd(t), func() error { unlock2, err2 = LockNamespace(ctx(t), ""); return err2 })
	if err2 != nil {
		t.Fatal(err2)
	}
	unlock2()
	if u, err := LockNamespace(ctx(t), "/nonexistent/netns"); err != nil {
		t.Fatalf("a namespace that is gone: %v", err)
	} else {
		u()
	}
}

func TestParsePorts(t *testing.T) {
	good := map[string]string{"": "", "8080": "8080/tcp", "53/udp, 8080/TCP": "53/udp,8080/tcp", "1 65535/udp": "1/tcp,65535/udp"}
	for in, want := range good {
		ps, err := ParsePorts(in)
		if err != nil || joinPorts(ps) != want {
			t.Errorf("ParsePorts(%q) = %v, %v; want %s", in, ps, err, want)
		}
	}
	for _, bad := range []string{"0", "65536", "80/sctp", "http", "80,80/tcp", "-1"} {
		if _, err := ParsePorts(bad); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("ParsePorts(%q): %v", bad, err)
		}
	}
	for _, tag := range []tapTag{{owner: "abc", ip: "dynamic"}, {owner: "-", ip: "172.16.1.9", ports: []Port{{53, "udp"}, {80, "tcp"}}}} {
		got, ok := parseTag(tag.String())
		if !ok || got.String() != tag.String() {
			t.Errorf("tag %q read back as %q", tag, got)
		}
	}
	if _, ok := parseTag("some other alias"); ok {
		t.Error("a foreign alias was taken for a tag")
	}
}

func TestExistingClsactIsReusedAndKept(t *testing.T) {
	ctr, _ := newPair(t)
	h := ctr.handle(t)
	eth, _ := h.LinkByName("eth0")
	q := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: eth.Attrs().Index, Handle: ingressHandle, Parent: netlink.HANDLE_CLSACT}}
	if err := h.QdiscAdd(q); err != nil {
		t.Skipf("no clsact qdisc here: %v", err)
	}
	before := snapshot(t, ctr)
	n, err := SetupIn(ctx(t), ctr.path, Options{ContainerID: "clsact"})
	if err != nil {
		t.Fatal(err)
	}
	checkRedirect(t, h, "eth0", n.TapName)
	if err := Teardown(ctr.path, n.TapName); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, ctr); after != before {
		t.Fatalf("teardown changed the clsact setup:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestNotANetworkNamespace(t *testing.T) {
	requireRoot(t)
	if _, err := SetupIn(ctx(t), "/proc/self/ns/mnt", Options{ContainerID: "c"}); !errors.Is(err, ErrNamespace) {
		t.Fatalf("mount namespace: %v, want ErrNamespace", err)
	}
	f := filepath.Join(t.TempDir(), "gone")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := SetupIn(ctx(t), f, Options{ContainerID: "c"}); !errors.Is(err, ErrNamespace) {
		t.Fatalf("plain file: %v, want ErrNamespace", err)
	}
	if err := Teardown(f, "tap0"); err != nil {
		t.Fatalf("Teardown on an unmounted namespace file: %v", err)
	}
}

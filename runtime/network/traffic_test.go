package network

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/vmm"
)

// A tiny "guest": it attaches to the tap like a VMM does (IFF_VNET_HDR, so
// every frame carries a 10-byte virtio-net header), answers ARP for its
// address and hands received UDP datagrams to the test.

const vnetHdrLen = 10

type udpPkt struct {
	srcMAC  net.HardwareAddr
	src     net.IP
	sport   uint16
	dport   uint16
	payload []byte
}

type guest struct {
	f    *os.File
	mac  net.HardwareAddr
	ip   net.IP
	arps chan net.IP // sender IPs of ARP requests for our address
	udp  chan udpPkt
}

func attachGuest(t *testing.T, ns netns.NsHandle, tap string, mac string, ip string) *guest {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	err = inThread(ns, func() error {
		var err error
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(tap)
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return err
		}
		return unix.SetNonblock(fd, true)
	})
	if err != nil {
		t.Fatalf("attach to %s: %v", tap, err)
	}
	g := &guest{
		f:    os.NewFile(uintptr(fd), tap),
		mac:  hw,
		ip:   net.ParseIP(ip).To4(),
		arps: make(chan net.IP, 16),
		udp:  make(chan udpPkt, 16),
	}
	c, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); g.loop(c) }()
	t.Cleanup(func() { cancel(); <-done; g.f.Close() })
	return g
}

func (g *guest) loop(ctx context.Context) {
	buf := make([]byte, 65536)
	for ctx.Err() == nil {
		_ = g.f.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := g.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return
		}
		if n < vnetHdrLen+14 {
			continue
		}
		g.handle(buf[vnetHdrLen:n])
	}
}

func (g *guest) handle(fr []byte) {
	switch binary.BigEndian.Uint16(fr[12:14]) {
	case 0x0806: // ARP
		a := fr[14:]
		if len(a) < 28 || binary.BigEndian.Uint16(a[6:8]) != 1 || !bytes.Equal(a[24:28], g.ip) {
			return
		}
		sha, spa := append([]byte(nil), a[8:14]...), append([]byte(nil), a[14:18]...)
		select {
		case g.arps <- net.IP(spa):
		default:
		}
		reply := make([]byte, 0, 42)
		reply = append(reply, sha...)
		reply = append(reply, g.mac...)
		reply = append(reply, 0x08, 0x06)
		reply = append(reply, 0, 1, 8, 0, 6, 4, 0, 2)
		reply = append(reply, g.mac...)
		reply = append(reply, g.ip...)
		reply = append(reply, sha...)
		reply = append(reply, spa...)
		g.write(reply)
	case 0x0800: // IPv4
		ip := fr[14:]
		if len(ip) < 20 || ip[9] != 17 {
			return
		}
		ihl := int(ip[0]&0x0f) * 4
		if !bytes.Equal(ip[16:20], g.ip) || len(ip) < ihl+8 {
			return
		}
		u := ip[ihl:]
		ulen := int(binary.BigEndian.Uint16(u[4:6]))
		if ulen < 8 || ulen > len(u) {
			return
		}
		p := udpPkt{
			srcMAC:  append(net.HardwareAddr(nil), fr[6:12]...),
			src:     append(net.IP(nil), ip[12:16]...),
			sport:   binary.BigEndian.Uint16(u[0:2]),
			dport:   binary.BigEndian.Uint16(u[2:4]),
			payload: append([]byte(nil), u[8:ulen]...),
		}
		select {
		case g.udp <- p:
		default:
		}
	}
}

func (g *guest) write(frame []byte) {
	_, _ = g.f.Write(append(make([]byte, vnetHdrLen), frame...))
}

// sendUDP writes an Ethernet/IPv4/UDP frame into the tap, i.e. the guest
// transmits it.
func (g *guest) sendUDP(dstMAC net.HardwareAddr, dst net.IP, sport, dport uint16, payload []byte) {
	ip := make([]byte, 20+8+len(payload))
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:4], uint16(len(ip)))
	copy(ip[12:16], g.ip)
	copy(ip[16:20], dst.To4())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i : i+2]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:12], ^uint16(sum))
	u := ip[20:]
	binary.BigEndian.PutUint16(u[0:2], sport)
	binary.BigEndian.PutUint16(u[2:4], dport)
	binary.BigEndian.PutUint16(u[4:6], uint16(8+len(payload))) // checksum 0: none
	copy(u[8:], payload)
	fr := append(append(append([]byte(nil), dstMAC...), g.mac...), 0x08, 0x00)
	g.write(append(fr, ip...))
}

// listenIn opens a UDP socket in ns (the socket keeps its namespace).
func listenIn(t *testing.T, ns netns.NsHandle, addr string) net.PacketConn {
	t.Helper()
	var pc net.PacketConn
	err := inThread(ns, func() error {
		var err error
		pc, err = net.ListenPacket("udp4", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// TestTrafficDynamic: a datagram from the peer (the "host" side of the
// veth) to the container address arrives on the tap, preceded by the
// peer's ARP request; the guest's reply written into the tap comes out
// of the veth peer.
func TestTrafficDynamic(t *testing.T) {
	ctr, peer := newPair(t)
	n, err := SetupIn(ctx(t), ctr.path, Options{ContainerID: "traffic"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Teardown(ctr.path, n.TapName) })
	g := attachGuest(t, ctr.fd(t), n.TapName, n.MAC, n.IP)
	pc := listenIn(t, peer.fd(t), peerIP+":0")

	c := ctx(t)
	dst := &net.UDPAddr{IP: net.ParseIP(ctrIP), Port: 7777}
	var got udpPkt
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		if _, err := pc.WriteTo([]byte("ping"), dst); err != nil {
			t.Fatal(err)
		}
		select {
		case got = <-g.udp:
			break wait
		case <-tick.C:
		case <-c.Done():
			t.Fatal("no datagram from the peer reached the tap")
		}
	}
	select {
	case from := <-g.arps:
		if !from.Equal(net.ParseIP(peerIP)) {
			t.Fatalf("ARP request from %s, want %s", from, peerIP)
		}
	default:
		t.Fatal("the peer's ARP request did not reach the tap")
	}
	if string(got.payload) != "ping" || !got.src.Equal(net.ParseIP(peerIP)) || got.dport != 7777 {
		t.Fatalf("guest got %+v", got)
	}

	g.sendUDP(got.srcMAC, got.src, 7777, got.sport, []byte("pong"))
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	k, from, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no reply from the guest at the peer: %v", err)
	}
	if string(buf[:k]) != "pong" || from.String() != ctrIP+":7777" {
		t.Fatalf("peer got %q from %s", buf[:k], from)
	}
}

// TestTrafficStatic: the guest at 172.16.1.2 reaches the peer through the
// masquerade (the peer sees the container's eth0 address) and the reply
// finds its way back.
func TestTrafficStatic(t *testing.T) {
	ctr, peer := newPair(t)
	n, err := SetupIn(ctx(t), ctr.path, Options{ContainerID: "traffic-static", Mode: ModeStatic})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Teardown(ctr.path, n.TapName) })
	tap, err := ctr.handle(t).LinkByName(n.TapName)
	if err != nil {
		t.Fatal(err)
	}
	g := attachGuest(t, ctr.fd(t), n.TapName, n.MAC, n.IP)
	pc := listenIn(t, peer.fd(t), peerIP+":0")
	port := uint16(pc.LocalAddr().(*net.UDPAddr).Port)

	buf := make([]byte, 100)
	var from net.Addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.sendUDP(tap.Attrs().HardwareAddr, net.ParseIP(peerIP), 5555, port, []byte("hello"))
		_ = pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		k, a, err := pc.ReadFrom(buf)
		if err == nil {
			if string(buf[:k]) != "hello" {
				t.Fatalf("peer got %q", buf[:k])
			}
			from = a
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the guest's datagram did not reach the peer")
		}
	}
	if ua := from.(*net.UDPAddr); !ua.IP.Equal(net.ParseIP(ctrIP)) {
		t.Fatalf("peer saw source %s, want the masqueraded %s", from, ctrIP)
	}
	if _, err := pc.WriteTo([]byte("back"), from); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-g.udp:
		if string(p.payload) != "back" || !p.src.Equal(net.ParseIP(peerIP)) || p.dport != 5555 {
			t.Fatalf("guest got %+v", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reply did not come back through the NAT")
	}
}

// TestTrafficSeveralGuests: two guests in one pod (static mode), each
// publishing a port: the peer reaches each at the pod's address, a
// sibling in the pod on 127.0.0.1, and one guest the other through the
// namespace.
func TestTrafficSeveralGuests(t *testing.T) {
	ctr, peer := newPair(t)
	var nets [2]*vmm.Net
	var gs [2]*guest
	for i := range nets {
		n, err := SetupIn(ctx(t), ctr.path, Options{ContainerID: fmt.Sprintf("traffic-pod-%d", i), Mode: ModeStatic,
			Ports: []Port{{uint16(7001 + i), "udp"}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = Teardown(ctr.path, n.TapName) })
		nets[i] = n
		gs[i] = attachGuest(t, ctr.fd(t), n.TapName, n.MAC, n.IP)
	}
	recv := func(g *guest, what string) udpPkt {
		t.Helper()
		select {
		case p := <-g.udp:
			return p
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: nothing arrived", what)
		}
		return udpPkt{}
	}
	// From outside, each port reaches its guest, and the reply comes back
	// from the pod's address.
	pc := listenIn(t, peer.fd(t), peerIP+":0")
	for i, g := range gs {
		port := 7001 + i
		if _, err := pc.WriteTo([]byte(fmt.Sprintf("to-%d", i)), &net.UDPAddr{IP: net.ParseIP(ctrIP), Port: port}); err != nil {
			t.Fatal(err)
		}
		p := recv(g, fmt.Sprintf("guest %d from the peer", i))
		if string(p.payload) != fmt.Sprintf("to-%d", i) || int(p.dport) != port || !p.src.Equal(net.ParseIP(peerIP)) {
			t.Fatalf("guest %d got %+v", i, p)
		}
		g.sendUDP(p.srcMAC, p.src, uint16(port), p.sport, []byte("reply"))
		buf := make([]byte, 64)
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, from, err := pc.ReadFrom(buf)
		if err != nil || string(buf[:k]) != "reply" || from.String() != fmt.Sprintf("%s:%d", ctrIP, port) {
			t.Fatalf("peer: %q from %v: %v", buf[:k], from, err)
		}
	}
	// A sibling container of the pod: 127.0.0.1 and the pod's address.
	local := listenIn(t, ctr.fd(t), "0.0.0.0:0")
	for _, dst := range []string{"127.0.0.1", ctrIP} {
		if _, err := local.WriteTo([]byte("sibling"), &net.UDPAddr{IP: net.ParseIP(dst), Port: 7002}); err != nil {
			t.Fatal(err)
		}
		if p := recv(gs[1], "guest 1 from a sibling via "+dst); string(p.payload) != "sibling" || p.dport != 7002 {
			t.Fatalf("guest 1 got %+v", p)
		}
	}
	// Guest 0 to guest 1, through its gateway.
	tap0, _ := ctr.handle(t).LinkByName(nets[0].TapName)
	deadline := time.Now().Add(10 * time.Second)
	for {
		gs[0].sendUDP(tap0.Attrs().HardwareAddr, net.ParseIP(nets[1].IP), 4000, 4001, []byte("neighbour"))
		select {
		case p := <-gs[1].udp:
			if string(p.payload) != "neighbour" || !p.src.Equal(net.ParseIP(nets[0].IP)) {
				t.Fatalf("guest 1 got %+v", p)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("guest 0 did not reach guest 1")
		}
	}
}

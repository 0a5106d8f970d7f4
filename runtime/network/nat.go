package network

import (
	"errors"
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// natTableName is the nftables table (family ip) that static mode creates
// for one tap. One table per container makes teardown a single, exact
// delete that cannot touch anyone else's rules.
func natTableName(tapName string) string {
	return "urunc_" + tapName
}

// ifnameData is an interface name as nftables compares it (IFNAMSIZ bytes,
// NUL padded).
func ifnameData(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// addMasquerade creates table ip urunc_<tap> with a nat postrouting chain
// holding `iifname <tap> oifname <out> masquerade`, and, for each port
// the guest publishes:
//
//	prerouting: iifname <out> ip daddr <pod> <proto> dport N dnat to <guest>:N
//	output:     ip daddr <pod> <proto> dport N dnat to <guest>:N
//	            ip daddr 127.0.0.1 <proto> dport N dnat to <guest>:N
//	postrouting: oifname <tap> ip saddr 127.0.0.0/8 masquerade
//
// so the port is the guest's at the pod's address from outside and, for
// the pod's other containers, at the pod's address and on localhost (the
// last rule gives such a connection the tap's address as its source:
// 127.0.0.1 cannot leave the namespace's loopback otherwise).
func addMasquerade(c *nftables.Conn, tapName, out string, guest, pod net.IP, ports []Port) error {
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: natTableName(tapName)})
	post := c.AddChain(&nftables.Chain{
		Name:     "postrouting",
		Table:    t,
		Type:     nftables.ChainTypeNAT,
		Hooknum:  nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityNATSource,
	})
	c.AddRule(&nftables.Rule{
		Table: t,
		Chain: post,
		Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameData(tapName)},
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameData(out)},
			&expr.Masq{},
		},
	})
	if len(ports) > 0 && guest != nil && pod != nil {
		pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
		output := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
		for _, p := range ports {
			dnat := func(prefix []expr.Any, daddr net.IP) []expr.Any {
				return append(prefix,
					&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: daddr.To4()},
					&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoNumber(p.Proto)}},
					&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(p.Number)},
					&expr.Immediate{Register: 1, Data: guest.To4()},
					&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(p.Number)},
					&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2},
				)
			}
			fromOut := []expr.Any{
				&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameData(out)},
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: dnat(fromOut, pod)})
			c.AddRule(&nftables.Rule{Table: t, Chain: output, Exprs: dnat(nil, pod)})
			c.AddRule(&nftables.Rule{Table: t, Chain: output, Exprs: dnat(nil, net.IPv4(127, 0, 0, 1))})
		}
		c.AddRule(&nftables.Rule{
			Table: t,
			Chain: post,
			Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameData(tapName)},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 0, 0, 0}, Xor: []byte{0, 0, 0, 0}},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{127, 0, 0, 0}},
				&expr.Masq{},
			},
		})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: add masquerade %s -> %s: %w", tapName, out, err)
	}
	return nil
}

func protoNumber(proto string) byte {
	if proto == "udp" {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

// delMasquerade deletes the table of tapName if it exists.
func delMasquerade(c *nftables.Conn, tapName string) error {
	name := natTableName(tapName)
	t, err := c.ListTableOfFamily(name, nftables.TableFamilyIPv4)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("nftables: look up table %s: %w", name, err)
	}
	c.DelTable(t)
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("nftables: delete table %s: %w", name, err)
	}
	return nil
}

// hasMasquerade reports whether the table of tapName exists.
func hasMasquerade(c *nftables.Conn, tapName string) (bool, error) {
	_, err := c.ListTableOfFamily(natTableName(tapName), nftables.TableFamilyIPv4)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return err == nil, err
}

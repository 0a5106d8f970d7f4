package network

import (
	"errors"
	"fmt"

	"github.com/google/nftables"
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
// holding `iifname <tap> oifname <out> masquerade`.
func addMasquerade(c *nftables.Conn, tapName, out string) error {
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: natTableName(tapName)})
	ch := c.AddChain(&nftables.Chain{
		Name:     "postrouting",
		Table:    t,
		Type:     nftables.ChainTypeNAT,
		Hooknum:  nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityNATSource,
	})
	c.AddRule(&nftables.Rule{
		Table: t,
		Chain: ch,
		Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameData(tapName)},
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameData(out)},
			&expr.Masq{},
		},
	})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: add masquerade %s -> %s: %w", tapName, out, err)
	}
	return nil
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

package vmm

import (
	"bytes"
	"encoding/json"
	"net"
	"path"
	"strconv"
)

// DefaultBlockMountPoint is where rumprun mounts the block device when the
// configuration names no mount point.
const DefaultBlockMountPoint = "/data"

// Rumprun boots rumprun unikernels on solo5. The command line is rumprun's
// JSON-like configuration (keys may repeat, "env" once per variable):
//
//	{"cmdline":"ARGS","env":"K=V",...,"net":{"if":"ukvmif0","cloner":"True","type":"inet",
//	 "method":"static","addr":IP,"mask":"PREFIX","gw":GW},
//	 "blk":{"source":"etfs","path":"/dev/ld0a","fstype":"blk","mountpoint":"/data"}}
//
// solo5 devices: --net:tap=, --block:rootfs=.
type Rumprun struct{}

func (Rumprun) Name() string           { return "rumprun" }
func (Rumprun) Monitors() []string     { return []string{HVT, SPT} }
func (Rumprun) DefaultMachine() string { return "pc" }

type rumprunNet struct {
	If      string `json:"if"`
	Cloner  string `json:"cloner"`
	Type    string `json:"type"`
	Method  string `json:"method"`
	Addr    string `json:"addr"`
	Mask    string `json:"mask"`
	Gateway string `json:"gw,omitempty"`
}

type rumprunBlk struct {
	Source     string `json:"source"`
	Path       string `json:"path"`
	FSType     string `json:"fstype"`
	Mountpoint string `json:"mountpoint"`
}

func (r Rumprun) Boot(req Request) (*Boot, error) {
	name := r.Name()
	if err := network(name, req.Net); err != nil {
		return nil, err
	}
	if err := noSharedFS(name, req); err != nil {
		return nil, err
	}
	cmd, err := command(name, req, quoteWord)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`{"cmdline":`)
	writeJSON(&b, cmd)
	for _, e := range req.Process.Env {
		b.WriteString(`,"env":`)
		writeJSON(&b, e)
	}
	if n := req.Net; n.HasAddress() {
		b.WriteString(`,"net":`)
		writeJSON(&b, rumprunNet{If: "ukvmif0", Cloner: "True", Type: "inet", Method: "static",
			Addr: n.IP, Mask: strconv.Itoa(onLinkPrefix(n)), Gateway: n.Gateway})
	}
	if d := req.Disk(); d != nil {
		mp := d.MountPoint
		if mp == "" {
			mp = DefaultBlockMountPoint
		}
		if !path.IsAbs(mp) {
			return nil, invalid(name, "block mount point", mp, "not an absolute path")
		}
		b.WriteString(`,"blk":`)
		writeJSON(&b, rumprunBlk{Source: "etfs", Path: "/dev/ld0a", FSType: "blk", Mountpoint: mp})
	}
	b.WriteString("}")
	return &Boot{Cmdline: b.String(), Stop: StopSignal}, nil
}

// writeJSON appends v as JSON without HTML escaping (rumprun does not
// decode \u0026 and friends).
func writeJSON(b *bytes.Buffer, v any) {
	var tmp bytes.Buffer
	enc := json.NewEncoder(&tmp)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // strings and flat structs of strings always encode
	}
	b.Write(bytes.TrimSuffix(tmp.Bytes(), []byte("\n")))
}

// onLinkPrefix is n's prefix length, shortened just enough for the gateway
// to be on the guest's link: rumprun only accepts an on-link gateway, and
// some CNI plugins give the container a gateway outside its subnet
// (upstream urunc works around it with a fixed /1 mask).
func onLinkPrefix(n *Net) int {
	p := n.PrefixLen
	ip, gw := net.ParseIP(n.IP).To4(), net.ParseIP(n.Gateway).To4()
	if ip == nil || gw == nil {
		return p
	}
	for p > 0 && !ip.Mask(net.CIDRMask(p, 32)).Equal(gw.Mask(net.CIDRMask(p, 32))) {
		p--
	}
	return p
}

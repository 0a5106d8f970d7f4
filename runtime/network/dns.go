package network

import (
	"bufio"
	"bytes"
	"net"
	"strings"
)

// DefaultDNS is the nameserver a guest gets when the container's
// resolv.conf names none it can reach (upstream urunc always passes 8.8.8.8).
const DefaultDNS = "8.8.8.8"

// NameserverFromResolvConf returns the first IPv4 nameserver of a
// resolv.conf that a guest can use: loopback addresses (systemd-resolved's
// 127.0.0.53, a local dnsmasq) only mean something on the host and are
// skipped, as are IPv6 addresses (the unikraft command line carries IPv4)
// and malformed lines. "" if none.
func NameserverFromResolvConf(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		ip := net.ParseIP(f[1])
		if ip == nil || ip.To4() == nil || ip.IsLoopback() || ip.IsUnspecified() {
			continue
		}
		return ip.To4().String()
	}
	return ""
}

package network

import (
	"io"
	"os"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const resolvConf = "/etc/resolv.conf"

// GuestDNS returns the nameserver a guest with a network gets, and where
// it came from: the resolv.conf the container would see (a mount at
// /etc/resolv.conf among the spec's mounts, which is how Docker and
// Kubernetes give it, else /etc/resolv.conf inside the rootfs, symlinks
// resolved within it), or DefaultDNS.
func GuestDNS(mounts []specs.Mount, rootfs string) (string, string) {
	var cands []string
	for i := len(mounts) - 1; i >= 0; i-- { // the last mount is on top
		if m := mounts[i]; m.Destination == resolvConf && m.Source != "" {
			cands = append(cands, m.Source)
			break
		}
	}
	if rootfs != "" {
		if p, err := securejoin.SecureJoin(rootfs, resolvConf); err == nil {
			cands = append(cands, p)
		}
	}
	for _, c := range cands {
		if dns := NameserverFromResolvConf(readSmall(c)); dns != "" {
			return dns, c
		}
	}
	return DefaultDNS, "default"
}

// readSmall reads at most 64 KiB of a regular file; nil on any problem.
func readSmall(path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(f, 64<<10))
	return data
}

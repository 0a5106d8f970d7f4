package network

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// tapFlags: a tap (ethernet frames), no packet-information header, one
// queue, with a virtio-net header in front of each frame (what QEMU's
// -netdev tap and firecracker expect). IFF_ONE_QUEUE is a no-op on current
// kernels but is what upstream asks for.
const tapFlags = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_ONE_QUEUE | unix.IFF_VNET_HDR

// createTap creates a persistent tap named name owned by uid/gid in the
// calling thread's network namespace (the one /dev/net/tun is opened in).
// IFF_TUN_EXCL makes it fail instead of attaching to an existing device
// of the same name.
func createTap(name string, uid, gid uint32) error {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/net/tun: %w", err)
	}
	defer unix.Close(fd) // a tap that was not made persistent disappears here
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("tap %q: %w", name, err)
	}
	ifr.SetUint16(tapFlags | unix.IFF_TUN_EXCL)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%w: %q: %w", ErrTapExists, name, err)
		}
		return fmt.Errorf("TUNSETIFF %q: %w", name, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETOWNER, int(uid)); err != nil {
		return fmt.Errorf("TUNSETOWNER %q %d: %w", name, uid, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETGROUP, int(gid)); err != nil {
		return fmt.Errorf("TUNSETGROUP %q %d: %w", name, gid, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return fmt.Errorf("TUNSETPERSIST %q: %w", name, err)
	}
	return nil
}

// enableForwarding turns on IPv4 forwarding in the calling thread's
// network namespace (static mode routes between the tap and eth0).
func enableForwarding() error {
	const p = "/proc/sys/net/ipv4/ip_forward"
	cur, err := os.ReadFile(p)
	if err == nil && len(cur) > 0 && cur[0] == '1' {
		return nil
	}
	if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil { //nolint:gosec // G306: a sysctl: it exists, the mode is never applied
		return fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	return nil
}

package guests

import (
	"fmt"
	"strings"

	"github.com/urunc-dev/urunc/runtime/vm/vmtypes"
)

// Linux boots a Linux kernel as a microVM. Two cases:
//
// Prepared: the lifecycle built an initrd with urunc's guest init and a
// kernel command line (runtime/guests/linuxboot), and put the devices of
// the shared root filesystem in the request's ExtraArgs. That is
// recognised by a non-empty Request.Cmdline together with a root
// filesystem device (-fsdev, -virtfs or vhost-user-fs) in ExtraArgs; the
// command line is then used exactly as given. qemu only.
//
// Otherwise (a user-supplied initrd or block image, as upstream urunc):
//
//	panic=-1 console=ttyS0 ROOT [ip=IP::GW:MASK:HOSTNAME:eth0:off] [K=V ...] init=ARGV0 [-- ARGS]
//
// ROOT is "root=/dev/vda rw" for a block image, "root=/dev/ram0 rw" (and
// rdinit= instead of init=) for an initrd alone, or the 9p / virtio-fs
// root of Request.SharedFS. The program is Process.Args (or, when that is
// empty, the words of Request.Cmdline).
type Linux struct{}

func (Linux) Name() string           { return "linux" }
func (Linux) Monitors() []string     { return []string{QEMU, Firecracker, CloudHypervisor} }
func (Linux) DefaultMachine() string { return "microvm" }

// Prepared reports whether req carries a command line and root filesystem
// devices prepared by runtime/guests/linuxboot.
func Prepared(req vmtypes.Request) bool {
	return req.Guest == "linux" && req.Cmdline != "" && HasRootFSDevice(req.ExtraArgs)
}

// HasRootFSDevice reports whether qemu arguments already share a root
// filesystem (9p or virtio-fs).
func HasRootFSDevice(args []string) bool {
	for _, a := range args {
		if a == "-fsdev" || a == "-virtfs" || strings.HasPrefix(a, "vhost-user-fs") {
			return true
		}
	}
	return false
}

func (l Linux) Boot(req vmtypes.Request) (*Boot, error) {
	name := l.Name()
	if Prepared(req) {
		if req.Hypervisor != QEMU {
			return nil, fmt.Errorf("%w: a linux guest sharing the container rootfs runs on qemu only, not %s (give it an initrd or a block image)",
				vmtypes.ErrUnsupportedPair, req.Hypervisor)
		}
		if strings.ContainsAny(req.Cmdline, "\n\r\x00") {
			return nil, invalid(name, "cmdline", req.Cmdline, "contains a newline or NUL")
		}
		return &Boot{Cmdline: req.Cmdline, Prepared: true, GracefulStop: "acpi"}, nil
	}
	if err := network(name, req.Network); err != nil {
		return nil, err
	}
	words := []string{"panic=-1", "console=ttyS0"}
	initParam := "init="
	switch fs := req.SharedFS; {
	case req.Block != "":
		words = append(words, "root=/dev/vda", "rw")
	case fs != nil:
		if req.Hypervisor != QEMU {
			return nil, fmt.Errorf("%w: a shared root filesystem needs qemu, not %s", vmtypes.ErrUnsupportedPair, req.Hypervisor)
		}
		if fs.Tag == "" || strings.ContainsAny(fs.Tag, " \t\"',") || hasControl(fs.Tag) {
			return nil, invalid(name, "shared filesystem tag", fs.Tag, "empty or contains blanks, quotes or commas")
		}
		switch fs.Kind {
		case "9p":
			words = append(words, "root="+fs.Tag, "rootfstype=9p", "rootflags=trans=virtio,version=9p2000.L", "rw")
		case "virtiofs":
			words = append(words, "root="+fs.Tag, "rootfstype=virtiofs", "rw")
		default:
			return nil, invalid(name, "shared filesystem kind", fs.Kind, "want 9p or virtiofs")
		}
	case req.Initrd != "":
		words = append(words, "root=/dev/ram0", "rw")
		initParam = "rdinit="
	}
	if n := req.Network; n != nil {
		words = append(words, fmt.Sprintf("ip=%s::%s:%s:%s:eth0:off", n.IP, n.Gateway, mask(n), n.Hostname))
	}
	env, err := envWords(name, req.Process.Env, quoteDouble)
	if err != nil {
		return nil, err
	}
	words = append(words, env...)
	argv := req.Process.Args
	if len(argv) == 0 {
		if strings.ContainsAny(req.Cmdline, "\n\r\x00") {
			return nil, invalid(name, "cmdline", req.Cmdline, "contains a newline or NUL")
		}
		argv = strings.Fields(req.Cmdline)
	}
	if len(argv) > 0 {
		if argv[0] == "" || strings.ContainsAny(argv[0], " \t\"'") || hasControl(argv[0]) {
			return nil, invalid(name, "program", argv[0], "empty or contains blanks or quotes")
		}
		words = append(words, initParam+argv[0])
		if len(argv) > 1 {
			words = append(words, "--")
			for _, a := range argv[1:] {
				q, ok := quoteDouble(a)
				if !ok {
					return nil, invalid(name, "argument", a, "cannot be carried on the kernel command line")
				}
				words = append(words, q)
			}
		}
	}
	return &Boot{Cmdline: strings.Join(words, " "), GracefulStop: "acpi"}, nil
}

package vmm

import (
	"fmt"
	"strings"
)

// Linux boots a Linux kernel as a microVM. Two cases:
//
// With Request.Linux: the runtime built an initrd with urunc's guest init
// (runtime/linuxboot) and its kernel command line, which is used exactly
// as given; the root filesystem is the root Share (9p or virtio-fs) or
// the Disk. qemu only.
//
// Otherwise (a user-supplied initrd or block image, as upstream urunc):
//
//	panic=-1 console=ttyS0 ROOT [ip=IP::GW:MASK:HOSTNAME:eth0:off] [K=V ...] init=ARGV0 [-- ARGS]
//
// ROOT is "root=/dev/vda rw" for a block image, "root=/dev/ram0 rw" (and
// rdinit= instead of init=) for an initrd alone, or the 9p / virtio-fs
// root share. The program is Process.Args (or, when that is empty, the
// words of Request.Cmdline).
type Linux struct{}

func (Linux) Name() string           { return "linux" }
func (Linux) Monitors() []string     { return []string{QEMU, Firecracker, CloudHypervisor} }
func (Linux) DefaultMachine() string { return "microvm" }

func (l Linux) Boot(req Request) (*Boot, error) {
	if req.Linux != nil {
		if req.Hypervisor != QEMU {
			return nil, fmt.Errorf("%w: a linux guest sharing the container rootfs runs on qemu only, not %s (give it an initrd or a block image)",
				ErrUnsupportedPair, req.Hypervisor)
		}
		// urunc-init reports the program's status through qemu's exit
		// device (runtime/linuxboot/exit.go).
		return &Boot{Cmdline: req.Linux.Cmdline, Stop: StopACPI, Exit: Exit{Rule: ExitLinuxInit}}, nil
	}
	cmdline, err := LinuxCmdline(req)
	if err != nil {
		return nil, err
	}
	return &Boot{Cmdline: cmdline, Stop: StopACPI}, nil
}

// LinuxCmdline is the kernel command line of a Linux guest that is not
// prepared by runtime/linuxboot (upstream urunc's format):
//
//	panic=-1 console=ttyS0 ROOT [ip=IP::GW:MASK:HOSTNAME:eth0:off] [K=V ...] init=ARGV0 [-- ARGS]
//
// This is the one place to change when a custom init takes over (init=
// would then name it and the program move behind it). Every value is
// checked: none can add kernel parameters.
func LinuxCmdline(req Request) (string, error) {
	const name = "linux"
	if err := network(name, req.Net); err != nil {
		return "", err
	}
	words := []string{"panic=-1", "console=ttyS0"}
	initParam := "init="
	switch fs := req.RootShare(); {
	case req.Disk() != nil:
		words = append(words, "root=/dev/vda", "rw")
	case fs != nil:
		if req.Hypervisor != QEMU {
			return "", fmt.Errorf("%w: a shared root filesystem needs qemu, not %s", ErrUnsupportedPair, req.Hypervisor)
		}
		if fs.Tag == "" || strings.ContainsAny(fs.Tag, " \t\"',") {
			return "", invalid(name, "shared filesystem tag", fs.Tag, "empty or contains blanks, quotes or commas")
		}
		switch fs.Kind {
		case Share9P:
			words = append(words, "root="+fs.Tag, "rootfstype=9p", "rootflags=trans=virtio,version=9p2000.L", "rw")
		case ShareVirtiofs:
			words = append(words, "root="+fs.Tag, "rootfstype=virtiofs", "rw")
		default:
			return "", invalid(name, "shared filesystem kind", string(fs.Kind), "want 9p or virtiofs")
		}
	case req.Initrd != "":
		words = append(words, "root=/dev/ram0", "rw")
		initParam = "rdinit="
	}
	if n := req.Net; n.HasAddress() {
		words = append(words, fmt.Sprintf("ip=%s::%s:%s:%s:eth0:off", n.IP, n.Gateway, mask(n), n.Hostname))
	}
	for _, e := range req.Process.Env {
		if k, _, _ := strings.Cut(e, "="); kernelParam(k) {
			return "", invalid(name, "environment variable", e, "the kernel would take it as its own "+k+"= parameter, not pass it to init")
		}
	}
	env, err := envWords(name, req.Process.Env, quoteDouble)
	if err != nil {
		return "", err
	}
	words = append(words, env...)
	argv := req.Process.Args
	if len(argv) == 0 {
		argv = strings.Fields(req.Cmdline)
	}
	if len(argv) > 0 {
		if argv[0] == "" || strings.ContainsAny(argv[0], " \t\"'") {
			return "", invalid(name, "program", argv[0], "empty or contains blanks or quotes")
		}
		words = append(words, initParam+argv[0])
		if len(argv) > 1 {
			words = append(words, "--")
			for _, a := range argv[1:] {
				q, ok := quoteDouble(a)
				if !ok {
					return "", invalid(name, "argument", a, "cannot be carried on the kernel command line")
				}
				words = append(words, q)
			}
		}
	}
	return strings.Join(words, " "), nil
}

// kernelParam reports whether an environment variable name would be
// consumed by the kernel as one of the parameters LinuxCmdline sets (the
// last occurrence wins, so it could replace the root device, the init
// program, the console or the network setup) or as a module parameter
// (a name with a dot), instead of reaching init's environment.
func kernelParam(k string) bool {
	switch k {
	case "panic", "console", "root", "rootfstype", "rootflags", "rootwait", "ro", "rw",
		"ip", "nfsroot", "init", "rdinit":
		return true
	}
	return strings.Contains(k, ".")
}

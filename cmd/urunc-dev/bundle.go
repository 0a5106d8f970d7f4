package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/internal/bundle"
	"github.com/urunc-dev/urunc/runtime/config"
)

// BundleOptions describe a bundle made from a kernel file.
type BundleOptions struct {
	Kernel, Type, Hypervisor, Cmdline, Initrd, Out string
	Annotations                                    map[string]string
}

func bundleCommand() *cli.Command {
	return &cli.Command{
		Name:  "bundle",
		Usage: "make a runnable OCI bundle from a kernel file (or the demo bundles)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "kernel", Usage: "unikernel or Linux kernel image"},
			&cli.StringFlag{Name: "type", Value: "unikraft", Usage: "guest type: unikraft, rumprun, mirage, mewz, hermit, linux, solo5"},
			&cli.StringFlag{Name: "hypervisor", Value: "qemu", Usage: "qemu, firecracker, hvt, spt, cloud-hypervisor"},
			&cli.StringFlag{Name: "cmdline", Usage: "guest command line"},
			&cli.StringFlag{Name: "initrd", Usage: "initrd to ship with the kernel"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "bundle directory to create (with --demo: a directory for the demo bundles)"},
			&cli.StringSliceFlag{Name: "annotation", Usage: "extra annotation key=value (repeatable)"},
			&cli.BoolFlag{Name: "demo", Usage: "make the demo bundles hello and heartbeat from build/unikernel/hello.elf"},
			&cli.StringFlag{Name: "guests", Usage: "with --demo: also bundles of the real Solo5 and Unikraft guests in this directory (../shared/guests), when it exists"},
		},
		Action: func(c *cli.Context) error {
			ann := map[string]string{}
			for _, kv := range c.StringSlice("annotation") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--annotation %q: want key=value", kv)
				}
				ann[k] = v
			}
			if c.Bool("demo") {
				if err := makeDemo(c.String("out"), c.String("kernel")); err != nil {
					return err
				}
				n, err := makeGuestDemos(c.String("out"), c.String("guests"))
				if n > 0 {
					fmt.Fprintf(c.App.Writer, "%d bundles of real guests from %s (urunc finds their tenders through %s)\n", n, c.String("guests"), filepath.Join(c.String("out"), GuestsHostConfig))
				}
				return err
			}
			if c.String("kernel") == "" {
				return fmt.Errorf("--kernel is required (or --demo)")
			}
			return MakeBundle(BundleOptions{
				Kernel: c.String("kernel"), Type: c.String("type"), Hypervisor: c.String("hypervisor"),
				Cmdline: c.String("cmdline"), Initrd: c.String("initrd"), Out: c.String("out"), Annotations: ann,
			})
		},
	}
}

// demoKernel finds the project's test unikernel: build/unikernel/hello.elf
// under the working directory, else beside bin/ of this executable.
func demoKernel() string {
	const rel = "build/unikernel/hello.elf"
	if _, err := os.Stat(rel); err == nil {
		return rel
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "..", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return rel
}

// makeDemo writes out/hello (prints, echoes a word and exits) and
// out/heartbeat (prints "heartbeat N" every second until killed).
func makeDemo(out, kernel string) error {
	if kernel == "" {
		kernel = demoKernel()
	}
	if _, err := os.Stat(kernel); err != nil {
		return fmt.Errorf("demo kernel %s: %w (run make unikernel)", kernel, err)
	}
	for name, cmdline := range map[string]string{"hello": "echo=demo", "heartbeat": "heartbeat"} {
		if err := MakeBundle(BundleOptions{
			Kernel: kernel, Type: "unikraft", Hypervisor: "qemu", Cmdline: cmdline, Out: filepath.Join(out, name),
			Annotations: map[string]string{config.KeyMachine: "microvm"},
		}); err != nil {
			return err
		}
	}
	return nil
}

// GuestsHostConfig is the urunc host configuration makeGuestDemos writes
// beside the bundles: the real Solo5 tenders' paths (they are not on
// PATH). make dev points URUNC_CONFIG at it.
const GuestsHostConfig = "urunc-config.json"

// guestDemo is a demo bundle of a real guest (shared/guests/README.md).
type guestDemo struct {
	name, kernel, typ, hv, version, cmdline string
	kvm                                     bool // needs /dev/kvm
}

// guestDemos: Solo5's test_hello on both tenders and test_net (runs until
// killed); Unikraft's helloworld, its stock 0.17 build that fails under
// TCG (the console shows why), and httpreply.
func guestDemos() []guestDemo {
	return []guestDemo{
		{name: "solo5-hello-spt", kernel: "solo5-v0.12.1/test_hello.spt", typ: "solo5", hv: "spt", cmdline: "Hello_Solo5"},
		{name: "solo5-hello-hvt", kernel: "solo5-v0.12.1/test_hello.hvt", typ: "solo5", hv: "hvt", cmdline: "Hello_Solo5", kvm: true},
		{name: "solo5-net-spt", kernel: "solo5-v0.12.1/test_net.spt", typ: "solo5", hv: "spt"},
		{name: "unikraft-hello", kernel: "unikraft-0.17.0/helloworld_qemu-x86_64", typ: "unikraft", hv: "qemu", version: "0.17.0", cmdline: "hello from the console"},
		{name: "unikraft-hwrng", kernel: "unikraft-0.17.0/helloworld-hwrng_qemu-x86_64", typ: "unikraft", hv: "qemu", version: "0.17.0"},
		{name: "unikraft-http", kernel: "unikraft-0.15.0/httpreply_qemu-x86_64", typ: "unikraft", hv: "qemu", version: "0.15.0"},
	}
}

// makeGuestDemos writes the real guests' bundles into out when the guests
// directory holds them, and the host configuration naming the tenders.
// It returns how many it wrote; a missing directory is not an error.
func makeGuestDemos(out, guests string) (int, error) {
	if guests == "" {
		return 0, nil
	}
	if _, err := os.Stat(guests); err != nil {
		return 0, nil
	}
	kvm := false
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
		f.Close()
		kvm = true
	}
	n := 0
	for _, g := range guestDemos() {
		kernel := filepath.Join(guests, g.kernel)
		if _, err := os.Stat(kernel); err != nil || (g.kvm && !kvm) {
			continue
		}
		ann := map[string]string{}
		if g.version != "" {
			ann[config.KeyVersion] = g.version
		}
		if err := MakeBundle(BundleOptions{Kernel: kernel, Type: g.typ, Hypervisor: g.hv, Cmdline: g.cmdline, Out: filepath.Join(out, g.name), Annotations: ann}); err != nil {
			return n, err
		}
		n++
	}
	monitors := map[string]any{}
	for _, t := range []string{"hvt", "spt"} {
		if p, err := filepath.Abs(filepath.Join(guests, "solo5-v0.12.1", "solo5-"+t)); err == nil {
			if _, err := os.Stat(p); err == nil {
				monitors[t] = map[string]string{"path": p}
			}
		}
	}
	data, _ := json.MarshalIndent(map[string]any{"monitors": monitors}, "", "  ")
	return n, os.WriteFile(filepath.Join(out, GuestsHostConfig), append(data, '\n'), 0o644) //nolint:gosec // G306: a host configuration, 0644 like /etc/urunc/config.json
}

// MakeBundle writes Out/config.json and Out/rootfs with the kernel (and
// initrd) under /unikernel and the configuration twice, as upstream
// images carry it: annotations and a base64 urunc.json.
func MakeBundle(o BundleOptions) error {
	kernelIn := bundle.KernelDir + "/" + filepath.Base(o.Kernel)
	cfg := map[string]string{config.KeyType: o.Type, config.KeyHypervisor: o.Hypervisor}
	if o.Cmdline != "" {
		cfg[config.KeyCmdline] = o.Cmdline
	}
	// process.args is what an image's entrypoint would be: the guest's
	// command line (urunc passes it to the unikernel), or the kernel path.
	args := strings.Fields(o.Cmdline)
	if len(args) == 0 {
		args = []string{kernelIn}
	}
	_, err := bundle.Write(bundle.Unikernel{
		Dir: o.Out, Kernel: o.Kernel, Initrd: o.Initrd, Config: cfg, Annotate: true, URuncJSON: true,
		Annotations: o.Annotations, Spec: bundle.SpecOptions{Args: args, Hostname: "unikernel"},
	})
	return err
}

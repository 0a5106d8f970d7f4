package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/internal/bundle"
	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/tui"
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
				return makeDemo(c.String("out"), c.String("kernel"))
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
	// Where the kernel (initrd) came from: the console's rerun on rebuild
	// follows that file and copies it in again (tui.AnnotationKernelSource).
	ann := map[string]string{}
	for k, v := range o.Annotations {
		ann[k] = v
	}
	for k, p := range map[string]string{tui.AnnotationKernelSource: o.Kernel, tui.AnnotationInitrdSource: o.Initrd} {
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if _, set := ann[k]; !set {
			ann[k] = abs
		}
	}
	_, err := bundle.Write(bundle.Unikernel{
		Dir: o.Out, Kernel: o.Kernel, Initrd: o.Initrd, Config: cfg, Annotate: true, URuncJSON: true,
		Annotations: ann, Spec: bundle.SpecOptions{Args: args, Hostname: "unikernel"},
	})
	return err
}

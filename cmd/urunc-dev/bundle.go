package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

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
			&cli.StringFlag{Name: "type", Value: "unikraft", Usage: "guest type: unikraft, rumprun, mirage, mewz, hermit, linux"},
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
	if err := os.MkdirAll(filepath.Join(o.Out, "rootfs", "unikernel"), 0o755); err != nil {
		return err
	}
	kernelIn := "/unikernel/" + filepath.Base(o.Kernel)
	if err := copyFile(o.Kernel, filepath.Join(o.Out, "rootfs", kernelIn)); err != nil {
		return err
	}
	cfg := map[string]string{config.KeyType: o.Type, config.KeyHypervisor: o.Hypervisor, config.KeyBinary: kernelIn}
	if o.Cmdline != "" {
		cfg[config.KeyCmdline] = o.Cmdline
	}
	if o.Initrd != "" {
		in := "/unikernel/" + filepath.Base(o.Initrd)
		if err := copyFile(o.Initrd, filepath.Join(o.Out, "rootfs", in)); err != nil {
			return err
		}
		cfg[config.KeyInitrd] = in
	}
	enc := map[string]string{}
	ann := map[string]string{}
	for k, v := range cfg {
		enc[k] = base64.StdEncoding.EncodeToString([]byte(v))
		ann[k] = v
	}
	for k, v := range o.Annotations {
		ann[k] = v
	}
	uj, _ := json.MarshalIndent(enc, "", "  ")
	if err := os.WriteFile(filepath.Join(o.Out, "rootfs", config.URuncJSON), uj, 0o644); err != nil {
		return err
	}
	// process.args is what an image's entrypoint would be: the guest's
	// command line (urunc passes it to the unikernel), or the kernel path.
	args := strings.Fields(o.Cmdline)
	if len(args) == 0 {
		args = []string{kernelIn}
	}
	spec := specs.Spec{
		Version:     specs.Version,
		Process:     &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin"}},
		Root:        &specs.Root{Path: "rootfs"},
		Hostname:    "unikernel",
		Annotations: ann,
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
			{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
		}},
	}
	data, _ := json.MarshalIndent(spec, "", "  ")
	return os.WriteFile(filepath.Join(o.Out, "config.json"), data, 0o644)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/internal/image"
	"github.com/urunc-dev/urunc/runtime/config"
)

func imageCommand() *cli.Command {
	return &cli.Command{
		Name:  "image",
		Usage: "package a kernel as a container image tarball for docker load / ctr images import",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "kernel", Required: true, Usage: "unikernel or Linux kernel image"},
			&cli.StringFlag{Name: "type", Value: "unikraft", Usage: "guest type: unikraft, rumprun, mirage, mewz, hermit, linux, solo5"},
			&cli.StringFlag{Name: "hypervisor", Value: "qemu", Usage: "qemu, firecracker, hvt, spt, cloud-hypervisor"},
			&cli.StringFlag{Name: "cmdline", Usage: "guest command line (also the image's CMD, split on blanks)"},
			&cli.StringFlag{Name: "unikernel-version", Aliases: []string{"version"}, Usage: "framework version, e.g. 0.17.0"},
			&cli.StringFlag{Name: "binary-path", Usage: "kernel's path in the image (default /unikernel/<kernel file name>)"},
			&cli.StringFlag{Name: "initrd", Usage: "initrd, placed at /unikernel/<file name>"},
			&cli.StringFlag{Name: "block", Usage: "block image, placed at /unikernel/<file name>"},
			&cli.StringFlag{Name: "block-mount-point", Usage: "where the guest mounts the block image"},
			&cli.StringSliceFlag{Name: "add", Usage: "extra file SRC:DST, DST absolute in the image (repeatable)"},
			&cli.StringSliceFlag{Name: "label", Usage: "extra label key=value; com.urunc.* keys also go into urunc.json (repeatable)"},
			&cli.StringFlag{Name: "base", Value: "none", Usage: "base rootfs tarball (.tar or .tar.gz) under the unikernel's files, or none"},
			&cli.StringFlag{Name: "arch", Usage: "image architecture (default: from the kernel's ELF header, else the host's)"},
			&cli.StringFlag{Name: "tag", Required: true, Usage: "image name, e.g. urunc/hello:latest"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "tarball to write"},
		},
		Action: func(c *cli.Context) error {
			files, err := parseAdds(c.StringSlice("add"))
			if err != nil {
				return err
			}
			labels := map[string]string{}
			for _, kv := range c.StringSlice("label") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--label %q: want key=value", kv)
				}
				labels[k] = v
			}
			o := image.Options{
				Kernel: c.String("kernel"), BinaryPath: c.String("binary-path"),
				Type: c.String("type"), Hypervisor: c.String("hypervisor"),
				Cmdline: c.String("cmdline"), Version: c.String("unikernel-version"),
				Initrd: c.String("initrd"), Block: c.String("block"), BlockMountPoint: c.String("block-mount-point"),
				Files: files, Labels: labels, BaseRootfs: c.String("base"),
				Architecture: c.String("arch"), Tag: c.String("tag"),
			}
			if err := image.WriteFile(o, c.String("output")); err != nil {
				return err
			}
			cfg, _ := image.Config(o) // checked by WriteFile
			fmt.Fprintf(c.App.Writer, "wrote %s: %s (%s on %s, kernel %s)\n", c.String("output"), o.Tag,
				cfg[config.KeyType], cfg[config.KeyHypervisor], cfg[config.KeyBinary])
			return nil
		},
	}
}

// parseAdds splits each SRC:DST at the last ":/", so a source path may
// itself contain colons.
func parseAdds(adds []string) ([]image.File, error) {
	var files []image.File
	for _, a := range adds {
		i := strings.LastIndex(a, ":/")
		if i <= 0 {
			return nil, fmt.Errorf("--add %q: want SRC:DST with DST an absolute path in the image", a)
		}
		files = append(files, image.File{Source: a[:i], Dest: a[i+1:]})
	}
	return files, nil
}

// Package image turns a kernel file (and optionally an initrd, a block
// image, extra files and a base rootfs) into a container image that urunc
// runs, in the format upstream urunc's tools (bima, pun, bunny) produce:
// the com.urunc.unikernel.* keys as image labels with plain values, and a
// urunc.json at the rootfs root with the same keys, base64 values (Docker
// passes no image labels or annotations to the runtime, so urunc reads
// that file). The result is written as a `docker save` archive, which both
// `docker load` and `ctr images import` accept.
package image

import (
	"archive/tar"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/urunc-dev/urunc/internal/atomicfile"
	"github.com/urunc-dev/urunc/runtime/config"

	"github.com/urunc-dev/urunc/runtime/vmm"
)

// UnikernelDir is where the kernel, initrd and block image go unless told
// otherwise, as in upstream images.
const UnikernelDir = "/unikernel"

// ErrInvalidOptions wraps every refusal of the caller's input (missing
// files, unknown type or hypervisor, bad tag or paths); errors from
// runtime/vmm are wrapped as well, so
// errors.Is(err, vmm.ErrUnknownGuest) also holds.
var ErrInvalidOptions = errors.New("invalid image options")

// File is a host file copied into the image.
type File struct {
	Source string // host path (a regular file; symlinks are followed)
	Dest   string // absolute path in the image
}

// Options describe the image to build.
type Options struct {
	Kernel     string // host path of the unikernel or Linux kernel (required)
	BinaryPath string // kernel's path in the image; default /unikernel/<base name of Kernel>
	Type       string // unikernel type: unikraft, rumprun, mirage, mewz, hermit, linux
	Hypervisor string // qemu, firecracker, hvt, spt, cloud-hypervisor (or the solo5- aliases)
	Cmdline    string // guest command line; also the image's Cmd, split on blanks
	Version    string // framework version (unikernelVersion), e.g. 0.17.0

	Initrd          string // host path; goes to /unikernel/<base name>
	Block           string // host path of a block image; goes to /unikernel/<base name>
	BlockMountPoint string // where the guest mounts the block image (blkMntPoint)

	Files []File // extra files
	// Labels are extra image labels. Keys of urunc (com.urunc.*) also go
	// into urunc.json and must be ones the runtime knows.
	Labels map[string]string

	// BaseRootfs is a tar (optionally gzip-compressed) laid under the
	// unikernel's files as the image's first layer; "" or "none": none.
	BaseRootfs string

	Tag string // e.g. urunc/hello:latest (":latest" when no tag is given)

	// Architecture of the image; default from the kernel's ELF header,
	// else the host's.
	Architecture string
}

// entry is one file of the unikernel layer.
type entry struct {
	source string
	dest   string
	mode   int64
}

// plan is the checked and completed form of Options.
type plan struct {
	tag     name.Tag
	entries []entry
	config  map[string]string // urunc keys, plain values
	labels  map[string]string
	cmd     []string
	arch    string
	base    string
}

// WriteFile builds the image and writes it to out as a `docker save`
// archive. The archive is written beside out and renamed into place, so
// out is either complete or untouched.
func WriteFile(o Options, out string) error {
	p, err := check(o)
	if err != nil {
		return err
	}
	return atomicfile.Write(out, 0o644, true, p.write)
}

// Write builds the image and writes it to w as a `docker save` archive.
func Write(o Options, w io.Writer) error {
	p, err := check(o)
	if err != nil {
		return err
	}
	return p.write(w)
}

// Config returns the unikernel configuration the image would carry (plain
// values), as runtime/config would read it back.
func Config(o Options) (map[string]string, error) {
	p, err := check(o)
	if err != nil {
		return nil, err
	}
	return p.config, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
}

// check validates the options against the runtime's own lists of guest
// types and hypervisors and fills in the defaults.
func check(o Options) (*plan, error) {
	p := &plan{}
	if o.Tag == "" {
		return nil, invalid("a tag is required (e.g. urunc/hello:latest)")
	}
	tag, err := name.NewTag(o.Tag)
	if err != nil {
		return nil, fmt.Errorf("%w: tag %q: %w", ErrInvalidOptions, o.Tag, err)
	}
	p.tag = tag

	if o.Kernel == "" {
		return nil, invalid("a kernel file is required")
	}
	if err := vmm.Supports(o.Type, o.Hypervisor); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}

	binary := o.BinaryPath
	if binary == "" {
		binary = path.Join(UnikernelDir, filepath.Base(o.Kernel))
	}
	cfg := map[string]string{config.KeyType: o.Type, config.KeyHypervisor: o.Hypervisor, config.KeyBinary: binary}
	optional := map[string]string{
		config.KeyCmdline: o.Cmdline, config.KeyVersion: o.Version, config.KeyBlkMntPoint: o.BlockMountPoint,
	}
	if err := p.add(o.Kernel, binary, "kernel", 0o755); err != nil {
		return nil, err
	}
	for _, f := range []struct{ host, key, what string }{
		{o.Initrd, config.KeyInitrd, "initrd"}, {o.Block, config.KeyBlock, "block image"},
	} {
		if f.host == "" {
			continue
		}
		dest := path.Join(UnikernelDir, filepath.Base(f.host))
		if err := p.add(f.host, dest, f.what, 0o644); err != nil {
			return nil, err
		}
		optional[f.key] = dest
	}
	if o.BlockMountPoint != "" && o.Block == "" {
		return nil, invalid("a block mount point needs a block image")
	}
	for _, f := range o.Files {
		if err := p.add(f.Source, f.Dest, "file", 0); err != nil {
			return nil, err
		}
	}
	if err := p.checkLayout(); err != nil {
		return nil, err
	}
	for k, v := range optional {
		if v != "" {
			cfg[k] = v
		}
	}

	p.labels = map[string]string{}
	for k, v := range o.Labels {
		if _, set := cfg[k]; set {
			return nil, invalid("label %s is set by the options (type, hypervisor, kernel, cmdline, ...)", k)
		}
		if config.IsConfigKey(k) {
			cfg[k] = v
		}
		p.labels[k] = v
	}
	for k, v := range cfg {
		p.labels[k] = v
	}
	for k, v := range cfg {
		// The runtime refuses control characters, and a base64 value that
		// decodes to unprintable text is taken as plain text.
		if i := strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }); i >= 0 {
			return nil, invalid("%s %q contains control character %U", k, v, []rune(v[i:])[0])
		}
	}
	// What the runtime reads back must be what was asked for: unknown keys
	// and anything else it would read differently are refused here rather
	// than at run time.
	decoded, err := config.ParseURuncJSON(config.EncodeURuncJSON(cfg))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	if got := decoded.Map(); !equalMaps(got, cfg) {
		return nil, invalid("configuration does not survive urunc.json: %v != %v", got, cfg)
	}
	p.config = cfg

	// Docker refuses an image with neither Cmd nor Entrypoint. The guest's
	// arguments come from process.args (the cmdline key is the fallback),
	// so the cmdline's words are the Cmd; without a cmdline the kernel path
	// stands in, as in urunc-dev bundle.
	p.cmd = strings.Fields(o.Cmdline)
	if len(p.cmd) == 0 {
		p.cmd = []string{binary}
	}

	p.arch = o.Architecture
	if p.arch == "" {
		p.arch = elfArchitecture(o.Kernel)
	}
	if o.BaseRootfs != "" && o.BaseRootfs != "none" {
		if err := checkTar(o.BaseRootfs); err != nil {
			return nil, fmt.Errorf("%w: base rootfs %s: %w", ErrInvalidOptions, o.BaseRootfs, err)
		}
		p.base = o.BaseRootfs
	}
	return p, nil
}

// add checks one host file and its destination and records it; mode 0
// keeps the source's permission bits.
func (p *plan) add(source, dest, what string, mode os.FileMode) error {
	if source == "" {
		return invalid("%s: empty source path", what)
	}
	info, err := os.Stat(source)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidOptions, what, err)
	}
	if !info.Mode().IsRegular() {
		return invalid("%s %s is not a regular file", what, source)
	}
	if err := checkDest(dest); err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrInvalidOptions, what, source, err)
	}
	if mode == 0 {
		mode = info.Mode().Perm()
	}
	p.entries = append(p.entries, entry{source: source, dest: dest, mode: int64(mode)})
	return nil
}

// checkDest accepts a clean absolute path other than / and /urunc.json:
// the runtime refuses ".." in the config's paths, and urunc.json is ours.
func checkDest(dest string) error {
	switch {
	case !path.IsAbs(dest):
		return fmt.Errorf("destination %q is not an absolute path", dest)
	case path.Clean(dest) != dest:
		return fmt.Errorf("destination %q is not a clean path (no ., .., // or trailing /)", dest)
	case dest == "/":
		return fmt.Errorf("destination is the root directory")
	case dest == "/"+config.URuncJSON:
		return fmt.Errorf("destination /%s is written by the image builder", config.URuncJSON)
	case strings.ContainsAny(dest, "\x00\n\r"):
		return fmt.Errorf("destination %q contains a control character", dest)
	}
	return nil
}

// checkLayout refuses two files at one path and a file where another
// file needs a directory.
func (p *plan) checkLayout() error {
	files := map[string]bool{}
	for _, e := range p.entries {
		if files[e.dest] {
			return invalid("two files go to %s", e.dest)
		}
		files[e.dest] = true
	}
	for _, e := range p.entries {
		for _, dir := range parents(e.dest) {
			if files[dir] {
				return invalid("%s is a file but %s needs it as a directory", dir, e.dest)
			}
		}
	}
	return nil
}

// parents returns the directories above an absolute path, top first.
func parents(p string) []string {
	var dirs []string
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		dirs = append([]string{d}, dirs...)
	}
	return dirs
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// elfArchitecture names the image platform of a kernel. The platform is
// the host the VMM runs on, so a 32-bit x86 (multiboot) ELF is amd64 too;
// a kernel that is not ELF (bzImage, Image) gets the host's architecture.
func elfArchitecture(kernel string) string {
	f, err := elf.Open(kernel)
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	switch f.Machine {
	case elf.EM_X86_64, elf.EM_386:
		return "amd64"
	case elf.EM_AARCH64:
		return "arm64"
	case elf.EM_RISCV:
		return "riscv64"
	}
	return runtime.GOARCH
}

// openTar opens a tar file, gunzipping it when it starts with gzip's magic.
func openTar(p string) (*tar.Reader, io.Closer, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	magic := make([]byte, 2)
	n, _ := io.ReadFull(f, magic)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	if n == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		return tar.NewReader(zr), f, nil
	}
	return tar.NewReader(f), f, nil
}

// checkTar reads every header of a tar, so a wrong file is refused before
// anything is written.
func checkTar(p string) error {
	tr, closer, err := openTar(p)
	if err != nil {
		return err
	}
	defer closer.Close()
	count := 0
	for {
		_, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("not a tar archive: %w", err)
		}
		count++
	}
	if count == 0 {
		return errors.New("empty or not a tar archive")
	}
	return nil
}

// fixedTime is every file's modification time and the image's creation
// time: the same inputs give the same image digest.
func fixedTime() time.Time { return time.Unix(0, 0).UTC() }

// writeLayer writes the unikernel layer: parent directories, the files,
// and urunc.json, in a fixed order.
func (p *plan) writeLayer(w io.Writer) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	sorted := append([]entry(nil), p.entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].dest < sorted[j].dest })
	header := func(name string, mode, size int64, typ byte) *tar.Header {
		return &tar.Header{Name: name, Mode: mode, Size: size, Typeflag: typ, ModTime: fixedTime(), Format: tar.FormatPAX}
	}
	for _, e := range sorted {
		for _, d := range parents(e.dest) {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(header(strings.TrimPrefix(d, "/")+"/", 0o755, 0, tar.TypeDir)); err != nil {
				return err
			}
		}
		if err := copyInto(tw, e, header); err != nil {
			return err
		}
	}
	uj := config.EncodeURuncJSON(p.config)
	if err := tw.WriteHeader(header(config.URuncJSON, 0o644, int64(len(uj)), tar.TypeReg)); err != nil {
		return err
	}
	if _, err := tw.Write(uj); err != nil {
		return err
	}
	return tw.Close()
}

func copyInto(tw *tar.Writer, e entry, header func(string, int64, int64, byte) *tar.Header) error {
	f, err := os.Open(e.source)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(header(strings.TrimPrefix(e.dest, "/"), e.mode, info.Size(), tar.TypeReg)); err != nil {
		return err
	}
	// A file that changes size while copied would make a corrupt layer.
	if n, err := io.Copy(tw, f); err != nil {
		return err
	} else if n != info.Size() {
		return fmt.Errorf("%s changed size while being copied", e.source)
	}
	return nil
}

// image assembles the image; the layer is staged in workDir.
func (p *plan) image(workDir string) (v1.Image, error) {
	layerPath := filepath.Join(workDir, "layer.tar")
	f, err := os.Create(layerPath)
	if err != nil {
		return nil, err
	}
	if err := p.writeLayer(f); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	var adds []mutate.Addendum
	if p.base != "" {
		base, err := tarball.LayerFromFile(p.base)
		if err != nil {
			return nil, fmt.Errorf("base rootfs %s: %w", p.base, err)
		}
		adds = append(adds, mutate.Addendum{Layer: base, History: v1.History{
			Created: v1.Time{Time: fixedTime()}, CreatedBy: "urunc image: base rootfs " + filepath.Base(p.base)}})
	}
	layer, err := tarball.LayerFromFile(layerPath)
	if err != nil {
		return nil, err
	}
	adds = append(adds, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: fixedTime()}, CreatedBy: "urunc image: unikernel files and urunc.json"}})
	img, err := mutate.Append(empty.Image, adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = p.arch
	cf.Created = v1.Time{Time: fixedTime()}
	cf.Config.Labels = p.labels
	cf.Config.Cmd = p.cmd
	return mutate.ConfigFile(img, cf)
}

func (p *plan) write(w io.Writer) error {
	workDir, err := os.MkdirTemp("", "urunc-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(workDir)
	img, err := p.image(workDir)
	if err != nil {
		return err
	}
	return tarball.Write(p.tag, img, w)
}

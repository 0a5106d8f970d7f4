package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/internal/e2e"
	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// hostFiles writes the inputs of a build: a fake kernel, initrd, block
// image and an extra file, each with distinct content.
type hostFiles struct{ kernel, initrd, block, extra string }

func newHostFiles(t *testing.T) hostFiles {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return hostFiles{
		kernel: write("app.hvt", "kernel bytes", 0o600),
		initrd: write("rd.cpio", "initrd bytes", 0o600),
		block:  write("disk.img", "block bytes", 0o600),
		extra:  write("redis.conf", "port 6379\n", 0o640),
	}
}

// build writes the image with WriteFile and loads it back from the file.
func build(t *testing.T, o Options) (v1.Image, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "image.tar")
	if err := WriteFile(o, out); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	img, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatalf("loading %s back: %v", out, err)
	}
	return img, out
}

type rootfsFile struct {
	mode    int64
	dir     bool
	content string
}

// rootfs returns the flattened filesystem of an image, by path.
func rootfs(t *testing.T, img v1.Image) map[string]rootfsFile {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string]rootfsFile{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		files["/"+strings.TrimSuffix(h.Name, "/")] = rootfsFile{mode: h.Mode, dir: h.Typeflag == tar.TypeDir, content: string(data)}
	}
	return files
}

// extract lays the flattened rootfs out under dir/rootfs, as a bundle.
func extract(t *testing.T, files map[string]rootfsFile, dir string) {
	t.Helper()
	for p, f := range files {
		host := filepath.Join(dir, "rootfs", p)
		if f.dir {
			if err := os.MkdirAll(host, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		os.MkdirAll(filepath.Dir(host), 0o755)
		if err := os.WriteFile(host, []byte(f.content), os.FileMode(f.mode)); err != nil {
			t.Fatal(err)
		}
	}
}

// loadConfig reads a bundle's configuration as the runtime does (no
// annotations: the Docker case, urunc.json only).
func loadConfig(t *testing.T, bundle string) *config.Unikernel {
	t.Helper()
	u, err := config.Load(bundle, &specs.Spec{Root: &specs.Root{Path: "rootfs"}})
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	return u
}

func TestImageContent(t *testing.T) {
	h := newHostFiles(t)
	cases := []struct {
		name       string
		opts       Options
		wantConfig map[string]string // = the com.urunc.* labels
		wantLabels map[string]string // other labels
		wantCmd    []string
		wantFiles  map[string]int64 // regular files: path -> mode
	}{
		{
			name: "minimal",
			opts: Options{Kernel: h.kernel, Type: "unikraft", Hypervisor: "qemu", Tag: "urunc/min"},
			wantConfig: map[string]string{
				config.KeyType: "unikraft", config.KeyHypervisor: "qemu", config.KeyBinary: "/unikernel/app.hvt",
			},
			wantCmd:   []string{"/unikernel/app.hvt"},
			wantFiles: map[string]int64{"/unikernel/app.hvt": 0o755, "/urunc.json": 0o644},
		},
		{
			name: "everything",
			opts: Options{
				Kernel: h.kernel, BinaryPath: "/boot/redis.hvt", Type: "rumprun", Hypervisor: "solo5-hvt",
				Cmdline: "redis-server /data/conf/redis.conf", Version: "0.1", Initrd: h.initrd,
				Block: h.block, BlockMountPoint: "/data", Files: []File{{Source: h.extra, Dest: "/conf/redis.conf"}},
				Labels: map[string]string{config.KeyMachine: "microvm", "org.example.owner": "team a"},
				Tag:    "registry.local:5000/urunc/redis:1.0",
			},
			wantConfig: map[string]string{
				config.KeyType: "rumprun", config.KeyHypervisor: "solo5-hvt", config.KeyBinary: "/boot/redis.hvt",
				config.KeyCmdline: "redis-server /data/conf/redis.conf", config.KeyVersion: "0.1",
				config.KeyInitrd: "/unikernel/rd.cpio", config.KeyBlock: "/unikernel/disk.img",
				config.KeyBlkMntPoint: "/data", config.KeyMachine: "microvm",
			},
			wantLabels: map[string]string{"org.example.owner": "team a"},
			wantCmd:    []string{"redis-server", "/data/conf/redis.conf"},
			wantFiles: map[string]int64{
				"/boot/redis.hvt": 0o755, "/unikernel/rd.cpio": 0o644, "/unikernel/disk.img": 0o644,
				"/conf/redis.conf": 0o640, "/urunc.json": 0o644,
			},
		},
		{
			name: "linux with initrd on firecracker",
			opts: Options{Kernel: h.kernel, Type: "linux", Hypervisor: "firecracker", Initrd: h.initrd,
				Cmdline: "/bin/sh", Labels: map[string]string{config.KeyMountRootfs: "false"}, Tag: "urunc/linux:6"},
			wantConfig: map[string]string{
				config.KeyType: "linux", config.KeyHypervisor: "firecracker", config.KeyBinary: "/unikernel/app.hvt",
				config.KeyCmdline: "/bin/sh", config.KeyInitrd: "/unikernel/rd.cpio", config.KeyMountRootfs: "false",
			},
			wantCmd:   []string{"/bin/sh"},
			wantFiles: map[string]int64{"/unikernel/app.hvt": 0o755, "/unikernel/rd.cpio": 0o644, "/urunc.json": 0o644},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img, _ := build(t, tc.opts)
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			wantLabels := map[string]string{}
			for k, v := range tc.wantConfig {
				wantLabels[k] = v
			}
			for k, v := range tc.wantLabels {
				wantLabels[k] = v
			}
			if !reflect.DeepEqual(cf.Config.Labels, wantLabels) {
				t.Errorf("labels:\n got %v\nwant %v", cf.Config.Labels, wantLabels)
			}
			if !reflect.DeepEqual(cf.Config.Cmd, tc.wantCmd) {
				t.Errorf("cmd: got %q want %q", cf.Config.Cmd, tc.wantCmd)
			}
			if cf.OS != "linux" {
				t.Errorf("os %q", cf.OS)
			}

			files := rootfs(t, img)
			gotFiles := map[string]int64{}
			for p, f := range files {
				if !f.dir {
					gotFiles[p] = f.mode
				} else if f.mode != 0o755 {
					t.Errorf("directory %s mode %o", p, f.mode)
				}
			}
			if !reflect.DeepEqual(gotFiles, tc.wantFiles) {
				t.Errorf("files:\n got %v\nwant %v", gotFiles, tc.wantFiles)
			}
			if got := files[tc.wantConfig[config.KeyBinary]].content; got != "kernel bytes" {
				t.Errorf("kernel content %q", got)
			}

			// urunc.json: every value standard base64, as upstream writes it.
			var raw map[string]string
			if err := json.Unmarshal([]byte(files["/urunc.json"].content), &raw); err != nil {
				t.Fatalf("urunc.json: %v", err)
			}
			for k, v := range raw {
				d, err := base64.StdEncoding.Strict().DecodeString(v)
				if err != nil || string(d) != tc.wantConfig[k] {
					t.Errorf("urunc.json %s = %q: decodes to %q (%v), want %q", k, v, d, err, tc.wantConfig[k])
				}
			}

			// The runtime reads back exactly what was asked for, and
			// finds every file the configuration names in the rootfs.
			bundle := t.TempDir()
			extract(t, files, bundle)
			u := loadConfig(t, bundle)
			if got := u.Map(); !reflect.DeepEqual(got, tc.wantConfig) {
				t.Errorf("runtime/config reads:\n got %v\nwant %v", got, tc.wantConfig)
			}
			for _, key := range []string{config.KeyBinary, config.KeyInitrd, config.KeyBlock} {
				if _, err := config.ResolveInRootfs(filepath.Join(bundle, "rootfs"), key, tc.wantConfig[key]); err != nil {
					t.Errorf("%s: %v", key, err)
				}
			}
			if c, err := Config(tc.opts); err != nil || !reflect.DeepEqual(c, tc.wantConfig) {
				t.Errorf("Config: %v %v", c, err)
			}
		})
	}
}

// The archive is what `docker save` writes: manifest.json naming the tag,
// the config and the layers; the same inputs give the same bytes.
func TestDockerArchive(t *testing.T) {
	h := newHostFiles(t)
	o := Options{Kernel: h.kernel, Type: "unikraft", Hypervisor: "qemu", Tag: "urunc/hello"}
	_, out := build(t, o)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries[hdr.Name], _ = io.ReadAll(tr)
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(entries["manifest.json"], &manifest); err != nil {
		t.Fatalf("manifest.json: %v (entries %d)", err, len(entries))
	}
	if len(manifest) != 1 || !reflect.DeepEqual(manifest[0].RepoTags, []string{"urunc/hello:latest"}) || len(manifest[0].Layers) != 1 {
		t.Fatalf("manifest.json: %+v", manifest)
	}
	for _, name := range append([]string{manifest[0].Config}, manifest[0].Layers...) {
		if _, ok := entries[name]; !ok {
			t.Errorf("manifest names %s, not in the archive", name)
		}
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(entries[manifest[0].Config], &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.RootFS.Type != "layers" || len(cfg.RootFS.DiffIDs) != 1 {
		t.Errorf("rootfs: %+v", cfg.RootFS)
	}

	again := filepath.Join(t.TempDir(), "again.tar")
	if err := WriteFile(o, again); err != nil {
		t.Fatal(err)
	}
	if second, _ := os.ReadFile(again); !bytes.Equal(second, data) {
		t.Errorf("two builds of the same inputs differ")
	}
}

func TestArchitectureFromKernel(t *testing.T) {
	dir := t.TempDir()
	notELF := filepath.Join(dir, "bzImage")
	os.WriteFile(notELF, []byte("MZ not an elf"), 0o644)
	cases := []struct{ name, kernel, arch, want string }{
		{"x86-64 ELF (this test binary)", os.Args[0], "", "amd64"},
		{"explicit", notELF, "arm64", "arm64"},
	}
	if elfArchitecture(os.Args[0]) != "amd64" {
		t.Skip("test binary is not x86-64")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img, _ := build(t, Options{Kernel: tc.kernel, Type: "unikraft", Hypervisor: "qemu", Tag: "a/b", Architecture: tc.arch})
			cf, _ := img.ConfigFile()
			if cf.Architecture != tc.want {
				t.Errorf("architecture %q, want %q", cf.Architecture, tc.want)
			}
		})
	}
}

// A base rootfs is the first layer; the unikernel's layer (and its
// urunc.json) is laid over it.
func TestBaseRootfs(t *testing.T) {
	h := newHostFiles(t)
	var plain bytes.Buffer
	tw := tar.NewWriter(&plain)
	for name, content := range map[string]string{"etc/hostname": "base\n", "urunc.json": `{"stale":"yes"}`} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))})
		tw.Write([]byte(content))
	}
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain.Bytes())
	zw.Close()
	dir := t.TempDir()
	for name, data := range map[string][]byte{"base.tar": plain.Bytes(), "base.tar.gz": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			base := filepath.Join(dir, name)
			os.WriteFile(base, data, 0o644)
			img, _ := build(t, Options{Kernel: h.kernel, Type: "unikraft", Hypervisor: "qemu", Tag: "a/b", BaseRootfs: base})
			layers, _ := img.Layers()
			if len(layers) != 2 {
				t.Fatalf("%d layers, want 2", len(layers))
			}
			files := rootfs(t, img)
			if files["/etc/hostname"].content != "base\n" {
				t.Errorf("base file missing: %v", files)
			}
			bundle := t.TempDir()
			extract(t, files, bundle)
			if u := loadConfig(t, bundle); u.Type != "unikraft" {
				t.Errorf("urunc.json of the base was not replaced: %+v", u)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	h := newHostFiles(t)
	notTar := filepath.Join(t.TempDir(), "not.tar")
	os.WriteFile(notTar, bytes.Repeat([]byte("not a tar "), 100), 0o644)
	ok := Options{Kernel: h.kernel, Type: "unikraft", Hypervisor: "qemu", Tag: "urunc/hello:latest"}
	with := func(change func(*Options)) Options {
		o := ok
		change(&o)
		return o
	}
	cases := []struct {
		name   string
		opts   Options
		is     error  // besides ErrInvalidOptions
		substr string // in the message
	}{
		{"missing kernel", with(func(o *Options) { o.Kernel = "/nonexistent/app.elf" }), fs.ErrNotExist, "/nonexistent/app.elf"},
		{"no kernel", with(func(o *Options) { o.Kernel = "" }), nil, "kernel"},
		{"kernel is a directory", with(func(o *Options) { o.Kernel = t.TempDir() }), nil, "not a regular file"},
		{"unknown type", with(func(o *Options) { o.Type = "osv" }), vmm.ErrUnknownGuest, `"osv"`},
		{"unknown hypervisor", with(func(o *Options) { o.Hypervisor = "vbox" }), vmm.ErrUnknownHypervisor, `"vbox"`},
		{"unsupported pair", with(func(o *Options) { o.Type = "rumprun" }), vmm.ErrUnsupportedPair, "rumprun on qemu"},
		{"no tag", with(func(o *Options) { o.Tag = "" }), nil, "tag is required"},
		{"bad tag", with(func(o *Options) { o.Tag = "Urunc/Hello:latest" }), nil, "Urunc/Hello"},
		{"bad tag characters", with(func(o *Options) { o.Tag = "urunc/hello:a b" }), nil, "urunc/hello:a b"},
		{"relative binary path", with(func(o *Options) { o.BinaryPath = "unikernel/app" }), nil, "not an absolute path"},
		{"binary path with ..", with(func(o *Options) { o.BinaryPath = "/unikernel/../app" }), nil, "not a clean path"},
		{"file over urunc.json", with(func(o *Options) { o.Files = []File{{h.extra, "/urunc.json"}} }), nil, "written by the image builder"},
		{"two files at one path", with(func(o *Options) { o.Files = []File{{h.extra, "/unikernel/app.hvt"}} }), nil, "two files go to /unikernel/app.hvt"},
		{"file where a directory is needed", with(func(o *Options) { o.Files = []File{{h.extra, "/unikernel"}} }), nil, "needs it as a directory"},
		{"missing extra file", with(func(o *Options) { o.Files = []File{{"/nonexistent/x", "/x"}} }), fs.ErrNotExist, "/nonexistent/x"},
		{"missing initrd", with(func(o *Options) { o.Initrd = "/nonexistent/rd" }), fs.ErrNotExist, "initrd"},
		{"mount point without block", with(func(o *Options) { o.BlockMountPoint = "/data" }), nil, "needs a block image"},
		{"label repeats an option", with(func(o *Options) { o.Labels = map[string]string{config.KeyType: "mirage"} }), nil, "set by the options"},
		{"unknown urunc key", with(func(o *Options) { o.Labels = map[string]string{config.Prefix + "colour": "red"} }), nil, "unknown key"},
		{"control character", with(func(o *Options) { o.Cmdline = "a\nb" }), nil, "control character"},
		{"base rootfs not a tar", with(func(o *Options) { o.BaseRootfs = notTar }), nil, "not a tar"},
		{"missing base rootfs", with(func(o *Options) { o.BaseRootfs = "/nonexistent/base.tar" }), fs.ErrNotExist, "base rootfs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			err := WriteFile(tc.opts, filepath.Join(dir, "out.tar"))
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("error %v does not wrap ErrInvalidOptions", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("error %q does not mention %q", err, tc.substr)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("left in the output directory: %v", left)
			}
		})
	}
}

// A write that fails after the checks passed leaves the previous file
// untouched and no temp file behind.
func TestWriteFileIsAtomic(t *testing.T) {
	h := newHostFiles(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "img.tar")
	os.WriteFile(out, []byte("previous"), 0o644)
	// /proc/self/mem is a regular file that stat accepts but reading from
	// offset 0 fails (EIO): the failure comes mid-write.
	o := Options{Kernel: h.kernel, Type: "unikraft", Hypervisor: "qemu", Tag: "a/b",
		Files: []File{{Source: "/proc/self/mem", Dest: "/mem"}}}
	if err := WriteFile(o, out); err == nil {
		t.Fatal("a build reading an unreadable file succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "img.tar" {
		t.Errorf("directory holds %v, want only img.tar", entries)
	}
	if data, _ := os.ReadFile(out); !bytes.Equal(data, []byte("previous")) {
		t.Errorf("img.tar was changed by a failed build: %d bytes", len(data))
	}
}

// An image built by urunc image and one laid out the upstream way (the
// rootfs of internal/e2e.UnikernelRootfsTar, as bima/pun make it) read
// the same through runtime/config.
func TestSameConfigAsUpstreamLayout(t *testing.T) {
	if _, err := os.Stat(e2e.Unikernel()); err != nil {
		e2e.Make(t, "unikernel")
	}
	upstream := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(e2e.UnikernelRootfsTar(t)))
	upstreamFiles := map[string]rootfsFile{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		upstreamFiles["/"+strings.TrimSuffix(hdr.Name, "/")] = rootfsFile{mode: hdr.Mode, dir: hdr.Typeflag == tar.TypeDir, content: string(data)}
	}
	extract(t, upstreamFiles, upstream)
	want := loadConfig(t, upstream)

	img, _ := build(t, Options{
		Kernel: e2e.Unikernel(), BinaryPath: "/unikernel/app.elf", Type: "unikraft", Hypervisor: "qemu",
		Labels: map[string]string{config.KeyMachine: "microvm"}, Tag: "urunc/hello",
	})
	ours := t.TempDir()
	files := rootfs(t, img)
	extract(t, files, ours)
	got := loadConfig(t, ours)
	got.Source, want.Source = "", ""
	if !reflect.DeepEqual(got, want) {
		t.Errorf("runtime/config reads\n ours     %+v\n upstream %+v", got, want)
	}
	if files["/unikernel/app.elf"].content != upstreamFiles["/unikernel/app.elf"].content {
		t.Errorf("kernels differ")
	}
	cf, _ := img.ConfigFile()
	if cf.Architecture != "amd64" {
		t.Errorf("architecture of hello.elf: %q", cf.Architecture)
	}
}

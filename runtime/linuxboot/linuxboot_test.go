package linuxboot

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/runtime/vmm"
)

// cpioFile is one entry read back by readCPIO.
type cpioFile struct {
	mode       uint32
	rmaj, rmin uint32
	data       []byte
}

// readCPIO parses concatenated newc archives the way the kernel does
// (zero padding between archives is skipped) and returns the entries of
// each archive.
func readCPIO(t *testing.T, b []byte) []map[string]cpioFile {
	t.Helper()
	var archives []map[string]cpioFile
	cur := map[string]cpioFile{}
	off := 0
	for off < len(b) {
		if b[off] == 0 {
			off++
			continue
		}
		if off%4 != 0 {
			t.Fatalf("header at unaligned offset %d", off)
		}
		if off+cpioHdrLen > len(b) || string(b[off:off+6]) != cpioMagic {
			t.Fatalf("bad magic at %d: %q", off, b[off:min(off+6, len(b))])
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		mode, size, rmaj, rmin, namesize := field(1), field(6), field(9), field(10), field(11)
		nameStart := off + cpioHdrLen
		name := string(b[nameStart : nameStart+int(namesize)-1])
		if b[nameStart+int(namesize)-1] != 0 {
			t.Fatalf("name %q not NUL terminated", name)
		}
		dataStart := (nameStart + int(namesize) + 3) &^ 3
		data := b[dataStart : dataStart+int(size)]
		off = (dataStart + int(size) + 3) &^ 3
		if name == cpioTrailer {
			archives = append(archives, cur)
			cur = map[string]cpioFile{}
			continue
		}
		cur[name] = cpioFile{mode: mode, rmaj: rmaj, rmin: rmin, data: data}
	}
	if len(cur) != 0 {
		t.Fatalf("archive without trailer: %v", cur)
	}
	return archives
}

func TestCPIOWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := newCPIOWriter(&buf)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Dir("dev", 0o755))
	must(w.CharDev("dev/console", 0o600, 5, 1))
	must(w.File("/a", 0o644, []byte("x")))
	must(w.File("b/odd-length-name", 0o755, []byte("hello")))
	must(w.FileFrom("c", 0o600, 3, strings.NewReader("abcdef")))
	must(w.Symlink("d", "c"))
	must(w.Close())
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d not a multiple of 4", buf.Len())
	}
	ar := readCPIO(t, buf.Bytes())
	if len(ar) != 1 {
		t.Fatalf("%d archives", len(ar))
	}
	got := ar[0]
	for name, want := range map[string]cpioFile{
		"dev":               {mode: modeDir | 0o755},
		"dev/console":       {mode: modeChr | 0o600, rmaj: 5, rmin: 1},
		"a":                 {mode: modeFile | 0o644, data: []byte("x")},
		"b/odd-length-name": {mode: modeFile | 0o755, data: []byte("hello")},
		"c":                 {mode: modeFile | 0o600, data: []byte("abc")},
		"d":                 {mode: modeLink | 0o777, data: []byte("c")},
	} {
		g, ok := got[name]
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		if g.mode != want.mode || g.rmaj != want.rmaj || g.rmin != want.rmin || !bytes.Equal(g.data, want.data) {
			t.Errorf("%s = %+v, want %+v", name, g, want)
		}
	}
}

func TestCPIOFileFromShortReader(t *testing.T) {
	w := newCPIOWriter(&bytes.Buffer{})
	if err := w.FileFrom("x", 0o644, 10, strings.NewReader("abc")); err == nil {
		t.Fatal("want an error for a short source")
	}
}

func testModules() []Module {
	return []Module{
		{Name: "virtio_ring"},
		{Name: "virtio", Depends: []string{"virtio_ring"}},
		{Name: "virtio_mmio", Depends: []string{"virtio", "virtio_ring"}},
		{Name: "virtio_pci", Depends: []string{"virtio", "virtio_ring"}},
		{Name: "9pnet"},
		{Name: "9pnet_virtio", Depends: []string{"virtio", "9pnet", "virtio_ring"}},
		{Name: "netfs"},
		{Name: "fscache", Depends: []string{"netfs"}},
		{Name: "9p", Depends: []string{"9pnet", "fscache", "netfs"}},
		{Name: "fuse"},
		{Name: "virtiofs", Depends: []string{"fuse", "virtio", "virtio_ring"}},
		{Name: "failover"},
		{Name: "net_failover", Depends: []string{"failover"}},
		{Name: "virtio_net", Depends: []string{"virtio_ring", "virtio", "net_failover"}},
		{Name: "virtio_blk", Depends: []string{"virtio", "virtio_ring"}},
		{Name: "crc16"},
		{Name: "crc32c_generic"},
		{Name: "mbcache"},
		{Name: "jbd2"},
		{Name: "ext4", Depends: []string{"mbcache", "jbd2", "crc16"}},
	}
}

func names(mods []Module) string {
	var s []string
	for _, m := range mods {
		s = append(s, m.Name)
	}
	return strings.Join(s, " ")
}

func TestModulesDepRoundTripAndClosure(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteModulesDep(&buf, testModules()); err != nil {
		t.Fatal(err)
	}
	all, err := ReadModulesDep(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if names(all) != names(testModules()) {
		t.Fatalf("round trip: %s", names(all))
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Root: Root{Type: Root9P}}, "virtio_ring virtio virtio_mmio virtio_pci 9pnet 9pnet_virtio netfs fscache 9p"},
		{Config{Root: Root{Type: RootVirtiofs}, Network: &Network{}}, "virtio_ring virtio virtio_mmio virtio_pci fuse virtiofs failover net_failover virtio_net"},
		{Config{Root: Root{Type: RootBlock, FSType: "ext4"}}, "virtio_ring virtio virtio_mmio virtio_pci virtio_blk crc16 crc32c_generic mbcache jbd2 ext4"},
		// Unknown wanted modules are taken as built in.
		{Config{Root: Root{Type: RootVirtiofs}, Modules: []string{"virtio-rng"}}, "virtio_ring virtio virtio_mmio virtio_pci fuse virtiofs"},
	} {
		got, err := Closure(all, ModulesFor(tc.cfg))
		if err != nil {
			t.Fatal(err)
		}
		if names(got) != tc.want {
			t.Errorf("Closure(%+v) = %s\nwant %s", tc.cfg.Root, names(got), tc.want)
		}
	}
	// A dependency missing from the list is an error, not silently skipped.
	if _, err := Closure([]Module{{Name: "a", Depends: []string{"b"}}}, []string{"a"}); !errors.Is(err, ErrModule) {
		t.Errorf("missing dependency: err = %v", err)
	}
	// So is a list in the wrong order.
	if _, err := Closure([]Module{{Name: "a", Depends: []string{"b"}}, {Name: "b"}}, []string{"a"}); !errors.Is(err, ErrModule) {
		t.Errorf("wrong order: err = %v", err)
	}
	if _, err := ReadModulesDep(strings.NewReader("no colon here\n")); !errors.Is(err, ErrModule) {
		t.Errorf("bad line: err = %v", err)
	}
}

func TestResolveModules(t *testing.T) {
	db := map[string]Module{}
	for _, m := range testModules() {
		db[m.Name] = m
	}
	db["virtio"] = Module{Name: "virtio", Depends: []string{"virtio_ring"}}
	read := func(name string) (Module, error) {
		m, ok := db[name]
		if !ok {
			return Module{}, fmt.Errorf("%w: %s unknown", ErrModule, name)
		}
		return m, nil
	}
	got, err := ResolveModules([]string{"9p", "virtio-net"}, map[string]bool{"failover": true}, read)
	if err != nil {
		t.Fatal(err)
	}
	// failover is built in; its user still needs loading.
	if want := "9pnet netfs fscache 9p virtio_ring virtio net_failover virtio_net"; names(got) != want {
		t.Errorf("got %s\nwant %s", names(got), want)
	}
	db["a"] = Module{Name: "a", Depends: []string{"b"}}
	db["b"] = Module{Name: "b", Depends: []string{"a"}}
	if _, err := ResolveModules([]string{"a"}, nil, read); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: err = %v", err)
	}
	if _, err := ResolveModules([]string{"nope"}, nil, read); !errors.Is(err, ErrModule) {
		t.Errorf("unknown: err = %v", err)
	}
}

func TestReadModinfoRealModule(t *testing.T) {
	p := filepath.Join("..", "..", "build", "linux", "modules", "9p.ko")
	f, err := os.Open(p)
	if err != nil {
		t.Skipf("no %s: run make linux-kernel", p)
	}
	defer f.Close()
	m, err := ReadModinfo(f)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "9p" || !strings.Contains(strings.Join(m.Depends, ","), "9pnet") {
		t.Errorf("modinfo of 9p.ko = %+v", m)
	}
	if rel, err := ModuleRelease(f); err != nil || !strings.HasSuffix(rel, "-amd64") {
		t.Errorf("ModuleRelease(9p.ko) = %q, %v", rel, err)
	}
	if _, err := ReadModinfo(strings.NewReader("not an elf")); !errors.Is(err, ErrModule) {
		t.Errorf("non-ELF: err = %v", err)
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/fs/9p/9p.ko": "9p",
		"virtio-net":         "virtio_net",
		"virtio_pci.ko":      "virtio_pci",
	} {
		if got := ModuleName(in); got != want {
			t.Errorf("ModuleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func validConfig() Config {
	return Config{
		Args: []string{"sh", "-c", "echo 'a b' \"$X\""},
		Env:  []string{"PATH=/bin", "X=y=z"},
		Cwd:  "/tmp", UID: 1000, GID: 100, AdditionalGIDs: []uint32{10},
		Hostname: "h",
		Root:     Root{Type: Root9P, Tag: "rootfs"},
		Network:  &Network{IP: "10.0.0.2", PrefixLen: 24, Gateway: "10.0.0.1", MTU: 1500},
		Files:    []File{{Path: "/etc/hosts", Data: []byte("10.0.0.2 h\n"), Mode: 0o644, ReadOnly: true}},
	}
}

func TestConfigValidate(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"no args":       func(c *Config) { c.Args = nil },
		"empty argv0":   func(c *Config) { c.Args = []string{""} },
		"relative cwd":  func(c *Config) { c.Cwd = "tmp" },
		"bad env":       func(c *Config) { c.Env = []string{"NOEQUALS"} },
		"root type":     func(c *Config) { c.Root.Type = "ext4" },
		"no tag":        func(c *Config) { c.Root.Tag = "" },
		"block xfs":     func(c *Config) { c.Root = Root{Type: RootBlock, Tag: BlockRootDevice, FSType: "xfs"} },
		"block no fs":   func(c *Config) { c.Root = Root{Type: RootBlock, Tag: BlockRootDevice} },
		"block no dev":  func(c *Config) { c.Root = Root{Type: RootBlock, Tag: "vda", FSType: "ext4"} },
		"bad ip":        func(c *Config) { c.Network.IP = "10.0.0" },
		"bad prefix":    func(c *Config) { c.Network.PrefixLen = 33 },
		"bad gateway":   func(c *Config) { c.Network.Gateway = "x" },
		"bad mtu":       func(c *Config) { c.Network.MTU = -1 },
		"file relative": func(c *Config) { c.Files = []File{{Path: "etc/hosts"}} },
		"file at root":  func(c *Config) { c.Files = []File{{Path: "/"}} },
		"file too big":  func(c *Config) { c.Files = []File{{Path: "/big", Data: make([]byte, MaxFileSize+1)}} },
		"files too big": func(c *Config) {
			for i := 0; i < 5; i++ {
				c.Files = append(c.Files, File{Path: fmt.Sprintf("/f%d", i), Data: make([]byte, MaxFileSize)})
			}
		},
	} {
		c := validConfig()
		n := *c.Network
		c.Network = &n
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
	blk := validConfig()
	blk.Root = Root{Type: RootBlock, Tag: BlockRootDevice, FSType: "ext2"}
	if err := blk.Validate(); err != nil || blk.MountFSType() != "ext2" || blk.MountOptions() != "" {
		t.Errorf("block root: %v, fstype %q, options %q", err, blk.MountFSType(), blk.MountOptions())
	}
	v6 := validConfig()
	v6.Network = &Network{IP: "fd00::2", PrefixLen: 64}
	if err := v6.Validate(); err != nil {
		t.Errorf("IPv6: %v", err)
	}
}

func TestConfigMarshalParse(t *testing.T) {
	c := validConfig()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
	}
	if got.MountOptions() != Default9POptions {
		t.Errorf("9p options %q", got.MountOptions())
	}
	vf := Config{Root: Root{Type: RootVirtiofs}}
	if vf.MountOptions() != "" || (Config{}).RootType() != Root9P {
		t.Errorf("defaults: %q %q", vf.MountOptions(), (Config{}).RootType())
	}
	if _, err := ParseConfig([]byte("{")); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad JSON: err = %v", err)
	}
}

func TestKernelCmdline(t *testing.T) {
	cl := KernelCmdline(CmdlineOptions{TSCKHz: 2300000, Extra: []string{"foo=bar"}})
	for _, want := range []string{"console=ttyS0", "rdinit=/init", "panic=-1", "reboot=t", "quiet", "loglevel=1", "tsc_early_khz=2300000", "foo=bar"} {
		if !strings.Contains(" "+cl+" ", " "+want+" ") {
			t.Errorf("cmdline %q lacks %q", cl, want)
		}
	}
	if !strings.HasSuffix(cl, " foo=bar") {
		t.Errorf("extra parameters not last: %q", cl)
	}
	v := KernelCmdline(CmdlineOptions{Console: "hvc0", Verbose: true, MitigationsOff: true})
	for _, want := range []string{"console=hvc0", "loglevel=7", "mitigations=off"} {
		if !strings.Contains(v, want) {
			t.Errorf("cmdline %q lacks %q", v, want)
		}
	}
	if strings.Contains(v, "quiet") || strings.Contains(v, "tsc_early_khz") {
		t.Errorf("verbose cmdline %q", v)
	}
}

func TestExitStatusMapping(t *testing.T) {
	for n := 1; n <= 255; n++ {
		v := DebugExitValue(n)
		qemu := (int(v)<<1 | 1) & 0xff // what the host sees
		got, ok := vmm.ExitLinuxInit.Decode(qemu)
		want := min(n, MaxExitStatus)
		if !ok || got != want {
			t.Errorf("status %d -> port %d -> qemu %d -> %d,%v; want %d", n, v, qemu, got, ok, want)
		}
	}
	if DebugExitValue(-9) != MaxExitStatus {
		t.Error("negative status not clamped")
	}
	for q, want := range map[int]int{0: 0, 3: 1, 15: 7, 255: 127} {
		if got, ok := vmm.ExitLinuxInit.Decode(q); !ok || got != want {
			t.Errorf("vmm.ExitLinuxInit.Decode(%d) = %d, %v", q, got, ok)
		}
	}
	for _, q := range []int{1, 2, 4, 256, -1} {
		if _, ok := vmm.ExitLinuxInit.Decode(q); ok {
			t.Errorf("vmm.ExitLinuxInit.Decode(%d) ok, want not from the guest", q)
		}
	}
}

// fakeAssets writes an init binary and a modules dir for testModules.
func fakeAssets(t *testing.T) (initPath, modDir string) {
	t.Helper()
	dir := t.TempDir()
	initPath = filepath.Join(dir, "urunc-init")
	if err := os.WriteFile(initPath, bytes.Repeat([]byte("I"), 3<<20), 0o755); err != nil {
		t.Fatal(err)
	}
	modDir = filepath.Join(dir, "modules")
	os.Mkdir(modDir, 0o755)
	var dep bytes.Buffer
	WriteModulesDep(&dep, testModules())
	os.WriteFile(filepath.Join(modDir, ModulesDepFile), dep.Bytes(), 0o644)
	for _, m := range testModules() {
		os.WriteFile(filepath.Join(modDir, m.Name+".ko"), []byte("ko:"+m.Name), 0o644)
	}
	return initPath, modDir
}

func TestBuildInitrd(t *testing.T) {
	initPath, modDir := fakeAssets(t)
	cache := filepath.Join(t.TempDir(), "cache")
	out := t.TempDir()
	cfg := validConfig()

	var first, second time.Duration
	for i, d := range []*time.Duration{&first, &second} {
		dst := filepath.Join(out, fmt.Sprintf("initrd%d", i))
		t0 := time.Now()
		if err := BuildInitrd(dst, InitSpec{Config: cfg, Init: initPath, ModulesDir: modDir, CacheDir: cache}); err != nil {
			t.Fatal(err)
		}
		*d = time.Since(t0)
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		ar := readCPIO(t, b)
		if len(ar) != 2 {
			t.Fatalf("%d archives, want static + config", len(ar))
		}
		static, per := ar[0], ar[1]
		if f := static["init"]; f.mode != modeFile|0o755 || len(f.data) != 3<<20 {
			t.Errorf("init: mode %o size %d", f.mode, len(f.data))
		}
		if f := static["dev/console"]; f.mode != modeChr|0o600 || f.rmaj != 5 || f.rmin != 1 {
			t.Errorf("dev/console: %+v", f)
		}
		for _, m := range []string{"virtio_mmio", "9p", "fscache", "virtio_net", "failover"} {
			if f := static["urunc/modules/"+m+".ko"]; string(f.data) != "ko:"+m {
				t.Errorf("module %s: %q", m, f.data)
			}
		}
		if _, ok := static["urunc/modules/virtiofs.ko"]; ok {
			t.Error("virtiofs.ko included for a 9p root")
		}
		dep, err := ReadModulesDep(bytes.NewReader(static["urunc/modules/"+ModulesDepFile].data))
		if err != nil {
			t.Fatal(err)
		}
		if want := "virtio_ring virtio virtio_mmio virtio_pci 9pnet 9pnet_virtio netfs fscache 9p failover net_failover virtio_net"; names(dep) != want {
			t.Errorf("initrd modules.dep: %s", names(dep))
		}
		if len(per) != 1 {
			t.Errorf("per-container archive has %d entries, want only the config", len(per))
		}
		got, err := ParseConfig(per["urunc/config.json"].data)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got.Args, "|") != strings.Join(cfg.Args, "|") || got.Network.IP != "10.0.0.2" {
			t.Errorf("config in initrd: %+v", got)
		}
	}
	t.Logf("BuildInitrd: first %v (builds the cache), second %v", first, second)
	ents, _ := os.ReadDir(cache)
	if len(ents) != 1 {
		t.Errorf("cache holds %d files, want 1", len(ents))
	}

	// Another root kind is another static part; a changed init too.
	vf := cfg
	vf.Root = Root{Type: RootVirtiofs, Tag: "fs"}
	if err := BuildInitrd(filepath.Join(out, "vf"), InitSpec{Config: vf, Init: initPath, ModulesDir: modDir, CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	os.Chtimes(initPath, future, future)
	if err := BuildInitrd(filepath.Join(out, "vf2"), InitSpec{Config: vf, Init: initPath, ModulesDir: modDir, CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(cache); len(ents) != 3 {
		t.Errorf("cache holds %d files, want 3", len(ents))
	}

	// Without a cache the result is the same bytes.
	if err := BuildInitrd(filepath.Join(out, "nocache"), InitSpec{Config: vf, Init: initPath, ModulesDir: modDir}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(out, "vf2"))
	b, _ := os.ReadFile(filepath.Join(out, "nocache"))
	if !bytes.Equal(a, b) {
		t.Error("cached and uncached initrds differ")
	}
}

func TestBuildInitrdErrors(t *testing.T) {
	initPath, modDir := fakeAssets(t)
	dst := filepath.Join(t.TempDir(), "initrd")
	for name, spec := range map[string]InitSpec{
		"invalid config": {Config: Config{}, Init: initPath, ModulesDir: modDir},
		"no init":        {Config: validConfig(), Init: filepath.Join(modDir, "nope"), ModulesDir: modDir},
		"no modules":     {Config: validConfig(), Init: initPath, ModulesDir: t.TempDir()},
	} {
		if err := BuildInitrd(dst, spec); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := os.Stat(dst); err == nil {
			t.Errorf("%s: left %s behind", name, dst)
		}
	}
	ents, _ := os.ReadDir(filepath.Dir(dst))
	if len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestFindAssets(t *testing.T) {
	root := t.TempDir()
	exe := filepath.Join(root, "bin", "urunc")
	if _, err := FindAssets(exe); !errors.Is(err, ErrAsset) {
		t.Fatalf("empty tree: err = %v", err)
	}
	for _, p := range []string{"bin/urunc-init", "build/linux/vmlinux", "build/linux/modules/modules.dep"} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
		os.WriteFile(filepath.Join(root, p), nil, 0o644)
	}
	a, err := FindAssets(exe)
	if err != nil {
		t.Fatal(err)
	}
	if a.Init != filepath.Join(root, "bin", "urunc-init") || a.Kernel != filepath.Join(root, "bin", "..", "build", "linux", "vmlinux") ||
		a.ModulesDir != filepath.Join(root, "bin", "..", "build", "linux", "modules") {
		t.Errorf("assets %+v", a)
	}
	// The modules are optional: a kernel with everything built in needs none.
	os.RemoveAll(filepath.Join(root, "build", "linux", "modules"))
	a, err = FindAssets(exe)
	if err != nil || a.ModulesDir != "" || a.Kernel == "" {
		t.Errorf("without modules: %+v, %v", a, err)
	}
}

func TestHostTSCKHz(t *testing.T) {
	ctx := t.Context()
	khz, err := HostTSCKHz(ctx)
	if errors.Is(err, ErrNoTSC) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if khz < 100000 || khz > 10000000 || khz%1000 != 0 {
		t.Errorf("TSC %d kHz", khz)
	}
}

func BenchmarkBuildInitrdCached(b *testing.B) {
	dir := b.TempDir()
	initPath := filepath.Join(dir, "init")
	os.WriteFile(initPath, bytes.Repeat([]byte("I"), 3<<20), 0o755)
	modDir := filepath.Join(dir, "modules")
	os.Mkdir(modDir, 0o755)
	var dep bytes.Buffer
	WriteModulesDep(&dep, testModules())
	os.WriteFile(filepath.Join(modDir, ModulesDepFile), dep.Bytes(), 0o644)
	for _, m := range testModules() {
		os.WriteFile(filepath.Join(modDir, m.Name+".ko"), bytes.Repeat([]byte("k"), 100<<10), 0o644)
	}
	spec := InitSpec{Config: validConfig(), Init: initPath, ModulesDir: modDir, CacheDir: filepath.Join(dir, "cache")}
	dst := filepath.Join(dir, "initrd")
	for b.Loop() {
		if err := BuildInitrd(dst, spec); err != nil {
			b.Fatal(err)
		}
	}
}

// A virtio-fs or block root with volumes still loads the 9p modules; a
// volume tag must be a plain word.
func TestVolumes(t *testing.T) {
	// A virtio-fs or block root with volumes still loads the 9p modules.
	cfg := validConfig()
	cfg.Root = Root{Type: RootVirtiofs, Tag: "rootfs"}
	cfg.Volumes = []Volume{{Tag: "urunc-vol0", Path: "/data"}}
	if mods := strings.Join(ModulesFor(cfg), " "); !strings.Contains(mods, "9pnet_virtio 9p") {
		t.Fatalf("modules %s lack 9p", mods)
	}
	cfg.Volumes = []Volume{{Tag: "a,b", Path: "/data"}}
	if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad volume tag: %v", err)
	}
}

package config

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func writeBundle(t *testing.T, rootPath string, uruncJSON string) (string, *specs.Spec) {
	t.Helper()
	bundle := t.TempDir()
	rootfs := rootPath
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootPath)
	}
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	if uruncJSON != "" {
		if err := os.WriteFile(filepath.Join(rootfs, URuncJSON), []byte(uruncJSON), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return bundle, &specs.Spec{Root: &specs.Root{Path: rootPath}, Annotations: map[string]string{}}
}

func TestLoadFromAnnotations(t *testing.T) {
	tests := []struct {
		name    string
		ann     map[string]string
		want    Unikernel
		wantErr error
		errText string
	}{
		{
			name: "plain",
			ann:  map[string]string{KeyType: "unikraft", KeyHypervisor: "qemu", KeyBinary: "/k", KeyCmdline: "a b", "other": "x"},
			want: Unikernel{Type: "unikraft", Hypervisor: "qemu", Binary: "/k", Cmdline: "a b", Source: "annotations"},
		},
		{
			name: "b64 prefix",
			ann:  map[string]string{KeyType: "b64:" + b64("hermit"), KeyHypervisor: "qemu", KeyBinary: "/k"},
			want: Unikernel{Type: "hermit", Hypervisor: "qemu", Binary: "/k", Source: "annotations"},
		},
		{
			name: "vmm overrides",
			ann:  map[string]string{KeyType: "linux", KeyHypervisor: "qemu", KeyBinary: "/k", KeyAccel: "tcg", KeyMachine: "microvm"},
			want: Unikernel{Type: "linux", Hypervisor: "qemu", Binary: "/k", Accel: "tcg", Machine: "microvm", Source: "annotations"},
		},
		{
			name: "virtiofs",
			ann:  map[string]string{KeyType: "linux", KeyHypervisor: "qemu", KeyBinary: "/k", KeySharedFS: "virtiofs"},
			want: Unikernel{Type: "linux", Hypervisor: "qemu", Binary: "/k", SharedFS: "virtiofs", Source: "annotations"},
		},
		{name: "unknown sharedfs", ann: map[string]string{KeyType: "linux", KeyHypervisor: "qemu", KeyBinary: "/k", KeySharedFS: "nfs"}, wantErr: ErrUnknownSharedFS, errText: `"nfs"`},
		{name: "bad b64", ann: map[string]string{KeyType: "b64:!!!", KeyHypervisor: "qemu", KeyBinary: "/k"}, wantErr: ErrInvalidConfig, errText: "malformed base64"},
		{name: "missing binary", ann: map[string]string{KeyType: "unikraft", KeyHypervisor: "qemu"}, wantErr: ErrInvalidConfig, errText: KeyBinary},
		{name: "unknown key", ann: map[string]string{KeyType: "unikraft", KeyHypervisor: "qemu", KeyBinary: "/k", Prefix + "bogus": "1"}, wantErr: ErrInvalidConfig, errText: "bogus"},
		{name: "newline", ann: map[string]string{KeyType: "unikraft", KeyHypervisor: "qemu", KeyBinary: "/k", KeyCmdline: "a\n-b"}, wantErr: ErrInvalidConfig, errText: "control character"},
		{name: "bad accel", ann: map[string]string{KeyType: "unikraft", KeyHypervisor: "qemu", KeyBinary: "/k", KeyAccel: "hax"}, wantErr: ErrInvalidConfig, errText: "accel"},
		{name: "bad bool", ann: map[string]string{KeyType: "linux", KeyHypervisor: "qemu", KeyBinary: "/k", KeyMountRootfs: "yes"}, wantErr: ErrInvalidConfig, errText: "mountRootfs"},
		{name: "bad solo5 device name", ann: map[string]string{KeyType: "solo5", KeyHypervisor: "spt", KeyBinary: "/k", KeySolo5NetDev: "net 0"}, wantErr: ErrInvalidConfig, errText: "solo5NetDev"},
		{name: "solo5 device names", ann: map[string]string{KeyType: "solo5", KeyHypervisor: "spt", KeyBinary: "/k", KeySolo5NetDev: "service0", KeySolo5BlkDev: "storage"},
			want: Unikernel{Type: "solo5", Hypervisor: "spt", Binary: "/k", Solo5NetDev: "service0", Solo5BlkDev: "storage", Source: "annotations"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle, spec := writeBundle(t, "rootfs", "")
			spec.Annotations = tt.ann
			got, err := Load(bundle, spec)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != tt.want {
				t.Fatalf("got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestLoadFromURuncJSON(t *testing.T) {
	full := `{"com.urunc.unikernel.unikernelType":"` + b64("unikraft") + `","com.urunc.unikernel.hypervisor":"` + b64("qemu") +
		`","com.urunc.unikernel.binary":"` + b64("/unikernel/app.elf") + `","com.urunc.unikernel.cmdline":"` + b64("hello world") + `"}`
	tests := []struct {
		name     string
		rootPath string
		json     string
		ann      map[string]string
		want     Unikernel
		wantErr  error
	}{
		{name: "base64 relative root", rootPath: "rootfs", json: full,
			want: Unikernel{Type: "unikraft", Hypervisor: "qemu", Binary: "/unikernel/app.elf", Cmdline: "hello world"}},
		{name: "absolute root", rootPath: filepath.Join(t.TempDir(), "merged"), json: full,
			want: Unikernel{Type: "unikraft", Hypervisor: "qemu", Binary: "/unikernel/app.elf", Cmdline: "hello world"}},
		{name: "plaintext values", rootPath: "rootfs", json: `{"com.urunc.unikernel.unikernelType":"unikraft","com.urunc.unikernel.hypervisor":"qemu","com.urunc.unikernel.binary":"/k"}`,
			want: Unikernel{Type: "unikraft", Hypervisor: "qemu", Binary: "/k"}},
		{name: "annotation overrides vmm", rootPath: "rootfs", json: full, ann: map[string]string{KeyMachine: "microvm"},
			want: Unikernel{Type: "unikraft", Hypervisor: "qemu", Binary: "/unikernel/app.elf", Cmdline: "hello world", Machine: "microvm"}},
		{name: "annotation overrides sharedfs", rootPath: "rootfs", json: full, ann: map[string]string{KeySharedFS: "virtiofs"},
			want: Unikernel{Type: "unikraft", Hypervisor: "qemu", Binary: "/unikernel/app.elf", Cmdline: "hello world", SharedFS: "virtiofs"}},
		{name: "sharedfs in urunc.json", rootPath: "rootfs", json: `{"com.urunc.unikernel.unikernelType":"linux","com.urunc.unikernel.hypervisor":"qemu","com.urunc.unikernel.binary":"/k","com.urunc.unikernel.sharedfs":"` + b64("virtiofs") + `"}`,
			want: Unikernel{Type: "linux", Hypervisor: "qemu", Binary: "/k", SharedFS: "virtiofs"}},
		{name: "bad sharedfs in urunc.json", rootPath: "rootfs", json: `{"com.urunc.unikernel.unikernelType":"linux","com.urunc.unikernel.hypervisor":"qemu","com.urunc.unikernel.binary":"/k","com.urunc.unikernel.sharedfs":"smb"}`, wantErr: ErrUnknownSharedFS},
		{name: "no config", rootPath: "rootfs", wantErr: ErrNoConfig},
		{name: "not json", rootPath: "rootfs", json: "{", wantErr: ErrInvalidConfig},
		{name: "array", rootPath: "rootfs", json: "[]", wantErr: ErrInvalidConfig},
		{name: "number value", rootPath: "rootfs", json: `{"com.urunc.unikernel.unikernelType":1}`, wantErr: ErrInvalidConfig},
		{name: "missing keys", rootPath: "rootfs", json: `{"com.urunc.unikernel.unikernelType":"` + b64("unikraft") + `"}`, wantErr: ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle, spec := writeBundle(t, tt.rootPath, tt.json)
			for k, v := range tt.ann {
				spec.Annotations[k] = v
			}
			got, err := Load(bundle, spec)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Source = ""
			if *got != tt.want {
				t.Fatalf("got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestURuncJSONSymlinkRefused(t *testing.T) {
	bundle, spec := writeBundle(t, "rootfs", "")
	target := filepath.Join(t.TempDir(), "x.json")
	os.WriteFile(target, []byte(`{}`), 0o644)
	if err := os.Symlink(target, filepath.Join(bundle, "rootfs", URuncJSON)); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bundle, spec); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
}

func TestResolveInRootfs(t *testing.T) {
	rootfs := t.TempDir()
	os.MkdirAll(filepath.Join(rootfs, "unikernel"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "unikernel", "app.elf"), []byte("x"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(rootfs, "abs-link"))
	os.Symlink("../../../../etc/passwd", filepath.Join(rootfs, "rel-link"))
	os.Symlink("unikernel/app.elf", filepath.Join(rootfs, "good-link"))
	tests := []struct {
		p       string
		want    string
		wantErr error
	}{
		{p: "/unikernel/app.elf", want: filepath.Join(rootfs, "unikernel", "app.elf")},
		{p: "unikernel/app.elf", want: filepath.Join(rootfs, "unikernel", "app.elf")},
		{p: "/good-link", want: filepath.Join(rootfs, "unikernel", "app.elf")},
		{p: "/../etc/passwd", wantErr: ErrPathEscapes},
		{p: "/abs-link", wantErr: ErrInvalidConfig}, // resolves to rootfs/etc/passwd: absent
		{p: "/rel-link", wantErr: ErrInvalidConfig},
		{p: "/unikernel", wantErr: ErrInvalidConfig}, // a directory
		{p: "/missing", wantErr: ErrInvalidConfig},
	}
	for _, tt := range tests {
		got, err := ResolveInRootfs(rootfs, "binary", tt.p)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: err = %v, want %v", tt.p, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.p, got, err, tt.want)
		}
	}
}

func TestLoadHost(t *testing.T) {
	dir := t.TempDir()
	h, err := LoadHost(filepath.Join(dir, "missing.json"))
	if err != nil || h.Timeouts.Booted.D() == 0 || h.MemoryMB != 256 || h.SharedFS != SharedFS9P {
		t.Fatalf("defaults: %+v %v", h, err)
	}
	if h.Timeouts.HookMax.D() <= 0 || h.Timeouts.Network.D() <= 0 || h.Timeouts.Storage.D() <= 0 {
		t.Fatalf("every announced step has a default limit: %+v", h.Timeouts)
	}
	p := filepath.Join(dir, "c.json")
	os.WriteFile(p, []byte(`{"timeouts":{"booted":"2s"},"qemu":{"accel":"tcg"}}`), 0o644)
	h, err = LoadHost(p)
	if err != nil || h.Timeouts.Booted.D().Seconds() != 2 || h.QEMU.Accel != "tcg" || h.Timeouts.Ack.D() == 0 {
		t.Fatalf("override: %+v %v", h, err)
	}
	os.WriteFile(p, []byte(`{"sharedFS":"virtiofs"}`), 0o644)
	if h, err = LoadHost(p); err != nil || h.SharedFS != SharedFSVirtiofs {
		t.Fatalf("sharedFS: %+v %v", h, err)
	}
	for _, bad := range []string{`{"sharedFS":"nfs"}`, `{"qemu":{"accel":"xen"}}`, `{"timeouts":{"booted":5}}`, `{"timeouts":{"booted":"-1s"}}`, `nope`,
		`{"timeouts":{"hookMax":"0s"}}`, `{"timeouts":{"network":"0s"}}`, `{"timeouts":{"storage":"0s"}}`} {
		os.WriteFile(p, []byte(bad), 0o644)
		if _, err := LoadHost(p); err == nil {
			t.Errorf("%s: want error", bad)
		}
	}
}

// urunc.json written by EncodeURuncJSON reads back as the same values.
func TestURuncJSONRoundTrip(t *testing.T) {
	in := map[string]string{KeyType: "unikraft", KeyHypervisor: "qemu", KeyBinary: "/unikernel/app.elf", KeyCmdline: `a "b" c`}
	data := EncodeURuncJSON(in)
	if strings.Contains(string(data), "unikraft") {
		t.Fatalf("values not base64: %s", data)
	}
	u, err := ParseURuncJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Map(); len(got) != len(in) || got[KeyCmdline] != in[KeyCmdline] || got[KeyBinary] != in[KeyBinary] {
		t.Fatalf("round trip: %v", got)
	}
}

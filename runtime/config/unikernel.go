// Package config reads a container's unikernel configuration (from the
// bundle's annotations or urunc.json in its rootfs) and urunc's own host
// configuration file.
package config

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Annotation keys. The unikernel keys are upstream urunc's, so images made
// for it work unchanged; the vmm and network keys are urunc's additions.
const (
	Prefix         = "com.urunc.unikernel."
	KeyType        = Prefix + "unikernelType"
	KeyCmdline     = Prefix + "cmdline"
	KeyBinary      = Prefix + "binary"
	KeyHypervisor  = Prefix + "hypervisor"
	KeyVersion     = Prefix + "unikernelVersion"
	KeyInitrd      = Prefix + "initrd"
	KeyBlock       = Prefix + "block"
	KeyBlkMntPoint = Prefix + "blkMntPoint"
	KeyUseDMBlock  = Prefix + "useDMBlock"
	KeyMountRootfs = Prefix + "mountRootfs"
	// KeySharedFS chooses how a Linux guest gets the container rootfs when
	// it is shared rather than handed over as a block device: "9p"
	// (default) or "virtiofs". urunc's addition; the host configuration's
	// sharedFS is the default.
	KeySharedFS = Prefix + "sharedfs"
	// KeySolo5NetDev and KeySolo5BlkDev name the solo5 network and block
	// devices the unikernel was built with (upstream urunc's keys, v0.8);
	// they override the guest type's defaults and must match its manifest.
	KeySolo5NetDev = Prefix + "solo5NetDev"
	KeySolo5BlkDev = Prefix + "solo5BlkDev"

	VMMPrefix  = "com.urunc.vmm."
	KeyAccel   = VMMPrefix + "accel"   // kvm | tcg | auto
	KeyCPU     = VMMPrefix + "cpu"     // qemu -cpu value
	KeyMachine = VMMPrefix + "machine" // qemu -M value
	// KeyConsole puts the guest's serial console on a unix socket in the
	// state directory (console.sock, "socket") instead of the container's
	// stdio ("stdio", the default): any tool can then talk to the guest.
	KeyConsole = VMMPrefix + "console"
	// KeyGDB starts qemu's gdb stub on gdb.sock in the state directory:
	// "on", or "wait" (the guest paused before its first instruction
	// until gdb continues it); "off" or absent: none.
	KeyGDB         = VMMPrefix + "gdb"
	KeyNetworkMode = "com.urunc.network.mode" // dynamic | static | none
	// KeyNetworkPorts are the ports a guest publishes on its pod's address
	// in static mode ("8123/tcp,53/udp"): OCI has no port list.
	KeyNetworkPorts = "com.urunc.network.ports"
	// KeyNetworkIP is a guest's own address in static mode, for a guest
	// whose address is built in ("" = the next free of 172.16.1.0/24).
	KeyNetworkIP = "com.urunc.network.ip"

	// URuncJSON is the file at the rootfs root that carries the config
	// when the engine passes no image annotations (Docker).
	URuncJSON = "urunc.json"
)

var (
	// ErrNoConfig means the bundle is not a unikernel: hand it to runc.
	ErrNoConfig = errors.New("no unikernel configuration")
	// ErrInvalidConfig means there is a configuration but it is wrong:
	// never hand such a bundle to runc.
	ErrInvalidConfig = errors.New("invalid unikernel configuration")
)

// Unikernel is a container's unikernel configuration, values decoded.
type Unikernel struct {
	Type        string `json:"com.urunc.unikernel.unikernelType"`
	Cmdline     string `json:"com.urunc.unikernel.cmdline,omitempty"`
	Binary      string `json:"com.urunc.unikernel.binary"`
	Hypervisor  string `json:"com.urunc.unikernel.hypervisor"`
	Version     string `json:"com.urunc.unikernel.unikernelVersion,omitempty"`
	Initrd      string `json:"com.urunc.unikernel.initrd,omitempty"`
	Block       string `json:"com.urunc.unikernel.block,omitempty"`
	BlkMntPoint string `json:"com.urunc.unikernel.blkMntPoint,omitempty"`
	UseDMBlock  string `json:"com.urunc.unikernel.useDMBlock,omitempty"`
	MountRootfs string `json:"com.urunc.unikernel.mountRootfs,omitempty"`
	SharedFS    string `json:"com.urunc.unikernel.sharedfs,omitempty"`
	Solo5NetDev string `json:"com.urunc.unikernel.solo5NetDev,omitempty"`
	Solo5BlkDev string `json:"com.urunc.unikernel.solo5BlkDev,omitempty"`

	Accel        string `json:"com.urunc.vmm.accel,omitempty"`
	CPU          string `json:"com.urunc.vmm.cpu,omitempty"`
	Machine      string `json:"com.urunc.vmm.machine,omitempty"`
	Console      string `json:"com.urunc.vmm.console,omitempty"`
	GDB          string `json:"com.urunc.vmm.gdb,omitempty"`
	NetworkMode  string `json:"com.urunc.network.mode,omitempty"`
	NetworkPorts string `json:"com.urunc.network.ports,omitempty"`
	NetworkIP    string `json:"com.urunc.network.ip,omitempty"`

	// Source says where the configuration was found (for logs and vmm.json).
	Source string `json:"-"`
}

// fields maps every known key to its field, so parsing and Map() agree.
func (u *Unikernel) fields() map[string]*string {
	return map[string]*string{
		KeyType: &u.Type, KeyCmdline: &u.Cmdline, KeyBinary: &u.Binary,
		KeyHypervisor: &u.Hypervisor, KeyVersion: &u.Version, KeyInitrd: &u.Initrd,
		KeyBlock: &u.Block, KeyBlkMntPoint: &u.BlkMntPoint, KeyUseDMBlock: &u.UseDMBlock,
		KeyMountRootfs: &u.MountRootfs, KeySharedFS: &u.SharedFS, KeySolo5NetDev: &u.Solo5NetDev, KeySolo5BlkDev: &u.Solo5BlkDev,
		KeyAccel: &u.Accel, KeyCPU: &u.CPU,
		KeyMachine: &u.Machine, KeyNetworkMode: &u.NetworkMode, KeyConsole: &u.Console, KeyGDB: &u.GDB,
		KeyNetworkPorts: &u.NetworkPorts, KeyNetworkIP: &u.NetworkIP,
	}
}

// Map returns the non-empty keys with plain values.
func (u *Unikernel) Map() map[string]string {
	m := map[string]string{}
	for k, p := range u.fields() {
		if *p != "" {
			m[k] = *p
		}
	}
	return m
}

// IsConfigKey reports whether an annotation key belongs to urunc.
func IsConfigKey(k string) bool {
	return strings.HasPrefix(k, Prefix) || strings.HasPrefix(k, VMMPrefix) || k == KeyNetworkMode ||
		k == KeyNetworkPorts || k == KeyNetworkIP
}

// Load finds the configuration of the bundle whose config.json is spec:
// annotations first (any com.urunc.unikernel.* key), else urunc.json at
// the root of the container's rootfs (root.path, absolute or relative to
// the bundle). Per-container vmm/network annotations override urunc.json.
// ErrNoConfig means neither exists.
func Load(bundle string, spec *specs.Spec) (*Unikernel, error) {
	hasUnikernelAnnotation := false
	for k := range spec.Annotations {
		if strings.HasPrefix(k, Prefix) && !overrideKey(k) {
			hasUnikernelAnnotation = true
			break
		}
	}
	if hasUnikernelAnnotation {
		u, err := parse(spec.Annotations, decodeAnnotation)
		if err != nil {
			return nil, fmt.Errorf("%w: annotations: %w", ErrInvalidConfig, err)
		}
		u.Source = "annotations"
		return u, u.validate()
	}

	rootfs := RootfsPath(bundle, spec)
	if rootfs == "" {
		return nil, ErrNoConfig
	}
	path := filepath.Join(rootfs, URuncJSON)
	// urunc.json must be a regular file right at the rootfs root; a symlink
	// could point anywhere on the host.
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoConfig
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalidConfig, path)
	}
	if info.Size() > 1<<20 {
		return nil, fmt.Errorf("%w: %s is larger than 1 MiB", ErrInvalidConfig, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	u, err := ParseURuncJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, path, err)
	}
	u.Source = path
	// Per-container overrides of VMM choices may still come as annotations.
	for _, k := range overrideKeys {
		if v, ok := spec.Annotations[k]; ok {
			dv, err := decodeAnnotation(v)
			if err != nil {
				return nil, fmt.Errorf("%w: annotation %s: %w", ErrInvalidConfig, k, err)
			}
			*u.fields()[k] = dv
		}
	}
	return u, u.validate()
}

// overrideKeys are per-container choices an annotation may make on top of
// urunc.json; alone they do not make a bundle a unikernel.
var overrideKeys = []string{KeyAccel, KeyCPU, KeyMachine, KeyNetworkMode, KeySharedFS, KeyConsole, KeyGDB, KeyNetworkPorts, KeyNetworkIP}

func overrideKey(k string) bool {
	for _, o := range overrideKeys {
		if k == o {
			return true
		}
	}
	return false
}

// ParseURuncJSON decodes urunc.json: a flat JSON object of string values,
// base64 encoded as upstream images have them (plain text is accepted too).
func ParseURuncJSON(data []byte) (*Unikernel, error) {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	values := make(map[string]string, len(raw))
	for k, v := range raw {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("key %q: value must be a string, got %T", k, v)
		}
		values[k] = s
	}
	return parse(values, decodeFileValue)
}

// EncodeURuncJSON is ParseURuncJSON's inverse, as upstream's image tools
// write urunc.json: a flat object, every value standard base64.
func EncodeURuncJSON(values map[string]string) []byte {
	enc := make(map[string]string, len(values))
	for k, v := range values {
		enc[k] = base64.StdEncoding.EncodeToString([]byte(v))
	}
	data, _ := json.MarshalIndent(enc, "", "  ") // a map of strings always encodes
	return append(data, '\n')
}

// RootfsPath returns the absolute rootfs path of a bundle.
func RootfsPath(bundle string, spec *specs.Spec) string {
	if spec.Root == nil || spec.Root.Path == "" {
		return ""
	}
	if filepath.IsAbs(spec.Root.Path) {
		return filepath.Clean(spec.Root.Path)
	}
	return filepath.Join(bundle, spec.Root.Path)
}

func parse(values map[string]string, decode func(string) (string, error)) (*Unikernel, error) {
	u := &Unikernel{}
	fields := u.fields()
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic error messages
	for _, k := range keys {
		if !IsConfigKey(k) {
			continue // other annotations are not ours
		}
		field, known := fields[k]
		if !known {
			return nil, fmt.Errorf("unknown key %q", k)
		}
		v, err := decode(values[k])
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k, err)
		}
		if err := checkText(v); err != nil {
			return nil, fmt.Errorf("key %s: %w", k, err)
		}
		*field = v
	}
	return u, nil
}

// decodeAnnotation: annotations are plain text unless prefixed "b64:".
func decodeAnnotation(v string) (string, error) {
	if rest, ok := strings.CutPrefix(v, "b64:"); ok {
		return decodeBase64(rest)
	}
	return v, nil
}

// decodeFileValue: urunc.json values are base64 (upstream's format); a
// "b64:" prefix forces base64; a value that is not base64 of printable
// UTF-8 text is taken as plain text.
func decodeFileValue(v string) (string, error) {
	if rest, ok := strings.CutPrefix(v, "b64:"); ok {
		return decodeBase64(rest)
	}
	if d, err := base64.StdEncoding.Strict().DecodeString(v); err == nil && printable(string(d)) {
		return string(d), nil
	}
	return v, nil
}

func decodeBase64(v string) (string, error) {
	d, err := base64.StdEncoding.Strict().DecodeString(v)
	if err != nil {
		return "", fmt.Errorf("malformed base64 %q: %w", v, err)
	}
	return string(d), nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != '\t' {
			return false
		}
	}
	return true
}

// checkText refuses control characters: a newline or NUL in a value could
// smuggle arguments into a VMM or kernel command line.
func checkText(v string) error {
	if !utf8.ValidString(v) {
		return errors.New("value is not valid UTF-8")
	}
	for _, r := range v {
		if unicode.IsControl(r) && r != '\t' {
			return fmt.Errorf("value contains control character %U", r)
		}
	}
	return nil
}

func (u *Unikernel) validate() error {
	var missing []string
	if u.Type == "" {
		missing = append(missing, KeyType)
	}
	if u.Hypervisor == "" {
		missing = append(missing, KeyHypervisor)
	}
	if u.Binary == "" {
		missing = append(missing, KeyBinary)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s (from %s)", ErrInvalidConfig, strings.Join(missing, ", "), u.Source)
	}
	for _, b := range []struct{ key, v string }{{KeyUseDMBlock, u.UseDMBlock}, {KeyMountRootfs, u.MountRootfs}} {
		if b.v != "" && b.v != "true" && b.v != "false" {
			return fmt.Errorf("%w: %s must be true or false, got %q", ErrInvalidConfig, b.key, b.v)
		}
	}
	for _, d := range []struct{ key, v string }{{KeySolo5NetDev, u.Solo5NetDev}, {KeySolo5BlkDev, u.Solo5BlkDev}} {
		if d.v != "" && !solo5Name(d.v) {
			return fmt.Errorf("%w: %s %q: a Solo5 device name is 1 to 67 letters and digits", ErrInvalidConfig, d.key, d.v)
		}
	}
	if err := CheckSharedFS(u.SharedFS); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidConfig, KeySharedFS, err)
	}
	switch u.Accel {
	case "", "auto", "kvm", "tcg":
	default:
		return fmt.Errorf("%w: %s must be kvm, tcg or auto, got %q", ErrInvalidConfig, KeyAccel, u.Accel)
	}
	switch u.Console {
	case "", "stdio", "socket":
	default:
		return fmt.Errorf("%w: %s must be stdio or socket, got %q", ErrInvalidConfig, KeyConsole, u.Console)
	}
	switch u.GDB {
	case "", "off", "on", "wait":
	default:
		return fmt.Errorf("%w: %s must be on, wait or off, got %q", ErrInvalidConfig, KeyGDB, u.GDB)
	}
	switch u.NetworkMode {
	case "", "dynamic", "static", "none":
	default:
		return fmt.Errorf("%w: %s must be dynamic, static or none, got %q", ErrInvalidConfig, KeyNetworkMode, u.NetworkMode)
	}
	return nil
}

// GDBOn says the configuration asks for the gdb stub.
func (u *Unikernel) GDBOn() bool { return u.GDB == "on" || u.GDB == "wait" }

// Shared root filesystem kinds (KeySharedFS, Host.SharedFS).
const (
	SharedFS9P       = "9p"
	SharedFSVirtiofs = "virtiofs"
)

// ErrUnknownSharedFS is wrapped when a shared filesystem kind is neither
// 9p nor virtiofs.
var ErrUnknownSharedFS = errors.New("unknown shared filesystem kind")

// CheckSharedFS accepts "", "9p" and "virtiofs".
func CheckSharedFS(v string) error {
	switch v {
	case "", SharedFS9P, SharedFSVirtiofs:
		return nil
	}
	return fmt.Errorf("%w %q (want %s or %s)", ErrUnknownSharedFS, v, SharedFS9P, SharedFSVirtiofs)
}

// solo5Name is a device name Solo5 accepts (and upstream's annotation
// check): 1 to 67 ASCII letters and digits.
func solo5Name(s string) bool {
	if len(s) == 0 || len(s) > 67 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Package linuxboot prepares what a Linux microVM guest needs to run an
// ordinary container: an initrd holding the urunc-init binary, the kernel
// modules it loads and the container's process description
// (/urunc/config.json), and the kernel command line. The guest init
// (cmd/urunc-init) reads the same Config type.
//
// See docs/linux-guest.md for how the guest boots.
package linuxboot

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path"
	"strings"
)

// Paths inside the initrd.
const (
	// ConfigPath is the container's process description (JSON Config).
	ConfigPath = "/urunc/config.json"
	// ModulesDir holds the .ko files and ModulesDepFile.
	ModulesDir = "/urunc/modules"
	// InitPath is where urunc-init lives; the kernel runs it (rdinit=).
	InitPath = "/init"
)

// Root filesystem kinds.
const (
	Root9P       = "9p"
	RootVirtiofs = "virtiofs"
	// RootBlock: the rootfs is a filesystem (Root.FSType) on a virtio
	// block device (Root.Tag, BlockRootDevice), e.g. a devmapper snapshot.
	RootBlock = "block"
)

// BlockRootDevice is the guest's first virtio block device.
const BlockRootDevice = "/dev/vda"

// blockFSTypes are the filesystems a block root may have; each is loaded
// as a module of the same name where not built in (ext4 also mounts ext2
// and ext3 in Debian's kernel: CONFIG_EXT4_USE_FOR_EXT2).
var blockFSTypes = map[string]bool{"ext2": true, "ext3": true, "ext4": true}

// Default values used when the Config leaves them empty.
const (
	DefaultPath      = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	DefaultInterface = "eth0"
	Default9POptions = "trans=virtio,version=9p2000.L,msize=512000"
)

// ErrInvalidConfig is wrapped by every validation error of a Config.
var ErrInvalidConfig = errors.New("invalid linux guest config")

// Config is what the guest init needs to run the container's process. It is
// written as JSON to ConfigPath inside the initrd, so arguments and
// environment never go through the kernel command line.
type Config struct {
	Args           []string `json:"args"`
	Env            []string `json:"env,omitempty"`
	Cwd            string   `json:"cwd,omitempty"`
	UID            uint32   `json:"uid"`
	GID            uint32   `json:"gid"`
	AdditionalGIDs []uint32 `json:"additionalGids,omitempty"`
	Hostname       string   `json:"hostname,omitempty"`
	// Terminal gives the program the console itself (a tty). Otherwise its
	// stdout and stderr are pipes copied to the console (as docker run
	// without -t) and stdin is /dev/null unless Stdin is set.
	Terminal bool     `json:"terminal,omitempty"`
	Stdin    bool     `json:"stdin,omitempty"`
	Root     Root     `json:"root"`
	Network  *Network `json:"network,omitempty"`
	// Modules are loaded in addition to those ModulesFor derives from
	// the config (e.g. "virtio_blk").
	Modules []string `json:"modules,omitempty"`
	// Files are small host files the container bind-mounts (Docker's
	// /etc/hosts, /etc/resolv.conf, /etc/hostname, ...): their content
	// travels in the initrd and urunc-init bind-mounts it over Path in the
	// guest's root, as the engine meant.
	Files []File `json:"files,omitempty"`
	// Volumes are host directories the container bind-mounts, each shared
	// over its own 9p device (Tag) and mounted by urunc-init at Path.
	Volumes []Volume `json:"volumes,omitempty"`
	// Debug makes urunc-init log each step on the console.
	Debug bool `json:"debug,omitempty"`
}

// File is one bind-mounted host file's content and where it goes.
type File struct {
	Path     string `json:"path"`
	Data     []byte `json:"data"`
	Mode     uint32 `json:"mode"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Volume is one bind-mounted host directory as the guest mounts it.
type Volume struct {
	Tag      string `json:"tag"`
	Path     string `json:"path"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Limits of Files: they are copied into the initrd, i.e. guest RAM.
const (
	MaxFileSize   = 256 << 10
	MaxFilesTotal = 1 << 20
)

// Root says how the guest finds the container rootfs.
type Root struct {
	// Type is Root9P (default), RootVirtiofs or RootBlock.
	Type string `json:"type"`
	// Tag is the 9p mount_tag or the virtio-fs tag the VMM exports, or
	// the device of a block root (BlockRootDevice).
	Tag string `json:"tag"`
	// FSType is the filesystem of a block root (ext2, ext3 or ext4).
	FSType string `json:"fstype,omitempty"`
	// Options replaces the default mount options (Default9POptions for
	// 9p, none for virtio-fs).
	Options  string `json:"options,omitempty"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Network is the guest's single interface, configured by urunc-init with
// netlink (the Debian kernel has no CONFIG_IP_PNP, so ip= does not work).
type Network struct {
	Interface string `json:"interface,omitempty"` // default eth0
	IP        string `json:"ip"`
	PrefixLen int    `json:"prefixLen"`
	Gateway   string `json:"gateway,omitempty"`
	MTU       int    `json:"mtu,omitempty"`
}

// Validate reports the first problem that would make the guest fail.
func (c Config) Validate() error {
	if len(c.Args) == 0 || c.Args[0] == "" {
		return fmt.Errorf("%w: args is empty", ErrInvalidConfig)
	}
	if c.Cwd != "" && !path.IsAbs(c.Cwd) {
		return fmt.Errorf("%w: cwd %q is not absolute", ErrInvalidConfig, c.Cwd)
	}
	for _, e := range c.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("%w: env entry %q is not KEY=VALUE", ErrInvalidConfig, e)
		}
	}
	switch c.Root.Type {
	case Root9P, RootVirtiofs, "":
	case RootBlock:
		if !blockFSTypes[c.Root.FSType] {
			return fmt.Errorf("%w: block root filesystem %q (want ext2, ext3 or ext4)", ErrInvalidConfig, c.Root.FSType)
		}
		if !strings.HasPrefix(c.Root.Tag, "/dev/") {
			return fmt.Errorf("%w: block root device %q is not under /dev", ErrInvalidConfig, c.Root.Tag)
		}
	default:
		return fmt.Errorf("%w: root type %q (want %q, %q or %q)", ErrInvalidConfig, c.Root.Type, Root9P, RootVirtiofs, RootBlock)
	}
	if c.Root.Tag == "" {
		return fmt.Errorf("%w: root tag is empty", ErrInvalidConfig)
	}
	total := 0
	for _, f := range c.Files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) == "/" {
			return fmt.Errorf("%w: file destination %q is not an absolute path below /", ErrInvalidConfig, f.Path)
		}
		if len(f.Data) > MaxFileSize {
			return fmt.Errorf("%w: file %s is %d bytes (at most %d)", ErrInvalidConfig, f.Path, len(f.Data), MaxFileSize)
		}
		total += len(f.Data)
	}
	for _, v := range c.Volumes {
		if !path.IsAbs(v.Path) || path.Clean(v.Path) == "/" {
			return fmt.Errorf("%w: volume destination %q is not an absolute path below /", ErrInvalidConfig, v.Path)
		}
		if v.Tag == "" || strings.ContainsAny(v.Tag, ", ") {
			return fmt.Errorf("%w: volume tag %q", ErrInvalidConfig, v.Tag)
		}
	}
	if total > MaxFilesTotal {
		return fmt.Errorf("%w: files total %d bytes (at most %d)", ErrInvalidConfig, total, MaxFilesTotal)
	}
	if n := c.Network; n != nil {
		ip := net.ParseIP(n.IP)
		if ip == nil {
			return fmt.Errorf("%w: network ip %q", ErrInvalidConfig, n.IP)
		}
		bits := 32
		if ip.To4() == nil {
			bits = 128
		}
		if n.PrefixLen < 0 || n.PrefixLen > bits {
			return fmt.Errorf("%w: network prefixLen %d", ErrInvalidConfig, n.PrefixLen)
		}
		if n.Gateway != "" && net.ParseIP(n.Gateway) == nil {
			return fmt.Errorf("%w: network gateway %q", ErrInvalidConfig, n.Gateway)
		}
		if n.MTU < 0 || n.MTU > 65535 {
			return fmt.Errorf("%w: network mtu %d", ErrInvalidConfig, n.MTU)
		}
	}
	return nil
}

// RootType returns c.Root.Type with the default applied.
func (c Config) RootType() string {
	if c.Root.Type == "" {
		return Root9P
	}
	return c.Root.Type
}

// MountFSType returns the filesystem type urunc-init mounts the root as.
func (c Config) MountFSType() string {
	if c.RootType() == RootBlock {
		return c.Root.FSType
	}
	return c.RootType()
}

// MountOptions returns the options urunc-init mounts the root with.
func (c Config) MountOptions() string {
	if c.Root.Options != "" {
		return c.Root.Options
	}
	if c.RootType() == Root9P {
		return Default9POptions
	}
	return ""
}

// Marshal returns the JSON written to ConfigPath.
func (c Config) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding linux guest config: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseConfig decodes and validates what Marshal wrote.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("%w: decoding: %w", ErrInvalidConfig, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

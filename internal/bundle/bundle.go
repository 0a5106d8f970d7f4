// Package bundle writes OCI bundles of unikernels the way upstream
// urunc's images unpack: the kernel (and initrd) under /unikernel in the
// rootfs, the configuration as annotations and/or a base64 urunc.json.
// `urunc spec`, `urunc-dev bundle`, the benchmarks and the tests use it.
package bundle

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/runtime/config"
)

// KernelDir is where a bundle's rootfs holds the unikernel's files.
const KernelDir = "/unikernel"

// DefaultNamespaces are those of a container on its own: new pid, ipc,
// uts, mount and network namespaces.
func DefaultNamespaces() []specs.LinuxNamespace {
	return []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
		{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.NetworkNamespace}}
}

// SpecOptions shape a bundle's config.json.
type SpecOptions struct {
	Args        []string
	Env         []string // default PATH=/bin
	Cwd         string   // default /
	Hostname    string
	Terminal    bool
	Annotations map[string]string
	Namespaces  []specs.LinuxNamespace // nil: DefaultNamespaces
}

// Spec is the config.json of a unikernel bundle with rootfs "rootfs".
func Spec(o SpecOptions) *specs.Spec {
	if o.Env == nil {
		o.Env = []string{"PATH=/bin"}
	}
	if o.Cwd == "" {
		o.Cwd = "/"
	}
	if o.Namespaces == nil {
		o.Namespaces = DefaultNamespaces()
	}
	return &specs.Spec{
		Version:     specs.Version,
		Process:     &specs.Process{Args: o.Args, Env: o.Env, Cwd: o.Cwd, Terminal: o.Terminal},
		Root:        &specs.Root{Path: "rootfs"},
		Hostname:    o.Hostname,
		Annotations: o.Annotations,
		Linux:       &specs.Linux{Namespaces: o.Namespaces},
	}
}

// Bundles are world-readable, as runc spec and the engines write them: a
// VMM confined to an unprivileged user reads its kernel from the rootfs.

// WriteSpec writes dir/config.json.
func WriteSpec(dir string, spec *specs.Spec) error {
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), append(data, '\n'), 0o644) //nolint:gosec // G306: a bundle, see above
}

// Unikernel is a bundle to write.
type Unikernel struct {
	Dir    string // the bundle directory (created)
	Kernel string // host file, copied to KernelDir/KernelName
	// KernelName is the file name under KernelDir; default the kernel's own.
	KernelName string
	Initrd     string // host file copied to KernelDir, or ""
	// Config holds the unikernel keys (config.Key*); the binary and the
	// initrd are filled in from where they were copied.
	Config map[string]string
	// Where the configuration goes: annotations, urunc.json, or both (as
	// upstream images carry it).
	Annotate, URuncJSON bool
	// Annotations are more annotations (vmm choices, ...).
	Annotations map[string]string
	Spec        SpecOptions // annotations are filled in
}

// Write writes the bundle and returns its spec (already in config.json).
func Write(u Unikernel) (*specs.Spec, error) {
	rootfs := filepath.Join(u.Dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, KernelDir), 0o755); err != nil { //nolint:gosec // G301: a bundle, see WriteSpec
		return nil, err
	}
	name := u.KernelName
	if name == "" {
		name = filepath.Base(u.Kernel)
	}
	cfg := map[string]string{}
	for k, v := range u.Config {
		cfg[k] = v
	}
	cfg[config.KeyBinary] = KernelDir + "/" + name
	if err := copyFile(u.Kernel, filepath.Join(rootfs, KernelDir, name), 0o755); err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	if u.Initrd != "" {
		in := KernelDir + "/" + filepath.Base(u.Initrd)
		if err := copyFile(u.Initrd, filepath.Join(rootfs, in), 0o644); err != nil {
			return nil, fmt.Errorf("initrd: %w", err)
		}
		cfg[config.KeyInitrd] = in
	}
	if u.URuncJSON {
		if err := os.WriteFile(filepath.Join(rootfs, config.URuncJSON), config.EncodeURuncJSON(cfg), 0o644); err != nil { //nolint:gosec // G306: a bundle, see WriteSpec
			return nil, err
		}
	}
	ann := map[string]string{}
	if u.Annotate {
		for k, v := range cfg {
			ann[k] = v
		}
	}
	for k, v := range u.Annotations {
		ann[k] = v
	}
	so := u.Spec
	so.Annotations = ann
	spec := Spec(so)
	return spec, WriteSpec(u.Dir, spec)
}

// copyFile copies src to dst with mode.
func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Package guests runs the real third-party guests of ../shared/guests
// (Solo5's tenders and test unikernels, Unikraft kernels, built from their
// upstream sources) through urunc as engines hand them over: with and
// without a linux.seccomp section, as root and as a non-root user, in the
// container's own or a CNI-style network namespace. The tests skip, saying
// where the fixtures are expected, when the directory is absent.
package guests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/internal/bundle"
	"github.com/urunc-dev/urunc/internal/e2e"
	"github.com/urunc-dev/urunc/runtime/config"
)

const (
	solo5    = "solo5-v0.12.1"
	uk015    = "unikraft-0.15.0"
	uk017    = "unikraft-0.17.0"
	runLimit = 90 * time.Second
)

// setup is e2e.Setup with the Solo5 tenders configured by path, as a
// host would install them outside PATH.
func setup(t *testing.T) *e2e.URunc {
	t.Helper()
	u := e2e.Setup(t)
	hvt, spt := e2e.Guest(t, solo5+"/solo5-hvt"), e2e.Guest(t, solo5+"/solo5-spt")
	cfg := filepath.Join(t.TempDir(), "host.json")
	data, _ := json.Marshal(map[string]any{"monitors": map[string]any{"hvt": map[string]string{"path": hvt}, "spt": map[string]string{"path": spt}}})
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	u.Env = append(u.Env, "URUNC_CONFIG="+cfg)
	t.Cleanup(func() {
		if left := u.Leftovers(); len(left) != 0 {
			t.Errorf("left under the root: %v", left)
		}
	})
	return u
}

// guestBundle describes a bundle around a real guest.
type guestBundle struct {
	kernel           string // fixture path, relative to the fixtures directory
	typ, hv, version string
	args, env        []string
	annotations      map[string]string
	netns            string // join this network namespace (CNI-style); "" = a new one
	block            []byte // a disk image written into the rootfs (the block key)
	initrd           string // fixture copied beside the kernel (the initrd key)
	edit             func(*specs.Spec)
}

func (g guestBundle) write(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg := map[string]string{config.KeyType: g.typ, config.KeyHypervisor: g.hv}
	if g.version != "" {
		cfg[config.KeyVersion] = g.version
	}
	ns := bundle.DefaultNamespaces()
	if g.netns != "" {
		ns = []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
			{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace, Path: g.netns}}
	}
	initrd := ""
	if g.initrd != "" {
		initrd = e2e.Guest(t, g.initrd)
	}
	spec, err := bundle.Write(bundle.Unikernel{
		Dir: dir, Kernel: e2e.Guest(t, g.kernel), Initrd: initrd, Config: cfg, Annotate: true, Annotations: g.annotations,
		Spec: bundle.SpecOptions{Args: g.args, Env: g.env, Namespaces: ns},
	})
	if err != nil {
		t.Fatal(err)
	}
	if g.block != nil {
		if err := os.WriteFile(filepath.Join(dir, "rootfs", "disk.img"), g.block, 0o644); err != nil {
			t.Fatal(err)
		}
		spec.Annotations[config.KeyBlock] = "/disk.img"
	}
	if g.edit != nil {
		g.edit(spec)
	}
	if uid := spec.Process.User.UID; uid != 0 {
		// The bundle lives in 0700 temp dirs: let the VMM's user reach
		// it, and write its disk (a user's own image).
		for d := dir; d != "/" && d != "." && d != os.TempDir(); d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		if g.block != nil {
			os.Chown(filepath.Join(dir, "rootfs", "disk.img"), int(uid), int(spec.Process.User.GID))
		}
	}
	e2e.WriteSpec(t, dir, spec)
	return dir
}

// run is `urunc run` in the foreground: the guest's console and urunc's
// stderr, and urunc's exit status (the guest's).
func run(t *testing.T, u *e2e.URunc, bundleDir, id string) (string, int) {
	t.Helper()
	out, err := os.Create(filepath.Join(t.TempDir(), "console"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	r := u.RunWith(t, out, "run", "-b", bundleDir, id)
	return e2e.ReadFile(out.Name()), r.Code
}

// asUser makes the VMM run as uid/gid 1000, as a non-root container
// does (write makes the bundle reachable by that user).
func asUser(s *specs.Spec) { s.Process.User = specs.User{UID: 1000, GID: 1000} }

// variants are the ways an engine hands a bundle over.
func variants() []struct {
	name string
	edit func(s *specs.Spec)
} {
	return []struct {
		name string
		edit func(s *specs.Spec)
	}{
		{"plain", func(*specs.Spec) {}},
		{"docker-seccomp", e2e.DockerLike},
		{"user-1000", asUser},
		{"user-1000-docker-seccomp", func(s *specs.Spec) { e2e.DockerLike(s); asUser(s) }},
	}
}

// tenders are the Solo5 monitors to run: spt always, hvt where /dev/kvm
// opens (the nested PVM KVM of these machines runs it).
func tenders(t *testing.T) []string {
	hv := []string{"spt"}
	if e2e.KVMUsable() {
		hv = append(hv, "hvt")
	} else {
		t.Log("no hvt variants: /dev/kvm cannot be opened")
	}
	return hv
}

// Solo5's own test_hello prints SUCCESS only when its command line is
// exactly Hello_Solo5 (its exit status is 0 either way).
func TestSolo5Hello(t *testing.T) {
	u := setup(t)
	for _, hv := range tenders(t) {
		for i, v := range variants() {
			t.Run(hv+"/"+v.name, func(t *testing.T) {
				g := guestBundle{kernel: solo5 + "/test_hello." + hv, typ: "mirage", hv: hv, args: []string{"Hello_Solo5"}, edit: v.edit}
				out, code := run(t, u, g.write(t), fmt.Sprintf("hello-%s-%d", hv, i))
				if code != 0 || !strings.Contains(out, "SUCCESS") || !strings.Contains(out, "Command line is: 'Hello_Solo5'") {
					t.Fatalf("exit %d, console:\n%s\nlog: %s", code, out, u.LastError())
				}
			})
		}
	}
}

// test_blk reads and writes its block device "storage": a disk image in
// the rootfs named by the block key.
func TestSolo5Blk(t *testing.T) {
	u := setup(t)
	for _, hv := range tenders(t) {
		for i, v := range variants() {
			t.Run(hv+"/"+v.name, func(t *testing.T) {
				g := guestBundle{kernel: solo5 + "/test_blk." + hv, typ: "mirage", hv: hv, block: make([]byte, 1<<20), edit: v.edit}
				out, code := run(t, u, g.write(t), fmt.Sprintf("blk-%s-%d", hv, i))
				if code != 0 || !strings.Contains(out, "SUCCESS") {
					t.Fatalf("exit %d, console:\n%s\nlog: %s", code, out, u.LastError())
				}
			})
		}
	}
}

// A guest that fails reports it: Unikraft 0.17's stock helloworld cannot
// initialise the hardware RNG under TCG and powers off normally, which
// urunc run turns into status 1 with the console line that says why.
func TestGuestFailureReported(t *testing.T) {
	u := setup(t)
	t.Run("unikraft-hwrng", func(t *testing.T) {
		g := guestBundle{kernel: uk017 + "/helloworld-hwrng_qemu-x86_64", typ: "unikraft", hv: "qemu", version: "0.17.0"}
		out, code := run(t, u, g.write(t), "hwrng")
		if log := e2e.ReadFile(u.Log); code != 1 || !strings.Contains(out, "Could not initialize the HWRNG") || !strings.Contains(log, "guest failed: ") {
			t.Fatalf("exit %d, console:\n%s\nlog: %s", code, out, log)
		}
	})
}

// Unikraft 0.15 and 0.17 helloworld with arguments, with an environment
// and with none: the boot parameters are read whatever the arguments
// (urunc always ends them with "--"), and main gets exactly the arguments.
func TestUnikraftHelloworld(t *testing.T) {
	u := setup(t)
	for _, rel := range []struct{ dir, version string }{{uk015, "0.15.0"}, {uk017, "0.17.0"}} {
		for _, c := range []struct {
			name      string
			args, env []string
			want      []string
			notWant   []string
		}{
			{"args", []string{"hello", "two words"}, nil, []string{`"hello" "two words"`, "Hello world!"}, []string{"--"}},
			{"env", nil, []string{"GREETING=hi", "MODE=test"}, []string{"Hello world!"}, []string{"env.vars", "GREETING"}},
			{"no-args", nil, nil, []string{"Hello world!", "Arguments: "}, []string{"netdev", "env.vars", `"--"`}},
		} {
			t.Run(rel.dir+"/"+c.name, func(t *testing.T) {
				g := guestBundle{kernel: rel.dir + "/helloworld_qemu-x86_64", typ: "unikraft", hv: "qemu", version: rel.version, args: c.args, env: c.env}
				out, code := run(t, u, g.write(t), "uk-"+strings.ReplaceAll(rel.version, ".", "")+"-"+c.name)
				if code != 0 {
					t.Fatalf("exit %d, console:\n%s\nlog: %s", code, out, u.LastError())
				}
				args := argumentsLine(out)
				for _, w := range c.want {
					if !strings.Contains(out, w) {
						t.Errorf("console lacks %q:\n%s", w, out)
					}
				}
				for _, w := range c.notWant {
					if strings.Contains(args, w) {
						t.Errorf("main's arguments %q contain %q", args, w)
					}
				}
			})
		}
	}
}

// argumentsLine is helloworld's "Arguments: ..." line.
func argumentsLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "Arguments:") {
			return l
		}
	}
	return ""
}

// catfile with Unikraft's ramfs root reads the initrd the image carries
// (vfs.fstab extracts it to /).
func TestUnikraftInitrd(t *testing.T) {
	u := setup(t)
	g := guestBundle{kernel: uk017 + "/catfile-ramfsroot_qemu-x86_64", typ: "unikraft", hv: "qemu", version: "0.17.0",
		initrd: uk017 + "/hello.cpio", args: []string{"/hello.txt"}}
	out, code := run(t, u, g.write(t), "catfile")
	if code != 0 || !strings.Contains(out, "hello from the initrd") {
		t.Fatalf("exit %d, console:\n%s\nlog: %s", code, out, u.LastError())
	}
}

// Solo5's virtio target runs on qemu as MirageOS does.
func TestSolo5VirtioOnQEMU(t *testing.T) {
	u := setup(t)
	g := guestBundle{kernel: solo5 + "/test_hello.virtio", typ: "mirage", hv: "qemu", args: []string{"Hello_Solo5"}}
	out, code := run(t, u, g.write(t), "virtio")
	if code != 0 || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("exit %d, console:\n%s\nlog: %s", code, out, u.LastError())
	}
}

// Package guests runs the real third-party guests of ../shared/guests
// (Solo5's tenders and test unikernels, Unikraft kernels, built from their
// upstream sources) through urunc as engines hand them over: with and
// without a linux.seccomp section, as root and as a non-root user, in the
// container's own or a CNI-style network namespace. The tests skip, saying
// where the fixtures are expected, when the directory is absent.
package guests

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netns"

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

// podPair makes a CNI-style pod namespace whose eth0 has ip/24, and a
// client namespace on the other end of the veth with the .1 address:
// the test talks to the guest from there, without touching the host's
// own network. It returns the pod namespace's path and the client's name.
func podPair(t *testing.T, ip string) (podPath, client string) {
	t.Helper()
	n := time.Now().UnixNano() % 100000
	pod, client := fmt.Sprintf("urunc-pod-%d", n), fmt.Sprintf("urunc-cli-%d", n)
	gw := ip[:strings.LastIndexByte(ip, '.')] + ".1"
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	sh("netns", "add", pod)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", pod).Run() })
	sh("netns", "add", client)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", client).Run() })
	sh("-n", client, "link", "add", "veth0", "type", "veth", "peer", "name", "eth0", "netns", pod)
	sh("-n", client, "addr", "add", gw+"/24", "dev", "veth0")
	sh("-n", client, "link", "set", "veth0", "up")
	sh("-n", client, "link", "set", "lo", "up")
	sh("-n", pod, "addr", "add", ip+"/24", "dev", "eth0")
	sh("-n", pod, "link", "set", "eth0", "up")
	sh("-n", pod, "link", "set", "lo", "up")
	sh("-n", pod, "route", "add", "default", "via", gw)
	return "/var/run/netns/" + pod, client
}

// pingFrom pings ip from the client namespace (busybox's ping: the host
// has no ping of its own).
func pingFrom(t *testing.T, client, ip string) error {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not found: install Debian package busybox-static")
	}
	out, err := exec.Command("ip", "netns", "exec", client, bb, "ping", "-c", "3", "-W", "5", ip).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s: %w: %s", ip, err, out)
	}
	return nil
}

// startGuest creates and starts a long-running guest; its console goes
// to the returned file.
func startGuest(t *testing.T, u *e2e.URunc, dir, id string) string {
	t.Helper()
	out, err := os.Create(filepath.Join(t.TempDir(), "console"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	if r := u.RunWith(t, out, "create", "-b", dir, id); r.Code != 0 {
		t.Fatalf("create %s: %s; log: %s", id, r, u.LastError())
	}
	t.Cleanup(func() { u.Run(t, "delete", "-f", id) })
	if r := u.Run(t, "start", id); r.Code != 0 {
		t.Fatalf("start %s: %s; log: %s", id, r, u.LastError())
	}
	return out.Name()
}

// Solo5's test_net (NIC service0, the stock name; a plain Solo5
// application, type solo5: it refuses MirageOS's --ipv4 arguments) and
// test_net_mirage (service, MirageOS's name and arguments) answer ping at
// the container's address from the pod's peer: each gets exactly the NIC
// its manifest declares, bound to the container's eth0, on both tenders,
// as Docker hands them over and as a non-root user. (Both serve
// 10.0.0.2, compiled in.)
func TestSolo5NetPing(t *testing.T) {
	u := setup(t)
	for _, hv := range tenders(t) {
		for _, kernel := range []string{"test_net", "test_net_mirage"} {
			for i, v := range variants() {
				t.Run(hv+"/"+kernel+"/"+v.name, func(t *testing.T) {
					pod, client := podPair(t, "10.0.0.2")
					typ := map[string]string{"test_net": "solo5", "test_net_mirage": "mirage"}[kernel]
					g := guestBundle{kernel: solo5 + "/" + kernel + "." + hv, typ: typ, hv: hv, netns: pod, edit: v.edit}
					id := fmt.Sprintf("net-%s-%s-%d", hv, kernel, i)
					console := startGuest(t, u, g.write(t), id)
					e2e.WaitFor(t, 30*time.Second, "Serving ping", func() bool { return e2e.FileContains(console, "Serving ping on 10.0.0.2") })
					if err := pingFrom(t, client, "10.0.0.2"); err != nil {
						t.Fatalf("%v\nconsole:\n%s", err, e2e.ReadFile(console))
					}
					want := map[string]string{"test_net": "net service0 -> tap", "test_net_mirage": "net service -> tap"}[kernel]
					if att := attachments(t, u, id); !strings.HasPrefix(att, want) {
						t.Fatalf("vmm.json attachments %q, want %q...", att, want)
					}
					// TERM ends every tender (spt has no handler: it becomes KILL).
					u.MustRun(t, "kill", id, "TERM")
					e2e.WaitFor(t, 10*time.Second, "stopped", func() bool { return u.Status(t, id) == "stopped" })
					u.MustRun(t, "delete", id)
				})
			}
		}
	}
}

// test_hello declares no device: under a container network (Docker's
// default bridge) it is simply not given one, and the journal says so.
func TestSolo5NoNICDeclaredInANetwork(t *testing.T) {
	u := setup(t)
	for _, hv := range tenders(t) {
		t.Run(hv, func(t *testing.T) {
			_, pod, _, _ := e2e.CNINamespace(t)
			g := guestBundle{kernel: solo5 + "/test_hello." + hv, typ: "mirage", hv: hv, netns: pod, args: []string{"Hello_Solo5"}, edit: e2e.DockerLike}
			dir := g.write(t)
			id := "nonic-" + hv
			console, err := os.Create(filepath.Join(t.TempDir(), "console"))
			if err != nil {
				t.Fatal(err)
			}
			defer console.Close()
			if r := u.RunWith(t, console, "create", "-b", dir, id); r.Code != 0 {
				t.Fatalf("create: %s; log: %s; console: %s", r, u.LastError(), e2e.ReadFile(console.Name()))
			}
			defer u.Run(t, "delete", "-f", id)
			journal := e2e.ReadFile(filepath.Join(u.Root, id, "events.jsonl"))
			u.MustRun(t, "start", id)
			e2e.WaitFor(t, 20*time.Second, "SUCCESS", func() bool { return e2e.FileContains(console.Name(), "SUCCESS") })
			// The tender only writes to its stdout: urunc copies it to the
			// state directory's serial.log too (urunc-dev shows it).
			e2e.WaitFor(t, 5*time.Second, "SUCCESS in serial.log", func() bool {
				return e2e.FileContains(filepath.Join(u.Root, id, "serial.log"), "SUCCESS")
			})
			vmm := e2e.ReadFile(filepath.Join(u.Root, id, "vmm.json"))
			if !strings.Contains(journal, "declares no network device") || !strings.Contains(vmm, `"network":"not given`) || strings.Contains(vmm, "--net") {
				t.Fatalf("journal %s\nvmm.json %s", journal, vmm)
			}
		})
	}
}

// test_net in a container without a network (no eth0): its declared NIC
// gets an unconnected tap, so the tender starts.
func TestSolo5NICWithoutNetwork(t *testing.T) {
	u := setup(t)
	g := guestBundle{kernel: solo5 + "/test_net.spt", typ: "solo5", hv: "spt"}
	console := startGuest(t, u, g.write(t), "nonet")
	e2e.WaitFor(t, 20*time.Second, "Serving ping", func() bool { return e2e.FileContains(console, "Serving ping") })
	if vmm := e2e.ReadFile(filepath.Join(u.Root, "nonet", "vmm.json")); !strings.Contains(vmm, "connected to nothing") || !strings.Contains(attachments(t, u, "nonet"), "net service0 -> tap") {
		t.Fatalf("vmm.json: %s", vmm)
	}
}

// What does not fit the manifest fails create, naming both sides; so
// does a kernel without a Solo5 manifest on a tender.
func TestSolo5ManifestMismatch(t *testing.T) {
	u := setup(t)
	for _, c := range []struct {
		name string
		g    guestBundle
		want string
	}{
		{"annotation names another NIC", guestBundle{kernel: solo5 + "/test_net.spt", typ: "solo5", hv: "spt",
			annotations: map[string]string{config.KeySolo5NetDev: "service"}}, `"service", `},
		{"declared disk not given", guestBundle{kernel: solo5 + "/test_blk.spt", typ: "mirage", hv: "spt"}, `declares block device "storage" but the bundle gives none`},
		{"not a Solo5 unikernel", guestBundle{kernel: uk017 + "/helloworld_qemu-x86_64", typ: "mirage", hv: "spt"}, "spt needs a Solo5 unikernel"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := c.g
			if c.name != "annotation names another NIC" {
				g.netns = ""
			} else {
				pod, _ := podPair(t, "10.0.0.2")
				g.netns = pod
			}
			r := u.Run(t, "create", "-b", g.write(t), "mism")
			if r.Code == 0 {
				u.Run(t, "delete", "-f", "mism")
				t.Fatal("create succeeded")
			}
			if msg := r.Stderr + u.LastError(); !strings.Contains(strings.ToLower(msg), strings.ToLower(c.want)) {
				t.Fatalf("error %q lacks %q", msg, c.want)
			}
			if left := u.Leftovers(); len(left) != 0 {
				t.Fatalf("left: %v", left)
			}
		})
	}
}

// attachments is vmm.json's list of what each guest device got, joined.
func attachments(t *testing.T, u *e2e.URunc, id string) string {
	t.Helper()
	var v struct{ Attachments []string }
	if err := json.Unmarshal([]byte(e2e.ReadFile(filepath.Join(u.Root, id, "vmm.json"))), &v); err != nil {
		t.Fatalf("vmm.json of %s: %v", id, err)
	}
	return strings.Join(v.Attachments, "; ")
}

// The stock test_net with upstream's device-name annotation agreeing with
// its manifest (images made for upstream carry it).
func TestSolo5DeviceNameAnnotation(t *testing.T) {
	u := setup(t)
	pod, client := podPair(t, "10.0.0.2")
	g := guestBundle{kernel: solo5 + "/test_net.spt", typ: "solo5", hv: "spt", netns: pod,
		annotations: map[string]string{config.KeySolo5NetDev: "service0"}}
	console := startGuest(t, u, g.write(t), "named")
	e2e.WaitFor(t, 30*time.Second, "Serving ping", func() bool { return e2e.FileContains(console, "Serving ping on 10.0.0.2") })
	if err := pingFrom(t, client, "10.0.0.2"); err != nil {
		t.Fatal(err)
	}
}

// fetchFrom GETs / from addr (host:port) in the client namespace (a
// socket made on a thread that entered it) and returns the response.
func fetchFrom(t *testing.T, client, addr string) (string, error) {
	t.Helper()
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := netns.GetFromName(client)
		if err == nil {
			defer ns.Close()
			err = netns.Set(ns)
		}
		if err != nil {
			done <- result{err: err}
			return
		}
		// The connection is made here, on this thread, in the namespace.
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: guest\r\n\r\n")
		data, err := io.ReadAll(conn)
		done <- result{string(data), err}
	}()
	r := <-done
	return r.body, r.err
}

// Unikraft's lwIP httpreply, with no arguments (as an image without CMD
// runs), in a CNI-style pod: its boot parameters give it the container's
// address and it answers HTTP there. 0.15 takes the old parameter names.
func TestUnikraftHTTPReply(t *testing.T) {
	u := setup(t)
	pod, client := podPair(t, "10.9.0.2")
	g := guestBundle{kernel: uk015 + "/httpreply_qemu-x86_64", typ: "unikraft", hv: "qemu", version: "0.15.0", netns: pod, edit: e2e.DockerLike}
	console := startGuest(t, u, g.write(t), "httpreply")
	e2e.WaitFor(t, 60*time.Second, "Listening", func() bool { return e2e.FileContains(console, "Listening on port 8123") })
	var body string
	var err error
	for i := 0; i < 10; i++ { // lwIP may take a moment to answer ARP
		if body, err = fetchFrom(t, client, "10.9.0.2:8123"); err == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil || !strings.Contains(body, "It works!") {
		t.Fatalf("GET: %v %q\nconsole:\n%s", err, body, e2e.ReadFile(console))
	}
	// Unikraft ignores the ACPI power button: TERM reaches qemu.
	u.MustRun(t, "kill", "httpreply", "TERM")
	e2e.WaitFor(t, 10*time.Second, "stopped", func() bool { return u.Status(t, "httpreply") == "stopped" })
}

// A TERM right after start (docker run then docker stop) is never lost:
// the VMM is pid 1 of its pid namespace and has no handler for its first
// milliseconds; urunc waits for it (or ends the VMM).
func TestTermRightAfterStart(t *testing.T) {
	u := setup(t)
	for i := 0; i < 5; i++ {
		g := guestBundle{kernel: uk015 + "/httpreply_qemu-x86_64", typ: "unikraft", hv: "qemu", version: "0.15.0"}
		id := fmt.Sprintf("term-%d", i)
		startGuest(t, u, g.write(t), id)
		u.MustRun(t, "kill", id, "TERM")
		e2e.WaitFor(t, 10*time.Second, id+" stopped", func() bool { return u.Status(t, id) == "stopped" })
		u.MustRun(t, "delete", id)
	}
}

// A real third-party guest with symbols under gdb: Solo5's virtio
// test_hello on qemu (as MirageOS runs there), paused at its first
// instruction (com.urunc.vmm.gdb=wait), a breakpoint on solo5_app_main
// hit, then run to its end; as root and as uid 1000.
func TestSolo5VirtioUnderGDB(t *testing.T) {
	e2e.RequireGDB(t)
	for _, user := range []string{"root", "uid1000"} {
		t.Run(user, func(t *testing.T) {
			u := setup(t)
			g := guestBundle{kernel: solo5 + "/test_hello.virtio", typ: "mirage", hv: "qemu", args: []string{"Hello_Solo5"},
				annotations: map[string]string{"com.urunc.vmm.gdb": "wait"}}
			if user == "uid1000" {
				g.edit = asUser
			}
			id := "gdb-" + user
			out, err := os.Create(filepath.Join(t.TempDir(), "stdio"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			if r := u.RunWith(t, out, "create", "--bundle", g.write(t), id); r.Code != 0 {
				t.Fatalf("create: %s %s", r, u.LastError())
			}
			u.MustRun(t, "start", id)
			var info struct {
				GDBCommand []string `json:"gdbCommand"`
			}
			if err := json.Unmarshal([]byte(e2e.ReadFile(filepath.Join(u.Root, id, "vmm.json"))), &info); err != nil || len(info.GDBCommand) == 0 {
				t.Fatalf("vmm.json: %v %q", err, e2e.ReadFile(filepath.Join(u.Root, id, "vmm.json")))
			}
			serial := filepath.Join(u.Root, id, "serial.log")
			gdb := e2e.GDBBatch(t, info.GDBCommand, "break solo5_app_main", "continue", "bt 1", "continue")
			for _, want := range []string{"Breakpoint 1 at 0x", "Breakpoint 1, ", "solo5_app_main", "#0  "} {
				if !strings.Contains(gdb, want) {
					t.Fatalf("gdb did not say %q:\n%s", want, gdb)
				}
			}
			e2e.WaitFor(t, 30*time.Second, "the guest's SUCCESS", func() bool { return e2e.FileContains(serial, "SUCCESS") })
			if !strings.Contains(e2e.ReadFile(serial), "Command line is: 'Hello_Solo5'") {
				t.Fatalf("console: %q", e2e.ReadFile(serial))
			}
			e2e.WaitFor(t, 30*time.Second, "the guest to power off", func() bool { return u.Status(t, id) == "stopped" })
			u.MustRun(t, "delete", id)
		})
	}
}

// podState is what a namespace holds that urunc could leave: links (with
// their aliases), addresses, routes and nftables tables.
func podState(t *testing.T, pod string) string {
	t.Helper()
	var b strings.Builder
	for _, args := range [][]string{{"-d", "-o", "link"}, {"-4", "-o", "addr"}, {"route"}} {
		out, err := exec.Command("ip", append([]string{"-n", pod}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			// The operational state and flags move: keep what was made.
			if i, j := strings.Index(l, "<"), strings.Index(l, ">"); i >= 0 && j > i {
				l = l[:i] + l[j+1:]
			}
			if i := strings.Index(l, " state "); i >= 0 {
				if j := strings.Index(l[i+7:], " "); j >= 0 {
					l = l[:i] + l[i+7+j:]
				}
			}
			b.WriteString(l + "\n")
		}
	}
	ns, err := netns.GetFromName(pod)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		b.WriteString("nft table " + tb.Name + "\n")
	}
	return b.String()
}

// execIn runs a command in a named network namespace.
func execIn(t *testing.T, ns string, args ...string) error {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %w: %s", args, err, out)
	}
	return nil
}

// TestSeveralUnikernelsInOnePod: Unikraft's httpreply and Solo5's
// test_net in one CNI-style pod namespace (network mode static): the
// first answers HTTP at the pod's address from outside (the port it
// publishes) and on 127.0.0.1 inside the pod, the second answers ping
// at its built-in 10.0.0.2 inside the pod; deleting one leaves the other
// as it was; a guest left over by a crash (its VMM killed, its state
// gone) or a dead one not deleted yet never blocks the next; deleting
// them all leaves the pod as it was.
func TestSeveralUnikernelsInOnePod(t *testing.T) {
	u := setup(t)
	podPath, client := podPair(t, "10.9.1.2")
	pod := filepath.Base(podPath)
	before := podState(t, pod)
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not found: install Debian package busybox-static")
	}
	static := map[string]string{config.KeyNetworkMode: "static"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range static {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	httpreply := func(id string) string {
		g := guestBundle{kernel: uk015 + "/httpreply_qemu-x86_64", typ: "unikraft", hv: "qemu", version: "0.15.0", netns: podPath,
			edit: e2e.DockerLike, annotations: with(config.KeyNetworkPorts, "8123/tcp")}
		console := startGuest(t, u, g.write(t), id)
		e2e.WaitFor(t, 60*time.Second, id+" listening", func() bool { return e2e.FileContains(console, "Listening on port 8123") })
		return console
	}
	testNet := func(id string) {
		g := guestBundle{kernel: solo5 + "/test_net.spt", typ: "solo5", hv: "spt", netns: podPath,
			annotations: with(config.KeyNetworkIP, "10.0.0.2")}
		console := startGuest(t, u, g.write(t), id)
		e2e.WaitFor(t, 30*time.Second, id+" serving", func() bool { return e2e.FileContains(console, "Serving ping on 10.0.0.2") })
	}
	get := func(ns, addr string) {
		t.Helper()
		var body string
		var err error
		for i := 0; i < 20; i++ { // lwIP may take a moment to answer ARP
			if body, err = fetchFrom(t, ns, addr); err == nil && strings.Contains(body, "It works!") {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatalf("GET %s from %s: %v %q", addr, ns, err, body)
	}
	ping := func() {
		t.Helper()
		if err := execIn(t, pod, bb, "ping", "-c", "2", "-W", "5", "10.0.0.2"); err != nil {
			t.Fatal(err)
		}
	}

	testNet("net1")
	alone := podState(t, pod)
	httpreply("http1")
	get(client, "10.9.1.2:8123") // from outside, at the pod's address
	get(pod, "127.0.0.1:8123")   // from a sibling, on localhost
	ping()
	if d := e2e.ReadFile(filepath.Join(u.Root, "http1", "vmm.json")); !strings.Contains(d, "172.16.1.2/24 gw 172.16.1.1") || !strings.Contains(d, "publishes 8123/tcp") {
		t.Fatalf("http1's network: %s", d)
	}
	// A third guest publishing the same port is refused, naming the other.
	g := guestBundle{kernel: uk015 + "/httpreply_qemu-x86_64", typ: "unikraft", hv: "qemu", version: "0.15.0", netns: podPath,
		annotations: with(config.KeyNetworkPorts, "8123/tcp")}
	if r := u.Run(t, "create", "-b", g.write(t), "http-dup"); r.Code == 0 || !strings.Contains(u.LastError(), "port 8123/tcp is published by another guest of the pod") {
		t.Fatalf("a second guest on port 8123: %s %q", r, u.LastError())
	}

	// One goes: the other is as it was.
	u.MustRun(t, "delete", "--force", "http1")
	if now := podState(t, pod); now != alone {
		t.Fatalf("deleting http1 changed the rest:\nbefore:\n%s\nafter:\n%s", alone, now)
	}
	ping()

	// A dead guest not deleted yet (its VMM killed) does not hold the port.
	httpreply("http2")
	var st struct{ Pid int }
	json.Unmarshal([]byte(u.MustRun(t, "state", "http2").Stdout), &st)
	syscall.Kill(st.Pid, syscall.SIGKILL)
	e2e.WaitFor(t, 10*time.Second, "http2 stopped", func() bool { return u.Status(t, "http2") == "stopped" })
	httpreply("http3")
	get(client, "10.9.1.2:8123")
	u.MustRun(t, "delete", "http2") // its network went already: nothing to undo

	// A guest left over by a crash: VMM killed, state gone, network left.
	json.Unmarshal([]byte(u.MustRun(t, "state", "net1").Stdout), &st)
	syscall.Kill(st.Pid, syscall.SIGKILL)
	e2e.WaitFor(t, 10*time.Second, "net1's VMM gone", func() bool { return u.Status(t, "net1") == "stopped" })
	os.RemoveAll(filepath.Join(u.Root, "net1"))
	testNet("net2") // the same address: the left-over one is removed first
	ping()

	for _, id := range []string{"http3", "net2"} {
		u.MustRun(t, "delete", "--force", id)
	}
	if after := podState(t, pod); after != before {
		t.Fatalf("left in the pod:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// A Unikraft guest under gdb: the fixture images are stripped (no
// symbols) and are 32-bit ELF files for qemu's multiboot loader, so the
// command vmm.json gives sets the architecture first; a breakpoint on the
// ELF's entry point (the guest's first instruction after the loader) is
// hit, and the guest's console goes on once gdb detaches.
func TestUnikraftUnderGDB(t *testing.T) {
	e2e.RequireGDB(t)
	u := setup(t)
	g := guestBundle{kernel: uk015 + "/helloworld_qemu-x86_64", typ: "unikraft", hv: "qemu", version: "0.15.0",
		annotations: map[string]string{"com.urunc.vmm.gdb": "wait"}}
	dir := g.write(t)
	startGuest(t, u, dir, "uk-gdb")
	var info struct {
		GDBCommand []string `json:"gdbCommand"`
	}
	if err := json.Unmarshal([]byte(e2e.ReadFile(filepath.Join(u.Root, "uk-gdb", "vmm.json"))), &info); err != nil ||
		!strings.Contains(strings.Join(info.GDBCommand, " "), "-ex set architecture i386:x86-64 -ex target remote ") {
		t.Fatalf("gdb command %q: %v", info.GDBCommand, err)
	}
	f, err := elf.Open(info.GDBCommand[len(info.GDBCommand)-1])
	if err != nil {
		t.Fatal(err)
	}
	entry := fmt.Sprintf("%#x", f.Entry)
	f.Close()
	if e2e.ReadFile(filepath.Join(u.Root, "uk-gdb", "serial.log")) != "" {
		t.Fatal("the guest ran before gdb continued it")
	}
	out := e2e.GDBBatch(t, info.GDBCommand, "break *"+entry, "continue", "info registers rip", "delete", "detach")
	if !strings.Contains(out, "Breakpoint 1, 0x0000000000"+strings.TrimPrefix(entry, "0x")) || !strings.Contains(out, "[Inferior 1 (process 1) detached]") {
		t.Fatalf("gdb:\n%s", out)
	}
	e2e.WaitFor(t, 60*time.Second, "Hello world!", func() bool { return e2e.FileContains(filepath.Join(u.Root, "uk-gdb", "serial.log"), "Hello world!") })
}

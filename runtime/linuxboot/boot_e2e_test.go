package linuxboot

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
	"github.com/urunc-dev/urunc/internal/testenv"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// The end-to-end tests boot the guest kernel of make linux-kernel
// (build/linux/vmlinux: urunc's microvm kernel by default; Debian's with
// URUNC_TEST_LINUX_KERNEL=debian, internal/e2e) under qemu (microvm, TCG)
// with an initrd from BuildInitrd and a busybox rootfs shared over 9p or
// virtio-fs. Each boot takes ~1-3 s.

type bootEnv struct {
	repo    string
	qemu    string
	kernel  string
	modules string
	init    string
	cache   string
	busybox string
	tscKHz  int
}

func newBootEnv(t *testing.T) bootEnv {
	t.Helper()
	testenv.Require(t) // boots qemu
	repo := e2e.RepoRoot()
	e := bootEnv{
		repo:    repo,
		kernel:  e2e.LinuxKernel(),
		modules: filepath.Join(repo, "build", "linux", "modules"),
	}
	if _, err := os.Stat(e.kernel); err != nil {
		t.Skipf("no %s: run make linux-kernel", e.kernel)
	}
	var err error
	if e.qemu, err = exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not found: apt-get install qemu-system-x86")
	}
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if isStatic(p) {
			e.busybox = p
			break
		}
	}
	if e.busybox == "" {
		t.Skip("no static busybox: apt-get install busybox-static")
	}
	dir := t.TempDir()
	e.init = filepath.Join(dir, "urunc-init")
	e.cache = filepath.Join(dir, "cache")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", e.init, "./cmd/urunc-init")
	build.Dir = repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building urunc-init: %v\n%s", err, out)
	}
	if e.tscKHz, err = HostTSCKHz(ctx); err != nil {
		t.Skipf("cannot boot on microvm under TCG: %v", err)
	}
	return e
}

func isStatic(p string) bool {
	f, err := elf.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// busyboxRootfs makes a container-like rootfs: busybox with its applets
// as symlinks in /bin, plus the given files.
func (e bootEnv) busyboxRootfs(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"bin", "etc", "tmp", "root", "home/user"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	os.Chown(filepath.Join(root, "home/user"), 1000, 1000)
	data, err := os.ReadFile(e.busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command(e.busybox, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, app := range strings.Fields(string(list)) {
		if app != "busybox" {
			os.Symlink("busybox", filepath.Join(root, "bin", app))
		}
	}
	files["etc/passwd"] = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const bootTimeout = 45 * time.Second

type bootResult struct {
	out        string
	qemuStatus int
	elapsed    time.Duration
}

// guestDevices is how a test VM gets its root filesystem and NIC; the
// qemu arguments come from runtime/vmm, as the runtime renders them.
type guestDevices struct {
	Machine        string // default microvm
	Root           Root   // default: the Config's
	HostPath       string // 9p root
	VirtiofsSocket string // virtio-fs root
	NetdevID       string // a virtio-net device on this -netdev (the test adds the -netdev)
}

// qemuArgs renders the VM through runtime/vmm.
func (qo guestDevices) qemuArgs(kernel, initrd, cmdline string, extra []string) ([]string, error) {
	req := vmm.Request{Guest: "linux", Hypervisor: vmm.QEMU, Kernel: kernel, Initrd: initrd, MemoryMB: 256, VCPUs: 1,
		Accel: "tcg", Machine: qo.Machine, ControlFD: -1, Linux: &vmm.LinuxInit{Cmdline: cmdline}}
	switch qo.Root.Type {
	case Root9P, "":
		req.Shares = []vmm.Share{{Kind: vmm.Share9P, HostPath: qo.HostPath, Tag: qo.Root.Tag, Root: true}}
	case RootVirtiofs:
		req.Shares = []vmm.Share{{Kind: vmm.ShareVirtiofs, Socket: qo.VirtiofsSocket, Tag: qo.Root.Tag, Root: true}}
	default:
		return nil, fmt.Errorf("root type %q", qo.Root.Type)
	}
	if qo.NetdevID != "" {
		nic := "virtio-net-device"
		if qo.Machine != "microvm" {
			nic = "virtio-net-pci"
		}
		extra = append(extra, "-device", nic+",netdev="+qo.NetdevID)
	}
	req.ExtraArgs = extra
	plan, err := vmm.Build(req)
	if err != nil {
		return nil, err
	}
	return plan.Argv[1:], nil
}

// boot runs qemu until the guest powers off. qo.Root is taken from cfg;
// extra are more qemu arguments (e.g. -netdev).
func (e bootEnv) boot(t *testing.T, cfg Config, qo guestDevices, extra ...string) bootResult {
	t.Helper()
	res, err := e.tryBoot(t, cfg, qo, nil, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// syncBuffer is qemu's output, read while qemu writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tryBoot boots and, if during is not nil, calls it while qemu runs.
func (e bootEnv) tryBoot(t *testing.T, cfg Config, qo guestDevices, during func(ctx context.Context, out *syncBuffer) error, extra ...string) (bootResult, error) {
	t.Helper()
	// URUNC_TEST_VERBOSE=1 shows kernel messages and urunc-init's steps.
	verbose := os.Getenv("URUNC_TEST_VERBOSE") != ""
	cfg.Debug = cfg.Debug || verbose
	initrd := filepath.Join(t.TempDir(), "initrd")
	t0 := time.Now()
	rep, err := BuildInitrdReport(initrd, InitSpec{Config: cfg, Init: e.init, ModulesDir: e.modules, Kernel: e.kernel, CacheDir: e.cache})
	if err != nil {
		return bootResult{}, fmt.Errorf("BuildInitrd: %w", err)
	}
	t.Logf("BuildInitrd: %v, kernel %s, %s", time.Since(t0), e.kernel, rep)
	if qo.Machine == "" {
		qo.Machine = "microvm"
	}
	if qo.Root.Tag == "" {
		qo.Root = cfg.Root
	}
	args, err := qo.qemuArgs(e.kernel, initrd, KernelCmdline(CmdlineOptions{Verbose: verbose, TSCKHz: e.tscKHz}), extra)
	if err != nil {
		return bootResult{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.qemu, args...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return bootResult{}, fmt.Errorf("qemu: %w", err)
	}
	var duringErr error
	if during != nil {
		duringErr = during(ctx, &out)
	}
	err = cmd.Wait()
	res := bootResult{out: out.String(), elapsed: time.Since(start)}
	if duringErr != nil {
		return res, fmt.Errorf("%w; output:\n%s", duringErr, res.out)
	}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("qemu timed out; output:\n%s", res.out)
	case errors.As(err, &ee):
		res.qemuStatus = ee.ExitCode()
	case err != nil:
		return res, fmt.Errorf("qemu: %w", err)
	}
	t.Logf("boot to power-off: %v, qemu status %d", res.elapsed.Round(time.Millisecond), res.qemuStatus)
	return res, nil
}

func TestBootOutputEnvRootfs9P(t *testing.T) {
	e := newBootEnv(t)
	rootfs := e.busyboxRootfs(t, map[string]string{"etc/hello": "hello from the rootfs"})
	cfg := Config{
		Args: []string{"sh", "-c", `echo "greeting=$GREETING"; cat /etc/hello; echo; echo "uid=$(id -u) gid=$(id -g) cwd=$(pwd) home=$HOME host=$(hostname)"; echo "quote='a b'  \"c\""; ip -4 addr show eth0 | grep inet; ip route | grep default; [ -t 1 ] || echo stdout-not-a-tty`},
		Env:  []string{"PATH=/bin", "GREETING=hi there"},
		Cwd:  "/tmp",
		UID:  1000, GID: 1000,
		Hostname: "guest1",
		Root:     Root{Type: Root9P, Tag: "rootfs"},
		Network:  &Network{IP: "10.0.2.15", PrefixLen: 24, Gateway: "10.0.2.2", MTU: 1400},
	}
	res := e.boot(t, cfg, guestDevices{HostPath: rootfs, NetdevID: "n0"}, "-netdev", "user,id=n0")
	for _, want := range []string{
		"greeting=hi there\n",
		"hello from the rootfs\n",
		"uid=1000 gid=1000 cwd=/tmp home=/home/user host=guest1\n",
		`quote='a b'  "c"` + "\n",
		"inet 10.0.2.15/24",
		"default via 10.0.2.2",
		"stdout-not-a-tty\n",
	} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output lacks %q; output:\n%s", want, res.out)
		}
	}
	if strings.Contains(res.out, "reboot:") {
		t.Errorf("kernel shutdown messages in the output:\n%s", res.out)
	}
	if strings.Contains(res.out, "hello from the rootfs\r") {
		t.Errorf("program output has CRLF line ends (console not raw):\n%q", res.out)
	}
	if res.qemuStatus != 0 {
		t.Errorf("qemu status %d, want 0; output:\n%s", res.qemuStatus, res.out)
	}
}

func TestBootExitStatus(t *testing.T) {
	e := newBootEnv(t)
	rootfs := e.busyboxRootfs(t, map[string]string{})
	for _, tc := range []struct {
		name   string
		args   []string
		guest  int
		output string
	}{
		{"exit 7", []string{"/bin/sh", "-c", "echo bye; exit 7"}, 7, "bye\n"},
		{"not found", []string{"/no/such/program"}, ExitNotFound, "urunc-init: exec /no/such/program"},
		{"wrong root tag", []string{"/bin/true"}, ExitInitFailed, "urunc-init: mounting the rootfs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Args: tc.args, Root: Root{Tag: "rootfs"}}
			qo := guestDevices{HostPath: rootfs}
			if tc.guest == ExitInitFailed {
				// The VMM exports another tag than the guest mounts.
				qo.Root.Tag = "other"
			}
			res := e.boot(t, cfg, qo)
			if want := 2*tc.guest + 1; res.qemuStatus != want {
				t.Errorf("qemu status %d, want %d; output:\n%s", res.qemuStatus, want, res.out)
			}
			if got, ok := vmm.ExitLinuxInit.Decode(res.qemuStatus); !ok || got != tc.guest {
				t.Errorf("vmm.ExitLinuxInit.Decode(%d) = %d, %v; want %d", res.qemuStatus, got, ok, tc.guest)
			}
			if !strings.Contains(res.out, tc.output) {
				t.Errorf("output lacks %q:\n%s", tc.output, res.out)
			}
		})
	}
}

func TestBootVirtiofs(t *testing.T) {
	e := newBootEnv(t)
	const virtiofsd = "/usr/lib/qemu/virtiofsd"
	if _, err := os.Stat(virtiofsd); err != nil {
		t.Skipf("no %s: apt-get install qemu-system-common", virtiofsd)
	}
	rootfs := e.busyboxRootfs(t, map[string]string{"etc/hello": "hello over virtio-fs"})
	sock := filepath.Join(t.TempDir(), "vfs.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	vfs := exec.CommandContext(ctx, virtiofsd, "--socket-path="+sock, "-o", "source="+rootfs, "-o", "cache=none")
	var vfsOut bytes.Buffer
	vfs.Stdout, vfs.Stderr = &vfsOut, &vfsOut
	if err := vfs.Start(); err != nil {
		t.Fatalf("virtiofsd: %v", err)
	}
	defer func() {
		vfs.Process.Kill()
		vfs.Wait()
	}()
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 200 {
			t.Fatalf("virtiofsd did not create %s:\n%s", sock, vfsOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cfg := Config{
		Args: []string{"sh", "-c", "cat /etc/hello; echo; grep ' / ' /proc/mounts; tty"},
		Env:  []string{"PATH=/bin"},
		Root: Root{Type: RootVirtiofs, Tag: "rootfs"},
		// The program gets the console itself.
		Terminal: true,
	}
	res, err := e.tryBoot(t, cfg, guestDevices{VirtiofsSocket: sock}, nil)
	if err != nil {
		t.Fatalf("%v\nvirtiofsd output:\n%s", err, vfsOut.String())
	}
	for _, want := range []string{"hello over virtio-fs", "rootfs / virtiofs", "/dev/ttyS0"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output lacks %q; output:\n%s", want, res.out)
		}
	}
	if res.qemuStatus != 0 {
		t.Errorf("qemu status %d, want 0; output:\n%s", res.qemuStatus, res.out)
	}
	if t.Failed() {
		t.Logf("virtiofsd output:\n%s", vfsOut.String())
	}
	if t.Failed() {
		t.Logf("virtiofsd output:\n%s", vfsOut.String())
	}
}

// TestBootPCMachine boots on -M pc (SeaBIOS, virtio-pci devices) instead
// of microvm.
func TestBootPCMachine(t *testing.T) {
	e := newBootEnv(t)
	rootfs := e.busyboxRootfs(t, map[string]string{"etc/hello": "hello over virtio-pci"})
	cfg := Config{
		Args: []string{"/bin/sh", "-c", "cat /etc/hello; echo; exit 3"},
		Root: Root{Tag: "rootfs"},
	}
	res := e.boot(t, cfg, guestDevices{Machine: "pc", HostPath: rootfs})
	if !strings.Contains(res.out, "hello over virtio-pci\n") {
		t.Errorf("output lacks the file; output:\n%s", res.out)
	}
	if res.qemuStatus != 7 {
		t.Errorf("qemu status %d, want 7; output:\n%s", res.qemuStatus, res.out)
	}
}

// TestBootGracefulStop presses the ACPI power button over QMP (what the
// runtime does on kill SIGTERM): urunc-init forwards SIGTERM to the program.
func TestBootGracefulStop(t *testing.T) {
	e := newBootEnv(t)
	rootfs := e.busyboxRootfs(t, map[string]string{})
	qmp := filepath.Join(t.TempDir(), "qmp.sock")
	cfg := Config{
		Args: []string{"/bin/sh", "-c", `trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.1; done`},
		Root: Root{Tag: "rootfs"},
	}
	press := func(ctx context.Context, out *syncBuffer) error {
		// A line of its own: debug mode echoes the args, which contain it.
		for o := ""; !strings.HasPrefix(o, "ready\n") && !strings.Contains(o, "\nready\n"); o = out.String() {
			if ctx.Err() != nil {
				return errors.New("program never printed ready")
			}
			time.Sleep(20 * time.Millisecond)
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", qmp)
		if err != nil {
			return fmt.Errorf("qmp: %w", err)
		}
		defer c.Close()
		if dl, ok := ctx.Deadline(); ok {
			c.SetDeadline(dl)
		}
		r := bufio.NewReader(c)
		for _, cmd := range []string{"", `{"execute":"qmp_capabilities"}`, `{"execute":"system_powerdown"}`} {
			if cmd != "" {
				if _, err := c.Write([]byte(cmd + "\n")); err != nil {
					return fmt.Errorf("qmp: %w", err)
				}
			}
			line, err := r.ReadString('\n') // greeting, then each reply
			if err != nil {
				return fmt.Errorf("qmp: %w", err)
			}
			if strings.Contains(line, `"error"`) {
				return fmt.Errorf("qmp %s: %s", cmd, line)
			}
		}
		return nil
	}
	res, err := e.tryBoot(t, cfg, guestDevices{HostPath: rootfs}, press, "-qmp", "unix:"+qmp+",server=on,wait=off")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.out, "got-term") || res.qemuStatus != 2*42+1 {
		t.Errorf("qemu status %d, want %d (SIGTERM trapped, exit 42); output:\n%s", res.qemuStatus, 2*42+1, res.out)
	}
}

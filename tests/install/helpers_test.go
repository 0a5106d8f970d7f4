// Package install_test checks urunc as an installed program: make install
// and uninstall into a DESTDIR (file list, modes, the host configuration
// never overwritten), the runtime run from an installed PREFIX (a
// unikernel lifecycle and a Linux guest whose assets come from
// PREFIX/lib/urunc), and the Debian package of make deb (reproducible,
// dpkg -i, docker run --runtime urunc through /usr/bin/urunc, dpkg
// --purge leaving nothing). All but the configuration test need root and
// skip under -short.
package install_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

var repo = e2e.RepoRoot()

// needRoot skips tests that install into the host (and -short runs).
func needRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: runs make install and real guests")
	}
	e2e.RequireRoot(t)
}

// mk runs make in the repository with args and returns its output.
// Neither an outer make's flags and variables (make test PREFIX=...
// exports PREFIX too) nor the caller's environment choose where things
// are installed: only args do.
func mk(t *testing.T, args ...string) string {
	t.Helper()
	return mkIn(t, repo, args...)
}

func mkIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", append([]string{"-C", dir, "--no-print-directory"}, args...)...)
	for _, e := range os.Environ() {
		switch k, _, _ := strings.Cut(e, "="); k {
		case "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "PREFIX", "DESTDIR", "SYSCONFDIR", "DOCKER_DAEMON_JSON":
		default:
			cmd.Env = append(cmd.Env, e)
		}
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("make %s: %v", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
	return string(out)
}

// run runs a command and returns its combined output and exit code.
func run(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out), 0
}

func must(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, code := run(t, nil, name, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d\n%s", name, strings.Join(args, " "), code, out)
	}
	return out
}

// buildInfo is what `make version` says the build stamps.
type buildInfo struct{ release, commit, dirty, sourceDate string }

func stamped(t *testing.T) buildInfo {
	t.Helper()
	var b buildInfo
	for _, l := range strings.Split(mk(t, "-s", "version"), "\n") {
		k, v, _ := strings.Cut(l, " ")
		switch k {
		case "release":
			b.release = v
		case "commit":
			b.commit = v
		case "dirty":
			b.dirty = v
		case "source":
			b.sourceDate = strings.TrimPrefix(v, "date ")
		}
	}
	if b.release == "" || b.commit == "" || b.dirty == "" {
		t.Fatalf("make version: %+v", b)
	}
	return b
}

// checkVersion checks `bin --version` (and `bin version` for urunc)
// against the stamp.
func checkVersion(t *testing.T, bin string, b buildInfo) {
	t.Helper()
	commit := b.commit
	if b.dirty == "true" {
		commit += "-dirty"
	}
	name := filepath.Base(bin)
	want := name + " version " + b.release + "\ncommit: " + commit + "\n"
	out := must(t, bin, "--version")
	if !strings.HasPrefix(out, want) || !strings.Contains(out, "\ngo: go") {
		t.Errorf("%s --version:\n%s\nwant it to start with:\n%s", bin, out, want)
	}
	if name == "urunc" {
		if !strings.Contains(out, "\nspec: 1.") {
			t.Errorf("%s --version has no spec line:\n%s", bin, out)
		}
		if v := must(t, bin, "version"); v != out {
			t.Errorf("urunc version:\n%s\ndiffers from --version:\n%s", v, out)
		}
	}
}

// tree lists the entries under root (relative, slash-separated) with
// their type and permission bits.
func tree(t *testing.T, root string) map[string]fs.FileMode {
	t.Helper()
	m := map[string]fs.FileMode{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		m[filepath.ToSlash(rel)] = info.Mode() & (fs.ModeType | fs.ModePerm)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// regular keeps the files of a tree listing.
func regular(m map[string]fs.FileMode) map[string]fs.FileMode {
	out := map[string]fs.FileMode{}
	for p, mode := range m {
		if mode.IsRegular() {
			out[p] = mode
		}
	}
	return out
}

// expected is what make install puts under DESTDIR for prefix and
// sysconfdir (both absolute): each regular file with its mode, and each
// directory of urunc's own with 0755.
func expected(t *testing.T, prefix, sysconf string) (files, dirs map[string]fs.FileMode) {
	t.Helper()
	p := strings.TrimPrefix(prefix, "/")
	if p == "" {
		p = "." // the tree of PREFIX itself
	}
	files = map[string]fs.FileMode{}
	dirs = map[string]fs.FileMode{}
	for _, b := range installBins(t) {
		files[p+"/bin/"+b] = 0o755
	}
	if hasKernel() {
		lib := p + "/lib/urunc/linux"
		files[lib+"/vmlinux"] = 0o644
		files[lib+"/version"] = 0o644
		if st, err := os.Stat(filepath.Join(repo, "build/linux/copyright")); err == nil && st.Size() > 0 {
			files[lib+"/copyright"] = 0o644
		}
		for _, d := range []string{p + "/lib/urunc", lib} {
			dirs[d] = fs.ModeDir | 0o755
		}
		if hasModules() {
			mods, err := os.ReadDir(filepath.Join(repo, "build", "linux", "modules"))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range mods {
				files[lib+"/modules/"+m.Name()] = 0o644
			}
			dirs[lib+"/modules"] = fs.ModeDir | 0o755
		}
	}
	conf := strings.TrimPrefix(sysconf, "/") + "/urunc"
	files[conf+"/config.json"] = 0o644
	dirs[conf] = fs.ModeDir | 0o755
	doc := p + "/share/doc/urunc"
	for _, d := range []string{"README.md", "CHANGELOG.md", "CONTRIBUTING.md", "LICENSE", "NOTICE"} {
		files[doc+"/"+d] = 0o644
	}
	// The committed pages only (an untracked draft is not installed).
	for _, d := range strings.Fields(must(t, "git", "-C", repo, "ls-files", "docs/*.md")) {
		if _, err := os.Stat(filepath.Join(repo, d)); err == nil {
			files[doc+"/docs/"+filepath.Base(d)] = 0o644
		}
	}
	dirs[doc] = fs.ModeDir | 0o755
	dirs[doc+"/docs"] = fs.ModeDir | 0o755
	return clean(files), clean(dirs)
}

// clean makes "./bin/urunc" "bin/urunc".
func clean(m map[string]fs.FileMode) map[string]fs.FileMode {
	out := map[string]fs.FileMode{}
	for p, mode := range m {
		out[path.Clean(p)] = mode
	}
	return out
}

// installBins are the binaries make install installs (INSTALL_BINS).
func installBins(t *testing.T) []string {
	t.Helper()
	bins := strings.Fields(mk(t, "-s", "install-bins"))
	if len(bins) < 3 {
		t.Fatalf("make install-bins: %q", bins)
	}
	return bins
}

// hasKernel: make linux-kernel made build/linux/vmlinux (make install
// installs it).
func hasKernel() bool { return nonEmpty("build/linux/vmlinux") }

// hasModules: and Debian's modules (installed beside it).
func hasModules() bool { return nonEmpty("build/linux/modules/modules.dep") }

func nonEmpty(f string) bool {
	st, err := os.Stat(filepath.Join(repo, f))
	return err == nil && st.Size() > 0
}

// checkTree compares a DESTDIR tree with what make install should put there.
func checkTree(t *testing.T, root, prefix, sysconf string) {
	t.Helper()
	got := tree(t, root)
	files, dirs := expected(t, prefix, sysconf)
	diff(t, "files under "+root, regular(got), files)
	for d, mode := range dirs {
		if got[d] != mode {
			t.Errorf("directory %s: %v, want %v", d, got[d], mode)
		}
	}
}

// diff reports the differences of two listings.
func diff(t *testing.T, what string, got, want map[string]fs.FileMode) {
	t.Helper()
	var msgs []string
	for p, m := range want {
		if g, ok := got[p]; !ok {
			msgs = append(msgs, "missing "+p)
		} else if g != m {
			msgs = append(msgs, p+": mode "+g.String()+", want "+m.String())
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			msgs = append(msgs, "unexpected "+p)
		}
	}
	sort.Strings(msgs)
	if len(msgs) > 0 {
		t.Errorf("%s:\n  %s", what, strings.Join(msgs, "\n  "))
	}
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(x) != string(y) {
		t.Errorf("%s differs from %s", a, b)
	}
}

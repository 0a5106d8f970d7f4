package install_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
	"github.com/urunc-dev/urunc/runtime/linuxboot"
)

// make install into a DESTDIR: the files and their modes, the binaries
// and configuration as built, an edited config.json never overwritten
// (the new default goes beside it as .dist), and make uninstall removing
// everything but an edited config.json.
func TestInstallDestDir(t *testing.T) {
	needRoot(t)
	dest := t.TempDir()
	out := mk(t, "install", "DESTDIR="+dest)
	if hasKernel() == strings.Contains(out, "no guest kernel") {
		t.Errorf("kernel built: %v, but install said:\n%s", hasKernel(), out)
	}
	checkTree(t, dest, "/usr/local", "/etc")
	for _, b := range installBins(t) {
		sameFile(t, filepath.Join(dest, "usr/local/bin", b), filepath.Join(repo, "bin", b))
	}
	conf := filepath.Join(dest, "etc/urunc/config.json")
	sameFile(t, conf, filepath.Join(repo, "packaging/config.json"))
	if hasKernel() {
		sameFile(t, filepath.Join(dest, "usr/local/lib/urunc/linux/vmlinux"), filepath.Join(repo, "build/linux/vmlinux"))
	}

	// An edited configuration stays; the default goes beside it.
	edited := []byte(`{"defaultMemoryMB": 512}` + "\n")
	os.WriteFile(conf, edited, 0o600)
	os.Chmod(conf, 0o600)
	for i := 0; i < 2; i++ {
		out = mk(t, "install", "DESTDIR="+dest)
		if got, _ := os.ReadFile(conf); string(got) != string(edited) {
			t.Fatalf("install %d overwrote the edited config.json: %q", i, got)
		}
		if st, _ := os.Stat(conf); st.Mode().Perm() != 0o600 {
			t.Errorf("install changed the edited config.json's mode: %v", st.Mode())
		}
		sameFile(t, conf+".dist", filepath.Join(repo, "packaging/config.json"))
		if !strings.Contains(out, "kept your "+conf) {
			t.Errorf("install did not say it kept the config:\n%s", out)
		}
	}
	// Back to the default: the .dist goes.
	data, _ := os.ReadFile(filepath.Join(repo, "packaging/config.json"))
	os.WriteFile(conf, data, 0o644)
	os.Chmod(conf, 0o644)
	mk(t, "install", "DESTDIR="+dest)
	checkTree(t, dest, "/usr/local", "/etc")

	// uninstall keeps an edited config.json and removes the rest.
	os.WriteFile(conf, edited, 0o644)
	out = mk(t, "uninstall", "DESTDIR="+dest)
	if !strings.Contains(out, "kept "+conf) {
		t.Errorf("uninstall did not say it kept the config:\n%s", out)
	}
	left := regular(tree(t, dest))
	if len(left) != 1 || left["etc/urunc/config.json"] == 0 {
		t.Errorf("after uninstall with an edited config: %v", left)
	}
	// With the default configuration nothing of urunc remains.
	os.WriteFile(conf, data, 0o644)
	mk(t, "uninstall", "DESTDIR="+dest)
	all := tree(t, dest)
	if left := regular(all); len(left) != 0 {
		t.Errorf("files left after uninstall: %v", left)
	}
	for p := range all {
		if strings.Contains(p, "urunc") {
			t.Errorf("left after uninstall: %s", p)
		}
	}
}

// The runtime run from a real PREFIX (DESTDIR empty), as an administrator
// installs it: versions, a unikernel lifecycle and a Linux guest whose
// urunc-init, kernel and modules come from PREFIX (and fail to, naming the
// installed path, when they are missing); then uninstall.
func TestInstalledPrefixRunsGuests(t *testing.T) {
	needRoot(t)
	e2e.RequireQEMU(t)
	mk(t, "unikernel")
	prefix, err := os.MkdirTemp("/tmp", "urunc-prefix-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(prefix, 0o755)
	// The configuration under PREFIX too, so the host's /etc is untouched.
	vars := []string{"PREFIX=" + prefix, "SYSCONFDIR=" + prefix + "/etc"}
	t.Cleanup(func() { os.RemoveAll(prefix) })
	mk(t, append([]string{"install"}, vars...)...)
	checkTree(t, prefix, "", "/etc")

	bin := filepath.Join(prefix, "bin", "urunc")
	b := stamped(t)
	checkVersion(t, bin, b)
	checkVersion(t, filepath.Join(prefix, "bin", "urunc-dev"), b)
	var feat struct{ Annotations map[string]string }
	if err := json.Unmarshal([]byte(must(t, bin, "features")), &feat); err != nil {
		t.Fatal(err)
	}
	if a := feat.Annotations; a["io.github.urunc.version"] != b.release || a["io.github.urunc.commit"] != b.commit || a["io.github.urunc.dirty"] != b.dirty {
		t.Errorf("features annotations %v, want release %s commit %s dirty %s", a, b.release, b.commit, b.dirty)
	}

	newURunc := func(t *testing.T) *e2e.URunc {
		dir := t.TempDir()
		u := &e2e.URunc{Bin: bin, Root: filepath.Join(dir, "root"), Log: filepath.Join(dir, "log.json"),
			Env: []string{"URUNC_CONFIG=" + filepath.Join(prefix, "etc/urunc/config.json")}}
		t.Cleanup(func() { u.Cleanup(t) })
		return u
	}
	stdio := func(t *testing.T) *os.File {
		f, err := os.Create(filepath.Join(t.TempDir(), "stdio"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}

	t.Run("unikernel lifecycle", func(t *testing.T) {
		u := newURunc(t)
		bundle := e2e.NewBundle(t, e2e.Bundle{Cmdline: "echo=installed", Annotations: map[string]string{"com.urunc.vmm.machine": "microvm"}})
		out := stdio(t)
		start := time.Now()
		if r := u.RunWith(t, out, "create", "--bundle", bundle, "inst1"); r.Code != 0 {
			t.Fatalf("create: %s; log: %s", r, u.LastError())
		}
		if s := u.Status(t, "inst1"); s != "created" {
			t.Fatalf("status after create: %s", s)
		}
		u.MustRun(t, "start", "inst1")
		e2e.WaitFor(t, 20*time.Second, "the guest's output", func() bool { return e2e.FileContains(out.Name(), "echo: installed") })
		e2e.WaitFor(t, 20*time.Second, "stopped", func() bool { return u.Status(t, "inst1") == "stopped" })
		u.MustRun(t, "delete", "inst1")
		t.Logf("create, start, guest output, stopped, delete: %v", time.Since(start).Round(time.Millisecond))
		if left := u.Leftovers(); len(left) != 0 {
			t.Fatalf("left under the root: %v", left)
		}
	})

	t.Run("linux guest", func(t *testing.T) {
		if !hasKernel() {
			t.Skip("build/linux missing (make linux-kernel): nothing installed for Linux guests")
		}
		u := newURunc(t)
		bundle := e2e.BusyboxLinuxBundle(t, []string{"sh", "-c", "echo linux guest from $0"}, []string{"PATH=/bin"})
		out := stdio(t)
		start := time.Now()
		if r := u.RunWith(t, out, "run", "-b", bundle, "inst2"); r.Code != 0 || !e2e.FileContains(out.Name(), "linux guest from sh") {
			t.Fatalf("run: %s; output %q; log %q", r, e2e.ReadFile(out.Name()), u.LastError())
		}
		t.Logf("urunc run of a Linux guest: %v", time.Since(start).Round(time.Millisecond))

		// Without the installed urunc-init it fails, naming where it looked.
		initBin := filepath.Join(prefix, "bin", "urunc-init")
		os.Rename(initBin, initBin+".away")
		r := u.RunWith(t, stdio(t), "run", "-b", bundle, "inst3")
		os.Rename(initBin+".away", initBin)
		if msg := u.LastError(); r.Code == 0 || !strings.Contains(msg, initBin) {
			t.Fatalf("run without %s: %s; log %q", initBin, r, msg)
		}

		// Without the installed modules, a kernel that has everything
		// built in (urunc's microvm kernel) still boots; Debian's cannot
		// mount its root.
		if !hasModules() {
			return
		}
		rel, err := linuxboot.KernelRelease(e2e.LinuxKernel())
		if err != nil {
			t.Fatal(err)
		}
		mods := filepath.Join(prefix, "lib/urunc/linux/modules")
		os.Rename(mods, mods+".away")
		defer os.Rename(mods+".away", mods)
		out = stdio(t)
		r = u.RunWith(t, out, "run", "-b", bundle, "inst4")
		builtin := strings.HasSuffix(rel, "-urunc-microvm")
		if ok := r.Code == 0 && e2e.FileContains(out.Name(), "linux guest from sh"); ok != builtin {
			t.Fatalf("kernel %s without %s: %s; output %q; log %q", rel, mods, r, e2e.ReadFile(out.Name()), u.LastError())
		}
	})

	mk(t, append([]string{"uninstall"}, vars...)...)
	if left := regular(tree(t, prefix)); len(left) != 0 {
		t.Errorf("files left in %s after uninstall: %v", prefix, left)
	}
}

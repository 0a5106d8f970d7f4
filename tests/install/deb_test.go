package install_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// The Debian package of make deb: the same bytes from a second checkout,
// its control fields and file list, dpkg -i, the installed /usr/bin/urunc
// running a Linux guest from /usr/lib/urunc and, registered with a private
// dockerd by make install-docker (reloaded with SIGHUP), docker run
// --runtime urunc of the test unikernel; make uninstall-docker; dpkg
// --purge leaves no file of the package behind.
func TestDebPackage(t *testing.T) {
	needRoot(t)
	e2e.RequireQEMU(t)
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query", "dockerd", "runc", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found", tool)
		}
	}
	if _, err := os.Stat("/usr/bin/docker"); err != nil {
		t.Skip("/usr/bin/docker not found: install Debian package docker.io")
	}
	if st := pkgStatus(t, "urunc"); st != "" && !strings.Contains(st, "not-installed") {
		t.Skipf("a urunc package is on this host (%s): not replacing it", st)
	}
	if _, err := os.Lstat("/usr/bin/urunc"); err == nil {
		t.Skip("/usr/bin/urunc exists and is not from a package: not overwriting it")
	}
	for _, dep := range []string{"qemu-system-x86", "runc", "procps"} {
		if st := pkgStatus(t, dep); !strings.HasSuffix(st, " installed") {
			t.Skipf("dependency %s is not installed (%q): dpkg -i would fail", dep, st)
		}
	}
	mk(t, "unikernel")
	b := stamped(t)

	deb := buildDeb(t, repo)
	checkReproducible(t, deb, b)
	checkDebContents(t, deb, b)

	// From here on the host changes: one suite at a time.
	e2e.LockEngines(t)
	keepHostConfig(t)
	start := time.Now()
	must(t, "dpkg", "-i", deb)
	t.Logf("dpkg -i: %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if st := pkgStatus(t, "urunc"); st != "" && !strings.Contains(st, "not-installed") {
			run(t, nil, "dpkg", "--purge", "urunc")
		}
	})
	owned := strings.Fields(must(t, "dpkg", "-L", "urunc"))
	if conf := must(t, "dpkg-query", "-W", "-f=${Conffiles}", "urunc"); !strings.Contains(conf, "/etc/urunc/config.json") {
		t.Errorf("conffiles of the installed package: %q", conf)
	}
	sameFile(t, "/etc/urunc/config.json", filepath.Join(repo, "packaging/config.json"))
	checkVersion(t, "/usr/bin/urunc", b)
	checkVersion(t, "/usr/bin/urunc-dev", b)

	t.Run("linux guest from /usr/lib/urunc", func(t *testing.T) {
		dir := t.TempDir()
		u := &e2e.URunc{Bin: "/usr/bin/urunc", Root: filepath.Join(dir, "root"), Log: filepath.Join(dir, "log.json")}
		t.Cleanup(func() { u.Cleanup(t) })
		bundle := e2e.BusyboxLinuxBundle(t, []string{"sh", "-c", "echo packaged linux guest"}, []string{"PATH=/bin"})
		out, err := os.Create(filepath.Join(dir, "stdio"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		start := time.Now()
		if r := u.RunWith(t, out, "run", "-b", bundle, "deb1"); r.Code != 0 || !e2e.FileContains(out.Name(), "packaged linux guest") {
			t.Fatalf("run: %s; output %q; log %q", r, e2e.ReadFile(out.Name()), u.LastError())
		}
		t.Logf("urunc run of a Linux guest: %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("docker run --runtime urunc", func(t *testing.T) { dockerRun(t) })

	start = time.Now()
	must(t, "dpkg", "--purge", "urunc")
	t.Logf("dpkg --purge: %v", time.Since(start).Round(time.Millisecond))
	if st := pkgStatus(t, "urunc"); st != "" && !strings.Contains(st, "not-installed") {
		t.Errorf("after purge the package is %q", st)
	}
	for _, p := range append(owned, "/var/cache/urunc", "/etc/urunc") {
		st, err := os.Lstat(p)
		if err != nil {
			continue
		}
		// Directories shared with other packages (/usr/bin, ...) stay.
		if !st.IsDir() || strings.Contains(p, "urunc") {
			t.Errorf("left after dpkg --purge: %s", p)
		}
	}
}

// pkgStatus is dpkg's status of a package ("" when dpkg never heard of it).
func pkgStatus(t *testing.T, name string) string {
	out, code := run(t, nil, "dpkg-query", "-W", "-f=${Status}", name)
	if code != 0 {
		return ""
	}
	return strings.TrimSpace(out)
}

var debLine = regexp.MustCompile(`(?m)^deb: (\S+\.deb)$`)

// buildDeb runs make deb in dir and returns the package's path.
func buildDeb(t *testing.T, dir string, vars ...string) string {
	t.Helper()
	out := mkIn(t, dir, append([]string{"deb"}, vars...)...)
	m := debLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("make deb named no package:\n%s", out)
	}
	return filepath.Join(dir, m[1])
}

func sha(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// checkReproducible builds the package again from a second checkout of
// the same commit elsewhere (a dirty tree: again in place) and compares.
func checkReproducible(t *testing.T, deb string, b buildInfo) {
	t.Helper()
	want := sha(t, deb)
	var again string
	if b.dirty == "true" {
		t.Log("the work tree has uncommitted changes: built a second time in place, not from a second checkout")
		again = buildDeb(t, repo)
	} else {
		clone := filepath.Join(t.TempDir(), "checkout")
		must(t, "git", "clone", "--quiet", "--no-checkout", repo, clone)
		must(t, "git", "-C", clone, "checkout", "--quiet", "--detach", b.commit)
		// The guest kernel as make linux-kernel left it here (no second download).
		again = buildDeb(t, clone, "LINUX_OUT="+filepath.Join(repo, "build", "linux"))
		if filepath.Base(again) != filepath.Base(deb) {
			t.Errorf("second checkout made %s, first %s", filepath.Base(again), filepath.Base(deb))
		}
	}
	if got := sha(t, again); got != want {
		t.Fatalf("make deb is not reproducible: %s is %s, %s is %s", deb, want, again, got)
	}
	t.Logf("%s: sha256 %s, %d MiB, the same twice", filepath.Base(deb), want, fileSize(t, deb)>>20)
}

func fileSize(t *testing.T, f string) int64 {
	st, err := os.Stat(f)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// checkDebContents checks the control fields, the conffiles and the data
// (the files of make install PREFIX=/usr, the copyright, mtimes at
// SOURCE_DATE_EPOCH, root's).
func checkDebContents(t *testing.T, deb string, b buildInfo) {
	t.Helper()
	fields := map[string]string{}
	for _, f := range []string{"Package", "Version", "Architecture", "Depends", "Recommends", "Maintainer"} {
		fields[f] = strings.TrimSpace(must(t, "dpkg-deb", "-f", deb, f))
	}
	version := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(deb), "urunc_"), "_amd64.deb")
	if fields["Package"] != "urunc" || fields["Version"] != version || fields["Architecture"] != "amd64" ||
		fields["Depends"] != "qemu-system-x86, runc, procps" || fields["Recommends"] != "qemu-system-common" || fields["Maintainer"] == "" {
		t.Errorf("control fields %v", fields)
	}
	if !strings.HasPrefix(version, strings.SplitN(b.release, "-", 2)[0]) {
		t.Errorf("package version %s for release %s", version, b.release)
	}
	if c := must(t, "dpkg-deb", "-I", deb, "conffiles"); c != "/etc/urunc/config.json\n" {
		t.Errorf("conffiles %q", c)
	}
	epoch, err := strconv.ParseInt(b.sourceDate, 10, 64)
	if err != nil {
		t.Fatalf("source date %q: %v", b.sourceDate, err)
	}
	stamp := time.Unix(epoch, 0).Format("2006-01-02 15:04")
	got := map[string]fs.FileMode{}
	for _, l := range strings.Split(strings.TrimSpace(must(t, "dpkg-deb", "-c", deb)), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c line %q", l)
		}
		if f[1] != "root/root" || f[3]+" "+f[4] != stamp {
			t.Errorf("%s: owner %s, time %s %s; want root/root and %s", f[5], f[1], f[3], f[4], stamp)
		}
		if f[0][0] == '-' {
			got[strings.TrimPrefix(f[5], "./")] = parseMode(t, f[0])
		}
	}
	files, _ := expected(t, "/usr", "/etc")
	files["usr/share/doc/urunc/copyright"] = 0o644
	diff(t, "files of "+filepath.Base(deb), got, files)
}

func parseMode(t *testing.T, s string) fs.FileMode {
	var m fs.FileMode
	for i, c := range s[1:] {
		if c != '-' {
			m |= 1 << (8 - i)
		}
	}
	if fs.FileMode(m).String()[1:] != s[1:] {
		t.Fatalf("mode %q", s)
	}
	return m
}

// keepHostConfig moves an existing /etc/urunc/config.json aside for the
// test (dpkg would take it over and purge it) and puts it back after.
func keepHostConfig(t *testing.T) {
	const conf = "/etc/urunc/config.json"
	if _, err := os.Lstat(conf); err != nil {
		return
	}
	aside := filepath.Join(t.TempDir(), "config.json")
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(aside, data, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(conf)
	t.Logf("moved the host's %s aside for the test", conf)
	t.Cleanup(func() {
		os.MkdirAll(filepath.Dir(conf), 0o755)
		if err := os.WriteFile(conf, data, 0o644); err != nil {
			t.Errorf("restoring %s: %v (a copy is in %s)", conf, err, aside)
		}
	})
}

// dockerRun registers /usr/bin/urunc with a private dockerd through make
// install-docker and runs the test unikernel with docker run --runtime
// urunc; make uninstall-docker gives back the original daemon.json.
func dockerRun(t *testing.T) {
	base, err := os.MkdirTemp("/tmp", "ui") // short: containerd's sockets live here
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(base, "d.sock")
	daemonJSON := filepath.Join(base, "daemon.json")
	original := `{"log-driver": "json-file", "runtimes": {"plain-runc": {"path": "/usr/bin/runc"}}}` + "\n"
	os.WriteFile(daemonJSON, []byte(original), 0o644)
	logf, _ := os.Create(filepath.Join(base, "dockerd.log"))
	cmd := exec.Command("dockerd", "--config-file", daemonJSON,
		"--data-root", filepath.Join(base, "data"), "--exec-root", filepath.Join(base, "x"),
		"--pidfile", filepath.Join(base, "d.pid"), "-H", "unix://"+sock,
		"--bridge", "none", "--iptables=false", "--ip-masq=false")
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		exec.Command("umount", "-R", base).Run()
		os.RemoveAll(base)
	})
	docker := func(stdin []byte, args ...string) (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, "/usr/bin/docker", append([]string{"-H", "unix://" + sock}, args...)...)
		if stdin != nil {
			c.Stdin = bytes.NewReader(stdin)
		}
		out, err := c.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		} else if err != nil {
			return err.Error(), -1
		}
		return string(out), 0
	}
	e2e.WaitFor(t, 60*time.Second, "dockerd", func() bool { _, code := docker(nil, "version"); return code == 0 })
	t.Logf("private dockerd up: %v", time.Since(start).Round(time.Millisecond))

	out := mk(t, "install-docker", "PREFIX=/usr", "DOCKER_DAEMON_JSON="+daemonJSON)
	if !strings.Contains(out, "added runtime urunc (/usr/bin/urunc)") {
		t.Fatalf("make install-docker:\n%s", out)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	e2e.WaitFor(t, 30*time.Second, "dockerd to reload its runtimes", func() bool {
		info, _ := docker(nil, "info", "--format", "{{json .Runtimes}}")
		return strings.Contains(info, `"urunc":{"path":"/usr/bin/urunc"`) && strings.Contains(info, `"plain-runc"`)
	})

	if out, code := docker(e2e.UnikernelRootfsTar(t), "import", "--change", `CMD ["echo=deb"]`, "-", "urunc-deb:test"); code != 0 {
		t.Fatalf("docker import: %s", out)
	}
	start = time.Now()
	out, code := docker(nil, "run", "--rm", "--runtime", "urunc", "--network", "none", "urunc-deb:test")
	if code != 0 || !strings.Contains(out, "Hello from the urunc test unikernel") || !strings.Contains(out, "echo: deb") {
		log, _ := os.ReadFile(filepath.Join(base, "dockerd.log"))
		t.Fatalf("docker run --runtime urunc: exit %d\n%s\ndockerd log:\n%s", code, out, log)
	}
	t.Logf("docker run --rm --runtime urunc: %v", time.Since(start).Round(time.Millisecond))
	if left, _ := os.ReadDir(filepath.Join(base, "x", "runtime-runc", "moby")); len(left) != 0 {
		t.Errorf("left under the runtime root: %v", left)
	}

	out = mk(t, "uninstall-docker", "PREFIX=/usr", "DOCKER_DAEMON_JSON="+daemonJSON)
	if !strings.Contains(out, "removed runtime urunc") {
		t.Fatalf("make uninstall-docker:\n%s", out)
	}
	var got, want any
	data, _ := os.ReadFile(daemonJSON)
	json.Unmarshal(data, &got)
	json.Unmarshal([]byte(original), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("daemon.json after uninstall-docker:\n%s\nwant the original:\n%s", data, original)
	}
	if bak, _ := os.ReadFile(daemonJSON + ".urunc.bak"); !strings.Contains(string(bak), "/usr/bin/urunc") {
		t.Errorf("backup of uninstall-docker: %s", bak)
	}
}

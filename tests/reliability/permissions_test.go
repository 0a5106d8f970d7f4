package reliability_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// checkModes walks a container's state directory: directories 0700,
// regular files and sockets 0600, everything owned by root.
func checkModes(t *testing.T, dir string) (sockets int) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file removed while walking
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		want := fs.FileMode(0o600)
		switch {
		case fi.IsDir():
			want = 0o700
		case fi.Mode()&fs.ModeSocket != 0:
			sockets++
		case fi.Mode().IsRegular():
		default:
			t.Errorf("%s: unexpected file type %v", p, fi.Mode())
			return nil
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	return sockets
}

// TestStateDirPermissions: only root reaches a container's state and
// sockets, at every stage (created: urunc.sock; running: qmp.sock).
func TestStateDirPermissions(t *testing.T) {
	u := setup(t)
	if r := u.RunWith(t, stdio(t), "create", "-b", heartbeat(t), "perm"); r.Code != 0 {
		t.Fatal(u.LastError())
	}
	dir := filepath.Join(u.Root, "perm")
	// The root urunc made itself is closed to others too.
	if fi, err := os.Stat(u.Root); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("root %s: %v %v", u.Root, fi.Mode().Perm(), err)
	}
	if n := checkModes(t, dir); n == 0 {
		t.Error("no socket in a created container's directory")
	}
	u.MustRun(t, "start", "perm")
	e2e.WaitFor(t, 5*time.Second, "qmp.sock", func() bool {
		_, err := os.Stat(filepath.Join(dir, "qmp.sock"))
		return err == nil
	})
	checkModes(t, dir)
	u.MustRun(t, "pause", "perm")
	checkModes(t, dir)
	u.MustRun(t, "delete", "--force", "perm")
	clean(t, u)
}

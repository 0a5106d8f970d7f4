package jail

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/internal/testenv"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

func TestVMMCredsFor(t *testing.T) {
	hvt := &vmm.Plan{Seccomp: "solo5-hvt"}
	qemu := &vmm.Plan{}
	spec := &specs.Spec{
		Process: &specs.Process{
			User:            specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 27, 44}},
			NoNewPrivileges: true,
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  []string{"CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_NO_SUCH_THING"},
				Effective: []string{"cap_kill"},
			},
		},
		Linux: &specs.Linux{Seccomp: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}},
	}
	c, unknown := CredsFor(spec, hvt)
	if c.UID != 1000 || c.GID != 1000 || !reflect.DeepEqual(c.Groups, []uint32{27, 44}) || !c.NoNewPrivs {
		t.Fatalf("creds %+v", c)
	}
	if !reflect.DeepEqual(unknown, []string{"CAP_NO_SUCH_THING"}) {
		t.Errorf("unknown caps %v", unknown)
	}
	if c.Caps == nil || !reflect.DeepEqual(c.Caps.Bounding, []capability.Cap{capability.CAP_NET_BIND_SERVICE, capability.CAP_KILL}) ||
		!reflect.DeepEqual(c.Caps.Effective, []capability.Cap{capability.CAP_KILL}) {
		t.Errorf("caps %+v", c.Caps)
	}
	if c.Seccomp != "solo5-hvt" || !c.changesIdentity() || c.DeviceOwner() == nil {
		t.Errorf("seccomp %q identity %v", c.Seccomp, c.changesIdentity())
	}
	// qemu: the spec's profile is not applied to it.
	if c, _ := CredsFor(spec, qemu); c.Seccomp != "" {
		t.Errorf("qemu got seccomp %q", c.Seccomp)
	}
	// No seccomp section (seccomp=unconfined): no filter for solo5 either.
	spec.Linux.Seccomp = nil
	if c, _ := CredsFor(spec, hvt); c.Seccomp != "" {
		t.Errorf("unconfined spec got seccomp %q", c.Seccomp)
	}
	// Root without capabilities in the spec: nothing changes.
	c, _ = CredsFor(&specs.Spec{Process: &specs.Process{}}, qemu)
	if c.changesIdentity() || c.Caps != nil || c.NoNewPrivs || c.Seccomp != "" || c.DeviceOwner() != nil {
		t.Errorf("root creds %+v", c)
	}
}

func TestAccessible(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755) // t.TempDir's parent is 0700
	os.Chmod(dir, 0o755)
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		os.Chown(f, 0, 2000)
	}
	owner := uint32(os.Geteuid())
	var st unix.Stat_t
	unix.Stat(f, &st)
	tests := []struct {
		name   string
		uid    uint32
		groups []uint32
		mode   uint32
		ok     bool
	}{
		{"owner rw", owner, nil, unix.R_OK | unix.W_OK, true},
		{"group r", 4242, []uint32{st.Gid}, unix.R_OK, true},
		{"group w", 4242, []uint32{st.Gid}, unix.W_OK, false},
		{"other r", 4242, []uint32{4243}, unix.R_OK, false},
	}
	for _, tt := range tests {
		err := accessible(f, tt.uid, tt.groups, tt.mode)
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	os.Chmod(f, 0o666)
	os.Chmod(dir, 0o700)
	if err := accessible(f, 4242, nil, unix.R_OK); err == nil {
		t.Error("file under a 0700 directory of someone else is reachable")
	}
}

// PrepareAccess names the file a non-root VMM cannot reach.
func TestPrepareAccess(t *testing.T) {
	testenv.RequireRoot(t) // chowns
	state := filepath.Join(t.TempDir(), "c1")
	os.Mkdir(state, 0o700)
	os.Chmod(filepath.Dir(state), 0o755)
	os.Chmod(filepath.Dir(filepath.Dir(state)), 0o755) // t.TempDir's parent is 0700
	serial := filepath.Join(state, "serial.log")
	os.WriteFile(serial, nil, 0o600)
	kernel := filepath.Join(filepath.Dir(state), "kernel")
	os.WriteFile(kernel, nil, 0o600)
	plan := &vmm.Plan{Path: "/bin/true", Mounts: []vmm.Mount{{Path: kernel, ReadOnly: true, What: "the guest kernel"}}}
	owned := []string{serial}
	c := Creds{UID: 1000, GID: 1000}
	err := PrepareAccess(state, plan, owned, c)
	if !errors.Is(err, ErrVMMAccess) {
		t.Fatalf("root-only kernel: %v", err)
	}
	os.Chmod(kernel, 0o644)
	if err := PrepareAccess(state, plan, owned, c); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Stat(serial, &st)
	if st.Uid != 1000 || st.Gid != 1000 {
		t.Errorf("serial log owned by %d:%d", st.Uid, st.Gid)
	}
	unix.Stat(state, &st)
	if st.Mode&0o777 != 0o711 {
		t.Errorf("state dir %04o", st.Mode&0o777)
	}
	// Root: nothing is changed.
	os.Chmod(state, 0o700)
	if err := PrepareAccess(state, plan, owned, Creds{}); err != nil {
		t.Fatal(err)
	}
	if unix.Stat(state, &st); st.Mode&0o777 != 0o700 {
		t.Error("root VMM changed the state dir")
	}
}

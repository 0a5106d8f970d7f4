package jail

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/seccomp"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// Sentinel errors of the VMM's last steps.
var (
	// ErrVMMAccess: the VMM's user cannot reach a file the VMM needs.
	ErrVMMAccess = errors.New("the VMM's user cannot access a file it needs")
	// ErrPrivileges: dropping to the spec's user, groups or capabilities failed.
	ErrPrivileges = errors.New("cannot drop the VMM's privileges")
)

// Creds is what the VMM runs as and keeps, from the spec.
type Creds struct {
	UID, GID   uint32
	Groups     []uint32 // process.user.additionalGids
	Caps       *capSets // nil: the spec has no capabilities; left as they are
	NoNewPrivs bool
	// Seccomp is the runtime/seccomp profile to install, "" for none: the
	// plan asks for one (solo5) and the spec has a seccomp section. The
	// spec's own profile (Docker's default) is made for a container
	// process, not for a VMM, and is not applied.
	Seccomp string
}

// capSets are the spec's capability sets, parsed.
type capSets struct {
	Bounding, Effective, Permitted, Inheritable, Ambient []capability.Cap
}

// CredsFor reads the VMM's credentials from the spec. It also returns
// the capability names this build does not know (they are left out).
func CredsFor(spec *specs.Spec, plan *vmm.Plan) (Creds, []string) {
	var c Creds
	var unknown []string
	if p := spec.Process; p != nil {
		c.UID, c.GID = p.User.UID, p.User.GID
		for _, g := range p.User.AdditionalGids {
			if g != c.GID {
				c.Groups = append(c.Groups, g)
			}
		}
		c.NoNewPrivs = p.NoNewPrivileges
		if pc := p.Capabilities; pc != nil {
			parse := func(names []string) []capability.Cap {
				caps, bad := parseCaps(names)
				unknown = append(unknown, bad...)
				return caps
			}
			c.Caps = &capSets{
				Bounding:    parse(pc.Bounding),
				Effective:   parse(pc.Effective),
				Permitted:   parse(pc.Permitted),
				Inheritable: parse(pc.Inheritable),
				Ambient:     parse(pc.Ambient),
			}
		}
	}
	if plan.Seccomp != "" && spec.Linux != nil && spec.Linux.Seccomp != nil {
		c.Seccomp = plan.Seccomp
	}
	return c, unknown
}

// parseCaps maps "CAP_NET_ADMIN" style names to capabilities.
func parseCaps(names []string) (caps []capability.Cap, unknown []string) {
	known := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		known["CAP_"+strings.ToUpper(c.String())] = c
	}
	for _, n := range names {
		if c, ok := known[strings.ToUpper(n)]; ok {
			caps = append(caps, c)
		} else {
			unknown = append(unknown, n)
		}
	}
	return caps, unknown
}

// changesIdentity reports whether the VMM runs as someone else than the
// runtime (root, no supplementary groups).
func (c Creds) changesIdentity() bool { return c.UID != 0 || c.GID != 0 || len(c.Groups) > 0 }

// DeviceOwner is who owns the private device nodes of the confined root:
// the VMM's user when it is not root (nil: bind the host's nodes).
func (c Creds) DeviceOwner() *Owner {
	if c.UID == 0 {
		return nil
	}
	return &Owner{UID: c.UID, GID: c.GID}
}

// Owner owns the VMM's private device nodes.
type Owner struct{ UID, GID uint32 }

// makeDevices creates private copies of the host's device nodes devs in
// newRoot/dev (a tmpfs of its own: the confined root is nodev) and gives
// those that are not open to everyone to o: the host's /dev/kvm or
// /dev/net/tun (often 0600 root) are not touched. It returns the devices
// it could not create (mknod refused, e.g. in a user namespace), to be
// bound from the host instead.
func makeDevices(newRoot string, devs []string, o *Owner) ([]string, error) {
	devDir := filepath.Join(newRoot, "dev")
	if err := os.MkdirAll(devDir, 0o755); err != nil { //nolint:gosec // G301: the VMM's /dev, reachable by its user like the host's
		return nil, err
	}
	if err := unix.Mount("tmpfs", devDir, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=64k"); err != nil {
		return nil, fmt.Errorf("confine: /dev tmpfs: %w", err)
	}
	var bind []string
	for _, dev := range devs {
		var st unix.Stat_t
		if err := unix.Stat(dev, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
			continue
		}
		dst := filepath.Join(newRoot, dev)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil { //nolint:gosec // G301: /dev/net and the like, as on the host
			return nil, err
		}
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			bind = append(bind, dev)
			continue
		}
		// mknod applies the umask: set the host's permissions.
		if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
			return nil, fmt.Errorf("confine: chmod %s: %w", dst, err)
		}
		if st.Mode&0o006 != 0o006 {
			if err := unix.Chown(dst, int(o.UID), int(o.GID)); err != nil {
				return nil, fmt.Errorf("confine: chown %s: %w", dst, err)
			}
		}
	}
	return bind, nil
}

// PrepareAccess makes what the VMM writes its user's (owned: the serial
// log, the generated files), lets it traverse the state directory (0711:
// its files stay 0600 root), and checks that every file the VMM opens is
// reachable with the right permissions by that user, so that a refusal
// is a clear error here rather than a VMM dying on EACCES. Runs after
// Confine, so it checks what the VMM will see. Root needs nothing.
func PrepareAccess(stateDir string, plan *vmm.Plan, owned []string, c Creds) error {
	if c.UID == 0 {
		return nil
	}
	if err := os.Chmod(stateDir, 0o711); err != nil { //nolint:gosec // G302: traversable, not listable, by the VMM's user; the files in it stay 0600
		return fmt.Errorf("%w: %w", ErrPrivileges, err)
	}
	for _, f := range plan.Files {
		owned = append(owned, f.Path)
	}
	for _, p := range owned {
		if p == "" {
			continue
		}
		if err := os.Lchown(p, int(c.UID), int(c.GID)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: chown %s: %w", ErrPrivileges, p, err)
		}
	}
	type need struct {
		path string
		mode uint32 // R_OK|W_OK|X_OK
		why  string
	}
	needs := []need{{plan.Path, unix.X_OK, "the VMM binary"}}
	for _, m := range plan.Mounts {
		if m.Path == plan.Path {
			continue
		}
		mode := uint32(unix.R_OK)
		if info, err := os.Stat(m.Path); err == nil && info.IsDir() {
			mode |= unix.X_OK
		}
		if !m.ReadOnly {
			mode |= unix.W_OK
		}
		needs = append(needs, need{m.Path, mode, m.What})
	}
	for _, p := range owned {
		needs = append(needs, need{p, unix.W_OK, "a file the VMM writes"})
	}
	for _, f := range plan.Files {
		needs = append(needs, need{f.Path, unix.R_OK, "a VMM configuration file"})
	}
	for _, d := range plan.Devices {
		needs = append(needs, need{d, unix.R_OK | unix.W_OK, "the device " + d})
	}
	groups := append([]uint32{c.GID}, c.Groups...)
	for _, n := range needs {
		if n.path == "" || !filepath.IsAbs(n.path) {
			continue
		}
		if err := accessible(n.path, c.UID, groups, n.mode); err != nil {
			return fmt.Errorf("%w: %s (%s) for uid %d gid %d: %w; make it accessible to that user or run the container as root", ErrVMMAccess, n.path, n.why, c.UID, c.GID, err)
		}
	}
	return nil
}

// accessible checks, by the mode bits, that uid with groups can reach path
// (search permission on every directory above it) and open it with mode.
// ACLs and capabilities are not considered.
func accessible(path string, uid uint32, groups []uint32, mode uint32) error {
	check := func(p string, want uint32) error {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return err
		}
		perm := st.Mode & 0o7
		if st.Uid == uid {
			perm = (st.Mode >> 6) & 0o7
		} else {
			for _, g := range groups {
				if st.Gid == g {
					perm = (st.Mode >> 3) & 0o7
					break
				}
			}
		}
		if perm&want != want {
			return fmt.Errorf("%s is %04o %d:%d", p, st.Mode&0o7777, st.Uid, st.Gid)
		}
		return nil
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if err := check(dir, unix.X_OK); err != nil {
			return err
		}
		if dir == "/" {
			break
		}
	}
	return check(path, mode)
}

// Exec execs the VMM with the credentials c: capability bounding set,
// supplementary groups, gid, uid, the remaining capability sets,
// no_new_privs, then the seccomp filter, then execve. Every step runs on
// one locked OS thread, the one that execs (capset, prctl and the filter
// are per thread; Setgroups/Setresgid/Setresuid apply to all threads).
// It returns only on failure.
func Exec(plan *vmm.Plan, env []string, c Creds) error {
	if !c.changesIdentity() && c.Caps == nil && !c.NoNewPrivs && c.Seccomp == "" {
		return fmt.Errorf("exec %s: %w", plan.Path, unix.Exec(plan.Path, plan.Argv, env))
	}
	// Never unlocked: this thread becomes the VMM, or the child exits.
	runtime.LockOSThread()
	x, err := seccomp.NewExec(plan.Path, plan.Argv, env)
	if err != nil {
		return err
	}
	load := func() error { return nil }
	if c.Seccomp != "" {
		p, err := seccomp.Policy(c.Seccomp, x)
		if err != nil {
			return err
		}
		load = func() error { return seccomp.Load(p) }
	}
	if err := c.apply(); err != nil {
		return err
	}
	if c.Seccomp == "" {
		return fmt.Errorf("exec %s: %w", plan.Path, unix.Exec(plan.Path, plan.Argv, env))
	}
	if err := load(); err != nil {
		return fmt.Errorf("seccomp filter %s for the VMM: %w", c.Seccomp, err)
	}
	return x.Run()
}

// apply drops to c on the calling (locked) thread.
func (c Creds) apply() error {
	var caps capability.Capabilities
	if c.Caps != nil {
		var err error
		if caps, err = capability.NewPid2(0); err == nil {
			err = caps.Load()
		}
		if err != nil {
			return fmt.Errorf("%w: capabilities: %w", ErrPrivileges, err)
		}
		caps.Clear(capability.BOUNDS)
		caps.Set(capability.BOUNDING, c.Caps.Bounding...)
		if err := caps.Apply(capability.BOUNDS); err != nil {
			return fmt.Errorf("%w: capability bounding set: %w", ErrPrivileges, err)
		}
	}
	if c.changesIdentity() {
		if caps != nil && c.UID != 0 {
			// Keep the permitted set across setresuid, to be trimmed below.
			if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
				return fmt.Errorf("%w: PR_SET_KEEPCAPS: %w", ErrPrivileges, err)
			}
		}
		groups := make([]int, len(c.Groups))
		for i, g := range c.Groups {
			groups[i] = int(g)
		}
		if err := syscall.Setgroups(groups); err != nil {
			return fmt.Errorf("%w: setgroups %v: %w", ErrPrivileges, c.Groups, err)
		}
		if err := syscall.Setresgid(int(c.GID), int(c.GID), int(c.GID)); err != nil {
			return fmt.Errorf("%w: setresgid %d: %w", ErrPrivileges, c.GID, err)
		}
		if err := syscall.Setresuid(int(c.UID), int(c.UID), int(c.UID)); err != nil {
			return fmt.Errorf("%w: setresuid %d: %w", ErrPrivileges, c.UID, err)
		}
	}
	if caps != nil {
		caps.Clear(capability.CAPS | capability.AMBS)
		caps.Set(capability.EFFECTIVE, c.Caps.Effective...)
		caps.Set(capability.PERMITTED, c.Caps.Permitted...)
		caps.Set(capability.INHERITABLE, c.Caps.Inheritable...)
		// The kernel refuses an ambient capability that is not both
		// permitted and inheritable.
		for _, a := range c.Caps.Ambient {
			if caps.Get(capability.PERMITTED, a) && caps.Get(capability.INHERITABLE, a) {
				caps.Set(capability.AMBIENT, a)
			}
		}
		if err := caps.Apply(capability.CAPS | capability.AMBS); err != nil {
			return fmt.Errorf("%w: capabilities: %w", ErrPrivileges, err)
		}
	}
	if c.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("%w: no_new_privs: %w", ErrPrivileges, err)
		}
	}
	return nil
}

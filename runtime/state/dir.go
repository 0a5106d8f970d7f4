package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/internal/atomicfile"
)

// File names inside <root>/<id>, the one place they are defined.
// docs/state-dir.md documents each one.
const (
	StateFile  = "state.json"
	EventsFile = "events.jsonl"
	SerialFile = "serial.log"
	VMMFile    = "vmm.json"
	LockFile   = "lock"
	MarkerFile = "urunc" // present in every directory urunc made; runc's are without it
	InitSock   = "init.sock"
	UruncSock  = "urunc.sock"
	QMPSock    = "qmp.sock"
	// Files of the guest's storage (runtime/rootfs).
	LinuxInitrdFile  = "initrd.img"    // a Linux guest's initrd with urunc's init
	VirtiofsSock     = "virtiofs.sock" // virtiofsd's vhost-user socket
	VirtiofsdLog     = "virtiofsd.log"
	RootfsKernelFile = "rootfs-kernel" // the kernel, copied out of a block rootfs
	RootfsInitrdFile = "rootfs-initrd"
	// VMMRootDir is the mount point of the VMM's confined root (runtime/jail).
	VMMRootDir = "vmmroot"
	// FirecrackerConfig is firecracker's generated configuration.
	FirecrackerConfig = "firecracker.json"

	DirMode     = 0o700
	FileMode    = 0o600
	MaxIDLength = 1024
)

var (
	ErrNotExist  = errors.New("container does not exist")
	ErrExists    = errors.New("container already exists")
	ErrInvalidID = errors.New("invalid container id")
	ErrLocked    = errors.New("container is locked by another urunc command")
	ErrNotUrunc  = errors.New("container is not managed by urunc")
)

// idPattern is runc's rule: letters, digits, '_', '+', '-', '.'.
var idPattern = regexp.MustCompile(`^[\w+\-.]+$`)

// ValidateID rejects ids that could escape the root or break paths.
func ValidateID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidID)
	case len(id) > MaxIDLength:
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidID, MaxIDLength)
	case id == "." || id == "..":
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	case !idPattern.MatchString(id):
		return fmt.Errorf("%w: %q (allowed: letters, digits, '_', '+', '-', '.')", ErrInvalidID, id)
	}
	return nil
}

// Dir is one container's state directory.
type Dir struct {
	Root string
	ID   string
}

// Path returns <root>/<id>.
func (d Dir) Path() string { return filepath.Join(d.Root, d.ID) }

// File returns the path of a file inside the state directory.
func (d Dir) File(name string) string { return filepath.Join(d.Path(), name) }

// Create makes the state directory. The atomic mkdir makes the id unique:
// of two concurrent creates exactly one succeeds.
func Create(root, id string) (Dir, error) {
	if err := ValidateID(id); err != nil {
		return Dir{}, err
	}
	if err := os.MkdirAll(root, DirMode); err != nil {
		return Dir{}, fmt.Errorf("create root %s: %w", root, err)
	}
	d := Dir{Root: root, ID: id}
	if err := os.Mkdir(d.Path(), DirMode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Dir{}, fmt.Errorf("%w: %s", ErrExists, id)
		}
		return Dir{}, fmt.Errorf("create state dir: %w", err)
	}
	if err := os.WriteFile(d.File(LockFile), nil, FileMode); err != nil {
		os.RemoveAll(d.Path())
		return Dir{}, fmt.Errorf("create state dir: %w", err)
	}
	if err := os.WriteFile(d.File(MarkerFile), nil, FileMode); err != nil {
		os.RemoveAll(d.Path())
		return Dir{}, fmt.Errorf("create state dir: %w", err)
	}
	return d, nil
}

// Open returns the state directory of an existing urunc container.
// It returns ErrNotExist when there is none and ErrNotUrunc when the
// directory belongs to another runtime sharing the root (runc).
func Open(root, id string) (Dir, error) {
	if err := ValidateID(id); err != nil {
		return Dir{}, err
	}
	d := Dir{Root: root, ID: id}
	if _, err := os.Stat(d.Path()); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Dir{}, fmt.Errorf("%w: %s", ErrNotExist, id)
		}
		return Dir{}, err
	}
	if _, err := os.Stat(d.File(MarkerFile)); err != nil {
		return Dir{}, fmt.Errorf("%w: %s", ErrNotUrunc, id)
	}
	return d, nil
}

// List returns the ids of the urunc containers under root, sorted.
func List(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, e.Name(), MarkerFile)); err == nil {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Lock takes the container's exclusive lock, waiting until ctx is done.
// Every command that changes the container holds it.
func (d Dir) Lock(ctx context.Context) (unlock func(), err error) {
	// Never O_CREATE: a command waiting while another deletes the
	// container must not put a lock file back into a directory being removed.
	f, err := os.OpenFile(d.File(LockFile), os.O_RDWR|unix.O_CLOEXEC, FileMode)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, d.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", d.ID, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("%w: %s: %w", ErrLocked, d.ID, ctx.Err())
		case <-tick.C:
		}
	}
}

// Locked reports whether some process holds the container's lock now.
func (d Dir) Locked() bool {
	f, err := os.OpenFile(d.File(LockFile), os.O_RDWR|unix.O_CLOEXEC, FileMode)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return true
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN) // Close releases it anyway
	return false
}

// Remove deletes the whole state directory.
func (d Dir) Remove() error { return os.RemoveAll(d.Path()) }

func (d Dir) writeJSON(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(d.File(name), data, FileMode); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func (d Dir) readJSON(name string, v any) error {
	data, err := os.ReadFile(d.File(name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", name, err)
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, name, err)
	}
	return nil
}

// ErrCorrupt marks a state file that exists but cannot be parsed.
var ErrCorrupt = errors.New("corrupt state file")

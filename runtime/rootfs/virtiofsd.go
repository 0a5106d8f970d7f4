package rootfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/state"
)

// ErrVirtiofsd is wrapped when virtiofsd cannot be started.
var ErrVirtiofsd = errors.New("virtiofsd")

// virtiofsdReady bounds the wait for virtiofsd's socket.
const virtiofsdReady = 5 * time.Second

// Virtiofsd is a running virtio-fs daemon serving the container rootfs
// (its socket and log are in the state directory, which the confined VMM
// sees).
type Virtiofsd struct {
	cmd    *exec.Cmd
	done   chan struct{}
	socket string
	// HostPID and StartTime identify it from the host (vmm.json, delete):
	// in a new pid namespace cmd.Process.Pid is the namespace's number.
	HostPID   int
	StartTime uint64
}

// startVirtiofsd starts virtiofsd (binary bin) sharing rootfs on a socket
// in the state directory and waits until it listens. It runs in a mount
// namespace of its own, a copy of ours: the VMM's confinement (pivot_root
// in our namespace) must not move its root. It exits when the VMM
// disconnects; stop kills it when the VMM never comes.
func startVirtiofsd(bin string, d state.Dir, rootfs string) (*Virtiofsd, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%w: %w (install qemu-system-common, or set virtiofsd in the urunc config)", ErrVirtiofsd, err)
	}
	// virtiofsd splits -o values on ','.
	if strings.Contains(rootfs, ",") {
		return nil, fmt.Errorf("%w: rootfs path %q contains ','", ErrVirtiofsd, rootfs)
	}
	sock := d.File(state.VirtiofsSock)
	if len(sock) >= 108 {
		return nil, fmt.Errorf("%w: socket path %s is longer than 107 bytes", ErrVirtiofsd, sock)
	}
	os.Remove(sock)
	logf, err := os.OpenFile(d.File(state.VirtiofsdLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, state.FileMode)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVirtiofsd, err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--socket-path="+sock, "-o", "source="+rootfs, "-o", "cache=none")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVirtiofsd, err)
	}
	v := &Virtiofsd{cmd: cmd, done: make(chan struct{}), socket: sock}
	go func() {
		_ = cmd.Wait() // how it ended is in ProcessState and virtiofsd.log
		close(v.done)
	}()
	deadline := time.NewTimer(virtiofsdReady)
	defer deadline.Stop()
	for {
		if info, err := os.Stat(sock); err == nil && info.Mode()&os.ModeSocket != 0 {
			break
		}
		select {
		case <-v.done:
			os.Remove(sock)
			return nil, fmt.Errorf("%w: exited before listening (%s): %s", ErrVirtiofsd, cmd.ProcessState, tail(d.File(state.VirtiofsdLog)))
		case <-deadline.C:
			v.stop()
			return nil, fmt.Errorf("%w: no socket %s after %v: %s", ErrVirtiofsd, sock, virtiofsdReady, tail(d.File(state.VirtiofsdLog)))
		case <-time.After(5 * time.Millisecond):
		}
	}
	v.HostPID = hostPIDOfChild(cmd.Process.Pid)
	if v.HostPID > 0 {
		v.StartTime, _ = state.StartTime(v.HostPID)
	}
	return v, nil
}

// stop kills virtiofsd (when the VMM will not run) and removes its socket.
func (v *Virtiofsd) stop() {
	if v == nil {
		return
	}
	_ = v.cmd.Process.Kill() // fails only if it has exited: done then
	select {
	case <-v.done:
	case <-time.After(2 * time.Second):
	}
	os.Remove(v.socket)
}

// hostPIDOfChild returns the pid, as /proc (mounted for the host's pid
// namespace) numbers it, of our child whose pid is nsPID in our own pid
// namespace; 0 if not found. Without a new pid namespace both are equal.
func hostPIDOfChild(nsPID int) int {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if nsPIDs(pid) == nsPID {
				return pid
			}
		}
	}
	return 0
}

// nsPIDs returns the innermost pid of /proc/<pid> (the NSpid line's last
// value), or -1.
func nsPIDs(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return -1
			}
			n, err := strconv.Atoi(f[len(f)-1])
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// KillVirtiofsd kills a virtiofsd recorded in vmm.json that outlived its
// VMM (delete). It normally exits when the VMM disconnects.
func KillVirtiofsd(info *state.VMMInfo) error {
	if info == nil || info.VirtiofsdPID <= 0 {
		return nil
	}
	if err := state.Signal(info.VirtiofsdPID, info.VirtiofsdStartTime, unix.SIGKILL); err != nil && !errors.Is(err, state.ErrNotAlive) {
		return err
	}
	return nil
}

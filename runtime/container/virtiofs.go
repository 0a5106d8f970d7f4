package container

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

// Files of virtio-fs in the container's state directory (reachable by the
// confined VMM: the state directory is bound into its root).
const (
	virtiofsSocket = "virtiofs.sock"
	virtiofsdLog   = "virtiofsd.log"
)

// virtiofsdReady bounds the wait for virtiofsd's socket.
const virtiofsdReady = 5 * time.Second

// virtiofsd is a running virtio-fs daemon serving the container rootfs.
type virtiofsd struct {
	cmd    *exec.Cmd
	done   chan struct{}
	socket string
	// hostPID and startTime identify it from the host (delete): in a new
	// pid namespace cmd.Process.Pid is the namespace's number.
	hostPID   int
	startTime uint64
}

// startVirtiofsd starts virtiofsd (binary bin) sharing rootfs on a socket
// in the state directory and waits until it listens. It runs in a mount
// namespace of its own, a copy of ours: the VMM's confinement (pivot_root
// in our namespace) must not move its root. It exits when the VMM
// disconnects; stop kills it when the VMM never comes.
func startVirtiofsd(bin string, d state.Dir, rootfs string) (*virtiofsd, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%w: %w (install qemu-system-common, or set virtiofsd in the urunc config)", ErrVirtiofsd, err)
	}
	// virtiofsd splits -o values on ','.
	if strings.Contains(rootfs, ",") {
		return nil, fmt.Errorf("%w: rootfs path %q contains ','", ErrVirtiofsd, rootfs)
	}
	sock := d.File(virtiofsSocket)
	if len(sock) >= 108 {
		return nil, fmt.Errorf("%w: socket path %s is longer than 107 bytes", ErrVirtiofsd, sock)
	}
	os.Remove(sock)
	logf, err := os.OpenFile(d.File(virtiofsdLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, state.FileMode)
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
	v := &virtiofsd{cmd: cmd, done: make(chan struct{}), socket: sock}
	go func() {
		cmd.Wait()
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
			return nil, fmt.Errorf("%w: exited before listening (%s): %s", ErrVirtiofsd, cmd.ProcessState, tail(d.File(virtiofsdLog)))
		case <-deadline.C:
			v.stop()
			return nil, fmt.Errorf("%w: no socket %s after %v: %s", ErrVirtiofsd, sock, virtiofsdReady, tail(d.File(virtiofsdLog)))
		case <-time.After(5 * time.Millisecond):
		}
	}
	v.hostPID = hostPIDOfChild(cmd.Process.Pid)
	if v.hostPID > 0 {
		v.startTime, _ = state.StartTime(v.hostPID)
	}
	return v, nil
}

// stop kills virtiofsd (when the VMM will not run) and removes its socket.
func (v *virtiofsd) stop() {
	if v == nil {
		return
	}
	v.cmd.Process.Kill()
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

// tail returns the last lines of a log file for an error message.
func tail(path string) string {
	data, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(data))
	if len(s) > 400 {
		s = "..." + s[len(s)-400:]
	}
	if s == "" {
		return "(no output)"
	}
	return s
}

// killVirtiofsd kills a virtiofsd recorded in vmm.json that outlived its
// VMM (delete). It normally exits when the VMM disconnects.
func killVirtiofsd(info *state.VMMInfo) error {
	if info == nil || info.VirtiofsdPID <= 0 {
		return nil
	}
	if err := signalPid(info.VirtiofsdPID, info.VirtiofsdStartTime, unix.SIGKILL); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	return nil
}

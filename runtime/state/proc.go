package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// procStat returns the state letter and start time (clock ticks since
// boot) of pid from /proc/<pid>/stat.
func procStat(pid int) (byte, uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may contain spaces and parentheses: the
	// fields we need come after its last ')'.
	end := bytes.LastIndexByte(data, ')')
	if end < 0 || end+2 >= len(data) {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := bytes.Fields(data[end+2:])
	// fields[0] is field 3 (state); start time is field 22 -> index 19.
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	start, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat: %w", pid, err)
	}
	return fields[0][0], start, nil
}

// StartTime returns pid's start time, used to recognise it later.
func StartTime(pid int) (uint64, error) {
	_, start, err := procStat(pid)
	return start, err
}

// Alive reports whether pid is running and is the process that had
// startTime (0 = not recorded, pid alone decides). Zombies are dead.
func Alive(pid int, startTime uint64) bool {
	if pid <= 0 {
		return false
	}
	state, start, err := procStat(pid)
	if err != nil {
		return false
	}
	if state == 'Z' || state == 'X' {
		return false
	}
	return startTime == 0 || start == startTime
}

// ErrNotAlive: the process is gone (or its pid now belongs to another).
var ErrNotAlive = errors.New("process is not alive")

// Signal sends sig to pid if it is still the process that had startTime.
func Signal(pid int, startTime uint64, sig unix.Signal) error {
	if !Alive(pid, startTime) {
		return fmt.Errorf("%w: pid %d", ErrNotAlive, pid)
	}
	if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal %d: %w", pid, err)
	}
	return nil
}

// WaitExit reports whether pid (with startTime) has exited within d,
// without polling: a pidfd becomes readable when the process terminates.
func WaitExit(ctx context.Context, pid int, startTime uint64, d time.Duration) bool {
	if !Alive(pid, startTime) {
		return true
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return !Alive(pid, startTime)
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(d)
	for {
		if !Alive(pid, startTime) {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return false
		}
		// Wake at least every 50 ms: a zombie nobody reaps keeps the
		// pidfd readable, and Alive (not the pidfd) is the truth.
		wait := min(left, 50*time.Millisecond)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(wait.Milliseconds())+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return !Alive(pid, startTime)
		}
		if n > 0 {
			// Readable: terminated (perhaps a zombie, which Alive counts as dead).
			if !Alive(pid, startTime) {
				return true
			}
			time.Sleep(wait) // zombie-less race: re-check shortly
		}
	}
}

// SignalDisposition is what a process does with a signal, from
// /proc/PID/status.
type SignalDisposition struct {
	Caught  bool // it has a handler
	Ignored bool // it ignores it
	// NSInit: it is pid 1 of its pid namespace, where the kernel drops
	// every signal the process has no handler for (SIGKILL and SIGSTOP
	// from an ancestor namespace excepted).
	NSInit bool
}

// Dropped reports whether sig would have no effect on the process.
func (s SignalDisposition) Dropped() bool { return !s.Caught && (s.Ignored || s.NSInit) }

// Disposition reads how pid treats sig.
func Disposition(pid int, sig unix.Signal) (SignalDisposition, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return SignalDisposition{}, err
	}
	var d SignalDisposition
	bit := uint64(1) << (uint(sig) - 1)
	for _, line := range bytes.Split(data, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch string(k) {
		case "SigCgt", "SigIgn":
			mask, err := strconv.ParseUint(string(v), 16, 64)
			if err != nil {
				return SignalDisposition{}, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
			}
			if string(k) == "SigCgt" {
				d.Caught = mask&bit != 0
			} else {
				d.Ignored = mask&bit != 0
			}
		case "NSpid":
			f := bytes.Fields(v)
			d.NSInit = len(f) > 1 && string(f[len(f)-1]) == "1"
		}
	}
	return d, nil
}

// ErrNotChild: the process is not a child of this one (its parent, or
// the subreaper it was handed to, is another process), so its exit
// status is not ours to read.
var ErrNotChild = errors.New("process is not a child of this process")

// SetChildSubreaper makes this process the reaper of its orphaned
// descendants (prctl PR_SET_CHILD_SUBREAPER), as containerd's shim is: a
// VMM whose "urunc create" has exited becomes its child, and its exit
// status can be read with WaitChild instead of going to init.
func SetChildSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become child subreaper: %w", err)
	}
	return nil
}

// WaitChild waits until the child pid (the process that had startTime;
// 0 = pid alone decides) exits, reaps it and returns its exit status
// (128+N when signal N killed it). It fails at once with ErrNotChild if
// pid is not a child of this process, with ErrNotAlive if it is another
// process (pid reused), and with ctx's error when ctx is done first. It
// does not poll: it sleeps on a pidfd until the process terminates.
func WaitChild(ctx context.Context, pid int, startTime uint64) (int, error) {
	if pid <= 0 {
		return -1, fmt.Errorf("%w: pid %d", ErrNotAlive, pid)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, fmt.Errorf("%w: pid %d: %w", ErrNotAlive, pid, err)
	}
	defer unix.Close(fd)
	// The pidfd pins the process: from here on the pid cannot be reused
	// before it is reaped, so one check of the start time is enough (a
	// zombie still has its start time).
	if _, start, err := procStat(pid); err != nil || (startTime != 0 && start != startTime) {
		return -1, fmt.Errorf("%w: pid %d", ErrNotAlive, pid)
	}
	// ctx's end wakes the poll below through a pipe.
	cancel := make([]int, 2)
	if err := unix.Pipe2(cancel, unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return -1, fmt.Errorf("wait for pid %d: %w", pid, err)
	}
	defer unix.Close(cancel[0])
	var once sync.Once
	closeW := func() { once.Do(func() { unix.Close(cancel[1]) }) }
	defer closeW()
	stop := context.AfterFunc(ctx, closeW)
	defer stop()
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			return -1, fmt.Errorf("%w: pid %d", ErrNotChild, pid)
		case err != nil:
			return -1, fmt.Errorf("wait for pid %d: %w", pid, err)
		case got == pid:
			if ws.Signaled() {
				return 128 + int(ws.Signal()), nil
			}
			return ws.ExitStatus(), nil
		}
		if ctx.Err() != nil {
			return -1, context.Cause(ctx)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(cancel[0]), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
			return -1, fmt.Errorf("wait for pid %d: %w", pid, err)
		}
	}
}

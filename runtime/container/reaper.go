package container

import (
	"fmt"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// A Reaper starts the re-exec child (which becomes the VMM) and reports
// its wait status, for a caller that reaps its children itself: a
// subreaper such as urunc's containerd shim, whose wait loop would race
// exec.Cmd.Wait. Without one (the urunc CLI), create waits with
// exec.Cmd.Wait.
type Reaper interface {
	// Start starts cmd, as exec.Cmd.Start does, and registers its process
	// so that its exit cannot go unnoticed.
	Start(cmd *exec.Cmd) error
	// Wait blocks until the process Start started has exited and returns
	// its wait status.
	Wait(cmd *exec.Cmd) (unix.WaitStatus, error)
}

// childStarter returns how create starts and waits for the re-exec child.
func (r *Runtime) childStarter() (start func(*exec.Cmd) error, wait func(*exec.Cmd) (unix.WaitStatus, error)) {
	if rp := r.opts.Reaper; rp != nil {
		return rp.Start, rp.Wait
	}
	return (*exec.Cmd).Start, waitCmd
}

// waitCmd waits for cmd and returns its wait status.
func waitCmd(cmd *exec.Cmd) (unix.WaitStatus, error) {
	err := cmd.Wait()
	if cmd.ProcessState == nil {
		return 0, err
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return unix.WaitStatus(ws), nil
}

// exitStatus is a wait status as Outcome takes it: 128+N when killed by
// signal N, else the exit code; -1 when there is none.
func exitStatus(ws unix.WaitStatus, err error) int {
	switch {
	case err != nil:
		return -1
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// describeWait says how a process ended, as os.ProcessState does.
func describeWait(ws unix.WaitStatus, err error) string {
	switch {
	case err != nil:
		return err.Error()
	case ws.Signaled():
		return "signal: " + ws.Signal().String() // "killed", as os.ProcessState says
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

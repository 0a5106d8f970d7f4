package hooks

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// GuardCommand is the hidden command ("urunc hook-guard PGID") that
// guards a running hook for the process that runs it (Limits.Guard).
//
// A hook runs in a process group of its own; its leader gets SIGKILL
// when the process running it dies (Pdeathsig), but what the hook started
// would live on. The guard, a separate process in a session of its own,
// holds the read end of a pipe from that process: "done" on it means the
// hook ended (whatever it left running is its business, as with runc);
// EOF without it means the process died mid-hook, and the guard kills the
// hook's whole group.
const GuardCommand = "hook-guard"

const guardDone = "done\n"

// Guard is the guard's main: it reads r until "done" (nil) or EOF, then
// kills process group pgid.
func Guard(r io.Reader, pgid int) error {
	if pgid <= 1 {
		return fmt.Errorf("hook guard: process group %d: refusing", pgid)
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if line == guardDone {
		return nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("hook guard: %w", err)
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("hook guard: kill process group %d: %w", pgid, err)
	}
	return nil
}

// ParseGuardArgs reads the guard's argument (the process group).
func ParseGuardArgs(args []string) (int, error) {
	if len(args) != 1 {
		return 0, fmt.Errorf("usage: %s PGID", GuardCommand)
	}
	pgid, err := strconv.Atoi(args[0])
	if err != nil || pgid <= 1 || args[0] != strconv.Itoa(pgid) {
		return 0, fmt.Errorf("%s: bad process group %q", GuardCommand, args[0])
	}
	return pgid, nil
}

// guard is one running guard, as seen by the process running the hook.
type guard struct {
	w   *os.File
	cmd *exec.Cmd
}

// startGuard starts argv... PGID guarding group pgid; nil if it could
// not start (the hook then runs unguarded: Pdeathsig still ends its
// leader).
func startGuard(argv []string, pgid int) (*guard, error) {
	if len(argv) == 0 {
		return nil, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command(argv[0], append(argv[1:], strconv.Itoa(pgid))...)
	cmd.Stdin = r
	// Its own session: a signal to our process group (an engine killing
	// us) must not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("hook guard %s: %w", strings.Join(argv, " "), err)
	}
	return &guard{w: w, cmd: cmd}, nil
}

// release tells the guard the hook has ended, and reaps it in the
// background.
func (g *guard) release() {
	if g == nil {
		return
	}
	// Fails only if the guard is gone, which then kills nothing.
	_, _ = g.w.WriteString(guardDone)
	g.w.Close()
	go func() { _ = g.cmd.Wait() }() // reaped only: it has nothing to report
}

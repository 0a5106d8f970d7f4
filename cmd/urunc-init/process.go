//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/linuxboot"
)

// runProgram starts the container process in the (already switched) root
// and waits for it, reaping every other process that ends meanwhile. When
// it ends, whatever it left running is killed. It returns its exit status
// (128+signal when killed). Each press of the power button (power, may be
// nil) sends SIGTERM to the program, as docker stop would.
func runProgram(log logger, cfg linuxboot.Config, power *os.File) (int, error) {
	env := append([]string(nil), cfg.Env...)
	if lookupEnv(env, "HOME") == "" {
		env = append(env, "HOME="+homeDir(cfg.UID))
	}
	path := lookupEnv(env, "PATH")
	if path == "" {
		path = linuxboot.DefaultPath
	}
	prog, err := lookPath(cfg.Args[0], path)
	if err != nil {
		return 0, err
	}
	dir := cfg.Cwd
	if dir == "" {
		dir = "/"
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return 0, withCode(linuxboot.ExitInitFailed, fmt.Errorf("cwd %q: not a directory in the container rootfs", dir))
	}

	cmd := &exec.Cmd{
		Path: prog,
		Args: cfg.Args,
		Env:  env,
		Dir:  dir,
		SysProcAttr: &syscall.SysProcAttr{
			Setsid: true,
			Credential: &syscall.Credential{
				Uid:    cfg.UID,
				Gid:    cfg.GID,
				Groups: cfg.AdditionalGIDs,
			},
		},
	}
	if cfg.AdditionalGIDs == nil {
		cmd.SysProcAttr.Credential.Groups = []uint32{}
	}

	console := os.Stdout
	var (
		copied chan struct{}
		pipeW  *os.File
	)
	if cfg.Terminal {
		tty, err := openConsoleTTY()
		if err != nil {
			return 0, err
		}
		defer tty.Close()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
	} else {
		// Output is not a tty: a pipe copied to the console, which is put
		// in raw output mode so "\n" is not turned into "\r\n".
		if err := rawOutput(console); err != nil {
			log.printf("console: raw output: %v", err)
		}
		r, w, err := os.Pipe()
		if err != nil {
			return 0, fmt.Errorf("output pipe: %w", err)
		}
		defer r.Close()
		cmd.Stdout, cmd.Stderr = w, w
		if cfg.Stdin {
			cmd.Stdin = os.Stdin
		} else {
			null, err := os.Open(os.DevNull)
			if err != nil {
				w.Close()
				return 0, fmt.Errorf("stdin: %w", err)
			}
			defer null.Close()
			cmd.Stdin = null
		}
		copied = make(chan struct{})
		go func() {
			defer close(copied)
			if _, err := io.Copy(console, r); err != nil {
				log.printf("console: copying the program's output: %v", err)
			}
		}()
		pipeW = w
	}
	err = cmd.Start()
	if pipeW != nil {
		pipeW.Close() // the child has its copy
	}
	if err != nil {
		return 0, startError(prog, err)
	}
	log.printf("started %s (pid %d) uid=%d gid=%d cwd=%s", prog, cmd.Process.Pid, cfg.UID, cfg.GID, dir)

	if power != nil {
		pid := cmd.Process.Pid
		go watchPowerButton(power, func() {
			log.printf("power button: SIGTERM to %d", pid)
			if err := unix.Kill(pid, unix.SIGTERM); err != nil {
				log.printf("power button: %v", err)
			}
		})
	}
	status := reap(cmd.Process.Pid)
	log.printf("program exited: %d", status)

	// Like a container whose PID 1 ends: everything else goes too.
	_ = unix.Kill(-1, unix.SIGKILL) // ESRCH: nothing else was left
	reapAll(time.Second)
	if copied != nil {
		select {
		case <-copied:
		case <-time.After(time.Second):
			fmt.Fprintln(os.Stderr, "urunc-init: output still open 1s after the program ended")
		}
	}
	return status, nil
}

// reap waits for any child until pid ends and returns pid's status.
func reap(pid int) int {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "urunc-init: wait: %v\n", err)
			return linuxboot.ExitInitFailed
		}
		if got != pid {
			continue
		}
		switch {
		case ws.Exited():
			return ws.ExitStatus()
		case ws.Signaled():
			return 128 + int(ws.Signal())
		}
	}
}

// reapAll collects the killed leftovers until there are none or d passed.
func reapAll(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		var ws unix.WaitStatus
		_, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.ECHILD) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startError(prog string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return withCode(linuxboot.ExitNotFound, fmt.Errorf("exec %s: %w", prog, err))
	case errors.Is(err, fs.ErrPermission), errors.Is(err, unix.ENOEXEC):
		return withCode(linuxboot.ExitNotExecutable, fmt.Errorf("exec %s: %w", prog, err))
	}
	return withCode(linuxboot.ExitInitFailed, fmt.Errorf("exec %s: %w", prog, err))
}

// lookPath finds name in path (the container's PATH, not init's).
func lookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		st, err := os.Stat(name)
		if err != nil {
			return "", withCode(linuxboot.ExitNotFound, fmt.Errorf("exec %s: %w", name, err))
		}
		if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			return "", withCode(linuxboot.ExitNotExecutable, fmt.Errorf("exec %s: not an executable file", name))
		}
		return name, nil
	}
	for _, d := range strings.Split(path, ":") {
		if d == "" {
			d = "."
		}
		p := d + "/" + name
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", withCode(linuxboot.ExitNotFound, fmt.Errorf("exec %s: not found in PATH %s", name, path))
}

func lookupEnv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// homeDir reads uid's home from the container's /etc/passwd ("/" if none).
func homeDir(uid uint32) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "/"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 6 {
			continue
		}
		if id, err := strconv.ParseUint(fields[2], 10, 32); err == nil && uint32(id) == uid && fields[5] != "" {
			return fields[5]
		}
	}
	return "/"
}

// rawOutput turns off output post-processing (ONLCR) on the console.
func rawOutput(f *os.File) error {
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return err
	}
	t.Oflag &^= unix.OPOST
	return unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
}

// openConsoleTTY opens the tty behind /dev/console (e.g. /dev/ttyS0), the
// one a terminal program gets as its controlling terminal. The kernel's
// own console fds of init point to a /dev/console node that is no longer
// reachable after the root switch, so ttyname(3) would fail on them.
func openConsoleTTY() (*os.File, error) {
	name := "console"
	if b, err := os.ReadFile("/sys/class/tty/console/active"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			name = f[len(f)-1] // the last one is /dev/console
		}
	}
	tty, err := os.OpenFile("/dev/"+name, os.O_RDWR|unix.O_NOCTTY, 0) //nolint:gosec // G703: a tty name from the kernel
	if err != nil {
		return nil, fmt.Errorf("opening the console for the terminal: %w", err)
	}
	return tty, nil
}

package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/fifo"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// taskIO is a unikernel container's stdio as the shim wires it: the VMM
// (the re-exec child, which execs it) gets pipes or a pty, never
// containerd's FIFOs themselves, and the shim copies between them. So the
// VMM never gets EPIPE while containerd restarts, and the exit is
// published only once its output is delivered.
type taskIO struct {
	// The child's ends, closed in the shim once the child has them.
	Stdin, Stdout, Stderr *os.File
	// ConsoleSocket is where the library sends the pty master (terminal).
	ConsoleSocket string

	stdinW  io.WriteCloser // CloseIO closes it: the guest sees EOF
	console *os.File       // pty master (terminal)
	consCh  chan consoleResult
	consLn  *net.UnixListener
	sockDir string
	logger  *binaryLogger
	copies  sync.WaitGroup
	closers []io.Closer // FIFOs and files the copies use
	mu      sync.Mutex
}

type consoleResult struct {
	f   *os.File
	err error
}

// openIO prepares stdio for paths as containerd gives them: FIFO paths,
// file:// or binary:// URIs, or "" for none.
func openIO(ctx context.Context, id, ns, stdin, stdout, stderr string, terminal bool, rp *childReaper) (_ *taskIO, err error) {
	t := &taskIO{}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if terminal {
		return t, t.listenConsole()
	}
	if stdin != "" {
		in, err := fifo.OpenFifo(context.WithoutCancel(ctx), stdin, unix.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			return nil, fmt.Errorf("open stdin %s: %w", stdin, err)
		}
		t.closers = append(t.closers, in)
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		t.Stdin, t.stdinW = r, w
		go func() {
			// Ends when the client closes stdin (or the guest's side
			// goes): either way the guest then sees EOF.
			_, _ = io.Copy(w, in)
			t.CloseStdin()
		}()
	}
	u, err := url.Parse(stdout)
	if err != nil {
		return nil, fmt.Errorf("stdout %q: %w", stdout, err)
	}
	switch u.Scheme {
	case "binary", "binary-v2":
		if t.logger, err = startBinaryLogger(id, ns, u, rp); err != nil {
			return nil, err
		}
		t.Stdout, t.Stderr = t.logger.stdout, t.logger.stderr
		return t, nil
	case "file":
		if err := os.MkdirAll(filepath.Dir(u.Path), 0o755); err != nil { //nolint:gosec // G301: the directory of a log the user named, as runc's shim makes it
			return nil, err
		}
		f, err := os.OpenFile(u.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644) //nolint:gosec // G302: a container log the user asked for, readable as runc's shim writes it
		if err != nil {
			return nil, err
		}
		t.closers = append(t.closers, f)
		// stdout and stderr go to the file through one pipe.
		if t.Stdout, err = t.copyTo(f); err != nil {
			return nil, err
		}
		t.Stderr = t.Stdout
		return t, nil
	case "":
	default:
		return nil, fmt.Errorf("stdout %q: unknown scheme %s", stdout, u.Scheme)
	}
	for _, o := range []struct {
		path string
		end  **os.File
	}{{stdout, &t.Stdout}, {stderr, &t.Stderr}} {
		if o.path == "" {
			continue
		}
		w, err := openFifoWriter(ctx, o.path)
		if err != nil {
			return nil, err
		}
		t.closers = append(t.closers, w)
		if *o.end, err = t.copyTo(w); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// openFifoWriter opens a FIFO of containerd's for writing without waiting
// for its reader, and also holds a read end, so that writes never fail
// with EPIPE while the reader is away (containerd restarting).
func openFifoWriter(ctx context.Context, path string) (io.WriteCloser, error) {
	bg := context.WithoutCancel(ctx)
	w, err := fifo.OpenFifo(bg, path, unix.O_WRONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r, err := fifo.OpenFifo(bg, path, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &fifoWriter{WriteCloser: w, r: r}, nil
}

type fifoWriter struct {
	io.WriteCloser
	r io.Closer
}

func (f *fifoWriter) Close() error {
	err := f.WriteCloser.Close()
	f.r.Close()
	return err
}

// copyTo returns the write end of a pipe whose content goes to w; w is
// closed at the pipe's EOF, so containerd's reader sees EOF as soon as
// the VMM is gone, before its exit is published.
func (t *taskIO) copyTo(w io.WriteCloser) (*os.File, error) {
	r, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	t.copies.Add(1)
	go func() {
		defer t.copies.Done()
		defer r.Close()
		buf := make([]byte, 32<<10)
		if _, err := io.CopyBuffer(w, r, buf); err != nil {
			// The destination failed (a full disk): drop the rest rather
			// than let the VMM block on its console.
			log.L.WithError(err).Warn("container output: the destination failed; the rest is dropped")
			_, _ = io.Copy(io.Discard, r)
		}
		w.Close()
	}()
	return pw, nil
}

// Started drops the shim's copies of the child's ends: from now on the
// copies end when the VMM (and whatever inherited its stdio) has gone.
func (t *taskIO) Started() {
	for _, f := range []*os.File{t.Stdin, t.Stdout, t.Stderr} {
		if f != nil {
			f.Close()
		}
	}
	t.Stdin, t.Stdout, t.Stderr = nil, nil, nil
	if t.logger != nil {
		t.logger.started()
	}
}

// WaitOutput waits (at most limit) until the VMM's output has been
// copied out: its pipes reached EOF, or the pty went away.
func (t *taskIO) WaitOutput(limit time.Duration) bool {
	done := make(chan struct{})
	go func() { t.copies.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		return false
	}
}

// CloseStdin closes the guest's stdin (CloseIO).
func (t *taskIO) CloseStdin() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stdinW != nil {
		t.stdinW.Close()
		t.stdinW = nil
	}
}

// Resize sets the pty's window size.
func (t *taskIO) Resize(width, height uint32) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.console == nil {
		return errNoConsole
	}
	return unix.IoctlSetWinsize(int(t.console.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(width), Row: uint16(height)})
}

var errNoConsole = errors.New("the container has no terminal")

// Close releases everything; the logger gets its time to flush.
func (t *taskIO) Close() {
	t.Started()
	t.CloseStdin()
	t.WaitOutput(2 * time.Second)
	t.mu.Lock()
	closers := t.closers
	t.closers = nil
	if t.console != nil {
		closers = append(closers, t.console)
		t.console = nil
	}
	t.mu.Unlock()
	for _, c := range closers {
		c.Close()
	}
	if t.logger != nil {
		t.logger.wait(12 * time.Second)
		t.logger = nil
	}
	if t.consLn != nil {
		t.consLn.Close() // no pty came: create failed before sending one
	}
	if t.sockDir != "" {
		os.RemoveAll(t.sockDir)
		t.sockDir = ""
	}
}

// listenConsole makes the socket the library sends the pty master to
// (runc's --console-socket). It lives in a short temp directory: a
// bundle path can exceed a socket path's 108 bytes.
func (t *taskIO) listenConsole() error {
	dir, err := os.MkdirTemp("", "urunc-pty")
	if err != nil {
		return err
	}
	t.sockDir = dir
	t.ConsoleSocket = filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: t.ConsoleSocket, Net: "unix"})
	if err != nil {
		return err
	}
	t.consCh = make(chan consoleResult, 1)
	t.consLn = ln
	go func() {
		defer ln.Close()
		_ = ln.SetDeadline(time.Now().Add(time.Minute)) // fails only once closed, as Accept then does
		conn, err := ln.AcceptUnix()
		if err != nil {
			t.consCh <- consoleResult{err: err}
			return
		}
		defer conn.Close()
		f, err := recvFd(conn)
		t.consCh <- consoleResult{f, err}
	}()
	return nil
}

// Console wires the pty the library sent (terminal mode, after create):
// stdin FIFO -> pty, pty -> stdout FIFO.
func (t *taskIO) Console(ctx context.Context, stdin, stdout string) error {
	var res consoleResult
	select {
	case res = <-t.consCh:
	case <-time.After(10 * time.Second):
		return errors.New("no pty received on the console socket")
	}
	if res.err != nil {
		return fmt.Errorf("console socket: %w", res.err)
	}
	os.RemoveAll(t.sockDir)
	t.sockDir = ""
	t.mu.Lock()
	t.console = res.f
	t.mu.Unlock()
	if stdin != "" {
		in, err := fifo.OpenFifo(context.WithoutCancel(ctx), stdin, unix.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open stdin %s: %w", stdin, err)
		}
		t.closers = append(t.closers, in)
		go func() { _, _ = io.Copy(res.f, in) }() // until stdin closes or the pty goes
	}
	if stdout != "" {
		w, err := openFifoWriter(ctx, stdout)
		if err != nil {
			return err
		}
		t.closers = append(t.closers, w)
		t.copies.Add(1)
		go func() {
			defer t.copies.Done()
			// Ends with EIO once the VMM, the pty's last user, exits.
			_, _ = io.Copy(w, res.f)
			w.Close()
		}()
	}
	return nil
}

// recvFd receives one file descriptor (SCM_RIGHTS) and its name.
func recvFd(conn *net.UnixConn) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(name, oob)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("console socket message: %w", err)
	}
	if len(msgs) != 1 {
		return nil, errors.New("no file descriptor received on the console socket")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil, fmt.Errorf("console socket message: %w", err)
	}
	if len(fds) != 1 {
		return nil, errors.New("no file descriptor received on the console socket")
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}

// binaryLogger is containerd's binary:// log driver (nerdctl run -d, ctr
// --log-uri binary:///...): a program that gets the container's stdout
// and stderr as fds 3 and 4 and says it is ready on fd 5.
type binaryLogger struct {
	cmd            *exec.Cmd
	stdout, stderr *os.File // the write ends: the child's stdout and stderr
	done           chan struct{}
}

func startBinaryLogger(id, ns string, u *url.URL, rp *childReaper) (_ *binaryLogger, err error) {
	var args []string
	for k, vs := range u.Query() {
		args = append(args, k)
		if len(vs) > 0 {
			args = append(args, vs[0])
		}
	}
	var ends []*os.File // closed on return: the logger has its own copies
	defer func() {
		for _, f := range ends {
			f.Close()
		}
	}()
	pipe := func() (*os.File, *os.File) {
		r, w, perr := os.Pipe()
		if perr != nil {
			err = perr
		}
		return r, w
	}
	outR, outW := pipe()
	errR, errW := pipe()
	readyR, readyW := pipe()
	if err != nil {
		return nil, err
	}
	ends = append(ends, outR, errR, readyW, readyR)
	cmd := exec.Command(u.Path, args...)
	cmd.Env = append(os.Environ(), "CONTAINER_ID="+id, "CONTAINER_NAMESPACE="+ns)
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := rp.Start(cmd); err != nil {
		outW.Close()
		errW.Close()
		return nil, fmt.Errorf("start logging binary %s: %w", u.Path, err)
	}
	b := &binaryLogger{cmd: cmd, stdout: outW, stderr: errW, done: make(chan struct{})}
	go func() { _, _ = rp.Wait(cmd); close(b.done) }() // its status tells nothing
	readyW.Close()
	ready := make(chan error, 1)
	go func() {
		_, rerr := readyR.Read(make([]byte, 1))
		if rerr == io.EOF {
			rerr = nil
		}
		ready <- rerr
	}()
	select {
	case err = <-ready:
	case <-time.After(10 * time.Second):
		err = errors.New("not ready within 10 s")
	}
	if err != nil {
		b.started()
		_ = cmd.Process.Kill() // it may have exited already
		return nil, fmt.Errorf("logging binary %s: %w", u.Path, err)
	}
	return b, nil
}

func (b *binaryLogger) started() {
	for _, f := range []*os.File{b.stdout, b.stderr} {
		if f != nil {
			f.Close()
		}
	}
	b.stdout, b.stderr = nil, nil
}

// wait gives the logger limit to flush and exit (it has EOF once the VMM
// is gone), then ends it.
func (b *binaryLogger) wait(limit time.Duration) {
	select {
	case <-b.done:
		return
	case <-time.After(limit):
	}
	log.L.WithField("logger", b.cmd.Path).Warn("logging binary did not exit; killing it")
	_ = b.cmd.Process.Kill() // it may have exited meanwhile
	<-b.done
}

// Package ipc carries the create/start handshake messages between urunc
// processes over unix sockets in the container's state directory. Every
// wait takes a context: nothing here blocks forever unless asked to.
package ipc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Message is one handshake word.
type Message string

const (
	Booted Message = "BOOTED" // child -> create: the re-exec child is up
	Ack    Message = "ACK"    // create -> child: state is "created", carry on
	Start  Message = "START"  // start -> child: set up and exec the VMM
	OK     Message = "OK"     // child -> start: exec'ing the VMM now
	Error  Message = "ERROR"  // either way: "ERROR <reason>", the sender gives up
	// Progress lines say what the sender is doing before its next word,
	// and for how long at most, so that the waiter's limit follows it
	// (Progress): create -> child before ACK, child -> create before its
	// answer to ACK, child -> start before its answer to START.
	Hook Message = "HOOK" // "HOOK <kind> <limit-ms> <path>": running that hook
	Step Message = "STEP" // "STEP <name> <limit-ms>": running that step (network, storage)
	Done Message = "DONE" // the announced hook or step has ended
)

// MaxMessage bounds what a reader accepts, so a peer cannot make us
// buffer without limit.
const MaxMessage = 4096

var (
	ErrUnexpected = errors.New("unexpected handshake message")
	ErrTimeout    = errors.New("handshake timed out")
)

// maxSunPath is sizeof(sockaddr_un.sun_path) minus the NUL.
const maxSunPath = 107

// sockAddr returns an address for path that fits sun_path. Long paths
// (deep --root, 64-character ids) go through /proc/self/fd/N/<name> of an
// O_PATH descriptor for the directory; the returned closer releases it
// once bind/connect has happened.
func sockAddr(path string) (string, func(), error) {
	if len(path) <= maxSunPath {
		return path, func() {}, nil
	}
	fd, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("socket dir %s: %w", filepath.Dir(path), err)
	}
	short := fmt.Sprintf("/proc/self/fd/%d/%s", fd, filepath.Base(path))
	if len(short) > maxSunPath {
		unix.Close(fd)
		return "", nil, fmt.Errorf("socket name too long: %s", path)
	}
	return short, func() { unix.Close(fd) }, nil
}

// Listener accepts handshake connections on one socket.
type Listener struct {
	ln   *net.UnixListener
	path string
	ino  uint64 // the socket file we made: Close removes only that one
}

// Listen creates the socket at path (replacing a stale one left by a crash).
func Listen(path string) (*Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	addr, release, err := sockAddr(path)
	if err != nil {
		return nil, err
	}
	defer release()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false) // the path we bound may be the /proc alias
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		ln.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	return &Listener{ln: ln, path: path, ino: st.Ino}, nil
}

// Path is the socket's path.
func (l *Listener) Path() string { return l.path }

// File returns a duplicate of the listening socket's descriptor (to hand
// to a VMM that serves on it).
func (l *Listener) File() (*os.File, error) { return l.ln.File() }

// Close stops listening and removes the socket file, unless another
// process has since replaced it with its own (a late-exiting process of an
// earlier container with the same id must not break the new one).
func (l *Listener) Close() error {
	err := l.ln.Close()
	var st unix.Stat_t
	if unix.Stat(l.path, &st) == nil && st.Ino == l.ino {
		os.Remove(l.path)
	}
	return err
}

// Accept waits for one connection until ctx is done.
func (l *Listener) Accept(ctx context.Context) (*Conn, error) {
	// A deadline left by an earlier, cancelled Accept must not fail this one.
	if err := l.ln.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	// Fails only on a closed listener, whose Accept returns anyway.
	stop := context.AfterFunc(ctx, func() { _ = l.ln.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := l.ln.AcceptUnix()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrTimeout, context.Cause(ctx))
		}
		return nil, err
	}
	_ = l.ln.SetDeadline(time.Time{}) // the next Accept resets it again and says if it cannot
	return &Conn{c: c, r: bufio.NewReader(io.LimitReader(c, MaxMessage*16))}, nil
}

// Await accepts a connection and expects want as its first message. The
// connection is returned so the caller can answer on it.
func (l *Listener) Await(ctx context.Context, want Message) (*Conn, error) {
	conn, err := l.Accept(ctx)
	if err != nil {
		return nil, fmt.Errorf("waiting for %s on %s: %w", want, l.path, err)
	}
	got, _, err := conn.Read(ctx)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("waiting for %s on %s: %w", want, l.path, err)
	}
	if got != want {
		conn.Close()
		return nil, fmt.Errorf("%w: got %q, want %s", ErrUnexpected, got, want)
	}
	return conn, nil
}

// Conn is one handshake connection; messages are single lines.
type Conn struct {
	c *net.UnixConn
	r *bufio.Reader
}

// Read returns the next message and its argument ("ERROR reason" ->
// Error, "reason"). io.EOF means the peer closed the connection.
func (c *Conn) Read(ctx context.Context) (Message, string, error) {
	if err := c.c.SetReadDeadline(time.Time{}); err != nil {
		return "", "", err
	}
	// Fails only on a closed connection, whose Read returns anyway.
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	line, err := c.r.ReadString('\n')
	if err != nil {
		if ctx.Err() != nil {
			return "", "", fmt.Errorf("%w: %w", ErrTimeout, context.Cause(ctx))
		}
		if errors.Is(err, io.EOF) && line == "" {
			return "", "", io.EOF
		}
		if len(line) >= MaxMessage {
			return "", "", fmt.Errorf("%w: message longer than %d bytes", ErrUnexpected, MaxMessage)
		}
		if !errors.Is(err, io.EOF) {
			return "", "", err
		}
	}
	if len(line) > MaxMessage {
		return "", "", fmt.Errorf("%w: message longer than %d bytes", ErrUnexpected, MaxMessage)
	}
	return ParseMessage(strings.TrimSuffix(line, "\n"))
}

// ParseMessage splits a line into a known message and its argument. A
// progress line (HOOK, STEP) is only accepted with a well-formed argument
// (ParseProgress).
func ParseMessage(line string) (Message, string, error) {
	word, arg, _ := strings.Cut(line, " ")
	switch m := Message(word); m {
	case Booted, Ack, Start, OK, Done:
		if arg != "" {
			return "", "", fmt.Errorf("%w: %q", ErrUnexpected, line)
		}
		return m, "", nil
	case Error:
		return m, arg, nil
	case Hook, Step:
		if _, err := ParseProgress(m, arg); err != nil {
			return "", "", err
		}
		return m, arg, nil
	}
	return "", "", fmt.Errorf("%w: %q", ErrUnexpected, truncate(line, 64))
}

// Progress is what a progress line announces: the sender is running a
// hook or a step now and may take up to Limit before its next word.
type Progress struct {
	Step  string        // StepHook, or the step's name ("network", "storage")
	Kind  string        // a hook's kind ("createRuntime", ...)
	Path  string        // a hook's path
	Limit time.Duration // the most it may take (> 0, whole milliseconds)
}

// StepHook is Progress.Step for a hook.
const StepHook = "hook"

// maxLimit bounds an announced limit (a year): no overflow, no nonsense.
const maxLimit = 365 * 24 * time.Hour

// String is how a waiter names what the other side is doing:
// "createRuntime hook /bin/sleep", "storage set-up".
func (p Progress) String() string {
	if p.Step == StepHook {
		return p.Kind + " hook " + p.Path
	}
	return p.Step + " set-up"
}

// Message renders p as a progress line (message and argument).
func (p Progress) Message() (Message, string) {
	ms := strconv.FormatInt(max(p.Limit.Milliseconds(), 1), 10)
	if p.Step == StepHook {
		return Hook, p.Kind + " " + ms + " " + p.Path
	}
	return Step, p.Step + " " + ms
}

// ParseProgress reads a progress line's argument: "<kind> <limit-ms>
// <path>" for HOOK (the path may hold spaces), "<name> <limit-ms>" for
// STEP. Kinds and names are letters and '-'; the limit is a positive
// number of milliseconds (at most a year); the path is absolute.
func ParseProgress(m Message, arg string) (Progress, error) {
	bad := func(why string) (Progress, error) {
		return Progress{}, fmt.Errorf("%w: %s %q: %s", ErrUnexpected, m, truncate(arg, 64), why)
	}
	f := strings.SplitN(arg, " ", 3)
	var p Progress
	switch m {
	case Hook:
		if len(f) != 3 {
			return bad("want <kind> <limit-ms> <path>")
		}
		if !strings.HasPrefix(f[2], "/") {
			return bad("path must be absolute")
		}
		p = Progress{Step: StepHook, Kind: f[0], Path: f[2]}
	case Step:
		if len(f) != 2 {
			return bad("want <name> <limit-ms>")
		}
		p = Progress{Step: f[0]}
		if p.Step == StepHook {
			return bad("a hook is announced with HOOK")
		}
	default:
		return bad("not a progress line")
	}
	if !isName(f[0]) {
		return bad("kind or name must be letters and '-'")
	}
	limit, err := strconv.ParseUint(f[1], 10, 63)
	if err != nil || limit == 0 || f[1] != strconv.FormatUint(limit, 10) || time.Duration(limit) > maxLimit/time.Millisecond {
		return bad("limit must be a positive number of milliseconds, at most a year")
	}
	p.Limit = time.Duration(limit) * time.Millisecond
	return p, nil
}

func isName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Announce sends a progress line (HOOK or STEP).
func (c *Conn) Announce(p Progress) error {
	m, arg := p.Message()
	if strings.Contains(arg, "\n") || len(m)+1+len(arg) >= MaxMessage {
		return fmt.Errorf("%w: %s line cannot carry %q", ErrUnexpected, m, truncate(arg, 64))
	}
	if _, err := ParseProgress(m, arg); err != nil {
		return err // never sent half-understood
	}
	return c.Write(m, arg)
}

// Write sends one message; arg is the reason of Error (or a progress
// line's argument, see Announce).
func (c *Conn) Write(m Message, arg string) error {
	line := string(m)
	if arg != "" {
		line += " " + strings.ReplaceAll(arg, "\n", " ")
	}
	if len(line) >= MaxMessage {
		line = line[:MaxMessage-1]
	}
	_, err := c.c.Write([]byte(line + "\n"))
	return err
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// Dial connects to the socket at path, retrying while it does not exist
// yet, until ctx is done.
func Dial(ctx context.Context, path string) (*Conn, error) {
	uc, err := DialRaw(ctx, path)
	if err != nil {
		return nil, err
	}
	return &Conn{c: uc, r: bufio.NewReader(io.LimitReader(uc, MaxMessage*16))}, nil
}

// DialRaw connects to the unix socket at path (any length), retrying while
// it does not exist yet, until ctx is done.
func DialRaw(ctx context.Context, path string) (*net.UnixConn, error) {
	for {
		addr, release, err := sockAddr(path)
		if err == nil {
			var d net.Dialer
			var c net.Conn
			c, err = d.DialContext(ctx, "unix", addr)
			release()
			if err == nil {
				return c.(*net.UnixConn), nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: connect %s: %w (last error: %w)", ErrTimeout, path, context.Cause(ctx), err)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Send dials path, sends m and closes.
func Send(ctx context.Context, path string, m Message) error {
	c, err := Dial(ctx, path)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Write(m, ""); err != nil {
		return fmt.Errorf("send %s to %s: %w", m, path, err)
	}
	return nil
}

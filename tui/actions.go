package tui

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/internal/bundle"
	"github.com/urunc-dev/urunc/runtime/config"
)

// Runner runs the urunc binary the way containerd's shim does: global
// --root, --log <file> --log-format json, then the command; a failure is
// reported with the last "level":"error" line the command wrote to the
// log (or, if it wrote none, the last line of its stderr).
type Runner struct {
	Bin  string // urunc executable
	Root string // state root
	Dir  string // log.json and the created containers' stdio files
	// Timeout bounds one command; default 2 minutes.
	Timeout time.Duration
}

// Args returns the full argument list of one command.
func (r Runner) Args(args ...string) []string {
	return append([]string{"--root", r.Root, "--log", r.logPath(), "--log-format", "json"}, args...)
}

func (r Runner) logPath() string { return filepath.Join(r.Dir, "log.json") }

// Run runs one urunc command and returns a one-line error on failure.
func (r Runner) Run(ctx context.Context, args ...string) error {
	return r.run(ctx, nil, nil, args...)
}

// Created is what the console holds of a container it created.
type Created struct {
	Stdio string // the file the container's stdout and stderr go to
	// Input writes to the container's stdin: the write end of a pipe, or
	// for a terminal bundle the pty master urunc sent to the console
	// socket (whose output is copied into Stdio). A VMM with its serial
	// port on stdio reads it as the guest's console input.
	Input *os.File
}

// Create runs "create --bundle B ID" with the container's stdout and
// stderr in a file under Dir (a unikernel's console is serial.log; this
// gets what the VMM itself prints) and its stdin a pipe the console keeps,
// or, when the bundle asks for a terminal, with --console-socket: the pty
// master comes back to the console, as to containerd's shim.
func (r Runner) Create(ctx context.Context, bundle, id string) (Created, error) {
	// The id is urunc's to judge: the file name must not depend on it being valid.
	safe := strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, id)
	out, err := os.CreateTemp(r.Dir, safe+".*.stdio")
	if err != nil {
		return Created{}, err
	}
	defer out.Close()
	created := Created{Stdio: out.Name()}
	spec, err := config.LoadSpec(bundle)
	if err == nil && spec.Process != nil && spec.Process.Terminal {
		master, err := r.createWithTerminal(ctx, out, bundle, id)
		if err != nil {
			return created, err
		}
		created.Input = master
		return created, nil
	}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return created, err
	}
	defer stdinR.Close() // the container has its own copy
	if err := r.run(ctx, stdinR, out, "create", "--bundle", bundle, id); err != nil {
		stdinW.Close()
		return created, err
	}
	created.Input = stdinW
	return created, nil
}

// createWithTerminal runs create with a console socket and returns the
// pty master it receives; the guest's output on it is copied to out's
// file (read from the master, or the pty would fill and stall the VMM).
func (r Runner) createWithTerminal(ctx context.Context, out *os.File, bundle, id string) (*os.File, error) {
	dir, err := os.MkdirTemp(r.Dir, "tty") // a short path: sun_path has 108 bytes
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	got := make(chan *os.File, 1)
	go func() { got <- receiveMaster(ln) }()
	if err := r.run(ctx, nil, out, "create", "--bundle", bundle, "--console-socket", sock, id); err != nil {
		ln.Close()
		if m := <-got; m != nil {
			m.Close()
		}
		return nil, err
	}
	var master *os.File
	select {
	case master = <-got: // create sent it before it exited
	case <-time.After(5 * time.Second):
	}
	if master == nil {
		return nil, fmt.Errorf("urunc create %s: no pty master on the console socket", id)
	}
	if log, err := os.OpenFile(out.Name(), os.O_WRONLY|os.O_APPEND, 0); err == nil {
		go func() {
			defer log.Close()
			_, _ = io.Copy(log, master) // until the pty goes (EIO): nothing to report
		}()
	}
	return master, nil
}

// receiveMaster accepts one connection on ln and returns the descriptor
// it passes (SCM_RIGHTS), or nil.
func receiveMaster(ln *net.UnixListener) *os.File {
	conn, err := ln.AcceptUnix()
	if err != nil {
		return nil
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil
	}
	unix.CloseOnExec(fds[0])
	return os.NewFile(uintptr(fds[0]), "pty-master")
}

// run runs one command with stdin and stdio (nil: /dev/null); its stderr
// goes to stdio too when stdio is a file the caller keeps (create: the
// VMM inherits it, and its own error lines must land there), else to a
// temporary file. A failure is reported with the command's last log
// error, else the last line it wrote to stderr.
func (r Runner) run(ctx context.Context, stdin, stdio *os.File, args ...string) error {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Only what this command adds to the shared log is its own.
	var logOff int64
	if info, err := os.Stat(r.logPath()); err == nil {
		logOff = info.Size()
	}
	errFile, errOff := stdio, int64(0)
	if errFile != nil {
		if info, err := errFile.Stat(); err == nil {
			errOff = info.Size()
		}
	} else {
		f, err := os.CreateTemp(r.Dir, "stderr.*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		errFile = f
	}
	cmd := exec.CommandContext(ctx, r.Bin, r.Args(args...)...)
	if stdio == nil || stdin == nil {
		devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer devnull.Close()
		if stdio == nil {
			stdio = devnull
		}
		if stdin == nil {
			stdin = devnull
		}
	}
	// Files, not io.Readers/Writers: exec copies those through pipes it
	// waits on, and a re-exec child inheriting them would keep this call
	// waiting for EOF.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdio, errFile
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("urunc %s: no answer within %s", args[0], timeout)
		}
		if msg := lastLogError(r.logPath(), logOff); msg != "" {
			return fmt.Errorf("urunc %s: %s", args[0], msg)
		}
		if msg := lastLine(errFile.Name(), errOff); msg != "" {
			return fmt.Errorf("urunc %s: %s", args[0], msg)
		}
		return fmt.Errorf("urunc %s: %w", args[0], err)
	}
	return nil
}

// LastLogError returns the msg of the last "level":"error" line of a
// runc-style JSON log, as one line.
func LastLogError(path string) string { return lastLogError(path, 0) }

func lastLogError(path string, off int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return ""
	}
	last := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var l struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Level == "error" {
			last = l.Msg
			if l.Error != "" && !strings.Contains(l.Msg, l.Error) {
				last += ": " + l.Error
			}
		}
	}
	return oneLine(last)
}

// lastLine is the last non-empty line of a small file, from offset off.
func lastLine(path string, off int64) string {
	data, err := os.ReadFile(path)
	if err != nil || off > int64(len(data)) {
		return ""
	}
	data = data[off:]
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	return oneLine(string(lines[len(lines)-1]))
}

// DeriveBundle writes a bundle for container id that is bundle with
// annotations added: a new directory under dir holding only a config.json
// whose root.path is bundle's rootfs (absolute), so the container boots the
// same files. Other relative paths of the spec (a mount's relative source)
// are not rewritten.
func DeriveBundle(dir, from, id string, annotations map[string]string) (string, error) {
	spec, err := config.LoadSpec(from)
	if err != nil {
		return "", err
	}
	if spec.Root != nil {
		spec.Root.Path = config.RootfsPath(from, spec)
	}
	if spec.Annotations == nil {
		spec.Annotations = map[string]string{}
	}
	for k, v := range annotations {
		spec.Annotations[k] = v
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	safe := strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, id)
	out, err := os.MkdirTemp(dir, safe+".")
	if err != nil {
		return "", err
	}
	if err := bundle.WriteSpec(out, spec); err != nil {
		os.RemoveAll(out)
		return "", err
	}
	return out, nil
}

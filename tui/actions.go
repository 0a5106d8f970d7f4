package tui

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
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
	return r.run(ctx, nil, args...)
}

// Created is what the console holds of a container it created.
type Created struct {
	Stdio string // the file the container's stdout and stderr go to
}

// Create runs "create --bundle B ID" with the container's stdio in a file
// under Dir (a unikernel's console is serial.log; this gets what the VMM
// itself prints).
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
	return Created{Stdio: out.Name()}, r.run(ctx, out, "create", "--bundle", bundle, id)
}

func (r Runner) run(ctx context.Context, stdio *os.File, args ...string) error {
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
	errFile, err := os.CreateTemp(r.Dir, "stderr.*")
	if err != nil {
		return err
	}
	defer os.Remove(errFile.Name())
	defer errFile.Close()
	cmd := exec.CommandContext(ctx, r.Bin, r.Args(args...)...)
	if stdio == nil {
		devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer devnull.Close()
		cmd.Stdout = devnull
		stdio = devnull
	} else {
		cmd.Stdout = stdio
	}
	// Files, not pipes: a re-exec child inheriting them must not keep
	// this call waiting for EOF.
	cmd.Stdin, cmd.Stderr = stdio, errFile
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("urunc %s: no answer within %s", args[0], timeout)
		}
		if msg := lastLogError(r.logPath(), logOff); msg != "" {
			return fmt.Errorf("urunc %s: %s", args[0], msg)
		}
		if msg := lastLine(errFile.Name()); msg != "" {
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

// lastLine is the last non-empty line of a small file.
func lastLine(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	return oneLine(string(lines[len(lines)-1]))
}

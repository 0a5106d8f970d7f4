package tui

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Runner runs the urunc binary exactly as containerd does: global --root,
// a JSON log, and the error reported from the log's last "error" line.
type Runner struct {
	Bin  string // urunc executable
	Root string // state root
	Dir  string // where logs and created containers' stdio go
}

// Run runs one urunc command and returns a one-line error on failure.
func (r Runner) Run(ctx context.Context, args ...string) error {
	return r.run(ctx, nil, args...)
}

// Create runs "create" with the container's stdio in a file under Dir.
func (r Runner) Create(ctx context.Context, bundle, id string) error {
	// The id is urunc's to judge: the stdio file name must not depend on it being valid.
	safe := strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, id)
	out, err := os.CreateTemp(r.Dir, safe+".*.stdio")
	if err != nil {
		return err
	}
	defer out.Close()
	return r.run(ctx, out, "create", "--bundle", bundle, id)
}

func (r Runner) run(ctx context.Context, stdio *os.File, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	logPath := filepath.Join(r.Dir, "log.json")
	full := append([]string{"--root", r.Root, "--log", logPath, "--log-format", "json"}, args...)
	cmd := exec.CommandContext(ctx, r.Bin, full...)
	if stdio == nil {
		devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer devnull.Close()
		stdio = devnull
	}
	// Files, not pipes: a re-exec child inheriting them must not keep us waiting.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio, stdio, stdio
	if err := cmd.Run(); err != nil {
		if msg := LastLogError(logPath); msg != "" {
			return fmt.Errorf("%s: %s", args[0], msg)
		}
		return fmt.Errorf("%s: %w", args[0], err)
	}
	return nil
}

// LastLogError returns the msg of the last "level":"error" line of a
// runc-style JSON log.
func LastLogError(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	last := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var l struct{ Level, Msg string }
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Level == "error" {
			last = l.Msg
		}
	}
	return strings.ReplaceAll(last, "\n", " ")
}

// FindBundles lists the bundles (subdirectories with a config.json, or
// the directory itself) under dirs.
func FindBundles(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "config.json")); err == nil {
			out = append(out, d)
			continue
		}
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			p := filepath.Join(d, e.Name())
			if _, err := os.Stat(filepath.Join(p, "config.json")); err == nil {
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out
}

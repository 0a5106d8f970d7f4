// Package hooks runs OCI lifecycle hooks with the container state on
// stdin, a limit on each (Limits) and each in a process group of its own.
package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrHookFailed wraps every hook failure.
var ErrHookFailed = errors.New("hook failed")

// ErrStopped marks a hook stopped from outside (Run's ctx ended: the
// caller knows why), as opposed to its own failure or timeout.
var ErrStopped = errors.New("stopped")

// Kind names a hook list of the spec.
type Kind string

const (
	Prestart        Kind = "prestart"
	CreateRuntime   Kind = "createRuntime"
	CreateContainer Kind = "createContainer"
	StartContainer  Kind = "startContainer"
	Poststart       Kind = "poststart"
	Poststop        Kind = "poststop"
)

// List returns the spec's hooks of one kind.
func List(h *specs.Hooks, kind Kind) []specs.Hook {
	if h == nil {
		return nil
	}
	switch kind {
	case Prestart:
		return h.Prestart //nolint:staticcheck // still used by Docker
	case CreateRuntime:
		return h.CreateRuntime
	case CreateContainer:
		return h.CreateContainer
	case StartContainer:
		return h.StartContainer
	case Poststart:
		return h.Poststart
	case Poststop:
		return h.Poststop
	}
	return nil
}

// Limits say how long a hook may run (Limit).
type Limits struct {
	// Default bounds a hook without its own timeout (config
	// timeouts.hook); 0: no default.
	Default time.Duration
	// Max bounds a hook that nothing else bounds (no timeout of its own
	// and no Default; config timeouts.hookMax), so that every hook, and
	// every wait on one, ends.
	Max time.Duration
	// Guard, if set, is the command line of the hook guard (GuardCommand
	// without its PGID argument), started beside each hook so that the
	// hook's group dies with us.
	Guard []string
}

// Limit is how long h may run: its own timeout (seconds, must be
// positive), else l.Default, else l.Max. A hook's own timeout is honoured
// as the spec says, even beyond l.Max.
func (l Limits) Limit(h specs.Hook) (time.Duration, error) {
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return 0, fmt.Errorf("timeout must be positive, got %d", *h.Timeout)
		}
		return time.Duration(*h.Timeout) * time.Second, nil
	}
	if l.Default > 0 {
		return l.Default, nil
	}
	return l.Max, nil
}

// Observer is told about each hook of a Run (any field may be nil).
type Observer struct {
	// Started: the hook runs now as pid (its own process group), for at
	// most limit.
	Started func(h specs.Hook, pid int, limit time.Duration)
	// Done: it ended after took; err is nil or why it failed.
	Done func(h specs.Hook, took time.Duration, err error)
	// Unguarded: the guard (Limits.Guard) could not start; the hook ran
	// without it.
	Unguarded func(h specs.Hook, err error)
}

// Run runs the hooks in order; the first failure stops the list. Each hook
// gets the state as JSON on stdin, runs in a process group of its own
// (the whole group is killed when the hook overruns its Limit or ctx
// ends; when this process dies, the hook gets SIGKILL and the guard, if
// any, kills the rest of its group) and is reported to obs.
func Run(ctx context.Context, kind Kind, list []specs.Hook, st any, l Limits, obs Observer) error {
	if len(list) == 0 {
		return nil
	}
	stdin, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for _, h := range list {
		limit, err := l.Limit(h)
		if err != nil {
			return fmt.Errorf("%w: %s hook %s: %w", ErrHookFailed, kind, h.Path, err)
		}
		began := time.Now()
		err = runOne(ctx, h, stdin, l, limit, obs)
		if err != nil {
			err = fmt.Errorf("%w: %s hook %s: %w", ErrHookFailed, kind, h.Path, err)
		}
		if obs.Done != nil {
			obs.Done(h, time.Since(began), err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func runOne(ctx context.Context, h specs.Hook, stdin []byte, l Limits, limit time.Duration, obs Observer) error {
	hctx := ctx
	if limit > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	cmd := exec.CommandContext(hctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// Its own process group, so that what the hook started goes with it;
	// SIGKILL if we die (Pdeathsig: nobody would wait for it then).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // a hook's own children must not keep us waiting
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	g, gerr := startGuard(l.Guard, cmd.Process.Pid)
	if obs.Started != nil {
		obs.Started(h, cmd.Process.Pid, limit)
	}
	err := cmd.Wait()
	g.release()
	if gerr != nil && obs.Unguarded != nil {
		obs.Unguarded(h, gerr)
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w after %s", ErrStopped, time.Since(began).Round(time.Millisecond))
	case hctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("timed out after %s", limit)
	}
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 512 {
			msg = msg[:512] + "..."
		}
		if msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}

// Package hooks runs OCI lifecycle hooks with the container state on
// stdin and a timeout on each.
package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrHookFailed wraps every hook failure.
var ErrHookFailed = errors.New("hook failed")

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

// Run runs the hooks in order; the first failure stops the list. Each hook
// gets the state as JSON on stdin and is killed after its own timeout (or
// defaultTimeout when it sets none). onRun, if not nil, is told about each
// hook before it runs.
func Run(ctx context.Context, kind Kind, list []specs.Hook, st any, defaultTimeout time.Duration, onRun func(specs.Hook)) error {
	if len(list) == 0 {
		return nil
	}
	stdin, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for _, h := range list {
		if onRun != nil {
			onRun(h)
		}
		if err := runOne(ctx, h, stdin, defaultTimeout); err != nil {
			return fmt.Errorf("%w: %s hook %s: %w", ErrHookFailed, kind, h.Path, err)
		}
	}
	return nil
}

func runOne(ctx context.Context, h specs.Hook, stdin []byte, defaultTimeout time.Duration) error {
	timeout := defaultTimeout
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("timeout must be positive, got %d", *h.Timeout)
		}
		timeout = time.Duration(*h.Timeout) * time.Second
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = time.Second // a hook's own children must not keep us waiting
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("timed out after %s", timeout)
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

// Package container is urunc's container lifecycle: create (with the
// re-exec handshake), start, state, kill, pause/resume, delete and run,
// for bundles that carry a unikernel configuration. The cmd/urunc
// commands are thin wrappers around it.
package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/state"
)

// Sentinel errors of the lifecycle.
var (
	// runc's wording: containerd's shim (pkg/process checkKillError)
	// matches "container not running" to treat a kill of an exited
	// container as NotFound; other wording makes CRI StopContainer fail.
	ErrNotRunning  = errors.New("container not running")
	ErrNotStopped  = errors.New("container is not stopped")
	ErrNotCreated  = errors.New("container is not in the created state")
	ErrUnsupported = errors.New("not supported for unikernel containers")
	ErrHandshake   = errors.New("create/start handshake failed")
)

// Options configure a Runtime.
type Options struct {
	Root string       // state root, e.g. /run/urunc
	Host *config.Host // urunc's configuration (timeouts, defaults)
	Log  *slog.Logger // where the lifecycle logs
	// SelfExe and GlobalArgs re-execute urunc as the container's init
	// child: SelfExe init GlobalArgs... ID.
	SelfExe    string
	GlobalArgs []string
	// SystemdCgroup is runc's --systemd-cgroup: cgroupsPath is
	// "slice:prefix:name".
	SystemdCgroup bool
	// Reaper, if set, starts and waits for the re-exec child instead of
	// exec.Cmd (reaper.go): for a caller that reaps its children itself.
	Reaper Reaper
}

// Runtime runs unikernel containers under one root.
type Runtime struct {
	opts Options
	log  *slog.Logger
}

// New returns a Runtime.
func New(o Options) *Runtime {
	if o.Host == nil {
		o.Host = config.DefaultHost()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.SelfExe == "" {
		o.SelfExe = "/proc/self/exe"
	}
	return &Runtime{opts: o, log: o.Log}
}

// Root is the state root.
func (r *Runtime) Root() string { return r.opts.Root }

// withTimeout bounds ctx by d; d == 0 means no limit.
func withTimeout(ctx context.Context, d config.Duration, what string) (context.Context, context.CancelFunc) {
	if d.D() <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, d.D(), fmt.Errorf("%s: no answer within %s", what, d.D()))
}

// lock opens and locks an existing container.
func (r *Runtime) lock(ctx context.Context, id string) (state.Dir, func(), error) {
	d, err := state.Open(r.opts.Root, id)
	if err != nil {
		return d, nil, err
	}
	lctx, cancel := withTimeout(ctx, r.opts.Host.Timeouts.Lock, "lock")
	defer cancel()
	unlock, err := d.Lock(lctx)
	if err != nil {
		return d, nil, err
	}
	// A concurrent delete may have removed the directory while we waited.
	if _, err := os.Stat(d.File(state.MarkerFile)); err != nil {
		unlock()
		return d, nil, fmt.Errorf("%w: %s", state.ErrNotExist, id)
	}
	return d, unlock, nil
}

// lockState locks an existing container and reads its state (with the
// status corrected for a VMM that has died); unlock is nil on error.
func (r *Runtime) lockState(ctx context.Context, id string) (state.Dir, *state.State, func(), error) {
	d, unlock, err := r.lock(ctx, id)
	if err != nil {
		return d, nil, nil, err
	}
	st, err := d.ReadState()
	if err != nil {
		unlock()
		return d, nil, nil, err
	}
	return d, st, unlock, nil
}

// event writes a journal line; a failure to journal is logged, not fatal.
func (r *Runtime) event(d state.Dir, ev state.Event) {
	if err := d.AppendEvent(ev); err != nil {
		r.log.Warn("journal", "id", d.ID, "error", err)
	}
}

func (r *Runtime) failed(d state.Dir, step string, err error) {
	r.event(d, state.Event{Step: state.StepFailed, Detail: step, Error: err.Error()})
}

// ociState returns the OCI state to hand to hooks.
func ociState(st *state.State) specs.State {
	s := st.State
	if s.Version == "" {
		s.Version = specs.Version
	}
	return s
}

func ms(d config.Duration) int64 { return time.Duration(d).Milliseconds() }

package container

import (
	"fmt"
	"time"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/hooks"
	"github.com/urunc-dev/urunc/runtime/ipc"
)

// budget is the one place where the handshake's waits compose: how long
// each side may take for a step, and how long the other side waits for
// it.
//
// The rule: a side about to run something long (a hook, the guest's
// network set-up, storage) first announces it on the handshake connection
// with that step's own limit (an ipc.Progress line: HOOK or STEP), and
// says DONE when it is over. While it runs, the waiting side allows the
// announced limit plus its margin before the next word; otherwise, the
// margin alone. The margins are
// timeouts.ack (the child waiting for create, create waiting for the
// child's answer to ACK) and timeouts.startReply (start waiting for the
// child). Since the side running the step enforces the same limit (it
// kills an overrunning hook, its own context ends the network and storage
// set-up), it always fails first, with its own reason; the waiter's
// deadline only catches a side that hangs outside any announced step or
// died without a word.
//
// The limits: a hook's own timeout (the spec's, honoured even beyond
// hookMax), else timeouts.hook, else timeouts.hookMax; timeouts.network;
// timeouts.storage.
type budget struct {
	t    config.Timeouts
	self string // urunc's binary, for the hook guard
}

func (r *Runtime) budget() budget { return budget{r.opts.Host.Timeouts, r.opts.SelfExe} }

// hooks are the limits of hooks (and their guard: a hook's group dies
// with the urunc process running it).
func (b budget) hooks() hooks.Limits {
	hookMax := b.t.HookMax.D()
	if hookMax <= 0 { // a Host not read by LoadHost: never unbounded
		hookMax = config.DefaultHost().Timeouts.HookMax.D()
	}
	l := hooks.Limits{Default: b.t.Hook.D(), Max: hookMax}
	if b.self != "" {
		l.Guard = []string{b.self, hooks.GuardCommand}
	}
	return l
}

// network is the child's limit for the guest's network set-up.
func (b budget) network() ipc.Progress {
	return ipc.Progress{Step: "network", Limit: positive(b.t.Network, config.DefaultHost().Timeouts.Network)}
}

// storage is the child's limit for the storage and VMM preparation.
func (b budget) storage() ipc.Progress {
	return ipc.Progress{Step: "storage", Limit: positive(b.t.Storage, config.DefaultHost().Timeouts.Storage)}
}

// positive is d, or def when d is not set (a Host not read by LoadHost).
func positive(d, def config.Duration) time.Duration {
	if d <= 0 {
		return def.D()
	}
	return d.D()
}

// ackMargin is how long the child waits for create's next word, and
// create for the child's, beyond what the other side announced.
func (b budget) ackMargin() time.Duration { return b.t.Ack.D() }

// startMargin is how long start waits for the child's next word beyond
// what the child announced.
func (b budget) startMargin() time.Duration { return b.t.StartReply.D() }

// allow is how long a waiter with margin allows the other side once it
// announced p: p's limit plus the margin. A margin of 0 (no limit
// configured) stays no limit.
func allow(p ipc.Progress, margin time.Duration) time.Duration {
	if margin <= 0 {
		return 0
	}
	return p.Limit + margin
}

// silence is the waiter's reason for giving up: the other side (who) said
// nothing within the allowance, since announcing p (if any) or since p
// ended.
func silence(who string, allowance time.Duration, p *ipc.Progress, ended bool) error {
	switch {
	case p == nil:
		return fmt.Errorf("%s said nothing within %s", who, allowance)
	case ended:
		return fmt.Errorf("%s said nothing within %s of the end of the %s", who, allowance, p)
	}
	return fmt.Errorf("%s said nothing within %s of announcing the %s (its limit %s)", who, allowance, p, p.Limit)
}

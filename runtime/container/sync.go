package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urunc-dev/urunc/runtime/ipc"
)

// The create/start handshake, one message at a time (runc's
// libcontainer/sync.go keeps the same kind of list). Both sockets live in
// the container's state directory: create listens on init.sock, the
// re-exec child ("urunc init") on urunc.sock.
//
//	child  -> create  BOOTED           init.sock: the child runs in the container's namespaces
//	create -> child   (connects)       urunc.sock, right after BOOTED; the connection stays open
//	create -> child   HOOK ...         before each hook create runs (prestart, createRuntime, createContainer)
//	create -> child   ACK              after create's hooks (the engine's eth0 exists now)
//	child  -> create  STEP network ... the child sets up the guest's network
//	child  -> create  OK | ERROR why   the guest's network is set up, or why not
//	start  -> child   START            urunc.sock
//	child  -> start   STEP storage ... storage and the VMM's plan
//	child  -> start   HOOK ...         before each startContainer hook
//	child  -> start   OK | ERROR why   the jail is ready
//	child  -> start   EOF | ERROR why  the child exec'd the VMM (close-on-exec), or why the exec failed
//
// HOOK and STEP (ipc.Progress) announce what the sender runs now and its
// limit, DONE its end; the waiter allows that limit plus its margin while
// it runs, the margin otherwise (budget.go). Either side
// giving up or dying ends the other at once: create runs its hooks under
// a context that ends when the child exits, hangs up or says ERROR (the
// child says why it gives up), and kills the running hook's process
// group; the child ends when create's pipe reaches EOF (create died, and
// then kills the hook create was running), or when start hangs up before
// its answer; start kills the child when it gives up on it.

// reader is one side's source of the other side's words (an *ipc.Conn,
// or a childLink's background reader).
type reader interface {
	Read(ctx context.Context) (ipc.Message, string, error)
}

// awaitWord reads the other side's words (who: "create", "the init
// child") until want arrives (what: how errors name the wait, "ACK", "the
// answer to START"). ERROR is the other side's refusal, with its
// reason (errRefused, prefixed by refuser). A progress line (HOOK, STEP)
// allows the other side its announced limit plus margin before its next
// word (allow), DONE the margin again; onProgress, if not nil, is told of
// each announcement. Silence past
// the allowance, EOF, or ctx ending fail the wait.
func awaitWord(ctx context.Context, r reader, want ipc.Message, what, who, refuser string, margin time.Duration, onProgress func(p ipc.Progress, allowance time.Duration)) error {
	allowance := margin
	var last *ipc.Progress
	ended := false
	for {
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if allowance > 0 {
			rctx, cancel = context.WithTimeoutCause(ctx, allowance, silence(who, allowance, last, ended))
		}
		msg, arg, err := r.Read(rctx)
		cancel()
		switch {
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w: waiting for %s: %s hung up", ErrHandshake, what, who)
		case err != nil:
			return fmt.Errorf("%w: waiting for %s: %w", ErrHandshake, what, err)
		case msg == want:
			return nil
		case msg == ipc.Error:
			return &errRefused{refuser, arg}
		case msg == ipc.Hook || msg == ipc.Step:
			p, err := ipc.ParseProgress(msg, arg)
			if err != nil { // Read checked it already
				return fmt.Errorf("%w: waiting for %s: %w", ErrHandshake, what, err)
			}
			last, ended, allowance = &p, false, allow(p, margin)
			if onProgress != nil {
				onProgress(p, allowance)
			}
		case msg == ipc.Done:
			// Back to the margin: the announced step is over.
			ended, allowance = true, margin
		default:
			return fmt.Errorf("%w: waiting for %s: unexpected %s from %s", ErrHandshake, what, msg, who)
		}
	}
}

// awaitBooted is create's wait for the child's BOOTED.
func awaitBooted(ctx context.Context, ln *ipc.Listener) error {
	conn, err := ln.Await(ctx, ipc.Booted)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	return conn.Close()
}

// childLink is create's connection to the child, from right after BOOTED
// to the child's answer to ACK. A background reader delivers the child's
// words; any word before ACK (the child only speaks first to give up)
// and any hang-up end hooksCtx, with the child's reason, so that the hook
// create is running is killed at once.
type childLink struct {
	conn      *ipc.Conn
	in        chan incoming
	done      chan struct{}
	closeOnce sync.Once
	acked     atomic.Bool
	hooksCtx  context.Context
	stopHooks context.CancelCauseFunc
}

// errChildHungUp: the child closed the connection before ACK, mostly
// because it is dying (its exit status then says more).
var errChildHungUp = errors.New("the init child hung up")

type incoming struct {
	msg ipc.Message
	arg string
	err error
}

// dialChild connects to the child's urunc.sock. ctx should end when the
// child exits; hooksCtx derives from it.
func dialChild(ctx context.Context, sock string, margin time.Duration) (*childLink, error) {
	dctx, cancel := ctx, context.CancelFunc(func() {})
	if margin > 0 {
		dctx, cancel = context.WithTimeoutCause(ctx, margin, fmt.Errorf("the init child did not accept a connection within %s", margin))
	}
	conn, err := ipc.Dial(dctx, sock)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	l := &childLink{conn: conn, in: make(chan incoming, 8), done: make(chan struct{})}
	l.hooksCtx, l.stopHooks = context.WithCancelCause(ctx)
	go l.receive() //nolint:gosec // G118: reads until close closes the connection; waits for its words take a ctx (Read)
	return l, nil
}

func (l *childLink) receive() {
	for {
		msg, arg, err := l.conn.Read(context.Background())
		if !l.acked.Load() {
			switch {
			case msg == ipc.Error:
				l.stopHooks(&errRefused{"the init child gave up", arg})
			case errors.Is(err, io.EOF):
				l.stopHooks(errChildHungUp)
			case err != nil:
				l.stopHooks(fmt.Errorf("reading from the init child: %w", err))
			default:
				l.stopHooks(fmt.Errorf("unexpected %s from the init child before ACK", msg))
			}
		}
		select {
		case l.in <- incoming{msg, arg, err}:
		case <-l.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// Read returns the child's next word (reader).
func (l *childLink) Read(ctx context.Context) (ipc.Message, string, error) {
	select {
	case in := <-l.in:
		return in.msg, in.arg, in.err
	case <-ctx.Done():
		return "", "", fmt.Errorf("%w: %w", ipc.ErrTimeout, context.Cause(ctx))
	}
}

// sendAck sends ACK; from now on the child's words are its answer.
func (l *childLink) sendAck() error {
	l.acked.Store(true)
	if err := l.conn.Write(ipc.Ack, ""); err != nil {
		return fmt.Errorf("%w: send ACK: %w", ErrHandshake, err)
	}
	return nil
}

func (l *childLink) close() {
	l.closeOnce.Do(func() {
		close(l.done)
		l.conn.Close()
		l.stopHooks(nil)
	})
}

// sendStart is start's START; it returns the connection for the child's
// answer (awaitWord) and exec (awaitExec).
func sendStart(ctx context.Context, sock string) (*ipc.Conn, error) {
	conn, err := ipc.Dial(ctx, sock)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if err := conn.Write(ipc.Start, ""); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: send %s: %w", ErrHandshake, ipc.Start, err)
	}
	return conn, nil
}

// errRefused is the other side's ERROR answer: its reason, as it is.
type errRefused struct{ what, reason string }

func (e *errRefused) Error() string { return e.what + ": " + e.reason }

// awaitExec is start's wait for the child's exec: the connection closes
// when exec succeeds (close-on-exec) or the child dies; a failed exec is
// reported on it first.
func awaitExec(ctx context.Context, conn *ipc.Conn, who string) error {
	msg, reason, err := conn.Read(ctx)
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return fmt.Errorf("%w: waiting for the VMM exec: %w", ErrHandshake, err)
	case msg == ipc.Error:
		return &errRefused{who, reason}
	}
	return nil
}

// watchPeer cancels cancel (with why) once the peer on conn hangs up or
// says anything: the child, busy answering START, stops when start has
// given up or died. The caller stops caring once it has answered.
func watchPeer(conn *ipc.Conn, cancel context.CancelCauseFunc, why string) {
	go func() {
		msg, _, err := conn.Read(context.Background())
		if err != nil {
			cancel(fmt.Errorf("%s: %w", why, err))
			return
		}
		cancel(fmt.Errorf("%s: unexpected %s", why, msg))
	}()
}

// answer tells the peer on conn the outcome of what it asked for: OK, or
// ERROR with err's text.
func answer(conn *ipc.Conn, err error) error {
	if err != nil {
		return conn.Write(ipc.Error, err.Error())
	}
	return conn.Write(ipc.OK, "")
}

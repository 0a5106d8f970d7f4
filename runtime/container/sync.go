package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urunc-dev/urunc/runtime/ipc"
)

// The create/start handshake, one message pair at a time (runc's
// libcontainer/sync.go keeps the same kind of list). Both sockets live in
// the container's state directory: create listens on init.sock, the
// re-exec child ("urunc init") on urunc.sock.
//
//	child  -> create  BOOTED           init.sock: the child runs in the container's namespaces
//	create -> child   ACK              urunc.sock, after create's hooks (the engine's eth0 exists now)
//	child  -> create  OK | ERROR why   the guest's network is set up, or why not
//	start  -> child   START            urunc.sock
//	child  -> start   OK | ERROR why   storage, startContainer hooks and the jail are ready
//	child  -> start   EOF | ERROR why  the child exec'd the VMM (close-on-exec), or why the exec failed
//
// Every wait has a limit (config.Timeouts) and ends at once when the
// other side dies: create watches the child's exit, the child reads EOF
// on the pipe create holds until ACK.

// awaitBooted is create's wait for the child's BOOTED.
func awaitBooted(ctx context.Context, ln *ipc.Listener) error {
	conn, err := ln.Await(ctx, ipc.Booted)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	return conn.Close()
}

// sendAck is create's ACK; it returns once the child has set up the
// guest's network (nil), refused (its reason), or failed to answer.
func sendAck(ctx context.Context, sock, id string) error {
	conn, err := request(ctx, sock, ipc.Ack)
	if err != nil {
		return err
	}
	defer conn.Close()
	return awaitReply(ctx, conn, "ACK", "create "+id)
}

// sendStart is start's START; it returns the connection once the child
// has answered OK, for awaitExec.
func sendStart(ctx context.Context, sock string) (*ipc.Conn, error) {
	return request(ctx, sock, ipc.Start)
}

// request dials sock and sends m.
func request(ctx context.Context, sock string, m ipc.Message) (*ipc.Conn, error) {
	conn, err := ipc.Dial(ctx, sock)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if err := conn.Write(m, ""); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: send %s: %w", ErrHandshake, m, err)
	}
	return conn, nil
}

// errRefused is the other side's ERROR answer: its reason, as it is.
type errRefused struct{ what, reason string }

func (e *errRefused) Error() string { return e.what + ": " + e.reason }

// awaitReply reads the answer to what: OK, or ERROR with the peer's
// reason (prefixed by who, e.g. "create ID: ...").
func awaitReply(ctx context.Context, conn *ipc.Conn, what, who string) error {
	switch msg, reason, err := conn.Read(ctx); {
	case err != nil:
		return fmt.Errorf("%w: no answer to %s: %w", ErrHandshake, what, err)
	case msg == ipc.Error:
		return &errRefused{who, reason}
	case msg != ipc.OK:
		return fmt.Errorf("%w: unexpected answer to %s: %s", ErrHandshake, what, msg)
	}
	return nil
}

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

// acceptAck is the child's wait for create's ACK. pctx ends when create
// dies (its pipe's EOF), actx when the ACK limit passes. create exits
// right after sending ACK, so its pipe may close before we accepted: a
// connection already queued on the socket still counts. Only accepting
// races with the pipe; reading the queued ACK does not.
func acceptAck(ctx, actx, pctx context.Context, ln *ipc.Listener) (*ipc.Conn, error) {
	conn, err := ln.Accept(pctx)
	if err != nil && actx.Err() == nil && ctx.Err() == nil {
		qctx, qcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		conn, err = ln.Accept(qctx)
		qcancel()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: waiting for ACK: %w", ErrHandshake, err)
	}
	if msg, _, err := conn.Read(actx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: waiting for ACK: got %q: %w", ErrHandshake, msg, err)
	} else if msg != ipc.Ack {
		conn.Close()
		return nil, fmt.Errorf("%w: waiting for ACK: got %q", ErrHandshake, msg)
	}
	return conn, nil
}

// answer tells the peer on conn the outcome of what it asked for: OK, or
// ERROR with err's text.
func answer(conn *ipc.Conn, err error) error {
	if err != nil {
		return conn.Write(ipc.Error, err.Error())
	}
	return conn.Write(ipc.OK, "")
}

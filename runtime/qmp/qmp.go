// Package qmp is a minimal client for qemu's machine protocol: enough to
// power a guest down and to pause or resume it.
package qmp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/urunc-dev/urunc/runtime/ipc"
)

// ErrQMP wraps errors reported by qemu.
var ErrQMP = errors.New("qmp error")

// Client is one QMP session.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
}

type response struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string          `json:"event"`
	QMP   json.RawMessage `json:"QMP"`
}

// Dial connects to the QMP socket and negotiates capabilities.
func Dial(ctx context.Context, path string) (*Client, error) {
	conn, err := ipc.DialRaw(ctx, path)
	if err != nil {
		return nil, err
	}
	c := &Client{conn: conn, r: bufio.NewReader(conn)}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(10 * time.Second)
	}
	if err := conn.SetDeadline(dl); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrQMP, path, err)
	}
	var greeting response
	if err := c.read(&greeting); err != nil || greeting.QMP == nil {
		conn.Close()
		return nil, fmt.Errorf("%w: no QMP greeting on %s: %w", ErrQMP, path, err)
	}
	if _, err := c.Execute("qmp_capabilities"); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) read(v *response) error {
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return err
	}
	return json.Unmarshal(line, v)
}

// Execute runs one command and returns its "return" value; asynchronous
// events in between are skipped.
func (c *Client) Execute(command string) (json.RawMessage, error) {
	req, _ := json.Marshal(map[string]string{"execute": command})
	if _, err := c.conn.Write(append(req, '\n')); err != nil {
		return nil, fmt.Errorf("qmp %s: %w", command, err)
	}
	for {
		var resp response
		if err := c.read(&resp); err != nil {
			return nil, fmt.Errorf("qmp %s: %w", command, err)
		}
		if resp.Event != "" {
			continue
		}
		if resp.Error != nil {
			return nil, fmt.Errorf("%w: %s: %s: %s", ErrQMP, command, resp.Error.Class, resp.Error.Desc)
		}
		return resp.Return, nil
	}
}

// Close ends the session.
func (c *Client) Close() error { return c.conn.Close() }

// Do dials, runs one command and closes.
func Do(ctx context.Context, path, command string) error {
	c, err := Dial(ctx, path)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Execute(command)
	return err
}

package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// Talking to the guest: the Serial tab's attach mode sends every key to
// the guest's serial input, until ctrl+] detaches. The input is, in this
// order: the VMM's console socket (vmm.json console "socket": qemu serves
// the serial port on <root>/<id>/console.sock, so any tool can attach,
// also to containers made elsewhere), or the stdin the console gave a
// container it created (a pipe, or the pty master of a terminal bundle,
// which the VMM's stdio serial port reads).
//
// Update does no I/O here either: connecting is a command, and keys go
// to a writer goroutine through a channel (in order; a full channel drops
// the key and says so).

// attachConn is one attachment: its writer goroutine takes keys from in
// and ends when in is closed or a write fails (done closed, err set).
type attachConn struct {
	id   string
	via  string // what is written to, in words
	in   chan []byte
	done chan struct{}
	err  error // valid after done
}

// send queues bytes for the guest; false when the writer is behind.
func (a *attachConn) send(b []byte) bool {
	select {
	case a.in <- b:
		return true
	default:
		return false
	}
}

// start runs the writer goroutine over w; closeW closes what is
// closed on detach (nil: w stays open, the console keeps it).
func (a *attachConn) start(w io.Writer, closeW func()) {
	go func() {
		defer close(a.done)
		if closeW != nil {
			defer closeW()
		}
		for b := range a.in {
			if _, err := w.Write(b); err != nil {
				a.err = err
				// Drain until detached, so senders never block.
				for range a.in {
				}
				return
			}
		}
	}()
}

func newAttachConn(id, via string) *attachConn {
	return &attachConn{id: id, via: via, in: make(chan []byte, 256), done: make(chan struct{})}
}

// Messages of an attachment.
type (
	attachedMsg struct {
		id   string
		conn *attachConn
		err  error
	}
	// detachedMsg: the writer ended on its own (the guest's input went).
	detachedMsg struct{ conn *attachConn }
)

// inputs are the guest inputs the console holds for the containers it
// created (the write end of their stdin pipe, or their pty master), by
// id. Only commands use it.
type inputs struct {
	mu   sync.Mutex
	byID map[string]*os.File
}

func newInputs() *inputs { return &inputs{byID: map[string]*os.File{}} }

func (in *inputs) add(id string, f *os.File) {
	if f == nil {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if old := in.byID[id]; old != nil {
		old.Close()
	}
	in.byID[id] = f
}

func (in *inputs) get(id string) *os.File {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.byID[id]
}

// drop closes and forgets the input of id (its VMM is gone).
func (in *inputs) drop(id string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if f := in.byID[id]; f != nil {
		f.Close()
		delete(in.byID, id)
	}
}

// errNoInput says why a container's console takes no input from here.
var errNoInput = errors.New("no way to write to its console")

// attachCmd connects to the guest's serial input of c (read off the
// Update goroutine: the console socket is dialled here).
func (m *Model) attachCmd(c *container) tea.Cmd {
	id, root, ins := c.ID, m.opts.Root, m.inputs
	socket := c.VMM != nil && c.VMM.Console == string(vmm.ConsoleSocket)
	hv := c.hypervisor()
	return func() tea.Msg {
		if socket {
			path := filepath.Join(root, id, state.ConsoleSock)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var d net.Dialer
			conn, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return attachedMsg{id: id, err: fmt.Errorf("attach %s: %w", id, err)}
			}
			a := newAttachConn(id, state.ConsoleSock)
			// qemu writes the console to its client too: read it away
			// (serial.log has it), or the guest would stall.
			go func() { _, _ = io.Copy(io.Discard, conn) }() // until detach closes it
			a.start(conn, func() { conn.Close() })
			return attachedMsg{id: id, conn: a}
		}
		if f := ins.get(id); f != nil {
			a := newAttachConn(id, "the stdin this console gave it")
			a.start(f, nil)
			return attachedMsg{id: id, conn: a}
		}
		why := "it was created elsewhere with its console on the container's stdio; the annotation " +
			"com.urunc.vmm.console=socket puts it on console.sock, where anyone can attach"
		if vmm.Canonical(hv) == vmm.HVT || vmm.Canonical(hv) == vmm.SPT {
			why = "Solo5 guests read no console input"
		}
		return attachedMsg{id: id, err: fmt.Errorf("attach %s: %w: %s", id, errNoInput, why)}
	}
}

// waitDetached reports when an attachment's writer ends on its own.
func waitDetached(a *attachConn) tea.Cmd {
	return func() tea.Msg {
		<-a.done
		return detachedMsg{conn: a}
	}
}

// keyBytes is what a key sends to a guest's serial line, as a terminal
// would (a raw tty: enter is a carriage return, backspace DEL); nil for
// keys without one.
func keyBytes(k tea.KeyMsg) []byte {
	var b []byte
	switch t := k.Type; {
	case t == tea.KeyRunes:
		b = []byte(string(k.Runes))
	case t == tea.KeySpace:
		b = []byte{' '}
	case t >= 0 && t < 32, t == 127: // control characters: their own code
		b = []byte{byte(t)}
	default:
		seq, ok := map[tea.KeyType]string{
			tea.KeyUp: "\x1b[A", tea.KeyDown: "\x1b[B", tea.KeyRight: "\x1b[C", tea.KeyLeft: "\x1b[D",
			tea.KeyHome: "\x1b[H", tea.KeyEnd: "\x1b[F", tea.KeyPgUp: "\x1b[5~", tea.KeyPgDown: "\x1b[6~",
			tea.KeyDelete: "\x1b[3~", tea.KeyInsert: "\x1b[2~", tea.KeyShiftTab: "\x1b[Z",
		}[t]
		if !ok {
			return nil
		}
		b = []byte(seq)
	}
	if k.Alt {
		b = append([]byte{0x1b}, b...)
	}
	return b
}

package ipc

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzConnRead: whatever bytes a peer writes before closing, Conn.Read
// returns at once (never waits for the deadline once the peer is gone),
// with a known message or an error; only ERROR and the progress lines
// (HOOK, STEP) carry an argument, a progress line only a well-formed one
// (checkProgress), and no argument holds a newline or exceeds MaxMessage.
func FuzzConnRead(f *testing.F) {
	for _, s := range []string{"BOOTED\n", "ACK\n", "START\nOK\n", "OK", "ERROR network: no eth0\n", "ERROR\n",
		"ACK \n", "\n", "", "\x00\xff\n", strings.Repeat("A", MaxMessage) + "\n", "ERROR " + strings.Repeat("x", MaxMessage+8),
		"HOOK createRuntime 30000 /bin/sleep\nSTEP network 10000\nACK\n", "HOOK createRuntime 30000 /bin/\x00\n", "STEP storage 1\r\n", "HOOK a 5 /x\nDONE\nDONE x\n"} {
		f.Add([]byte(s))
	}
	ln, err := Listen(filepath.Join(f.TempDir(), "f.sock"))
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		peer, err := DialRaw(ctx, ln.Path())
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			peer.Write(data)
			peer.Close()
		}()
		c, err := ln.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := 0; ; i++ {
			m, arg, err := c.Read(ctx)
			if errors.Is(err, ErrTimeout) {
				t.Fatalf("Read waited for the deadline on a closed peer (%d bytes)", len(data))
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrUnexpected) {
					t.Fatalf("unclassified error %v", err)
				}
				return
			}
			switch m {
			case Booted, Ack, Start, OK, Done:
				if arg != "" {
					t.Fatalf("%s with argument %q", m, arg)
				}
			case Error:
				if strings.Contains(arg, "\n") || len(arg) >= MaxMessage {
					t.Fatalf("ERROR argument %q", arg)
				}
			case Hook, Step:
				if strings.Contains(arg, "\n") || len(arg) >= MaxMessage {
					t.Fatalf("%s argument %q", m, arg)
				}
				checkProgress(t, m, arg)
			default:
				t.Fatalf("unknown message %q accepted", m)
			}
			if i > len(data) {
				t.Fatal("more messages than bytes")
			}
		}
	})
}

package ipc

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHandshakeRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := Dial(ctx, path)
		if err != nil {
			return
		}
		c.Write(Start, "")
		c.Read(ctx)
		c.Close()
	}()
	conn, err := ln.Await(ctx, Start)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write(Error, "network: no\nway")
	conn.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi, err)
	}
}

func TestAwaitTimesOut(t *testing.T) {
	ln, err := Listen(filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = ln.Await(ctx, Booted)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "BOOTED") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("Await did not honour its deadline")
	}
}

func TestAwaitWrongMessage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, _ := Listen(path)
	defer ln.Close()
	go Send(ctx, path, Ack)
	if _, err := ln.Await(ctx, Booted); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("err = %v", err)
	}
}

func TestDialTimesOutWithoutListener(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := Send(ctx, filepath.Join(t.TempDir(), "none.sock"), Ack); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
}

func TestLongSocketPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 64))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "urunc.sock")
	if len(path) <= maxSunPath {
		t.Fatalf("test path too short: %d", len(path))
	}
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go Send(ctx, path, Booted)
	if _, err := ln.Await(ctx, Booted); err != nil {
		t.Fatal(err)
	}
}

func TestReadEOFAndStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	os.WriteFile(path, []byte("stale"), 0o600) // a crash left a file behind
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		c, _ := Dial(ctx, path)
		c.Close()
	}()
	conn, err := ln.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := conn.Read(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want EOF", err)
	}
}

func TestParseMessage(t *testing.T) {
	tests := []struct {
		line string
		m    Message
		arg  string
		bad  bool
	}{
		{"BOOTED", Booted, "", false}, {"ACK", Ack, "", false}, {"START", Start, "", false},
		{"OK", OK, "", false}, {"ERROR boom here", Error, "boom here", false},
		{"START now", "", "", true}, {"", "", "", true}, {"booted", "", "", true},
	}
	for _, tt := range tests {
		m, arg, err := ParseMessage(tt.line)
		if tt.bad != (err != nil) || m != tt.m || arg != tt.arg {
			t.Errorf("%q: %q %q %v", tt.line, m, arg, err)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{"BOOTED", "ACK", "START", "OK", "ERROR x", "", "START x", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, arg, err := ParseMessage(line)
		if err != nil {
			return
		}
		if m != Error && arg != "" {
			t.Fatalf("%q: argument on %s", line, m)
		}
		if !strings.HasPrefix(line, string(m)) {
			t.Fatalf("%q parsed as %s", line, m)
		}
	})
}

// A cancelled Accept must not poison the next one (the re-exec child
// retries once after create's pipe closes, for an ACK already queued).
func TestAcceptAfterCancelledAccept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ln.Accept(ctx); err == nil {
		t.Fatal("accept with a cancelled context succeeded")
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := Send(sctx, path, Ack); err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Await(sctx, Ack); err != nil {
		t.Fatalf("queued ACK lost after a cancelled accept: %v", err)
	}
}

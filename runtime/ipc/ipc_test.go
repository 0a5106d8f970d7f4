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
		{"HOOK createRuntime 30000 /bin/sleep", Hook, "createRuntime 30000 /bin/sleep", false},
		{"HOOK createRuntime 30000 /opt/my hooks/x y", Hook, "createRuntime 30000 /opt/my hooks/x y", false},
		{"STEP storage 60000", Step, "storage 60000", false},
		{"DONE", Done, "", false}, {"DONE 12", "", "", true},
		{"HOOK createRuntime 30000 sleep", "", "", true},    // relative path
		{"HOOK createRuntime 0 /bin/sleep", "", "", true},   // no limit
		{"HOOK createRuntime 030 /bin/sleep", "", "", true}, // not canonical
		{"HOOK createRuntime -1 /bin/sleep", "", "", true},  // negative
		{"HOOK create_Runtime 30 /bin/sleep", "", "", true}, // kind
		{"HOOK createRuntime 30 1", "", "", true},           // no path
		{"STEP storage", "", "", true},                      // no limit
		{"STEP storage 10 more", "", "", true},              // extra
		{"STEP hook 10", "", "", true},                      // a hook is a HOOK
		{"STEP storage 99999999999999999999", "", "", true}, // overflow
		{"STEP storage 31536000001", "", "", true},          // more than a year
		{"HOOK", "", "", true}, {"STEP", "", "", true},
	}
	for _, tt := range tests {
		m, arg, err := ParseMessage(tt.line)
		if tt.bad != (err != nil) || m != tt.m || arg != tt.arg {
			t.Errorf("%q: %q %q %v", tt.line, m, arg, err)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{"BOOTED", "ACK", "START", "OK", "ERROR x", "", "START x", "\x00", "DONE",
		"HOOK createRuntime 30000 /bin/sleep", "STEP network 10000", "HOOK a 1 /", "STEP storage 0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, arg, err := ParseMessage(line)
		if err != nil {
			return
		}
		if m != Error && m != Hook && m != Step && arg != "" {
			t.Fatalf("%q: argument on %s", line, m)
		}
		if !strings.HasPrefix(line, string(m)) {
			t.Fatalf("%q parsed as %s", line, m)
		}
		if m == Hook || m == Step {
			checkProgress(t, m, arg)
		}
	})
}

// checkProgress: an accepted progress line has a bounded positive limit,
// and renders back to exactly the same line.
func checkProgress(t *testing.T, m Message, arg string) {
	t.Helper()
	p, err := ParseProgress(m, arg)
	if err != nil {
		t.Fatalf("%s %q accepted by ParseMessage, refused by ParseProgress: %v", m, arg, err)
	}
	if p.Limit <= 0 || p.Limit > maxLimit || (m == Hook) != (p.Step == StepHook) || (m == Hook && !strings.HasPrefix(p.Path, "/")) {
		t.Fatalf("%s %q: %+v", m, arg, p)
	}
	if m2, arg2 := p.Message(); m2 != m || arg2 != arg {
		t.Fatalf("%s %q renders back as %s %q", m, arg, m2, arg2)
	}
}

// What Announce sends is read back as the same Progress; what it cannot
// carry is refused before anything is sent.
func TestAnnounceRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sent := []Progress{
		{Step: StepHook, Kind: "createRuntime", Path: "/bin/sleep", Limit: 30 * time.Second},
		{Step: StepHook, Kind: "startContainer", Path: "/opt/my hooks/h", Limit: 1500 * time.Millisecond},
		{Step: "storage", Limit: time.Minute},
	}
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range sent {
		if err := c.Announce(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []Progress{
		{Step: StepHook, Kind: "createRuntime", Path: "/bin/a\nACK", Limit: time.Second},
		{Step: StepHook, Kind: "createRuntime", Path: "relative", Limit: time.Second},
		{Step: "two words", Limit: time.Second},
		{Step: StepHook, Kind: "createRuntime", Path: "/" + strings.Repeat("p", MaxMessage), Limit: time.Second},
	} {
		if err := c.Announce(bad); !errors.Is(err, ErrUnexpected) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	c.Write(Ack, "")
	conn, err := ln.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, want := range sent {
		m, arg, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseProgress(m, arg)
		if err != nil || got != want {
			t.Fatalf("got %+v %v, want %+v", got, err, want)
		}
	}
	if m, _, err := conn.Read(ctx); m != Ack || err != nil {
		t.Fatalf("after the progress lines: %s %v (a refused one was sent?)", m, err)
	}
	if s := sent[0].String() + ", " + sent[2].String(); s != "createRuntime hook /bin/sleep, storage set-up" {
		t.Fatalf("String: %q", s)
	}
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

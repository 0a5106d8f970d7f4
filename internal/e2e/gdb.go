package e2e

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// RequireGDB skips unless Debian's gdb is installed (scripts/deps.sh
// installs it).
func RequireGDB(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("gdb"); err != nil {
		t.Skip("gdb not found: install Debian package gdb (make deps)")
	}
}

// GDBBatch runs the command vmm.json's gdbCommand names (gdb -q -ex
// 'target remote SOCK' KERNEL) in batch mode with the gdb commands of
// script after the connection, and returns what gdb printed. It fails the
// test after a minute.
func GDBBatch(t testing.TB, command []string, script ...string) string {
	t.Helper()
	if len(command) < 2 || command[0] != "gdb" {
		t.Fatalf("not a gdb command: %q", command)
	}
	kernel := command[len(command)-1]
	args := append([]string{"-batch", "-nx"}, command[1:len(command)-1]...)
	for _, s := range script {
		args = append(args, "-ex", s)
	}
	args = append(args, kernel)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "gdb", args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("gdb %q did not finish within a minute:\n%s", args, out)
	}
	if err != nil {
		t.Logf("gdb %q: %v", args, err)
	}
	return string(out)
}

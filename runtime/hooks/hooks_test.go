package hooks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "stdin.json")
	one := 1
	zero := 0
	tests := []struct {
		name    string
		hooks   []specs.Hook
		wantErr string
		check   func(t *testing.T)
	}{
		{name: "state on stdin", hooks: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + out}}},
			check: func(t *testing.T) {
				data, _ := os.ReadFile(out)
				if !strings.Contains(string(data), `"id":"c1"`) {
					t.Fatalf("stdin = %s", data)
				}
			}},
		{name: "env", hooks: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", `test "$X" = y`}, Env: []string{"X=y"}}}},
		{name: "failing", hooks: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo nope >&2; exit 3"}}}, wantErr: "nope"},
		{name: "missing", hooks: []specs.Hook{{Path: "/nonexistent/hook"}}, wantErr: "/nonexistent/hook"},
		{name: "timeout", hooks: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "10"}, Timeout: &one}}, wantErr: "timed out"},
		{name: "zero timeout", hooks: []specs.Hook{{Path: "/bin/true", Timeout: &zero}}, wantErr: "positive"},
		{name: "stops at first failure", hooks: []specs.Hook{{Path: "/bin/false"}, {Path: "/bin/sh", Args: []string{"sh", "-c", "touch " + filepath.Join(dir, "second")}}},
			wantErr: "exit status 1", check: func(t *testing.T) {
				if _, err := os.Stat(filepath.Join(dir, "second")); err == nil {
					t.Fatal("second hook ran")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := Run(context.Background(), CreateRuntime, tt.hooks, map[string]string{"id": "c1"}, 5*time.Second, nil)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (!errors.Is(err, ErrHookFailed) || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if time.Since(start) > 4*time.Second {
				t.Fatal("hook timeout not honoured")
			}
			if tt.check != nil {
				tt.check(t)
			}
		})
	}
}

func TestList(t *testing.T) {
	h := &specs.Hooks{Poststop: []specs.Hook{{Path: "/x"}}}
	if len(List(h, Poststop)) != 1 || len(List(h, Prestart)) != 0 || List(nil, Poststop) != nil {
		t.Fatal("List")
	}
}

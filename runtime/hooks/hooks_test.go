package hooks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
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
			err := Run(context.Background(), CreateRuntime, tt.hooks, map[string]string{"id": "c1"}, Limits{Default: 5 * time.Second, Max: time.Minute}, Observer{})
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

func TestLimit(t *testing.T) {
	two, zero, neg := 2, 0, -1
	tests := []struct {
		name    string
		timeout *int
		l       Limits
		want    time.Duration
		wantErr bool
	}{
		{"own timeout", &two, Limits{Default: 30 * time.Second, Max: time.Minute}, 2 * time.Second, false},
		{"own timeout beyond the maximum is honoured", &two, Limits{Max: time.Second}, 2 * time.Second, false},
		{"default", nil, Limits{Default: 30 * time.Second, Max: time.Minute}, 30 * time.Second, false},
		{"no default: the maximum", nil, Limits{Max: time.Minute}, time.Minute, false},
		{"zero timeout", &zero, Limits{Max: time.Minute}, 0, true},
		{"negative timeout", &neg, Limits{Max: time.Minute}, 0, true},
	}
	for _, tt := range tests {
		got, err := tt.l.Limit(specs.Hook{Path: "/x", Timeout: tt.timeout})
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: %s, %v; want %s", tt.name, got, err, tt.want)
		}
	}
}

// A hook's whole process group goes when it overruns its limit or is
// stopped from outside; the observer sees it start (pid, limit) and end.
func TestRunKillsProcessGroup(t *testing.T) {
	for _, stop := range []string{"timeout", "cancel"} {
		t.Run(stop, func(t *testing.T) {
			dir := t.TempDir()
			bg := filepath.Join(dir, "bg")
			one := 1
			h := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "sleep 30 & echo $! > " + bg + "; wait"}}
			if stop == "timeout" {
				h.Timeout = &one
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var started, ended int
			var gotLimit time.Duration
			obs := Observer{
				Started: func(_ specs.Hook, pid int, limit time.Duration) {
					started, gotLimit = pid, limit
					if stop == "cancel" {
						go func() {
							waitFile(t, bg)
							cancel()
						}()
					}
				},
				Done: func(specs.Hook, time.Duration, error) { ended++ },
			}
			err := Run(ctx, StartContainer, []specs.Hook{h}, struct{}{}, Limits{Default: 20 * time.Second, Max: time.Minute}, obs)
			want := "timed out after 1s"
			if stop == "cancel" {
				want = "stopped after"
			}
			if !errors.Is(err, ErrHookFailed) || !strings.Contains(err.Error(), want) || (stop == "cancel") != errors.Is(err, ErrStopped) {
				t.Fatalf("err = %v, want %q", err, want)
			}
			if started <= 0 || ended != 1 || (stop == "timeout" && gotLimit != time.Second) || (stop == "cancel" && gotLimit != 20*time.Second) {
				t.Fatalf("observer: pid %d, limit %s, done %d times", started, gotLimit, ended)
			}
			data, _ := os.ReadFile(bg)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
			if pid <= 0 {
				t.Fatalf("background pid %q", data)
			}
			deadline := time.Now().Add(5 * time.Second)
			for alive(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("the hook's background child %d outlived it", pid)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func waitFile(t *testing.T, path string) {
	for i := 0; i < 500; i++ {
		if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive: the process exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndex(string(data), ") ")
	return i < 0 || !strings.HasPrefix(string(data[i+2:]), "Z")
}

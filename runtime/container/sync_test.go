package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/ipc"
)

// script is a reader that returns its lines in order and records the
// allowance (the read's deadline) each read was given.
type script struct {
	lines  []string // "" = EOF
	allows []time.Duration
}

func (s *script) Read(ctx context.Context) (ipc.Message, string, error) {
	if dl, ok := ctx.Deadline(); ok {
		s.allows = append(s.allows, time.Until(dl).Round(time.Second))
	} else {
		s.allows = append(s.allows, 0)
	}
	if len(s.lines) == 0 {
		<-ctx.Done()
		return "", "", fmt.Errorf("%w: %w", ipc.ErrTimeout, context.Cause(ctx)) // as ipc.Conn does
	}
	line := s.lines[0]
	s.lines = s.lines[1:]
	if line == "" {
		return "", "", io.EOF
	}
	return ipc.ParseMessage(line)
}

// The budget rule: each announcement allows its limit plus the margin
// before the next word; without one, the margin.
func TestAwaitWordBudget(t *testing.T) {
	const margin = 2 * time.Second
	tests := []struct {
		name       string
		lines      []string
		wantAllows []time.Duration
		wantErr    string
	}{
		{"ACK at once", []string{"ACK"}, []time.Duration{margin}, ""},
		{"a hook, then ACK", []string{"HOOK createRuntime 30000 /bin/sleep", "ACK"}, []time.Duration{margin, 32 * time.Second}, ""},
		{"two hooks", []string{"HOOK prestart 1000 /a", "HOOK createContainer 600000 /b", "ACK"},
			[]time.Duration{margin, 3 * time.Second, 602 * time.Second}, ""},
		{"a hook ended: the margin again", []string{"HOOK createRuntime 30000 /bin/sleep", "DONE", "ACK"},
			[]time.Duration{margin, 32 * time.Second, margin}, ""},
		{"a step", []string{"STEP network 10000", "ACK"}, []time.Duration{margin, 12 * time.Second}, ""},
		{"refused", []string{"HOOK createRuntime 30000 /bin/sleep", "ERROR no way"}, nil, "create X: no way"},
		{"hang-up", []string{""}, nil, "create hung up"},
		{"unexpected", []string{"START"}, nil, "unexpected START"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{lines: tt.lines}
			var seen []string
			err := awaitWord(context.Background(), s, ipc.Ack, "ACK", "create", "create X", margin, func(p ipc.Progress, allowance time.Duration) {
				seen = append(seen, p.String())
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.allows) != len(tt.wantAllows) {
				t.Fatalf("allowances %v, want %v", s.allows, tt.wantAllows)
			}
			for i := range s.allows {
				if s.allows[i] != tt.wantAllows[i] {
					t.Fatalf("allowances %v, want %v", s.allows, tt.wantAllows)
				}
			}
			if n := strings.Count(strings.Join(tt.lines, "\n"), "HOOK") + strings.Count(strings.Join(tt.lines, "\n"), "STEP"); len(seen) != n {
				t.Fatalf("progress seen: %v", seen)
			}
		})
	}
}

// Silence past the allowance names what was announced last.
func TestAwaitWordSilence(t *testing.T) {
	s := &script{lines: []string{"HOOK createRuntime 1 /bin/sleep"}}
	err := awaitWord(context.Background(), s, ipc.Ack, "ACK", "create", "create X", 10*time.Millisecond, nil)
	if !errors.Is(err, ErrHandshake) || !errors.Is(err, ipc.ErrTimeout) ||
		!strings.Contains(err.Error(), "create said nothing within 11ms of announcing the createRuntime hook /bin/sleep (its limit 1ms)") {
		t.Fatalf("err = %v", err)
	}
	s = &script{lines: []string{"HOOK createRuntime 1 /bin/sleep", "DONE"}}
	err = awaitWord(context.Background(), s, ipc.Ack, "ACK", "create", "create X", 10*time.Millisecond, nil)
	if !strings.Contains(err.Error(), "create said nothing within 10ms of the end of the createRuntime hook /bin/sleep") {
		t.Fatalf("err = %v", err)
	}
	// A margin of 0 is no limit, and stays so after an announcement.
	if got := allow(ipc.Progress{Limit: time.Second}, 0); got != 0 {
		t.Fatalf("allow with no margin: %s", got)
	}
}

// Every announced step has a limit, whatever the host config left unset;
// a hook without any limit gets hookMax.
func TestBudgetLimits(t *testing.T) {
	b := budget{t: config.Timeouts{}}
	def := config.DefaultHost().Timeouts
	if b.network().Limit != def.Network.D() || b.storage().Limit != def.Storage.D() || b.hooks().Max != def.HookMax.D() {
		t.Fatalf("unset: network %s storage %s hookMax %s", b.network().Limit, b.storage().Limit, b.hooks().Max)
	}
	b = budget{t: config.Timeouts{Network: config.Duration(time.Second), Storage: config.Duration(2 * time.Second), Hook: 0, HookMax: config.Duration(3 * time.Second)}, self: "/usr/bin/urunc"}
	if b.network().Limit != time.Second || b.storage().Limit != 2*time.Second || b.hooks().Max != 3*time.Second || b.hooks().Default != 0 ||
		strings.Join(b.hooks().Guard, " ") != "/usr/bin/urunc hook-guard" {
		t.Fatalf("set: %+v %+v %+v", b.network(), b.storage(), b.hooks())
	}
}

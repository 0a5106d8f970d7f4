package main

import (
	"slices"
	"testing"
)

// commandArgs finds the command after urunc's global flags in every form
// urfave/cli accepts them.
func TestCommandArgs(t *testing.T) {
	flags := newApp().Flags
	tests := []struct{ args, want []string }{
		{[]string{"state", "x"}, []string{"state", "x"}},
		{[]string{"--root", "/r", "--log", "l", "--log-format", "json", "start", "x"}, []string{"start", "x"}},
		{[]string{"--root=/r", "--debug", "--systemd-cgroup", "kill", "x", "KILL"}, []string{"kill", "x", "KILL"}},
		{[]string{"-root", "/r", "--rootless", "true", "--criu", "c", "delete", "-f", "x"}, []string{"delete", "-f", "x"}},
		{[]string{"--debug=true", "exec", "--root", "x", "sh"}, []string{"exec", "--root", "x", "sh"}},
		{[]string{"--root", "/r", "--", "list"}, []string{"list"}},
		{[]string{"--root", "/r"}, nil},
	}
	for _, tt := range tests {
		if got := commandArgs(flags, tt.args); !slices.Equal(got, tt.want) {
			t.Errorf("commandArgs(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

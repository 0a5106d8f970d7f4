package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// TestBadInput: every bad input gives one clear error (in the JSON log and
// on stderr), a non-zero exit, and leaves nothing under the root.
func TestBadInput(t *testing.T) {
	u := setup(t)
	good := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(nil)})

	mk := func(b e2e.Bundle) string { return e2e.NewBundle(t, b) }
	withFile := func(name, content string) string {
		dir := mk(e2e.Bundle{Annotations: microvm(nil)})
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
		return dir
	}
	uruncJSON := func(content string) string {
		dir := mk(e2e.Bundle{Annotations: map[string]string{}, URuncJSON: true})
		os.WriteFile(filepath.Join(dir, "rootfs", "urunc.json"), []byte(content), 0o644)
		return dir
	}
	escapeLink := func() string {
		dir := mk(e2e.Bundle{Binary: "/evil"})
		os.Symlink("../../../../../../etc/hostname", filepath.Join(dir, "rootfs", "evil"))
		return dir
	}

	tests := []struct {
		name   string
		args   []string
		errMsg string
	}{
		{"empty id", []string{"create", "-b", good, ""}, "invalid container id"},
		{"id with slash", []string{"create", "-b", good, "a/b"}, "invalid container id"},
		{"id dotdot", []string{"create", "-b", good, ".."}, "invalid container id"},
		{"id odd chars", []string{"create", "-b", good, "a b$"}, "invalid container id"},
		{"id too long", []string{"create", "-b", good, strings.Repeat("x", 1025)}, "invalid container id"},
		{"missing id", []string{"create", "-b", good}, "missing container id"},
		{"missing bundle", []string{"create", "-b", "/nonexistent/bundle", "b1"}, "no config.json"},
		{"malformed config.json", []string{"create", "-b", withFile("config.json", "{not json"), "b2"}, "config.json"},
		{"bad base64 annotation", []string{"create", "-b", mk(e2e.Bundle{Annotations: map[string]string{"com.urunc.unikernel.cmdline": "b64:@@@"}}), "b3"}, "malformed base64"},
		{"malformed urunc.json", []string{"create", "-b", uruncJSON("{"), "b4"}, "urunc.json"},
		{"urunc.json missing keys", []string{"create", "-b", uruncJSON(`{"com.urunc.unikernel.unikernelType":"dW5pa3JhZnQ="}`), "b5"}, "missing"},
		{"unknown guest", []string{"create", "-b", mk(e2e.Bundle{Type: "plan9"}), "b6"}, "plan9"},
		{"unknown hypervisor", []string{"create", "-b", mk(e2e.Bundle{Hypervisor: "bochs"}), "b7"}, "bochs"},
		{"unsupported pair", []string{"create", "-b", mk(e2e.Bundle{Type: "rumprun", Hypervisor: "firecracker"}), "b8"}, "firecracker"},
		{"missing vmm", []string{"create", "-b", mk(e2e.Bundle{Type: "unikraft", Hypervisor: "firecracker"}), "b9"}, "firecracker"},
		{"binary missing", []string{"create", "-b", mk(e2e.Bundle{Binary: "/nope.elf"}), "b10"}, "not found"},
		{"binary escapes", []string{"create", "-b", mk(e2e.Bundle{Binary: "/../../etc/passwd"}), "b11"}, "escapes"},
		{"binary symlink escapes", []string{"create", "-b", escapeLink(), "b12"}, "not found"},
		{"newline in cmdline", []string{"create", "-b", mk(e2e.Bundle{Annotations: map[string]string{"com.urunc.unikernel.cmdline": "b64:" + "YQpiCg=="}}), "b13"}, "control character"},
		{"bad accel", []string{"create", "-b", mk(e2e.Bundle{Annotations: map[string]string{"com.urunc.vmm.accel": "xen"}}), "b14"}, "accel"},
		{"bad console", []string{"create", "-b", mk(e2e.Bundle{Annotations: map[string]string{"com.urunc.vmm.console": "tcp"}}), "b15"}, "console must be stdio or socket"},
		{"bad published port", []string{"create", "-b", mk(e2e.Bundle{Annotations: map[string]string{"com.urunc.network.mode": "static", "com.urunc.network.ports": "80/sctp"}}), "b16"}, `port "80/sctp"`},
		{"guest address without static mode", []string{"create", "-b", mk(e2e.Bundle{Annotations: map[string]string{"com.urunc.network.ip": "10.0.0.2"}}), "b17"}, "in network mode static only"},
		{"start missing", []string{"start", "nosuch"}, "does not exist"},
		{"kill missing", []string{"kill", "nosuch"}, "does not exist"},
		{"state missing", []string{"state", "nosuch"}, "does not exist"},
		{"bad signal", []string{"kill", "nosuch", "SIGWHAT"}, "invalid signal"},
		{"bad log format", []string{"--log-format", "xml", "list"}, "log-format"},
		{"bad list format", []string{"list", "--format", "yaml"}, "format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := u.Run(t, tt.args...)
			if r.Code == 0 {
				t.Fatalf("succeeded: %s", r)
			}
			msg := u.LastError() + " " + r.Stderr
			if !strings.Contains(msg, tt.errMsg) {
				t.Fatalf("error %q does not mention %q", msg, tt.errMsg)
			}
			if left := u.Leftovers(); len(left) != 0 {
				t.Fatalf("left under root: %v", left)
			}
		})
	}

	// The same id twice: the second create fails, the first is untouched.
	u.RunWith(t, outFile(t), "create", "-b", good, "dup")
	if r := u.RunWith(t, outFile(t), "create", "-b", good, "dup"); r.Code == 0 || !strings.Contains(u.LastError(), "exists") {
		t.Fatalf("duplicate create: %s %q", r, u.LastError())
	}
	if s := u.Status(t, "dup"); s != "created" {
		t.Fatalf("first container: %s", s)
	}
	// Start twice, kill a stopped container.
	u.MustRun(t, "start", "dup")
	if r := u.Run(t, "start", "dup"); r.Code == 0 || !strings.Contains(u.LastError(), "running") {
		t.Fatalf("second start: %s %q", r, u.LastError())
	}
	u.MustRun(t, "kill", "dup", "9")
	e2e.WaitFor(t, 10e9, "stopped", func() bool { return u.Status(t, "dup") == "stopped" })
	// runc's wording, on stderr too: containerd's shim matches "container
	// not running" in the output to treat the kill as already done.
	if r := u.Run(t, "kill", "dup", "KILL"); r.Code == 0 || !strings.Contains(u.LastError(), "container not running") || !strings.Contains(r.Stderr, "container not running") {
		t.Fatalf("kill of stopped: %s %q", r, u.LastError())
	}
	// kill --all of a stopped container succeeds, as with runc 1.1.
	u.MustRun(t, "kill", "--all", "dup", "KILL")
	u.MustRun(t, "delete", "dup")
	// exec is refused for unikernels.
	u.RunWith(t, outFile(t), "create", "-b", good, "ex")
	if r := u.Run(t, "exec", "ex", "/bin/sh"); r.Code == 0 || !strings.Contains(u.LastError(), "not supported for unikernel") {
		t.Fatalf("exec: %s %q", r, u.LastError())
	}
	u.MustRun(t, "delete", "-f", "ex")
}

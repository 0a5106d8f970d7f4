package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urunc-dev/urunc/runtime/state"
)

func TestExplain(t *testing.T) {
	ran := func(rule string) *state.VMMInfo {
		return &state.VMMInfo{Binary: "/usr/bin/qemu-system-x86_64", ExitRule: rule}
	}
	cases := []struct {
		name             string
		info             *state.VMMInfo
		vmm              int
		failure, vmmLine string
		status           int
		reason           string
	}{
		{"unknown VMM", nil, 3, "", "", 3, "exited 3"},
		{"never exec'd", &state.VMMInfo{}, 1, "", "", 1, "exited 1 before the VMM ran"},
		{"raw status", ran("raw"), 0, "", "", 0, "guest exited 0"},
		{"raw failure", ran("raw"), 7, "", "", 7, "guest exited 7"},
		{"killed", ran("raw"), 137, "", "", 137, "VMM killed by SIGKILL"},
		{"unikraft halt", ran("unikraft"), 83, "", "", 0, "guest exited 0"},
		{"unikraft crash", ran("unikraft"), 85, "", "", 1, "guest exited 1"},
		{"VMM error", ran("unikraft"), 1, "", "qemu-system-x86_64: -kernel k: No such file", 1,
			"VMM exited 1: qemu-system-x86_64: -kernel k: No such file"},
		{"VMM error unknown", ran("linux-init"), 2, "", "", 2, "VMM exited 2 (not the guest's status)"},
		{"VMM error, raw rule", ran("raw"), 1, "", "qemu: invalid kernel header", 1, "VMM exited 1: qemu: invalid kernel header"},
		{"a VMM line on a clean exit", ran("raw"), 0, "", "qemu-system-x86_64: terminating on signal 15", 0, "guest exited 0"},
		{"linux init", ran("linux-init"), 7, "", "", 3, "guest exited 3"},
		{"failure marker on a clean exit", ran("raw"), 0, "Init function at 0x1 returned error -95", "", 1,
			"guest failed: Init function at 0x1 returned error -95"},
		{"failure marker keeps a status", ran("unikraft"), 85, "] CRIT: [x]", "", 1, "guest failed: ] CRIT: [x]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := Explain(c.info, c.vmm, c.failure, c.vmmLine)
			if o.Status != c.status || o.Reason != c.reason || o.VMMStatus != c.vmm {
				t.Fatalf("got %+v, want status %d reason %q", o, c.status, c.reason)
			}
		})
	}
}

func TestConsoleLines(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stdio := write("stdio", "Hello\r\nqemu-system-x86_64: -kernel x: error\r\nguest line\nqemu: invalid kernel header\nqemu-system-x86_64: warning: not this\nqemux: nor this\n")
	if got := VMMErrorLine(stdio, "/usr/bin/qemu-system-x86_64"); got != "qemu: invalid kernel header" {
		t.Fatalf("VMMErrorLine = %q", got)
	}
	if got := VMMErrorLine(stdio, "/usr/bin/solo5-hvt"); got != "" {
		t.Fatalf("another VMM's line: %q", got)
	}
	if got := VMMErrorLine(filepath.Join(dir, "missing"), "qemu"); got != "" {
		t.Fatalf("missing file: %q", got)
	}
	// Only the tail of a huge console is read.
	big := write("big", "] CRIT: [old]\n"+strings.Repeat("x", consoleTail)+"\nInit function at 0x2 returned error -1\r\n")
	markers := []string{"Init function at ", "] CRIT: ["}
	if got := failureLine(big, markers); got != "Init function at 0x2 returned error -1" {
		t.Fatalf("failureLine = %q", got)
	}
	if got := failureLine(big, nil); got != "" {
		t.Fatalf("no markers: %q", got)
	}
}

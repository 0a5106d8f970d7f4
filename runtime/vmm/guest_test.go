package vmm

import (
	"errors"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	for _, name := range []string{"unikraft", "rumprun", "mirage", "mewz", "hermit", "linux"} {
		g, err := LookupGuest(name)
		if err != nil || g.Name() != name {
			t.Fatalf("%s: %v", name, err)
		}
		if len(g.Monitors()) == 0 {
			t.Fatalf("%s: no monitors", name)
		}
	}
	if _, err := LookupGuest("osv"); !errors.Is(err, ErrUnknownGuest) || !strings.Contains(err.Error(), `"osv"`) {
		t.Fatalf("osv: %v", err)
	}
	if m := (Linux{}).DefaultMachine(); m != "microvm" {
		t.Fatal(m)
	}
	for _, g := range []Guest{Unikraft{}, Rumprun{}, Mirage{}, Mewz{}, Hermit{}} {
		if g.DefaultMachine() != "pc" {
			t.Fatalf("%s: %s", g.Name(), g.DefaultMachine())
		}
	}
}

func TestQuoteWord(t *testing.T) {
	tests := []struct {
		in, out string
		ok      bool
	}{
		{"plain", "plain", true},
		{"", `""`, true},
		{"two words", `"two words"`, true},
		{"it's", `"it's"`, true},
		{`say "hi"`, `'say "hi"'`, true},
		{`both " and '`, "", false},
		{"tab\tx", "", false},
		{"nl\nx", "", false},
		{`a b\`, "", false},
		{`back\slash`, `back\slash`, true},
	}
	for _, tt := range tests {
		got, ok := quoteWord(tt.in)
		if got != tt.out || ok != tt.ok {
			t.Errorf("quoteWord(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.out, tt.ok)
		}
	}
	if _, ok := quoteDouble(`a"b`); ok {
		t.Error(`quoteDouble accepted a double quote`)
	}
	if got, _ := quoteDouble("a b"); got != `"a b"` {
		t.Error(got)
	}
}

func TestUnikraftVersions(t *testing.T) {
	for v, want := range map[string]bool{
		"": true, "0.16.1": true, "v0.16.1": true, "0.16.2": true, "0.17": true, "1.0.0-rc1": true,
		"0.16.0": false, "0.15.9": false, "v0.9": false, "0": false, "garbage": true,
	} {
		if got := unikraftCurrent(v); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}

func TestUnikraftCmdline(t *testing.T) {
	base := Request{Guest: "unikraft", Hypervisor: QEMU, Process: Process{Args: []string{"-c", "/etc/a b.conf"}}}
	b, err := Unikraft{}.Boot(base)
	if err != nil || b.Cmdline != `Unikraft -- -c "/etc/a b.conf"` {
		t.Fatalf("%q %v", b.Cmdline, err)
	}
	// The fallback: the cmdline key, as given.
	base.Process.Args = nil
	base.Cmdline = " echo=x  "
	if b, _ = (Unikraft{}).Boot(base); b.Cmdline != "Unikraft -- echo=x" {
		t.Fatalf("%q", b.Cmdline)
	}
	base.Cmdline = ""
	// No arguments: still "--", or Unikraft would not read its boot
	// parameters (0.15-0.17).
	if b, _ = (Unikraft{}).Boot(base); b.Cmdline != "Unikraft --" {
		t.Fatalf("%q", b.Cmdline)
	}
	// Current format: the nameserver is always there (upstream), the
	// request's or 8.8.8.8; an empty gateway keeps its place.
	for _, tc := range []struct {
		n    Net
		want string
	}{
		{Net{IP: "10.0.0.2", PrefixLen: 24, Gateway: "10.0.0.1", DNS: "10.0.0.53"}, "Unikraft netdev.ip=10.0.0.2/24:10.0.0.1:10.0.0.53 --"},
		{Net{IP: "10.0.0.2", PrefixLen: 24, Gateway: "10.0.0.1"}, "Unikraft netdev.ip=10.0.0.2/24:10.0.0.1:8.8.8.8 --"},
		{Net{IP: "10.0.0.2", PrefixLen: 24}, "Unikraft netdev.ip=10.0.0.2/24::8.8.8.8 --"},
	} {
		req := base
		req.Net = &tc.n
		if b, err := (Unikraft{}).Boot(req); err != nil || b.Cmdline != tc.want {
			t.Fatalf("%+v: %q %v, want %q", tc.n, b.Cmdline, err, tc.want)
		}
	}
	// Old format, no gateway: no empty parameter.
	base.Version = "0.15.0"
	base.Net = &Net{IP: "10.0.0.2", PrefixLen: 16}
	if b, _ = (Unikraft{}).Boot(base); b.Cmdline != "Unikraft netdev.ipv4_addr=10.0.0.2 netdev.ipv4_subnet_mask=255.255.0.0 --" {
		t.Fatalf("%q", b.Cmdline)
	}
}

func TestHermitSeparator(t *testing.T) {
	r := Request{Guest: "hermit", Hypervisor: QEMU}
	if b, _ := (Hermit{}).Boot(r); b.Cmdline != "" {
		t.Fatalf("%q", b.Cmdline)
	}
	r.Process.Args = []string{"x"}
	if b, _ := (Hermit{}).Boot(r); b.Cmdline != "x" {
		t.Fatalf("%q", b.Cmdline)
	}
	r.Net = &Net{IP: "10.0.0.2", PrefixLen: 24, Gateway: "10.0.0.1"}
	if b, _ := (Hermit{}).Boot(r); b.Cmdline != "ip=10.0.0.2/24 gateway=10.0.0.1 -- x" {
		t.Fatalf("%q", b.Cmdline)
	}
}

func TestRumprunJSONEscaping(t *testing.T) {
	r := Request{Guest: "rumprun", Hypervisor: HVT, Cmdline: `a "b" <c> & d\e`}
	b, err := Rumprun{}.Boot(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"cmdline":"a \"b\" <c> & d\\e"}`; b.Cmdline != want {
		t.Fatalf("%s, want %s", b.Cmdline, want)
	}
}

// Without urunc's init the cmdline key is the program and its arguments;
// with it, the prepared command line is used as given.
func TestLinuxInitCmdline(t *testing.T) {
	r := Request{Guest: "linux", Hypervisor: QEMU, Cmdline: "console=ttyS0 rdinit=/init", Initrd: "/i"}
	b, err := Linux{}.Boot(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := "panic=-1 console=ttyS0 root=/dev/ram0 rw rdinit=console=ttyS0 -- rdinit=/init"; b.Cmdline != want {
		t.Fatalf("%q", b.Cmdline)
	}
	r.Linux = &LinuxInit{Cmdline: "console=ttyS0 rdinit=/init"}
	if b, err = (Linux{}).Boot(r); err != nil || b.Cmdline != r.Linux.Cmdline {
		t.Fatalf("%q %v", b.Cmdline, err)
	}
}

func TestRumprunOnLinkPrefix(t *testing.T) {
	for _, c := range []struct {
		ip, gw string
		prefix int
		want   int
	}{
		{"10.4.0.2", "10.4.0.1", 24, 24},
		{"10.4.0.2", "", 24, 24},
		{"10.1.2.3", "10.1.3.1", 24, 23},
		{"10.1.2.3", "169.254.1.1", 32, 0},
		{"192.168.1.2", "192.168.1.1", 32, 30},
	} {
		n := &Net{IP: c.ip, Gateway: c.gw, PrefixLen: c.prefix}
		if got := onLinkPrefix(n); got != c.want {
			t.Errorf("%s gw %s /%d: /%d, want /%d", c.ip, c.gw, c.prefix, got, c.want)
		}
	}
}

// The VMM's status as the guest's, per exit rule.
func TestExitRuleDecode(t *testing.T) {
	for _, c := range []struct {
		rule       ExitRule
		vmm, guest int
		ok         bool
	}{
		{ExitRaw, 0, 0, true}, {ExitRaw, 255, 255, true}, {ExitRaw, 1, 1, true}, {"", 7, 7, true},
		{ExitLinuxInit, 0, 0, true}, {ExitLinuxInit, 15, 7, true}, {ExitLinuxInit, 255, 127, true}, {ExitLinuxInit, 1, 1, false}, {ExitLinuxInit, 2, 2, false},
		{ExitUnikraft, 83, 0, true}, {ExitUnikraft, 0, 0, true}, {ExitUnikraft, 85, 1, true}, {ExitUnikraft, 1, 1, false}, {ExitUnikraft, 137, 137, false},
	} {
		if got, ok := c.rule.Decode(c.vmm); got != c.guest || ok != c.ok {
			t.Errorf("%s %d: %d %v, want %d %v", c.rule, c.vmm, got, ok, c.guest, c.ok)
		}
	}
}

// Unikraft reports its shutdown on port 0x501 only when the runtime
// decodes the VMM's status (a clean exit would read 83 to an engine);
// its console failure markers always go with the plan.
func TestUnikraftExitDevice(t *testing.T) {
	fakePath(t, allBinaries()...)
	r := baseRequest("unikraft", "qemu")
	p, err := build(r)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(p.Argv, " ")
	if p.Exit.Rule != ExitRaw || strings.Contains(all, "0x501") || !strings.Contains(all, DebugExitDevice) || len(p.Exit.FailureMarkers) == 0 {
		t.Fatalf("engine-reaped: rule %q markers %v argv %s", p.Exit.Rule, p.Exit.FailureMarkers, all)
	}
	r.DecodesExit = true
	p, _ = build(r)
	all = strings.Join(p.Argv, " ")
	if p.Exit.Rule != ExitUnikraft || !strings.Contains(all, UnikraftDebugExitDevice) || !strings.Contains(all, DebugExitDevice) {
		t.Fatalf("decoded: rule %q argv %s", p.Exit.Rule, all)
	}
	r.Hypervisor = "firecracker"
	if p, _ = build(r); p.Exit.Rule != ExitRaw {
		t.Fatalf("firecracker: rule %q", p.Exit.Rule)
	}
	l := baseRequest("linux", "qemu")
	l.Linux = &LinuxInit{Cmdline: "console=ttyS0"}
	l.Shares = []Share{{Kind: Share9P, HostPath: "/r", Tag: "t", Root: true}}
	if p, _ = build(l); p.Exit.Rule != ExitLinuxInit {
		t.Fatalf("linux init: rule %q", p.Exit.Rule)
	}
}

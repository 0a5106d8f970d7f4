package accel

import "testing"

func TestDecide(t *testing.T) {
	hw := Facts{KVMOpen: true, HardwareVT: true}
	pvm := Facts{KVMOpen: true, PVM: true}
	none := Facts{KVMError: "no such file"}
	tests := []struct {
		name                string
		f                   Facts
		r                   Request
		accel, cpu, machine string
	}{
		{"hardware kvm", hw, Request{}, "kvm", "host", "microvm"},
		{"pvm auto -> tcg", pvm, Request{}, "tcg", "", "microvm"},
		{"no kvm", none, Request{GuestMachine: "pc"}, "tcg", "", "pc"},
		{"forced kvm on pvm", pvm, Request{Accel: "kvm"}, "kvm", "host,-arch-capabilities", "microvm"},
		{"forced tcg", hw, Request{Accel: "tcg", Machine: "pc"}, "tcg", "", "pc"},
		{"cpu override", hw, Request{CPU: "max"}, "kvm", "max", "microvm"},
		{"auto strings", hw, Request{Accel: "auto", CPU: "auto", Machine: "auto", GuestMachine: "pc"}, "kvm", "host", "pc"},
	}
	for _, tt := range tests {
		c := Decide(tt.f, tt.r)
		if c.Accel != tt.accel || c.CPU != tt.cpu || c.Machine != tt.machine || c.AccelReason == "" || c.MachineReason == "" {
			t.Errorf("%s: got %+v", tt.name, c)
		}
	}
}

func TestProbeRuns(t *testing.T) {
	f := Probe()
	if !f.KVMOpen && f.KVMError == "" {
		t.Fatal("no KVM and no reason")
	}
}

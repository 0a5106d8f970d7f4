package container

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/state"
)

func TestVCPUs(t *testing.T) {
	q := func(v int64) *int64 { return &v }
	p := func(v uint64) *uint64 { return &v }
	tests := []struct {
		name string
		cpu  *specs.LinuxCPU
		want int
	}{
		{"none", nil, 1},
		{"quota 1.5 cpus", &specs.LinuxCPU{Quota: q(150000), Period: p(100000)}, 2},
		{"quota 2 cpus", &specs.LinuxCPU{Quota: q(200000), Period: p(100000)}, 2},
		{"tiny quota", &specs.LinuxCPU{Quota: q(1000), Period: p(100000)}, 1},
		{"cpuset", &specs.LinuxCPU{Cpus: "0-2,4"}, 4},
		{"bad cpuset", &specs.LinuxCPU{Cpus: "x"}, 1},
		{"unlimited quota", &specs.LinuxCPU{Quota: q(-1), Period: p(100000)}, 1},
	}
	for _, tt := range tests {
		spec := &specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{CPU: tt.cpu}}}
		if got := vcpus(spec, 1); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestMemoryMB(t *testing.T) {
	l := func(v int64) *int64 { return &v }
	tests := []struct {
		limit   *int64
		want    uint64
		wantErr bool
	}{
		{limit: nil, want: 256},
		{limit: l(-1), want: 256},
		{limit: l(512 << 20), want: 448},
		{limit: l(72 << 20), want: 8},
		{limit: l(71 << 20), wantErr: true},
		{limit: l(1 << 20), wantErr: true},
	}
	for _, tt := range tests {
		spec := &specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: tt.limit}}}}
		got, err := memoryMB(spec, 256, 64)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("limit %v: %d, %v; want %d (error %v)", tt.limit, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, config.ErrBadBundle) {
			t.Errorf("limit %v: %v is not config.ErrBadBundle", tt.limit, err)
		}
	}
}

func TestNamespacePlan(t *testing.T) {
	netns := filepath.Join(t.TempDir(), "netns")
	os.WriteFile(netns, nil, 0o600)
	tests := []struct {
		name     string
		ns       []specs.LinuxNamespace
		joins    int
		wantErr  error
		hasFlags bool
	}{
		{name: "all new", ns: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}}, hasFlags: true},
		{name: "join net", ns: []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: netns}}, joins: 1},
		{name: "missing path", ns: []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/nonexistent"}}, wantErr: config.ErrBadBundle},
		{name: "join mount", ns: []specs.LinuxNamespace{{Type: specs.MountNamespace, Path: netns}}, wantErr: ErrUnsupported},
		{name: "user ns", ns: []specs.LinuxNamespace{{Type: specs.UserNamespace}}, wantErr: ErrUnsupported},
	}
	for _, tt := range tests {
		flags, joins, err := namespacePlan(&specs.Spec{Linux: &specs.Linux{Namespaces: tt.ns}})
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: err %v", tt.name, err)
			}
			continue
		}
		if err != nil || len(joins) != tt.joins || (flags != 0) != tt.hasFlags {
			t.Errorf("%s: flags %x joins %v err %v", tt.name, flags, joins, err)
		}
	}
}

func TestChildFailure(t *testing.T) {
	tests := []struct {
		name   string
		events []state.Event
		want   string
	}{
		{"no journal entry", nil, ""},
		{"child failed after START", []state.Event{{Step: state.StepStartReceived}, {Step: state.StepFailed, Detail: "init", Error: "boom"}}, "; the child said: boom"},
		{"failure before this START", []state.Event{{Step: state.StepFailed, Detail: "init", Error: "old"}, {Step: state.StepStartReceived}}, ""},
		{"another command's failure", []state.Event{{Step: state.StepStartReceived}, {Step: state.StepFailed, Detail: "kill", Error: "x"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := state.Create(t.TempDir(), "c1")
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range tt.events {
				d.AppendEvent(e)
			}
			if got := childFailure(d, state.StepStartReceived); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

package cgroups

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cg "github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urunc-dev/urunc/internal/testenv"
)

func TestConfigPaths(t *testing.T) {
	tests := []struct {
		name           string
		req            Request
		systemdRunning bool
		wantPath       string
		wantSystemd    bool
		wantUnit       [3]string // parent, prefix, name
		wantNote       bool
		wantErr        bool
	}{
		{name: "default", req: Request{ID: "c1"}, wantPath: "/urunc/c1"},
		{name: "absolute", req: Request{ID: "c1", Path: "/docker/abc"}, wantPath: "/docker/abc"},
		{name: "relative", req: Request{ID: "c1", Path: "pod/c1"}, wantPath: "pod/c1"},
		{name: "unclean", req: Request{ID: "c1", Path: "/kubepods//burstable/"}, wantPath: "/kubepods/burstable"},
		{name: "dotdot", req: Request{ID: "c1", Path: "/docker/../../etc"}, wantErr: true},
		{name: "root", req: Request{ID: "c1", Path: "/"}, wantErr: true},
		{name: "systemd path without flag", req: Request{ID: "c1", Path: "system.slice:docker:abc"}, wantErr: true},
		{name: "systemd, no systemd", req: Request{ID: "c1", Path: "system.slice:docker:abc", Systemd: true},
			wantPath: "/system.slice/docker-abc.scope", wantNote: true},
		{name: "systemd nested slice", req: Request{ID: "c1", Path: "kubepods-besteffort.slice:cri-containerd:abc", Systemd: true},
			wantPath: "/kubepods.slice/kubepods-besteffort.slice/cri-containerd-abc.scope", wantNote: true},
		{name: "systemd default", req: Request{ID: "c1", Systemd: true}, wantPath: "/system.slice/urunc-c1.scope", wantNote: true},
		{name: "systemd empty slice", req: Request{ID: "c1", Path: ":urunc:c1", Systemd: true}, wantPath: "/system.slice/urunc-c1.scope", wantNote: true},
		{name: "systemd running", req: Request{ID: "c1", Path: "machine.slice:urunc:c1", Systemd: true}, systemdRunning: true,
			wantSystemd: true, wantUnit: [3]string{"machine.slice", "urunc", "c1"}},
		{name: "systemd two parts", req: Request{ID: "c1", Path: "system.slice:c1", Systemd: true}, wantErr: true},
		{name: "systemd with slash", req: Request{ID: "c1", Path: "/a:b:c", Systemd: true}, wantErr: true},
		{name: "systemd bad slice", req: Request{ID: "c1", Path: "system:urunc:c1", Systemd: true}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, note, err := Config(tt.req, tt.systemdRunning)
			if tt.wantErr {
				if !errors.Is(err, ErrBadPath) {
					t.Fatalf("err = %v, want ErrBadPath", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Path != tt.wantPath || c.Systemd != tt.wantSystemd || (note != "") != tt.wantNote {
				t.Fatalf("path %q systemd %v note %q", c.Path, c.Systemd, note)
			}
			if tt.wantSystemd && [3]string{c.Parent, c.ScopePrefix, c.Name} != tt.wantUnit {
				t.Fatalf("unit %s %s %s", c.Parent, c.ScopePrefix, c.Name)
			}
			if len(c.Devices) != 0 || c.SkipDevices {
				t.Fatal("device rules would be applied to the VMM, or the devices cgroup skipped")
			}
		})
	}
}

func TestResources(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	u16 := func(v uint16) *uint16 { return &v }
	tests := []struct {
		name string
		in   *specs.LinuxResources
		want cg.Resources
	}{
		{name: "nil", in: nil, want: cg.Resources{}},
		{name: "memory", in: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(128 << 20), Reservation: i64(64 << 20), Swap: i64(256 << 20)}},
			want: cg.Resources{Memory: 128 << 20, MemoryReservation: 64 << 20, MemorySwap: 256 << 20}},
		{name: "cpu", in: &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Cpus: "0", Mems: "0"}},
			want: cg.Resources{CpuShares: 512, CpuWeight: cg.ConvertCPUSharesToCgroupV2Value(512), CpuQuota: 50000, CpuPeriod: 100000, CpusetCpus: "0", CpusetMems: "0"}},
		{name: "pids", in: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(100)}}, want: cg.Resources{PidsLimit: i64(100)}},
		{name: "pids unlimited", in: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}}, want: cg.Resources{PidsLimit: i64(-1)}},
		{name: "blkio", in: &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(300)}}, want: cg.Resources{BlkioWeight: 300}},
		{name: "devices ignored", in: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}, want: cg.Resources{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Resources(tt.in)
			if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", tt.want) {
				if got.PidsLimit != nil && tt.want.PidsLimit != nil && *got.PidsLimit == *tt.want.PidsLimit {
					g, w := *got, tt.want
					g.PidsLimit, w.PidsLimit = nil, nil
					if fmt.Sprintf("%+v", g) == fmt.Sprintf("%+v", w) {
						return
					}
				}
				t.Fatalf("got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

// TestRealCgroup creates a cgroup on this machine's hierarchy with
// limits, moves a process in and removes it again.
func TestRealCgroup(t *testing.T) {
	testenv.RequireRoot(t) // creates cgroups
	id := fmt.Sprintf("unit-%d", os.Getpid())
	limit, quota, period, pids := int64(96<<20), int64(50000), uint64(100000), int64(64)
	p, err := Create(Request{ID: id, Path: "/urunc-test/" + id, Resources: &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &limit},
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period},
		Pids:   &specs.LinuxPids{Limit: &pids},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		p.Destroy()
		parents := map[string]string{}
		for ctl, dir := range p.Paths {
			parents[ctl] = filepath.Dir(dir) // the test's parent, /urunc-test
		}
		cg.RemovePaths(parents) // retries while the kernel still frees the child
	}()

	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleep.Process.Kill(); sleep.Wait() }()
	if err := p.Join(sleep.Process.Pid); err != nil {
		t.Fatal(err)
	}
	own, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", sleep.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(own), "/urunc-test/"+id) {
		t.Fatalf("process not in the cgroup:\n%s", own)
	}
	got, err := p.Pids()
	if err != nil || len(got) != 1 || got[0] != sleep.Process.Pid {
		t.Fatalf("pids %v %v", got, err)
	}
	if cg.IsCgroup2UnifiedMode() {
		expectFile(t, p.Main(), "memory.max", fmt.Sprint(limit))
		expectFile(t, p.Main(), "cpu.max", "50000 100000")
		expectFile(t, p.Main(), "pids.max", "64")
	} else {
		expectFile(t, p.Paths["memory"], "memory.limit_in_bytes", fmt.Sprint(limit))
		expectFile(t, p.Paths["cpu"], "cpu.cfs_quota_us", "50000")
		expectFile(t, p.Paths["pids"], "pids.max", "64")
	}
	newLimit := int64(80 << 20)
	if err := p.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &newLimit}}); err != nil {
		t.Fatal(err)
	}
	if !cg.IsCgroup2UnifiedMode() {
		expectFile(t, p.Paths["memory"], "memory.limit_in_bytes", fmt.Sprint(newLimit))
	}
	mem, err := p.Memory()
	if err != nil || mem.Limit != uint64(newLimit) { // usage: sleep's pages stay charged where they were made
		t.Fatalf("memory %+v %v", mem, err)
	}
	stats, err := p.Stats()
	if err != nil || stats.PidsStats.Current != 1 {
		t.Fatalf("stats %+v %v", stats, err)
	}

	sleep.Process.Kill()
	sleep.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err = p.Destroy()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Paths) < 2 {
		t.Fatalf("placement lost its paths: %v", p.Paths)
	}
	for ctl, dir := range p.Paths {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s cgroup %s left", ctl, dir)
		}
	}
}

func TestBadPathCreatesNothing(t *testing.T) {
	if _, err := Create(Request{ID: "x", Path: "/a/../../b"}); !errors.Is(err, ErrBadPath) {
		t.Fatalf("err = %v", err)
	}
}

func expectFile(t *testing.T, dir, name, want string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(data)); got != want {
		t.Fatalf("%s/%s = %q, want %q", dir, name, got, want)
	}
}

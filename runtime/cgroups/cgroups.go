// Package cgroups places a container's VMM in the cgroup its spec names
// (linux.cgroupsPath) with the spec's limits, so that the engine's
// accounting (docker stats, the runc.v2 shim's metrics, the kubelet) sees
// the VM. It is a thin layer over github.com/opencontainers/cgroups, the
// library runc uses: cgroup v1 (as on these machines, hybrid or not) and
// v2, cgroupfs paths and systemd-style "slice:prefix:name" paths.
package cgroups

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	cg "github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/cgroups/systemd"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrBadPath is a cgroupsPath that cannot name a cgroup.
var ErrBadPath = errors.New("invalid linux.cgroupsPath")

// Request says where a container's cgroup goes and what it limits.
type Request struct {
	ID string
	// Path is the spec's linux.cgroupsPath; empty means /urunc/<id>
	// (runc uses the id relative to its own cgroup; an absolute default
	// keeps urunc's containers together and easy to find).
	Path string
	// Systemd is runc's --systemd-cgroup: Path is "slice:prefix:name".
	Systemd   bool
	Resources *specs.LinuxResources
}

// Placement is a created cgroup: where it is, so that another urunc
// process (delete, update) can find it again.
type Placement struct {
	// Paths maps each v1 controller to its directory; v2 has the one key "".
	Paths map[string]string `json:"paths"`
	// Driver is "cgroupfs" or "systemd".
	Driver string `json:"driver"`
	// Note says what was decided and why (e.g. systemd not running).
	Note string `json:"note,omitempty"`
}

// FromState rebuilds a placement recorded in a container's state.
func FromState(paths map[string]string, driver string) *Placement {
	if len(paths) == 0 {
		return nil
	}
	return &Placement{Paths: paths, Driver: driver}
}

// Config turns a request into the library's cgroup description.
// systemdRunning reports whether systemd manages this host's cgroups: a
// systemd-style path without systemd is mapped to the cgroupfs path
// systemd would have used, so the cgroup still exists and is accounted.
func Config(req Request, systemdRunning bool) (*cg.Cgroup, string, error) {
	c := &cg.Cgroup{Resources: Resources(req.Resources)}
	path := req.Path
	if !req.Systemd {
		if path == "" {
			path = "/urunc/" + req.ID
		}
		if strings.Contains(path, ":") && !strings.HasPrefix(path, "/") {
			return nil, "", fmt.Errorf("%w: %q looks systemd-style (slice:prefix:name) but --systemd-cgroup was not given", ErrBadPath, path)
		}
		clean := filepath.Clean("/" + path)
		if clean == "/" || strings.Contains(path, "..") {
			return nil, "", fmt.Errorf("%w: %q", ErrBadPath, path)
		}
		if filepath.IsAbs(path) {
			c.Path = clean
		} else {
			c.Path = strings.TrimPrefix(clean, "/")
		}
		return c, "", nil
	}
	slice, prefix, name, err := splitSystemdPath(path, req.ID)
	if err != nil {
		return nil, "", err
	}
	if systemdRunning {
		c.Systemd = true
		c.Parent, c.ScopePrefix, c.Name = slice, prefix, name
		return c, "", nil
	}
	dir, err := systemd.ExpandSlice(slice)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrBadPath, err)
	}
	unit := name
	if !strings.HasSuffix(name, ".slice") {
		unit = name + ".scope"
		if prefix != "" {
			unit = prefix + "-" + unit
		}
	}
	c.Path = filepath.Join(dir, unit)
	return c, "systemd is not running here: the systemd-style path is used as the cgroupfs path systemd would have made, " + c.Path, nil
}

// splitSystemdPath parses "slice:prefix:name" as runc does; an empty path
// is system.slice:urunc:<id>.
func splitSystemdPath(path, id string) (slice, prefix, name string, err error) {
	if path == "" {
		return "system.slice", "urunc", id, nil
	}
	parts := strings.Split(path, ":")
	if len(parts) != 3 || parts[2] == "" || strings.Contains(path, "/") {
		return "", "", "", fmt.Errorf("%w: %q is not slice:prefix:name (systemd-style, as --systemd-cgroup requires)", ErrBadPath, path)
	}
	slice = parts[0]
	if slice == "" {
		slice = "system.slice"
	}
	return slice, parts[1], parts[2], nil
}

// Resources converts the spec's limits to the library's. Device rules are
// not: the VMM needs /dev/kvm, /dev/net/tun and /dev/vhost-*, which an
// engine's rules (made for a process container) deny, so the devices
// cgroup is joined but keeps its parent's rules; the VMM is confined to a
// minimal root instead.
func Resources(r *specs.LinuxResources) *cg.Resources {
	out := &cg.Resources{}
	if r == nil {
		return out
	}
	if m := r.Memory; m != nil {
		out.Memory = deref(m.Limit)
		out.MemoryReservation = deref(m.Reservation)
		out.MemorySwap = deref(m.Swap)
		out.MemorySwappiness = m.Swappiness
		if m.DisableOOMKiller != nil {
			out.OomKillDisable = *m.DisableOOMKiller
		}
	}
	if c := r.CPU; c != nil {
		out.CpuShares = deref(c.Shares)
		out.CpuQuota = deref(c.Quota)
		out.CpuPeriod = deref(c.Period)
		out.CpusetCpus = c.Cpus
		out.CpusetMems = c.Mems
		out.CpuBurst = c.Burst
		if out.CpuShares != 0 {
			out.CpuWeight = cg.ConvertCPUSharesToCgroupV2Value(out.CpuShares)
		}
	}
	if p := r.Pids; p != nil {
		limit := p.Limit
		if limit != nil && *limit <= 0 {
			unlimited := int64(-1)
			limit = &unlimited
		}
		out.PidsLimit = limit
	}
	if b := r.BlockIO; b != nil && b.Weight != nil {
		out.BlkioWeight = *b.Weight
	}
	if len(r.Unified) > 0 {
		out.Unified = r.Unified
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// Create makes the cgroup and applies its limits, before any process is
// in it, so the VMM never runs unlimited. The caller adds the pid with
// Join and removes the cgroup with Destroy on failure.
func Create(req Request) (*Placement, error) {
	cfg, note, err := Config(req, systemd.IsRunningSystemd())
	if err != nil {
		return nil, err
	}
	m, err := manager.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", describe(cfg), err)
	}
	if err := m.Apply(-1); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", describe(cfg), err)
	}
	p := &Placement{Paths: existing(m.GetPaths()), Driver: "cgroupfs", Note: note}
	if cfg.Systemd {
		p.Driver = "systemd"
	}
	if err := m.Set(cfg.Resources); err != nil {
		if derr := m.Destroy(); derr != nil {
			return nil, fmt.Errorf("set limits on cgroup %s: %w (and removing it: %w)", describe(cfg), err, derr)
		}
		return nil, fmt.Errorf("set limits on cgroup %s: %w", describe(cfg), err)
	}
	return p, nil
}

// Join moves pid into the placement's cgroup (every v1 controller).
func (p *Placement) Join(pid int) error {
	m, err := p.manager()
	if err != nil {
		return err
	}
	if err := m.AddPid("", pid); err != nil {
		return fmt.Errorf("move pid %d into cgroup %s: %w", pid, p.Main(), err)
	}
	return nil
}

// OnlyUnified returns the cgroup's directory when it is a pure cgroup v2
// placement: a child can then be cloned straight into it
// (CLONE_INTO_CGROUP) and never migrates.
func (p *Placement) OnlyUnified() (string, bool) {
	dir, ok := p.Paths[""]
	return dir, ok && len(p.Paths) == 1
}

// JoinThread moves the calling OS thread alone into every v1 hierarchy of
// the placement by writing 0 to its tasks file. Unlike moving a whole
// process (cgroup.procs), which takes the kernel's global threadgroup lock
// and waits for an RCU grace period (6-20 ms on these machines), moving
// the current thread is cheap. It is meant for the process's leader
// thread just before it execs the VMM: the exec keeps only that thread,
// and /proc/<pid>/cgroup shows the leader's cgroups. The hybrid unified
// hierarchy (no controllers) is skipped: v2 moves whole processes only.
func (p *Placement) JoinThread() error {
	for ctl, dir := range p.Paths {
		if ctl == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, "tasks"), []byte("0"), 0); err != nil {
			return fmt.Errorf("move this thread into cgroup %s: %w", dir, err)
		}
	}
	return nil
}

// Update applies new limits to an existing cgroup (urunc update).
func (p *Placement) Update(r *specs.LinuxResources) error {
	m, err := p.manager()
	if err != nil {
		return err
	}
	res := Resources(r)
	if err := m.Set(res); err != nil {
		return fmt.Errorf("update cgroup %s: %w", p.Main(), err)
	}
	return nil
}

// Pids lists the processes in the cgroup.
func (p *Placement) Pids() ([]int, error) {
	m, err := p.manager()
	if err != nil {
		return nil, err
	}
	return m.GetAllPids()
}

// Stats returns the library's statistics of the cgroup.
func (p *Placement) Stats() (*cg.Stats, error) {
	m, err := p.manager()
	if err != nil {
		return nil, err
	}
	return m.GetStats()
}

// MemoryUse is the cgroup's memory accounting (VMM + guest).
type MemoryUse struct {
	Usage, MaxUsage, Limit uint64 // bytes; Limit 0 = none
	Failcnt                uint64 // times the limit was hit
}

// Memory reads the cgroup's memory use and limit.
func (p *Placement) Memory() (MemoryUse, error) {
	m, err := p.manager()
	if err != nil {
		return MemoryUse{}, err
	}
	// Only the memory controller: the console reads this every second.
	st, err := m.Stats(&cg.StatsOptions{Controllers: cg.Memory})
	if err != nil {
		return MemoryUse{}, fmt.Errorf("cgroup %s: %w", p.Main(), err)
	}
	use := st.MemoryStats.Usage
	u := MemoryUse{Usage: use.Usage, MaxUsage: use.MaxUsage, Limit: use.Limit, Failcnt: use.Failcnt}
	if u.Limit >= 1<<60 { // "max" / PAGE_COUNTER_MAX: no limit
		u.Limit = 0
	}
	return u, nil
}

// Destroy removes the cgroup; it must hold no process any more.
func (p *Placement) Destroy() error {
	if p == nil || len(p.Paths) == 0 {
		return nil
	}
	m, err := p.manager()
	if err != nil {
		return err
	}
	if err := m.Destroy(); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", p.Main(), err)
	}
	return nil
}

// Main is the directory most tools show: the memory controller's on v1
// (also on hybrid hosts, whose unified hierarchy has no controllers), the
// unified one on v2.
func (p *Placement) Main() string {
	for _, k := range []string{"memory", "cpu", "pids", ""} {
		if v, ok := p.Paths[k]; ok {
			return v
		}
	}
	for _, v := range p.Paths {
		return v
	}
	return ""
}

func (p *Placement) manager() (cg.Manager, error) {
	cfg := &cg.Cgroup{Resources: &cg.Resources{}, Systemd: p.Driver == "systemd"}
	// The library deletes entries of the map it is given as it removes
	// directories: it gets a copy, the placement stays as recorded.
	m, err := manager.NewWithPaths(cfg, maps.Clone(p.Paths))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", p.Main(), err)
	}
	return m, nil
}

// existing keeps the controllers whose directory was made (the library
// names controllers that are not mounted, e.g. v1 net_cls, too).
func existing(paths map[string]string) map[string]string {
	out := make(map[string]string, len(paths))
	for ctl, dir := range paths {
		if _, err := os.Stat(dir); err == nil {
			out[ctl] = dir
		}
	}
	return out
}

func describe(c *cg.Cgroup) string {
	if c.Systemd {
		return c.Parent + ":" + c.ScopePrefix + ":" + c.Name
	}
	return c.Path
}

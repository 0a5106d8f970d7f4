package tui

import (
	"sync"

	"github.com/shirou/gopsutil/v3/process"
)

// Sampler measures VMM processes with gopsutil. It keeps one
// process.Process per pid across calls, so Percent(0) is the CPU used
// since the previous sample (100 = one core), not since the process began.
type Sampler struct {
	mu    sync.Mutex
	procs map[int]*process.Process
}

// NewSampler returns an empty sampler.
func NewSampler() *Sampler {
	// gopsutil re-reads /proc/stat for the boot time on every sample of
	// every pid unless told to keep it: the boot time does not change.
	process.EnableBootTimeCache(true)
	return &Sampler{procs: map[int]*process.Process{}}
}

// Sample returns CPU% and RSS (MiB) of each live pid.
func (s *Sampler) Sample(pids []int) map[int][2]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int][2]float64{}
	seen := map[int]bool{}
	for _, pid := range pids {
		seen[pid] = true
		p, ok := s.procs[pid]
		if !ok {
			var err error
			if p, err = process.NewProcess(int32(pid)); err != nil {
				continue
			}
			s.procs[pid] = p
		}
		// One read of /proc/<pid>/status tells gone and zombie apart from alive.
		if isZombie(p) {
			delete(s.procs, pid)
			continue
		}
		cpu, err := p.Percent(0)
		if err != nil {
			delete(s.procs, pid)
			continue
		}
		var rss float64
		if mi, err := p.MemoryInfo(); err == nil {
			rss = float64(mi.RSS) / (1 << 20)
		}
		out[pid] = [2]float64{cpu, rss}
	}
	for pid := range s.procs {
		if !seen[pid] {
			delete(s.procs, pid)
		}
	}
	return out
}

// isZombie: an exited VMM nobody reaped yet is gone for the console.
func isZombie(p *process.Process) bool {
	st, err := p.Status()
	if err != nil {
		return true
	}
	for _, s := range st {
		if s == process.Zombie {
			return true
		}
	}
	return false
}

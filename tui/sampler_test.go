package tui

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cpuTicks is pid's user+system time in clock ticks (/proc/PID/stat).
func cpuTicks(t *testing.T, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return utime + stime
}

// The sampler keeps one process object per pid: the second sample of a
// busy process is its CPU use since the first (a real delta), and a pid
// that is gone is left out (and forgotten).
func TestSampler(t *testing.T) {
	busy := exec.Command("sh", "-c", "while :; do :; done")
	if err := busy.Start(); err != nil {
		t.Skip(err)
	}
	defer busy.Process.Kill()
	pid := busy.Process.Pid
	s := NewSampler()
	first := s.Sample([]int{pid, 1 << 30})
	if _, ok := first[1<<30]; ok {
		t.Fatal("a missing pid was sampled")
	}
	if first[pid][0] != 0 {
		t.Fatalf("first sample %.1f%%: no previous sample to compare with, want 0", first[pid][0])
	}
	// Wait until the loop has had some CPU (a loaded machine may give it
	// little): the sample is then a delta over a non-zero use, whatever
	// the wall time took.
	for deadline := time.Now().Add(30 * time.Second); cpuTicks(t, pid) < 5 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	second := s.Sample([]int{pid})
	if cpu, rss := second[pid][0], second[pid][1]; cpu <= 0 || cpu > 100*float64(runtime.NumCPU())+10 || rss <= 0 {
		t.Fatalf("busy loop: %.1f%% CPU, %.1f MiB", cpu, rss)
	}
	busy.Process.Kill()
	busy.Wait()
	if got := s.Sample([]int{pid}); len(got) != 0 {
		t.Fatalf("dead pid sampled: %v", got)
	}
	if len(s.procs) != 0 {
		t.Fatalf("dead pid kept: %v", s.procs)
	}
	// Our own process, alive: sampled.
	if _, ok := s.Sample([]int{os.Getpid()})[os.Getpid()]; !ok {
		t.Fatal("self not sampled")
	}
}

package reliability_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
)

// hostSnapshot is what a lifecycle may leak on the host outside the root.
type hostSnapshot struct {
	links, qdiscs, cgroups []string
}

func snapshot(prefix string) hostSnapshot {
	var s hostSnapshot
	out, _ := exec.Command("ip", "-o", "link", "show").Output()
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			s.links = append(s.links, strings.TrimSuffix(strings.Split(f[1], "@")[0], ":"))
		}
	}
	out, _ = exec.Command("tc", "qdisc", "show").Output()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			s.qdiscs = append(s.qdiscs, l)
		}
	}
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.Contains(filepath.Base(p), prefix) {
			s.cgroups = append(s.cgroups, p)
		}
		return nil
	})
	return s
}

func added(before, after []string) []string {
	seen := map[string]bool{}
	for _, b := range before {
		seen[b] = true
	}
	var extra []string
	for _, a := range after {
		if !seen[a] {
			extra = append(extra, a)
		}
	}
	sort.Strings(extra)
	return extra
}

// TestSoak runs create/start/kill/delete lifecycles in parallel, checking
// each step, then that nothing is left: no state dir or socket, process,
// mount, host link (tap), qdisc or cgroup. In the suite: 10 lifecycles, 5 at
// a time; make soak: URUNC_SOAK=50 URUNC_SOAK_PAR=10.
func TestSoak(t *testing.T) {
	u := setup(t)
	n, par := envInt("URUNC_SOAK", 10), envInt("URUNC_SOAK_PAR", 5)
	bundle := heartbeat(t)
	prefix := fmt.Sprintf("soak%d-", os.Getpid())
	before := snapshot(prefix)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id := fmt.Sprintf("%s%d", prefix, i)
			err := lifecycle(t, u, bundle, id)
			if err != nil {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%s: %v", id, err))
				mu.Unlock()
				runBounded(t, u, nil, 15*time.Second, nil, "delete", "--force", id)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	t.Logf("SOAK: %d lifecycles, %d at a time: wall %v, %d failures", n, par, wall.Round(time.Millisecond), len(failures))
	for _, f := range failures {
		t.Error(f)
	}
	clean(t, u)
	after := snapshot(prefix)
	if l := added(before.links, after.links); len(l) != 0 {
		t.Errorf("links left: %v", l)
	}
	if q := added(before.qdiscs, after.qdiscs); len(q) != 0 {
		t.Errorf("qdiscs left: %v", q)
	}
	if len(after.cgroups) != 0 {
		t.Errorf("cgroups left: %v", after.cgroups)
	}
}

func lifecycle(t *testing.T, u *e2e.URunc, bundle, id string) error {
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"create", "-b", bundle, id}, "created"},
		{[]string{"start", id}, "running"},
		{[]string{"kill", id, "KILL"}, "stopped"},
		{[]string{"delete", id}, ""},
	}
	for _, s := range steps {
		if o := runBounded(t, u, nil, 20*time.Second, nil, s.args...); o.timedOut || o.code != 0 {
			return fmt.Errorf("%s: exit %d timed out %v: %s", s.args[0], o.code, o.timedOut, strings.TrimSpace(o.out))
		}
		if s.want == "" {
			continue
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := status(t, u, id)
			if got == s.want {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("after %s: status %q, want %q", s.args[0], got, s.want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, err := os.Stat(filepath.Join(u.Root, id)); err == nil {
		return fmt.Errorf("directory left after delete")
	}
	return nil
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

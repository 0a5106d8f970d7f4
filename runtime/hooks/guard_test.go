package hooks

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The test binary doubles as the guard and as a process running a hook
// (to be killed mid-hook), as urunc does with its hidden command.
func TestMain(m *testing.M) {
	switch os.Getenv("HOOKS_TEST_ROLE") {
	case "guard":
		pgid, err := ParseGuardArgs(os.Args[1:])
		if err == nil {
			err = Guard(os.Stdin, pgid)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "runner":
		guard := []string{"/usr/bin/env", "HOOKS_TEST_ROLE=guard", os.Args[0]}
		if os.Getenv("HOOKS_TEST_UNGUARDED") != "" {
			guard = nil
		}
		h := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "sleep 30 & echo $$ $! > " + os.Getenv("HOOKS_TEST_PIDS") + "; wait"}}
		Run(context.Background(), CreateRuntime, []specs.Hook{h}, struct{}{}, Limits{Default: time.Minute, Guard: guard}, Observer{})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A process running a hook is killed mid-hook: the hook's leader dies
// with it (Pdeathsig), the rest of its group only thanks to the guard.
func TestGuardKillsGroupWhenRunnerDies(t *testing.T) {
	for _, guarded := range []bool{true, false} {
		t.Run(fmt.Sprintf("guarded=%v", guarded), func(t *testing.T) {
			pids := filepath.Join(t.TempDir(), "pids")
			runner := exec.Command(os.Args[0])
			runner.Env = append(os.Environ(), "HOOKS_TEST_ROLE=runner", "HOOKS_TEST_PIDS="+pids)
			if !guarded {
				runner.Env = append(runner.Env, "HOOKS_TEST_UNGUARDED=1")
			}
			if err := runner.Start(); err != nil {
				t.Fatal(err)
			}
			waitFile(t, pids)
			f := strings.Fields(readFile(pids))
			if len(f) != 2 {
				t.Fatalf("pids: %q", f)
			}
			leader, _ := strconv.Atoi(f[0])
			bg, _ := strconv.Atoi(f[1])
			defer syscall.Kill(bg, syscall.SIGKILL)
			runner.Process.Kill()
			runner.Wait()
			if !eventually(func() bool { return !alive(leader) }) {
				t.Fatal("the hook's leader outlived the process running it")
			}
			// Killed at once when guarded; unguarded it lives on (we look for 0.5 s).
			if guarded != within(map[bool]time.Duration{true: 3 * time.Second, false: 500 * time.Millisecond}[guarded], func() bool { return !alive(bg) }) {
				t.Fatalf("guarded %v: the hook's background child alive: %v", guarded, alive(bg))
			}
		})
	}
}

// The guard's two answers: "done" leaves the group alone, EOF kills it.
func TestGuard(t *testing.T) {
	for _, input := range []string{"done\n", "", "garbage"} {
		t.Run(fmt.Sprintf("%q", input), func(t *testing.T) {
			g := exec.Command("/bin/sh", "-c", "sleep 30")
			g.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := g.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { g.Process.Kill(); g.Wait() }()
			if err := Guard(strings.NewReader(input), g.Process.Pid); err != nil {
				t.Fatal(err)
			}
			killed := within(map[bool]time.Duration{true: 500 * time.Millisecond, false: 3 * time.Second}[input == "done\n"], func() bool {
				var ws syscall.WaitStatus
				pid, _ := syscall.Wait4(g.Process.Pid, &ws, syscall.WNOHANG, nil)
				return pid == g.Process.Pid
			})
			if killed != (input != "done\n") {
				t.Fatalf("group killed: %v", killed)
			}
		})
	}
	for _, args := range [][]string{nil, {"1"}, {"0"}, {"-5"}, {"x"}, {"12", "13"}, {"012"}} {
		if _, err := ParseGuardArgs(args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func eventually(cond func() bool) bool { return within(3*time.Second, cond) }

// within reports whether cond held within d.
func within(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func readFile(p string) string {
	data, _ := os.ReadFile(p)
	return string(data)
}

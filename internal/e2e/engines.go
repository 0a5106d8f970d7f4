package e2e

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EngineLockPath serialises the suites that start container engines
// (dockerd, containerd, CRI) or change the host's packages, across test
// binaries and developers on one machine: a test holds it from before
// its engine starts until everything is stopped and removed.
const EngineLockPath = "/run/urunc-engine-tests.lock"

// engineLock is this process's hold on EngineLockPath (re-entrant: a test
// that holds it may start an engine that takes it too).
var engineLock struct {
	sync.Mutex
	f     *os.File
	holds int
}

// LockEngines takes EngineLockPath for the rest of the test, waiting up
// to 20 minutes for another process to let go.
func LockEngines(t testing.TB) {
	t.Helper()
	engineLock.Lock()
	defer engineLock.Unlock()
	if engineLock.holds == 0 {
		f, err := os.OpenFile(EngineLockPath, os.O_CREATE|os.O_RDWR, 0o644) //nolint:gosec // G302: an empty lock file every test run shares
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for {
			err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			if err == nil {
				break
			}
			if !errors.Is(err, syscall.EWOULDBLOCK) {
				f.Close()
				t.Fatalf("flock %s: %v", EngineLockPath, err)
			}
			if time.Since(start) > 20*time.Minute {
				f.Close()
				t.Fatalf("%s still held by another process after 20 minutes", EngineLockPath)
			}
			time.Sleep(time.Second)
		}
		if d := time.Since(start); d > time.Second {
			t.Logf("waited %v for %s", d.Round(time.Second), EngineLockPath)
		}
		engineLock.f = f
	}
	engineLock.holds++
	t.Cleanup(func() {
		engineLock.Lock()
		defer engineLock.Unlock()
		if engineLock.holds--; engineLock.holds == 0 {
			_ = syscall.Flock(int(engineLock.f.Fd()), syscall.LOCK_UN) // Close releases it anyway
			engineLock.f.Close()
			engineLock.f = nil
		}
	})
}

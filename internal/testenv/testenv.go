// Package testenv is the switch for tests that change the machine: they
// need root and create namespaces, cgroups, taps and mounts, run qemu or
// start container engines. They run only when URUNC_E2E=1 (make e2e and
// make test set it), so `go test ./...` and `make unit` are fast and safe
// anywhere (containerd's -test.root, as an environment variable because
// every test binary of the tree gets the same arguments).
package testenv

import (
	"os"
	"testing"
)

// Switch is the environment variable that enables end-to-end tests.
const Switch = "URUNC_E2E"

// Enabled reports whether end-to-end tests were asked for.
func Enabled() bool { return os.Getenv(Switch) == "1" }

// Require skips t unless end-to-end tests were asked for (it runs real
// VMs, builds binaries or drives a terminal, and takes seconds).
func Require(t testing.TB) {
	t.Helper()
	if !Enabled() {
		t.Skip("end-to-end test: set " + Switch + "=1 to run it (make e2e, make test)")
	}
}

// RequireRoot is Require for tests that also need root; the message says
// which is missing.
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t)
	if os.Geteuid() != 0 {
		t.Skip("end-to-end test: needs root (creates namespaces, cgroups and taps, runs qemu)")
	}
}

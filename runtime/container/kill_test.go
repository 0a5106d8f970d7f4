package container

import (
	"context"
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/state"
)

// stoppedContainer makes a root holding container id, stopped.
func stoppedContainer(t *testing.T, id string) string {
	t.Helper()
	root := t.TempDir()
	d, err := state.Create(root, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteState(&state.State{State: specs.State{Version: specs.Version, ID: id, Status: specs.ContainerState(state.Stopped)}}); err != nil {
		t.Fatal(err)
	}
	return root
}

// containerd's runc shim turns a kill error into NotFound (ignored by CRI
// StopContainer and by task delete's final SIGKILL) only when the message
// contains runc's "container not running"; "container is not running"
// made crictl stop fail on every unikernel container whose VMM had exited.
func TestKillStoppedWording(t *testing.T) {
	root := stoppedContainer(t, "c1")
	rt := New(Options{Root: root})
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGKILL} {
		err := rt.Kill(context.Background(), "c1", sig, false)
		if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "container not running") {
			t.Errorf("kill %v of a stopped container: %v; want runc's \"container not running\"", sig, err)
		}
	}
}

// runc 1.1 returns success for `kill --all` of a stopped container (there
// is nothing to signal); containerd's shim sends it after each exit of a
// container without its own pid namespace.
func TestKillAllStopped(t *testing.T) {
	root := stoppedContainer(t, "c1")
	if err := New(Options{Root: root}).Kill(context.Background(), "c1", unix.SIGKILL, true); err != nil {
		t.Errorf("kill --all of a stopped container: %v", err)
	}
}

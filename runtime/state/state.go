package state

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// State is the OCI state of a container plus the fields runc adds and the
// ones urunc needs to tell a live VMM from a reused pid.
type State struct {
	specs.State
	Rootfs  string    `json:"rootfs,omitempty"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
	// PidStartTime is field 22 of /proc/<pid>/stat when pid was recorded;
	// a process with the same pid but another start time is not ours.
	PidStartTime uint64 `json:"pidStartTime,omitempty"`
	// Guest and Hypervisor are copied from the unikernel config so that
	// tools can show them without reading the bundle.
	Guest      string `json:"unikernelType,omitempty"`
	Hypervisor string `json:"hypervisor,omitempty"`
	// CgroupPaths is where the VMM's cgroup is (runc's cgroup_paths: one
	// directory per v1 controller, or "" for v2) and CgroupDriver which
	// manager made it; delete and update find it here.
	CgroupPaths  map[string]string `json:"cgroup_paths,omitempty"`
	CgroupDriver string            `json:"cgroupDriver,omitempty"`
	// DecodesExit says the process that created the container reaps the
	// VMM and maps its exit status to the guest's (urunc run, the native
	// shim), so the VMM may report the guest's outcome through its status.
	DecodesExit bool `json:"decodesExit,omitempty"`
}

// StatusOf returns the status as a typed value.
func (s *State) StatusOf() Status { return Status(s.Status) }

// ReadState loads state.json and corrects the status for a process that
// has died since it was written: the stored status says what urunc last
// did, the returned one is true now.
func (d Dir) ReadState() (*State, error) {
	var st State
	if err := d.readJSON(StateFile, &st); err != nil {
		return nil, err
	}
	if st.ID != d.ID || !Status(st.Status).Valid() {
		return nil, fmt.Errorf("%w: %s: id %q status %q", ErrCorrupt, StateFile, st.ID, st.Status)
	}
	switch {
	case Status(st.Status).Live() && !Alive(st.Pid, st.PidStartTime):
		st.Status = specs.ContainerState(Stopped)
	case Status(st.Status) == Creating && !d.Locked():
		// create holds the lock until it finishes or fails cleanly; a
		// creating container nobody holds is what a crashed create left.
		st.Status = specs.ContainerState(Stopped)
	case Status(st.Status) == Created && d.runsVMM(st.Pid):
		// The child exec'd the VMM but start died before recording it:
		// the guest runs.
		st.Status = specs.ContainerState(Running)
	}
	return &st, nil
}

// runsVMM reports whether pid now executes the VMM binary named in
// vmm.json (its comm is the binary's name, cut to 15 bytes as the kernel
// does), not the urunc child waiting for START.
func (d Dir) runsVMM(pid int) bool {
	v, err := d.ReadVMM()
	if err != nil || v.Binary == "" || pid <= 0 {
		return false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return false
	}
	want := filepath.Base(v.Binary)
	if len(want) > 15 {
		want = want[:15]
	}
	return strings.TrimSuffix(string(comm), "\n") == want
}

// WriteState replaces state.json atomically. Hold the lock while calling it.
func (d Dir) WriteState(st *State) error {
	return d.writeJSON(StateFile, st)
}

// SetStatus moves the stored status to next if the transition is allowed.
// Hold the lock while calling it.
func (d Dir) SetStatus(st *State, next Status) error {
	if err := Status(st.Status).CanTransition(next); err != nil {
		return err
	}
	prev := st.Status
	st.Status = specs.ContainerState(next)
	if err := d.WriteState(st); err != nil {
		st.Status = prev
		return err
	}
	return nil
}

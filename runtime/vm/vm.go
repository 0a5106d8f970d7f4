// Package vm turns a container's unikernel configuration into the exact
// command line of a virtual machine monitor (VMM). It combines a guest type
// (runtime/guests: how the guest's own command line looks) with a
// hypervisor (runtime/hypervisors: how the monitor is invoked).
//
// The container lifecycle calls Validate at create time (fail early, name
// the problem) and Build right before it execs the monitor.
//
// The types live in runtime/vm/vmtypes (so that the guest and hypervisor
// packages can use them without an import cycle); the names here are
// aliases of those, not copies.
package vm

import "github.com/urunc-dev/urunc/runtime/vm/vmtypes"

// Sentinel errors. Wrap them with %w and a message that names the value.
var (
	ErrUnknownGuest      = vmtypes.ErrUnknownGuest
	ErrUnknownHypervisor = vmtypes.ErrUnknownHypervisor
	ErrUnsupportedPair   = vmtypes.ErrUnsupportedPair
	ErrNotInstalled      = vmtypes.ErrNotInstalled
	ErrInvalidValue      = vmtypes.ErrInvalidValue
)

type (
	// Network describes the container's network as the guest must see it.
	// A nil *Network means the guest runs without a NIC.
	Network = vmtypes.Network
	// SharedFS shares a host directory with the guest as its root filesystem.
	SharedFS = vmtypes.SharedFS
	// Volume is a further host directory shared with the guest.
	Volume = vmtypes.Volume
	// Process is what the container's config.json asks to run.
	Process = vmtypes.Process
	// Request is everything needed to build one VMM invocation.
	Request = vmtypes.Request
	// File is a file the runtime must write before exec'ing the monitor.
	File = vmtypes.File
	// Plan is the result of Build: exactly what to exec.
	Plan = vmtypes.Plan
)

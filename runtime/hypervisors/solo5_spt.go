package hypervisors

import (
	"github.com/urunc-dev/urunc/runtime/guests"
	"github.com/urunc-dev/urunc/runtime/vm/vmtypes"
)

// SPT is solo5-spt (a seccomp-sandboxed process tender: it installs its
// own filter, so Plan.Seccomp stays false).
type SPT struct{}

func (SPT) Name() string   { return guests.SPT }
func (SPT) Binary() string { return "solo5-spt" }

func (s SPT) Build(path string, req vmtypes.Request, boot *guests.Boot) (*vmtypes.Plan, error) {
	return solo5Build("solo5-spt", s.Binary(), path, req, boot)
}

package hypervisors

import (
	"github.com/urunc-dev/urunc/runtime/guests"
	"github.com/urunc-dev/urunc/runtime/seccomp"
	"github.com/urunc-dev/urunc/runtime/vm/vmtypes"
)

// HVT is solo5-hvt (a KVM tender). The runtime applies a seccomp filter
// before exec (Plan.Seccomp, profile solo5-hvt of runtime/seccomp).
type HVT struct{}

func (HVT) Name() string   { return guests.HVT }
func (HVT) Binary() string { return "solo5-hvt" }

func (h HVT) Build(path string, req vmtypes.Request, boot *guests.Boot) (*vmtypes.Plan, error) {
	p, err := solo5Build("solo5-hvt", h.Binary(), path, req, boot)
	if err != nil {
		return nil, err
	}
	p.Seccomp, p.SeccompProfile = true, seccomp.HVT
	return p, nil
}

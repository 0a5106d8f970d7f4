package hypervisors

import (
	"github.com/urunc-dev/urunc/runtime/guests"
	"github.com/urunc-dev/urunc/runtime/seccomp"
	"github.com/urunc-dev/urunc/runtime/vm/vmtypes"
)

// SPT is solo5-spt (a seccomp-sandboxed process tender). It installs its
// own filter once the guest is loaded; the runtime's outer filter (profile
// solo5-spt of runtime/seccomp) covers the loading before that.
type SPT struct{}

func (SPT) Name() string   { return guests.SPT }
func (SPT) Binary() string { return "solo5-spt" }

func (s SPT) Build(path string, req vmtypes.Request, boot *guests.Boot) (*vmtypes.Plan, error) {
	p, err := solo5Build("solo5-spt", s.Binary(), path, req, boot)
	if err != nil {
		return nil, err
	}
	p.Seccomp, p.SeccompProfile = true, seccomp.SPT
	return p, nil
}

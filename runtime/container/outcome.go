package container

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/runtime/vmm"
)

// Outcome is how a container's guest ended, as the process that reaped
// its VMM can tell.
type Outcome struct {
	VMMStatus int    // the VMM's exit status (128+N when killed by signal N)
	Status    int    // the guest's: decoded by the plan's exit rule, 1 when its console says it failed
	Reason    string // in words, for the journal, logs and the console
}

// consoleTail is how much of the end of the guest console Outcome reads
// for failure markers.
const consoleTail = 64 << 10

// Outcome reads the guest's outcome from the VMM's exit status, the exit
// rule and failure markers vmm.json recorded, and the end of the guest
// console, and journals it. A VMM that ran no guest (never exec'd) keeps
// its status.
func (r *Runtime) Outcome(id string, vmmStatus int) Outcome {
	o := Outcome{VMMStatus: vmmStatus, Status: vmmStatus}
	d, err := state.Open(r.opts.Root, id)
	if err != nil {
		o.Reason = fmt.Sprintf("exited %d", vmmStatus)
		return o
	}
	info, err := d.ReadVMM()
	if err != nil || info.Binary == "" {
		o.Reason = fmt.Sprintf("exited %d before the VMM ran", vmmStatus)
		return o
	}
	status, fromGuest := vmm.ExitRule(info.ExitRule).Decode(vmmStatus)
	switch {
	case vmmStatus > 128 && vmmStatus < 128+65:
		o.Reason = fmt.Sprintf("VMM killed by %s", unix.SignalName(unix.Signal(vmmStatus-128)))
	case !fromGuest:
		o.Reason = fmt.Sprintf("VMM exited %d (not the guest's status)", vmmStatus)
	default:
		o.Status = status
		o.Reason = fmt.Sprintf("guest exited %d", status)
	}
	if line := failureLine(d.File(state.SerialFile), info.FailureMarkers); line != "" {
		if o.Status == 0 {
			o.Status = 1
		}
		o.Reason = "guest failed: " + line
	}
	r.event(d, state.Event{Step: state.StepExited, Detail: fmt.Sprintf("status %d: %s", o.Status, o.Reason)})
	return o
}

// failureLine is the first console line (of the last consoleTail bytes)
// holding one of markers, or "".
func failureLine(serialLog string, markers []string) string {
	if len(markers) == 0 {
		return ""
	}
	f, err := os.Open(serialLog)
	if err != nil {
		return ""
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Size() > consoleTail {
		if _, err := f.Seek(info.Size()-consoleTail, io.SeekStart); err != nil {
			return ""
		}
	}
	data, _ := io.ReadAll(io.LimitReader(f, consoleTail))
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(strings.ReplaceAll(sc.Text(), "\r", ""))
		for _, m := range markers {
			if strings.Contains(line, m) {
				return line
			}
		}
	}
	return ""
}

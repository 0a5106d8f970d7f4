package container

import (
	"bufio"
	"bytes"
	"context"
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
// console, and journals it (step exited, with the status). A VMM that ran
// no guest (never exec'd) keeps its status.
func (r *Runtime) Outcome(id string, vmmStatus int) Outcome {
	return r.OutcomeWithVMMError(id, vmmStatus, "")
}

// OutcomeWithVMMError is Outcome for a reaper that also saw what the VMM
// itself printed (its stderr, which the container's stdio gets): vmmLine
// is its last error line ("" = none), the reason when the status is not
// the guest's.
func (r *Runtime) OutcomeWithVMMError(id string, vmmStatus int, vmmLine string) Outcome {
	d, err := state.Open(r.opts.Root, id)
	if err != nil {
		return Explain(nil, vmmStatus, "", vmmLine)
	}
	info, _ := d.ReadVMM()
	failure := ""
	if info != nil {
		failure = failureLine(d.File(state.SerialFile), info.FailureMarkers)
	}
	o := Explain(info, vmmStatus, failure, vmmLine)
	status := o.Status
	r.event(d, state.Event{Step: state.StepExited, Detail: fmt.Sprintf("status %d: %s", o.Status, o.Reason), Status: &status})
	return o
}

// Explain turns what is known of a VMM's end into the guest's outcome:
// the VMM's description (nil: unknown), its exit status, the first
// console line holding a failure marker ("" = none) and the VMM's own
// last error line ("" = none).
func Explain(info *state.VMMInfo, vmmStatus int, failure, vmmLine string) Outcome {
	o := Outcome{VMMStatus: vmmStatus, Status: vmmStatus}
	switch {
	case info == nil:
		o.Reason = fmt.Sprintf("exited %d", vmmStatus)
		return o
	case info.Binary == "":
		o.Reason = fmt.Sprintf("exited %d before the VMM ran", vmmStatus)
		return o
	}
	status, fromGuest := vmm.ExitRule(info.ExitRule).Decode(vmmStatus)
	switch {
	case vmmStatus > 128 && vmmStatus < 128+65:
		o.Reason = fmt.Sprintf("VMM killed by %s", unix.SignalName(unix.Signal(vmmStatus-128)))
	case vmmStatus != 0 && vmmLine != "":
		// The VMM said why it failed: even a status a guest could have
		// given (the raw rule takes every status for the guest's) is the
		// VMM's own then.
		o.Reason = fmt.Sprintf("VMM exited %d: %s", vmmStatus, vmmLine)
	case !fromGuest:
		o.Reason = fmt.Sprintf("VMM exited %d (not the guest's status)", vmmStatus)
	default:
		o.Status = status
		o.Reason = fmt.Sprintf("guest exited %d", status)
	}
	if failure != "" {
		if o.Status == 0 {
			o.Status = 1
		}
		o.Reason = "guest failed: " + failure
	}
	return o
}

// VMMErrorLine is the last error line of a VMM's own output (its
// stderr, mixed into the container's stdio with the guest console): a
// line the VMM prefixed with its program name, as qemu and the Solo5
// tenders do ("qemu-system-x86_64: -kernel x: ...", and qemu's loaders'
// "qemu: invalid kernel header"), warnings left out; or "". Only the last
// 64 KiB of the file are read.
func VMMErrorLine(stdio, binary string) string {
	if binary == "" {
		return ""
	}
	base := binary[strings.LastIndexByte(binary, '/')+1:]
	prefixes := []string{base + ":"}
	if strings.HasPrefix(base, "qemu-system-") {
		prefixes = append(prefixes, "qemu:")
	}
	last := ""
	scanTail(stdio, func(line string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) && !strings.HasPrefix(strings.TrimSpace(line[len(p):]), "warning:") {
				last = line
			}
		}
		return true
	})
	return last
}

// failureLine is the first console line (of the last consoleTail bytes)
// holding one of markers, or "".
func failureLine(serialLog string, markers []string) string {
	if len(markers) == 0 {
		return ""
	}
	found := ""
	scanTail(serialLog, func(line string) bool {
		for _, m := range markers {
			if strings.Contains(line, m) {
				found = line
				return false
			}
		}
		return true
	})
	return found
}

// scanTail calls f on each line (trimmed, carriage returns removed) of
// the last consoleTail bytes of path until f returns false.
func scanTail(path string, f func(string) bool) {
	file, err := os.Open(path)
	if err != nil {
		return
	}
	defer file.Close()
	if info, err := file.Stat(); err == nil && info.Size() > consoleTail {
		if _, err := file.Seek(info.Size()-consoleTail, io.SeekStart); err != nil {
			return
		}
	}
	data, _ := io.ReadAll(io.LimitReader(file, consoleTail))
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), consoleTail)
	for sc.Scan() {
		if !f(strings.TrimSpace(strings.ReplaceAll(sc.Text(), "\r", ""))) {
			return
		}
	}
}

// Reap waits for the VMM of container id to exit, reaps it and returns
// (and journals) the guest's outcome. Only a process the VMM is a child
// of can: the caller is an ancestor of "urunc create" that made itself a
// child subreaper (state.SetChildSubreaper; urunc-dev does), so the
// re-exec child, later the VMM, is handed to it when create exits. stdio
// is the file that got the container's stdio ("" = unknown), where the
// VMM's own error line is looked for. A container whose VMM is not the
// caller's child fails with state.ErrNotChild.
func (r *Runtime) Reap(ctx context.Context, id, stdio string) (Outcome, error) {
	d, err := state.Open(r.opts.Root, id)
	if err != nil {
		return Outcome{}, err
	}
	st, err := d.ReadState()
	if err != nil {
		return Outcome{}, err
	}
	status, err := state.WaitChild(ctx, st.Pid, st.PidStartTime)
	if err != nil {
		return Outcome{}, err
	}
	line := ""
	if info, err := d.ReadVMM(); err == nil && stdio != "" {
		line = VMMErrorLine(stdio, info.Binary)
	}
	return r.OutcomeWithVMMError(id, status, line), nil
}

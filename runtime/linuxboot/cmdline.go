package linuxboot

import (
	"strconv"
	"strings"
)

// CmdlineOptions tunes KernelCmdline.
type CmdlineOptions struct {
	// Console is the kernel console device; default "ttyS0" (COM1, which
	// qemu -serial connects to the container's output).
	Console string
	// Verbose keeps the kernel's boot messages (loglevel=7); by default
	// the console shows only the container's output and urunc-init errors.
	Verbose bool
	// TSCKHz, if > 0, adds tsc_early_khz= (see HostTSCKHz). Needed on
	// microvm under TCG, where the guest kernel cannot calibrate its clock
	// and hangs early in boot otherwise; harmless under KVM.
	TSCKHz int
	// MitigationsOff adds mitigations=off: ~0.1-0.2 s faster boots and
	// faster guest code under TCG, at the cost of the guest kernel's
	// CPU-vulnerability mitigations between the container's own processes.
	MitigationsOff bool
	// Extra parameters appended as given (e.g. module parameters such as
	// "virtio_mmio.device=..."; urunc-init passes "<module>.<param>=" to
	// the modules it loads, as modprobe would).
	Extra []string
}

// KernelCmdline returns the kernel command line for a guest booted with an
// initrd from BuildInitrd. The container's process is NOT on the command
// line: it is in ConfigPath inside the initrd.
//
//   - rdinit=/init runs urunc-init from the initrd;
//   - panic=-1 and reboot=t make a kernel panic reboot at once via a triple
//     fault, which qemu -no-reboot turns into an exit;
//   - quiet loglevel=1 keep boot noise off the container's output;
//   - init_on_alloc=0 and audit=0 save ~0.1 s of boot under TCG;
//   - the i8042 options skip probing a keyboard controller microvm lacks;
//   - tsc_early_khz= (CmdlineOptions.TSCKHz) gives the TSC frequency.
func KernelCmdline(o CmdlineOptions) string {
	console := o.Console
	if console == "" {
		console = "ttyS0"
	}
	p := []string{
		"console=" + console,
		"rdinit=" + InitPath,
		"panic=-1",
		"reboot=t",
		"i8042.noaux",
		"i8042.nomux",
		"i8042.nopnp",
		"i8042.dumbkbd",
		"random.trust_cpu=on",
		"init_on_alloc=0",
		"audit=0",
	}
	if o.MitigationsOff {
		p = append(p, "mitigations=off")
	}
	if o.TSCKHz > 0 {
		p = append(p, "tsc_early_khz="+strconv.Itoa(o.TSCKHz))
	}
	if o.Verbose {
		p = append(p, "loglevel=7")
	} else {
		p = append(p, "quiet", "loglevel=1")
	}
	p = append(p, o.Extra...)
	return strings.Join(p, " ")
}

package linuxboot

// How the guest program's exit status becomes qemu's exit status.
//
// Status 0: urunc-init reboots the guest (reboot(2) RESTART, kernel
// "reboot=t"); qemu runs with -no-reboot and so exits 0.
//
// Status N != 0: urunc-init writes DebugExitValue(N) to the isa-debug-exit
// port (qemu -device isa-debug-exit,iobase=0xf4,iosize=0x04). qemu then
// exits with (v<<1)|1, which the host truncates to 8 bits, so only 7 bits
// survive: N in 1..127 arrives as 2N+1 (3..255) and anything above 127
// (e.g. 137 for SIGKILL, 143 for SIGTERM) arrives as 127 ("127 or more").
// runtime/vmm (ExitLinuxInit.Decode) undoes the mapping.
//
// urunc-init's own failures use docker's codes: 125 (init could not set the
// container up), 126 (program found but not executable), 127 (program not
// found).
const (
	// DebugExitPort is the port of the VMM's exit device (runtime/vmm's
	// DebugExitDevice).
	DebugExitPort = 0xf4

	ExitInitFailed    = 125
	ExitNotExecutable = 126
	ExitNotFound      = 127
	// MaxExitStatus is the largest status that survives the trip.
	MaxExitStatus = 127
)

// DebugExitValue is the value urunc-init writes for guest status n (n != 0).
func DebugExitValue(n int) byte {
	if n <= 0 || n > MaxExitStatus {
		// Negative (killed, as Go reports it) or too large: clamp.
		return MaxExitStatus
	}
	return byte(n)
}

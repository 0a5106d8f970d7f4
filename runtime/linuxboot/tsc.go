package linuxboot

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNoTSC is returned by HostTSCKHz on hosts without an x86 TSC.
var ErrNoTSC = errors.New("host has no x86 TSC")

// HostTSCKHz measures the host's TSC frequency in kHz (rounded to the MHz),
// for CmdlineOptions.TSCKHz. Under TCG the guest's TSC ticks at the host's
// rate, but on qemu's microvm the guest kernel cannot calibrate it: the
// ACPI tables are "hardware reduced", so Linux ignores the PIT and, with no
// HPET or ACPI PM timer either, boots without a working clock and hangs
// after "tsc: Marking TSC unstable". tsc_early_khz= gives it the frequency.
// The measurement takes about 20 ms (less if ctx ends first, which is an
// error).
func HostTSCKHz(ctx context.Context) (int, error) {
	if !haveTSC {
		return 0, ErrNoTSC
	}
	best := 0.0
	for range 2 {
		t0, c0 := time.Now(), rdtsc()
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("measuring the TSC: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
		c1, t1 := rdtsc(), time.Now()
		khz := float64(c1-c0) / float64(t1.Sub(t0).Nanoseconds()) * 1e6
		if best == 0 || khz < best {
			best = khz // a preemption between the reads only lowers the time
		}
	}
	mhz := int(best/1000 + 0.5)
	if mhz <= 0 {
		return 0, fmt.Errorf("%w: measured %.0f kHz", ErrNoTSC, best)
	}
	return mhz * 1000, nil
}

package main

import (
	"testing"
	"time"
)

func TestParseBootProbe(t *testing.T) {
	const stable = "[    0.229325] sched_clock: Marking stable (206911743, 13736393)->(442748131, -222099995)\n"
	for _, tc := range []struct {
		name, out string
		want      bootProbeOut
		ok        bool
	}{
		{"all three", "urunc-bench up=0.41\n" + stable + "[    0.283512] Run /init as init process\n",
			bootProbeOut{up: 410 * time.Millisecond, initLog: 283512 * time.Microsecond, logOffset: 13736393}, true},
		{"CRLF, no offset line", "noise\r\nurunc-bench up=1.52\r\n[    1.301000] Run /init as init process\r\n",
			bootProbeOut{up: 1520 * time.Millisecond, initLog: 1301 * time.Millisecond}, true},
		{"no dmesg line", "urunc-bench up=0.41\n", bootProbeOut{}, false},
		{"no uptime", "[    0.283512] Run /init as init process\n", bootProbeOut{}, false},
		{"garbage", "urunc-bench up=x\n[ y] Run /init as init process\n", bootProbeOut{}, false},
	} {
		got, ok := parseBootProbe(tc.out)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%s: parseBootProbe = %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

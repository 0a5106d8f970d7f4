//go:build linux

package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Linux input event codes (linux/input-event-codes.h).
const (
	evKey    = 0x01
	keyPower = 116
	// struct input_event on 64-bit: timeval (16) + type, code (2+2) + value (4).
	inputEventSize = 24
)

// openPowerButton opens the evdev node of the ACPI power button, which
// qemu presses on QMP system_powerdown (what the runtime sends to stop a
// container gracefully). It returns nil if there is none: the VM then can
// only be stopped by killing qemu.
func openPowerButton(log logger) *os.File {
	names, _ := filepath.Glob("/sys/class/input/event*/device/name")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil || strings.TrimSpace(string(b)) != "Power Button" {
			continue
		}
		ev := filepath.Base(filepath.Dir(filepath.Dir(n)))
		f, err := os.Open("/dev/input/" + ev)
		if err != nil {
			log.printf("power button %s: %v", ev, err)
			continue
		}
		log.printf("power button: /dev/input/%s", ev)
		return f
	}
	log.printf("no power button: graceful stop unavailable")
	return nil
}

// watchPowerButton calls press for every power button press until f fails.
func watchPowerButton(f *os.File, press func()) {
	buf := make([]byte, inputEventSize*16)
	for {
		n, err := f.Read(buf)
		if err != nil {
			fmt.Fprintf(os.Stderr, "urunc-init: power button: %v\n", err)
			return
		}
		for off := 0; off+inputEventSize <= n; off += inputEventSize {
			ev := buf[off : off+inputEventSize]
			typ := binary.NativeEndian.Uint16(ev[16:])
			code := binary.NativeEndian.Uint16(ev[18:])
			value := int32(binary.NativeEndian.Uint32(ev[20:]))
			if typ == evKey && code == keyPower && value == 1 {
				press()
			}
		}
	}
}

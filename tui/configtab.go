package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// configView is the Config tab: what runs and why, from state.json (the
// OCI state urunc keeps) and vmm.json (what the runtime exec'd).
func configView(ctx *programContext, c *container) string {
	st := ctx.Styles
	var b strings.Builder
	kv := func(k, v string) {
		if v == "" {
			v = "-"
		}
		b.WriteString(st.Header.Render(fmt.Sprintf("%-14s", k)) + " " + truncate(v, max(10, ctx.Width-15)) + "\n")
	}
	section := func(s string) { b.WriteString(st.Title.Render(s) + "\n") }
	section("Container")
	if s := c.State; s != nil {
		kv("guest type", c.guest())
		kv("hypervisor", c.hypervisor())
		kv("bundle", s.Bundle)
		kv("rootfs", s.Rootfs)
		if !s.Created.IsZero() {
			kv("created", s.Created.In(ctx.Location).Format(time.RFC3339))
		}
		kv("owner", s.Owner)
		if s.Pid > 0 {
			kv("pid", fmt.Sprint(s.Pid))
		}
	} else {
		kv("state", "state.json not readable yet")
	}
	b.WriteString("\n")
	section("VMM")
	if v := c.VMM; v != nil {
		kv("binary", v.Binary)
		kv("accel", withReason(v.Accel, v.AccelReason))
		kv("machine", withReason(v.Machine, v.MachineReason))
		kv("cpu model", v.CPU)
		if v.MemoryMB > 0 || v.VCPUs > 0 {
			kv("memory", fmt.Sprintf("%d MiB, %d vCPU", v.MemoryMB, v.VCPUs))
		}
		kv("network", v.Network)
		kv("graceful stop", v.GracefulStop)
		kv("guest cmdline", v.GuestCmdline)
		if v.Console == "socket" {
			kv("console", "on "+c.ID+"/console.sock (a attaches in the Serial tab)")
		}
		if v.GDB != "" {
			kv("gdb stub", v.GDB+" (d runs gdb)")
			for _, l := range wrapCommand(v.GDBCommand, max(20, ctx.Width-4)) {
				b.WriteString("  " + l + "\n")
			}
		}
		b.WriteString(st.Header.Render(fmt.Sprintf("%-14s", "argv")) + "\n")
		for _, l := range wrapArgv(v.Argv, max(20, ctx.Width-4)) {
			b.WriteString("  " + l + "\n")
		}
	} else {
		kv("vmm.json", "not written yet: the VMM is exec'd by start")
	}
	if c.State != nil && len(c.State.Annotations) > 0 {
		b.WriteString("\n")
		section("Annotations")
		keys := make([]string, 0, len(c.State.Annotations))
		for k := range c.State.Annotations {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString(truncate("  "+k+"="+c.State.Annotations[k], ctx.Width) + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func withReason(v, why string) string {
	if why == "" {
		return v
	}
	return v + " (" + why + ")"
}

// wrapArgv lays the VMM's arguments out over lines of at most width,
// starting a new line before each option, as one would write it by hand.
func wrapArgv(argv []string, width int) []string {
	var lines []string
	cur := ""
	for _, a := range argv {
		a = shellQuote(a)
		if cur != "" && (strings.HasPrefix(a, "-") || len(cur)+1+len(a) > width) {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += a
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\$`;&|<>()") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// wrapCommand lays a command out as a shell would take it pasted: one
// line, or lines ending in " \\" where it is wider than width.
func wrapCommand(argv []string, width int) []string {
	var lines []string
	cur := ""
	for _, a := range argv {
		a = shellQuote(a)
		if cur != "" && len(cur)+1+len(a)+2 > width {
			lines = append(lines, cur+" \\")
			cur = "   "
		}
		if cur != "" && cur != "   " {
			cur += " "
		}
		cur += a
	}
	return append(lines, cur)
}

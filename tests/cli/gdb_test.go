package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
	"github.com/urunc-dev/urunc/runtime/qmp"
	"github.com/urunc-dev/urunc/runtime/state"
)

// The gdb stub (annotation com.urunc.vmm.gdb) with Debian's real gdb and
// the test unikernel's symbols: on gdb.sock in the state directory,
// reachable from the host although qemu runs in the container's network
// namespace and confined root; with "wait" the guest has not run a single
// instruction before gdb continues it.
func TestGDBStub(t *testing.T) {
	e2e.RequireGDB(t)
	for _, mode := range []string{"wait", "on"} {
		t.Run(mode, func(t *testing.T) {
			u := setup(t)
			b := e2e.NewBundle(t, e2e.Bundle{Cmdline: "heartbeat", Annotations: microvm(map[string]string{"com.urunc.vmm.gdb": mode})})
			id := "gdb-" + mode
			u.RunWith(t, outFile(t), "create", "-b", b, id)
			u.MustRun(t, "start", id)
			d := state.Dir{Root: u.Root, ID: id}
			info, err := d.ReadVMM()
			if err != nil {
				t.Fatal(err)
			}
			sock, kernel := d.File(state.GDBSock), filepath.Join(b, "rootfs", "unikernel", "app.elf")
			if info.GDB != mode || strings.Join(info.GDBCommand, " ") != "gdb -q -ex target remote "+sock+" "+kernel {
				t.Fatalf("vmm.json gdb %q, command %q", info.GDB, info.GDBCommand)
			}
			if !strings.Contains(strings.Join(info.Argv, " "), "-gdb chardev:gdb0") {
				t.Fatalf("argv: %q", info.Argv)
			}
			serial := d.File(state.SerialFile)
			if mode == "wait" {
				// Paused before its first instruction: qemu's prelaunch state.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, err := qmp.Dial(ctx, d.File(state.QMPSock))
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				raw, err := c.Execute("query-status")
				c.Close()
				var st struct {
					Running bool   `json:"running"`
					Status  string `json:"status"`
				}
				json.Unmarshal(raw, &st)
				if err != nil || st.Running || st.Status != "prelaunch" {
					t.Fatalf("query-status: %s %v", raw, err)
				}
				if e2e.ReadFile(serial) != "" {
					t.Fatalf("the guest printed before gdb continued it: %q", e2e.ReadFile(serial))
				}
			} else {
				e2e.WaitFor(t, 20*time.Second, "the guest's first heartbeat", func() bool { return e2e.FileContains(serial, "heartbeat 1") })
			}
			// A breakpoint on the timer interrupt's handler, hit; then the
			// guest goes on without gdb.
			out := e2e.GDBBatch(t, info.GDBCommand, "break isr_timer", "continue", "info registers rip", "delete", "detach")
			for _, want := range []string{"Breakpoint 1 at 0x", "Breakpoint 1, 0x", "in isr_timer ()", "<isr_timer>", "[Inferior 1 (process 1) detached]"} {
				if !strings.Contains(out, want) {
					t.Fatalf("gdb did not say %q:\n%s", want, out)
				}
			}
			// "wait": gdb found the vCPU at the reset vector, before any
			// firmware or guest instruction ran.
			if mode == "wait" && !strings.Contains(out, "0x000000000000fff0 in ?? ()") {
				t.Fatalf("not stopped at the first instruction:\n%s", out)
			}
			before := strings.Count(e2e.ReadFile(serial), "heartbeat")
			e2e.WaitFor(t, 20*time.Second, "the console going on after gdb", func() bool {
				return strings.Count(e2e.ReadFile(serial), "heartbeat") >= before+2
			})
			if !strings.Contains(e2e.ReadFile(serial), "Hello from the urunc test unikernel") {
				t.Fatalf("console: %q", e2e.ReadFile(serial))
			}
			u.MustRun(t, "delete", "--force", id)
		})
	}
}

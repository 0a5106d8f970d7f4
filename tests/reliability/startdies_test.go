package reliability_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/internal/e2e"
	"github.com/urunc-dev/urunc/runtime/ipc"
)

// TestStartDiesAfterSTART: `start` killed right after the child accepted
// START (the VMM boots, state.json still says created): the status must
// say the guest runs, and kill/delete must work.
func TestStartDiesAfterSTART(t *testing.T) {
	u := setup(t)
	out := stdio(t)
	if r := u.RunWith(t, out, "create", "-b", heartbeat(t), "sd"); r.Code != 0 {
		t.Fatal(u.LastError())
	}
	// What start does before it records "running", then nothing more.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ipc.Dial(ctx, filepath.Join(u.Root, "sd", "urunc.sock"))
	if err != nil {
		t.Fatal(err)
	}
	c.Write(ipc.Start, "")
	for {
		// The child first says what it runs (STEP storage, HOOK ..., DONE).
		m, _, err := c.Read(ctx)
		if err == nil && (m == ipc.Step || m == ipc.Hook || m == ipc.Done) {
			continue
		}
		if err != nil || m != ipc.OK {
			t.Fatalf("answer to START: %v %v", m, err)
		}
		break
	}
	c.Close()
	e2e.WaitFor(t, 15*time.Second, "heartbeat", func() bool { return e2e.FileContains(out.Name(), "heartbeat") })
	s := status(t, u, "sd")
	t.Logf("status with the guest running and start gone: %q", s)
	if r := u.Run(t, "start", "sd"); r.Code == 0 {
		t.Error("a second start succeeded")
	}
	u.MustRun(t, "kill", "sd", "KILL")
	e2e.WaitFor(t, 5*time.Second, "stopped", func() bool { return status(t, u, "sd") == "stopped" })
	u.MustRun(t, "delete", "sd")
	clean(t, u)
	if s != "running" {
		t.Fatalf("status %q while the VMM runs", s)
	}
}

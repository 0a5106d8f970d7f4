package container

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/urunc-dev/urunc/runtime/ipc"
)

// FaultEnv names the environment variable through which tests inject a
// crash or a hang at a named point of the lifecycle:
// URUNC_FAULT=<point>:kill (die at once, exit status 137, no clean-up; a
// signal to itself would not do: in a new pid namespace the child is its
// init and ignores it) or <point>:hang (block for a minute). Points: parent-after-spawn, parent-after-booted,
// parent-before-ack, child-before-booted, child-after-booted,
// child-after-acked, child-before-exec. One point changes behaviour
// instead: child-ignores-progress:on makes the child deaf to create's
// progress lines (HOOK, STEP, DONE), so that it gives up after the bare
// ACK margin while create runs a hook, as a child with a fixed limit
// would. It exists for the fault tests (docs/reliability.md); nothing
// sets it in normal use.
const FaultEnv = "URUNC_FAULT"

// faultSet reports whether URUNC_FAULT names point (whatever the action).
func faultSet(point string) bool {
	name, _, _ := strings.Cut(os.Getenv(FaultEnv), ":")
	return name == point
}

// deaf is a reader that drops progress lines (child-ignores-progress).
type deaf struct{ reader }

func (d deaf) Read(ctx context.Context) (ipc.Message, string, error) {
	for {
		m, arg, err := d.reader.Read(ctx)
		if err != nil || (m != ipc.Hook && m != ipc.Step && m != ipc.Done) {
			return m, arg, err
		}
	}
}

func faultPoint(point string) {
	v := os.Getenv(FaultEnv)
	if v == "" {
		return
	}
	name, action, _ := strings.Cut(v, ":")
	if name != point {
		return
	}
	switch action {
	case "hang":
		time.Sleep(time.Minute)
	default:
		os.Exit(137)
	}
}

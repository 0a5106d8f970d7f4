package container

import (
	"os"
	"strings"
	"time"
)

// FaultEnv names the environment variable through which tests inject a
// crash or a hang at a named point of the lifecycle:
// URUNC_FAULT=<point>:kill (die at once, exit status 137, no clean-up; a
// signal to itself would not do: in a new pid namespace the child is its
// init and ignores it) or <point>:hang (block for a minute). Points: parent-after-spawn, parent-after-booted,
// parent-before-ack, child-before-booted, child-after-booted,
// child-after-acked, child-before-exec. It exists for the fault tests
// (docs/reliability.md); nothing sets it in normal use.
const FaultEnv = "URUNC_FAULT"

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

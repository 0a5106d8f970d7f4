// Command containerd-shim-urunc-v2 is urunc's containerd shim v2
// (runtime_type io.containerd.urunc.v2): unikernel containers run
// in-process through runtime/container, others under containerd's runc
// task service (package shim). The same binary is the containers' re-exec
// child ("init"), as `urunc init` is urunc's.
package main

import (
	"os"
	"runtime"

	"github.com/urunc-dev/urunc/internal/version"
	"github.com/urunc-dev/urunc/runtime/container"
	"github.com/urunc-dev/urunc/shim"
)

func init() {
	// The re-exec child moves its main thread into the container's cgroup
	// and later execs the VMM from it: main stays on the leader thread.
	if len(os.Args) > 1 && os.Args[1] == container.InitCommand {
		runtime.LockOSThread()
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == container.InitCommand {
		os.Exit(shim.RunInit(os.Args[2:]))
	}
	shim.Version = version.Get().Release
	shim.Run()
}

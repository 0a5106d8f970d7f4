package container

import (
	"context"
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/urunc-dev/urunc/runtime/ipc"
)

// newConsole allocates a pty for the guest console.
func newConsole() (master, slave *os.File, err error) {
	master, slave, err = pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("allocate pty: %w", err)
	}
	return master, slave, nil
}

// sendConsole passes the pty master to whoever listens on socketPath
// (containerd's shim, docker) with SCM_RIGHTS, as runc does.
func sendConsole(ctx context.Context, socketPath string, master *os.File) error {
	conn, err := ipc.DialRaw(ctx, socketPath)
	if err != nil {
		return fmt.Errorf("console socket %s: %w", socketPath, err)
	}
	defer conn.Close()
	rights := unix.UnixRights(int(master.Fd()))
	if _, _, err := conn.WriteMsgUnix([]byte(master.Name()), rights, nil); err != nil {
		return fmt.Errorf("send console to %s: %w", socketPath, err)
	}
	return nil
}

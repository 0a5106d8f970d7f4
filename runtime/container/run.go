package container

import (
	"context"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// Run creates and starts a container. Detached, it returns once the VMM
// runs. In the foreground it forwards SIGINT/SIGTERM/SIGHUP to the
// container, waits for the VMM to exit, deletes the container and returns
// its exit status (for a Linux guest: the guest program's status).
func (r *Runtime) Run(ctx context.Context, o CreateOptions, detach bool) (int, error) {
	// In the foreground this process reaps the VMM and reads the guest's
	// outcome itself.
	o.DecodesExit = !detach
	proc, err := r.Create(ctx, o)
	if err != nil {
		return -1, err
	}
	if err := r.Start(ctx, o.ID); err != nil {
		if derr := r.Delete(context.WithoutCancel(ctx), o.ID, true); derr != nil {
			r.log.Warn("delete after a failed start", "id", o.ID, "error", derr)
		}
		return -1, err
	}
	if detach {
		return 0, nil
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			_ = r.Kill(ctx, o.ID, s.(unix.Signal), false) // it may be gone already: Wait reports how it ended
		}
	}()
	status, err := proc.Wait(ctx)
	if err == nil {
		out := r.Outcome(o.ID, status)
		status = out.Status
		if out.Status != 0 {
			r.log.Warn("guest ended", "id", o.ID, "status", out.Status, "reason", out.Reason)
		}
	}
	if derr := r.Delete(context.WithoutCancel(ctx), o.ID, true); derr != nil {
		r.log.Warn("delete after the run", "id", o.ID, "error", derr)
	}
	return status, err
}

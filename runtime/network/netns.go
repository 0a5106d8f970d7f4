package network

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// errNoNamespace: the namespace path does not exist (any more).
var errNoNamespace = errors.New("network namespace does not exist")

// env is one network namespace to work in: a netlink handle bound to it,
// and a way to run the few operations netlink cannot do remotely (opening
// /dev/net/tun, writing /proc/sys/net) inside it.
type env struct {
	h    *netlink.Handle
	ns   netns.NsHandle // -1 for the current namespace
	desc string         // for messages
}

func currentEnv() (*env, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("%w: current: netlink: %w", ErrNamespace, err)
	}
	return &env{h: h, ns: -1, desc: "current network namespace"}, nil
}

func pathEnv(nsPath string) (*env, error) {
	if nsPath == "" {
		return nil, fmt.Errorf("%w: empty namespace path", ErrInvalidOptions)
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			return nil, fmt.Errorf("%w: %s: %w", errNoNamespace, nsPath, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrNamespace, nsPath, err)
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(ns), &sfs); err != nil {
		ns.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrNamespace, nsPath, err)
	}
	if sfs.Type != unix.NSFS_MAGIC {
		// e.g. the empty file left behind when a named namespace was
		// unmounted: for Teardown the namespace is gone.
		ns.Close()
		return nil, fmt.Errorf("%w: %w: %s is not a namespace file", ErrNamespace, errNoNamespace, nsPath)
	}
	if typ, err := unix.IoctlRetInt(int(ns), unix.NS_GET_NSTYPE); err != nil || typ != unix.CLONE_NEWNET {
		ns.Close()
		return nil, fmt.Errorf("%w: %s is not a network namespace", ErrNamespace, nsPath)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("%w: %s: netlink: %w", ErrNamespace, nsPath, err)
	}
	return &env{h: h, ns: ns, desc: "network namespace " + nsPath}, nil
}

func (e *env) close() {
	e.h.Close()
	if e.ns >= 0 {
		e.ns.Close()
	}
}

// run calls fn inside the namespace. For the current namespace fn runs on
// the calling goroutine. Otherwise it runs on a fresh goroutine locked to
// its OS thread, which enters the namespace and is never unlocked: the Go
// runtime then discards the thread when the goroutine ends, so no other
// goroutine ever runs in the wrong namespace.
func (e *env) run(ctx context.Context, fn func() error) error {
	if e.ns < 0 {
		return fn()
	}
	fd, err := unix.Dup(int(e.ns))
	if err != nil {
		return fmt.Errorf("%w: dup: %w", ErrNamespace, err)
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Deliberately no UnlockOSThread (see above).
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("%w: setns: %w", ErrNamespace, err)
			return
		}
		done <- fn()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("waiting for work in %s: %w", e.desc, ctx.Err())
	}
}

// nft opens an nftables connection in the namespace.
func (e *env) nft() (*nftables.Conn, error) {
	if e.ns < 0 {
		return nftables.New()
	}
	return nftables.New(nftables.WithNetNSFd(int(e.ns)))
}

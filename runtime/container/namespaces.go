package container

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urunc-dev/urunc/runtime/config"
	"golang.org/x/sys/unix"
)

var nsFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
}

// namespacePlan splits the spec's namespaces into those to create (clone
// flags) and those to join by path.
func namespacePlan(spec *specs.Spec) (uintptr, []specs.LinuxNamespace, error) {
	if spec.Linux == nil {
		return 0, nil, nil
	}
	var flags uintptr
	var join []specs.LinuxNamespace
	for _, ns := range spec.Linux.Namespaces {
		flag, ok := nsFlags[ns.Type]
		if !ok {
			return 0, nil, fmt.Errorf("%w: %s namespace", ErrUnsupported, ns.Type)
		}
		if ns.Path == "" {
			flags |= flag
			continue
		}
		if ns.Type == specs.MountNamespace {
			// setns(CLONE_NEWNS) is refused in a multi-threaded process.
			return 0, nil, fmt.Errorf("%w: joining a mount namespace by path (%s)", ErrUnsupported, ns.Path)
		}
		if _, err := os.Stat(ns.Path); err != nil {
			return 0, nil, fmt.Errorf("%w: %s namespace path: %w", config.ErrBadBundle, ns.Type, err)
		}
		join = append(join, ns)
	}
	return flags, join, nil
}

// hasNewNamespace reports whether the spec asks for a new namespace of type t.
func hasNewNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	if spec.Linux == nil {
		return false
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == t && ns.Path == "" {
			return true
		}
	}
	return false
}

// namespacePath returns the path of a namespace joined by path, or "".
func namespacePath(spec *specs.Spec, t specs.LinuxNamespaceType) string {
	if spec.Linux == nil {
		return ""
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == t {
			return ns.Path
		}
	}
	return ""
}

// startIn starts cmd with start after joining the given namespaces. The joins happen
// on a locked OS thread that forks the child and is then thrown away
// (the goroutine exits without unlocking), so no other goroutine ever
// runs in the container's namespaces.
func startIn(cmd *exec.Cmd, join []specs.LinuxNamespace, start func(*exec.Cmd) error) error {
	if len(join) == 0 {
		return start(cmd)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		for _, ns := range join {
			fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				errc <- fmt.Errorf("open %s namespace %s: %w", ns.Type, ns.Path, err)
				return
			}
			err = unix.Setns(fd, int(nsFlags[ns.Type]))
			unix.Close(fd)
			if err != nil {
				errc <- fmt.Errorf("join %s namespace %s: %w", ns.Type, ns.Path, err)
				return
			}
		}
		errc <- start(cmd)
	}()
	return <-errc
}

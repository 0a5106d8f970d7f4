package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/api/types"
	runcmanager "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cdshim "github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/log"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/container"
	"github.com/urunc-dev/urunc/runtime/state"
)

// RuntimeName is the runtime_type containerd knows the shim by; containerd
// turns it into the binary name containerd-shim-urunc-v2.
const RuntimeName = "io.containerd.urunc.v2"

// Version is the shim's (urunc's) version, set by the command.
var Version = "dev"

// socketRoot is where containerd (1.6 to 2.x) expects shim sockets.
const socketRoot = "/run/containerd/s"

// manager is the shim's short-lived side: `start` (make the socket and
// start the long-lived shim on it) and `delete` (clean up after a shim
// that died), plus `-info`.
type manager struct{}

func (manager) Name() string { return RuntimeName }

// Start runs in `start` with the bundle as working directory. One shim
// serves one container: the socket address comes from the container id.
func (manager) Start(ctx context.Context, p *bootapi.BootstrapParams) (_ *bootapi.BootstrapResult, err error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	dir := p.GetSocketDir()
	if dir == "" {
		dir = socketRoot
	}
	addr, err := cdshim.CreateSocketAddress(ctx, dir, p.GetContainerdGrpcAddress(), p.GetInstanceID(), false)
	if err != nil {
		return nil, err
	}
	result := &bootapi.BootstrapResult{Version: 2, Protocol: "ttrpc", Address: addr}
	ln, err := cdshim.NewSocket(addr)
	if err != nil {
		if !cdshim.SocketEaddrinuse(err) {
			return nil, fmt.Errorf("shim socket %s: %w", addr, err)
		}
		if cdshim.CanConnect(addr) {
			return result, nil // a retried start: the shim serves already
		}
		_ = cdshim.RemoveSocket(addr) // a dead shim's; if it stays, NewSocket says so
		if ln, err = cdshim.NewSocket(addr); err != nil {
			return nil, fmt.Errorf("shim socket %s: %w", addr, err)
		}
	}
	// The shim serves the socket as fd 3; closing our listener must not
	// unlink it.
	ln.SetUnlinkOnClose(false)
	f, err := ln.File()
	ln.Close()
	if err != nil {
		_ = cdshim.RemoveSocket(addr) // best effort: the start fails anyway
		return nil, err
	}
	defer f.Close()
	defer func() {
		if err != nil {
			_ = cdshim.RemoveSocket(addr) // best effort: the start fails anyway
		}
	}()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	bundle, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	args := []string{"-namespace", ns, "-id", p.GetInstanceID(), "-address", p.GetContainerdGrpcAddress()}
	if p.GetLogLevel() <= bootapi.LogLevel_LOG_LEVEL_DEBUG {
		args = append(args, "-debug")
	}
	cmd := exec.Command(self, args...)
	cmd.Dir = bundle
	// pkg/shim's server publishes events to TTRPC_ADDRESS.
	cmd.Env = append(os.Environ(), "TTRPC_ADDRESS="+p.GetContainerdTtrpcAddress())
	cmd.ExtraFiles = []*os.File{f}
	// Not in containerd's process group: a signal to it is not one to us.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start shim: %w", err)
	}
	defer func() { _ = cmd.Process.Release() }() // it outlives us
	// The shim goes before its containers when memory runs out, never
	// before containerd. Failure only costs that.
	_ = cdshim.AdjustOOMScore(cmd.Process.Pid)
	// containerd 1.6 finds a running shim again after it restarts through
	// <bundle>/address (2.x keeps its own record).
	if err := os.WriteFile(filepath.Join(bundle, "address"), []byte(addr), 0o600); err != nil {
		_ = cmd.Process.Kill() // it cannot be found again without the file
		return nil, err
	}
	return result, nil
}

// Stop is `delete`: containerd runs it when a shim died (or failed to
// start) to clean up its container; the bundle is the working directory
// or -bundle. A unikernel container (its urunc state exists) is deleted
// with force (VMM killed, network, cgroup, state removed); anything else
// goes to containerd's runc shim manager (runc delete --force).
func (manager) Stop(ctx context.Context, id string) (cdshim.StopStatus, error) {
	bundle, err := os.Getwd()
	if err != nil {
		return cdshim.StopStatus{}, err
	}
	if o, ok := ctx.Value(cdshim.OptsKey{}).(cdshim.Opts); ok && o.BundlePath != "" {
		bundle = o.BundlePath
	}
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return cdshim.StopStatus{}, err
	}
	if addr, err := cdshim.ReadAddress(filepath.Join(bundle, "address")); err == nil {
		_ = cdshim.RemoveSocket(addr) // the dead shim's; best effort
	}
	root := StateRoot(bundle, ns)
	if _, err := os.Stat(filepath.Join(root, id, state.MarkerFile)); err != nil {
		// runc's task service leaves options.json in the bundles it got.
		if _, err := os.Stat(filepath.Join(bundle, "options.json")); err == nil {
			return runcmanager.NewShimManager(RuntimeName).Stop(ctx, id)
		}
		// Neither: a unikernel container deleted already (containerd
		// 1.6 runs delete after every shim that exits), or none made.
		unmountRootfs(ctx, bundle)
		return cdshim.StopStatus{ExitedAt: time.Now(), ExitStatus: 128 + int(syscall.SIGKILL)}, nil
	}
	host, err := config.LoadHost(config.HostConfigPath())
	if err != nil {
		host = config.DefaultHost()
	}
	rt := container.New(container.Options{Root: root, Host: host, Log: slog.New(newLogHandler(log.G(ctx)))})
	st := cdshim.StopStatus{ExitStatus: 128 + int(syscall.SIGKILL)}
	if s, err := rt.State(id); err == nil {
		st.Pid = s.Pid
	}
	if err := rt.Delete(ctx, id, true); err != nil && !errors.Is(err, state.ErrNotExist) {
		log.G(ctx).WithError(err).Warn("delete unikernel container")
	}
	st.ExitedAt = time.Now()
	unmountRootfs(ctx, bundle)
	return st, nil
}

// Info answers `-info` (containerd 2.x's CRI asks every runtime).
func (manager) Info(context.Context, io.Reader) (*types.RuntimeInfo, error) {
	return &types.RuntimeInfo{Name: RuntimeName, Version: &types.RuntimeVersion{Version: Version}}, nil
}

// StateRoot is where the shim keeps its unikernel containers' state:
// urunc/<namespace> in containerd's state directory. For a default
// containerd that is /run/containerd/urunc/<namespace> (`urunc --root
// /run/containerd/urunc/default list`, `urunc-dev --root ...`); a private
// containerd keeps its containers under its own state.
func StateRoot(bundle, ns string) string {
	if state, ok := containerdState(bundle, ns); ok {
		return filepath.Join(state, "urunc", ns)
	}
	return filepath.Join("/run/containerd/urunc", ns)
}

// runcRoot is the root for containers handed to runc without runc
// options naming one: runc in containerd's state directory, which for a
// default containerd is runc's own default (/run/containerd/runc); runc's
// task service appends /<namespace>. "" leaves runc's default.
func runcRoot(bundle, ns string) string {
	if state, ok := containerdState(bundle, ns); ok {
		return filepath.Join(state, "runc")
	}
	return ""
}

// containerdState finds containerd's state directory from a bundle path:
// bundles are <state>/io.containerd.runtime.v2.task/<namespace>/<id>
// (containerd 1.6 to 2.x).
func containerdState(bundle, ns string) (string, bool) {
	nsDir := filepath.Dir(bundle)
	tasks := filepath.Dir(nsDir)
	if filepath.Base(nsDir) != ns || filepath.Base(tasks) != "io.containerd.runtime.v2.task" {
		return "", false
	}
	return filepath.Dir(tasks), true
}

package shim

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v2"
	task3 "github.com/containerd/containerd/api/runtime/task/v3"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/urunc-dev/urunc/runtime/container"
	"github.com/urunc-dev/urunc/runtime/state"
)

func TestParseCommand(t *testing.T) {
	c, ok := parseCommand([]string{"-namespace", "k8s.io", "-address", "/run/containerd/containerd.sock",
		"-publish-binary", "/usr/bin/containerd", "-id", "abc", "-debug", "start"})
	if !ok || c.action != "start" || c.namespace != "k8s.io" || c.id != "abc" || !c.debug ||
		c.address != "/run/containerd/containerd.sock" || c.publishBinary != "/usr/bin/containerd" {
		t.Fatalf("%+v %v", c, ok)
	}
	if c, ok := parseCommand([]string{"-namespace", "default", "-id", "x", "-bundle", "/b", "delete"}); !ok || c.action != "delete" {
		t.Fatalf("delete: %+v %v", c, ok)
	}
	if c, _ := parseCommand([]string{"-info"}); c.action != "" {
		t.Fatalf("-info: action %q", c.action)
	}
}

// A legacy start's stdin (runtime options, or nothing) becomes the
// BootstrapParams containerd >= 2.3 sends; a real BootstrapParams is
// recognised as such.
func TestLegacyParams(t *testing.T) {
	c := startCommand{namespace: "k8s.io", id: "abc", address: "/run/c.sock", publishBinary: "/usr/bin/containerd", action: "start"}
	opts, err := typeurl.MarshalAnyToProto(&runtimeoptions.Options{ConfigPath: "/etc/urunc/config.json"})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := proto.Marshal(opts)
	if isBootstrap(in, c) || isBootstrap(nil, c) {
		t.Fatal("runtime options or empty stdin taken for bootstrap parameters")
	}
	p, err := legacyParams(c, "/run/c.sock.ttrpc", in)
	if err != nil {
		t.Fatal(err)
	}
	if p.InstanceID != "abc" || p.Namespace != "k8s.io" || p.ContainerdTtrpcAddress != "/run/c.sock.ttrpc" ||
		p.ContainerdGrpcAddress != "/run/c.sock" || p.LogLevel != bootapi.LogLevel_LOG_LEVEL_INFO {
		t.Fatalf("%+v", p)
	}
	if len(p.Extensions) != 1 || p.Extensions[0].GetValue().GetTypeUrl() != opts.TypeUrl {
		t.Fatalf("runtime options not carried: %+v", p.Extensions)
	}
	data, _ := proto.Marshal(p)
	if !isBootstrap(data, c) {
		t.Fatal("bootstrap parameters not recognised")
	}
	if other := (startCommand{namespace: "k8s.io", id: "other"}); isBootstrap(data, other) {
		t.Fatal("another shim's bootstrap parameters accepted")
	}
	if p, _ := legacyParams(c, "", nil); len(p.Extensions) != 0 {
		t.Fatalf("extensions from empty stdin: %+v", p.Extensions)
	}
}

func TestParseOptions(t *testing.T) {
	a, _ := typeurl.MarshalAnyToProto(&runtimeoptions.Options{ConfigPath: "/etc/urunc/x.json"})
	o, err := parseOptions(a)
	if err != nil || o.configPath != "/etc/urunc/x.json" {
		t.Fatalf("%+v %v", o, err)
	}
	if o, err := parseOptions(nil); err != nil || o.configPath != "" || o.runc != nil {
		t.Fatalf("none: %+v %v", o, err)
	}
	other, _ := typeurl.MarshalAnyToProto(&taskAPI.PidsRequest{ID: "x"})
	if _, err := parseOptions(other); err == nil {
		t.Fatal("foreign options accepted")
	}
}

func TestStateRoot(t *testing.T) {
	for _, tt := range []struct{ bundle, ns, want string }{
		{"/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc", "k8s.io", "/run/containerd/urunc/k8s.io"},
		{"/tmp/x/state/io.containerd.runtime.v2.task/default/c1", "default", "/tmp/x/state/urunc/default"},
		{"/somewhere/else/c1", "default", "/run/containerd/urunc/default"},
	} {
		if got := StateRoot(tt.bundle, tt.ns); got != tt.want {
			t.Errorf("StateRoot(%s, %s) = %s, want %s", tt.bundle, tt.ns, got, tt.want)
		}
	}
	if got := runcRoot("/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc", "k8s.io"); got != "/run/containerd/runc" {
		t.Errorf("runc root of a default containerd: %s", got)
	}
	if got := runcRoot("/somewhere/else/c1", "default"); got != "" {
		t.Errorf("runc root of an unknown layout: %q", got)
	}
}

func TestSystemdCgroupsPath(t *testing.T) {
	for p, want := range map[string]bool{
		"": false, "/kubepods/pod1/abc": false, "kubepods-pod1.slice:cri-containerd:abc": true,
		"system.slice:docker:abc": true, "relative/path": false,
	} {
		spec := &specs.Spec{Linux: &specs.Linux{CgroupsPath: p}}
		if got := systemdCgroupsPath(spec); got != want {
			t.Errorf("%q: %v, want %v", p, got, want)
		}
	}
}

func TestRecodeV2V3(t *testing.T) {
	in := &taskAPI.CreateTaskRequest{ID: "c", Bundle: "/b", Stdout: "/f/out", Terminal: true}
	out := &task3.CreateTaskRequest{}
	if err := recode(in, out); err != nil || out.ID != "c" || out.Bundle != "/b" || out.Stdout != "/f/out" || !out.Terminal {
		t.Fatalf("%+v %v", out, err)
	}
}

func TestToGRPC(t *testing.T) {
	for _, tt := range []struct {
		err  error
		is   error
		text string
	}{
		{unsupported("exec", "c1", "a unikernel has no processes to add"), errdefs.ErrNotImplemented, "not supported for unikernel containers"},
		{container.ErrNotRunning, errdefs.ErrNotFound, "container not running"},
		{state.ErrNotExist, errdefs.ErrNotFound, "does not exist"},
		{state.ErrInvalidTransition, errdefs.ErrFailedPrecondition, "invalid status transition"},
	} {
		back := errgrpc.ToNative(toGRPC(tt.err))
		if !errors.Is(back, tt.is) || !strings.Contains(back.Error(), tt.text) {
			t.Errorf("%v: came back as %v", tt.err, back)
		}
	}
}

// The reaper keeps the raw wait status of what it started: an exit code
// and a signal stay apart (containerd's reaper reports 128+n for both).
func TestChildReaperStatus(t *testing.T) {
	r := newChildReaper()
	r.run()
	for _, tt := range []struct {
		script string
		check  func(unix.WaitStatus) bool
	}{
		{"exit 137", func(ws unix.WaitStatus) bool { return !ws.Signaled() && ws.ExitStatus() == 137 }},
		{"kill -9 $$", func(ws unix.WaitStatus) bool { return ws.Signaled() && ws.Signal() == unix.SIGKILL }},
	} {
		cmd := exec.Command("/bin/sh", "-c", tt.script)
		if err := r.Start(cmd); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			ws, err := r.Wait(cmd)
			if err != nil || !tt.check(ws) {
				t.Errorf("%s: wait status %#x, %v", tt.script, uint32(ws), err)
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no exit reported", tt.script)
		}
	}
}

// The reaper leaves alone the children it did not start (the library's
// hooks, waited for by exec.Cmd), even while its own exit at the same
// time.
func TestChildReaperLeavesOthers(t *testing.T) {
	r := newChildReaper()
	r.run()
	done := make(chan error, 40)
	for i := 0; i < 20; i++ {
		go func() { done <- exec.Command("/bin/true").Run() }()
		go func() {
			cmd := exec.Command("/bin/true")
			if err := r.Start(cmd); err != nil {
				done <- err
				return
			}
			_, err := r.Wait(cmd)
			done <- err
		}()
	}
	for i := 0; i < 40; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("a child's wait failed: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("waits did not finish")
		}
	}
}

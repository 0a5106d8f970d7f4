package shim

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	cdshim "github.com/containerd/containerd/v2/pkg/shim"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// containerd changed the shim's `start` protocol in 2.3: it sends a
// BootstrapParams protobuf on stdin and reads a BootstrapResult protobuf
// from stdout, and pkg/shim (v2.4, the module we build on) only speaks
// that. containerd 1.6 to 2.2 run
//
//	<shim> -namespace NS -address GRPC -publish-binary BIN -id ID [-debug] start
//
// with TTRPC_ADDRESS in the environment and the runtime options (a
// protobuf Any, or nothing) on stdin, and dial whatever the shim prints
// (1.6 takes the trimmed output as a socket address, nothing else).
// legacyStart translates such a start into the new protocol for pkg/shim
// and its answer back into a plain address.

// startCommand is a parsed shim command line.
type startCommand struct {
	namespace, id, address, publishBinary string
	debug                                 bool
	action                                string
}

// parseCommand reads pkg/shim's flags (without touching the global
// FlagSet, which pkg/shim parses itself).
func parseCommand(args []string) (startCommand, bool) {
	var c startCommand
	fs := flag.NewFlagSet("shim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var ignoredBool bool
	var ignored string
	fs.BoolVar(&c.debug, "debug", false, "")
	fs.BoolVar(&ignoredBool, "v", false, "")
	fs.BoolVar(&ignoredBool, "version", false, "")
	fs.BoolVar(&ignoredBool, "info", false, "")
	fs.StringVar(&c.namespace, "namespace", "", "")
	fs.StringVar(&c.id, "id", "", "")
	fs.StringVar(&c.address, "address", "", "")
	fs.StringVar(&c.publishBinary, "publish-binary", "", "")
	fs.StringVar(&ignored, "socket", "", "")
	fs.StringVar(&ignored, "debug-socket", "", "")
	fs.StringVar(&ignored, "bundle", "", "")
	if err := fs.Parse(args); err != nil {
		return c, false
	}
	c.action = fs.Arg(0)
	return c, true
}

// isBootstrap reports whether stdin holds the new protocol's parameters
// for this very shim (runtime options may happen to decode as
// BootstrapParams, so the identity must match, as pkg/shim checks too).
func isBootstrap(in []byte, c startCommand) bool {
	var p bootapi.BootstrapParams
	return len(in) > 0 && proto.Unmarshal(in, &p) == nil && p.InstanceID == c.id && p.Namespace == c.namespace
}

// legacyParams builds the BootstrapParams a containerd >= 2.3 would have
// sent, from a legacy command line, its environment and its stdin.
func legacyParams(c startCommand, ttrpcAddress string, in []byte) (*bootapi.BootstrapParams, error) {
	p := &bootapi.BootstrapParams{
		InstanceID:             c.id,
		Namespace:              c.namespace,
		ContainerdGrpcAddress:  c.address,
		ContainerdTtrpcAddress: ttrpcAddress,
		ContainerdBinary:       c.publishBinary,
		LogLevel:               bootapi.LogLevel_LOG_LEVEL_INFO,
	}
	if c.debug {
		p.LogLevel = bootapi.LogLevel_LOG_LEVEL_DEBUG
	}
	var opts anypb.Any
	if len(in) > 0 && proto.Unmarshal(in, &opts) == nil && opts.TypeUrl != "" {
		if err := p.AddExtension(&opts); err != nil {
			return nil, fmt.Errorf("runtime options %s: %w", opts.TypeUrl, err)
		}
	}
	return p, nil
}

// legacyStart handles `start` from a containerd that predates the
// bootstrap protocol, and reports whether it did (the process then
// exits). Any other invocation, a new-protocol start included, is left
// to pkg/shim, with stdin restored.
func legacyStart(ctx context.Context, m cdshim.Shim, opts ...cdshim.BinaryOpts) bool {
	c, ok := parseCommand(os.Args[1:])
	if !ok || c.action != "start" {
		return false
	}
	in, err := io.ReadAll(io.LimitReader(os.Stdin, 10<<20))
	if err != nil {
		fatalf("read stdin: %v", err)
	}
	if isBootstrap(in, c) {
		os.Stdin = replay(in)
		return false
	}
	p, err := legacyParams(c, os.Getenv("TTRPC_ADDRESS"), in)
	if err != nil {
		fatalf("%v", err)
	}
	params, err := proto.Marshal(p)
	if err != nil {
		fatalf("bootstrap parameters: %v", err)
	}
	os.Stdin = replay(params)
	// pkg/shim writes the BootstrapResult to os.Stdout: catch it.
	stdout := os.Stdout
	r, w, err := os.Pipe()
	if err != nil {
		fatalf("pipe: %v", err)
	}
	result := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(r); result <- b }()
	os.Stdout = w
	cdshim.RunShim(ctx, m, opts...) // exits the process on failure
	w.Close()
	var res bootapi.BootstrapResult
	if err := proto.Unmarshal(<-result, &res); err != nil || res.Address == "" {
		fatalf("no address in the bootstrap result: %v", err)
	}
	stdout.WriteString(res.Address)
	return true
}

// replay returns a pipe that reads data.
func replay(data []byte) *os.File {
	r, w, err := os.Pipe()
	if err != nil {
		fatalf("pipe: %v", err)
	}
	go func() {
		// A failed write means pkg/shim stopped reading: it reports that.
		_, _ = io.Copy(w, bytes.NewReader(data))
		w.Close()
	}()
	return r
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format, args...)
	os.Exit(1)
}

package shim

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/container"
)

// initArgs are the re-exec child's global flags, as the shim passes them
// (container.Options.GlobalArgs) and as `urunc init` takes them.
func initArgs(root, logFile string) []string {
	return []string{"--root", root, "--log", logFile, "--log-format", "json"}
}

// RunInit is the re-exec child ("containerd-shim-urunc-v2 init GLOBAL-FLAGS
// ID", what `urunc init` is to urunc): it completes create's handshake and
// execs the VMM, so it only returns on failure, with the exit status. The
// caller must have locked main to the leader thread in init() (the child
// moves that thread into the container's cgroup and execs from it).
func RunInit(args []string) int {
	fs := flag.NewFlagSet(container.InitCommand, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	root := fs.String("root", "", "")
	logFile := fs.String("log", "", "")
	fs.String("log-format", "json", "")
	debug := fs.Bool("debug", false, "")
	systemd := fs.Bool("systemd-cgroup", false, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || *root == "" {
		fmt.Fprintln(os.Stderr, "usage: init --root DIR [--log FILE] [--debug] [--systemd-cgroup] ID")
		return 2
	}
	// The child's stderr is the container's: log to the file only.
	w := io.Writer(io.Discard)
	if *logFile != "" {
		if f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
			w = f
		}
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: lowerLevel}))
	host, err := config.LoadHost(config.HostConfigPath())
	if err != nil {
		logger.Error(err.Error())
		return 1
	}
	rt := container.New(container.Options{
		Root: *root, Host: host, Log: logger, SystemdCgroup: *systemd,
		SelfExe: "/proc/self/exe", GlobalArgs: args[:len(args)-1],
	})
	if err := rt.Init(context.Background(), fs.Arg(0)); err != nil {
		logger.Error(err.Error())
		return 1
	}
	return 0
}

// lowerLevel writes levels as runc's logrus does ("error"), as urunc's
// own log does.
func lowerLevel(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey {
		a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
	}
	return a
}

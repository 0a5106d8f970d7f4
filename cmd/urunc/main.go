// Command urunc is an OCI runtime that runs unikernels (and small Linux
// microVMs) as containers. It takes runc's command line, so Docker and
// containerd can use it as a runtime; bundles without a unikernel
// configuration are handed to runc unchanged.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/container"
)

func init() {
	// The re-exec child ("urunc init", as runc's init.go) moves its main
	// thread into the container's cgroup and later execs the VMM from it
	// (runtime/container Init): main must stay on the leader thread.
	if len(os.Args) > 1 && os.Args[1] == container.InitCommand {
		runtime.LockOSThread()
	}
}

const defaultRoot = "/run/urunc"

func main() {
	app := newApp()
	if err := app.Run(os.Args); err != nil {
		var exit cli.ExitCoder
		if errors.As(err, &exit) && exit.Error() == "" {
			os.Exit(exit.ExitCode())
		}
		fail(err)
	}
}

// fail reports err the way runc does: an "error" line in the log (which
// containerd shows to the user) and the message on stderr; exit status 1.
func fail(err error) {
	slog.Error(err.Error()) //nolint:gosec // G706: slog's handlers quote or escape the message
	if logToFile {
		fmt.Fprintln(os.Stderr, "urunc:", err)
	}
	os.Exit(1)
}

// logToFile is set once at start-up, before any command runs.
var logToFile bool

func newApp() *cli.App {
	app := &cli.App{
		Name:                   "urunc",
		Usage:                  "OCI runtime for unikernels and tiny Linux microVMs",
		Version:                versionText(),
		Flags:                  globalFlags(),
		Before:                 setupLogging,
		ExitErrHandler:         func(*cli.Context, error) {}, // main reports errors
		HideHelpCommand:        true,
		UseShortOptionHandling: true,
		Commands: []*cli.Command{
			createCommand(), startCommand(), stateCommand(), killCommand(), deleteCommand(),
			runCommand(), listCommand(), psCommand(), featuresCommand(), pauseCommand(),
			resumeCommand(), specCommand(), versionCommand(), execCommand(), updateCommand(),
			initCommand(), hookGuardCommand(),
		},
	}
	// No "help"/"h" subcommand: "h" and "help" are valid container ids
	// (`urunc delete h` printed usage and exited 0). --help still works.
	for _, c := range app.Commands {
		c.HideHelpCommand = true
	}
	return app
}

// globalFlags are runc's global flags.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "root", Value: defaultRoot, Usage: "directory for container state"},
		&cli.StringFlag{Name: "log", Usage: "log file (default: stderr)"},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
		&cli.BoolFlag{Name: "debug", Usage: "log debug messages"},
		&cli.BoolFlag{Name: "systemd-cgroup", Usage: "linux.cgroupsPath is systemd-style (slice:prefix:name), as in runc"},
		&cli.StringFlag{Name: "rootless", Value: "auto", Usage: "accepted for runc compatibility"},
		&cli.StringFlag{Name: "criu", Hidden: true},
	}
}

func setupLogging(c *cli.Context) error {
	var w io.Writer = os.Stderr
	if p := c.String("log"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644) //nolint:gosec // G302: runc's --log is readable too; engines read it
		if err != nil {
			return fmt.Errorf("open log %s: %w", p, err)
		}
		w = f
		logToFile = true
	}
	// Without --log, stderr may be the container's own output (the re-exec
	// child shares it): only warnings and errors go there.
	level := slog.LevelWarn
	if logToFile {
		level = slog.LevelInfo
	}
	if c.Bool("debug") {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: runcLogAttrs}
	var h slog.Handler
	switch c.String("log-format") {
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text", "":
		h = slog.NewTextHandler(w, opts)
	default:
		return fmt.Errorf("invalid --log-format %q: want text or json", c.String("log-format"))
	}
	slog.SetDefault(slog.New(h))
	return nil
}

// runcLogAttrs writes levels in lower case ("error"), as runc's logrus
// does: containerd matches "level":"error" exactly.
func runcLogAttrs(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey {
		a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
	}
	return a
}

// newRuntime builds the library's Runtime from the global flags.
func newRuntime(c *cli.Context) (*container.Runtime, error) {
	host, err := config.LoadHost(config.HostConfigPath())
	if err != nil {
		return nil, err
	}
	root, err := stateRoot(c)
	if err != nil {
		return nil, err
	}
	global := []string{"--root", root}
	if l := c.String("log"); l != "" {
		abs, _ := filepath.Abs(l)
		global = append(global, "--log", abs, "--log-format", c.String("log-format"))
	}
	if c.Bool("debug") {
		global = append(global, "--debug")
	}
	if c.Bool("systemd-cgroup") {
		global = append(global, "--systemd-cgroup")
	}
	return container.New(container.Options{
		Root:          root,
		SystemdCgroup: c.Bool("systemd-cgroup"),
		Host:          host,
		Log:           slog.Default(),
		SelfExe:       "/proc/self/exe",
		GlobalArgs:    global,
	}), nil
}

// idArg returns the single container id argument.
func idArg(c *cli.Context) (string, error) {
	if c.NArg() < 1 {
		return "", fmt.Errorf("%s: missing container id", c.Command.Name)
	}
	return c.Args().First(), nil
}

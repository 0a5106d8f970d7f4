// Command urunc-dev is the workbench for people who build and debug
// unikernels: a live console over a urunc state root, and helpers that
// turn a kernel into a runnable bundle.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/internal/version"
	"github.com/urunc-dev/urunc/runtime/cgroups"
	"github.com/urunc-dev/urunc/runtime/state"
	"github.com/urunc-dev/urunc/tui"
	"github.com/urunc-dev/urunc/watch"
)

func main() {
	app := &cli.App{
		Name:  "urunc-dev",
		Usage: "console and tools for developing unikernels with urunc",
		// urunc-dev version <release>, commit: ..., go: ... (as urunc's).
		Version: version.Get().Text(),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: "/run/urunc", Usage: "urunc state root to follow"},
			&cli.StringSliceFlag{Name: "bundles", Usage: "directory of bundles offered by create (repeatable)"},
			&cli.StringFlag{Name: "urunc", Usage: "urunc binary (default: beside urunc-dev, else PATH)"},
		},
		Action:   runConsole,
		Commands: []*cli.Command{bundleCommand(), imageCommand()},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "urunc-dev:", err)
		os.Exit(1)
	}
}

// uruncBinary finds the urunc the console drives.
func uruncBinary(flag string) (string, error) {
	if flag != "" {
		return filepath.Abs(flag)
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "urunc")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("urunc")
	if err != nil {
		return "", fmt.Errorf("urunc binary not found beside urunc-dev nor on PATH: use --urunc")
	}
	return p, nil
}

func runConsole(c *cli.Context) error {
	// URUNC_DEV_CPUPROFILE=file writes a CPU profile (for make bench work).
	if p := os.Getenv("URUNC_DEV_CPUPROFILE"); p != "" {
		f, err := os.Create(p) //nolint:gosec // G703: a path the developer chose
		if err != nil {
			return fmt.Errorf("URUNC_DEV_CPUPROFILE: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("URUNC_DEV_CPUPROFILE: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	root, err := filepath.Abs(c.String("root"))
	if err != nil {
		return err
	}
	bin, err := uruncBinary(c.String("urunc"))
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "urunc-dev-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	var bundles []string
	for _, b := range c.StringSlice("bundles") {
		abs, err := filepath.Abs(b)
		if err != nil {
			return err
		}
		bundles = append(bundles, abs)
	}

	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	w, err := watch.New(ctx, root, watch.Options{})
	if err != nil {
		return fmt.Errorf("watch %s: %w", root, err)
	}
	sampler := tui.NewSampler()
	m := tui.New(tui.Options{
		Root:    root,
		Runner:  tui.Runner{Bin: bin, Root: root, Dir: work},
		Bundles: bundles,
		Context: ctx,
		Sample:  sampler.Sample,
		CgroupMemory: func(st *state.State) (cgroups.MemoryUse, error) {
			p := cgroups.FromState(st.CgroupPaths, st.CgroupDriver)
			if p == nil {
				return cgroups.MemoryUse{}, errors.New("none (created without the right to make one)")
			}
			return p.Memory()
		},
	})
	// Mouse reporting stays off so text can be selected and copied.
	// 20 frames/s is ample for a status console and wakes the CPU a third
	// as often as the default 60.
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(ctx), tea.WithFPS(20))
	// The relay: every change the watcher reports becomes a message; it
	// ends when the watcher's channel closes (ctx done, after Run).
	go func() {
		for ev := range w.Events() {
			p.Send(tui.WatchMsg(ev))
		}
	}()
	_, err = p.Run()
	if errors.Is(err, tea.ErrProgramKilled) {
		return nil
	}
	return err
}

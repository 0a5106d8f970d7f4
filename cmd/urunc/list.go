package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/urunc-dev/urunc/runtime/state"
)

// listEntry is runc's list --format json shape.
type listEntry struct {
	Version        string            `json:"ociVersion"`
	ID             string            `json:"id"`
	InitProcessPid int               `json:"pid"`
	Status         string            `json:"status"`
	Bundle         string            `json:"bundle"`
	Rootfs         string            `json:"rootfs"`
	Created        time.Time         `json:"created"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	Owner          string            `json:"owner"`
}

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list containers (urunc's and runc's under the same root)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only ids"},
		},
		Action: func(c *cli.Context) error {
			rt, err := newRuntime(c)
			if err != nil {
				return err
			}
			states, err := rt.List()
			if err != nil {
				return err
			}
			entries := make([]listEntry, 0, len(states))
			for _, st := range states {
				entries = append(entries, listEntry{
					Version: st.Version, ID: st.ID, InitProcessPid: st.Pid, Status: string(st.Status),
					Bundle: st.Bundle, Rootfs: st.Rootfs, Created: st.Created, Annotations: st.Annotations, Owner: st.Owner,
				})
			}
			entries = append(entries, runcEntries(rt.Root())...)
			switch {
			case c.Bool("quiet"):
				for _, e := range entries {
					fmt.Println(e.ID)
				}
			case c.String("format") == "json":
				return json.NewEncoder(os.Stdout).Encode(entries)
			case c.String("format") == "table":
				w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
				fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
				for _, e := range entries {
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", e.ID, e.InitProcessPid, e.Status, e.Bundle,
						e.Created.Format(time.RFC3339Nano), e.Owner)
				}
				return w.Flush()
			default:
				return fmt.Errorf("invalid --format %q: want table or json", c.String("format"))
			}
			return nil
		},
	}
}

// runcEntries lists runc's containers under the same root, if any: the
// ones urunc handed to runc (delegateToRunc gives runc urunc's --root).
// runc skips urunc's directories with a warning, as their state.json is
// not libcontainer's; an id with urunc's marker is dropped all the same.
func runcEntries(root string) []listEntry {
	dirs, _ := os.ReadDir(root)
	foreign := false
	for _, d := range dirs {
		if d.IsDir() && !isURuncDir(root, d.Name()) {
			foreign = true
			break
		}
	}
	if !foreign {
		return nil
	}
	p, err := runcPath()
	if err != nil {
		return nil
	}
	out, err := exec.Command(p, "--root", root, "list", "--format", "json").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		slog.Warn("runc's containers are not listed", "root", root, "error", err)
		return nil
	}
	var all, entries []listEntry
	if err := json.Unmarshal(out, &all); err != nil {
		slog.Warn("runc's containers are not listed", "root", root, "error", fmt.Errorf("runc list: %w", err))
		return nil
	}
	for _, e := range all {
		if !isURuncDir(root, e.ID) {
			entries = append(entries, e)
		}
	}
	return entries
}

// isURuncDir reports whether <root>/<id> carries urunc's marker.
func isURuncDir(root, id string) bool {
	_, err := os.Stat(filepath.Join(root, id, state.MarkerFile))
	return err == nil
}

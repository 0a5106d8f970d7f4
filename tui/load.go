package tui

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/state"
)

// Update does no I/O. What the console learns of the file system comes
// in messages: from package watch (the state, VMM description, journal
// and console, read by the watcher's goroutine) or from the commands
// below, which Bubble Tea runs off the Update goroutine and whose results
// come back as messages. Each command captures what it needs (never the
// model), so it can run while Update goes on.

// diskReads are the console's own reads of the file system, done only by
// commands (and by New, before the program runs). Tests replace them to
// count calls.
type diskReads struct {
	// readState is state.json with its status re-derived (a live status
	// whose process is gone reads stopped).
	readState func(root, id string) (*state.State, error)
	// bundles lists and reads the bundles under dirs.
	bundles func(dirs []string) []bundleInfo
	// exists tells whether path exists.
	exists func(path string) bool
}

func osDisk() diskReads {
	return diskReads{
		readState: func(root, id string) (*state.State, error) { return state.Dir{Root: root, ID: id}.ReadState() },
		bundles: func(dirs []string) []bundleInfo {
			var out []bundleInfo
			for _, p := range FindBundles(dirs) {
				out = append(out, readBundle(p))
			}
			return out
		},
		exists: func(path string) bool { _, err := os.Stat(path); return err == nil },
	}
}

// Results of the commands.
type (
	// stateMsg is a container's state read again (nil: unreadable).
	stateMsg struct {
		id string
		st *state.State
	}
	// bundlesMsg is the bundle scan asked for by request seq.
	bundlesMsg struct {
		seq     int
		bundles []bundleInfo
	}
	// idMsg is the default id chosen for a container of bundle (request
	// seq); counter is the n of "<name>-<n>" it took.
	idMsg struct {
		seq     int
		bundle  string
		id      string
		counter int
	}
)

// reloadState re-derives a container's state: its VMM's pid is gone from
// a sample while nothing was written to the state directory yet.
func (m *Model) reloadState(id string) tea.Cmd {
	read, root := m.disk.readState, m.opts.Root
	return func() tea.Msg {
		st, err := read(root, id)
		if err != nil {
			st = nil
		}
		return stateMsg{id: id, st: st}
	}
}

// scanBundles lists the bundles offered by create.
func (m *Model) scanBundles(seq int) tea.Cmd {
	scan, dirs := m.disk.bundles, m.opts.Bundles
	return func() tea.Msg { return bundlesMsg{seq: seq, bundles: scan(dirs)} }
}

// chooseID picks "<name>-<n>", n counting up from after, past the ids in
// use: those the console knows and any directory under the root (a
// container being made, or someone else's).
func (m *Model) chooseID(seq int, bundle, name string, after int) tea.Cmd {
	// Deleted containers kept for inspection still hold their id here,
	// so a new run never takes the name of one shown.
	used := make(map[string]bool, len(m.containers))
	for _, c := range m.containers {
		used[c.ID] = true
	}
	exists, root := m.disk.exists, m.opts.Root
	return func() tea.Msg {
		for n := after + 1; ; n++ {
			id := fmt.Sprintf("%s-%d", name, n)
			if !used[id] && !exists(filepath.Join(root, id)) {
				return idMsg{seq: seq, bundle: bundle, id: id, counter: n}
			}
		}
	}
}

// FindBundles lists the bundles under dirs: each subdirectory with a
// config.json (or the directory itself if it has one), sorted by path.
func FindBundles(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "config.json")); err == nil {
			out = append(out, d)
			continue
		}
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			p := filepath.Join(d, e.Name())
			if _, err := os.Stat(filepath.Join(p, "config.json")); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// readBundle reads what the picker shows of a bundle: its annotations.
func readBundle(path string) bundleInfo {
	b := bundleInfo{Path: path, Name: filepath.Base(path)}
	data, err := os.ReadFile(filepath.Join(path, "config.json"))
	if err != nil {
		return b
	}
	var spec struct {
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal(data, &spec) == nil {
		b.Type = spec.Annotations[config.KeyType]
		b.Hypervisor = spec.Annotations[config.KeyHypervisor]
		b.Cmdline = spec.Annotations[config.KeyCmdline]
	}
	return b
}

// Package version is what the build stamped into urunc's binaries: the
// release, the commit and whether the work tree had uncommitted changes.
//
// The Makefile sets them (mk/version.mk):
//
//	go build -ldflags "-X github.com/urunc-dev/urunc/internal/version.release=0.1.0 \
//	    -X github.com/urunc-dev/urunc/internal/version.commit=<sha> \
//	    -X github.com/urunc-dev/urunc/internal/version.dirty=false"
//
// A plain `go build` or `go install` leaves them empty; Get then falls back
// on what the Go toolchain recorded (module version, vcs.revision,
// vcs.modified) and says "unknown" for what nobody recorded.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Set with -ldflags -X (strings only).
var (
	release string
	commit  string
	dirty   string
)

// Unknown is the value of anything the build did not record.
const Unknown = "unknown"

// Info is one binary's version.
type Info struct {
	Release string // "0.1.0", "0.1.0-3-gabc1234" (git describe), or "unknown"
	Commit  string // the full commit hash, or "unknown"
	Dirty   string // "true", "false" or "unknown"
	Go      string // the Go toolchain that built it
}

// Get returns the stamped version, completed from the build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(release, commit, dirty, bi)
}

func resolve(rel, rev, dty string, bi *debug.BuildInfo) Info {
	i := Info{Release: rel, Commit: rev, Dirty: dty, Go: runtime.Version()}
	if bi != nil {
		if i.Release == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			// go install module@vX.Y.Z
			i.Release = strings.TrimPrefix(bi.Main.Version, "v")
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && i.Commit == "":
				i.Commit = s.Value
			case s.Key == "vcs.modified" && i.Dirty == "":
				i.Dirty = s.Value
			}
		}
	}
	for _, p := range []*string{&i.Release, &i.Commit, &i.Dirty} {
		if *p == "" {
			*p = Unknown
		}
	}
	return i
}

// CommitDesc is the commit as runc prints it: the hash, "-dirty" when
// the tree had uncommitted changes.
func (i Info) CommitDesc() string {
	if i.Dirty == "true" && i.Commit != Unknown {
		return i.Commit + "-dirty"
	}
	return i.Commit
}

// Text is what follows "NAME version " in --version, in runc's layout:
// the release on the first line, then "commit: ...", the extra lines
// (e.g. "spec: 1.2.0") and "go: ...".
func (i Info) Text(extra ...string) string {
	lines := append([]string{i.Release, "commit: " + i.CommitDesc()}, extra...)
	lines = append(lines, "go: "+i.Go)
	return strings.Join(lines, "\n")
}

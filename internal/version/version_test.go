package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}}
	for name, c := range map[string]struct {
		rel, rev, dirty string
		bi              *debug.BuildInfo
		want            Info
	}{
		"stamped":         {"0.1.0", "f00d", "false", vcs, Info{Release: "0.1.0", Commit: "f00d", Dirty: "false"}},
		"build info only": {"", "", "", vcs, Info{Release: Unknown, Commit: "abc123", Dirty: "true"}},
		"go install @v":   {"", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}}, Info{Release: "0.2.0", Commit: Unknown, Dirty: Unknown}},
		"nothing":         {"", "", "", nil, Info{Release: Unknown, Commit: Unknown, Dirty: Unknown}},
		"outside git":     {Unknown, Unknown, Unknown, vcs, Info{Release: Unknown, Commit: Unknown, Dirty: Unknown}},
	} {
		got := resolve(c.rel, c.rev, c.dirty, c.bi)
		got.Go = ""
		if got != c.want {
			t.Errorf("%s: %+v, want %+v", name, got, c.want)
		}
	}
}

func TestText(t *testing.T) {
	i := Info{Release: "0.1.0", Commit: "f00d", Dirty: "true", Go: "go1.26"}
	if got, want := i.Text("spec: 1.2.0"), "0.1.0\ncommit: f00d-dirty\nspec: 1.2.0\ngo: go1.26"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
	i.Dirty, i.Commit = "true", Unknown
	if got := i.Text(); !strings.HasPrefix(got, "0.1.0\ncommit: unknown\ngo:") {
		t.Errorf("Text = %q", got)
	}
}

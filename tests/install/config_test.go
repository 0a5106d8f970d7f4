package install_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/urunc-dev/urunc/runtime/config"
)

// The installed /etc/urunc/config.json is the built-in configuration
// written out, every key of it: installing it changes nothing and shows
// what can be set.
func TestDefaultHostConfigIsTheBuiltIn(t *testing.T) {
	file := filepath.Join(repo, "packaging", "config.json")
	got, err := config.LoadHost(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.QEMU.ExtraArgs) == 0 {
		got.QEMU.ExtraArgs = nil // [] in the file reads as empty, not nil
	}
	want := config.DefaultHost()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("packaging/config.json differs from config.DefaultHost():\n got %+v\nwant %+v", got, want)
	}
	// LoadHost fills missing keys with defaults: compare the keys too.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var inFile map[string]any
	if err := json.Unmarshal(data, &inFile); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(want)
	var builtIn map[string]any
	json.Unmarshal(b, &builtIn)
	if g, w := keyPaths("", inFile), keyPaths("", builtIn); !reflect.DeepEqual(g, w) {
		t.Errorf("keys of packaging/config.json:\n %v\nwant those of config.Host:\n %v", g, w)
	}
}

func keyPaths(prefix string, m map[string]any) []string {
	var out []string
	for k, v := range m {
		out = append(out, prefix+k)
		if sub, ok := v.(map[string]any); ok {
			out = append(out, keyPaths(prefix+k+".", sub)...)
		}
	}
	sort.Strings(out)
	return out
}

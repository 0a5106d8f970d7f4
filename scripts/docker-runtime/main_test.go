package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const urunc = "/usr/local/bin/urunc"

// A daemon.json as people have them: other settings, another runtime.
const existing = `{
    "log-driver": "json-file",
    "runtimes": {
        "runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--platform=ptrace"]}
    },
    "storage-driver": "overlay2"
}
`

func runTool(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String() + errb.String()
}

func decode(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	return v
}

func keys(t *testing.T, data []byte) []string {
	t.Helper()
	doc, err := parseObject(data)
	if err != nil {
		t.Fatal(err)
	}
	var k []string
	for _, m := range doc {
		k = append(k, m.key)
	}
	return k
}

func TestAddRemoveKeepsEverythingElse(t *testing.T) {
	file := filepath.Join(t.TempDir(), "daemon.json")
	os.WriteFile(file, []byte(existing), 0o600)

	if code, out := runTool(t, "-config", file, "add", "urunc", urunc); code != 0 || !strings.Contains(out, "added runtime urunc") {
		t.Fatalf("add: %d %s", code, out)
	}
	got, _ := os.ReadFile(file)
	want := decode(t, []byte(existing))
	want.(map[string]any)["runtimes"].(map[string]any)["urunc"] = map[string]any{"path": urunc}
	if !reflect.DeepEqual(decode(t, got), want) {
		t.Fatalf("after add:\n%s", got)
	}
	if k := keys(t, got); !reflect.DeepEqual(k, []string{"log-driver", "runtimes", "storage-driver"}) {
		t.Errorf("key order %v", k)
	}
	if bak, _ := os.ReadFile(file + ".urunc.bak"); string(bak) != existing {
		t.Errorf("backup %q", bak)
	}
	for _, f := range []string{file, file + ".urunc.bak"} {
		if st, _ := os.Stat(f); st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want the original 0600", f, st.Mode())
		}
	}

	// Again: nothing to do, the file and its backup untouched.
	if code, out := runTool(t, "-config", file, "add", "urunc", urunc); code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("second add: %d %s", code, out)
	}
	if again, _ := os.ReadFile(file); !bytes.Equal(again, got) {
		t.Errorf("second add changed the file")
	}

	if code, out := runTool(t, "-config", file, "remove", "urunc", urunc); code != 0 || !strings.Contains(out, "removed runtime urunc") {
		t.Fatalf("remove: %d %s", code, out)
	}
	after, _ := os.ReadFile(file)
	if !reflect.DeepEqual(decode(t, after), decode(t, []byte(existing))) {
		t.Fatalf("after remove:\n%s\nwant the original:\n%s", after, existing)
	}
	if bak, _ := os.ReadFile(file + ".urunc.bak"); !bytes.Equal(bak, got) {
		t.Errorf("backup of remove %q", bak)
	}
	if code, out := runTool(t, "-config", file, "remove", "urunc", urunc); code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("second remove: %d %s", code, out)
	}
}

func TestMissingFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "docker", "daemon.json")
	if code, out := runTool(t, "-config", file, "remove", "urunc", urunc); code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("remove: %d %s", code, out)
	}
	if code, out := runTool(t, "-config", file, "add", "urunc", urunc); code != 0 {
		t.Fatalf("add: %d %s", code, out)
	}
	got, _ := os.ReadFile(file)
	if string(got) != "{\n  \"runtimes\": {\n    \"urunc\": {\n      \"path\": \"/usr/local/bin/urunc\"\n    }\n  }\n}\n" {
		t.Fatalf("created %q", got)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	if _, err := os.Stat(file + ".urunc.bak"); err == nil {
		t.Errorf("backup of a file that did not exist")
	}
	// The last runtime goes with its "runtimes" object.
	if code, out := runTool(t, "-config", file, "remove", "urunc", urunc); code != 0 {
		t.Fatalf("remove: %d %s", code, out)
	}
	if got, _ := os.ReadFile(file); string(got) != "{}\n" {
		t.Fatalf("after remove %q", got)
	}
}

func TestRefusals(t *testing.T) {
	for name, c := range map[string]struct {
		content string
		args    []string
		msg     string
	}{
		"not JSON":            {"{\"a\": ", []string{"add", "urunc", urunc}, "not a JSON object"},
		"array":               {"[]", []string{"add", "urunc", urunc}, "not a JSON object"},
		"trailing data":       {"{} {}", []string{"add", "urunc", urunc}, "data after the object"},
		"duplicate key":       {`{"runtimes": {}, "runtimes": {}}`, []string{"add", "urunc", urunc}, "appears twice"},
		"runtimes not object": {`{"runtimes": []}`, []string{"add", "urunc", urunc}, `"runtimes" is not a JSON object`},
		"relative path":       {`{}`, []string{"add", "urunc", "bin/urunc"}, "not absolute"},
		"other path (add)":    {`{"runtimes": {"urunc": {"path": "/opt/urunc"}}}`, []string{"add", "urunc", urunc}, `already points to "/opt/urunc"`},
		"other path (remove)": {`{"runtimes": {"urunc": {"path": "/opt/urunc"}}}`, []string{"remove", "urunc", urunc}, `points to "/opt/urunc"`},
		"default runtime":     {`{"default-runtime": "urunc", "runtimes": {"urunc": {"path": "/usr/local/bin/urunc"}}}`, []string{"remove", "urunc", urunc}, "default-runtime is urunc"},
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "daemon.json")
			os.WriteFile(file, []byte(c.content), 0o644)
			code, out := runTool(t, append([]string{"-config", file}, c.args...)...)
			if code != 1 || !strings.Contains(out, c.msg) {
				t.Fatalf("exit %d, %q; want 1 and %q", code, out, c.msg)
			}
			if got, _ := os.ReadFile(file); string(got) != c.content {
				t.Errorf("file changed: %q", got)
			}
			if _, err := os.Stat(file + ".urunc.bak"); err == nil {
				t.Errorf("backup written for a refused change")
			}
		})
	}
}

func TestReplace(t *testing.T) {
	file := filepath.Join(t.TempDir(), "daemon.json")
	os.WriteFile(file, []byte(`{"runtimes": {"urunc": {"path": "/opt/urunc"}}}`), 0o644)
	if code, out := runTool(t, "-config", file, "-replace", "add", "urunc", urunc); code != 0 {
		t.Fatalf("%d %s", code, out)
	}
	if got, _ := os.ReadFile(file); !strings.Contains(string(got), `"path": "/usr/local/bin/urunc"`) || strings.Contains(string(got), "/opt") {
		t.Fatalf("%s", got)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"add", "urunc"}, {"frob", "urunc", urunc}} {
		if code, _ := runTool(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

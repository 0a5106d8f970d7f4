// Command docker-runtime adds an OCI runtime to Docker's daemon.json or
// removes it again, touching nothing else (make install-docker and make
// uninstall-docker run it):
//
//	docker-runtime [-config /etc/docker/daemon.json] [-replace] add NAME PATH
//	docker-runtime [-config /etc/docker/daemon.json] remove NAME PATH
//
// add sets "runtimes": {NAME: {"path": PATH}}: other keys and runtimes stay
// as they were, in their order. An entry NAME that points elsewhere is
// refused unless -replace. A missing file is created.
//
// remove deletes exactly that entry, only if it points to PATH, and the
// then empty "runtimes" object; it refuses while "default-runtime" is NAME
// (dockerd would not start).
//
// Every change keeps the previous file as FILE.urunc.bak (same mode) and
// replaces FILE atomically. Nothing is changed when the file is not a JSON
// object or the entry is already as asked. dockerd is not restarted: it
// reads "runtimes" again on SIGHUP (systemctl reload docker).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("docker-runtime", flag.ContinueOnError)
	fl.SetOutput(stderr)
	config := fl.String("config", "/etc/docker/daemon.json", "dockerd's configuration file")
	replace := fl.Bool("replace", false, "add: replace an entry of that name pointing elsewhere")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: docker-runtime [-config FILE] [-replace] add|remove NAME PATH")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() != 3 || (fl.Arg(0) != "add" && fl.Arg(0) != "remove") {
		fl.Usage()
		return 2
	}
	op, name, path := fl.Arg(0), fl.Arg(1), fl.Arg(2)
	var msg string
	var err error
	if op == "add" {
		msg, err = add(*config, name, path, *replace)
	} else {
		msg, err = remove(*config, name, path)
	}
	if err != nil {
		fmt.Fprintf(stderr, "docker-runtime: %s: %v\n", *config, err)
		return 1
	}
	fmt.Fprintln(stdout, msg)
	return 0
}

const reloadHint = "; dockerd reads it on reload: systemctl reload docker (or kill -HUP $(pidof dockerd))"

func add(file, name, path string, replace bool) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("runtime path %q is not absolute", path)
	}
	doc, orig, mode, err := load(file)
	if err != nil {
		return "", err
	}
	runtimes, err := doc.object("runtimes")
	if err != nil {
		return "", err
	}
	if old, ok, err := runtimePath(runtimes, name); err != nil {
		return "", err
	} else if ok && old == path {
		return fmt.Sprintf("runtime %s is already %s in %s: nothing to do", name, path, file), nil
	} else if ok && !replace {
		return "", fmt.Errorf("runtime %s already points to %q, not %q: left alone (remove it first, or -replace)", name, old, path)
	}
	entry, _ := json.Marshal(map[string]string{"path": path})
	runtimes = runtimes.set(name, entry)
	doc = doc.set("runtimes", runtimes.encode())
	backup, err := save(file, doc, orig, mode)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("added runtime %s (%s) to %s%s%s", name, path, file, backup, reloadHint), nil
}

func remove(file, name, path string) (string, error) {
	doc, orig, mode, err := load(file)
	if err != nil {
		return "", err
	}
	if orig == nil {
		return fmt.Sprintf("no %s: nothing to do", file), nil
	}
	runtimes, err := doc.object("runtimes")
	if err != nil {
		return "", err
	}
	old, ok, err := runtimePath(runtimes, name)
	if err != nil {
		return "", err
	}
	if !ok {
		return fmt.Sprintf("no runtime %s in %s: nothing to do", name, file), nil
	}
	if old != path {
		return "", fmt.Errorf("runtime %s points to %q, not %q: left alone", name, old, path)
	}
	if raw, ok := doc.get("default-runtime"); ok {
		var def string
		if json.Unmarshal(raw, &def) == nil && def == name {
			return "", fmt.Errorf("default-runtime is %s: change it first (dockerd would not start without that runtime)", name)
		}
	}
	runtimes = runtimes.del(name)
	if len(runtimes) == 0 {
		doc = doc.del("runtimes")
	} else {
		doc = doc.set("runtimes", runtimes.encode())
	}
	backup, err := save(file, doc, orig, mode)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("removed runtime %s (%s) from %s%s%s", name, path, file, backup, reloadHint), nil
}

// runtimePath returns the path of runtime name, if it has an entry.
func runtimePath(runtimes object, name string) (string, bool, error) {
	raw, ok := runtimes.get(name)
	if !ok {
		return "", false, nil
	}
	var e struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return "", true, fmt.Errorf("runtimes.%s: %w", name, err)
	}
	return e.Path, true, nil
}

// load reads file as a JSON object; a missing or blank file is {} with a
// nil orig.
func load(file string) (doc object, orig []byte, mode fs.FileMode, err error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return object{}, nil, 0o644, nil
	}
	if err != nil {
		return nil, nil, 0, err
	}
	st, err := os.Stat(file)
	if err != nil {
		return nil, nil, 0, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return object{}, data, st.Mode().Perm(), nil
	}
	doc, err = parseObject(data)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("not a JSON object, left alone: %w", err)
	}
	return doc, data, st.Mode().Perm(), nil
}

// save keeps orig (if the file existed) as file.urunc.bak and writes doc
// in its place atomically. It returns the note about the backup.
func save(file string, doc object, orig []byte, mode fs.FileMode) (string, error) {
	var out bytes.Buffer
	if err := json.Indent(&out, doc.encode(), "", "  "); err != nil {
		return "", err
	}
	out.WriteByte('\n')
	note := ""
	if orig != nil {
		bak := file + ".urunc.bak"
		if err := writeAtomic(bak, orig, mode); err != nil {
			return "", fmt.Errorf("backup: %w", err)
		}
		note = " (the previous file is " + bak + ")"
	} else if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil { //nolint:gosec // G301: /etc/docker, 0755 as Docker makes it
		return "", err
	}
	return note, writeAtomic(file, out.Bytes(), mode)
}

func writeAtomic(file string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// object is a JSON object with its members in their order; values are
// kept as they were written.
type object []member

type member struct {
	key   string
	value json.RawMessage
}

func parseObject(data []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil {
		return nil, err
	} else if t != json.Delim('{') {
		return nil, fmt.Errorf("starts with %v, not {", t)
	}
	var o object
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k := t.(string) // a key: the decoder checks the syntax
		if seen[k] {
			return nil, fmt.Errorf("key %q appears twice", k)
		}
		seen[k] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		o = append(o, member{k, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the object")
	}
	return o, nil
}

func (o object) get(k string) (json.RawMessage, bool) {
	for _, m := range o {
		if m.key == k {
			return m.value, true
		}
	}
	return nil, false
}

// object returns member k as an object ({} when absent).
func (o object) object(k string) (object, error) {
	raw, ok := o.get(k)
	if !ok {
		return object{}, nil
	}
	sub, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a JSON object, left alone: %w", k, err)
	}
	return sub, nil
}

// set replaces member k's value or appends k.
func (o object) set(k string, v json.RawMessage) object {
	for i, m := range o {
		if m.key == k {
			out := append(object{}, o...)
			out[i].value = v
			return out
		}
	}
	return append(append(object{}, o...), member{k, v})
}

func (o object) del(k string) object {
	var out object
	for _, m := range o {
		if m.key != k {
			out = append(out, m)
		}
	}
	return out
}

func (o object) encode() json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

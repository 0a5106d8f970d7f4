package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/urunc-dev/urunc/internal/e2e"
	"github.com/urunc-dev/urunc/internal/image"
	"github.com/urunc-dev/urunc/internal/testenv"
)

func TestParseAdds(t *testing.T) {
	cases := []struct {
		in      []string
		want    []image.File
		wantErr bool
	}{
		{[]string{"conf/redis.conf:/conf/redis.conf"}, []image.File{{Source: "conf/redis.conf", Dest: "/conf/redis.conf"}}, false},
		{[]string{"a:b.txt:/data/b.txt"}, []image.File{{Source: "a:b.txt", Dest: "/data/b.txt"}}, false},
		{[]string{"file"}, nil, true},
		{[]string{":/x"}, nil, true},
		{[]string{"file:relative"}, nil, true},
	}
	for _, tc := range cases {
		got, err := parseAdds(tc.in)
		if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseAdds(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// The real binary: bad input is a clear message on stderr, exit status 1
// and no file written.
func TestImageCommandRefusals(t *testing.T) {
	testenv.Require(t) // builds bin/urunc-dev
	e2e.Make(t, "build-dev", "unikernel")
	bin := filepath.Join(e2e.RepoRoot(), "bin", "urunc-dev")
	kernel := e2e.Unikernel()
	cases := []struct {
		name string
		args []string
		msg  string
	}{
		{"missing kernel file", []string{"--kernel", "/nonexistent/k.elf", "--tag", "a/b"}, "kernel: stat /nonexistent/k.elf: no such file"},
		{"unknown type", []string{"--kernel", kernel, "--type", "osv", "--tag", "a/b"}, `unknown unikernel type "osv"`},
		{"unknown hypervisor", []string{"--kernel", kernel, "--hypervisor", "vbox", "--tag", "a/b"}, `unknown hypervisor "vbox"`},
		{"bad tag", []string{"--kernel", kernel, "--tag", "A/B"}, `tag "A/B"`},
		{"bad label", []string{"--kernel", kernel, "--tag", "a/b", "--label", "novalue"}, `--label "novalue"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(bin, append([]string{"image", "-o", filepath.Join(dir, "out.tar")}, tc.args...)...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v (want status 1): %s", err, out)
			}
			if !strings.Contains(string(out), tc.msg) {
				t.Errorf("output %q does not say %q", out, tc.msg)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("left in the output directory: %v", left)
			}
		})
	}
}

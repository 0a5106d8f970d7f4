package oci_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// result is one validation program's outcome against one runtime.
type result struct {
	Program string
	Verdict string // PASS, FAIL, NOPLAN, TIMEOUT
	RC      int
	Secs    float64
	OK      int // ok lines that are not skips
	NotOK   int
	Skip    int
	Plan    string   // "1..N", or "-" when there is none
	Failed  []string // the not-ok descriptions, normalized, sorted
	Errors  []string // top-level YAML "error"s of a program without test lines
	Out     string   // the directory with <program>.tap and .err
	Output  string   // the TAP and stderr
}

// silentPass are the programs that print nothing at all when they pass
// (they exit 1 on failure); any other program without a plan never got
// TAP out of runtimetest (for example a dynamic runtimetest in the
// suite's libc-less rootfs), which must not count as a pass.
var silentPass = map[string]bool{"process_capabilities_fail": true, "process_rlimits_fail": true}

var (
	okLine    = regexp.MustCompile(`^ok \d+(?: - (.*))?`)
	notOKLine = regexp.MustCompile(`^not ok \d+(?: - (.*))?`)
	skipMark  = regexp.MustCompile(`(?i)#\s*skip`)
	planLine  = regexp.MustCompile(`^1\.\.\d+`)
	yamlError = regexp.MustCompile(`(?m)^\s+"error": "(.*)"$`)
)

// parseTAP applies the verdict rules of docs/conformance.md to a
// program's stdout and exit status, in order:
//  1. TIMEOUT: timeout(1) killed it (124, or 137 after -k).
//  2. FAIL: rc != 0, any top-level "not ok", or no test line but a
//     top-level YAML "error" (hooks, prestart, poststart, *_fail report
//     failure only that way, with plan 1..0 and rc 0).
//  3. NOPLAN: no "1..N" plan, except for the two silent-pass programs.
//  4. PASS.
//
// "ok" lines whose YAML carries an "error" are expected errors (start
// without an id, ...), not failures.
func parseTAP(program, tap string, rc int) result {
	r := result{Program: program, RC: rc, Plan: "-"}
	for _, l := range strings.Split(tap, "\n") {
		switch {
		case notOKLine.MatchString(l):
			r.NotOK++
			r.Failed = append(r.Failed, normalize(notOKLine.FindStringSubmatch(l)[1]))
		case okLine.MatchString(l):
			if skipMark.MatchString(l) {
				r.Skip++
			} else {
				r.OK++
			}
		case planLine.MatchString(l) && r.Plan == "-":
			r.Plan = strings.TrimSpace(l)
		}
	}
	if r.OK+r.Skip+r.NotOK == 0 {
		for _, m := range yamlError.FindAllStringSubmatch(tap, -1) {
			r.Errors = append(r.Errors, m[1])
		}
	}
	slices.Sort(r.Failed)
	switch {
	case rc == 124 || rc == 137:
		r.Verdict = "TIMEOUT"
	case rc != 0 || r.NotOK > 0 || len(r.Errors) > 0:
		r.Verdict = "FAIL"
	case r.Plan == "-" && !silentPass[program]:
		r.Verdict = "NOPLAN"
	default:
		r.Verdict = "PASS"
	}
	return r
}

var normalizers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "UUID"},
	{regexp.MustCompile(`ocitest\d+`), "ocitestN"},
	{regexp.MustCompile(`\d{4,}`), "N"}, // pids, timestamps, pointers
}

// normalize removes what differs between two runs of the same program
// from a test description.
func normalize(s string) string {
	for _, n := range normalizers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return strings.TrimSpace(s)
}

// key is what must be equal for urunc and runc: the verdict, the counts
// and the failing descriptions (not their order: runtimetest iterates Go
// maps). Error texts are not compared: where urunc answers a command
// itself its wording differs from runc's.
func (r result) key() string {
	return fmt.Sprintf("%s ok=%d notok=%d skip=%d failed=%q", r.Verdict, r.OK, r.NotOK, r.Skip, r.Failed)
}

func (r result) short() string {
	return fmt.Sprintf("%s %d/%d/%d", r.Verdict, r.OK, r.NotOK, r.Skip)
}

func TestParseTAP(t *testing.T) {
	tests := []struct {
		name, program, tap string
		rc                 int
		want               string
	}{
		{"pass", "state", "TAP version 13\nok 1 - a\n  ---\n  {\n  \"error\": \"expected\"\n  }\n  ...\nok 2 # SKIP no\n1..2\n", 0,
			`PASS ok=1 notok=0 skip=1 failed=[]`},
		{"not ok, plan last, normalized", "pidfile", "TAP version 13\nnot ok 1 - pid 123456 of ocitest42 is 0f8a3bc2-1111-2222-3333-444455556666\n1..1\n", 0,
			`FAIL ok=0 notok=1 skip=0 failed=["pid N of ocitestN is UUID"]`},
		{"yaml error with plan 1..0", "hooks", "TAP version 13\n1..0\n  ---\n  {\n    \"error\": \"Hooks MUST be called in the listed order\"\n  }\n  ...\n", 0,
			`FAIL ok=0 notok=0 skip=0 failed=[]`},
		{"nested TAP in YAML is not top-level", "linux_rootfs_propagation", "ok 1 - x\n  ---\n  {\"stdout\": \"TAP version 13\\nnot ok 1 - y\\n\"}\n  ...\n1..1\n", 0,
			`PASS ok=1 notok=0 skip=0 failed=[]`},
		{"no plan", "default", "", 0, `NOPLAN ok=0 notok=0 skip=0 failed=[]`},
		{"silent pass", "process_rlimits_fail", "", 0, `PASS ok=0 notok=0 skip=0 failed=[]`},
		{"exit 1", "process_capabilities_fail", "ok 1 - a\n1..1\n", 1, `FAIL ok=1 notok=0 skip=0 failed=[]`},
		{"timeout", "kill", "ok 1 - a\n", 124, `TIMEOUT ok=1 notok=0 skip=0 failed=[]`},
	}
	for _, tt := range tests {
		if got := parseTAP(tt.program, tt.tap, tt.rc).key(); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

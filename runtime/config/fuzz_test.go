package config

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Whatever urunc.json holds, parsing either fails or yields values without
// control characters (nothing can smuggle a newline into a command line).
func FuzzParseURuncJSON(f *testing.F) {
	f.Add([]byte(`{"com.urunc.unikernel.unikernelType":"dW5pa3JhZnQ=","com.urunc.unikernel.hypervisor":"cWVtdQ==","com.urunc.unikernel.binary":"L2s="}`))
	f.Add([]byte(`{"com.urunc.unikernel.cmdline":"b64:YQpi"}`))
	f.Add([]byte(`{"com.urunc.unikernel.bogus":"x"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseURuncJSON(data)
		if err != nil {
			return
		}
		for k, v := range u.Map() {
			for _, r := range v {
				if unicode.IsControl(r) && r != '\t' {
					t.Fatalf("%s holds control character %U", k, r)
				}
			}
		}
	})
}

func FuzzAnnotations(f *testing.F) {
	f.Add("unikraft", "qemu", "/k", "a b", "b64:YQ==")
	f.Add("linux", "qemu", "/boot/vmlinux", "", "tcg")
	f.Fuzz(func(t *testing.T, typ, hv, bin, cmdline, accel string) {
		spec := &specs.Spec{Root: &specs.Root{Path: t.TempDir()}, Annotations: map[string]string{
			KeyType: typ, KeyHypervisor: hv, KeyBinary: bin, KeyCmdline: cmdline, KeyAccel: accel,
		}}
		u, err := Load(t.TempDir(), spec)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error not wrapped as ErrInvalidConfig: %v", err)
			}
			return
		}
		if strings.ContainsAny(u.Cmdline+u.Binary+u.Type, "\n\x00") {
			t.Fatalf("control character accepted: %+v", u)
		}
	})
}

package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/urunc-dev/urunc/runtime/config"
	"github.com/urunc-dev/urunc/runtime/linuxboot"
)

func TestBoundFiles(t *testing.T) {
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("1.2.3.4 foo\n"), 0o644)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, linuxboot.MaxFileSize+1), 0o644)
	bind := func(src, dst string, opts ...string) specs.Mount {
		return specs.Mount{Source: src, Destination: dst, Type: "bind", Options: opts}
	}
	tests := []struct {
		name      string
		mounts    []specs.Mount
		wantFiles []string
		volumes   int
		wantErr   bool
	}{
		{"file, read-only", []specs.Mount{bind(hosts, "/etc/hosts", "rbind", "ro")}, []string{"/etc/hosts ro"}, 0, false},
		{"bind by option only", []specs.Mount{{Source: hosts, Destination: "/etc/hosts", Options: []string{"rbind"}}}, []string{"/etc/hosts rw"}, 0, false},
		{"directory is a volume", []specs.Mount{bind(dir, "/data", "ro")}, nil, 1, false},
		{"guest's own /dev/shm ignored", []specs.Mount{bind(dir, "/dev/shm")}, nil, 0, false},
		{"proc and tmpfs ignored", []specs.Mount{{Type: "proc", Source: "proc", Destination: "/proc"}, {Type: "tmpfs", Source: "tmpfs", Destination: "/tmp"}}, nil, 0, false},
		{"missing source", []specs.Mount{bind(filepath.Join(dir, "nope"), "/x")}, nil, 0, true},
		{"too big", []specs.Mount{bind(big, "/big")}, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, vols, err := boundFiles(tt.mounts)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if !errors.Is(err, config.ErrBadBundle) {
					t.Fatalf("%v is not ErrBadBundle", err)
				}
				return
			}
			var got []string
			for _, f := range files {
				mode := "rw"
				if f.ReadOnly {
					mode = "ro"
				}
				got = append(got, f.Path+" "+mode)
				if string(f.Data) != "1.2.3.4 foo\n" || f.Mode != 0o644 {
					t.Fatalf("file %s: %q %o", f.Path, f.Data, f.Mode)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantFiles) || len(vols) != tt.volumes {
				t.Fatalf("files %v volumes %v; want %v and %d volumes", got, vols, tt.wantFiles, tt.volumes)
			}
			for _, v := range vols {
				if v.Source != dir || v.Destination != "/data" || !v.ReadOnly {
					t.Fatalf("volume %+v", v)
				}
			}
		})
	}
}

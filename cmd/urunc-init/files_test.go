package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMountPoint(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "hosts"), []byte("old"), 0o644)
	os.MkdirAll(filepath.Join(root, "adir"), 0o755)
	tests := []struct {
		name    string
		path    string
		wantErr bool
	}{
		{"existing file is kept", "etc/hosts", false},
		{"missing file is created", "etc/hostname", false},
		{"missing directories too", "run/secrets/token", false},
		{"a directory cannot take a file", "adir", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(root, tt.path)
			err := mountPoint(p)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil {
				if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
					t.Fatalf("no regular file at %s: %v", p, err)
				}
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc", "hosts")); string(b) != "old" {
		t.Fatalf("existing file changed: %q", b)
	}
}

package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadSpecErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadSpec(dir); !errors.Is(err, ErrBadBundle) {
		t.Fatalf("missing: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("{"), 0o644)
	if _, err := LoadSpec(dir); !errors.Is(err, ErrBadBundle) {
		t.Fatalf("malformed: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"ociVersion":"1.0.0"}`), 0o644)
	if _, err := LoadSpec(dir); !errors.Is(err, ErrBadBundle) {
		t.Fatalf("no root: %v", err)
	}
	if ok, err := Detect(dir); ok || err == nil {
		t.Fatalf("Detect: %v %v", ok, err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"ociVersion":"1.0.0","root":{"path":"rootfs"}}`), 0o644)
	if ok, err := Detect(dir); ok || err != nil {
		t.Fatalf("plain bundle: %v %v", ok, err)
	}
}

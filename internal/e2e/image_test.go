package e2e

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestTarWriter(t *testing.T) {
	tests := []struct {
		name    string
		write   func(w *tarWriter)
		wantErr string
	}{
		{"complete", func(w *tarWriter) {
			w.header(&tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755})
			w.file(&tar.Header{Name: "d/f", Mode: 0o644}, []byte("data"))
		}, ""},
		// A header promising 3 bytes that never come: the next header
		// fails, and that first error is what close returns.
		{"first error kept", func(w *tarWriter) {
			w.header(&tar.Header{Name: "short", Mode: 0o644, Size: 3})
			w.file(&tar.Header{Name: "next", Mode: 0o644}, []byte("x"))
		}, "missed writing 3 bytes"},
		{"error at close", func(w *tarWriter) {
			w.header(&tar.Header{Name: "short", Mode: 0o644, Size: 3})
		}, "missed writing 3 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := newTarWriter(&buf)
			tt.write(w)
			err := w.close()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("close: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("close: %v, want an error with %q", err, tt.wantErr)
			}
			if tt.wantErr != "" {
				return
			}
			tr := tar.NewReader(&buf)
			var names []string
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("reading the tarball: %v", err)
				}
				names = append(names, h.Name)
			}
			if got := strings.Join(names, " "); got != "d/ d/f" {
				t.Fatalf("tarball holds %q", got)
			}
		})
	}
}

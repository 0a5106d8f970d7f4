package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/urunc-dev/urunc/runtime/config"
)

// UnikernelRootfsTar returns a tar of an image rootfs as upstream urunc
// images are made: the test unikernel at /unikernel/app.elf and a base64
// urunc.json at the root (engines pass no image annotations).
func UnikernelRootfsTar(t testing.TB) []byte {
	t.Helper()
	layer, err := UnikernelRootfs()
	if err != nil {
		t.Fatalf("%v (run make unikernel)", err)
	}
	return layer
}

// UnikernelRootfs is UnikernelRootfsTar for callers without a test
// (cmd/urunc-bench).
func UnikernelRootfs() ([]byte, error) {
	kernel, err := os.ReadFile(Unikernel())
	if err != nil {
		return nil, err
	}
	uj := config.EncodeURuncJSON(map[string]string{
		"com.urunc.unikernel.unikernelType": "unikraft", "com.urunc.unikernel.hypervisor": "qemu",
		"com.urunc.unikernel.binary": "/unikernel/app.elf", "com.urunc.vmm.machine": "microvm",
	})
	var buf bytes.Buffer
	tw := newTarWriter(&buf)
	tw.header(&tar.Header{Name: "unikernel/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.file(&tar.Header{Name: "unikernel/app.elf", Mode: 0o755}, kernel)
	tw.file(&tar.Header{Name: "urunc.json", Mode: 0o644}, uj)
	if err := tw.close(); err != nil {
		return nil, fmt.Errorf("image rootfs tarball: %w", err)
	}
	return buf.Bytes(), nil
}

// tarWriter is a tar.Writer that keeps its first error for close to
// return, so that a tarball is checked once, at the end.
type tarWriter struct {
	tw  *tar.Writer
	err error
}

func newTarWriter(w io.Writer) *tarWriter { return &tarWriter{tw: tar.NewWriter(w)} }

func (w *tarWriter) header(h *tar.Header) {
	if w.err == nil {
		w.err = w.tw.WriteHeader(h)
	}
}

// file writes h, its Size set to len(data), and data.
func (w *tarWriter) file(h *tar.Header, data []byte) {
	h.Size = int64(len(data))
	w.header(h)
	if w.err == nil {
		_, w.err = w.tw.Write(data)
	}
}

func (w *tarWriter) close() error {
	if err := w.tw.Close(); w.err == nil {
		w.err = err
	}
	return w.err
}

// URuncDevImage runs `bin/urunc-dev image` with args (built by make build)
// and returns the path of the image tarball it wrote in a temp dir.
func URuncDevImage(t testing.TB, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "image.tar")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin := filepath.Join(RepoRoot(), "bin", "urunc-dev")
	cmd := exec.CommandContext(ctx, bin, append([]string{"image", "-o", out}, args...)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("urunc-dev image %v: %v\n%s", args, err, msg)
	}
	return out
}

// DockerArchive builds a `docker save` style tarball of one layer
// (what `docker load` and `ctr images import` read), tagged ref.
func DockerArchive(ref string, layer []byte, config map[string]any) []byte {
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	layerID := sum(layer)
	imgCfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "config": config,
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerID}},
	})
	cfgID := sum(imgCfg)
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgID + ".json", "RepoTags": []string{ref}, "Layers": []string{layerID + "/layer.tar"}}})
	var out bytes.Buffer
	tw := newTarWriter(&out)
	add := func(name string, data []byte) { tw.file(&tar.Header{Name: name, Mode: 0o644}, data) }
	add(cfgID+".json", imgCfg)
	add(layerID+"/layer.tar", layer)
	add("manifest.json", manifest)
	if err := tw.close(); err != nil {
		// Only a bug here can fail a tarball in memory; there is no t.
		panic(fmt.Sprintf("e2e.DockerArchive %s: %v", ref, err))
	}
	return out.Bytes()
}

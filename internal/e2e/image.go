package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	kernel, err := os.ReadFile(Unikernel())
	if err != nil {
		t.Fatalf("%v (run make unikernel)", err)
	}
	uj := config.EncodeURuncJSON(map[string]string{
		"com.urunc.unikernel.unikernelType": "unikraft", "com.urunc.unikernel.hypervisor": "qemu",
		"com.urunc.unikernel.binary": "/unikernel/app.elf", "com.urunc.vmm.machine": "microvm",
	})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "unikernel/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "unikernel/app.elf", Mode: 0o755, Size: int64(len(kernel))})
	tw.Write(kernel)
	tw.WriteHeader(&tar.Header{Name: "urunc.json", Mode: 0o644, Size: int64(len(uj))})
	tw.Write(uj)
	tw.Close()
	return buf.Bytes()
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
	tw := tar.NewWriter(&out)
	add := func(name string, data []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data))})
		tw.Write(data)
	}
	add(cfgID+".json", imgCfg)
	add(layerID+"/layer.tar", layer)
	add("manifest.json", manifest)
	tw.Close()
	return out.Bytes()
}

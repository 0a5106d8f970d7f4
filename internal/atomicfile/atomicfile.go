// Package atomicfile writes files so that readers see either the old
// content or the new, never half of it (containerd's pkg/atomicfile): a
// temporary file in the same directory renamed over the target. It is the
// one atomic writer of the project.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes data to a temporary file in the same directory
// and renames it over path, so readers never see half a file. It does not
// fsync: runtime state lives on /run (tmpfs) and means nothing after a
// reboot, so surviving a power loss buys nothing (runc does not sync its
// state either), while on a disk-backed root every fsync costs
// milliseconds on the lifecycle's critical path.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	return Write(path, mode, false, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write is WriteFile for content produced by write: path is
// either complete or untouched, whatever write does. durable fsyncs the
// file before the rename, for artefacts that must survive a crash (an
// image a user builds).
func Write(path string, mode os.FileMode, durable bool, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

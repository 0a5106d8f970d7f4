package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// ErrPathEscapes is returned for a configured path that leaves the rootfs.
var ErrPathEscapes = errors.New("path escapes the container rootfs")

// ResolveInRootfs turns a path from the unikernel config (absolute inside
// the container, e.g. /unikernel/app.elf) into a host path, resolving
// symlinks as if rootfs were "/" so nothing outside the rootfs is reached.
// The target must be a regular file or a block device.
func ResolveInRootfs(rootfs, key, p string) (string, error) {
	if p == "" {
		return "", nil
	}
	for _, part := range strings.Split(filepath.ToSlash(p), "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: %s %q contains \"..\"", ErrPathEscapes, key, p)
		}
	}
	host, err := securejoin.SecureJoin(rootfs, p)
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", key, p, err)
	}
	info, err := os.Stat(host)
	if err != nil {
		return "", fmt.Errorf("%w: %s %q not found in the container rootfs (%s)", ErrInvalidConfig, key, p, rootfs)
	}
	if !info.Mode().IsRegular() && info.Mode()&os.ModeDevice == 0 {
		return "", fmt.Errorf("%w: %s %q is not a regular file", ErrInvalidConfig, key, p)
	}
	return host, nil
}

package linuxboot

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrNoRelease is wrapped when a kernel image carries no release string
// that KernelRelease recognises (not a Linux kernel, or an unknown format).
var ErrNoRelease = errors.New("no Linux release found in the kernel image")

// linuxBanner starts the kernel's linux_banner ("Linux version 6.1.0-57-amd64
// (debian-kernel@...) ..."), which init/version.c puts in .rodata.
var linuxBanner = []byte("Linux version ")

// maxReleaseLen bounds a release string ("6.1.192-urunc-microvm").
const maxReleaseLen = 64

// KernelRelease returns the release of the Linux kernel image at path, as
// uname -r would print it in the guest ("6.1.0-57-amd64"): from the
// "Linux version <release> " banner in the .rodata section of an ELF
// vmlinux (it is near the start of that section), or from the setup
// header's kernel_version string of a bzImage. A file that is neither
// gives an error wrapping ErrNoRelease; one that cannot be read, the read
// error.
func KernelRelease(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil {
		return "", fmt.Errorf("%s: %w", path, ErrNoRelease)
	}
	if string(magic[:]) == elf.ELFMAG {
		rel, err := elfRelease(f)
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		return rel, nil
	}
	rel, err := bzImageRelease(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return rel, nil
}

func elfRelease(r io.ReaderAt) (string, error) {
	ef, err := elf.NewFile(r)
	if err != nil {
		return "", fmt.Errorf("%w (%w)", ErrNoRelease, err)
	}
	sec := ef.Section(".rodata")
	if sec == nil || sec.Type == elf.SHT_NOBITS {
		return "", fmt.Errorf("%w (no .rodata section)", ErrNoRelease)
	}
	// Read the section in chunks, keeping an overlap so that a banner
	// across a chunk boundary is still found.
	const chunk = 64 << 10
	keep := len(linuxBanner) + maxReleaseLen + 1
	buf := make([]byte, chunk+keep)
	sr := sec.Open()
	carry := 0
	for {
		n, err := io.ReadFull(sr, buf[carry:])
		data := buf[:carry+n]
		more := err == nil
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return "", err
		}
		next := max(len(data)-keep, 0) // where the kept tail starts
		for from := 0; ; {
			i := bytes.Index(data[from:], linuxBanner)
			if i < 0 {
				break
			}
			i += from
			if rel, ok := parseRelease(data[i+len(linuxBanner):]); ok {
				return rel, nil
			}
			if more && len(data)-i < keep {
				next = min(next, i) // maybe cut off: read on with it
				break
			}
			from = i + 1
		}
		if !more {
			return "", ErrNoRelease
		}
		carry = copy(buf, data[next:])
	}
}

// parseRelease takes the release off the start of b: printable characters
// up to a space (a release has no spaces).
func parseRelease(b []byte) (string, bool) {
	for i, c := range b {
		if i > maxReleaseLen {
			return "", false
		}
		if c == ' ' {
			return string(b[:i]), i > 0
		}
		if c < '!' || c > '~' {
			return "", false
		}
	}
	return "", false
}

// bzImageRelease reads the boot protocol header (Documentation/x86/boot.rst):
// "HdrS" at 0x202, version at 0x206, kernel_version at 0x20e: offset - 0x200
// of a NUL-terminated "<release> (<builder>) #<n> ..." string.
func bzImageRelease(r io.ReaderAt) (string, error) {
	var hdr [0x210]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return "", ErrNoRelease
	}
	if string(hdr[0x202:0x206]) != "HdrS" || binary.LittleEndian.Uint16(hdr[0x206:]) < 0x200 {
		return "", ErrNoRelease
	}
	off := int64(binary.LittleEndian.Uint16(hdr[0x20e:])) + 0x200
	var s [maxReleaseLen + 1]byte
	n, _ := r.ReadAt(s[:], off)
	rel, ok := parseRelease(s[:n])
	if !ok {
		return "", ErrNoRelease
	}
	return rel, nil
}

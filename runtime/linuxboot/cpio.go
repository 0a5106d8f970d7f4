package linuxboot

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// newc ("070701") cpio writer: the format the kernel's initramfs unpacker
// reads. It is small enough that no dependency is worth it (no Go cpio
// module is available from the package lists this project may use).

const (
	cpioMagic   = "070701"
	cpioTrailer = "TRAILER!!!"
	cpioHdrLen  = 110
)

// Mode type bits as stored in a cpio header (same as Linux st_mode).
const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeLink = 0o120000
	modeChr  = 0o020000
)

type cpioWriter struct {
	w   *bufio.Writer
	ino uint32
	off int64
}

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: bufio.NewWriterSize(w, 256<<10), ino: 1}
}

// cpioEntry is one header. Fields not set are zero (uid/gid root, mtime 0:
// reproducible archives).
type cpioEntry struct {
	name       string
	mode       uint32 // type bits | permissions
	size       int64
	rmaj, rmin uint32
}

func (c *cpioWriter) header(e cpioEntry) error {
	name := strings.TrimPrefix(e.name, "/")
	if name == "" {
		name = "."
	}
	nlink := 1
	if e.mode&0o170000 == modeDir {
		nlink = 2
	}
	if e.size > 0xffffffff {
		return fmt.Errorf("cpio: %s is larger than 4 GiB", name)
	}
	hdr := fmt.Sprintf("%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		cpioMagic, c.ino, e.mode, 0, 0, nlink, 0, e.size, 0, 0, e.rmaj, e.rmin, len(name)+1, 0)
	c.ino++
	if err := c.write([]byte(hdr)); err != nil {
		return err
	}
	if err := c.write(append([]byte(name), 0)); err != nil {
		return err
	}
	return c.pad()
}

func (c *cpioWriter) write(b []byte) error {
	n, err := c.w.Write(b)
	c.off += int64(n)
	if err != nil {
		return fmt.Errorf("cpio: %w", err)
	}
	return nil
}

func (c *cpioWriter) pad() error {
	if r := c.off % 4; r != 0 {
		return c.write(make([]byte, 4-r))
	}
	return nil
}

func (c *cpioWriter) Dir(name string, perm fs.FileMode) error {
	return c.header(cpioEntry{name: name, mode: modeDir | uint32(perm.Perm())})
}

func (c *cpioWriter) File(name string, perm fs.FileMode, data []byte) error {
	if err := c.header(cpioEntry{name: name, mode: modeFile | uint32(perm.Perm()), size: int64(len(data))}); err != nil {
		return err
	}
	if err := c.write(data); err != nil {
		return err
	}
	return c.pad()
}

// FileFrom copies size bytes from r.
func (c *cpioWriter) FileFrom(name string, perm fs.FileMode, size int64, r io.Reader) error {
	if err := c.header(cpioEntry{name: name, mode: modeFile | uint32(perm.Perm()), size: size}); err != nil {
		return err
	}
	n, err := io.CopyN(c.w, r, size)
	c.off += n
	if err != nil {
		return fmt.Errorf("cpio: copying %s: %w", name, err)
	}
	return c.pad()
}

func (c *cpioWriter) Symlink(name, target string) error {
	return c.File2(name, modeLink|0o777, []byte(target))
}

// File2 writes an entry with an explicit full mode.
func (c *cpioWriter) File2(name string, mode uint32, data []byte) error {
	if err := c.header(cpioEntry{name: name, mode: mode, size: int64(len(data))}); err != nil {
		return err
	}
	if err := c.write(data); err != nil {
		return err
	}
	return c.pad()
}

// CharDev writes a character device node.
func (c *cpioWriter) CharDev(name string, perm fs.FileMode, major, minor uint32) error {
	return c.header(cpioEntry{name: name, mode: modeChr | uint32(perm.Perm()), rmaj: major, rmin: minor})
}

// Close writes the trailer and flushes; it does not close the underlying
// writer.
func (c *cpioWriter) Close() error {
	if err := c.header(cpioEntry{name: cpioTrailer}); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("cpio: %w", err)
	}
	return nil
}

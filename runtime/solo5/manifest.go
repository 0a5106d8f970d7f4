// Package solo5 reads what a Solo5 unikernel declares about itself: its
// ABI note (".note.solo5.abi": the target, hvt/spt/virtio/..., and the ABI
// version the tender must speak) and its manifest note
// (".note.solo5.manifest": the network and block devices the tender must
// attach, by name).
//
// The format is MFT1 / ABI1, the same in every Solo5 release from v0.6.0
// to v0.12.1 (include/mft_abi.h and include/elf_abi.h). The notes are
// found the way the tenders find them (tenders/common/elf.c,
// elf_load_note): the first note of each PT_NOTE program header, not the
// section table, so what is read here is what the tender will see. The
// manifest is checked as strictly as the tender's mft_validate, plus what
// the tender could never satisfy (unknown device types, names it cannot
// be given on its command line), so that the runtime refuses such an
// image before it starts the tender.
//
// Parsing is bounds-checked and never panics: the input is an untrusted
// file from a container image.
package solo5

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// Sentinel errors, wrapped with %w and the details (and by ReadManifest
// with the file's name).
var (
	// ErrNotELF: not an ELF64 little-endian file with program headers.
	ErrNotELF = errors.New("not an ELF64 little-endian executable")
	// ErrNoManifest: an ELF file without a Solo5 manifest note: not a
	// Solo5 unikernel.
	ErrNoManifest = errors.New("no Solo5 manifest note (.note.solo5.manifest)")
	// ErrNoABI: a manifest but no Solo5 ABI note.
	ErrNoABI = errors.New("no Solo5 ABI note (.note.solo5.abi)")
	// ErrCorruptManifest: a Solo5 note the tenders would refuse (or a
	// manifest they could not satisfy).
	ErrCorruptManifest = errors.New("corrupt Solo5 note")
)

// DeviceType is the type of a manifest entry (enum mft_type).
type DeviceType uint32

// Device types. The values are Solo5's.
const (
	Block DeviceType = 1 // MFT_DEV_BLOCK_BASIC
	Net   DeviceType = 2 // MFT_DEV_NET_BASIC

	// reservedFirst is MFT_RESERVED_FIRST: the implicit first entry;
	// entries of this type and above are not devices.
	reservedFirst DeviceType = 1 << 30
)

// String is Solo5's name of the type, as the tenders print it.
func (t DeviceType) String() string {
	switch t {
	case Block:
		return "BLOCK_BASIC"
	case Net:
		return "NET_BASIC"
	case reservedFirst:
		return "RESERVED_FIRST"
	}
	return fmt.Sprintf("DeviceType(%#x)", uint32(t))
}

// Device is one device the unikernel declares. The tender must be given
// every one of them (--net:NAME=TAP, --block:NAME=PATH) or it refuses to
// start.
type Device struct {
	Name string
	Type DeviceType
}

// Target is the Solo5 target a unikernel was built for (enum abi_target).
type Target uint32

// Targets. The values are Solo5's.
const (
	TargetHVT    Target = 1
	TargetSPT    Target = 2
	TargetVirtio Target = 3
	TargetMuen   Target = 4
	TargetGenode Target = 5
	TargetXen    Target = 6
)

// String is the target's short name: hvt, spt, virtio, muen, genode, xen.
func (t Target) String() string {
	switch t {
	case TargetHVT:
		return "hvt"
	case TargetSPT:
		return "spt"
	case TargetVirtio:
		return "virtio"
	case TargetMuen:
		return "muen"
	case TargetGenode:
		return "genode"
	case TargetXen:
		return "xen"
	}
	return fmt.Sprintf("Target(%d)", uint32(t))
}

// ABI is the content of the ABI1 note. A tender runs only unikernels of
// its own target and ABI version (hvt and spt: version 1 in v0.6-v0.7,
// 2 from v0.8.0 to v0.12.1).
type ABI struct {
	Target  Target
	Version uint32
}

// Manifest is what a Solo5 unikernel declares.
type Manifest struct {
	ABI ABI
	// Version is the manifest format (MFT_VERSION, always 1).
	Version uint32
	// Devices in manifest order, without the reserved first entry.
	Devices []Device
	// Machine is the ELF machine (EM_X86_64, EM_AARCH64, ...).
	Machine elf.Machine
}

// Names returns the names of the declared devices of type t, in order.
func (m *Manifest) Names(t DeviceType) []string {
	var names []string
	for _, d := range m.Devices {
		if d.Type == t {
			names = append(names, d.Name)
		}
	}
	return names
}

// Format constants of include/mft_abi.h and include/elf_abi.h.
const (
	noteName      = "Solo5\x00"
	noteHdrSize   = 20         // Elf64_Nhdr (12) + "Solo5\0" padded to 8
	typeMFT1      = 0x3154464d // "MFT1"
	typeABI1      = 0x31494241 // "ABI1"
	mftAlign      = 8          // MFT1_NOTE_ALIGN: the struct mft follows 4 bytes of padding
	abiAlign      = 4          // ABI1_NOTE_ALIGN: no padding
	mftVersion    = 1          // MFT_VERSION
	mftMaxEntries = 64         // MFT_MAX_ENTRIES, the reserved first entry included
	mftHdrSize    = 8          // struct mft: version, entries
	mftEntrySize  = 104        // struct mft_entry on LP64
	mftNameSize   = 68         // MFT_NAME_SIZE, NUL included
	mftTypeOff    = 68         // offsetof(struct mft_entry, type)
	mftAttachOff  = 96         // offsetof(struct mft_entry, attached)
	// MFT1_NOTE_MAX_SIZE and ABI1_NOTE_MAX_SIZE: the largest descsz the
	// tenders accept.
	mftMaxDesc = 4 + mftHdrSize + mftMaxEntries*mftEntrySize // 6668
	abiMaxDesc = 32
	abiMinDesc = 8 // target and version; the tenders read no more
	phdrSize   = 56
	ehdrSize   = 64
)

// ReadManifest reads the ABI and manifest notes of the Solo5 unikernel at
// path. Errors name the file and wrap ErrNotELF, ErrNoManifest, ErrNoABI,
// ErrCorruptManifest, or the error of opening or reading it.
func ReadManifest(path string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("solo5 manifest: %w", err)
	}
	defer f.Close()
	m, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("solo5 manifest of %s: %w", path, err)
	}
	return m, nil
}

// Read is ReadManifest on an open file (or any io.ReaderAt).
func Read(r io.ReaderAt) (*Manifest, error) {
	e, err := readELF(r)
	if err != nil {
		return nil, err
	}
	mft, err := e.note(typeMFT1, mftAlign, mftMaxDesc)
	if err != nil {
		return nil, err
	}
	if mft == nil {
		return nil, ErrNoManifest
	}
	abi, err := e.note(typeABI1, abiAlign, abiMaxDesc)
	if err != nil {
		return nil, err
	}
	if abi == nil {
		return nil, ErrNoABI
	}
	if e.typ != elf.ET_EXEC {
		return nil, fmt.Errorf("%w: ELF type %v, the tenders load only ET_EXEC", ErrCorruptManifest, e.typ)
	}
	m := &Manifest{Machine: e.machine}
	if m.ABI, err = parseABI(abi); err != nil {
		return nil, err
	}
	if m.Version, m.Devices, err = parseMFT(mft); err != nil {
		return nil, err
	}
	return m, nil
}

// elfFile is the part of an ELF file the tenders look at.
type elfFile struct {
	r       io.ReaderAt
	typ     elf.Type
	machine elf.Machine
	phoff   uint64
	phnum   uint16
}

// readAt reads exactly len(b) bytes at off; a short read (past the end of
// the file) is io.ErrUnexpectedEOF.
func readAt(r io.ReaderAt, b []byte, off uint64) error {
	if off > math.MaxInt64-uint64(len(b)) {
		return io.ErrUnexpectedEOF
	}
	n, err := r.ReadAt(b, int64(off))
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// readELF checks the ELF header as the tenders' ehdr_is_valid does (all
// but e_type and e_machine, which Read reports instead).
func readELF(r io.ReaderAt) (*elfFile, error) {
	var raw [ehdrSize]byte
	if err := readAt(r, raw[:], 0); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: shorter than an ELF64 header", ErrNotELF)
		}
		return nil, err
	}
	if !bytes.Equal(raw[:4], []byte(elf.ELFMAG)) {
		return nil, fmt.Errorf("%w: no ELF magic", ErrNotELF)
	}
	if elf.Class(raw[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(raw[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return nil, fmt.Errorf("%w: %v %v", ErrNotELF, elf.Class(raw[elf.EI_CLASS]), elf.Data(raw[elf.EI_DATA]))
	}
	var h elf.Header64
	if err := binary.Read(bytes.NewReader(raw[:]), binary.LittleEndian, &h); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotELF, err)
	}
	switch {
	case elf.Version(h.Version) != elf.EV_CURRENT:
		return nil, fmt.Errorf("%w: ELF version %d", ErrNotELF, h.Version)
	case h.Ehsize != ehdrSize:
		return nil, fmt.Errorf("%w: ELF header size %d", ErrNotELF, h.Ehsize)
	case h.Phnum < 1:
		return nil, fmt.Errorf("%w: no program headers", ErrNotELF)
	case h.Phentsize != phdrSize:
		return nil, fmt.Errorf("%w: program header size %d", ErrNotELF, h.Phentsize)
	case h.Phoff > math.MaxInt64-uint64(h.Phnum)*phdrSize:
		return nil, fmt.Errorf("%w: program headers at offset %#x", ErrNotELF, h.Phoff)
	}
	return &elfFile{r: r, typ: elf.Type(h.Type), machine: elf.Machine(h.Machine), phoff: h.Phoff, phnum: h.Phnum}, nil
}

// note returns the descriptor of the Solo5 note of type typ (without the
// alignment padding after the header), or nil when there is none. Like
// elf_load_note it looks only at the first note of each PT_NOTE segment.
func (e *elfFile) note(typ uint32, align, maxDesc uint32) ([]byte, error) {
	for i := uint64(0); i < uint64(e.phnum); i++ {
		var raw [phdrSize]byte
		if err := readAt(e.r, raw[:], e.phoff+i*phdrSize); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: program header %d is past the end of the file", ErrNotELF, i)
			}
			return nil, err
		}
		// Elf64_Phdr: p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, ...
		if elf.ProgType(binary.LittleEndian.Uint32(raw[0:])) != elf.PT_NOTE {
			continue
		}
		p := elf.Prog64{Off: binary.LittleEndian.Uint64(raw[8:]), Filesz: binary.LittleEndian.Uint64(raw[32:])}
		if p.Filesz < 12 {
			// The tenders refuse the whole executable.
			return nil, fmt.Errorf("%w: PT_NOTE %d is %d bytes, shorter than a note header", ErrCorruptManifest, i, p.Filesz)
		}
		if p.Filesz < noteHdrSize {
			continue // too short for a Solo5 note
		}
		var hdr [noteHdrSize]byte
		if err := readAt(e.r, hdr[:], p.Off); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: PT_NOTE %d is past the end of the file", ErrCorruptManifest, i)
			}
			return nil, err
		}
		namesz := binary.LittleEndian.Uint32(hdr[0:])
		descsz := binary.LittleEndian.Uint32(hdr[4:])
		ntype := binary.LittleEndian.Uint32(hdr[8:])
		if namesz != uint32(len(noteName)) || string(hdr[12:12+len(noteName)]) != noteName || ntype != typ {
			continue
		}
		what := noteKind(typ)
		if descsz < 1 || descsz > maxDesc {
			return nil, fmt.Errorf("%w: %s note size %d is not within 1..%d", ErrCorruptManifest, what, descsz, maxDesc)
		}
		if p.Filesz < noteHdrSize+uint64(descsz) {
			return nil, fmt.Errorf("%w: %s note truncated: %d bytes in PT_NOTE %d, %d declared", ErrCorruptManifest, what, p.Filesz, i, noteHdrSize+uint64(descsz))
		}
		off := (noteHdrSize + align - 1) &^ (align - 1)
		pad := off - noteHdrSize
		if descsz <= pad {
			return nil, fmt.Errorf("%w: %s note size %d leaves nothing after its %d bytes of padding", ErrCorruptManifest, what, descsz, pad)
		}
		desc := make([]byte, descsz-pad)
		if err := readAt(e.r, desc, p.Off+uint64(off)); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: %s note truncated by the end of the file", ErrCorruptManifest, what)
			}
			return nil, err
		}
		return desc, nil
	}
	return nil, nil
}

func noteKind(typ uint32) string {
	if typ == typeMFT1 {
		return "manifest (MFT1)"
	}
	return "ABI (ABI1)"
}

func parseABI(d []byte) (ABI, error) {
	if len(d) < abiMinDesc {
		return ABI{}, fmt.Errorf("%w: ABI note has %d bytes, want at least %d", ErrCorruptManifest, len(d), abiMinDesc)
	}
	return ABI{Target: Target(binary.LittleEndian.Uint32(d[0:])), Version: binary.LittleEndian.Uint32(d[4:])}, nil
}

// parseMFT checks the manifest as mft_validate does, then what the tender
// could never attach.
func parseMFT(d []byte) (uint32, []Device, error) {
	corrupt := func(format string, a ...any) (uint32, []Device, error) {
		return 0, nil, fmt.Errorf("%w: manifest: %s", ErrCorruptManifest, fmt.Sprintf(format, a...))
	}
	if len(d) < mftHdrSize {
		return corrupt("%d bytes, shorter than its header", len(d))
	}
	version := binary.LittleEndian.Uint32(d[0:])
	entries := binary.LittleEndian.Uint32(d[4:])
	if version != mftVersion {
		return corrupt("version %d, want %d", version, mftVersion)
	}
	if entries > mftMaxEntries {
		return corrupt("%d entries, at most %d", entries, mftMaxEntries)
	}
	if want := mftHdrSize + int(entries)*mftEntrySize; len(d) != want {
		return corrupt("%d bytes for %d entries, want %d", len(d), entries, want)
	}
	if entries < 1 {
		return corrupt("no entries (the first must be the reserved one)")
	}
	var devs []Device
	seen := map[Device]bool{}
	for i := 0; i < int(entries); i++ {
		e := d[mftHdrSize+i*mftEntrySize:][:mftEntrySize]
		raw := e[:mftNameSize]
		if raw[mftNameSize-1] != 0 {
			return corrupt("entry %d: name not NUL-terminated", i)
		}
		name := string(raw[:bytes.IndexByte(raw, 0)])
		typ := DeviceType(binary.LittleEndian.Uint32(e[mftTypeOff:]))
		if e[mftAttachOff] != 0 {
			return corrupt("entry %d %q: marked attached", i, name)
		}
		if i == 0 {
			if typ != reservedFirst || name != "" {
				return corrupt("entry 0 is %q of type %v, want the unnamed RESERVED_FIRST", name, typ)
			}
			continue
		}
		if typ >= reservedFirst {
			continue // reserved: not a device (the tenders skip it too)
		}
		if typ != Block && typ != Net {
			return corrupt("entry %d %q: unknown device type %#x (no tender can attach it)", i, name, uint32(typ))
		}
		if !validName(name) {
			return corrupt("entry %d: device name %q is not 1-%d letters and digits", i, name, mftNameSize-1)
		}
		dev := Device{Name: name, Type: typ}
		if seen[dev] {
			return corrupt("entry %d: %s device %q declared twice (the tenders attach only the first)", i, typ, name)
		}
		seen[dev] = true
		devs = append(devs, dev)
	}
	return version, devs, nil
}

// validName: what elftool accepts and the tenders' option parsers match
// ([A-Za-z0-9]{1,67}).
func validName(s string) bool {
	if len(s) < 1 || len(s) > mftNameSize-1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

package solo5

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// A small ELF64 builder for synthetic unikernels: an ELF header, one
// PT_NOTE program header per note (as Solo5's linker scripts lay them
// out), the notes, and a section table naming them (.note.solo5.abi,
// .note.solo5.manifest, .shstrtab) so that readelf and debug/elf see what
// a real unikernel has. No code: nothing here is ever run.

// entry is one raw manifest entry.
type entry struct {
	name     []byte // copied into the 68-byte name field as is (no NUL added beyond the field's zeroes)
	typ      uint32
	attached byte
}

// dev is a manifest entry for a valid device.
func dev(name string, t DeviceType) entry { return entry{name: []byte(name), typ: uint32(t)} }

// reserved is the implicit first entry elftool adds.
var reserved = entry{typ: uint32(reservedFirst)}

// mftDesc is the MFT1 descriptor as the linker emits it: 4 bytes of
// padding, then struct mft {version, entries, e[]}.
func mftDesc(version, count uint32, es []entry) []byte {
	b := make([]byte, 4+mftHdrSize+len(es)*mftEntrySize)
	binary.LittleEndian.PutUint32(b[4:], version)
	binary.LittleEndian.PutUint32(b[8:], count)
	for i, e := range es {
		o := 4 + mftHdrSize + i*mftEntrySize
		copy(b[o:o+mftNameSize], e.name)
		binary.LittleEndian.PutUint32(b[o+mftTypeOff:], e.typ)
		b[o+mftAttachOff] = e.attached
	}
	return b
}

// manifestDesc is a valid descriptor declaring devs.
func manifestDesc(devs ...entry) []byte {
	es := append([]entry{reserved}, devs...)
	return mftDesc(mftVersion, uint32(len(es)), es)
}

// abiDesc is the ABI1 descriptor {target, version, 0, 0}.
func abiDesc(t Target, version uint32) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[0:], uint32(t))
	binary.LittleEndian.PutUint32(b[4:], version)
	return b
}

// note is one ELF note: a Solo5 one unless name says otherwise.
type note struct {
	section string // section name
	name    string // note name including NUL ("Solo5\x00")
	typ     uint32
	desc    []byte
	descsz  *uint32 // overrides n_descsz when set
	filesz  *uint64 // overrides the PT_NOTE's p_filesz when set
}

func solo5Note(section string, typ uint32, desc []byte) note {
	return note{section: section, name: noteName, typ: typ, desc: desc}
}

func abiNote(t Target, v uint32) note {
	return solo5Note(".note.solo5.abi", typeABI1, abiDesc(t, v))
}

func mftNote(desc []byte) note { return solo5Note(".note.solo5.manifest", typeMFT1, desc) }

// image is a synthetic ELF file.
type image struct {
	class   elf.Class
	data    elf.Data
	typ     elf.Type
	machine elf.Machine
	notes   []note
}

func unikernel(notes ...note) image {
	return image{class: elf.ELFCLASS64, data: elf.ELFDATA2LSB, typ: elf.ET_EXEC, machine: elf.EM_X86_64, notes: notes}
}

func u32(v uint32) *uint32 { return &v }
func u64(v uint64) *uint64 { return &v }

func pad4(n int) int { return (n + 3) &^ 3 }

// bytes lays the file out: header, program headers, notes (4-aligned),
// .shstrtab, section headers.
func (im image) bytes() []byte {
	le := binary.LittleEndian
	nph := len(im.notes)
	phoff := ehdrSize
	off := phoff + nph*phdrSize
	var body bytes.Buffer
	type placed struct{ off, size int }
	var at []placed
	for _, n := range im.notes {
		for (off+body.Len())%8 != 0 {
			body.WriteByte(0)
		}
		start := off + body.Len()
		descsz := uint32(len(n.desc))
		if n.descsz != nil {
			descsz = *n.descsz
		}
		var h [12]byte
		le.PutUint32(h[0:], uint32(len(n.name)))
		le.PutUint32(h[4:], descsz)
		le.PutUint32(h[8:], n.typ)
		body.Write(h[:])
		body.WriteString(n.name)
		for i := len(n.name); i < pad4(len(n.name)); i++ {
			body.WriteByte(0)
		}
		body.Write(n.desc)
		at = append(at, placed{start, off + body.Len() - start})
	}
	// .shstrtab
	shstr := []byte{0}
	nameOff := make([]int, len(im.notes))
	for i, n := range im.notes {
		nameOff[i] = len(shstr)
		shstr = append(append(shstr, n.section...), 0)
	}
	shstrName := len(shstr)
	shstr = append(append(shstr, ".shstrtab"...), 0)
	shstrOff := off + body.Len()
	body.Write(shstr)
	for (off+body.Len())%8 != 0 {
		body.WriteByte(0)
	}
	shoff := off + body.Len()
	nsh := len(im.notes) + 2 // null, notes, .shstrtab

	var f bytes.Buffer
	var ident [elf.EI_NIDENT]byte
	copy(ident[:], elf.ELFMAG)
	ident[elf.EI_CLASS] = byte(im.class)
	ident[elf.EI_DATA] = byte(im.data)
	ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	hdr := elf.Header64{
		Ident: ident, Type: uint16(im.typ), Machine: uint16(im.machine), Version: uint32(elf.EV_CURRENT),
		Entry: 0x100000, Phoff: uint64(phoff), Shoff: uint64(shoff), Ehsize: ehdrSize,
		Phentsize: phdrSize, Phnum: uint16(nph), Shentsize: 64, Shnum: uint16(nsh), Shstrndx: uint16(nsh - 1),
	}
	binary.Write(&f, le, hdr)
	for i, n := range im.notes {
		filesz := uint64(at[i].size)
		if n.filesz != nil {
			filesz = *n.filesz
		}
		binary.Write(&f, le, elf.Prog64{Type: uint32(elf.PT_NOTE), Flags: uint32(elf.PF_R), Off: uint64(at[i].off),
			Vaddr: 0x100000 + uint64(at[i].off), Paddr: 0x100000 + uint64(at[i].off), Filesz: filesz, Memsz: filesz, Align: 4})
	}
	f.Write(body.Bytes())
	binary.Write(&f, le, elf.Section64{})
	for i := range im.notes {
		binary.Write(&f, le, elf.Section64{Name: uint32(nameOff[i]), Type: uint32(elf.SHT_NOTE), Flags: uint64(elf.SHF_ALLOC),
			Addr: 0x100000 + uint64(at[i].off), Off: uint64(at[i].off), Size: uint64(at[i].size), Addralign: 4})
	}
	binary.Write(&f, le, elf.Section64{Name: uint32(shstrName), Type: uint32(elf.SHT_STRTAB), Off: uint64(shstrOff),
		Size: uint64(len(shstr)), Addralign: 1})
	return f.Bytes()
}

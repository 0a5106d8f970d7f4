package solo5

import (
	"bytes"
	"debug/elf"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/urunc-dev/urunc/internal/fixtures"
)

// TestReadManifestFixtures reads the real Solo5 v0.12.1 test unikernels
// (not in the repository: ../shared/guests, or $URUNC_TEST_GUESTS).
func TestReadManifestFixtures(t *testing.T) {
	dir := fixtures.Guests(t, "solo5-v0.12.1")
	for _, tc := range []struct {
		file    string
		abi     ABI
		devices []Device
	}{
		{"test_hello.hvt", ABI{TargetHVT, 2}, nil},
		{"test_hello.spt", ABI{TargetSPT, 2}, nil},
		{"test_hello.virtio", ABI{TargetVirtio, 1}, nil},
		{"test_blk.hvt", ABI{TargetHVT, 2}, []Device{{"storage", Block}}},
		{"test_blk.spt", ABI{TargetSPT, 2}, []Device{{"storage", Block}}},
		{"test_net.hvt", ABI{TargetHVT, 2}, []Device{{"service0", Net}}},
		{"test_net.spt", ABI{TargetSPT, 2}, []Device{{"service0", Net}}},
		{"test_net_mirage.hvt", ABI{TargetHVT, 2}, []Device{{"service", Net}}},
		{"test_net_mirage.spt", ABI{TargetSPT, 2}, []Device{{"service", Net}}},
		{"test_net_mirage.virtio", ABI{TargetVirtio, 1}, []Device{{"service", Net}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			if _, err := os.Stat(path); err != nil {
				t.Skip(fixtures.Missing(path))
			}
			m, err := ReadManifest(path)
			if err != nil {
				t.Fatal(err)
			}
			if m.ABI != tc.abi || m.Version != 1 || m.Machine != elf.EM_X86_64 || !reflect.DeepEqual(m.Devices, tc.devices) {
				t.Errorf("got %+v, want ABI %+v version 1 devices %v", m, tc.abi, tc.devices)
			}
			crossCheck(t, path)
		})
	}
	// The tenders are ELF files but not Solo5 unikernels.
	for _, tender := range []string{"solo5-hvt", "solo5-spt"} {
		path := filepath.Join(dir, tender)
		if _, err := os.Stat(path); err != nil {
			continue
		}
		if _, err := ReadManifest(path); !errors.Is(err, ErrNoManifest) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want ErrNoManifest naming the file", tender, err)
		}
	}
}

// crossCheck compares the note found through the program headers with the
// section debug/elf finds by name (an independent path to the same bytes).
func crossCheck(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Section(".note.solo5.manifest")
	if s == nil {
		t.Fatal("no .note.solo5.manifest section")
	}
	data, err := s.Data()
	if err != nil {
		t.Fatal(err)
	}
	desc, err := mustELF(t, path).note(typeMFT1, mftAlign, mftMaxDesc)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < noteHdrSize+4 || !bytes.Equal(data[noteHdrSize+4:], desc) {
		t.Errorf("the PT_NOTE manifest differs from section .note.solo5.manifest")
	}
}

func mustELF(t *testing.T, path string) *elfFile {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	e, err := readELF(fh)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// write puts b in a temporary file and returns its path.
func write(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "unikernel")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadManifestSynthetic: valid synthetic unikernels.
func TestReadManifestSynthetic(t *testing.T) {
	many := make([]entry, mftMaxEntries-1)
	var manyDevs []Device
	for i := range many {
		name := "d" + strings.Repeat("x", i)
		many[i] = dev(name, Net)
		manyDevs = append(manyDevs, Device{name, Net})
	}
	long := strings.Repeat("A", mftNameSize-1)
	for _, tc := range []struct {
		what  string
		image image
		want  *Manifest
	}{
		{"no devices", unikernel(abiNote(TargetHVT, 2), mftNote(manifestDesc())),
			&Manifest{ABI: ABI{TargetHVT, 2}, Version: 1, Machine: elf.EM_X86_64}},
		{"net and block, notes in the other order", unikernel(mftNote(manifestDesc(dev("service", Net), dev("storage", Block))), abiNote(TargetSPT, 2)),
			&Manifest{ABI: ABI{TargetSPT, 2}, Version: 1, Machine: elf.EM_X86_64, Devices: []Device{{"service", Net}, {"storage", Block}}}},
		{"63 devices (64 entries)", unikernel(abiNote(TargetHVT, 2), mftNote(manifestDesc(many...))),
			&Manifest{ABI: ABI{TargetHVT, 2}, Version: 1, Machine: elf.EM_X86_64, Devices: manyDevs}},
		{"67-character name, garbage after a NUL", unikernel(abiNote(TargetHVT, 2), mftNote(manifestDesc(
			dev(long, Block), entry{name: []byte("net0\x00junk"), typ: uint32(Net)}))),
			&Manifest{ABI: ABI{TargetHVT, 2}, Version: 1, Machine: elf.EM_X86_64, Devices: []Device{{long, Block}, {"net0", Net}}}},
		{"same name, two types", unikernel(abiNote(TargetHVT, 2), mftNote(manifestDesc(dev("x", Net), dev("x", Block)))),
			&Manifest{ABI: ABI{TargetHVT, 2}, Version: 1, Machine: elf.EM_X86_64, Devices: []Device{{"x", Net}, {"x", Block}}}},
		{"reserved entry type skipped", unikernel(abiNote(TargetHVT, 2), mftNote(manifestDesc(entry{name: []byte("r"), typ: 1<<30 + 1}, dev("n", Net)))),
			&Manifest{ABI: ABI{TargetHVT, 2}, Version: 1, Machine: elf.EM_X86_64, Devices: []Device{{"n", Net}}}},
		{"aarch64, virtio", func() image {
			im := unikernel(abiNote(TargetVirtio, 1), mftNote(manifestDesc()))
			im.machine = elf.EM_AARCH64
			return im
		}(), &Manifest{ABI: ABI{TargetVirtio, 1}, Version: 1, Machine: elf.EM_AARCH64}},
		{"an unrelated note first", unikernel(note{section: ".note.openbsd.ident", name: "OpenBSD\x00", typ: 1, desc: make([]byte, 4)},
			abiNote(TargetHVT, 2), mftNote(manifestDesc(dev("a1", Block)))),
			&Manifest{ABI: ABI{TargetHVT, 2}, Version: 1, Machine: elf.EM_X86_64, Devices: []Device{{"a1", Block}}}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			b := tc.image.bytes()
			m, err := ReadManifest(write(t, b))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m, tc.want) {
				t.Errorf("got %+v\nwant %+v", m, tc.want)
			}
			// The builder's output is a well-formed ELF for debug/elf too.
			f, err := elf.NewFile(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("debug/elf: %v", err)
			}
			if f.Section(".note.solo5.manifest") == nil {
				t.Errorf("debug/elf finds no .note.solo5.manifest")
			}
		})
	}
}

// TestReadManifestMalformed: every malformed input gives its sentinel
// error, wrapped with the file's name, and no panic.
func TestReadManifestMalformed(t *testing.T) {
	abi := abiNote(TargetHVT, 2)
	valid := manifestDesc(dev("service", Net))
	with := func(f func(*image)) image {
		im := unikernel(abi, mftNote(valid))
		f(&im)
		return im
	}
	mft := func(desc []byte) image { return unikernel(abi, mftNote(desc)) }
	tooMany := make([]entry, mftMaxEntries+1)
	tooMany[0] = reserved
	for i := 1; i < len(tooMany); i++ {
		tooMany[i] = dev("d"+strings.Repeat("x", i), Net)
	}
	noNUL := bytes.Repeat([]byte("n"), mftNameSize)
	truncated := mftNote(valid)
	truncated.filesz = u64(noteHdrSize + uint64(len(valid)) - 1)
	cut := unikernel(abi, mftNote(valid)).bytes()
	cutAt := bytes.Index(cut, []byte("service"))
	for _, tc := range []struct {
		what string
		data []byte
		want error
	}{
		{"empty file", nil, ErrNotELF},
		{"text", []byte("#!/bin/sh\necho not an ELF file, but long enough for a header..............\n"), ErrNotELF},
		{"ELF32", with(func(im *image) { im.class = elf.ELFCLASS32 }).bytes(), ErrNotELF},
		{"big-endian", with(func(im *image) { im.data = elf.ELFDATA2MSB }).bytes(), ErrNotELF},
		{"no program headers", unikernel().bytes(), ErrNotELF},
		{"truncated inside the program headers", cut[:ehdrSize+10], ErrNotELF},
		{"no notes but an unrelated one", unikernel(note{section: ".note.x", name: "GNU\x00", typ: 1, desc: make([]byte, 4)}).bytes(), ErrNoManifest},
		{"a note named Solo6", unikernel(abi, note{section: ".note.solo5.manifest", name: "Solo6\x00", typ: typeMFT1, desc: valid}).bytes(), ErrNoManifest},
		{"manifest without ABI note", unikernel(mftNote(valid)).bytes(), ErrNoABI},
		{"shared object with Solo5 notes", with(func(im *image) { im.typ = elf.ET_DYN }).bytes(), ErrCorruptManifest},
		{"note truncated (p_filesz)", unikernel(abi, truncated).bytes(), ErrCorruptManifest},
		{"note truncated (end of file)", cut[:cutAt+3], ErrCorruptManifest},
		{"PT_NOTE shorter than a note header", unikernel(abi, func() note { n := mftNote(valid); n.filesz = u64(8); return n }()).bytes(), ErrCorruptManifest},
		{"descsz 0", unikernel(abi, func() note { n := mftNote(valid); n.descsz = u32(0); return n }()).bytes(), ErrCorruptManifest},
		{"descsz too large", unikernel(abi, func() note { n := mftNote(valid); n.descsz = u32(mftMaxDesc + 1); return n }()).bytes(), ErrCorruptManifest},
		{"descsz only the padding", unikernel(abi, func() note { n := mftNote(valid); n.descsz = u32(4); return n }()).bytes(), ErrCorruptManifest},
		{"ABI note too short", unikernel(solo5Note(".note.solo5.abi", typeABI1, make([]byte, 4)), mftNote(valid)).bytes(), ErrCorruptManifest},
		{"manifest shorter than its header", mft(make([]byte, 4+4)).bytes(), ErrCorruptManifest},
		{"wrong version", mft(mftDesc(2, 2, []entry{reserved, dev("service", Net)})).bytes(), ErrCorruptManifest},
		{"too many entries", mft(mftDesc(1, uint32(len(tooMany)), tooMany)).bytes(), ErrCorruptManifest},
		{"entry count above the limit, short body", mft(mftDesc(1, 1000, []entry{reserved})).bytes(), ErrCorruptManifest},
		{"entry count larger than the body", mft(mftDesc(1, 3, []entry{reserved, dev("service", Net)})).bytes(), ErrCorruptManifest},
		{"entry count smaller than the body", mft(mftDesc(1, 1, []entry{reserved, dev("service", Net)})).bytes(), ErrCorruptManifest},
		{"no entries", mft(mftDesc(1, 0, nil)).bytes(), ErrCorruptManifest},
		{"first entry not reserved", mft(mftDesc(1, 1, []entry{dev("service", Net)})).bytes(), ErrCorruptManifest},
		{"reserved entry with a name", mft(mftDesc(1, 1, []entry{{name: []byte("x"), typ: uint32(reservedFirst)}})).bytes(), ErrCorruptManifest},
		{"name without NUL", mft(manifestDesc(entry{name: noNUL, typ: uint32(Net)})).bytes(), ErrCorruptManifest},
		{"reserved entry name without NUL", mft(mftDesc(1, 1, []entry{{name: append([]byte{0}, noNUL[1:]...), typ: uint32(reservedFirst)}})).bytes(), ErrCorruptManifest},
		{"attached", mft(manifestDesc(entry{name: []byte("service"), typ: uint32(Net), attached: 1})).bytes(), ErrCorruptManifest},
		{"unknown device type", mft(manifestDesc(entry{name: []byte("x"), typ: 3})).bytes(), ErrCorruptManifest},
		{"empty device name", mft(manifestDesc(dev("", Block))).bytes(), ErrCorruptManifest},
		{"name not alphanumeric", mft(manifestDesc(dev("a=b", Block))).bytes(), ErrCorruptManifest},
		{"name with a comma", mft(manifestDesc(dev("a,b", Net))).bytes(), ErrCorruptManifest},
		{"duplicate device", mft(manifestDesc(dev("x", Net), dev("x", Net))).bytes(), ErrCorruptManifest},
	} {
		t.Run(tc.what, func(t *testing.T) {
			path := write(t, tc.data)
			m, err := ReadManifest(path)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %+v, %v; want %v", m, err, tc.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("%v does not name the file", err)
			}
			t.Log(err)
		})
	}
	if _, err := ReadManifest(filepath.Join(t.TempDir(), "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("absent file: %v, want fs.ErrNotExist", err)
	}
}

func TestNames(t *testing.T) {
	m := &Manifest{Devices: []Device{{"a", Net}, {"b", Block}, {"c", Net}}}
	if got := m.Names(Net); !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Errorf("Names(Net) = %v", got)
	}
	if got := m.Names(Block); !reflect.DeepEqual(got, []string{"b"}) {
		t.Errorf("Names(Block) = %v", got)
	}
	for v, s := range map[interface{ String() string }]string{Net: "NET_BASIC", Block: "BLOCK_BASIC", DeviceType(7): "DeviceType(0x7)",
		TargetHVT: "hvt", TargetSPT: "spt", TargetVirtio: "virtio", TargetXen: "xen", Target(9): "Target(9)"} {
		if v.String() != s {
			t.Errorf("%v.String() = %q, want %q", v, v.String(), s)
		}
	}
}

package solo5

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// fuzzSeeds are synthetic unikernels, valid and malformed (the seed
// corpus in testdata/fuzz/FuzzReadManifest adds a few more).
func fuzzSeeds() [][]byte {
	abi := abiNote(TargetHVT, 2)
	return [][]byte{
		unikernel(abi, mftNote(manifestDesc())).bytes(),
		unikernel(abi, mftNote(manifestDesc(dev("service", Net), dev("storage", Block)))).bytes(),
		unikernel(mftNote(manifestDesc(dev("tap", Net))), abiNote(TargetSPT, 2)).bytes(),
		unikernel(abi, mftNote(mftDesc(2, 1, []entry{reserved}))).bytes(),
		unikernel(abi, mftNote(manifestDesc(entry{name: bytes.Repeat([]byte("n"), mftNameSize), typ: uint32(Net)}))).bytes(),
		unikernel(abi, func() note { n := mftNote(manifestDesc()); n.descsz = u32(6000); return n }()).bytes(),
	}
}

// FuzzReadManifest: Read never panics, fails only with one of the
// package's sentinels, and what it accepts is a usable manifest that
// reads back the same when written out again.
func FuzzReadManifest(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Read(bytes.NewReader(data))
		if err != nil {
			if m != nil {
				t.Fatalf("manifest %+v with error %v", m, err)
			}
			for _, s := range []error{ErrNotELF, ErrNoManifest, ErrNoABI, ErrCorruptManifest} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error %v is none of the sentinels", err)
		}
		if m.Version != 1 || len(m.Devices) > mftMaxEntries-1 {
			t.Fatalf("accepted %+v", m)
		}
		es := make([]entry, len(m.Devices))
		for i, d := range m.Devices {
			if !validName(d.Name) || (d.Type != Net && d.Type != Block) {
				t.Fatalf("accepted device %+v", d)
			}
			es[i] = dev(d.Name, d.Type)
		}
		im := unikernel(abiNote(m.ABI.Target, m.ABI.Version), mftNote(manifestDesc(es...)))
		im.machine = m.Machine
		again, err := Read(bytes.NewReader(im.bytes()))
		if err != nil {
			t.Fatalf("written out again: %v", err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("written out again: %+v, was %+v", again, m)
		}
	})
}

package watch

import "testing"

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{ContainerAdded: "added", SerialAppended: "serial", VMMChanged: "vmm"} {
		if k.String() != want {
			t.Errorf("%d: %s", k, k)
		}
	}
}

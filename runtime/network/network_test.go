package network

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestDefaultTapName(t *testing.T) {
	a := DefaultTapName("container-a")
	b := DefaultTapName("container-b")
	if len(a) != 15 || !strings.HasPrefix(a, TapPrefix) {
		t.Fatalf("DefaultTapName = %q, want tap + 12 hex digits", a)
	}
	if a == b {
		t.Fatalf("two ids gave the same tap name %q", a)
	}
	if a != DefaultTapName("container-a") {
		t.Fatal("DefaultTapName is not stable")
	}
}

func TestGeneratedMAC(t *testing.T) {
	m := GeneratedMAC("x")
	if len(m) != 17 || !strings.HasPrefix(m, "02:") {
		t.Fatalf("GeneratedMAC = %q, want a locally administered unicast MAC", m)
	}
	if m == GeneratedMAC("y") || m != GeneratedMAC("x") {
		t.Fatal("GeneratedMAC must be stable and differ between ids")
	}
}

func TestNormalize(t *testing.T) {
	o, err := Options{ContainerID: "c1"}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if o.Mode != ModeDynamic || o.Interface != "eth0" || o.TapName != DefaultTapName("c1") {
		t.Fatalf("defaults: %+v", o)
	}
	o, err = Options{TapName: "t0", MAC: "AA:BB:CC:DD:EE:F0"}.normalize()
	if err != nil || o.MAC != "aa:bb:cc:dd:ee:f0" {
		t.Fatalf("MAC normalisation: %q %v", o.MAC, err)
	}
	bad := []Options{
		{},                                  // no tap name, no id
		{ContainerID: "c", Mode: "bridge"},  // unknown mode
		{TapName: "a-very-long-tap-name0"},  // > 15
		{TapName: "tap/0"},                  // slash
		{TapName: "eth0"},                   // equals the interface
		{TapName: "t0", Interface: "e t h"}, // space
		{TapName: "t0", MAC: "zz"},          // not a MAC
		{TapName: "t0", MAC: "01:00:5e:00:00:01"},
	}
	for _, b := range bad {
		if _, err := b.normalize(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%+v: err = %v, want ErrInvalidOptions", b, err)
		}
	}
}

func TestModeNoneDoesNothing(t *testing.T) {
	n, err := SetupIn(context.Background(), "/nonexistent/netns", Options{ContainerID: "c", Mode: ModeNone})
	if n != nil || err != nil {
		t.Fatalf("mode none: %v, %v", n, err)
	}
}

func TestBadInputs(t *testing.T) {
	if _, err := SetupIn(context.Background(), "", Options{ContainerID: "c"}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("empty path: %v", err)
	}
	if _, err := SetupIn(context.Background(), "/nonexistent/netns", Options{ContainerID: "c"}); err == nil {
		t.Fatal("SetupIn on a missing namespace must fail")
	}
	if err := Teardown("/nonexistent/netns", "tap0"); err != nil {
		t.Fatalf("Teardown on a missing namespace: %v", err)
	}
	if err := Teardown("/nonexistent/netns", ""); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("Teardown with empty tap name: %v", err)
	}
}

package state

import (
	"errors"
	"testing"
)

func TestTransitions(t *testing.T) {
	all := []Status{Creating, Created, Running, Paused, Stopped}
	allowed := map[[2]Status]bool{
		{Creating, Created}: true, {Creating, Stopped}: true,
		{Created, Running}: true, {Created, Stopped}: true,
		{Running, Paused}: true, {Running, Stopped}: true,
		{Paused, Running}: true, {Paused, Stopped}: true,
	}
	for _, from := range all {
		for _, to := range all {
			err := from.CanTransition(to)
			if allowed[[2]Status{from, to}] {
				if err != nil {
					t.Errorf("%s -> %s: unexpected error %v", from, to, err)
				}
				continue
			}
			if !errors.Is(err, ErrInvalidTransition) {
				t.Errorf("%s -> %s: want ErrInvalidTransition, got %v", from, to, err)
			}
		}
	}
}

func TestStatusPredicates(t *testing.T) {
	tests := []struct {
		s     Status
		live  bool
		valid bool
	}{
		{Creating, false, true}, {Created, true, true}, {Running, true, true},
		{Paused, true, true}, {Stopped, false, true}, {"bogus", false, false},
	}
	for _, tt := range tests {
		if got := tt.s.Live(); got != tt.live {
			t.Errorf("%q.Live() = %v", tt.s, got)
		}
		if got := tt.s.Valid(); got != tt.valid {
			t.Errorf("%q.Valid() = %v", tt.s, got)
		}
	}
}

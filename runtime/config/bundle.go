package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrBadBundle is wrapped for a bundle that cannot be run as it is: no
// config.json, a malformed one, or something in it no guest can be given.
var ErrBadBundle = errors.New("invalid bundle")

// LoadSpec reads and checks <bundle>/config.json.
func LoadSpec(bundle string) (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s has no config.json", ErrBadBundle, bundle)
		}
		return nil, fmt.Errorf("%w: %w", ErrBadBundle, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("%w: %s/config.json: %w", ErrBadBundle, bundle, err)
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return nil, fmt.Errorf("%w: config.json has no root.path", ErrBadBundle)
	}
	return &spec, nil
}

// Detect tells whether the bundle is a unikernel (urunc runs it) or not
// (hand it to runc). A bundle whose unikernel configuration is malformed
// is an error, never a hand-off.
func Detect(bundle string) (bool, error) {
	spec, err := LoadSpec(bundle)
	if err != nil {
		return false, err
	}
	_, err = Load(bundle, spec)
	switch {
	case errors.Is(err, ErrNoConfig):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

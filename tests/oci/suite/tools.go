//go:build tools

// Package suite pins the OCI runtime-tools validation suite that
// tests/oci runs (make oci-suite builds it into build/oci/<version>).
// It is a module of its own: runtime-tools needs its own runtime-spec,
// not urunc's.
package suite

import (
	_ "github.com/opencontainers/runtime-tools/cmd/runtimetest"
	_ "github.com/opencontainers/runtime-tools/validation/util"
)

# OCI runtime-tools validation suite (tests/oci, docs/conformance.md).
# tests/oci/suite/go.mod pins runtime-tools (a pseudo-version: the module
# proxy has only the unusable 2019 tag v0.9.0) and go.sum its checksums;
# it is a module of its own because runtime-tools needs its own
# runtime-spec. `make oci-suite` builds, once per pinned version (about a
# minute here), into build/oci/<version>/:
#   bin/<program>              the 58 validation programs (validation/*/)
#   work/runtimetest           static: the suite's rootfs has no libc
#   work/rootfs-amd64.tar.gz   from the module zip
# The programs run with cwd work/ (they unpack the rootfs and copy
# runtimetest from there). Needs only the Go module proxy.
OCI_SUITE_MOD := tests/oci/suite
OCI_SUITE_VERSION := $(shell awk '$$1 == "require" && $$2 == "github.com/opencontainers/runtime-tools" { print $$3 }' $(OCI_SUITE_MOD)/go.mod)
OCI_SUITE_DIR := build/oci/$(OCI_SUITE_VERSION)
OCI_SUITE_STAMP := $(OCI_SUITE_DIR)/.built
# The suite module's own settings, whatever the caller's GOFLAGS: go.sum
# must already hold every checksum, nothing is resolved at build time.
OCI_GO := cd $(OCI_SUITE_MOD) && GOFLAGS=-mod=readonly GOWORK=off

.PHONY: oci-suite clean-oci-suite
oci-suite: $(OCI_SUITE_STAMP)

# Keyed by the version alone, not by file times: a checkout or rebase that
# rewrites go.mod with the same pin does not rebuild (make clean-oci-suite
# does).
$(OCI_SUITE_STAMP):
	@test -n "$(OCI_SUITE_VERSION)" || { echo "no runtime-tools version in $(OCI_SUITE_MOD)/go.mod"; exit 1; }
	rm -rf $(OCI_SUITE_DIR).tmp
	mkdir -p $(OCI_SUITE_DIR).tmp/bin $(OCI_SUITE_DIR).tmp/work
	$(OCI_GO) $(GO) build -o $(abspath $(OCI_SUITE_DIR).tmp/bin)/ github.com/opencontainers/runtime-tools/validation/...
	$(OCI_GO) CGO_ENABLED=0 $(GO) build -tags 'netgo osusergo' -o $(abspath $(OCI_SUITE_DIR).tmp/work)/runtimetest github.com/opencontainers/runtime-tools/cmd/runtimetest
	cp "$$($(OCI_GO) $(GO) list -m -f '{{.Dir}}' github.com/opencontainers/runtime-tools)/rootfs-amd64.tar.gz" $(OCI_SUITE_DIR).tmp/work/
	chmod u+w $(OCI_SUITE_DIR).tmp/work/rootfs-amd64.tar.gz
	rm -rf $(OCI_SUITE_DIR)
	mv $(OCI_SUITE_DIR).tmp $(OCI_SUITE_DIR)
	echo $(OCI_SUITE_VERSION) > $@

clean-oci-suite:
	rm -rf build/oci

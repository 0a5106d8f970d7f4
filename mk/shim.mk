# containerd's shim v2 for urunc (docs/containerd.md): runtime_type
# io.containerd.urunc.v2 finds bin/containerd-shim-urunc-v2 on containerd's
# PATH. The containerd version it reports is urunc's (-v).
SHIM := $(BIN)/containerd-shim-urunc-v2

.PHONY: build-shim
build: $(SHIM)
build-shim: $(SHIM)

# Stamped as urunc's other binaries (mk/version.mk); pkg/shim's -v prints
# containerd's version variables, so they get urunc's release and commit.
CONTAINERD_VERSION_PKG := github.com/containerd/containerd/v2/version
$(SHIM): FORCE
	CGO_ENABLED=0 $(GO) build $(GO_BUILD_FLAGS) \
		-ldflags '$(VERSION_LDFLAGS) -X $(CONTAINERD_VERSION_PKG).Version=$(RELEASE) -X $(CONTAINERD_VERSION_PKG).Revision=$(COMMIT)' \
		-o $@ ./cmd/containerd-shim-urunc-v2

# containerd 2.x for tests/shim's TestShimContainerd2 (Debian 12 has 1.6):
# containerd and ctr from the Go module proxy into build/containerd2/,
# about 100 s once; rebuilt only when the version (this file) changes.
CONTAINERD2_VERSION ?= v2.4.2
CONTAINERD2 := build/containerd2/containerd

.PHONY: containerd2
containerd2: $(CONTAINERD2)

$(CONTAINERD2): mk/shim.mk
	@mkdir -p $(@D)
	GOFLAGS= GOBIN=$(abspath $(@D)) $(GO) install \
		github.com/containerd/containerd/v2/cmd/containerd@$(CONTAINERD2_VERSION) \
		github.com/containerd/containerd/v2/cmd/ctr@$(CONTAINERD2_VERSION)
	touch $@

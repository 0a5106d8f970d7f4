# containerd's shim v2 for urunc (docs/containerd.md): runtime_type
# io.containerd.urunc.v2 finds bin/containerd-shim-urunc-v2 on containerd's
# PATH. The containerd version it reports is urunc's (-v).
SHIM := $(BIN)/containerd-shim-urunc-v2
SHIM_VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
SHIM_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)

.PHONY: build-shim
build: $(SHIM)
build-shim: $(SHIM)

$(SHIM): FORCE
	CGO_ENABLED=0 $(GO) build -trimpath \
		-ldflags '-X main.version=$(SHIM_VERSION) -X github.com/containerd/containerd/v2/version.Version=urunc-$(SHIM_VERSION) -X github.com/containerd/containerd/v2/version.Revision=$(SHIM_REVISION)' \
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

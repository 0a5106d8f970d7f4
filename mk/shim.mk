# containerd's shim v2 for urunc (docs/containerd.md): runtime_type
# io.containerd.urunc.v2 finds bin/containerd-shim-urunc-v2 on containerd's
# PATH. The containerd version it reports is urunc's (-v).
SHIM := $(BIN)/containerd-shim-urunc-v2
SHIM_VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: build-shim
build: $(SHIM)
build-shim: $(SHIM)

$(SHIM): FORCE
	CGO_ENABLED=0 $(GO) build -trimpath \
		-ldflags '-X main.version=$(SHIM_VERSION) -X github.com/containerd/containerd/v2/version.Version=urunc-$(SHIM_VERSION)' \
		-o $@ ./cmd/containerd-shim-urunc-v2

# urunc — top-level Makefile. Component makefiles live in mk/*.mk.
# Debian's machines here have Go at /usr/local/go, not always on PATH.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin
export GOFLAGS ?= -mod=mod

.PHONY: all build test unit e2e e2e-run vet lint fmt clean deps
all: build

# Installs missing Debian packages (qemu, runc, busybox, tmux, ...).
deps:
	./scripts/deps.sh

build: $(BIN)/urunc

# urfave_cli_no_docs drops the man-page generator (blackfriday): ~0.4 ms
# less start-up for every one of a lifecycle's urunc processes.
$(BIN)/urunc: FORCE
	CGO_ENABLED=0 $(GO) build $(GO_BUILD_FLAGS) -ldflags '$(VERSION_LDFLAGS)' -tags urfave_cli_no_docs -o $@ ./cmd/urunc

FORCE:

# The test command of the README and CI: installs what is missing, builds
# everything the end-to-end tests use, then runs every test.
test: deps
	$(MAKE) build unikernel crictl oci-suite containerd2
	$(MAKE) linux-kernel
	gofmt -l $$(git ls-files '*.go') | (! grep .) || (echo "gofmt needed" && false)
	$(GO) vet ./...
	$(MAKE) lint
	$(MAKE) e2e-run
	$(MAKE) fuzz FUZZTIME=2000x

# Unit tests only: no root, no VMs, no engines; fast and safe anywhere
# (end-to-end tests skip unless URUNC_E2E=1, see internal/testenv).
unit:
	$(GO) test -count=1 -short ./...

# Every test, end-to-end ones included (root: namespaces, qemu, engines).
e2e: build unikernel crictl linux-kernel oci-suite containerd2
	$(MAKE) e2e-run

e2e-run:
	URUNC_E2E=1 $(GO) test -count=1 -timeout 40m -p 1 ./... ./testdata/unikernel/

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) build

# version.mk first: the others use RELEASE, COMMIT, ... at parse time.
include mk/version.mk
-include $(filter-out mk/version.mk,$(wildcard mk/*.mk))

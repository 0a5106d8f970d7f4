# urunc — top-level Makefile. Component makefiles live in mk/*.mk.
GO ?= go
BIN := bin
export GOFLAGS ?= -mod=mod

.PHONY: all build test unit e2e vet fmt clean
all: build

build: $(BIN)/urunc

$(BIN)/urunc: FORCE
	CGO_ENABLED=0 $(GO) build -o $@ ./cmd/urunc

FORCE:

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) build

-include mk/*.mk

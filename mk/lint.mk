# golangci-lint (v2) with the checked-in .golangci.yml; part of make test.
# Built from the Go module proxy into build/bin, one binary per version and
# Go toolchain (build/bin/golangci-lint-vX.Y.Z-goA.B.C: it must be built by
# a Go at least as new as the code it reads): changing either builds a new
# one, otherwise it is reused.
GOLANGCI_LINT_VERSION ?= v2.15.0
# (make 4.3's $(shell) does not see the PATH the Makefile exports.)
GOLANGCI_LINT := build/bin/golangci-lint-$(GOLANGCI_LINT_VERSION)-$(shell PATH='$(PATH)' $(GO) env GOVERSION)
LINT_FLAGS ?=

.PHONY: lint golangci-lint
golangci-lint: $(GOLANGCI_LINT)

lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run $(LINT_FLAGS) ./...

# GOFLAGS is cleared: flags meant for the repository's builds (-mod=mod,
# -race, tags) are not the tool's, whose binary the name above identifies.
# It goes to a temporary directory
# first so that a failed or interrupted build leaves no binary behind.
$(GOLANGCI_LINT):
	@mkdir -p $(@D)
	@tmp=$$(mktemp -d $(abspath $(@D))/.golangci-lint.XXXXXX) && \
	echo "GOBIN=$$tmp go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)" && \
	if GOFLAGS= GOBIN=$$tmp $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); then \
		mv $$tmp/golangci-lint $@ && rmdir $$tmp; \
	else rm -rf $$tmp; exit 1; fi

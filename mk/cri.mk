# crictl (cri-tools) for the CRI end-to-end test (tests/cri): not packaged in
# Debian 12, so it is built from the Go module proxy into build/bin/crictl.
# Cached: rebuilt only when the version (this file) changes.
CRICTL_VERSION ?= v1.37.0
CRICTL := build/bin/crictl

.PHONY: crictl
crictl: $(CRICTL)

$(CRICTL): mk/cri.mk
	@mkdir -p $(@D)
	GOBIN=$(abspath $(@D)) $(GO) install \
		-ldflags '-X sigs.k8s.io/cri-tools/pkg/version.Version=$(CRICTL_VERSION)' \
		sigs.k8s.io/cri-tools/cmd/crictl@$(CRICTL_VERSION)
	touch $@

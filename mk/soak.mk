# Reliability: the long soak and short fuzz runs (docs/reliability.md).
.PHONY: soak fuzz
# 50 create/start/kill/delete lifecycles, 10 at a time, with leak checks
# (state dirs, sockets, processes, mounts, links/taps, qdiscs, cgroups).
# Then SOAK_NET lifecycles of unikernels in pod network namespaces and
# SOAK_LINUX Linux microVM runs (9p and virtio-fs alternately).
SOAK_N ?= 50
SOAK_PAR ?= 10
SOAK_NET ?= 100
SOAK_LINUX ?= 10
soak: build unikernel linux-kernel
	URUNC_SOAK=$(SOAK_N) URUNC_SOAK_PAR=$(SOAK_PAR) URUNC_SOAK_NET=$(SOAK_NET) URUNC_SOAK_LINUX=$(SOAK_LINUX) \
		URUNC_E2E=1 $(GO) test -count=1 -timeout 30m -run '^TestSoak' -v ./tests/reliability/

# Every fuzz target for FUZZTIME (seed corpora: <pkg>/testdata/fuzz/).
FUZZTIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseMessage -fuzztime $(FUZZTIME) ./runtime/ipc
	$(GO) test -run '^$$' -fuzz FuzzConnRead -fuzztime $(FUZZTIME) ./runtime/ipc
	$(GO) test -run '^$$' -fuzz FuzzReadState -fuzztime $(FUZZTIME) ./runtime/state
	$(GO) test -run '^$$' -fuzz FuzzParseURuncJSON -fuzztime $(FUZZTIME) ./runtime/config
	$(GO) test -run '^$$' -fuzz FuzzAnnotations -fuzztime $(FUZZTIME) ./runtime/config
	$(GO) test -run '^$$' -fuzz FuzzBuildQemu -fuzztime $(FUZZTIME) ./runtime/vmm
	$(GO) test -run '^$$' -fuzz FuzzReadManifest -fuzztime $(FUZZTIME) ./runtime/solo5

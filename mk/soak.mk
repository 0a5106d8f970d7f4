# Reliability: the long soak and short fuzz runs (docs/reliability.md).
.PHONY: soak fuzz
# 50 create/start/kill/delete lifecycles, 10 at a time, with leak checks.
soak: build unikernel
	URUNC_SOAK=50 $(GO) test -count=1 -run 'TestSoakSmall' -v ./cmd/urunc/

FUZZTIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseMessage -fuzztime $(FUZZTIME) ./runtime/ipc
	$(GO) test -run '^$$' -fuzz FuzzReadState -fuzztime $(FUZZTIME) ./runtime/state
	$(GO) test -run '^$$' -fuzz FuzzParseURuncJSON -fuzztime $(FUZZTIME) ./runtime/config
	$(GO) test -run '^$$' -fuzz FuzzAnnotations -fuzztime $(FUZZTIME) ./runtime/config

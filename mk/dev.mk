# The console (urunc-dev) and the README's main command: make dev.
#   make build-dev   bin/urunc-dev (make build builds it too)
#   make demo        demo bundles under build/demo/bundles, empty root build/demo/root
#   make dev         build everything, prepare the demo, open the console on it
DEMO := build/demo
# Real third-party guests (Solo5, Unikraft), when they are there: the demo
# offers them too (shared/guests/README.md).
GUESTS ?= $(abspath ../shared/guests)

.PHONY: build-dev dev demo
build: $(BIN)/urunc-dev
build-dev: $(BIN)/urunc-dev

$(BIN)/urunc-dev: FORCE
	CGO_ENABLED=0 $(GO) build $(GO_BUILD_FLAGS) -ldflags '$(VERSION_LDFLAGS)' -o $@ ./cmd/urunc-dev

# Demo bundles of the project's test unikernel: hello (prints and exits)
# and heartbeat (prints a line per second until killed); where $(GUESTS)
# exists, real Solo5 and Unikraft guests too, and the host configuration
# that names the Solo5 tenders.
demo: build unikernel
	rm -rf $(DEMO)/bundles
	$(BIN)/urunc-dev bundle --demo --kernel $(UNIKERNEL_ELF) --guests $(GUESTS) --out $(DEMO)/bundles
	mkdir -p $(DEMO)/root

# Build everything, prepare the demo, open the console on it
# (c: create + start a demo container, enter: its details, ?: help, q: quit).
dev: deps
	$(MAKE) build unikernel
	$(MAKE) demo
	cfg=$(abspath $(DEMO)/bundles/urunc-config.json); if [ -f $$cfg ]; then export URUNC_CONFIG=$$cfg; fi; \
		exec $(BIN)/urunc-dev --root $(abspath $(DEMO)/root) --bundles $(abspath $(DEMO)/bundles) --urunc $(abspath $(BIN)/urunc)

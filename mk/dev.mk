# The console (urunc-dev) and the README's main command: make dev.
DEMO := build/demo

build: $(BIN)/urunc-dev

$(BIN)/urunc-dev: FORCE
	CGO_ENABLED=0 $(GO) build -o $@ ./cmd/urunc-dev

.PHONY: dev demo
# Demo bundles of the project's test unikernel and an empty demo root.
demo: build unikernel
	rm -rf $(DEMO)/bundles
	$(BIN)/urunc-dev bundle --demo --kernel build/unikernel/hello.elf --out $(DEMO)/bundles
	mkdir -p $(DEMO)/root

# Build everything, prepare the demo, open the console on it
# (c: create+start a demo container, enter: details, ?: help, q: quit).
dev: deps
	$(MAKE) demo
	$(BIN)/urunc-dev --root $(abspath $(DEMO)/root) --bundles $(abspath $(DEMO)/bundles)

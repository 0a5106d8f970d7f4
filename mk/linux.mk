# Linux guest: Debian's kernel (extracted, never installed on the host), the
# modules the guest init loads, and the static guest init itself.
# See docs/linux-guest.md.
LINUX_OUT := build/linux

.PHONY: linux-kernel urunc-init linux-guest clean-linux

# build/linux/vmlinux + build/linux/modules/ (cached .deb in build/linux/cache).
linux-kernel:
	GO=$(GO) ./scripts/linux-kernel.sh $(LINUX_OUT)

# bin/urunc-init: static PID 1 of the guest; urunc looks for it beside itself.
urunc-init: $(BIN)/urunc-init

$(BIN)/urunc-init: FORCE
	CGO_ENABLED=0 $(GO) build $(GO_BUILD_FLAGS) -ldflags '-s -w' -o $@ ./cmd/urunc-init

build: $(BIN)/urunc-init

linux-guest: linux-kernel urunc-init

clean-linux:
	rm -rf $(LINUX_OUT)

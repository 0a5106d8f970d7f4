# Linux guest: the guest kernels, the modules Debian's kernel needs, and the
# static guest init itself. See docs/linux-guest.md.
LINUX_OUT := build/linux
# Which kernel build/linux/vmlinux is: microvm (urunc's minimal kernel,
# everything built in) or debian (Debian's generic kernel + modules).
LINUX_KERNEL ?= microvm

.PHONY: linux-kernel urunc-init linux-guest clean-linux clean-linux-cache

# build/linux/{microvm,debian}/vmlinux, build/linux/modules/ (Debian's),
# build/linux/vmlinux = the LINUX_KERNEL one. The microvm kernel is built
# once per machine and configuration into the cache outside the clone
# (URUNC_BUILD_CACHE, default /var/cache/urunc-build); Debian's .deb is
# cached in build/linux/cache.
linux-kernel:
	GO=$(GO) LINUX_KERNEL=$(LINUX_KERNEL) ./scripts/linux-kernel.sh $(LINUX_OUT)

# bin/urunc-init: static PID 1 of the guest; urunc looks for it beside itself.
urunc-init: $(BIN)/urunc-init

$(BIN)/urunc-init: FORCE
	CGO_ENABLED=0 $(GO) build $(GO_BUILD_FLAGS) -ldflags '-s -w' -o $@ ./cmd/urunc-init

build: $(BIN)/urunc-init

linux-guest: linux-kernel urunc-init

clean-linux:
	rm -rf $(LINUX_OUT)

# The machine-wide cache of built kernels (every clone on this machine uses it).
clean-linux-cache:
	./scripts/linux-microvm.sh --clean

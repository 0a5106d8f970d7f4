# The project's own test/demo unikernel (testdata/unikernel/src; its Go
# test is testdata/unikernel, which go test ./... skips): a tiny
# freestanding C + asm PVH kernel, built with the plain Debian 12 `gcc`
# (64-bit objects with a 32-bit PVH entry stub, so gcc-multilib is NOT
# needed). `make unikernel` builds build/unikernel/hello.elf; other rules
# can depend on the file target build/unikernel/hello.elf directly.
UNIKERNEL_SRCDIR := testdata/unikernel/src
UNIKERNEL_OUTDIR := build/unikernel
UNIKERNEL_ELF := $(UNIKERNEL_OUTDIR)/hello.elf
UNIKERNEL_CC ?= gcc
UNIKERNEL_CFLAGS := -m64 -Os -std=gnu11 -Wall -Wextra \
	-ffreestanding -fno-builtin -nostdlib -static -fno-pic -fno-pie -no-pie \
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables \
	-fcf-protection=none -mno-red-zone -mgeneral-regs-only -mcmodel=small
UNIKERNEL_LDFLAGS := -Wl,-T,$(UNIKERNEL_SRCDIR)/link.ld -Wl,--build-id=none \
	-Wl,-z,noexecstack -Wl,-z,max-page-size=0x1000 -Wl,-n
UNIKERNEL_SRCS := $(UNIKERNEL_SRCDIR)/entry.S $(UNIKERNEL_SRCDIR)/main.c

.PHONY: unikernel
unikernel: $(UNIKERNEL_ELF)

$(UNIKERNEL_ELF): $(UNIKERNEL_SRCS) $(UNIKERNEL_SRCDIR)/link.ld mk/unikernel.mk
	@mkdir -p $(@D)
	$(UNIKERNEL_CC) $(UNIKERNEL_CFLAGS) $(UNIKERNEL_LDFLAGS) -o $@.tmp $(UNIKERNEL_SRCS)
	mv -f $@.tmp $@

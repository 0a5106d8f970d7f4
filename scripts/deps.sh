#!/usr/bin/env bash
# Installs what urunc's build, demo and tests need on a fresh Debian 12
# machine (as root). Idempotent: only missing packages are installed.
set -euo pipefail

need=()
want() { # want COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || need+=("$2")
}
want qemu-system-x86_64 qemu-system-x86
want runc runc
want busybox busybox-static
want lz4 lz4
want tmux tmux
want gdb gdb
want ip iproute2
want gcc gcc
want make make
want cpio cpio
want ps procps
want dockerd docker.io
want containerd containerd
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
want dmsetup dmsetup
want mkfs.ext4 e2fsprogs
want losetup mount
[ -x /usr/lib/qemu/virtiofsd ] || need+=(qemu-system-common)

if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing ${need[*]}; run as root or install them" >&2
		exit 1
	fi
	echo "deps: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${need[@]}"
fi

if ! command -v go >/dev/null 2>&1; then
	if [ -x /usr/local/go/bin/go ]; then
		echo "deps: Go is at /usr/local/go/bin; add it to PATH" >&2
	else
		echo "deps: Go is missing (expected at /usr/local/go)" >&2
	fi
	exit 1
fi

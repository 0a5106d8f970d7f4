#!/usr/bin/env bash
# Fetches Debian's generic amd64 kernel (never installed on the host) and
# produces, under OUT (default build/linux; scripts/linux-kernel.sh runs it):
#   debian/vmlinux    uncompressed kernel extracted from the bzImage (PVH
#                     entry, for qemu -M microvm -kernel)
#   debian/config     its configuration
#   debian/version    the package and kernel release used
#   debian/copyright  the package's copyright file
#   modules/          the few modules the guest init loads (9p, virtio-fs,
#                     virtio transports, net, blk, ext4 for a block rootfs,
#                     ACPI power button + evdev) plus their dependencies, and
#                     modules.dep with their load order. urunc puts them in
#                     a guest's initrd only when the guest's kernel has their
#                     release (the modules' vermagic).
# The .deb and its unpacked tree are cached in OUT/cache. Set LINUX_IMAGE_PKG
# to pick a package (default: what linux-image-amd64 depends on).
set -euo pipefail

# Paths are relative to the repository root.
cd "$(dirname "$0")/.."
OUT=${1:-build/linux}
CACHE=$OUT/cache
KOUT=$OUT/debian
GO=${GO:-go}
# Roots; dependencies are added from each .ko's modinfo.
MODULES=${LINUX_MODULES:-"virtio_mmio virtio_pci button evdev 9pnet_virtio 9p virtiofs virtio_net virtio_blk ext4 crc32c_generic"}

log() { echo "linux-debian: $*" >&2; }
die() { log "$*"; exit 1; }

apt_updated=
apt_update() {
	if [ -z "$apt_updated" ]; then
		apt-get update -q >&2 || die "apt-get update failed"
		apt_updated=1
	fi
}

need=()
command -v lz4 >/dev/null 2>&1 || need+=(lz4)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb is missing (Debian host expected)"
if [ ${#need[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "missing ${need[*]}; run as root or install them"
	log "installing ${need[*]}"
	apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi

# Which linux-image package: the one linux-image-amd64 currently depends on,
# or else the newest 6.1.0-N-amd64 apt knows.
pick_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9.]+-[0-9]+-amd64$/ {print $2; exit}'
}
pkg=${LINUX_IMAGE_PKG:-}
if [ -z "$pkg" ]; then
	pkg=$(pick_pkg || true)
	if [ -z "$pkg" ]; then
		apt_update
		pkg=$(pick_pkg || true)
	fi
	if [ -z "$pkg" ]; then
		pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null |
			awk '{print $1}' | sort -V | tail -1)
	fi
fi
if [ -z "$pkg" ]; then
	# Offline: reuse whatever is cached.
	deb=$(ls "$CACHE"/linux-image-*-amd64_*.deb 2>/dev/null | sort -V | tail -1 || true)
	[ -n "$deb" ] || die "apt offers no linux-image-*-amd64 package and nothing is cached in $CACHE"
	pkg=$(basename "$deb" | cut -d_ -f1)
fi

mkdir -p "$CACHE"
deb=$(ls "$CACHE/${pkg}"_*.deb 2>/dev/null | head -1 || true)
if [ -z "$deb" ]; then
	log "downloading $pkg"
	(cd "$CACHE" && apt-get download "$pkg" >&2) || {
		apt_update
		(cd "$CACHE" && apt-get download "$pkg" >&2) || die "apt-get download $pkg failed"
	}
	deb=$(ls "$CACHE/${pkg}"_*.deb | head -1)
fi

# Drop what older kernel packages left in the cache.
for old in "$CACHE"/root-* "$CACHE"/linux-image-*.deb; do
	case "$old" in
	"$CACHE/root-$pkg" | "$deb" | "$CACHE/root-*" | "$CACHE/linux-image-*.deb") ;;
	*) log "removing stale $(basename "$old")"; rm -rf "$old" ;;
	esac
done

root=$CACHE/root-$pkg
if [ ! -d "$root/boot" ]; then
	log "unpacking $(basename "$deb")"
	rm -rf "$root.tmp"
	mkdir -p "$root.tmp"
	dpkg-deb -x "$deb" "$root.tmp"
	mv "$root.tmp" "$root"
fi

vmlinuz=$(ls "$root"/boot/vmlinuz-* | head -1)
release=${vmlinuz##*/vmlinuz-}
moddir=$root/lib/modules/$release
[ -d "$moddir" ] || die "no $moddir in $deb"

# Like the kernel's scripts/extract-vmlinux: find a compressed stream
# (Debian 6.1 uses xz; LZ4, gzip and zstd are tried too) and keep the first
# one that decompresses to an ELF file.
extract() { # extract MAGIC_REGEX DECOMPRESSOR...
	local magic=$1
	shift
	local off
	for off in $(LC_ALL=C grep -obUaP "$magic" "$vmlinuz" | cut -d: -f1); do
		tail -c +$((off + 1)) "$vmlinuz" | "$@" >"$KOUT/vmlinux.tmp" 2>/dev/null || true
		if [ "$(head -c 4 "$KOUT/vmlinux.tmp" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
			return 0
		fi
	done
	return 1
}
want_version="$pkg $release"
mkdir -p "$KOUT"
have_version=$(cat "$KOUT/version" 2>/dev/null || true)
if [ ! -s "$KOUT/vmlinux" ] || [ "$have_version" != "$want_version" ]; then
	log "extracting vmlinux from $(basename "$vmlinuz")"
	extract '\x02\x21\x4c\x18' lz4 -dc ||
		extract '\xfd\x37\x7a\x58\x5a\x00' xz -dc ||
		extract '\x1f\x8b\x08' gzip -dc ||
		extract '\x28\xb5\x2f\xfd' zstd -dc ||
		die "no compressed ELF kernel found in $vmlinuz"
	mv "$KOUT/vmlinux.tmp" "$KOUT/vmlinux"
fi
rm -f "$KOUT/vmlinux.tmp"

log "selecting modules: $MODULES"
# shellcheck disable=SC2086
$GO run ./scripts/linux-kernel-modules -src "$moddir" -dst "$OUT/modules" $MODULES >&2
cp "$root/boot/config-$release" "$KOUT/config"
cr=$(ls "$root"/usr/share/doc/linux-image-*/copyright 2>/dev/null | head -1 || true)
if [ -n "$cr" ]; then cp "$cr" "$KOUT/copyright"; else rm -f "$KOUT/copyright"; fi
printf '%s\n' "$want_version" >"$KOUT/version"
log "done: $KOUT/vmlinux ($release), $(ls "$OUT/modules" | grep -c '\.ko$') modules in $OUT/modules"

#!/usr/bin/env bash
# Builds urunc's microVM guest kernel from Debian's kernel source package
# (linux-source-6.1, a binary package: no deb-src needed) with the minimal
# configuration scripts/linux-microvm.config (over allnoconfig; everything
# built in, no modules), and produces, under OUT (default build/linux/microvm;
# scripts/linux-kernel.sh runs it):
#   vmlinux    the kernel (ELF with a PVH note: qemu -M microvm -kernel)
#   config     its configuration
#   version    "<source package> <version> <kernel release> config-<hash>"
#   copyright  the source package's copyright file
#   build-info how long the build took, on how many CPUs
#
# The result is cached outside the clone, in URUNC_BUILD_CACHE (default
# /var/cache/urunc-build as root, else ${XDG_CACHE_HOME:-~/.cache}/urunc-build),
# as linux-<version>-<hash>/, the hash covering the source package version,
# the configuration fragment, this recipe and the compiler: a second run, or
# a fresh clone on the same machine, only copies it. A build runs under a
# lock (flock) so that concurrent runs build once. Set LINUX_SOURCE_VERSION
# to pin a source version apt still offers (or that is cached).
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=${1:-build/linux/microvm}
FRAGMENT=scripts/linux-microvm.config
SRC_PKG=linux-source-6.1
# Bump when the build steps below change what they produce.
RECIPE=1

log() { echo "linux-microvm: $*" >&2; }
die() { log "$*"; exit 1; }

if [ -n "${URUNC_BUILD_CACHE:-}" ]; then
	CACHE=$URUNC_BUILD_CACHE
elif [ "$(id -u)" = 0 ]; then
	CACHE=/var/cache/urunc-build
else
	CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/urunc-build
fi
if [ "$OUT" = --clean ]; then
	# Only what this script puts there, whatever URUNC_BUILD_CACHE says.
	log "removing the kernel builds and sources in $CACHE"
	rm -rf "$CACHE"/linux-* "$CACHE"/build-*.tmp "$CACHE/${SRC_PKG}"_*_all.deb "$CACHE/lock"
	rmdir "$CACHE" 2>/dev/null || true
	exit 0
fi
mkdir -p "$CACHE" || die "cannot create the build cache $CACHE (set URUNC_BUILD_CACHE)"
[ -f "$FRAGMENT" ] || die "missing $FRAGMENT"

apt_updated=
apt_update() {
	if [ -z "$apt_updated" ]; then
		apt-get update -q >&2 || die "apt-get update failed"
		apt_updated=1
	fi
}

# Build dependencies (libelf-dev: objtool, which the ORC unwinder needs).
need=()
for c in gcc:gcc make:make bc:bc bison:bison flex:flex xz:xz-utils; do
	command -v "${c%%:*}" >/dev/null 2>&1 || need+=("${c#*:}")
done
[ -e /usr/include/libelf.h ] || need+=(libelf-dev)
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb is missing (Debian host expected)"
if [ ${#need[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "missing ${need[*]}; run as root or install them"
	log "installing ${need[*]}"
	apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi

candidate() {
	apt-cache policy "$SRC_PKG" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)" {print $2; exit}'
}
ver=${LINUX_SOURCE_VERSION:-}
if [ -z "$ver" ]; then
	ver=$(candidate || true)
	if [ -z "$ver" ]; then
		apt_update
		ver=$(candidate || true)
	fi
fi
if [ -z "$ver" ]; then
	# Offline and no package lists: the newest cached source package.
	deb=$(ls "$CACHE/${SRC_PKG}"_*_all.deb 2>/dev/null | sort -V | tail -1 || true)
	[ -n "$deb" ] || die "apt offers no $SRC_PKG and none is cached in $CACHE"
	ver=$(basename "$deb" | cut -d_ -f2)
	ver=${ver//%3a/:}
fi

hash=$({
	echo "recipe $RECIPE"
	echo "source $SRC_PKG $ver"
	gcc --version | head -1
	cat "$FRAGMENT"
} | sha256sum | cut -c1-12)
entry=$CACHE/linux-${ver//:/_}-$hash

# One builder per cache at a time; the others wait and then find the result.
exec 9>"$CACHE/lock"
if ! flock -n 9; then
	log "another build holds $CACHE/lock; waiting (up to 1 h)"
	flock -w 3600 9 || die "timed out waiting for $CACHE/lock"
fi

if [ -s "$entry/vmlinux" ]; then
	log "cached: $entry"
else
	debname=${SRC_PKG}_${ver//:/%3a}_all.deb
	deb=$CACHE/$debname
	if [ ! -s "$deb" ]; then
		log "downloading $SRC_PKG=$ver"
		(cd "$CACHE" && apt-get download "$SRC_PKG=$ver" >&2 2>/dev/null) || {
			apt_update
			(cd "$CACHE" && apt-get download "$SRC_PKG=$ver" >&2) || die "apt-get download $SRC_PKG=$ver failed"
		}
		[ -s "$deb" ] || die "apt-get download did not produce $deb"
	fi
	# Only the newest source package is kept.
	for old in "$CACHE/${SRC_PKG}"_*_all.deb; do
		[ "$old" = "$deb" ] || [ ! -e "$old" ] || { log "removing stale $(basename "$old")"; rm -f "$old"; }
	done

	work=$CACHE/build-$hash.tmp
	rm -rf "$work" "$entry.tmp"
	mkdir -p "$work/obj" "$entry.tmp"
	t0=$(date +%s)
	load0=$(cut -d' ' -f1-3 /proc/loadavg)
	log "unpacking $(basename "$deb")"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$SRC_PKG.tar.xz" | tar -xJ -C "$work"
	src=$work/$SRC_PKG
	[ -f "$src/Makefile" ] || die "no kernel tree in $deb"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/share/doc/$SRC_PKG/copyright" >"$entry.tmp/copyright"

	# The kernel's make must not see this make's jobserver or variables.
	kmake() {
		env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES -u O -u ARCH -u CROSS_COMPILE \
			make -C "$src" O="$work/obj" ARCH=x86_64 \
			KBUILD_BUILD_USER=urunc KBUILD_BUILD_HOST=urunc KBUILD_BUILD_VERSION=1 \
			KBUILD_BUILD_TIMESTAMP="$SRC_PKG $ver" "$@"
	}
	cp "$FRAGMENT" "$work/fragment"
	kmake -s KCONFIG_ALLCONFIG="$work/fragment" allnoconfig >&2
	kmake -s olddefconfig >&2
	# Every line of the fragment must have survived (a dependency that is
	# not met makes Kconfig drop a symbol silently).
	bad=
	while IFS= read -r l; do
		case "$l" in
		CONFIG_*=*) grep -qxF -- "$l" "$work/obj/.config" || bad="$bad ${l%%=*}" ;;
		"# CONFIG_"*" is not set")
			s=${l#\# }
			s=${s%% *}
			! grep -q "^$s=" "$work/obj/.config" || bad="$bad $s(off)"
			;;
		esac
	done <"$FRAGMENT"
	[ -z "$bad" ] || die "$FRAGMENT: not in the final configuration:$bad"

	jobs=$(nproc)
	log "building $SRC_PKG $ver with $jobs jobs (minutes: once per machine and configuration)"
	if ! kmake -j"$jobs" vmlinux >"$work/build.log" 2>&1; then
		tail -30 "$work/build.log" >&2
		die "kernel build failed (log: $work/build.log)"
	fi
	secs=$(($(date +%s) - t0))
	release=$(cat "$work/obj/include/config/kernel.release")
	install -m 0644 "$work/obj/vmlinux" "$entry.tmp/vmlinux"
	cp "$work/obj/.config" "$entry.tmp/config"
	printf '%s %s %s config-%s\n' "$SRC_PKG" "$ver" "$release" "$hash" >"$entry.tmp/version"
	printf 'built in %d s (unpack, configure, make vmlinux) with %d jobs on %d CPUs; load average at start %s, at end %s\n' \
		"$secs" "$jobs" "$(nproc)" "$load0" "$(cut -d' ' -f1-3 /proc/loadavg)" >"$entry.tmp/build-info"
	mv "$entry.tmp" "$entry"
	rm -rf "$work"
	log "built $release in ${secs} s: $entry"
fi
flock -u 9

mkdir -p "$OUT"
for f in vmlinux config version copyright build-info; do
	if ! cmp -s "$entry/$f" "$OUT/$f"; then
		cp "$entry/$f" "$OUT/$f.tmp"
		mv "$OUT/$f.tmp" "$OUT/$f"
	fi
done
log "done: $OUT/vmlinux ($(cut -d' ' -f3 "$OUT/version"))"

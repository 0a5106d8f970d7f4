#!/usr/bin/env bash
# make linux-kernel: both Linux guest kernels, under OUT (default build/linux):
#   microvm/   urunc's minimal kernel, built from Debian's kernel source with
#              scripts/linux-microvm.config, cached outside the clone
#              (scripts/linux-microvm.sh)
#   debian/    Debian's generic amd64 kernel, extracted from its package
#              (scripts/linux-debian.sh), and modules/ with the modules it
#              needs (its virtio, 9p, virtio-fs, ext4 ... are modules)
#   vmlinux, config, version, copyright
#              the selected one (LINUX_KERNEL=microvm, the default, or
#              debian): what tests, make install and make deb use
# See docs/linux-guest.md.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=${1:-build/linux}
SELECT=${LINUX_KERNEL:-microvm}
case "$SELECT" in
microvm | debian) ;;
*) echo "linux-kernel: LINUX_KERNEL=$SELECT: want microvm or debian" >&2; exit 2 ;;
esac

./scripts/linux-debian.sh "$OUT"
./scripts/linux-microvm.sh "$OUT/microvm"

# The selected kernel's files, hard-linked (same directory tree).
for f in vmlinux config version copyright; do
	if [ "$OUT/$SELECT/$f" -ef "$OUT/$f" ]; then
		continue
	elif [ -e "$OUT/$SELECT/$f" ]; then
		ln -f "$OUT/$SELECT/$f" "$OUT/$f.tmp"
		mv -f "$OUT/$f.tmp" "$OUT/$f"
	else
		rm -f "$OUT/$f"
	fi
done
echo "linux-kernel: $OUT/vmlinux is the $SELECT kernel ($(cut -d' ' -f1,2 "$OUT/version"))" >&2

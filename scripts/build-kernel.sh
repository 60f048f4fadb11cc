#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Configure (when a fragment or patch changed) and build one flavour:
#   build-kernel.sh FLAVOUR [kbuild targets...]
# The .config is tinyconfig + configs/base.config + configs/FLAVOUR.config,
# checked afterwards so that an option dropped for a missing dependency
# fails the build instead of silently changing what we test.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
flavour=$1; shift
src=$top/build/linux-6.12
out=$top/build/$flavour
frags="$top/configs/base.config $top/configs/$flavour.config"
[ -f "$top/configs/$flavour.config" ] || { echo "no configs/$flavour.config" >&2; exit 1; }

cc=gcc
if [ "${CCACHE:-auto}" != no ] && command -v ccache >/dev/null; then
	cc="ccache gcc"
	# Paths relative to the checkout, so that another clone hits the cache.
	export CCACHE_BASEDIR=$top
fi
kmake() {
	make -s -C "$src" O="$out" ARCH=x86_64 CC="$cc" -j"${JOBS:-$(nproc)}" "$@"
}

mkdir -p "$out"
stale=
[ -f "$out/.config" ] || stale=1
for f in $frags "$top"/patches/*; do
	[ -z "$stale" ] && [ "$f" -nt "$out/.config" ] && stale=1
done
if [ -n "$stale" ]; then
	echo "  CONFIG  $flavour: tinyconfig + $(cd "$top" && echo configs/base.config configs/$flavour.config)"
	kmake tinyconfig >/dev/null
	(cd "$out" && "$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" $frags >/dev/null)
	kmake olddefconfig >/dev/null
	"$top/scripts/check-config.sh" "$out/.config" $frags
fi

echo "  KERNEL  $flavour ($cc, -j${JOBS:-$(nproc)})"
kmake "${@:-bzImage}"
echo "  IMAGE   ${out#"$top"/}/arch/x86/boot/bzImage"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# build-peer.sh: the bench's peer, Debian's linux-source-7.3 with KHO and
# LUO (configs/peer-luo.config), built in build/peer/build, its UAPI
# headers in build/peer/headers, and luo_bench (fdbox_bench with the LUO
# carrier) in build/peer/luo_bench.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
peer=$top/build/peer
src=$peer/linux-7.3
out=$peer/build
frag=$peer/base-less-fdbox.config
selftests=$top/tools/testing/selftests/fdbox

tarball=$("$top/scripts/fetch-peer-source.sh" "$peer")
if [ ! -f "$src/Makefile" ]; then
	echo "  UNPACK  $(basename "$tarball")"
	rm -rf "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xf "$tarball" -C "$src.tmp"
	mv "$src.tmp"/linux-source-7.3 "$src"
	rmdir "$src.tmp"
fi

cc=gcc
if [ "${CCACHE:-auto}" != no ] && command -v ccache >/dev/null; then
	cc="ccache gcc"
	export CCACHE_BASEDIR=$top
fi
kmake() {
	make -s -C "$src" O="$out" ARCH=x86_64 CC="$cc" -j"${JOBS:-$(nproc)}" "$@"
}

# base.config less what only our tree has; 7.x calls PROC_SYSCTL SYSCTL,
# and has its x86 SHA-256 in lib/crypto, always built (no SHA256_SSSE3).
grep -v 'FDBOX\|KEXEC_HANDOVER_TEST\|CRYPTO_SHA256_SSSE3' "$top/configs/base.config" |
	sed 's/^CONFIG_PROC_SYSCTL=/CONFIG_SYSCTL=/' > "$frag"
mkdir -p "$out"
if [ ! -f "$out/.config" ] || [ "$top/configs/peer-luo.config" -nt "$out/.config" ] ||
   [ "$top/configs/base.config" -nt "$out/.config" ]; then
	echo "  CONFIG  peer: tinyconfig + base.config (less fdbox) + configs/peer-luo.config"
	kmake tinyconfig >/dev/null
	(cd "$out" && "$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
		"$frag" "$top/configs/peer-luo.config" >/dev/null)
	kmake olddefconfig >/dev/null
	"$top/scripts/check-config.sh" "$out/.config" "$frag" "$top/configs/peer-luo.config"
fi
echo "  KERNEL  peer: Linux $(kmake -s kernelversion) (${cc}, -j${JOBS:-$(nproc)})"
kmake bzImage
echo "  HEADERS build/peer/headers"
kmake INSTALL_HDR_PATH="$peer/headers" headers_install >/dev/null
echo "  CC      build/peer/luo_bench"
# The 7.3 headers for LUO; ours after them, for what fdbox_lib.h includes.
gcc -O2 -Wall -Werror -static -isystem "$peer/headers/include" \
	-isystem "$top/build/headers/include" -o "$peer/luo_bench" \
	"$selftests/fdbox_bench.c" "$selftests/bench_luo.c" "$selftests/bench_profile.c" \
	"$selftests/bench_vmm.c" -luring

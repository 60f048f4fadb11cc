#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# mkinitramfs.sh FLAVOUR: the test VM's initramfs, build/initramfs-FLAVOUR.cpio.
# busybox (static), kexec, the flavour's kernel (to kexec into), the guest
# init, every program the project builds (build/selftests, build/tools,
# build/samples) in /usr/bin, and the shared libraries they link.
#
# Every stage of a VM test unpacks it and every kexec copies and hashes it
# (under KASAN and TCG, a few MB/s), so it is kept small: programs linked
# dynamically, and no compression (unpacking a cpio costs less than
# inflating it).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
flavour=$1
guest=$top/tools/testing/selftests/fdbox/guest
kernel=$top/build/$flavour/arch/x86/boot/bzImage
root=$top/build/initramfs-$flavour.d
out=$top/build/initramfs-$flavour.cpio

[ -f "$kernel" ] || { echo "mkinitramfs: $kernel missing: run 'make kernel FLAVOUR=$flavour'" >&2; exit 1; }

rm -rf "$root"
mkdir -p "$root"
cd "$root"
mkdir -p bin sbin usr/bin usr/sbin usr/local/bin etc/fdbox boot dev proc sys tmp run root
mknod -m 600 dev/console c 5 1
mknod -m 666 dev/null c 1 3

cp /bin/busybox bin/busybox
for applet in $(bin/busybox --list); do
	[ "$applet" = busybox ] || ln -sf busybox "bin/$applet"
done

cp /usr/sbin/kexec usr/sbin/kexec

cp "$guest/init" init
cp "$guest/fdbox-next" bin/fdbox-next
cp "$guest/fdbox-demo" bin/fdbox-demo
cp "$kernel" boot/bzImage

# Everything the project builds for the guest.
for d in selftests tools samples; do
	[ -d "$top/build/$d" ] || continue
	find "$top/build/$d" -maxdepth 1 -type f -perm -u+x -exec cp {} usr/bin/ \;
done

# The shared libraries of every program, at the paths ldd gives.
for prog in usr/sbin/* usr/bin/*; do
	ldd "$prog" 2>/dev/null | awk '/=> \// { print $3 } /^\t\// { print $1 }'
done | sort -u | while read -r lib; do
	mkdir -p ".$(dirname "$lib")"
	cp -L "$lib" ".$lib"
done

find . | cpio -o -H newc -R 0:0 --quiet > "$out.tmp"
mv "$out.tmp" "$out"
echo "  INITRD  ${out#"$top"/} ($(du -h "$out" | cut -f1))"

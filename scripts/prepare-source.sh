#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Make build/linux-6.12 a 6.12 tree with the fdbox overlay in it:
#  1. unpack Debian's linux-source-6.12 (again only when the tarball changed),
#  2. symlink every overlay file into the tree, file by file, so that an edit
#     in fs/fdbox or mm/kho is seen by kbuild as an ordinary change,
#  3. apply patches/series with patch -p1 (see apply-patches.sh).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
src=${1:-$top/build/linux-6.12}
tarball=/usr/src/linux-source-6.12.tar.xz
stamp=$src/.fdbox-unpacked

[ -f "$tarball" ] || { echo "prepare-source: $tarball missing: run 'make deps'" >&2; exit 1; }

if [ ! -f "$stamp" ] || [ "$tarball" -nt "$stamp" ]; then
	echo "  UNPACK  $tarball -> ${src#"$top"/}"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -C "$src.tmp" -xJf "$tarball"
	mv "$src.tmp"/linux-source-6.12 "$src"
	rmdir "$src.tmp"
	rm -rf "$top/build/applied-patches"
	touch "$stamp"
fi

pkgver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo unknown)
kver=$(make -s -C "$src" kernelversion 2>/dev/null)
echo "  SOURCE  linux-source-6.12 $pkgver (Linux $kver)"
echo "$pkgver $kver" > "$top/build/source-version"

# Overlay: real directories in the tree, one symlink per overlay file.
# A file that already exists in the tree as a regular file is an error:
# changes to existing files go through patches/.
cd "$top"
for d in Documentation fs mm include kernel arch drivers virt samples tools; do
	[ -d "$d" ] || continue
	find "$d" -type f ! -name '*.o' ! -name '.*' | while read -r f; do
		dst=$src/$f
		if [ -e "$dst" ] && [ ! -L "$dst" ]; then
			echo "prepare-source: $f would replace a file of the 6.12 tree; use a patch" >&2
			exit 1
		fi
		mkdir -p "$(dirname "$dst")"
		[ "$(readlink "$dst" 2>/dev/null)" = "$top/$f" ] || ln -sfn "$top/$f" "$dst"
	done
done
# Drop links whose overlay file was deleted.
find "$src" -type l -lname "$top/*" ! -exec test -e {} \; -print | while read -r l; do
	echo "  UNLINK  ${l#"$src"/}"
	rm -f "$l"
done

exec "$top/scripts/apply-patches.sh" "$src"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# mkpatch.sh PATCH FILE...: write the changes made in build/linux-6.12 to
# FILEs (paths in the kernel tree) as patches/PATCH, a git-style diff
# against Debian's pristine linux-source-6.12, keeping the patch's header
# (everything before the first "diff --git") if the patch exists.
# Only for files no earlier patch of the series touches.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
name=$1; shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "$@"; do
	mkdir -p "$tmp/a/$(dirname "$f")" "$tmp/b/$(dirname "$f")"
	tar -xJf /usr/src/linux-source-6.12.tar.xz -O "linux-source-6.12/$f" > "$tmp/a/$f"
	cp "$top/build/linux-6.12/$f" "$tmp/b/$f"
done
out=$top/patches/$name
header=
[ -f "$out" ] && header=$(sed '/^diff --git/,$d' "$out")
{
	[ -n "$header" ] && printf '%s\n' "$header"
	(cd "$tmp/a" && for f in "$@"; do
		git diff --no-index --src-prefix=a/ --dst-prefix=b/ "$f" "../b/$f" |
			sed -e "s|^diff --git a/$f b/../b/$f|diff --git a/$f b/$f|" \
			    -e "s|^+++ b/../b/$f|+++ b/$f|" || true
	done)
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "  MKPATCH patches/$name ($# files)"

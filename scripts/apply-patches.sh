#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Apply patches/series to the tree, quilt-style (patch -p1). Safe to re-run:
# a copy of every applied patch is kept in build/applied-patches; a patch
# that changed since, or left the series, is reversed first and re-applied.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
src=$1
done_dir=$top/build/applied-patches
series=$top/patches/series
mkdir -p "$done_dir"

wanted=$(grep -v '^[[:space:]]*\(#\|$\)' "$series" 2>/dev/null || true)

# Reverse, in reverse order, everything applied that is stale or unwanted;
# everything applied after a stale patch goes too, to keep the order.
applied=$(cat "$done_dir/order" 2>/dev/null || true)
keep=
stale=0
for p in $applied; do
	if [ $stale = 0 ] && echo "$wanted" | grep -qx "$p" &&
	   cmp -s "$top/patches/$p" "$done_dir/$p"; then
		keep="$keep $p"
	else
		stale=1
	fi
done
for p in $(echo "$applied" | tac 2>/dev/null || echo "$applied"); do
	case " $keep " in *" $p "*) continue ;; esac
	echo "  UNPATCH $p"
	patch -d "$src" -p1 -R -s --no-backup-if-mismatch < "$done_dir/$p"
	rm -f "$done_dir/$p"
done
echo "$keep" | tr ' ' '\n' | sed '/^$/d' > "$done_dir/order"

for p in $wanted; do
	case " $keep " in *" $p "*) continue ;; esac
	echo "  PATCH   $p"
	patch -d "$src" -p1 -s -N --no-backup-if-mismatch < "$top/patches/$p"
	cp "$top/patches/$p" "$done_dir/$p"
	echo "$p" >> "$done_dir/order"
done

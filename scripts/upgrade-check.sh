#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# An operator's upgrade: build the debug kernel of an older commit (a git
# worktree in build/upgrade/src), boot it in the test VM, deposit a memfd
# and a 2 MiB hugetlb memfd, and live-update into this tree's debug kernel,
# which must read the older handover format and give both back byte for
# byte (fdbox_incoming --case upgrade).
#   upgrade-check.sh [REV]   REV: the tag fdbox-format1-last by default
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
rev=${1:-fdbox-format1-last}
# The last commit whose kernel writes handover format 1, for a clone
# without the tag.
format1_last=d98958841586540c5808a1839b4ebad76589d9e7
tree=$top/build/upgrade/src

if ! git -C "$top" rev-parse -q --verify "$rev^{commit}" >/dev/null; then
	[ "$rev" = fdbox-format1-last ] || { echo "upgrade-check: no commit '$rev'" >&2; exit 2; }
	rev=$format1_last
fi
commit=$(git -C "$top" rev-parse "$rev^{commit}")
if [ ! -e "$tree/.git" ]; then
	git -C "$top" worktree prune
	git -C "$top" worktree add -q --detach "$tree" "$commit"
elif [ "$(git -C "$tree" rev-parse HEAD)" != "$commit" ]; then
	git -C "$tree" checkout -q --detach "$commit"
fi

echo "  UPGRADE from $(git -C "$top" log -1 --format='%h %s' "$commit" | cut -c1-60)"
echo "  KERNEL  debug kernel of that commit, in build/upgrade/src"
make -s -C "$tree" kernel FLAVOUR=debug
old=$tree/build/debug/arch/x86/boot/bzImage

echo "  VM      boot it, deposit, kexec into build/debug's kernel"
exec "$top/tools/testing/selftests/fdbox/vm-run.sh" -f debug --first-kernel "$old" \
	--mem 1G --smp 1 --stages 2 -o "$top/build/logs/upgrade" \
	--cmd 'fdbox_incoming --case upgrade --stage $FDBOX_STAGE'

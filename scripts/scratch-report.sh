#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# scratch-report.sh [FLAVOUR [SIZE...]]: what KHO scratch costs a host.
# For each guest memory SIZE (default 2G 8G 16G), boot the VM, deposit a
# memfd and kexec (fdbox_test's round trip, stage 1), and read, in the
# kexec'd kernel (whose early boot runs in scratch, as it received a
# handover):
# scratch's size, what early boot took of it, what is lent to movable
# allocations, and so what stays away from the page allocator.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(2G 8G 16G)

# Stage 2 prints the kernel's own lines and meminfo's CMA counters.
show='dmesg | grep -E "kho: (handover received|scratch: (early boot|[0-9]+ MiB lent))"; grep -E "^(MemTotal|CmaTotal):" /proc/meminfo'

printf '%-6s %10s %14s %10s %18s\n' RAM scratch "early boot" lent "held away"
for size in "${sizes[@]}"; do
	logdir=$top/build/logs/scratch-$size
	"$top/tools/testing/selftests/fdbox/vm-run.sh" -q -f "$flavour" --mem "$size" \
		--smp 1 --stages 2 --timeout 900 --logdir "$logdir" \
		--stage-cmd "1=fdbox_test --case roundtrip --stage 1" \
		--stage-cmd "2=$show" >/dev/null ||
		{ echo "scratch-report: the $size run failed: $logdir" >&2; exit 1; }
	out=$logdir/output.log
	grep -q "kho: handover received" "$out" ||
		{ echo "scratch-report: the $size kexec carried no handover: $logdir" >&2; exit 1; }
	used=$(sed -n 's/.*early boot used \([0-9]*\) MiB of \([0-9]*\) MiB.*/\1/p' "$out" | tail -1)
	total=$(sed -n 's/.*early boot used \([0-9]*\) MiB of \([0-9]*\) MiB.*/\2/p' "$out" | tail -1)
	lent=$(sed -n 's/.*scratch: \([0-9]*\) MiB lent.*/\1/p' "$out" | tail -1)
	[ -n "$used" ] && [ -n "$total" ] && [ -n "$lent" ] ||
		{ echo "scratch-report: no scratch lines in $out" >&2; exit 1; }
	held=$((total - lent))
	printf '%-6s %7s MiB %10s MiB %6s MiB %8s MiB (%s%%)\n' "$size" "$total" "$used" \
		"$lent" "$held" "$(echo "scale=1; $held * 100 / (${size%G} * 1024)" | bc)"
done

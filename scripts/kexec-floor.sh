#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# kexec-floor.sh [REPS]: what the kexec itself costs, by the way the next
# kernel is loaded. Each run is a two-stage release VM (1 GiB, 1 vCPU)
# whose first stage loads the second with
#   s    kexec -s (kexec_file_load; the runner's own way)
#   l    kexec -l (kexec_load; kexec-tools' purgatory checks its digest)
#   li   kexec -l -i (the same without the digest check)
# and kexecs into it. The residual is QEMU's wall time minus each stage's
# own time (boot to init, init, command, leak scan, next): firmware, QEMU
# start and stop, and the kexec from 'kexec -e' to the new kernel. Runs
# are interleaved (REPS rounds of s, l, li, default 4); medians at the end.
# Logs in build/kexec-floor/. Needs make kernel/initramfs FLAVOUR=release.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-4}
out=$top/build/kexec-floor
rm -rf "$out"
mkdir -p "$out"

for r in $(seq 1 "$reps"); do
	for v in s l li; do
		# shellcheck disable=SC2016 # expanded in the VM, not here
		case $v in
		s) load=true ;;	# the runner loads with kexec -s
		l) load='c=$(fdbox-next --pack) && kexec -l /boot/bzImage --initrd=/run/fdbox-next.cpio --append="$c"' ;;
		li) load='c=$(fdbox-next --pack) && kexec -l -i /boot/bzImage --initrd=/run/fdbox-next.cpio --append="$c"' ;;
		esac
		d=$out/$v-$r
		"$top/tools/testing/selftests/fdbox/vm-run.sh" -q -f release -o "$d" --mem 1G \
			--smp 1 --stages 2 --stage-cmd "1=$load" --stage-cmd 2=true > "$d.log" 2>&1 ||
			{ cat "$d.log" >&2; exit 1; }
		wall=$(sed -n 's/.*QEMU ran \([0-9.]*\) s.*/\1/p' "$d.log")
		own=$(grep -h "time boot" "$d/output.log" |
			awk '{ s += $7 + $9 + $11 + $13 + $15 } END { print s }')
		echo "$v $r $wall $own" | awk '{ printf "%s %s wall %.1f stages %.2f residual %.2f\n",
			$1, $2, $3, $4, $3 - $4 }' | tee -a "$out/results"
	done
done

echo "median residual (s):"
for v in s l li; do
	awk -v v="$v" '$1 == v { print $NF }' "$out/results" | sort -n |
		awk -v v="$v" '{ a[NR] = $1 } END {
			m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
			printf "  %-3s %.2f  (%d runs)\n", v, m, NR }'
done

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: measure live updates in the bench VM (release kernel), one
# step per kexec, and write the tables and plots under build/bench/.
#
# Environment: SIZES (MiB, default "64 128 256 512 1024 2048"), REPS
# (default 3), MEM (VM memory, default 6G), MODES (the plan's modes, see
# fdbox_bench.c; default all of ours), VMM_MAX_MIB (the largest size the
# vmm modes run at, default 1024), PEER (empty, or "luo": the
# same steps through upstream Linux 7.3's LUO, on its own kernel),
# PROFILE=1 (instead: profile the phases of 1 GiB steps with ftrace's
# function profiler, into build/bench/profile/profile.md).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/bench
sizes=${SIZES:-64 128 256 512 1024 2048}
reps=${REPS:-3}
mem=${MEM:-6G}
peer=${PEER:-}
modes=${MODES:-fdbox fdbox-thp fdbox-hugetlb fdbox-vfio copy vmm vmm-thp vmm-hugetlb}
# The vmm modes run a nested KVM guest, which under TCG's emulated SVM has
# been seen to corrupt its host's processes (2 GiB, 80 s in): the longer
# it runs, the likelier, so by default they stop at 1 GiB.
vmm_max=${VMM_MAX_MIB:-1024}

case "$peer" in
""|luo) ;;
*) echo "bench: PEER=$peer: the only peer is luo (upstream Linux 7.3)" >&2; exit 2 ;;
esac

mkdir -p "$out"

if [ -n "${PROFILE:-}" ]; then
	pout=$out/profile
	rm -rf "$pout"
	mkdir -p "$pout"
	printf '%s\n' "# MODE MIB REP" "fdbox 1024 1 profile" "fdbox-thp 1024 1 profile" \
		> "$pout/plan"
	echo "  BENCH   profile: 2 steps, logs in build/bench/profile/logs/"
	# One vCPU: ftrace patches kernel text while the other vCPU runs it,
	# which QEMU TCG does not always see in time (an int3 oops).
	"$top/tools/testing/selftests/fdbox/vm-run.sh" -f release -q -o "$pout/logs" \
		-m "$mem" --smp 1 --stages 3 --timeout 3600 -a "$pout/plan:/etc/fdbox/bench-plan" \
		--cmd 'fdbox_bench --plan /etc/fdbox/bench-plan --stage $FDBOX_STAGE'
	exec python3 "$top/scripts/bench-report.py" --profile "$pout"
fi

rm -rf "$out/logs" "$out/logs-luo"

# write_plan FILE MODE...: one line per step, "MODE MIB REP", a floor and
# then every MODE at every size, per repetition. Modes are interleaved, so
# that a drift of the machine over the run hits all of them alike.
write_plan() {
	local file=$1 rep s m
	shift
	{
		echo "# MODE MIB REP"
		for rep in $(seq 1 "$reps"); do
			echo "floor 0 $rep"
			for s in $sizes; do
				for m in "$@"; do
					[[ $m == vmm* && $s -gt $vmm_max ]] && continue
					echo "$m $s $rep"
				done
			done
		done
	} > "$file"
}

plan=$out/plan
# shellcheck disable=SC2086 # one word per mode
write_plan "$plan" $modes
steps=$(grep -vc '^#' "$plan")
max=$(echo "$sizes" | tr ' ' '\n' | sort -n | tail -1)

# The copy baseline's disk: ext2 on a raw image, fresh for every run.
disk=$out/disk.img
rm -f "$disk"
truncate -s $((max + 512))M "$disk"
mkfs.ext2 -q -F -b 4096 "$disk"

cat > "$out/settings" <<SETTINGS
date $(date -u +%Y-%m-%dT%H:%MZ)
host_cpu $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
host_cpus $(nproc)
qemu $(qemu-system-x86_64 --version | head -1)
vm_memory $mem
vm_cpus 2
accel $("$top/tools/testing/selftests/fdbox/qemu-accel.sh")
kernel $(cat "$top/build/source-version" 2>/dev/null || echo 6.12) release flavour
sizes_mib $sizes
vmm_max_mib $vmm_max
reps $reps
SETTINGS

echo "  BENCH   $steps steps ($reps repetitions), VM $mem, logs in build/bench/logs/"
# fdbox-vfio steps carry QEMU's edu device, in no-IOMMU mode.
"$top/tools/testing/selftests/fdbox/vm-run.sh" -f release -q -o "$out/logs" \
	-m "$mem" -d "$disk" --stages $((steps + 1)) --timeout 10800 \
	--device edu,dma_mask=0xffffffff --append vfio.enable_unsafe_noiommu_mode=1 \
	-a "$plan:/etc/fdbox/bench-plan" \
	--cmd 'fdbox_bench --plan /etc/fdbox/bench-plan --stage $FDBOX_STAGE'
rm -f "$disk"

if [ "$peer" = luo ]; then
	# The same plan through upstream LUO, on its own kernel, in the same
	# VM configuration (no copy steps: they do not depend on the kernel).
	"$top/scripts/build-peer.sh"
	write_plan "$out/plan-luo" luo luo-thp
	steps=$(grep -vc '^#' "$out/plan-luo")
	echo "peer $(make -s -C "$top/build/peer/linux-7.3" kernelversion) (Debian linux-source-7.3), kho=on liveupdate=on" \
		>> "$out/settings"
	echo "  BENCH   peer: $steps steps, logs in build/bench/logs-luo/"
	"$top/tools/testing/selftests/fdbox/vm-run.sh" -f release -q -o "$out/logs-luo" \
		-k "$top/build/peer/build/arch/x86/boot/bzImage" -m "$mem" \
		--append "kho=on liveupdate=on" --stages $((steps + 1)) --timeout 5400 \
		-a "$out/plan-luo:/etc/fdbox/bench-plan" -a "$top/build/peer/luo_bench" \
		--cmd 'luo_bench --plan /etc/fdbox/bench-plan --stage $FDBOX_STAGE'
fi
python3 "$top/scripts/bench-report.py" "$out"
python3 "$top/scripts/bench-scale.py" "$out"

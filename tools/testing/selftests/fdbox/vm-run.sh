#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot the fdbox test VM and run a command in each of N stages, the stages
# joined by kexec_file_load (kexec -s) inside the guest. See README.md,
# "Run your own program across a kexec".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../../.." && pwd)

usage() {
	cat <<USAGE
usage: vm-run.sh [OPTION]... [-- COMMAND]
Boot the fdbox VM; run COMMAND (a shell command line) in every stage with
FDBOX_STAGE and FDBOX_STAGES set; kexec -s into the next stage until all
stages ran. Exit 0 only if every stage exited 0, no TAP 'not ok' was printed
and the kernel log has no oops, BUG, WARNING, KASAN, kmemleak or lockdep report.

  -f, --flavour NAME     debug (default) or release: picks kernel and initramfs
  -k, --kernel FILE      kernel to boot (default build/FLAVOUR/.../bzImage)
      --first-kernel FILE  boot FILE for stage 1 only; the later stages
                         kexec into the kernel above (an upgrade)
  -i, --initramfs FILE   base initramfs (default build/initramfs-FLAVOUR.cpio)
  -s, --stages N         number of stages (default 1)
  -c, --cmd CMD          command for every stage (same as -- CMD)
      --stage-cmd N=CMD  command for stage N only
  -a, --add SRC[:DEST]   put a file into the initramfs (DEST defaults to
                         /usr/local/bin/NAME, which is in PATH)
  -m, --mem SIZE         guest memory (default 2G)
  -d, --disk FILE        a raw disk image, the guest's virtio disk /dev/vda
                         (host page cache bypassed: cache=none, aio=native)
      --device SPEC      one more QEMU -device (repeatable), e.g. edu
  -p, --smp N            vCPUs (default 2)
      --numa N           N NUMA nodes sharing the memory evenly; vCPU i
                         on node i, the last node has the rest (nodes past
                         the last vCPU have memory only)
      --uefi             boot through UEFI firmware (OVMF, with its own
                         variable store) instead of SeaBIOS
      --append ARGS      extra kernel command line, for every stage
  -t, --timeout SEC      limit for the whole run (default 600)
  -o, --logdir DIR       where console.log and output.log go
                         (default build/logs/run)
      --shell            interactive shell on the console (make vm)
  -q, --quiet            do not echo the guest's output
  -h, --help

QEMU runs under KVM where a probe boot shows that KVM works, under TCG
otherwise (qemu-accel.sh); FDBOX_ACCEL=kvm or FDBOX_ACCEL=tcg forces it.
USAGE
}

flavour=debug kernel= kernel_given= first_kernel= initramfs= stages=1 cmd= mem=2G smp=2 append=
timeout_s=600 logdir=$top/build/logs/run shell=0 quiet=0 disk= numa=1 uefi=0
declare -a adds=() stage_cmds=() devices=()

while [ $# -gt 0 ]; do
	case "$1" in
	-f|--flavour) flavour=$2; shift ;;
	-k|--kernel) kernel=$2; kernel_given=1; shift ;;
	--first-kernel) first_kernel=$2; shift ;;
	-i|--initramfs) initramfs=$2; shift ;;
	-s|--stages) stages=$2; shift ;;
	-c|--cmd) cmd=$2; shift ;;
	--stage-cmd) stage_cmds+=("$2"); shift ;;
	-a|--add) adds+=("$2"); shift ;;
	-m|--mem) mem=$2; shift ;;
	-d|--disk) disk=$2; shift ;;
	--device) devices+=("$2"); shift ;;
	-p|--smp) smp=$2; shift ;;
	--numa) numa=$2; shift ;;
	--uefi) uefi=1 ;;
	--append) append=$2; shift ;;
	-t|--timeout) timeout_s=$2; shift ;;
	-o|--logdir) logdir=$2; shift ;;
	--shell) shell=1 ;;
	-q|--quiet) quiet=1 ;;
	-h|--help) usage; exit 0 ;;
	--) shift; cmd="$*"; break ;;
	*) echo "vm-run: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done

kernel=${kernel:-$top/build/$flavour/arch/x86/boot/bzImage}
initramfs=${initramfs:-$top/build/initramfs-$flavour.cpio}
for f in "$kernel" "$initramfs" ${first_kernel:+"$first_kernel"}; do
	[ -f "$f" ] || { echo "vm-run: $f missing: run 'make initramfs FLAVOUR=$flavour'" >&2; exit 2; }
done
[[ "$stages" =~ ^[1-9][0-9]*$ ]] || { echo "vm-run: bad --stages '$stages'" >&2; exit 2; }

mkdir -p "$logdir"
rm -f "$logdir"/{console,output}.log
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The per-run layer, appended to the base initramfs as a second cpio
# archive: the stage commands, the command line, and the added files.
cmdline="console=ttyS0 panic=-1 $append"
# A shell in every stage, the kexec'd ones too.
[ "$shell" = 1 ] && cmdline="$cmdline fdbox.shell=1"
layer=$work/layer
mkdir -p "$layer/etc/fdbox" "$layer/usr/local/bin" "$layer/boot"
echo "$stages" > "$layer/etc/fdbox/stages"
echo "$cmdline" > "$layer/etc/fdbox/cmdline"
[ -n "$cmd" ] && printf '%s\n' "$cmd" > "$layer/etc/fdbox/cmd"
for sc in "${stage_cmds[@]}"; do
	n=${sc%%=*}
	[[ "$n" =~ ^[1-9][0-9]*$ && "$sc" == *=* ]] || { echo "vm-run: bad --stage-cmd '$sc'" >&2; exit 2; }
	printf '%s\n' "${sc#*=}" > "$layer/etc/fdbox/stage-$n"
done
for a in "${adds[@]}"; do
	src=${a%%:*}
	dst=/usr/local/bin/$(basename "$src")
	[[ "$a" == *:* ]] && dst=${a#*:}
	[ -e "$src" ] || { echo "vm-run: --add: $src not found" >&2; exit 2; }
	mkdir -p "$layer$(dirname "$dst")"
	cp -a "$src" "$layer$dst"
done
# The guest kexecs into the kernel QEMU booted: the base initramfs holds
# the flavour's own; a kernel given with --kernel replaces it.
[ -n "$kernel_given" ] && cp "$kernel" "$layer/boot/bzImage"
# An upgrade: QEMU boots the old kernel, which kexecs into the one above.
if [ -n "$first_kernel" ]; then
	cp "$kernel" "$layer/boot/bzImage"
	kernel=$first_kernel
fi
run_initrd=$work/initramfs.cpio
cp "$initramfs" "$run_initrd"
# The kernel reads an uncompressed cpio only at 4-byte aligned offsets.
truncate -s %512 "$run_initrd"
(cd "$layer" && find . | cpio -o -H newc -R 0:0 --quiet) >> "$run_initrd"

# KVM where it really works (qemu-accel.sh probes it once), TCG otherwise.
accel=$("$here/qemu-accel.sh") || exit 2
cpu=max
[ "$accel" = kvm ] && cpu=host
echo "$accel" > "$logdir/accel"
qemu=(qemu-system-x86_64 -machine q35 -nodefaults -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off -accel "$accel" -cpu "$cpu"
      -m "$mem" -smp "$smp" -no-reboot
      -kernel "$kernel" -initrd "$run_initrd")
if [ "$uefi" = 1 ]; then
	# Debian's ovmf package: the firmware read-only, a private copy of the
	# variable store writable, so that SetVariable() works in the guest.
	ovmf=/usr/share/OVMF
	for f in OVMF_CODE_4M.fd OVMF_VARS_4M.fd; do
		[ -f "$ovmf/$f" ] || { echo "vm-run: --uefi: $ovmf/$f missing: run 'make deps'" >&2; exit 2; }
	done
	cp "$ovmf/OVMF_VARS_4M.fd" "$work/vars.fd"
	qemu+=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$ovmf/OVMF_CODE_4M.fd"
	       -drive "if=pflash,format=raw,unit=1,file=$work/vars.fd")
fi
if [ "$numa" != 1 ]; then
	[[ "$numa" =~ ^[2-8]$ ]] || { echo "vm-run: bad --numa '$numa' (2 to 8)" >&2; exit 2; }
	case "$mem" in
	*G) mib=$(( ${mem%G} * 1024 )) ;;
	*M) mib=${mem%M} ;;
	*) echo "vm-run: --numa needs --mem in M or G, not '$mem'" >&2; exit 2 ;;
	esac
	(( mib % numa == 0 )) || { echo "vm-run: --mem $mem does not split into $numa nodes" >&2; exit 2; }
	for ((n = 0; n < numa; n++)); do
		node="node,nodeid=$n,memdev=m$n"
		# vCPU n on node n; the last node takes the vCPUs left over.
		if (( n < smp )); then
			last=$n
			(( n == numa - 1 )) && last=$((smp - 1))
			node="$node,cpus=$n-$last"
		fi
		qemu+=(-object "memory-backend-ram,id=m$n,size=$(( mib / numa ))M" -numa "$node")
	done
fi
for dev in ${devices[@]+"${devices[@]}"}; do
	qemu+=(-device "$dev")
done
if [ -n "$disk" ]; then
	[ -f "$disk" ] || { echo "vm-run: --disk: $disk not found" >&2; exit 2; }
	qemu+=(-drive "file=$disk,if=virtio,format=raw,cache=none,aio=native")
fi

if [ "$shell" = 1 ]; then
	exec "${qemu[@]}" -nographic -serial mon:stdio \
		-serial "file:$logdir/output.log" \
		-append "$cmdline fdbox.stage=1"
fi

echo "# vm-run: $accel, $mem, $smp vCPUs, $stages stage(s), logs in ${logdir#"$top"/}/"
: > "$logdir/console.log"
: > "$logdir/output.log"
if [ "$quiet" = 0 ]; then
	tail -q -n +1 -F "$logdir/output.log" 2>/dev/null &
	tailer=$!
	trap 'kill $tailer 2>/dev/null; rm -rf "$work"' EXIT
fi

start=$(date +%s.%N)
set +e
timeout --kill-after=10 "$timeout_s" "${qemu[@]}" \
	-display none -monitor none \
	-serial "file:$logdir/console.log" -serial "file:$logdir/output.log" \
	-append "$cmdline fdbox.stage=1" </dev/null
qrc=$?
set -e
end=$(date +%s.%N)
[ "$quiet" = 0 ] && { sleep 0.3; kill $tailer 2>/dev/null || true; }

echo "# vm-run: QEMU ran $(echo "$end - $start" | bc | xargs printf '%.1f') s"
if [ $qrc = 124 ] || [ $qrc = 137 ]; then
	echo "# vm-run: FAIL: timeout after ${timeout_s} s (last console lines below)"
	tail -n 15 "$logdir/console.log" | sed 's/^/#   /'
	exit 1
elif [ $qrc != 0 ]; then
	echo "# vm-run: FAIL: QEMU exited with status $qrc"
	exit 1
fi
exec "$here/vm-verdict.sh" "$stages" "$logdir/console.log" "$logdir/output.log"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# qemu-accel.sh: print the QEMU accelerator the fdbox VMs should use, "kvm"
# or "tcg".
#
# A writable /dev/kvm is not enough: on some machines it exists but QEMU
# aborts at once ("failed to set MSR 0x10a", -cpu host and -cpu max) or
# the guest never runs. So KVM is used only when a probe boot under it
# reaches a marker within a few seconds: a boot sector, started by the
# firmware with the VMs' own machine and CPU model, writes the marker to
# the serial port and exits QEMU through isa-debug-exit. The answer is
# cached per machine and boot (~/.cache/fdbox/accel), so the probe runs
# once. When KVM is there but does not work, one line on stderr says so.
#
# FDBOX_ACCEL=kvm|tcg forces the choice (no probe).
set -uo pipefail

case "${FDBOX_ACCEL:-}" in
kvm|tcg) echo "$FDBOX_ACCEL"; exit 0 ;;
'') ;;
*) echo "qemu-accel: FDBOX_ACCEL must be kvm or tcg, not '$FDBOX_ACCEL'" >&2; exit 2 ;;
esac

if [ ! -w /dev/kvm ]; then
	echo tcg
	exit 0
fi

# The cache is valid for this boot of this machine, this QEMU and this
# /dev/kvm.
cache=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/fdbox/accel
key="$(cat /proc/sys/kernel/random/boot_id) $(stat -c %t:%T /dev/kvm)"
key="$key $(qemu-system-x86_64 --version 2>/dev/null | awk 'NR == 1 { print $4 }')"
if [ -r "$cache" ] && [ "$(sed -n 1p "$cache")" = "$key" ]; then
	accel=$(sed -n 2p "$cache")
	why=$(sed -n 3p "$cache")
	case "$accel" in
	kvm) echo kvm; exit 0 ;;
	tcg) echo "qemu-accel: /dev/kvm does not work here ($why); using TCG (cached in $cache)" >&2
	     echo tcg; exit 0 ;;
	esac
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
marker=fdbox-kvm-probe-ok

# 16-bit boot sector, loaded at 0x7c00:
#   cli; xor ax,ax; mov ds,ax; mov dx,0x3f8; mov si,msg
#   next: lodsb; test al,al; jz out; out dx,al; jmp next
#   out: mov al,0x31; out 0xf4,al     (isa-debug-exit: QEMU exits 0x63)
#   hlt; jmp $-1
#   msg: "fdbox-kvm-probe-ok\r\n\0"
{
	printf '\xfa\x31\xc0\x8e\xd8\xba\xf8\x03\xbe\x1a\x7c'
	printf '\xac\x84\xc0\x74\x03\xee\xeb\xf8'
	printf '\xb0\x31\xe6\xf4\xf4\xeb\xfd'
	printf '%s\r\n\0' "$marker"
} > "$tmp/boot.img"
truncate -s 510 "$tmp/boot.img"
printf '\x55\xaa' >> "$tmp/boot.img"
# The firmware does not boot from a disk smaller than a track or so.
truncate -s 64K "$tmp/boot.img"

timeout --kill-after=2 "${FDBOX_KVM_PROBE_TIMEOUT:-10}" \
	qemu-system-x86_64 -machine q35 -accel kvm -cpu host -m 64 -smp 1 \
	-display none -monitor none -no-reboot -nodefaults \
	-serial "file:$tmp/serial" -device isa-debug-exit,iobase=0xf4,iosize=4 \
	-drive "file=$tmp/boot.img,format=raw,if=ide" > "$tmp/qemu.log" 2>&1
rc=$?

if [ $rc = 99 ] && grep -q "$marker" "$tmp/serial" 2>/dev/null; then
	accel=kvm why=
elif [ $rc = 124 ] || [ $rc = 137 ]; then
	accel=tcg why="the probe guest printed nothing in ${FDBOX_KVM_PROBE_TIMEOUT:-10} s"
else
	accel=tcg
	why="QEMU exited with status $rc: $(grep -m1 . "$tmp/qemu.log" | cut -c1-120)"
fi

mkdir -p "$(dirname "$cache")" 2>/dev/null &&
	printf '%s\n%s\n%s\n' "$key" "$accel" "$why" > "$cache" 2>/dev/null
[ "$accel" = tcg ] && echo "qemu-accel: /dev/kvm does not work here ($why); using TCG" >&2
echo "$accel"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# demo-summary.sh OUTPUT_LOG STATUS: the human summary of `make demo`,
# from the "# demo: KEY VALUE" lines the guest's fdbox-demo printed and the
# runner's exit status.
set -eu
log=$1
status=$2
val() { sed -n "s/^# demo: $1 //p" "$log" | tail -1; }

bytes=$(val carried_bytes)
echo
accel=$(cat "$(dirname "$log")/accel" 2>/dev/null || echo tcg)
if [ "$accel" = kvm ]; then
	echo "fdbox live update of a running VM (QEMU with KVM)"
else
	echo "fdbox live update of a running VM (QEMU TCG: times are relative, not absolute)"
fi
printf '  %-28s %s MiB of guest RAM (%s bytes), zero-copy\n' "carried" \
	"$(val guest_ram_mib)" "${bytes:-?}"
printf '  %-28s %s\n' "guest" "$(val guest)"
printf '  %-28s %s s\n' "deposit (VM running)" "$(val deposit_s)"
printf '  %-28s %s s\n' "finalize (VM running)" "$(val finalize_s)"
printf '  %-28s %s s\n' "kexec to new userspace" "$(val kexec_to_userspace_s)"
printf '  %-28s %s s\n' "retrieve" "$(val retrieve_s)"
printf '  %-28s %s s\n' "verify guest RAM" "$(val verify_s)"
if [ "$status" = 0 ] && [ -n "$(val verdict)" ]; then
	printf '  %-28s PASS: %s\n' "verdict" "$(val verdict)"
else
	printf '  %-28s FAIL: see %s and console.log beside it\n' "verdict" "$log"
	exit 1
fi

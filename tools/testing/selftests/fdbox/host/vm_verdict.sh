#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# vm-verdict.sh must pass a clean two-stage run and fail each kind of broken
# one. A runner that cannot fail would make every VM test worthless.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

good_output() {
	printf '# fdbox: stage 1/2 boot_id=aaaa kernel=6.12\r\n'
	printf 'ok 1 stage1.x\r\n'
	printf '# fdbox: stage 1 exit 0\r\n'
	printf '# fdbox: kexec to stage 2\r\n'
	printf '# fdbox: stage 2/2 boot_id=bbbb kernel=6.12\r\n'
	printf 'ok 1 stage2.y\r\n'
	printf '# fdbox: stage 2 exit 0\r\n'
	printf '# fdbox: all 2 stages done\r\n'
}
good_console() {
	printf '[    0.000000] Linux version 6.12.117\r\n'
	printf '[    0.100000] kmemleak: Kernel memory leak detector initialized (mem pool available: 15794)\r\n'
	printf '[    1.000000] kexec_core: Starting new kernel\r\n'
	printf '[    0.000000] Linux version 6.12.117\r\n'
}

# check NAME EXPECTED_STATUS: run the verdict on $tmp/c and $tmp/o.
check() {
	"$here/vm-verdict.sh" 2 "$tmp/c" "$tmp/o" > "$tmp/v" 2>&1
	local rc=$?
	if { [ "$2" = pass ] && [ $rc = 0 ]; } || { [ "$2" = fail ] && [ $rc != 0 ]; }; then
		echo "ok: $1 -> $2"
	else
		echo "WRONG: $1: expected $2, verdict said:"; cat "$tmp/v"
		fails=$((fails + 1))
	fi
}

good_output > "$tmp/o"; good_console > "$tmp/c"; check "clean run" pass

good_console > "$tmp/c"
good_output | grep -v 'stage 2/2' > "$tmp/o"; check "stage 2 missing" fail
good_output | sed 's/stage 1 exit 0/stage 1 exit 3/' > "$tmp/o"; check "stage 1 exit 3" fail
good_output | grep -v 'all 2 stages' > "$tmp/o"; check "run cut short" fail
good_output | sed 's/^ok 1 stage2.y/not ok 1 stage2.y/' > "$tmp/o"; check "TAP not ok" fail
good_output | sed 's/bbbb/aaaa/' > "$tmp/o"; check "same boot id" fail
good_output > "$tmp/o"
good_console | grep -v 'Starting new kernel' > "$tmp/c"; check "no kexec" fail

for report in \
	'BUG: KASAN: slab-use-after-free in kho_test+0x12/0x40' \
	'unreferenced object 0xffff888003a1c000 (size 64):' \
	'WARNING: possible circular locking dependency detected' \
	'WARNING: CPU: 0 PID: 1 at mm/kho/core.c:10 kho_x+0x1/0x2' \
	'BUG: kernel NULL pointer dereference, address: 0000000000000008' \
	'Oops: general protection fault, probably for non-canonical address' \
	'list_add corruption. prev->next should be next' \
	'INFO: task sh:1 blocked for more than 120 seconds.' \
	'kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)' \
	'Kernel panic - not syncing: Fatal exception'; do
	{ good_console; printf '[    2.0] %s\r\n' "$report"; } > "$tmp/c"
	check "report: $report" fail
done

echo "$fails wrong verdict(s)"
[ $fails = 0 ]

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vm-verdict.sh STAGES CONSOLE_LOG OUTPUT_LOG
# Decide whether a VM run passed, from its logs alone: every stage started
# on a boot of its own (distinct boot ids), got there by kexec, ran its
# command to exit 0, printed no TAP 'not ok', and the kernel reported no
# oops, BUG, WARNING, KASAN, kmemleak or lockdep problem. Prints one line
# per problem; exit 0 if there is none.
set -u
stages=$1 console=$2 output=$3
fail=0
bad() { echo "# vm-verdict: FAIL: $*"; fail=1; }

[ -r "$console" ] || { bad "no console log $console"; exit 1; }
[ -r "$output" ] || { bad "no output log $output"; exit 1; }
# Serial ttys end lines with CR LF.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tr -d '\r' < "$console" > "$tmp/console"
tr -d '\r' < "$output" > "$tmp/output"
console=$tmp/console output=$tmp/output

s=1
while [ "$s" -le "$stages" ]; do
	grep -q "^# fdbox: stage $s/$stages boot_id=" "$output" || bad "stage $s never started"
	grep -q "^# fdbox: stage $s exit 0\$" "$output" ||
		bad "stage $s did not exit 0 ($(grep "^# fdbox: stage $s exit" "$output" | head -1 | sed 's/.* exit /status /'))"
	s=$((s + 1))
done
grep -q "^# fdbox: all $stages stages done\$" "$output" || bad "the run did not complete all $stages stages"

ids=$(sed -n 's/^# fdbox: stage [0-9]*\/[0-9]* boot_id=\([^ ]*\).*/\1/p' "$output")
[ "$(echo "$ids" | sort -u | grep -c .)" = "$(echo "$ids" | grep -c .)" ] ||
	bad "two stages share a boot id: a stage did not boot anew"
kexecs=$(grep -c 'kexec_core: Starting new kernel' "$console")
[ "$kexecs" -ge $((stages - 1)) ] ||
	bad "$((stages - 1)) kexec(s) expected, the kernel log shows $kexecs"

grep -n '^not ok' "$output" | sed 's/^/# vm-verdict: FAIL: TAP: /' | grep . && fail=1

# Kernel reports. KASAN, lockdep and most debug checks print "BUG:" or
# "WARNING:"; list corruption and hung tasks have their own words.
pattern='BUG:|WARNING:|Oops|Kernel panic|general protection fault|Call Trace:'
pattern="$pattern|KASAN|UBSAN|unreferenced object|kmemleak: .*(suspected memory leak|disabled)"
pattern="$pattern|possible (circular|recursive) locking|inconsistent lock state"
pattern="$pattern|DEBUG_LOCKS_WARN_ON|list_(add|del) corruption|blocked for more than"
if grep -En "$pattern" "$console" > /dev/null; then
	bad "kernel report in the console log:"
	grep -En "$pattern" "$console" | head -20 | sed 's/^/#   /'
fi

[ $fail = 0 ] && echo "# vm-verdict: pass ($stages stage(s), $kexecs kexec(s))"
exit $fail

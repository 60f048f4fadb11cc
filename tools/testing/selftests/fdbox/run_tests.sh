#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run the fdbox test suite: host-side tests, then every VM test of vm_tests,
# JOBS VMs at a time. Prints TAP as tests finish, a table of where the time
# went (also build/logs/times.csv) and ends with "N passed, N failed" (and
# ", N skipped" when tests that need something not built were skipped).
#   run_tests.sh [-f FLAVOUR] [-j JOBS] [-t NAME]... [-l]
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../../.." && pwd)
flavour=debug
jobs=${FDBOX_TEST_JOBS:-}
only=()

usage() {
	cat <<USAGE
usage: run_tests.sh [-f FLAVOUR] [-j JOBS] [-t NAME]... [-l]
  -f, --flavour NAME  kernel flavour the VM tests boot (default debug)
  -j, --jobs N        VMs at once (default: one per core, as memory allows;
                      or FDBOX_TEST_JOBS)
  -t, --test NAME     run only this test (repeatable)
  -l, --list          list the tests with their budgets
USAGE
}

while [ $# -gt 0 ]; do
	case "$1" in
	-f|--flavour) flavour=$2; shift ;;
	-j|--jobs) jobs=$2; shift ;;
	-t|--test) only+=("$2"); shift ;;
	-l|--list)
		echo "host: $(cd "$here/host" && ls *.sh | sed 's/\.sh$//' | xargs)"
		echo "vm (name, budget in seconds):"
		grep -v '^#' "$here/vm_tests" | awk 'NF { printf "  %-34s %5s\n", $1, $3 }'
		exit 0 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run_tests: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

# Each VM needs its memory and keeps about one core busy: as many at once
# as there are cores and room for the largest VM (4 GiB, and QEMU's own).
if [ -z "$jobs" ]; then
	avail_gib=$(awk '/^MemAvailable:/ { print int($2 / 1048576) }' /proc/meminfo)
	jobs=$(nproc)
	[ $((avail_gib / 6)) -lt "$jobs" ] && jobs=$((avail_gib / 6))
	[ "$jobs" -lt 1 ] && jobs=1
fi
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "run_tests: bad --jobs '$jobs'" >&2; exit 2; }

wanted() {
	[ ${#only[@]} = 0 ] && return 0
	local t
	for t in "${only[@]}"; do [ "$t" = "$1" ] && return 0; done
	return 1
}

# The list: "host NAME - BUDGET" and "vm NAME EXPECT BUDGET ARGS", the
# VM tests longest budget first so that the long ones do not end the run
# alone.
list=()
for f in "$here"/host/*.sh; do
	n=$(basename "$f" .sh)
	wanted "$n" && list+=("host $n pass 10")
done
while read -r entry; do
	read -r n _ <<< "$entry"
	wanted "$n" && list+=("vm $entry")
done < <(grep -v '^[[:space:]]*\(#\|$\)' "$here/vm_tests" | sort -s -k3,3nr)
if [ ${#only[@]} != 0 ] && [ ${#list[@]} != ${#only[@]} ]; then
	echo "run_tests: unknown test in: ${only[*]} (see -l)" >&2
	exit 2
fi
for entry in "${list[@]}"; do
	read -r kind n expect budget _ <<< "$entry"
	[[ "$budget" =~ ^[1-9][0-9]*$ && "$expect" =~ ^(pass|pass,needs=.+|fail|fail=.+)$ ]] || {
		echo "run_tests: vm_tests: '$n' needs EXPECT (pass, pass,needs=FILE, fail or fail=REGEX) and a budget in seconds" >&2
		exit 2
	}
done

mkdir -p "$top/build/logs"
times=$top/build/logs/times.csv
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT

# run_one KIND NAME EXPECT BUDGET ARGS: run one test; its status and wall
# time go to build/logs/NAME/result.
run_one() {
	local kind=$1 n=$2 args=${5:-} logdir=$top/build/logs/$2 start rc
	rm -rf "$logdir"
	mkdir -p "$logdir"
	start=$(date +%s.%N)
	if [ "$kind" = host ]; then
		bash "$here/host/$n.sh" > "$logdir/run.log" 2>&1
	else
		eval "set -- $args"
		"$here/vm-run.sh" -q -f "$flavour" -o "$logdir" "$@" > "$logdir/run.log" 2>&1
	fi
	rc=$?
	echo "$rc $(echo "$(date +%s.%N) - $start" | bc)" > "$logdir/result"
}

# Sum of each phase over the stages, from the "# fdbox: stage N time"
# lines init prints: "STAGES BOOT INIT COMMAND LEAKSCAN NEXT".
phases() {
	cat "$1" 2>/dev/null | tr -d '\r' | awk '
		/^# fdbox: stage [0-9]+ time / {
			n++
			for (i = 6; i < NF; i += 2) t[$i] += $(i + 1)
		}
		END { printf "%d %.1f %.1f %.1f %.1f %.1f\n", n, t["boot"], t["init"],
			t["command"], t["leakscan"], t["next"] }'
}

echo "TAP version 13"
echo "1..${#list[@]}"
echo "# ${#list[@]} tests, $jobs VM(s) at a time, accelerator $("$here/qemu-accel.sh")"
pass=0 failed=0 skipped=0 i=0
suite_start=$(date +%s.%N)

# report ENTRY: the TAP line of a finished test, and its row for the table.
report() {
	local kind n expect budget logdir rc secs over= result
	read -r kind n expect budget _ <<< "$1"
	logdir=$top/build/logs/$n
	read -r rc secs < "$logdir/result"
	i=$((i + 1))
	if [ "$(echo "$secs > $budget" | bc)" = 1 ]; then
		over=" OVER BUDGET ($budget s)"
	fi
	# "fail=REGEX": the run must fail, for the reason its log gives.
	if { [ "${expect%%,*}" = pass ] && [ "$rc" = 0 ]; } ||
	   { [ "$expect" = fail ] && [ "$rc" != 0 ]; } ||
	   { [ "${expect#fail=}" != "$expect" ] && [ "$rc" != 0 ] &&
	     grep -Eq -- "${expect#fail=}" "$logdir/run.log"; }; then
		pass=$((pass + 1))
		[ "${expect%%,*}" != pass ] && echo "# $n: failed as it must: $(grep -m1 'FAIL' "$logdir/run.log")"
		printf 'ok %d %s # time=%.1fs%s\n' $i "$n" "$secs" "$over"
		result=pass
	else
		failed=$((failed + 1))
		echo "# $n: expected $expect, exit status $rc; logs in ${logdir#"$top"/}/"
		tail -n 40 "$logdir/run.log" | sed 's/^/#   /'
		if [ -f "$logdir/console.log" ]; then
			echo "#   --- last console lines"
			tail -n 30 "$logdir/console.log" | tr -d '\r' | sed 's/^/#   /'
		fi
		printf 'not ok %d %s # time=%.1fs%s\n' $i "$n" "$secs" "$over"
		result=fail
	fi
	echo "$n $secs $budget $result $([ -n "$over" ] && echo 1 || echo 0)" \
		"$(phases "$logdir/output.log")" >> "$rows"
}

# "pass,needs=FILE": a test that can only run where FILE (under the
# checkout) was built; elsewhere it is skipped, and says what it needs.
skip_unless_built() {
	local kind n expect file
	read -r kind n expect _ <<< "$1"
	file=${expect#pass,needs=}
	[ "$file" = "$expect" ] || [ -e "$top/$file" ] && return 1
	i=$((i + 1))
	skipped=$((skipped + 1))
	printf 'ok %d %s # SKIP %s is not built\n' $i "$n" "$file"
	return 0
}

# Host tests first, one by one; then the VMs, $jobs at a time.
declare -A running=()
for entry in "${list[@]}"; do
	read -r kind _ <<< "$entry"
	skip_unless_built "$entry" && continue
	if [ "$kind" = host ]; then
		run_one $entry
		report "$entry"
		continue
	fi
	while [ ${#running[@]} -ge "$jobs" ]; do
		wait -n -p done_pid
		report "${running[$done_pid]}"
		unset "running[$done_pid]"
	done
	read -r kind n expect budget args <<< "$entry"
	run_one "$kind" "$n" "$expect" "$budget" "$args" &
	running[$!]=$entry
done
while [ ${#running[@]} -gt 0 ]; do
	wait -n -p done_pid
	report "${running[$done_pid]}"
	unset "running[$done_pid]"
done
wall=$(echo "$(date +%s.%N) - $suite_start" | bc)

# The time report: every test, longest first, its phases summed over its
# stages; "other" is QEMU and firmware start, the kexecs themselves and
# the kernel's decompression, which no guest clock sees.
echo "test,seconds,budget,result,stages,boot,init,command,leakscan,next_load,other" > "$times"
sort -k2,2nr "$rows" | awk -v OFS=, '{
	other = $6 ? sprintf("%.1f", $2 - $7 - $8 - $9 - $10 - $11) : ""
	print $1, sprintf("%.1f", $2), $3, $4 ($5 ? " over budget" : ""), $6, $7, $8, $9, $10, $11, other
}' >> "$times"
echo "# Time per test (seconds; phases summed over the test's stages; * over its budget)"
awk -F, 'NR == 1 {
	printf "#   %-34s %7s %6s %6s %7s %5s %7s %8s %5s %6s\n", "test", "wall", "budget", "stages",
		"boot", "init", "command", "leakscan", "next", "other"; next }
	{ s += $2
	  printf "#   %-34s %7.1f %5d%s %6s %7s %5s %7s %8s %5s %6s\n", $1, $2, $3,
		($4 ~ /over/ ? "*" : " "), $5, $6, $7, $8, $9, $10, $11 }
	END { printf "#   %-34s %7.1f  (wall %.1f s, '"$jobs"' at a time)\n", "total", s, '"$wall"' }' "$times"
echo "# (also in ${times#"$top"/})"

if [ $skipped = 0 ]; then
	echo "$pass passed, $failed failed"
else
	echo "$pass passed, $failed failed, $skipped skipped"
fi
[ $failed = 0 ]

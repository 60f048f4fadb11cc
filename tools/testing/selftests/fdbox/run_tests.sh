#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run the fdbox test suite: host-side tests, then every VM test of vm_tests.
# Prints TAP with the time of each test and ends with "N passed, N failed".
#   run_tests.sh [-f FLAVOUR] [-t NAME]... [-l]
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../../.." && pwd)
flavour=debug
only=()

while [ $# -gt 0 ]; do
	case "$1" in
	-f|--flavour) flavour=$2; shift ;;
	-t|--test) only+=("$2"); shift ;;
	-l|--list)
		echo "host: $(cd "$here/host" && ls *.sh | sed 's/\.sh$//' | xargs)"
		echo "vm:   $(grep -v '^#' "$here/vm_tests" | awk 'NF { print $1 }' | xargs)"
		exit 0 ;;
	-h|--help) sed -n '3,5p' "$0"; exit 0 ;;
	*) echo "run_tests: unknown option '$1'" >&2; exit 2 ;;
	esac
	shift
done

wanted() {
	[ ${#only[@]} = 0 ] && return 0
	local t
	for t in "${only[@]}"; do [ "$t" = "$1" ] && return 0; done
	return 1
}

# The list: "host NAME" and "vm NAME EXPECT ARGS".
list=()
for f in "$here"/host/*.sh; do
	n=$(basename "$f" .sh)
	wanted "$n" && list+=("host $n")
done
while read -r n expect args; do
	case "$n" in ''|'#'*) continue ;; esac
	wanted "$n" && list+=("vm $n $expect $args")
done < "$here/vm_tests"
if [ ${#only[@]} != 0 ] && [ ${#list[@]} != ${#only[@]} ]; then
	echo "run_tests: unknown test in: ${only[*]} (see -l)" >&2
	exit 2
fi

echo "TAP version 13"
echo "1..${#list[@]}"
pass=0 failed=0 i=0
for entry in "${list[@]}"; do
	i=$((i + 1))
	read -r kind n expect args <<< "$entry"
	logdir=$top/build/logs/$n
	mkdir -p "$logdir"
	start=$(date +%s.%N)
	if [ "$kind" = host ]; then
		bash "$here/host/$n.sh" > "$logdir/run.log" 2>&1
		rc=$?
		expect=pass
	else
		eval "set -- $args"
		"$here/vm-run.sh" -q -f "$flavour" -o "$logdir" "$@" > "$logdir/run.log" 2>&1
		rc=$?
	fi
	secs=$(echo "$(date +%s.%N) - $start" | bc | xargs printf '%.1f')
	if { [ "$expect" = pass ] && [ $rc = 0 ]; } || { [ "$expect" = fail ] && [ $rc != 0 ]; }; then
		pass=$((pass + 1))
		[ "$expect" = fail ] && echo "# $n: failed as it must: $(grep -m1 'FAIL' "$logdir/run.log")"
		echo "ok $i $n # time=${secs}s"
	else
		failed=$((failed + 1))
		echo "# $n: expected $expect, exit status $rc; logs in ${logdir#"$top"/}/"
		tail -n 40 "$logdir/run.log" | sed 's/^/#   /'
		if [ -f "$logdir/console.log" ]; then
			echo "#   --- last console lines"
			tail -n 30 "$logdir/console.log" | tr -d '\r' | sed 's/^/#   /'
		fi
		echo "not ok $i $n # time=${secs}s"
	fi
done

echo "$pass passed, $failed failed"
[ $failed = 0 ]

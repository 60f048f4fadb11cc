#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The fdboxctl man page renders with man(1), and documents every command,
# option and exit status; the bash completion loads and offers the
# commands.
set -u
top=$(cd "$(dirname "$0")/../../../../.." && pwd)
page=$top/build/tools/fdboxctl.8
fails=0
check() {
	if eval "$2"; then
		echo "ok: $1"
	else
		echo "FAIL: $1"
		fails=$((fails + 1))
	fi
}

text=$(MANWIDTH=80 man -l "$page" 2>&1)
check "man renders build/tools/fdboxctl.8" '[ -n "$text" ] && ! grep -q "WARNING\|ERROR" <<< "$text"'
for w in status list dump kexec discard --json --pretty --require-finalized \
	--reuse-cmdline --exec "EXIT STATUS"; do
	check "the page documents $w" 'grep -q -- "$w" <<< "$text"'
done
comp=$(bash -c "source /usr/share/bash-completion/bash_completion 2>/dev/null; \
	source $top/tools/fdboxctl/bash-completion/fdboxctl; \
	COMP_WORDS=(fdboxctl ''); COMP_CWORD=1; _fdboxctl; echo \${COMPREPLY[*]}" 2>&1)
check "completion offers the commands" 'grep -q "status list dump kexec discard" <<< "$comp"'
exit $((fails != 0))

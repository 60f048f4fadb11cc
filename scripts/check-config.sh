#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Fail if an option asked for by a fragment did not make it into .config
# (a missing dependency silently drops it in merge_config/olddefconfig).
set -eu
config=$1; shift
bad=0
for frag in "$@"; do
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) want=$line ;;
		"# CONFIG_"*" is not set") want=$line ;;
		*) continue ;;
		esac
		name=$(echo "$want" | sed -E 's/^(# )?(CONFIG_[A-Za-z0-9_]+).*/\2/')
		have=$(grep -E "^(# )?$name[= ]" "$config" || echo "# $name is not set")
		if [ "$have" != "$want" ]; then
			echo "config: $(basename "$frag"): wanted '$want', got '$have'" >&2
			bad=1
		fi
	done < "$frag"
done
exit $bad

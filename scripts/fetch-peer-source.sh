#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# fetch-peer-source.sh DIR: download Debian's linux-source-7.3 (upstream
# KHO + LUO, the bench's peer) from trixie-backports into DIR, with a
# private apt configuration: the machine's sources and lists are not
# touched. Prints the path of the source tarball.
set -eu
dir=$(mkdir -p "$1" && cd "$1" && pwd)	# apt wants absolute paths
pkg=linux-source-7.3
mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
cat > "$dir/sources.list" <<LIST
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main
LIST
apt_opts="-o Dir::Etc::SourceList=$dir/sources.list -o Dir::Etc::SourceParts=/dev/null
	-o Dir::State::Lists=$dir/lists -o Dir::Cache=$dir/cache
	-o Dir::State::status=/dev/null -o APT::Sandbox::User=root -q"
if ! ls "$dir"/${pkg}_*.deb >/dev/null 2>&1; then
	# shellcheck disable=SC2086
	apt-get $apt_opts update >&2
	# shellcheck disable=SC2086
	(cd "$dir" && apt-get $apt_opts download "$pkg" >&2)
fi
deb=$(ls "$dir"/${pkg}_*.deb | tail -1)
if [ ! -d "$dir/x" ]; then
	dpkg-deb -x "$deb" "$dir/x"
fi
ls "$dir"/x/usr/src/linux-source-7.3.tar.* | head -1

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Install the Debian packages fdbox needs. Idempotent: apt is only touched
# when something is missing, and `apt-get update` runs once before installing.
set -eu

PKGS="linux-source-6.12 build-essential bc bison flex libelf-dev libssl-dev
      dwarves cpio rsync xz-utils gzip kmod python3 perl ccache
      libfdt-dev liburing-dev kexec-tools qemu-system-x86 busybox-static
      coreutils findutils gawk python3-docutils man-db bash-completion
      e2fsprogs gnuplot-nox ovmf"

missing=
for p in $PKGS; do
	dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed ||
		missing="$missing $p"
done

if [ -z "$missing" ]; then
	echo "  DEPS    all $(echo $PKGS | wc -w) packages present"
	exit 0
fi

echo "  DEPS    installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: need root to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing

# SPDX-License-Identifier: GPL-2.0
#
# fdbox: the one entry point. `make help` lists the targets.
#
# Everything generated lives under build/. The kernel tree is Debian's
# linux-source-6.12 unpacked in build/linux-6.12 with this repository's
# files linked into it and patches/series applied.

TOP     := $(abspath .)
BUILD   := $(TOP)/build
KSRC    := $(BUILD)/linux-6.12
FLAVOUR ?= release
SELFTESTS := $(TOP)/tools/testing/selftests/fdbox
export JOBS ?= $(shell nproc)

.PHONY: help all deps source kernel headers selftests fdboxctl samples userspace initramfs \
	vm check upgrade-check demo bench clean distclean

help:
	@echo "fdbox make targets:"
	@echo "  deps       install the Debian packages needed (apt, as root)"
	@echo "  kernel     build the kernel, FLAVOUR=release (default) or debug"
	@echo "  initramfs  build the test VM's initramfs for FLAVOUR"
	@echo "  vm         interactive shell in the VM (release kernel)"
	@echo "  check      build the debug kernel and run every test [T=name]"
	@echo "  upgrade-check  live-update from the kernel of an older commit into this"
	@echo "             one (handover format 1 read by format 2) [UPGRADE_FROM=rev]"
	@echo "  demo       live-update a running VM's memory across kexec, with a summary"
	@echo "  bench      measure live updates against a plain kexec and a copy-based"
	@echo "             one; tables and plots in build/bench/ [SIZES= REPS= MEM=]"
	@echo "  all        both kernel flavours and the userspace"
	@echo "  clean      remove build outputs (keeps the unpacked source)"

all:
	$(MAKE) kernel FLAVOUR=release
	$(MAKE) kernel FLAVOUR=debug
	$(MAKE) userspace

deps:
	@$(TOP)/scripts/deps.sh

source: deps
	@$(TOP)/scripts/prepare-source.sh $(KSRC)

kernel: source
	@$(TOP)/scripts/build-kernel.sh $(FLAVOUR)

# UAPI headers of the 6.12 tree (with ours), for userspace: Debian 12's
# /usr/include is 6.1.
headers: source
	@echo "  HEADERS build/headers"
	@$(MAKE) -s -C $(KSRC) O=$(BUILD)/headers-obj ARCH=x86_64 \
		INSTALL_HDR_PATH=$(BUILD)/headers headers_install

selftests: headers
	@mkdir -p $(BUILD)/selftests
	@$(MAKE) -s -C $(KSRC)/tools/testing/selftests/fdbox \
		OUTPUT=$(BUILD)/selftests KHDR_INCLUDES="-isystem $(BUILD)/headers/include"

fdboxctl: headers
	@echo "  CC      build/tools/fdboxctl"
	@$(MAKE) -s -C $(TOP)/tools/fdboxctl O=$(BUILD)/tools KHDR=$(BUILD)/headers/include \
		$(BUILD)/tools/fdboxctl $(BUILD)/tools/fdboxctl.8

samples: headers
	@echo "  CC      build/samples/fdbox-vmm"
	@$(MAKE) -s -C $(TOP)/samples/fdbox O=$(BUILD)/samples KHDR=$(BUILD)/headers/include

userspace: selftests fdboxctl samples

initramfs: userspace
	@test -f $(BUILD)/$(FLAVOUR)/arch/x86/boot/bzImage || $(MAKE) kernel FLAVOUR=$(FLAVOUR)
	@$(TOP)/scripts/mkinitramfs.sh $(FLAVOUR)

vm: FLAVOUR = release
vm: kernel
	@$(MAKE) -s initramfs FLAVOUR=release
	@echo "  VM      release kernel; 'poweroff -f' (or Ctrl-A x) ends it"
	@$(SELFTESTS)/vm-run.sh -f release --shell

check: FLAVOUR = debug
check: kernel
	@$(MAKE) -s initramfs FLAVOUR=debug
	@echo "  CHECK   debug kernel, logs in build/logs/"
	@$(SELFTESTS)/run_tests.sh -f debug $(addprefix -t ,$(T))

# From the last commit that wrote handover format 1 (tag fdbox-format1-last).
UPGRADE_FROM ?= fdbox-format1-last
upgrade-check: FLAVOUR = debug
upgrade-check: kernel
	@$(MAKE) -s initramfs FLAVOUR=debug
	@$(TOP)/scripts/upgrade-check.sh $(UPGRADE_FROM)

demo: FLAVOUR = release
demo: kernel
	@$(MAKE) -s initramfs FLAVOUR=release
	@echo "  DEMO    a VM with 512 MiB of guest RAM, live-updated by kexec (release kernel)"
	@$(SELFTESTS)/vm-run.sh -f release -o $(BUILD)/logs/demo --stages 2 \
		--stage-cmd '1=fdbox-demo 1 512' --stage-cmd '2=fdbox-demo 2'; \
	$(TOP)/scripts/demo-summary.sh $(BUILD)/logs/demo/output.log $$?

bench: FLAVOUR = release
bench: kernel
	@$(MAKE) -s initramfs FLAVOUR=release
	@$(TOP)/scripts/bench.sh

clean:
	rm -rf $(BUILD)/release $(BUILD)/debug $(BUILD)/headers $(BUILD)/headers-obj \
		$(BUILD)/selftests $(BUILD)/initramfs-* $(BUILD)/logs $(BUILD)/bench
	git worktree remove --force $(BUILD)/upgrade/src 2>/dev/null || true

distclean:
	rm -rf $(BUILD)

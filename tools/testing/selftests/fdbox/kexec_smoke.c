// SPDX-License-Identifier: GPL-2.0
/*
 * kexec_smoke: the VM runner's own check. Stage 1 records its boot id and
 * time stamp counter and loads stage 2 with kexec -s; stage 2 checks that it
 * is a new boot, that it is stage 2, and that it was reached by kexec rather
 * than a cold boot: a reset zeroes the TSC, a kexec does not.
 *
 * Run by vm-run.sh: --stages 2 --cmd 'kexec_smoke --stage $FDBOX_STAGE'.
 */
#include <x86intrin.h>

#include "fdbox_stage.h"

FDBOX_STAGE_FIXTURE(stage1);
FDBOX_STAGE_FIXTURE(stage2);

TEST_F(stage1, record_and_load_next)
{
	char id[64], args[256];
	char loaded[8];

	ASSERT_EQ(0, fdbox_read_line("/proc/sys/kernel/random/boot_id", id, sizeof(id)));
	ASSERT_EQ(36, strlen(id)) TH_LOG("boot id '%s' is not a UUID", id);
	snprintf(args, sizeof(args), "fdbox.smoke.boot_id=%s fdbox.smoke.tsc=%llu",
		 id, (unsigned long long)__rdtsc());
	ASSERT_EQ(0, fdbox_next_load(args)) TH_LOG("kexec -s of stage 2 failed");
	ASSERT_EQ(0, fdbox_read_line("/sys/kernel/kexec_loaded", loaded, sizeof(loaded)));
	ASSERT_STREQ("1", loaded) TH_LOG("no kexec image loaded after kexec -s");
}

TEST_F(stage2, is_stage_2)
{
	char stage[16];

	ASSERT_EQ(0, fdbox_cmdline_get("fdbox.stage", stage, sizeof(stage)));
	ASSERT_STREQ("2", stage);
}

TEST_F(stage2, new_boot_id)
{
	char prev[64], now[64];

	ASSERT_EQ(0, fdbox_cmdline_get("fdbox.smoke.boot_id", prev, sizeof(prev)))
		TH_LOG("stage 1 left no boot id on the command line");
	ASSERT_EQ(0, fdbox_read_line("/proc/sys/kernel/random/boot_id", now, sizeof(now)));
	ASSERT_STRNE(prev, now) TH_LOG("same boot id %s: not a new boot", now);
}

TEST_F(stage2, reached_by_kexec)
{
	unsigned long long prev, now = __rdtsc();
	char buf[32];

	ASSERT_EQ(0, fdbox_cmdline_get("fdbox.smoke.tsc", buf, sizeof(buf)));
	prev = strtoull(buf, NULL, 10);
	ASSERT_GT(now, prev)
		TH_LOG("TSC %llu is below stage 1's %llu: the machine was reset", now, prev);
}

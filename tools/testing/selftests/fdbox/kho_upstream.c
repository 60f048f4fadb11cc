// SPDX-License-Identifier: GPL-2.0
/*
 * kho_upstream: our handover and upstream Linux's (7.x, the bench's peer
 * kernel) are not mistaken for each other. Both run only where the peer is
 * built (make bench PEER=luo); the VM boots with kho=on, so that the 7.x
 * kernel's own Kexec HandOver is on and looking.
 *
 * into_upstream  stage 1 (fdbox kernel) deposits a memfd in a session and
 *                kexecs into the 7.x kernel. Stage 2 (7.x): our setup_data
 *                entry arrived, and 7.x took nothing for a handover: no
 *                KHO line about one in its log, no debugfs kho/in.
 * from_upstream  stage 1 (7.x) kexecs into the fdbox kernel; its
 *                kexec_file_load adds its own handover (setup_data type
 *                10). Stage 2 (fdbox): that entry arrived, the kernel said
 *                it ignored it, nothing was handed over, and sessions
 *                work.
 */
#include <dirent.h>
#include <sys/utsname.h>

#include "fdbox_stage.h"
#include "fdbox_lib.h"

#define SETUP_FDBOX		0x78626466u	/* SETUP_KEXEC_HANDOVER */
#define SETUP_UPSTREAM_KHO	10u		/* upstream's SETUP_KEXEC_KHO */
#define BOOT_SETUP_DATA		"/sys/kernel/boot_params/setup_data"
#define KHO_DEBUGFS		"/sys/kernel/debug/kho"
#define MEMFD_SIZE		(4UL << 20)
#define SEED			0x75b57ea1ULL

/* Does the boot protocol's setup_data list hold an entry of @type? */
static bool setup_data_has(unsigned int type)
{
	DIR *dir = opendir(BOOT_SETUP_DATA);
	char path[300], buf[32];
	struct dirent *de;
	bool found = false;

	if (!dir)
		return false;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), BOOT_SETUP_DATA "/%s/type", de->d_name);
		if (!fdbox_read_line(path, buf, sizeof(buf)) &&
		    strtoul(buf, NULL, 0) == type)
			found = true;
	}
	closedir(dir);
	return found;
}

static bool running_upstream(void)
{
	struct utsname u;

	return !uname(&u) && atoi(u.release) >= 7;
}

/*
 * A session "vm" holding a 4 MiB memfd "ram" full of data, finalized:
 * the session's fd, or -errno.
 */
static int session_with_memfd(void)
{
	void *map;
	int s, m, err;

	m = fdbox_memfd("ram", MFD_CLOEXEC, MEMFD_SIZE, &map);
	if (m < 0)
		return m;
	fdbox_fill(map, 0, MEMFD_SIZE, SEED);
	munmap(map, MEMFD_SIZE);
	s = fdbox_session("vm");
	err = s < 0 ? s : fdbox_deposit(s, m, "ram");
	err = err ?: fdbox_ioctl(s, FDBOX_FINALIZE, NULL);
	close(m);
	if (err && s >= 0)
		close(s);
	return err ?: s;
}

/* ---- into_upstream ---- */

FDBOX_STAGE_FIXTURE(into_upstream_stage1);
FDBOX_STAGE_FIXTURE(into_upstream_stage2);

TEST_F(into_upstream_stage1, deposit_and_load_upstream)
{
	ASSERT_FALSE(running_upstream());
	ASSERT_LE(0, session_with_memfd());
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(""));
}

TEST_F(into_upstream_stage2, nothing_taken_for_a_handover)
{
	static const char * const handover_lines[] = {
		"found kexec handover", "KHO revival", "handover FDT",
		"KHO data", "failed to memremap",
	};
	char line[1024];
	unsigned int i;

	ASSERT_TRUE(running_upstream()) TH_LOG("stage 2 should run the 7.x kernel");
	ASSERT_TRUE(setup_data_has(SETUP_FDBOX))
		TH_LOG("our handover did not reach the 7.x kernel: nothing tested");
	EXPECT_FALSE(setup_data_has(SETUP_UPSTREAM_KHO));
	for (i = 0; i < sizeof(handover_lines) / sizeof(handover_lines[0]); i++)
		EXPECT_FALSE(fdbox_kmsg_last(handover_lines[i], line, sizeof(line)))
			TH_LOG("7.x says: %s", line);
	/* Its KHO is on (kho/ exists) and received nothing (no kho/in). */
	EXPECT_EQ(0, access(KHO_DEBUGFS, F_OK));
	EXPECT_NE(0, access(KHO_DEBUGFS "/in", F_OK));
}

/* ---- from_upstream ---- */

FDBOX_STAGE_FIXTURE(from_upstream_stage1);
FDBOX_STAGE_FIXTURE(from_upstream_stage2);

TEST_F(from_upstream_stage1, load_with_upstream_handover)
{
	ASSERT_TRUE(running_upstream()) TH_LOG("stage 1 should run the 7.x kernel");
	ASSERT_EQ(0, access(KHO_DEBUGFS, F_OK)) TH_LOG("7.x's KHO is off");
	/* Kernels whose KHO has a finalize step want it before the load. */
	if (!access(KHO_DEBUGFS "/out/finalize", W_OK)) {
		int fd = open(KHO_DEBUGFS "/out/finalize", O_WRONLY);

		ASSERT_EQ(1, write(fd, "1", 1));
		close(fd);
	}
	ASSERT_EQ(0, fdbox_next_load(""));
}

TEST_F(from_upstream_stage2, ignored_and_working)
{
	struct fdbox_session_info sessions[4];
	char stats[64];
	int s, d;

	ASSERT_FALSE(running_upstream());
	ASSERT_TRUE(setup_data_has(SETUP_UPSTREAM_KHO))
		TH_LOG("7.x handed no setup_data type 10: nothing tested");
	EXPECT_TRUE(fdbox_kmsg_last("another kernel's handover format: ignored", NULL, 0));
	ASSERT_EQ(0, fdbox_read_line(KHO_DEBUGFS "/in/stats", stats, sizeof(stats)));
	EXPECT_STREQ("present 0", stats);

	d = open(FDBOX_DESERIALIZE, O_RDWR);
	ASSERT_LE(0, d);
	EXPECT_EQ(0, fdbox_list(d, FDBOX_LIST_SESSIONS, sessions, 4, sizeof(sessions[0])));
	close(d);

	/* This kernel's own live update works. */
	s = session_with_memfd();
	ASSERT_LE(0, s);
	close(s);
}

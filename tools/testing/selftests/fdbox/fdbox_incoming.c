// SPDX-License-Identifier: GPL-2.0
/*
 * fdbox_incoming: the incoming side's lifecycle, and a handover of a size
 * the first format could not carry.
 *
 * restart     (two stages) a VMM attaches, retrieves two of four memfds
 *             and dies (SIGKILL) without FDBOX_FINISH; the session is
 *             listed as waiting with the other two, nothing is released;
 *             a new process attaches, cannot retrieve what the dead one
 *             took, retrieves a third memfd byte for byte, and
 *             FDBOX_FINISH releases the fourth; nothing stays with KHO.
 * upgrade     (two stages, the first on the kernel of the last commit
 *             before format 2: make upgrade-check) a memfd and a 2 MiB
 *             hugetlb memfd handed over in format 1 arrive byte for byte
 *             in this kernel, which says it read format 1.
 * many_items  (two stages) 100,000 one-page memfds in one session, each
 *             holding its own number. Stage 1 reports the deposit time
 *             per item for each tenth of them (it must stay flat: no
 *             cost that grows with the session). Stage 2 checks that the
 *             handover's tree was bigger than the 4 MiB the first format
 *             was capped at, retrieves every hundredth item and checks
 *             its number, and FDBOX_FINISH releases the rest.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <time.h>
#include <sys/wait.h>

#include "fdbox_stage.h"
#include "fdbox_lib.h"

#define MiB (1UL << 20)
#define SEED 0x1c0de2026ULL
#define KHO_IN "/sys/kernel/debug/kho/in/stats"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* The first number after @prefix in the kernel log's last such line, or -1. */
static long kmsg_number(const char *prefix)
{
	char line[1024];

	if (!fdbox_kmsg_last(prefix, line, sizeof(line)))
		return -1;
	return strtol(strstr(line, prefix) + strlen(prefix), NULL, 10);
}

/* ---- restart: a VMM dies after the kexec, the next one carries on ---- */

#define RS_SIZE (8 * MiB)
#define RS_ITEMS 4

FDBOX_STAGE_FIXTURE(restart_stage1);
FDBOX_STAGE_FIXTURE(restart_stage2);

static void ram_label(char *buf, size_t len, int i)
{
	snprintf(buf, len, "ram%d", i);
}

TEST_F(restart_stage1, deposit)
{
	char label[16];
	void *map;
	int s, m, i;

	s = fdbox_session("vmm");
	ASSERT_LE(0, s);
	for (i = 0; i < RS_ITEMS; i++) {
		ram_label(label, sizeof(label), i);
		m = fdbox_memfd(label, MFD_CLOEXEC, RS_SIZE, &map);
		ASSERT_LE(0, m);
		fdbox_fill(map, 0, RS_SIZE, SEED + i);
		munmap(map, RS_SIZE);
		ASSERT_EQ(0, fdbox_deposit(s, m, label));
		close(m);
	}
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

/* Retrieve memfd @i and compare it byte for byte: 0, or -errno. */
static int retrieve_ram(int d, int i)
{
	char label[16];
	void *map;
	long bad;
	int m;

	ram_label(label, sizeof(label), i);
	m = fdbox_retrieve(d, label, 0);
	if (m < 0)
		return m;
	map = mmap(NULL, RS_SIZE, PROT_READ, MAP_SHARED, m, 0);
	close(m);
	if (map == MAP_FAILED)
		return -errno;
	bad = fdbox_check(map, 0, RS_SIZE, SEED + i);
	munmap(map, RS_SIZE);
	return bad == -1 ? 0 : -EIO;
}

TEST_F(restart_stage2, die_attach_again_finish)
{
	struct fdbox_session_info sessions[2];
	struct fdbox_item_info items[RS_ITEMS];
	long released, preserved, restored;
	int d, status, n;
	pid_t pid;

	/* The first VMM: takes ram0 and ram1, then dies before finishing. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		d = fdbox_attach("vmm");
		if (d < 0 || retrieve_ram(d, 0) || retrieve_ram(d, 1))
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("the first VMM failed before dying (%d)",
						WEXITSTATUS(status));
	EXPECT_EQ(0, fdbox_stat(KHO_IN, "released_bytes")) TH_LOG("its death released memory");

	/* Waiting: listed, unattached, with the two items left. */
	d = open(FDBOX_DESERIALIZE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, d);
	ASSERT_EQ(1, fdbox_list(d, FDBOX_LIST_SESSIONS, sessions, 2, sizeof(sessions[0])));
	EXPECT_STREQ("vmm", sessions[0].name);
	EXPECT_EQ(0, sessions[0].attached);
	EXPECT_EQ(2, sessions[0].nr_items);
	EXPECT_EQ(2 * RS_SIZE, sessions[0].preserved);

	/* The next VMM. */
	ASSERT_EQ(0, fdbox_name_op(d, FDBOX_ATTACH, "vmm"));
	n = fdbox_list(d, FDBOX_LIST, items, RS_ITEMS, sizeof(items[0]));
	ASSERT_EQ(RS_ITEMS, n);
	EXPECT_EQ(FDBOX_STATE_RETRIEVED, fdbox_find_info(items, n, "ram0")->state);
	EXPECT_EQ(FDBOX_STATE_INCOMING, fdbox_find_info(items, n, "ram3")->state);
	EXPECT_EQ(-ENOENT, fdbox_retrieve(d, "ram1", 0)) TH_LOG("taken by the dead VMM");
	EXPECT_EQ(0, retrieve_ram(d, 2));

	released = fdbox_stat(KHO_IN, "released_bytes");
	EXPECT_EQ(0, fdbox_finish(d));
	EXPECT_EQ(RS_SIZE, fdbox_stat(KHO_IN, "released_bytes") - released)
		TH_LOG("finish released another amount than ram3");
	EXPECT_EQ(-ENOENT, fdbox_retrieve(d, "ram3", 0));
	EXPECT_EQ(0, fdbox_list(d, FDBOX_LIST_SESSIONS, sessions, 2, sizeof(sessions[0])));
	EXPECT_EQ(-ENOENT, fdbox_name_op(d, FDBOX_ATTACH, "vmm"));
	close(d);

	preserved = fdbox_stat(KHO_IN, "preserved_bytes");
	restored = fdbox_stat(KHO_IN, "restored_bytes");
	released = fdbox_stat(KHO_IN, "released_bytes");
	EXPECT_EQ(preserved, restored + released)
		TH_LOG("KHO received %ld bytes, gave %ld back to files, released %ld",
		       preserved, restored, released);
}

/* ---- upgrade: from a kernel that writes format 1 ---- */

#define UP_SIZE (4 * MiB)

FDBOX_STAGE_FIXTURE(upgrade_stage1);
FDBOX_STAGE_FIXTURE(upgrade_stage2);

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok ? 0 : -EIO;
}

TEST_F(upgrade_stage1, deposit)
{
	unsigned int flags[] = { MFD_CLOEXEC, MFD_CLOEXEC | MFD_HUGETLB | (21 << MFD_HUGE_SHIFT) };
	const char *labels[] = { "ram", "huge" };
	void *map;
	int s, m, i;

	ASSERT_EQ(0, write_text("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "2"));
	s = fdbox_session("upgrade");
	ASSERT_LE(0, s);
	for (i = 0; i < 2; i++) {
		m = fdbox_memfd(labels[i], flags[i], UP_SIZE, &map);
		ASSERT_LE(0, m) TH_LOG("%s: %s", labels[i], strerror(-m));
		fdbox_fill(map, 0, UP_SIZE, SEED + i);
		munmap(map, UP_SIZE);
		ASSERT_EQ(0, fdbox_deposit(s, m, labels[i]));
		close(m);
	}
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(upgrade_stage2, format1_arrives)
{
	const char *labels[] = { "ram", "huge" };
	void *map;
	int d, m, i;

	EXPECT_EQ(2, kmsg_number("fdbox: 1 incoming sessions with "))
		TH_LOG("no line about the incoming session");
	EXPECT_EQ(1, kmsg_number("items wait to be attached (fdbox-v"))
		TH_LOG("the handover was not read as format 1");
	d = fdbox_attach("upgrade");
	ASSERT_LE(0, d);
	for (i = 0; i < 2; i++) {
		m = fdbox_retrieve(d, labels[i], 0);
		ASSERT_LE(0, m) TH_LOG("retrieve %s: %s", labels[i], strerror(-m));
		map = mmap(NULL, UP_SIZE, PROT_READ, MAP_SHARED, m, 0);
		ASSERT_NE(MAP_FAILED, map);
		EXPECT_EQ(-1, fdbox_check(map, 0, UP_SIZE, SEED + i)) TH_LOG("%s differs", labels[i]);
		munmap(map, UP_SIZE);
		close(m);
	}
	EXPECT_EQ(0, fdbox_finish(d));
	close(d);
}

/* ---- many_items: 100,000 items, past the first format's 4 MiB ---- */

#define MI_ITEMS 100000
#define MI_TENTHS 10
#define MI_SAMPLE 100	/* retrieve every 100th */

FDBOX_STAGE_FIXTURE(many_items_stage1);
FDBOX_STAGE_FIXTURE(many_items_stage2);

TEST_F_TIMEOUT(many_items_stage1, deposit, 1200)
{
	double t0, us[MI_TENTHS];
	int s, m, i, k;
	char label[16];

	s = fdbox_session("many");
	ASSERT_LE(0, s);
	for (k = 0; k < MI_TENTHS; k++) {
		t0 = now_us();
		for (i = k * (MI_ITEMS / MI_TENTHS); i < (k + 1) * (MI_ITEMS / MI_TENTHS); i++) {
			uint64_t v = fdbox_mix(SEED ^ i);

			m = memfd_create("item", MFD_CLOEXEC);
			ASSERT_LE(0, m);
			ASSERT_EQ(sizeof(v), pwrite(m, &v, sizeof(v), 0));
			snprintf(label, sizeof(label), "m%06d", i);
			ASSERT_EQ(0, fdbox_deposit(s, m, label)) TH_LOG("item %d", i);
			close(m);
		}
		us[k] = (now_us() - t0) / (MI_ITEMS / MI_TENTHS);
	}
	for (k = 0; k < MI_TENTHS; k++)
		ksft_print_msg("deposit, items %6d-%6d: %.1f us per item\n",
			       k * (MI_ITEMS / MI_TENTHS), (k + 1) * (MI_ITEMS / MI_TENTHS) - 1,
			       us[k]);
	ksft_print_msg("deposit per item, last tenth / first tenth: %.2f\n", us[9] / us[0]);
	ASSERT_EQ(MI_ITEMS, fdbox_list(s, FDBOX_LIST, NULL, 0, sizeof(struct fdbox_item_info)));
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F_TIMEOUT(many_items_stage2, sample_then_finish, 1200)
{
	long tree, released;
	double t0;
	int d, m, i;
	char label[16];

	tree = kmsg_number("fdbox: 1 incoming sessions with 100000 items wait to be attached (fdbox-v2, tree of ");
	EXPECT_GT(tree, 4L << 20) TH_LOG("the handover's tree was %ld bytes", tree);
	ksft_print_msg("handover tree: %ld bytes for %d items\n", tree, MI_ITEMS);

	d = fdbox_attach("many");
	ASSERT_LE(0, d);
	ASSERT_EQ(MI_ITEMS, fdbox_list(d, FDBOX_LIST, NULL, 0, sizeof(struct fdbox_item_info)));
	t0 = now_us();
	for (i = 0; i < MI_ITEMS; i += MI_SAMPLE) {
		uint64_t v = 0;

		snprintf(label, sizeof(label), "m%06d", i);
		m = fdbox_retrieve(d, label, 0);
		ASSERT_LE(0, m) TH_LOG("retrieve %s: %s", label, strerror(-m));
		ASSERT_EQ(sizeof(v), pread(m, &v, sizeof(v), 0));
		ASSERT_EQ(fdbox_mix(SEED ^ i), v) TH_LOG("%s holds another item's data", label);
		close(m);
	}
	ksft_print_msg("retrieve: %.1f us per item\n",
		       (now_us() - t0) / (MI_ITEMS / MI_SAMPLE));
	released = fdbox_stat(KHO_IN, "released_bytes");
	t0 = now_us();
	ASSERT_EQ(0, fdbox_finish(d));
	ksft_print_msg("finish released %d items in %.0f ms\n",
		       MI_ITEMS - MI_ITEMS / MI_SAMPLE, (now_us() - t0) / 1e3);
	EXPECT_EQ((long)(MI_ITEMS - MI_ITEMS / MI_SAMPLE) * sysconf(_SC_PAGESIZE),
		  fdbox_stat(KHO_IN, "released_bytes") - released);
	close(d);
}

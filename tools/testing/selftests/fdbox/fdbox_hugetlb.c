// SPDX-License-Identifier: GPL-2.0
/*
 * fdbox_hugetlb: memfds on huge pages (MFD_HUGETLB) across real kexecs.
 * Stage 1 builds and deposits, a holder keeps the session open while the
 * guest's init kexecs; stage 2 retrieves and checks.
 *
 * roundtrip_2m    16 MiB of 2 MiB pages, one hole; what the file may not
 *                 do while deposited; same bytes (read() and mmap), same
 *                 physical pages, same name, mode and seals, hole kept
 * roundtrip_1g    2 GiB of 1 GiB pages, one present, one a hole (a VM
 *                 booted with hugepagesz=1G hugepages=1); then a 1 GiB
 *                 page carried into a kernel without hugepagesz=1G: its
 *                 1 GiB pool is empty (x86 registers the size for run
 *                 time allocation), and discarding the item gives the
 *                 page to the page allocator
 * accounting      the 2 MiB pool's counters after retrieve, after a
 *                 mapping reserves the hole and a fault fills it, after
 *                 close, and after the pool is shrunk
 * unclaimed       what nobody retrieves goes to the page allocator; the
 *                 pool's counters do not move
 * gigantic_after_update
 *                 a VM booted with hugepagesz=1G hugepages=1 on every
 *                 command line: after the live update, the kernel has a
 *                 new 1 GiB page besides the carried one, and a new file
 *                 gets it
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <linux/falloc.h>

#include "fdbox_stage.h"
#include "fdbox_lib.h"

#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT	26
#endif
#define MFD_HUGE_2M	(21U << MFD_HUGE_SHIFT)
#define MFD_HUGE_1G	(30U << MFD_HUGE_SHIFT)

#define MiB (1UL << 20)
#define GiB (1UL << 30)
#define SEED 0x4e6e2026ULL
#define KHO_IN "/sys/kernel/debug/kho/in/stats"

/* ---- the pool of one huge page size, from sysfs ---- */

struct pool {
	long total, free, resv, surplus;
};

static long pool_get(size_t hpage, const char *what)
{
	char path[128], buf[32];

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%zukB/%s",
		 hpage / 1024, what);
	if (fdbox_read_line(path, buf, sizeof(buf)))
		return -1;
	return atol(buf);
}

static void pool_read(size_t hpage, struct pool *p)
{
	p->total = pool_get(hpage, "nr_hugepages");
	p->free = pool_get(hpage, "free_hugepages");
	p->resv = pool_get(hpage, "resv_hugepages");
	p->surplus = pool_get(hpage, "surplus_hugepages");
}

static int pool_set(size_t hpage, long n)
{
	char path[128];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%zukB/nr_hugepages",
		 hpage / 1024);
	f = fopen(path, "w");
	if (!f)
		return -1;
	ret = fprintf(f, "%ld\n", n) < 0;
	return fclose(f) || ret ? -1 : 0;
}

#define EXPECT_POOL(hpage, t, f, r, s) do {					\
	struct pool _p;								\
										\
	pool_read(hpage, &_p);							\
	EXPECT_EQ(t, _p.total);							\
	EXPECT_EQ(f, _p.free);							\
	EXPECT_EQ(r, _p.resv);							\
	EXPECT_EQ(s, _p.surplus);						\
} while (0)

/* /proc/meminfo's HugePages_* lines are the default (2 MiB) pool's. */
static void expect_meminfo_matches(struct __test_metadata *_metadata)
{
	struct pool p;

	pool_read(2 * MiB, &p);
	EXPECT_EQ(p.total, fdbox_stat("/proc/meminfo", "HugePages_Total:"));
	EXPECT_EQ(p.free, fdbox_stat("/proc/meminfo", "HugePages_Free:"));
	EXPECT_EQ(p.resv, fdbox_stat("/proc/meminfo", "HugePages_Rsvd:"));
	EXPECT_EQ(p.surplus, fdbox_stat("/proc/meminfo", "HugePages_Surp:"));
}

static int huge_memfd(const char *name, size_t hpage, size_t size)
{
	unsigned int flags = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB |
			     (hpage == GiB ? MFD_HUGE_1G : MFD_HUGE_2M);
	int fd = memfd_create(name, flags);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/*
 * Does a store at @p die of SIGBUS? (in a child: the caller survives; the
 * byte stored is the one there, the mapping is shared)
 */
static int store_faults(volatile char *p)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		*p = *p;
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS;
}

/* Contents by read(): page @hole of @hpage bytes reads as zeros. */
static long check_by_read(int fd, size_t size, size_t hpage, size_t hole, uint64_t seed)
{
	size_t chunk = 2 * MiB, off, i;
	char *buf = malloc(chunk);
	long bad = -1;

	if (!buf)
		return 0;
	for (off = 0; off < size && bad < 0; off += chunk) {
		if (pread(fd, buf, chunk, off) != (ssize_t)chunk) {
			bad = off;
			break;
		}
		if (off / hpage == hole) {
			for (i = 0; i < chunk; i++)
				if (buf[i]) {
					bad = off + i;
					break;
				}
			continue;
		}
		/* The pattern's words count from the start of the file. */
		for (i = 0; i < chunk / 8; i++)
			if (((uint64_t *)buf)[i] != fdbox_mix(seed ^ (off / 8 + i))) {
				bad = off + i * 8;
				break;
			}
	}
	free(buf);
	return bad;
}

/* ---- roundtrip: 2 MiB and 1 GiB pages ---- */

#define RT2_PAGES	8
#define RT2_HOLE	7	/* stays a hole */
#define RT2_LATE	3	/* a hole at deposit, filled before finalize */
#define RT_SEALS	F_SEAL_SHRINK

/* The pfn hash of pages [0, @n) of @hpage bytes of @map. */
static uint64_t present_hash(void *map, size_t hpage, size_t n)
{
	return fdbox_pfn_hash(map, n * hpage);
}

static void roundtrip_deposit(struct __test_metadata *_metadata, size_t hpage,
			      size_t pages, size_t hole, long late)
{
	size_t size = pages * hpage, i;
	char args[128];
	void *map;
	int s, m;

	m = huge_memfd("guest-ram", hpage, size);
	ASSERT_LE(0, m);
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, m, 0);
	ASSERT_NE(MAP_FAILED, map);
	for (i = 0; i < pages; i++)
		if (i != hole && (long)i != late)
			fdbox_fill(map, i * hpage, hpage, SEED);
	ASSERT_EQ(0, fchmod(m, 0640));
	ASSERT_EQ(0, fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK));

	s = fdbox_session("hvmm");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, m, "ram"));

	/* Deposited: the size is frozen, whatever the call. */
	EXPECT_EQ(-1, ftruncate(m, size + hpage));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, fallocate(m, 0, hole * hpage, hpage));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, fallocate(m, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, hpage));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, size + hpage, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_NORESERVE, m, 0));
	EXPECT_EQ(EPERM, errno);
	/* A hole filled after the deposit is carried too. */
	if (late >= 0)
		fdbox_fill(map, late * hpage, hpage, SEED);

	/* Finalized, the file takes no new page; unfinalized, it does. */
	ASSERT_EQ(0, fdbox_ioctl(s, FDBOX_FINALIZE, NULL));
	EXPECT_EQ(1, store_faults((char *)map + hole * hpage));
	EXPECT_EQ(0, store_faults((char *)map));
	ASSERT_EQ(0, fdbox_ioctl(s, FDBOX_UNFINALIZE, NULL));

	snprintf(args, sizeof(args), "fdbox.pfns=%llx",
		 (unsigned long long)present_hash(map, hpage, hole));
	munmap(map, size);
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(args));
}

static void roundtrip_retrieve(struct __test_metadata *_metadata, size_t hpage,
			       size_t pages, size_t hole)
{
	size_t size = pages * hpage, present = (pages - 1) * hpage;
	struct fdbox_item_info items[2];
	char want[64], got[64], link[128], path[64];
	struct pool before;
	struct stat st;
	void *map;
	int d, m, n;

	pool_read(hpage, &before);
	d = fdbox_attach("hvmm");
	ASSERT_LE(0, d);
	ASSERT_EQ(1, fdbox_list(d, FDBOX_LIST, items, 2, sizeof(items[0])));
	EXPECT_EQ(FDBOX_ITEM_MEMFD_HUGETLB, items[0].type);
	EXPECT_EQ(size, items[0].size);
	EXPECT_EQ(present, items[0].preserved);
	/* O(huge pages): at most one 16-byte run each. */
	EXPECT_LE(items[0].metadata, 16 * (pages - 1));
	ksft_print_msg("%zu MiB file of %zu KiB pages: %llu bytes of handover metadata\n",
		       size >> 20, hpage >> 10, (unsigned long long)items[0].metadata);
	m = fdbox_retrieve(d, "ram", 0);
	ASSERT_LE(0, m);

	/* The pages joined the pool, in use: total up, nothing else. */
	EXPECT_POOL(hpage, before.total + (long)(pages - 1), before.free, before.resv, 0);

	ASSERT_EQ(0, fstat(m, &st));
	EXPECT_EQ(size, st.st_size);
	EXPECT_EQ(0640, st.st_mode & 0777);
	EXPECT_EQ(present / 512, st.st_blocks);	/* the hole stayed a hole */
	EXPECT_EQ(RT_SEALS, fcntl(m, F_GET_SEALS));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", m);
	n = readlink(path, link, sizeof(link) - 1);
	ASSERT_LT(0, n);
	link[n] = 0;
	EXPECT_STREQ("/memfd:guest-ram (deleted)", link);

	EXPECT_EQ(-1, check_by_read(m, size, hpage, hole, SEED));
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, m, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(-1, fdbox_check(map, 0, hole * hpage, SEED));
	/* Zero-copy: the very pages of the previous kernel. */
	ASSERT_EQ(0, fdbox_cmdline_get("fdbox.pfns", want, sizeof(want)));
	snprintf(got, sizeof(got), "%llx",
		 (unsigned long long)present_hash(map, hpage, hole));
	EXPECT_STREQ(want, got);
	/* Sealed against shrinking, and an ordinary hugetlb memfd again. */
	EXPECT_EQ(-1, ftruncate(m, hpage));
	EXPECT_EQ(EPERM, errno);
	fdbox_fill(map, 0, hpage, SEED + 1);
	EXPECT_EQ(-1, fdbox_check(map, 0, hpage, SEED + 1));
	munmap(map, size);

	close(m);
	close(d);
	/* Closed: its pages are free pages of the pool. */
	EXPECT_POOL(hpage, before.total + (long)(pages - 1),
		    before.free + (long)(pages - 1), before.resv, 0);
	expect_meminfo_matches(_metadata);
}

FDBOX_STAGE_FIXTURE(roundtrip_2m_stage1);
FDBOX_STAGE_FIXTURE(roundtrip_2m_stage2);

TEST_F(roundtrip_2m_stage1, deposit)
{
	ASSERT_EQ(0, pool_set(2 * MiB, RT2_PAGES));
	EXPECT_POOL(2 * MiB, RT2_PAGES, RT2_PAGES, 0, 0);
	roundtrip_deposit(_metadata, 2 * MiB, RT2_PAGES, RT2_HOLE, RT2_LATE);
}

TEST_F(roundtrip_2m_stage2, retrieve)
{
	roundtrip_retrieve(_metadata, 2 * MiB, RT2_PAGES, RT2_HOLE);
}

FDBOX_STAGE_FIXTURE(roundtrip_1g_stage1);
FDBOX_STAGE_FIXTURE(roundtrip_1g_stage2);

TEST_F_TIMEOUT(roundtrip_1g_stage1, deposit, 600)
{
	/* From the cold boot's hugepagesz=1G hugepages=1. */
	EXPECT_POOL(GiB, 1, 1, 0, 0);
	roundtrip_deposit(_metadata, GiB, 2, 1, -1);
}

/* Load the next stage without any hugepage option on its command line. */
static int next_load_without_hugetlb(void)
{
	return system("kexec -s -l /boot/bzImage --initrd=/run/fdbox-next.cpio "
		      "--append=\"$(fdbox-next --pack | sed 's/hugepage[^ ]*//g')\"");
}

TEST_F_TIMEOUT(roundtrip_1g_stage2, retrieve_then_carry_to_no_boot_pages, 600)
{
	void *map;
	int s, m;

	roundtrip_retrieve(_metadata, GiB, 2, 1);

	/* The free page again in a file, for a kernel without boot-time 1 GiB pages. */
	m = huge_memfd("orphan", GiB, GiB);
	ASSERT_LE(0, m);
	map = mmap(NULL, GiB, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	ASSERT_NE(MAP_FAILED, map);
	fdbox_fill(map, 0, 4096, SEED);
	munmap(map, GiB);
	s = fdbox_session("orphan");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, m, "orphan"));
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, next_load_without_hugetlb());
}

FDBOX_STAGE_FIXTURE(roundtrip_1g_stage3);

TEST_F_TIMEOUT(roundtrip_1g_stage3, no_boot_pages_discarded, 600)
{
	struct fdbox_item_info items[2];
	long released, freekb;
	char cmdline[4096];
	int d;

	ASSERT_EQ(0, fdbox_read_line("/proc/cmdline", cmdline, sizeof(cmdline)));
	ASSERT_EQ(NULL, strstr(cmdline, "hugepagesz")) TH_LOG("%s", cmdline);
	EXPECT_POOL(GiB, 0, 0, 0, 0);
	d = fdbox_attach("orphan");
	ASSERT_LE(0, d);
	ASSERT_EQ(1, fdbox_list(d, FDBOX_LIST, items, 2, sizeof(items[0])));
	EXPECT_EQ(FDBOX_STATE_INCOMING, items[0].state);
	EXPECT_EQ(GiB, items[0].preserved);

	released = fdbox_stat(KHO_IN, "released_bytes");
	freekb = fdbox_free_kb();
	EXPECT_EQ(0, fdbox_label_op(d, FDBOX_DISCARD, "orphan"));
	EXPECT_EQ(GiB, fdbox_stat(KHO_IN, "released_bytes") - released);
	EXPECT_GE(fdbox_free_kb() - freekb, (long)(GiB / 1024 * 9 / 10));
	EXPECT_POOL(GiB, 0, 0, 0, 0);
	EXPECT_POOL(2 * MiB, 0, 0, 0, 0);
	close(d);
}

/* ---- gigantic_after_update: hugepages=N after a live update ---- */

#define GIANT_EDGE	(64UL << 10)	/* bytes written at each end */

FDBOX_STAGE_FIXTURE(gigantic_after_update_stage1);
FDBOX_STAGE_FIXTURE(gigantic_after_update_stage2);

TEST_F_TIMEOUT(gigantic_after_update_stage1, deposit_the_page, 600)
{
	char *map;
	int s, m;

	EXPECT_POOL(GiB, 1, 1, 0, 0);
	m = huge_memfd("giant", GiB, GiB);
	ASSERT_LE(0, m);
	map = mmap(NULL, GiB, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	ASSERT_NE(MAP_FAILED, map);
	fdbox_fill(map, 0, GIANT_EDGE, SEED);
	fdbox_fill(map, GiB - GIANT_EDGE, GIANT_EDGE, SEED);
	munmap(map, GiB);
	EXPECT_POOL(GiB, 1, 0, 0, 0);
	s = fdbox_session("giant");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, m, "ram"));
	close(m);
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(""));
}

TEST_F_TIMEOUT(gigantic_after_update_stage2, new_page_besides_the_carried, 600)
{
	char line[1024], *map;
	int d, m, m2;

	EXPECT_FALSE(fdbox_kmsg_last("no boot-time pages", NULL, 0));
	ASSERT_TRUE(fdbox_kmsg_last("allocated after a kexec with handover", line, sizeof(line)));
	TH_LOG("%s", strstr(line, "HugeTLB") ? strstr(line, "HugeTLB") : line);
	/* The command line's page, free; the carried one not retrieved yet. */
	EXPECT_POOL(GiB, 1, 1, 0, 0);

	d = fdbox_attach("giant");
	ASSERT_LE(0, d);
	m = fdbox_retrieve(d, "ram", 0);
	ASSERT_LE(0, m);
	EXPECT_POOL(GiB, 2, 1, 0, 0);
	map = mmap(NULL, GiB, PROT_READ, MAP_SHARED, m, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(-1, fdbox_check(map, 0, GIANT_EDGE, SEED));
	EXPECT_EQ(-1, fdbox_check(map, GiB - GIANT_EDGE, GIANT_EDGE, SEED));
	munmap(map, GiB);

	/* A new guest gets the new page. */
	m2 = huge_memfd("giant2", GiB, GiB);
	ASSERT_LE(0, m2);
	map = mmap(NULL, GiB, PROT_READ | PROT_WRITE, MAP_SHARED, m2, 0);
	ASSERT_NE(MAP_FAILED, map);
	map[0] = 1;
	EXPECT_POOL(GiB, 2, 0, 0, 0);
	munmap(map, GiB);
	close(m2);
	close(m);
	close(d);
}

/* ---- accounting: the 2 MiB pool through a file's life ---- */

#define AC_PAGES	4
#define AC_HOLE		2

FDBOX_STAGE_FIXTURE(accounting_stage1);
FDBOX_STAGE_FIXTURE(accounting_stage2);

TEST_F(accounting_stage1, deposit)
{
	size_t i;
	void *map;
	int s, m;

	ASSERT_EQ(0, pool_set(2 * MiB, AC_PAGES));
	m = huge_memfd("acct", 2 * MiB, AC_PAGES * 2 * MiB);
	ASSERT_LE(0, m);
	map = mmap(NULL, AC_PAGES * 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	ASSERT_NE(MAP_FAILED, map);
	for (i = 0; i < AC_PAGES; i++)
		if (i != AC_HOLE)
			fdbox_fill(map, i * 2 * MiB, 2 * MiB, SEED);
	/* The mapping's reservation of the hole is this kernel's business. */
	EXPECT_POOL(2 * MiB, AC_PAGES, 1, 1, 0);
	s = fdbox_session("acct");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, m, "acct"));
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(accounting_stage2, pool_counters)
{
	long n = AC_PAGES - 1, memfree;
	void *map;
	int d, m;

	/* Nothing allocated at boot: an empty pool. */
	EXPECT_POOL(2 * MiB, 0, 0, 0, 0);
	d = fdbox_attach("acct");
	ASSERT_LE(0, d);
	m = fdbox_retrieve(d, "acct", 0);
	ASSERT_LE(0, m);
	close(d);
	EXPECT_POOL(2 * MiB, n, 0, 0, 0);
	expect_meminfo_matches(_metadata);

	/*
	 * A shared mapping reserves the holes only: with no free page it
	 * is refused; with one, it reserves it, and a fault consumes it.
	 */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, AC_PAGES * 2 * MiB, PROT_READ | PROT_WRITE,
				   MAP_SHARED, m, 0));
	EXPECT_EQ(ENOMEM, errno);
	ASSERT_EQ(0, pool_set(2 * MiB, n + 1));
	EXPECT_POOL(2 * MiB, n + 1, 1, 0, 0);
	map = mmap(NULL, AC_PAGES * 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_POOL(2 * MiB, n + 1, 1, 1, 0);
	EXPECT_EQ(-1, fdbox_check(map, 0, AC_HOLE * 2 * MiB, SEED));
	fdbox_fill(map, AC_HOLE * 2 * MiB, 2 * MiB, SEED);
	EXPECT_POOL(2 * MiB, n + 1, 0, 0, 0);
	EXPECT_EQ(-1, fdbox_check(map, 0, AC_PAGES * 2 * MiB, SEED));
	expect_meminfo_matches(_metadata);
	munmap(map, AC_PAGES * 2 * MiB);

	/* Closed: every page is free; shrunk: the memory is back. */
	close(m);
	EXPECT_POOL(2 * MiB, n + 1, n + 1, 0, 0);
	memfree = fdbox_free_kb();
	ASSERT_EQ(0, pool_set(2 * MiB, 0));
	EXPECT_POOL(2 * MiB, 0, 0, 0, 0);
	EXPECT_GE(fdbox_free_kb() - memfree, (n + 1) * 2048 * 9 / 10);
	expect_meminfo_matches(_metadata);
}

/* ---- unclaimed: released to the page allocator, pool untouched ---- */

#define UC_PAGES	4

FDBOX_STAGE_FIXTURE(unclaimed_stage1);
FDBOX_STAGE_FIXTURE(unclaimed_stage2);

TEST_F(unclaimed_stage1, deposit)
{
	static const char * const labels[] = { "dropped", "left" };
	void *map;
	int s, m, i;

	ASSERT_EQ(0, pool_set(2 * MiB, 2 * UC_PAGES));
	s = fdbox_session("hu");
	ASSERT_LE(0, s);
	for (i = 0; i < 2; i++) {
		m = huge_memfd(labels[i], 2 * MiB, UC_PAGES * 2 * MiB);
		ASSERT_LE(0, m);
		map = mmap(NULL, UC_PAGES * 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
		ASSERT_NE(MAP_FAILED, map);
		fdbox_fill(map, 0, UC_PAGES * 2 * MiB, SEED + i);
		munmap(map, UC_PAGES * 2 * MiB);
		ASSERT_EQ(0, fdbox_deposit(s, m, labels[i]));
		close(m);
	}
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(unclaimed_stage2, released_pool_untouched)
{
	long bytes = UC_PAGES * 2 * MiB, released, freekb;
	int d;

	EXPECT_POOL(2 * MiB, 0, 0, 0, 0);
	d = fdbox_attach("hu");
	ASSERT_LE(0, d);

	released = fdbox_stat(KHO_IN, "released_bytes");
	freekb = fdbox_free_kb();
	EXPECT_EQ(0, fdbox_label_op(d, FDBOX_DISCARD, "dropped"));
	EXPECT_EQ(bytes, fdbox_stat(KHO_IN, "released_bytes") - released);
	EXPECT_GE(fdbox_free_kb() - freekb, bytes / 1024 * 9 / 10);
	EXPECT_POOL(2 * MiB, 0, 0, 0, 0);

	released = fdbox_stat(KHO_IN, "released_bytes");
	freekb = fdbox_free_kb();
	EXPECT_EQ(0, fdbox_finish(d));
	close(d);
	EXPECT_EQ(bytes, fdbox_stat(KHO_IN, "released_bytes") - released);
	EXPECT_GE(fdbox_free_kb() - freekb, bytes / 1024 * 9 / 10);
	EXPECT_POOL(2 * MiB, 0, 0, 0, 0);
	expect_meminfo_matches(_metadata);
}

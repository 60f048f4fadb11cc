// SPDX-License-Identifier: GPL-2.0
/*
 * kho_host: what a real host adds to a live update.
 *
 * efi   The VM boots through UEFI (vm-run.sh --uefi). Stage 1 records a
 *       digest of the EFI runtime memory map in an EFI variable
 *       (SetVariable). Stage 2, after the kexec: EFI is still on, its
 *       runtime services answer (GetVariable reads the digest back) and
 *       the runtime map is the same; a new value is written and read
 *       back (SetVariable). A round trip (kho_test, fdbox_test) follows
 *       in the same stages and does the kexec.
 * numa  Two nodes (vm-run.sh --numa 2). Scratch: one range per node,
 *       each inside its node. Stage 1 deposits a memfd whose first half
 *       is on node 0 and second half on node 1; stage 2 gets the same
 *       bytes back, every page on the node it was on.
 * scratch_usable
 *       Scratch is lent to movable allocations (CmaTotal/CmaFree). Stage
 *       1 fills memory until user pages land in scratch, writes a memfd
 *       then, and deposits it while a thread keeps writing to it: the
 *       deposit moves its pages out of scratch, and no write is lost on
 *       the way. Stage 2 boots in scratch, gets the same bytes back and
 *       lends scratch again.
 * reserved_in_hold
 *       Stage 1 deposits a memfd and passes the address of a page outside
 *       scratch that it did not deposit (kho_test_reserve=). Stage 2's
 *       early boot reserves that page while KHO still holds all memory
 *       outside scratch, as firmware code would: once the hold is lifted
 *       the page is still reserved, and the memfd comes back.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <linux/mempolicy.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>

#include "fdbox_stage.h"
#include "fdbox_lib.h"

#define EFI_DIR		"/sys/firmware/efi"
#define EFIVARS		EFI_DIR "/efivars"
#define RUNTIME_MAP	EFI_DIR "/runtime-map"
/* Our own vendor GUID: a variable nobody else owns. */
#define TEST_VAR	EFIVARS "/FdboxRuntimeMap-5c1b0a1e-6f0d-4b7e-9d3c-2a4f6e8b1c07"
#define EFI_VAR_NV_BS_RT	0x7u
/* <linux/fs.h>, which clashes with <sys/mount.h>. */
#define FS_IOC_GETFLAGS		_IOR('f', 1, long)
#define FS_IOC_SETFLAGS		_IOW('f', 2, long)
#define FS_IMMUTABLE_FL		0x00000010

#define NUMA_SIZE	(64UL << 20)
#define NUMA_SEED	0x6e756d61ULL

/*
 * Deposit memfd @m as "ram" of a new session @name, keep the session open
 * and load the next stage with @args.
 */
static int deposit_and_load(const char *name, int m, const char *args)
{
	int s = fdbox_session(name), err;

	if (s < 0)
		return s;
	err = fdbox_deposit(s, m, "ram");
	if (err)
		return err;
	if (fdbox_hold_forever() <= 0)
		return -ECHILD;
	return fdbox_next_load(args) ? -EIO : 0;
}

/* Retrieve "ram" of session @name; its read-only mapping, or MAP_FAILED. */
static void *retrieve_mapped(const char *name, size_t size)
{
	void *map = MAP_FAILED;
	int d = fdbox_attach(name), m;

	if (d < 0)
		return MAP_FAILED;
	m = fdbox_retrieve(d, "ram", 0);
	if (m >= 0) {
		map = mmap(NULL, size, PROT_READ, MAP_SHARED, m, 0);
		close(m);
	}
	close(d);
	return map;
}

/* ---- efi ---- */

/* efivarfs on its usual mount point; mounted again if it already is. */
static int mount_efivarfs(void)
{
	if (mount("efivarfs", EFIVARS, "efivarfs", 0, NULL) && errno != EBUSY)
		return -errno;
	return 0;
}

/*
 * A digest of the runtime map (every entry's type, addresses, size and
 * attributes, in entry order); *count gets the number of entries.
 */
static uint64_t runtime_map_digest(unsigned int *count)
{
	static const char * const fields[] = {
		"type", "phys_addr", "virt_addr", "num_pages", "attribute",
	};
	char path[128], val[64];
	uint64_t h = 0;
	unsigned int i, f;

	for (i = 0;; i++) {
		snprintf(path, sizeof(path), RUNTIME_MAP "/%u", i);
		if (access(path, F_OK))
			break;
		for (f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
			snprintf(path, sizeof(path), RUNTIME_MAP "/%u/%s", i, fields[f]);
			if (fdbox_read_line(path, val, sizeof(val)))
				return 0;
			h = fdbox_mix(h ^ strtoull(val, NULL, 0));
		}
	}
	*count = i;
	return h;
}

struct efi_record {
	uint32_t attributes;	/* efivarfs: the variable's attributes first */
	uint64_t digest;
	uint32_t count;
} __attribute__((packed));

FDBOX_STAGE_FIXTURE(efi_stage1);
FDBOX_STAGE_FIXTURE(efi_stage2);

static void efi_booted(struct __test_metadata *_metadata)
{
	ASSERT_EQ(0, access(EFI_DIR, F_OK)) TH_LOG("not booted through UEFI");
	ASSERT_EQ(0, mount_efivarfs());
	EXPECT_TRUE(fdbox_kmsg_last("efi: EFI v", NULL, 0));
	/* The runtime services are on (efi=noruntime would remove this). */
	ASSERT_EQ(0, access(RUNTIME_MAP "/0", F_OK));
}

TEST_F(efi_stage1, record_runtime_map)
{
	struct efi_record rec = { .attributes = EFI_VAR_NV_BS_RT };
	unsigned int count;
	int fd;

	efi_booted(_metadata);

	rec.digest = runtime_map_digest(&count);
	rec.count = count;
	ASSERT_NE(0, rec.digest);
	ASSERT_LT(0, count);
	fd = open(TEST_VAR, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd) TH_LOG("create %s: %s", TEST_VAR, strerror(errno));
	EXPECT_EQ(sizeof(rec), write(fd, &rec, sizeof(rec)))
		TH_LOG("SetVariable: %s", strerror(errno));
	close(fd);
	TH_LOG("%u runtime map entries recorded", count);
}

TEST_F(efi_stage2, runtime_services_and_map_kept)
{
	struct efi_record rec, now = { .attributes = EFI_VAR_NV_BS_RT };
	unsigned int count, flags;
	int fd;

	efi_booted(_metadata);
	/* The kexec started this kernel: its handover was received. */
	EXPECT_TRUE(fdbox_kmsg_last("kho: handover received", NULL, 0));
	now.digest = runtime_map_digest(&count);
	now.count = count;
	fd = open(TEST_VAR, O_RDONLY);
	ASSERT_LE(0, fd) TH_LOG("stage 1's variable is gone: %s", strerror(errno));
	ASSERT_EQ(sizeof(rec), read(fd, &rec, sizeof(rec)))
		TH_LOG("GetVariable: %s", strerror(errno));
	close(fd);
	EXPECT_EQ(EFI_VAR_NV_BS_RT, rec.attributes);
	EXPECT_EQ(rec.count, now.count);
	EXPECT_EQ(rec.digest, now.digest) TH_LOG("the EFI runtime map changed across the kexec");
	/*
	 * SetVariable through the kexec'd kernel, then GetVariable. efivarfs
	 * makes a variable it does not know immutable: chattr -i first. (Not
	 * a delete: 6.12's efivarfs leaks an entry on unlink.)
	 */
	fd = open(TEST_VAR, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, FS_IOC_GETFLAGS, &flags));
	flags &= ~FS_IMMUTABLE_FL;
	ASSERT_EQ(0, ioctl(fd, FS_IOC_SETFLAGS, &flags));
	close(fd);
	now.count = ~count;
	fd = open(TEST_VAR, O_WRONLY);
	ASSERT_LE(0, fd) TH_LOG("open for writing: %s", strerror(errno));
	EXPECT_EQ(sizeof(now), write(fd, &now, sizeof(now)))
		TH_LOG("SetVariable: %s", strerror(errno));
	close(fd);
	fd = open(TEST_VAR, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(sizeof(rec), read(fd, &rec, sizeof(rec)));
	close(fd);
	EXPECT_EQ(~count, rec.count);
}

/* ---- numa ---- */

static int node_of(void *addr)
{
	int node = -1;

	if (syscall(SYS_get_mempolicy, &node, NULL, 0, addr, MPOL_F_NODE | MPOL_F_ADDR))
		return -errno;
	return node;
}

/* The node whose pfn span holds @pfn, from /proc/zoneinfo; -1 if none. */
static int node_of_pfn(unsigned long pfn)
{
	unsigned long start = 0, spanned;
	char line[256];
	int node = -1, n, found = -1;
	FILE *f = fopen("/proc/zoneinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Node %d,", &n) == 1)
			node = n;
		else if (sscanf(line, " spanned %lu", &spanned) == 1)
			continue;
		else if (sscanf(line, " start_pfn: %lu", &start) == 1 &&
			 pfn >= start && pfn < start + spanned)
			found = node;
	}
	fclose(f);
	return found;
}

/* Every scratch range lies in one node, and each node has one. */
static void scratch_per_node(struct __test_metadata *_metadata)
{
	unsigned long long start, size;
	unsigned int nodes = 0;
	FILE *f = fopen("/sys/kernel/debug/kho/scratch", "r");

	ASSERT_NE(NULL, f);
	while (fscanf(f, "%llx %llx", &start, &size) == 2) {
		int a = node_of_pfn(start >> 12), b = node_of_pfn((start + size - 1) >> 12);

		TH_LOG("scratch 0x%llx-0x%llx: node %d", start, start + size - 1, a);
		EXPECT_LE(0, a);
		EXPECT_EQ(a, b);
		if (a >= 0 && a < 32)
			nodes |= 1u << a;
	}
	fclose(f);
	EXPECT_EQ(0x3, nodes) TH_LOG("scratch on nodes 0x%x, want 0 and 1", nodes);
}

FDBOX_STAGE_FIXTURE(numa_stage1);
FDBOX_STAGE_FIXTURE(numa_stage2);

TEST_F(numa_stage1, deposit_on_both_nodes)
{
	unsigned long node0 = 1, node1 = 2;
	size_t half = NUMA_SIZE / 2, i;
	char nodes[16];
	void *map;
	int m;

	ASSERT_EQ(0, fdbox_read_line("/sys/devices/system/node/online", nodes, sizeof(nodes)));
	ASSERT_STREQ("0-1", nodes);
	scratch_per_node(_metadata);

	m = fdbox_memfd("ram", MFD_CLOEXEC, NUMA_SIZE, &map);
	ASSERT_LE(0, m);
	/* The policy of a shared mapping is the file's: its pages follow it. */
	ASSERT_EQ(0, syscall(SYS_mbind, map, half, MPOL_BIND, &node0, 8, 0));
	ASSERT_EQ(0, syscall(SYS_mbind, (char *)map + half, half, MPOL_BIND, &node1, 8, 0));
	fdbox_fill(map, 0, NUMA_SIZE, NUMA_SEED);
	for (i = 0; i < NUMA_SIZE; i += 4096)
		ASSERT_EQ(i < half ? 0 : 1, node_of((char *)map + i))
			TH_LOG("page %zu before the kexec", i / 4096);
	munmap(map, NUMA_SIZE);
	ASSERT_EQ(0, deposit_and_load("numa", m, ""));
}

TEST_F(numa_stage2, same_bytes_same_nodes)
{
	size_t half = NUMA_SIZE / 2, i;
	unsigned int wrong = 0;
	void *map;

	scratch_per_node(_metadata);
	map = retrieve_mapped("numa", NUMA_SIZE);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(-1, fdbox_check(map, 0, NUMA_SIZE, NUMA_SEED));
	for (i = 0; i < NUMA_SIZE; i += 4096)
		if (node_of((char *)map + i) != (i < half ? 0 : 1))
			wrong++;
	EXPECT_EQ(0, wrong) TH_LOG("%u pages came back on another node", wrong);
	munmap(map, NUMA_SIZE);
}

/* ---- scratch_usable ---- */

#define USABLE_SIZE	(32UL << 20)
#define USABLE_SEED	0x7363726cULL

struct range {
	unsigned long long start, end;
};

static unsigned int read_scratch(struct range *r, unsigned int max)
{
	unsigned long long start, size;
	unsigned int n = 0;
	FILE *f = fopen("/sys/kernel/debug/kho/scratch", "r");

	if (!f)
		return 0;
	while (n < max && fscanf(f, "%llx %llx", &start, &size) == 2) {
		r[n].start = start;
		r[n++].end = start + size;
	}
	fclose(f);
	return n;
}

/* Pages of [p, p + len) whose frame is in scratch; -1 if pagemap fails. */
static long pages_in_scratch(const volatile char *p, size_t len)
{
	struct range r[16];
	unsigned int n = read_scratch(r, 16), k;
	long count = 0;
	uint64_t e;
	size_t i;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0 || !n)
		return -1;
	for (i = 0; i < len; i += 4096) {
		unsigned long long pa;

		(void)p[i];
		if (pread(fd, &e, 8, ((uintptr_t)p + i) / 4096 * 8) != 8 || !(e >> 63)) {
			count = -1;
			break;
		}
		pa = (e & ((1ULL << 55) - 1)) << 12;
		for (k = 0; k < n; k++)
			if (pa >= r[k].start && pa < r[k].end)
				count++;
	}
	close(fd);
	return count;
}

/*
 * Writes a stamp, (pass << 32) | page, into the first word of each page
 * of a mapping, page after page, pass after pass, until told to stop;
 * before each write it checks that the page still has its last stamp.
 */
struct stamper {
	uint64_t *map;
	const uint64_t *before;	/* the first words before the first pass */
	size_t pages;
	int started, stop;
	uint64_t pass, page;	/* where it stopped: the write not done */
	uint64_t writes;	/* how many so far */
	size_t lost;		/* stamps not found where they were written */
};

/* The stamp page @page has after @pass passes. */
static uint64_t stamp_of(const struct stamper *s, uint64_t pass, size_t page)
{
	return pass ? pass << 32 | page : s->before[page];
}

static void *stamp_pages(void *arg)
{
	struct stamper *s = arg;
	uint64_t pass, page;

	__atomic_store_n(&s->started, 1, __ATOMIC_RELEASE);
	for (pass = 1; ; pass++)
		for (page = 0; page < s->pages; page++) {
			uint64_t *word = &s->map[page * 512];

			if (__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
				s->pass = pass;
				s->page = page;
				return NULL;
			}
			if (__atomic_load_n(word, __ATOMIC_RELAXED) != stamp_of(s, pass - 1, page))
				s->lost++;
			__atomic_store_n(word, stamp_of(s, pass, page), __ATOMIC_RELAXED);
			__atomic_fetch_add(&s->writes, 1, __ATOMIC_RELAXED);
		}
}

/* Pages of memfd @fd whose first word, read from the file, is not the last stamp. */
static size_t stamps_lost(const struct stamper *s, int fd)
{
	size_t page, lost = 0;
	uint64_t word;

	for (page = 0; page < s->pages; page++) {
		uint64_t pass = page < s->page ? s->pass : s->pass - 1;

		if (pread(fd, &word, sizeof(word), page * 4096) != sizeof(word) ||
		    word != stamp_of(s, pass, page))
			lost++;
	}
	return lost;
}

static long cma_kb(const char *key)
{
	return fdbox_stat("/proc/meminfo", key);
}

FDBOX_STAGE_FIXTURE(scratch_usable_stage1);
FDBOX_STAGE_FIXTURE(scratch_usable_stage2);

TEST_F(scratch_usable_stage1, user_pages_in_scratch_moved_at_deposit)
{
	static uint64_t before[USABLE_SIZE / 4096];
	long total = cma_kb("CmaTotal:"), in_scratch;
	struct stamper stamper = { };
	pthread_t writer;
	uint64_t writes;
	size_t fill, i;
	int s, m, err;
	char *anon;
	void *map;

	ASSERT_LT(0, total) TH_LOG("scratch is not lent");
	TH_LOG("lent %ld MiB, %ld MiB free", total >> 10, cma_kb("CmaFree:") >> 10);

	/* Leave a little room outside scratch only. */
	fill = (size_t)(fdbox_stat("/proc/meminfo", "MemAvailable:") - (96L << 10)) << 10;
	anon = mmap(NULL, fill, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, anon);
	memset(anon, 0x5a, fill);
	TH_LOG("%zu MiB of user memory: %ld MiB of scratch left free",
	       fill >> 20, cma_kb("CmaFree:") >> 10);
	EXPECT_GT(total / 2, cma_kb("CmaFree:")) TH_LOG("user memory did not use scratch");

	m = fdbox_memfd("ram", MFD_CLOEXEC, USABLE_SIZE, &map);
	ASSERT_LE(0, m);
	fdbox_fill(map, 0, USABLE_SIZE, USABLE_SEED);
	in_scratch = pages_in_scratch(map, USABLE_SIZE);
	TH_LOG("%ld of the memfd's %lu pages are in scratch", in_scratch, USABLE_SIZE >> 12);
	ASSERT_LT(0, in_scratch) TH_LOG("nothing in scratch: the move is not tested");
	munmap(anon, fill);

	s = fdbox_session("usable");
	ASSERT_LE(0, s);
	/* The pages move while the thread writes to them. */
	stamper.map = map;
	stamper.before = before;
	stamper.pages = USABLE_SIZE / 4096;
	for (i = 0; i < stamper.pages; i++)
		before[i] = stamper.map[i * 512];
	ASSERT_EQ(0, pthread_create(&writer, NULL, stamp_pages, &stamper));
	while (!__atomic_load_n(&stamper.started, __ATOMIC_ACQUIRE))
		sched_yield();
	writes = __atomic_load_n(&stamper.writes, __ATOMIC_RELAXED);
	err = fdbox_deposit(s, m, "ram");
	writes = __atomic_load_n(&stamper.writes, __ATOMIC_RELAXED) - writes;
	__atomic_store_n(&stamper.stop, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(0, pthread_join(writer, NULL));
	ASSERT_EQ(0, err);
	TH_LOG("the thread wrote %llu pages while the deposit ran", (unsigned long long)writes);
	EXPECT_LT(stamper.pages, writes) TH_LOG("not a whole pass while the deposit ran");
	EXPECT_EQ(0, stamper.lost);
	EXPECT_EQ(0, stamps_lost(&stamper, m));
	for (i = 0; i < stamper.pages; i++)
		stamper.map[i * 512] = before[i];
	EXPECT_EQ(0, pages_in_scratch(map, USABLE_SIZE));
	EXPECT_EQ(-1, fdbox_check(map, 0, USABLE_SIZE, USABLE_SEED));
	munmap(map, USABLE_SIZE);
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(""));
}

TEST_F(scratch_usable_stage2, same_bytes_scratch_lent_again)
{
	char line[1024];
	void *map;

	EXPECT_TRUE(fdbox_kmsg_last("kho: handover received", NULL, 0));
	ASSERT_TRUE(fdbox_kmsg_last("scratch: early boot used", line, sizeof(line)));
	TH_LOG("%s", strchr(line, ';') ? strchr(line, ';') + 1 : line);
	EXPECT_LT(0, cma_kb("CmaTotal:"));
	map = retrieve_mapped("usable", USABLE_SIZE);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(-1, fdbox_check(map, 0, USABLE_SIZE, USABLE_SEED));
	EXPECT_EQ(0, pages_in_scratch(map, USABLE_SIZE));
	munmap(map, USABLE_SIZE);
}

/* ---- reserved_in_hold ---- */

#define HOLD_SIZE	(4UL << 20)
#define HOLD_SEED	0x686f6c64ULL
#define KPF_RESERVED	32

static unsigned long long phys_of(const volatile char *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	(void)*p;
	if (fd < 0 || pread(fd, &e, 8, (uintptr_t)p / 4096 * 8) != 8)
		e = 0;
	if (fd >= 0)
		close(fd);
	return (e >> 63) ? (e & ((1ULL << 55) - 1)) << 12 : 0;
}

FDBOX_STAGE_FIXTURE(reserved_in_hold_stage1);
FDBOX_STAGE_FIXTURE(reserved_in_hold_stage2);

TEST_F(reserved_in_hold_stage1, deposit_and_name_a_page)
{
	unsigned long long pa = 0;
	char args[64], *page;
	unsigned int i;
	void *map;
	int m;

	/* An anonymous page outside scratch: RAM nobody preserves. */
	for (i = 0; i < 1024 && !pa; i++) {
		page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, page);
		page[0] = 1;
		if (!pages_in_scratch(page, 4096))
			pa = phys_of(page);
	}
	ASSERT_NE(0, pa) TH_LOG("no page outside scratch");

	m = fdbox_memfd("ram", MFD_CLOEXEC, HOLD_SIZE, &map);
	ASSERT_LE(0, m);
	fdbox_fill(map, 0, HOLD_SIZE, HOLD_SEED);
	snprintf(args, sizeof(args), "kho_test_reserve=0x%llx", pa);
	ASSERT_EQ(0, deposit_and_load("hold", m, args));
}

TEST_F(reserved_in_hold_stage2, reservation_kept_memfd_back)
{
	char arg[64], line[1024];
	unsigned long long pa;
	uint64_t flags = 0;
	void *map;
	int kpf;

	ASSERT_EQ(0, fdbox_cmdline_get("kho_test_reserve", arg, sizeof(arg)));
	pa = strtoull(arg, NULL, 0);
	EXPECT_TRUE(fdbox_kmsg_last("kho: handover received", NULL, 0));
	ASSERT_TRUE(fdbox_kmsg_last("in early boot, as firmware would", NULL, 0));
	EXPECT_TRUE(fdbox_kmsg_last("reserved inside held memory during early boot: kept",
				    line, sizeof(line)));
	kpf = open("/proc/kpageflags", O_RDONLY);
	ASSERT_LE(0, kpf);
	ASSERT_EQ(8, pread(kpf, &flags, 8, pa / 4096 * 8));
	close(kpf);
	EXPECT_TRUE(flags & (1ULL << KPF_RESERVED))
		TH_LOG("page 0x%llx reached the page allocator (flags 0x%llx)", pa,
		       (unsigned long long)flags);

	map = retrieve_mapped("hold", HOLD_SIZE);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(-1, fdbox_check(map, 0, HOLD_SIZE, HOLD_SEED));
	munmap(map, HOLD_SIZE);
}

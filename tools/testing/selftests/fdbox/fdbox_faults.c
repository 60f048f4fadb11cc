// SPDX-License-Identifier: GPL-2.0
/*
 * fdbox_faults: allocation failures in fdbox, one failure point at a time.
 *
 * fault_injection: failslab and fail_page_alloc, driven by the fail-nth
 * technique, aimed at deposit, finalize, the kexec-time freeze and
 * retrieve. Each failure must surface as ENOMEM, leave nothing behind
 * (the item, the KHO preservation, the frozen size, the finalized
 * blocks) and leave the session usable: a retry without fault succeeds.
 *
 * The fail-nth technique: writing N to /proc/thread-self/fail-nth makes
 * the N-th fault site this thread reaches fail (every should_fail_ex()
 * call of failslab or fail_page_alloc counts, in task context only;
 * lib/fault-inject.c). Reading it back after the call tells whether the
 * site was reached: 0, the fault was injected; non-zero, the call ran to
 * its end without reaching it. So for N = 1, 2, ... the call is made
 * from the same starting state until a call reaches no N-th site: every
 * site has then failed once. A fault the code absorbs (a GFP_NOWAIT
 * xarray node retried with GFP_KERNEL, kvmalloc() falling back to
 * vmalloc, kmemleak's metadata falling back to its pool) lets the call
 * succeed; that is fine, the state is checked either way.
 *
 * The attributes (debugfs, set once per boot): probability 0 and
 * task-filter Y, so that nothing fails but the fail-nth fault;
 * ignore-gfp-wait N, or GFP_KERNEL allocations, all fdbox makes, would
 * never count; fail_page_alloc's min-order 0 and ignore-gfp-highmem N for
 * order-0 and user pages; verbose 1, one log line per fault: verbose 2
 * (the default) dumps a stack, and vm-verdict.sh fails on "Call Trace:".
 *
 * The objects, every one filled with a pattern and checked after the
 * kexec: a 256 KiB memfd of 4 KiB pages, a 4 MiB memfd of THP, a
 * 2 MiB memfd whose pages were allocated alternately with another file's
 * ("scattered": one run per page, more than the FDT takes inline, so its
 * runs go into preserved blocks, fdbox_folios_describe()), and a 4 MiB
 * memfd of 2 MiB hugetlb pages.
 *
 * Stage 1 (the fixture's tests run in file order):
 *   deposit         FDBOX_DEPOSIT of each object; after a failure the
 *                   session has no item, KHO preserves what it did
 *                   before and the file's size is free again
 *   finalize        FDBOX_FINALIZE of a session of all three; after a
 *                   failure every item is DEPOSITED with no metadata and
 *                   KHO preserves no block
 *   handover_build  opening kho/out/fdt: kho_build_fdt(), the KHO part of
 *                   the kexec-time work, which the kexec loop below
 *                   cannot reach
 *   retrieve_copies deposits the copies stage 2 retrieves, finalized
 *   vfio_device     a vfio-pci device (edu, if the VM has one): deposit,
 *                   depending on a memfd, and finalize of both; after a
 *                   failure the device is not in the session, the items
 *                   are DEPOSITED, and the retry succeeds. Both are
 *                   carried, finalized, to stage 2
 *   kexec_freeze    reboot(LINUX_REBOOT_CMD_KEXEC) with a session that is
 *                   not finalized: the kexec freezes it (fdbox's
 *                   KHO_FREEZE notifier). A kexec that goes through cannot
 *                   report a fault it absorbed, and one that went through
 *                   with a fault armed would inject it in device shutdown.
 *                   So a barrier session, named last and so frozen last,
 *                   holds a memfd page that no run can describe: every
 *                   attempt is refused, with ENOMEM for a fault in our
 *                   session's freeze, EFBIG otherwise. Then the barrier
 *                   is closed and the test ends; init scans for leaks
 *                   (after all the refused attempts) and performs the
 *                   kexec itself, with no fault armed.
 * Stage 2:
 *   attach          opening /dev/kho/deserialize and FDBOX_ATTACH; then
 *                   what the kexec-time freeze carried, byte for byte
 *   retrieve        FDBOX_RETRIEVE: a retrieve consumes its item, so each
 *                   failure point gets a copy of its own; after a failure
 *                   the item must still be there, untouched (KHO restored
 *                   and released nothing), and the retry must succeed.
 *   vfio_device     FDBOX_RETRIEVE of the device, at each failure point
 *                   until one goes through: the item stays until then,
 *                   and the device file works.
 *
 * What the kexec-time loop does not reach: fdbox_fdt_build() and KHO's
 * kho_kexec_build(). Their first fault sites are absorbed (kvmalloc's
 * fallback, kmemleak), and an absorbed fault there means a real kexec.
 * kho_build_fdt() is covered through kho/out/fdt.
 *
 * Run by vm-run.sh (vm_tests): --stages 2 --cmd
 * 'fdbox_faults --case fault_injection --stage $FDBOX_STAGE'.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <linux/reboot.h>

#include "fdbox_stage.h"
#include "fdbox_lib.h"
#include "fdbox_vfio_lib.h"

#define KiB		(1UL << 10)
#define MiB		(1UL << 20)
#define PAGE		4096UL
#define SEED		0xfa0175eedULL
#define KHO_OUT		"/sys/kernel/debug/kho/out/stats"
#define KHO_OUT_FDT	"/sys/kernel/debug/kho/out/fdt"
#define KHO_IN		"/sys/kernel/debug/kho/in/stats"
#define DEBUGFS		"/sys/kernel/debug"
#define THP_SHMEM	"/sys/kernel/mm/transparent_hugepage/shmem_enabled"
#define HUGE_2M		"/sys/kernel/mm/hugepages/hugepages-2048kB"
#define FAIL_NTH	"/proc/thread-self/fail-nth"

/* More fault points than this in one call: something loops. */
#define FI_MAX_FAULTS	2000
/* Room for the listing of the copies' session. */
#define FI_LIST_MAX	512

#define FI_DEPOSIT	"fi-deposit"
#define FI_FINALIZE	"fi-finalize"
#define FI_RETRIEVE	"fi-retrieve"
#define FI_KEXEC	"fi-kexec"
#define FI_BARRIER	"fi-barrier"
#define FI_VFIO		"fi-vfio"
/* 8 PiB: a page there is beyond what a memfd run describes (EFBIG). */
#define FI_FAR		(1LL << 53)

struct fi_kind {
	const char *name;
	size_t size;
	bool thp;		/* shmem THP while it is written */
	bool scattered;		/* pages interleaved with another file's */
	unsigned int copies;	/* for stage 2's retrieve loop */
	bool hugetlb;		/* MFD_HUGETLB, 2 MiB pages */
};

static const struct fi_kind fi_kinds[] = {
	{ "small",	256 * KiB,	false,	false,	48 },
	{ "thp",	4 * MiB,	true,	false,	40 },
	{ "scattered",	2 * MiB,	false,	true,	64 },
	{ "hugetlb",	4 * MiB,	false,	false,	32,	true },
};

static uint64_t kexec_seed(unsigned int kind)
{
	return SEED + 0x100 + kind;
}

static uint64_t copy_seed(unsigned int kind, unsigned int i)
{
	return SEED ^ ((uint64_t)(kind + 1) << 32) ^ i;
}

static int kexec_reboot(void)
{
	return syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
		       LINUX_REBOOT_CMD_KEXEC, NULL) < 0 ? -errno : 0;
}

static long kho_out(const char *key)
{
	return fdbox_stat(KHO_OUT, key);
}

static long kho_in(const char *key)
{
	return fdbox_stat(KHO_IN, key);
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t len = strlen(val);
	int ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, val, len) == len;
	close(fd);
	return ok ? 0 : -EIO;
}

static int set_shmem_thp(const char *mode)
{
	return write_file(THP_SHMEM, mode);
}

/* ---- fault injection ---- */

static bool fi_available(void)
{
	if (access(DEBUGFS "/failslab", F_OK))
		mount("debugfs", DEBUGFS, "debugfs", 0, NULL);
	return !access(DEBUGFS "/failslab/ignore-gfp-wait", W_OK) &&
	       !access(DEBUGFS "/fail_page_alloc/min-order", W_OK) &&
	       !access(FAIL_NTH, W_OK);
}

/* Set failslab and fail_page_alloc up for fail-nth; see the top of the file. */
static int fi_configure(void)
{
	static const char *const attrs[] = { "failslab", "fail_page_alloc" };
	static const char *const common[][2] = {
		{ "probability", "0" },
		{ "task-filter", "Y" },
		{ "verbose", "1" },
		{ "ignore-gfp-wait", "N" },
	};
	char path[128];
	unsigned int i, j;
	int err = 0;

	for (i = 0; i < ARRAY_SIZE(attrs); i++) {
		for (j = 0; j < ARRAY_SIZE(common) && !err; j++) {
			snprintf(path, sizeof(path), DEBUGFS "/%s/%s", attrs[i], common[j][0]);
			err = write_file(path, common[j][1]);
		}
	}
	err = err ?: write_file(DEBUGFS "/failslab/cache-filter", "N");
	err = err ?: write_file(DEBUGFS "/fail_page_alloc/ignore-gfp-highmem", "N");
	err = err ?: write_file(DEBUGFS "/fail_page_alloc/min-order", "0");
	return err;
}

/* Make the @n-th fault site this thread reaches fail (0: none). */
static int nth_arm(int nth, unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	return pwrite(nth, buf, len, 0) == len ? 0 : -errno;
}

/*
 * Disarm, and tell how much of the count was left: 0 if the fault was
 * injected, more if the call ended before reaching that site; -1 on error.
 */
static long nth_disarm(int nth)
{
	char buf[16] = "";
	long left;

	if (pread(nth, buf, sizeof(buf) - 1, 0) <= 0)
		return -1;
	left = strtol(buf, NULL, 10);
	if (left && nth_arm(nth, 0))
		return -1;
	return left;
}

/* ---- objects and state ---- */

/* At least @pages free 2 MiB pages in the hugetlb pool. */
static int hugetlb_pool_reserve(long pages)
{
	char buf[32];
	long total, free;

	if (fdbox_read_line(HUGE_2M "/nr_hugepages", buf, sizeof(buf)))
		return -1;
	total = atol(buf);
	if (fdbox_read_line(HUGE_2M "/free_hugepages", buf, sizeof(buf)))
		return -1;
	free = atol(buf);
	if (free >= pages)
		return 0;
	snprintf(buf, sizeof(buf), "%ld", total + 64);
	return write_file(HUGE_2M "/nr_hugepages", buf);
}

/* A memfd of kind @k filled with the pattern of @seed; fd or -errno. */
static int kind_memfd(const struct fi_kind *k, uint64_t seed)
{
	void *map, *other_map;
	int m, other;
	size_t off;

	if (set_shmem_thp(k->thp ? "always" : "never") && k->thp)
		return -EOPNOTSUPP;
	if (k->hugetlb && hugetlb_pool_reserve(k->size / (2 * MiB)))
		return -ENOMEM;
	m = fdbox_memfd(k->name, MFD_CLOEXEC |
			(k->hugetlb ? MFD_HUGETLB | (21U << 26) : 0), k->size, &map);
	if (m < 0)
		goto out;
	if (k->scattered) {
		/* Page by page in turn with another file: no two neighbours. */
		other = fdbox_memfd("other", MFD_CLOEXEC, k->size, &other_map);
		if (other < 0) {
			close(m);
			m = other;
			goto out;
		}
		for (off = 0; off < k->size; off += PAGE) {
			fdbox_fill(map, off, PAGE, seed);
			fdbox_fill(other_map, off, PAGE, seed);
		}
		munmap(other_map, k->size);
		close(other);
	} else {
		fdbox_fill(map, 0, k->size, seed);
	}
	munmap(map, k->size);
out:
	if (k->thp)
		set_shmem_thp("never");
	return m;
}

/* 1 if @m's size is frozen (deposited), 0 if it can change, -errno. */
static int size_frozen(int m, size_t size)
{
	/* A size hugetlb files can have too. */
	if (ftruncate(m, size + 2 * MiB))
		return errno == EPERM ? 1 : -errno;
	return ftruncate(m, size) ? -errno : 0;
}

/* Item @label of the session @session (by name; NULL: @fd's own), or NULL. */
static struct fdbox_item_info *list_item(int fd, const char *session, const char *label)
{
	static struct fdbox_item_info items[FI_LIST_MAX];
	int n = fdbox_list_of(fd, FDBOX_LIST, session, items, FI_LIST_MAX,
			      sizeof(items[0]));

	if (n < 0)
		return NULL;
	return fdbox_find_info(items, n < FI_LIST_MAX ? n : FI_LIST_MAX, label);
}

/* The incoming session @name as FDBOX_LIST_SESSIONS shows it. */
static bool in_session(int d, const char *name, struct fdbox_session_info *out)
{
	struct fdbox_session_info sessions[8];
	int i, n = fdbox_list(d, FDBOX_LIST_SESSIONS, sessions, 8, sizeof(sessions[0]));

	for (i = 0; i < n && i < 8; i++) {
		if (!strcmp(sessions[i].name, name)) {
			*out = sessions[i];
			return true;
		}
	}
	return false;
}

/* @fd holds @size bytes of the pattern of @seed. */
static void check_memfd(struct __test_metadata *_metadata, int fd, size_t size,
			uint64_t seed, const char *what)
{
	struct stat st;
	void *map;
	long bad;

	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(size, st.st_size) TH_LOG("%s: wrong size", what);
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	bad = fdbox_check(map, 0, size, seed);
	munmap(map, size);
	EXPECT_EQ(-1, bad) TH_LOG("%s differs at byte %ld", what, bad);
}

/* The fail-nth file of this thread, faults configured; SKIPs without them. */
#define FI_SETUP(nth) do {						\
	if (!fi_available())						\
		SKIP(return, "no fault injection (failslab, fail_page_alloc, fail-nth)"); \
	ASSERT_EQ(0, fi_configure());					\
	nth = open(FAIL_NTH, O_RDWR | O_CLOEXEC);			\
	ASSERT_LE(0, nth);						\
} while (0)

/* ---- stage 1 ---- */

FDBOX_STAGE_FIXTURE(fault_injection_stage1);

/* Deposit @k into @s at every failure point, withdrawing each time. */
static void deposit_faults(struct __test_metadata *_metadata, int nth, int s,
			   const struct fi_kind *k)
{
	unsigned int n, failed = 0, absorbed = 0;
	struct fdbox_item_info *info;
	long base, folios, left;
	uint64_t preserved;
	int m, err;

	m = kind_memfd(k, SEED);
	if (m == -EOPNOTSUPP) {
		ksft_print_msg("deposit %s: no shmem THP, skipped\n", k->name);
		return;
	}
	ASSERT_LE(0, m);
	base = kho_out("preserved_folios");
	ASSERT_LE(0, base);

	/* A clean deposit first: what a whole one preserves. */
	ASSERT_EQ(0, fdbox_deposit(s, m, k->name));
	info = list_item(s, NULL, k->name);
	ASSERT_TRUE(info != NULL);
	preserved = info->preserved;
	folios = kho_out("preserved_folios") - base;
	ASSERT_EQ(k->size, preserved);
	ASSERT_EQ(0, fdbox_label_op(s, FDBOX_WITHDRAW, k->name));
	ASSERT_EQ(base, kho_out("preserved_folios"));

	for (n = 1; ; n++) {
		ASSERT_GE(FI_MAX_FAULTS, n) TH_LOG("deposit %s: still faulting", k->name);
		ASSERT_EQ(0, nth_arm(nth, n));
		err = fdbox_deposit(s, m, k->name);
		left = nth_disarm(nth);
		ASSERT_LE(0, left);
		if (left) {
			ASSERT_EQ(0, err) TH_LOG("deposit %s failed with no fault: %s",
						 k->name, strerror(-err));
		} else if (err) {
			failed++;
			ASSERT_EQ(-ENOMEM, err) TH_LOG("deposit %s, fault %u: %s, not ENOMEM",
						       k->name, n, strerror(-err));
			/* Nothing left behind: no item, no preserved folio, size free. */
			ASSERT_TRUE(list_item(s, NULL, k->name) == NULL)
				TH_LOG("deposit %s, fault %u: failed but the item is listed",
				       k->name, n);
			ASSERT_EQ(base, kho_out("preserved_folios"))
				TH_LOG("deposit %s, fault %u: folios left preserved", k->name, n);
			ASSERT_EQ(0, size_frozen(m, k->size))
				TH_LOG("deposit %s, fault %u: the file's size stayed frozen",
				       k->name, n);
			/* Usable: the retry goes through (no stale fdbox_inodes entry). */
			err = fdbox_deposit(s, m, k->name);
			ASSERT_EQ(0, err) TH_LOG("deposit %s, retry after fault %u: %s",
						 k->name, n, strerror(-err));
		} else {
			absorbed++;
		}
		/* Deposited, and whole. */
		info = list_item(s, NULL, k->name);
		ASSERT_TRUE(info != NULL);
		ASSERT_EQ(FDBOX_STATE_DEPOSITED, info->state);
		ASSERT_EQ(preserved, info->preserved) TH_LOG("deposit %s, fault %u", k->name, n);
		ASSERT_EQ(base + folios, kho_out("preserved_folios"))
			TH_LOG("deposit %s, fault %u", k->name, n);
		ASSERT_EQ(1, size_frozen(m, k->size));
		ASSERT_EQ(0, fdbox_label_op(s, FDBOX_WITHDRAW, k->name));
		ASSERT_EQ(base, kho_out("preserved_folios"));
		if (left)
			break;
	}
	ksft_print_msg("deposit %s (%ld folios): %u fault points, %u refused it with ENOMEM, %u absorbed\n",
		       k->name, folios, n - 1, failed, absorbed);
	close(m);
}

TEST_F_TIMEOUT(fault_injection_stage1, deposit, 600)
{
	unsigned int i;
	long base;
	int nth, s;

	FI_SETUP(nth);
	base = kho_out("preserved_folios");
	s = fdbox_session(FI_DEPOSIT);
	ASSERT_LE(0, s);
	for (i = 0; i < ARRAY_SIZE(fi_kinds); i++)
		deposit_faults(_metadata, nth, s, &fi_kinds[i]);
	close(s);
	EXPECT_EQ(base, kho_out("preserved_folios"));
	close(nth);
}

/* Every item of @s in @state; with metadata as in @meta (NULL: none). */
static void check_items(struct __test_metadata *_metadata, int s, const char *session,
			unsigned int state, const uint64_t *meta, const int *m,
			unsigned int n)
{
	struct fdbox_item_info *info;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(fi_kinds); i++) {
		if (m[i] < 0)
			continue;
		info = list_item(s, session, fi_kinds[i].name);
		ASSERT_TRUE(info != NULL) TH_LOG("fault %u: %s gone", n, fi_kinds[i].name);
		ASSERT_EQ(state, info->state) TH_LOG("fault %u: %s", n, fi_kinds[i].name);
		ASSERT_EQ(meta ? meta[i] : 0, info->metadata)
			TH_LOG("fault %u: metadata of %s", n, fi_kinds[i].name);
		ASSERT_EQ(1, size_frozen(m[i], fi_kinds[i].size));
	}
}

TEST_F_TIMEOUT(fault_injection_stage1, finalize, 600)
{
	int nth, s, err, m[ARRAY_SIZE(fi_kinds)];
	uint64_t meta[ARRAY_SIZE(fi_kinds)];
	unsigned int i, n, failed = 0, absorbed = 0;
	long base, finalized, left;
	struct fdbox_item_info *info;

	FI_SETUP(nth);
	s = fdbox_session(FI_FINALIZE);
	ASSERT_LE(0, s);
	for (i = 0; i < ARRAY_SIZE(fi_kinds); i++) {
		m[i] = kind_memfd(&fi_kinds[i], SEED + i);
		if (m[i] == -EOPNOTSUPP)
			continue;
		ASSERT_LE(0, m[i]);
		ASSERT_EQ(0, fdbox_deposit(s, m[i], fi_kinds[i].name));
	}
	base = kho_out("preserved_folios");

	/* A clean finalize: its metadata, and the blocks it preserves. */
	ASSERT_EQ(0, fdbox_ioctl(s, FDBOX_FINALIZE, NULL));
	finalized = kho_out("preserved_folios");
	for (i = 0; i < ARRAY_SIZE(fi_kinds); i++) {
		if (m[i] < 0)
			continue;
		info = list_item(s, NULL, fi_kinds[i].name);
		ASSERT_TRUE(info != NULL);
		meta[i] = info->metadata;
		ksft_print_msg("finalize: %s has %llu bytes of metadata%s\n", fi_kinds[i].name,
			       (unsigned long long)meta[i],
			       meta[i] > 256 * 16 ? " (in preserved blocks)" : "");
	}
	check_items(_metadata, s, NULL, FDBOX_STATE_FINALIZED, meta, m, 0);
	ASSERT_EQ(0, fdbox_ioctl(s, FDBOX_UNFINALIZE, NULL));
	ASSERT_EQ(base, kho_out("preserved_folios"));

	for (n = 1; ; n++) {
		ASSERT_GE(FI_MAX_FAULTS, n) TH_LOG("finalize: still faulting");
		ASSERT_EQ(0, nth_arm(nth, n));
		err = fdbox_ioctl(s, FDBOX_FINALIZE, NULL);
		left = nth_disarm(nth);
		ASSERT_LE(0, left);
		if (left) {
			ASSERT_EQ(0, err) TH_LOG("finalize failed with no fault: %s", strerror(-err));
		} else if (err) {
			failed++;
			ASSERT_EQ(-ENOMEM, err) TH_LOG("finalize, fault %u: %s, not ENOMEM",
						       n, strerror(-err));
			/* Every item back to DEPOSITED, its blocks freed and unpreserved. */
			check_items(_metadata, s, NULL, FDBOX_STATE_DEPOSITED, NULL, m, n);
			ASSERT_EQ(base, kho_out("preserved_folios"))
				TH_LOG("finalize, fault %u: blocks left preserved", n);
			err = fdbox_ioctl(s, FDBOX_FINALIZE, NULL);
			ASSERT_EQ(0, err) TH_LOG("finalize, retry after fault %u: %s",
						 n, strerror(-err));
		} else {
			absorbed++;
		}
		check_items(_metadata, s, NULL, FDBOX_STATE_FINALIZED, meta, m, n);
		ASSERT_EQ(finalized, kho_out("preserved_folios")) TH_LOG("finalize, fault %u", n);
		ASSERT_EQ(0, fdbox_ioctl(s, FDBOX_UNFINALIZE, NULL));
		ASSERT_EQ(base, kho_out("preserved_folios"));
		if (left)
			break;
	}
	ksft_print_msg("finalize: %u fault points, %u refused it with ENOMEM, %u absorbed\n",
		       n - 1, failed, absorbed);
	close(s);
	for (i = 0; i < ARRAY_SIZE(fi_kinds); i++) {
		if (m[i] >= 0)
			close(m[i]);
	}
	close(nth);
}

/*
 * KHO's share of the kexec-time work, kho_build_fdt(), as kho/out/fdt
 * builds it: the kexec loop below never gets that far (see the top).
 */
TEST_F_TIMEOUT(fault_injection_stage1, handover_build, 300)
{
	unsigned int n, failed = 0, absorbed = 0;
	long base, left;
	uint32_t magic;
	int nth, s, m, fd, err;

	FI_SETUP(nth);
	/* Something preserved, so that the map is not empty. */
	m = kind_memfd(&fi_kinds[0], SEED);
	ASSERT_LE(0, m);
	s = fdbox_session(FI_DEPOSIT);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, m, "small"));
	base = kho_out("preserved_folios");

	for (n = 1; ; n++) {
		ASSERT_GE(FI_MAX_FAULTS, n) TH_LOG("kho/out/fdt: still faulting");
		ASSERT_EQ(0, nth_arm(nth, n));
		fd = open(KHO_OUT_FDT, O_RDONLY | O_CLOEXEC);
		err = fd < 0 ? -errno : 0;
		left = nth_disarm(nth);
		ASSERT_LE(0, left);
		if (fd >= 0) {
			/* Whatever was absorbed, the FDT is whole. */
			ASSERT_EQ(sizeof(magic), read(fd, &magic, sizeof(magic)));
			ASSERT_EQ(0xd00dfeed, be32toh(magic));
			close(fd);
			if (!left)
				absorbed++;
		} else {
			ASSERT_EQ(0, left) TH_LOG("kho/out/fdt: %s with no fault", strerror(-err));
			failed++;
			ASSERT_EQ(-ENOMEM, err) TH_LOG("kho/out/fdt, fault %u: %s, not ENOMEM",
						       n, strerror(-err));
		}
		ASSERT_EQ(base, kho_out("preserved_folios"));
		if (left)
			break;
	}
	ksft_print_msg("kho_build_fdt (kho/out/fdt): %u fault points, %u failed with ENOMEM, %u absorbed\n",
		       n - 1, failed, absorbed);
	close(s);
	close(m);
	close(nth);
}

/*
 * Stage 2's retrieve consumes an item at every failure point: one copy
 * of each kind per point, labelled KIND-I. Finalized now, so that the
 * kexec-time loop below only freezes its own session.
 */
TEST_F_TIMEOUT(fault_injection_stage1, retrieve_copies, 600)
{
	unsigned int k, i, total = 0;
	char label[FDBOX_NAME_MAX];
	int s, m;

	if (!fi_available())
		SKIP(return, "no fault injection (failslab, fail_page_alloc, fail-nth)");
	s = fdbox_session(FI_RETRIEVE);
	ASSERT_LE(0, s);
	for (k = 0; k < ARRAY_SIZE(fi_kinds); k++) {
		for (i = 0; i < fi_kinds[k].copies; i++) {
			m = kind_memfd(&fi_kinds[k], copy_seed(k, i));
			if (m == -EOPNOTSUPP)
				break;
			ASSERT_LE(0, m);
			snprintf(label, sizeof(label), "%s-%u", fi_kinds[k].name, i);
			ASSERT_EQ(0, fdbox_deposit(s, m, label));
			close(m);
			total++;
		}
	}
	ASSERT_EQ(0, fdbox_ioctl(s, FDBOX_FINALIZE, NULL));
	ksft_print_msg("%u copies deposited for stage 2's retrieve faults\n", total);
	ASSERT_GT(fdbox_hold_forever(), 0);
	close(s);
}

/* After a refused kexec: every session as it was, and usable. */
static void check_after_kexec(struct __test_metadata *_metadata, int s, int bar,
			      const int *m, long base, long subtrees, unsigned int n)
{
	struct fdbox_item_info *info;

	check_items(_metadata, s, NULL, FDBOX_STATE_DEPOSITED, NULL, m, n);
	info = list_item(bar, NULL, "far");
	ASSERT_TRUE(info != NULL);
	ASSERT_EQ(FDBOX_STATE_DEPOSITED, info->state);
	/* Finalized by ioctl, not by the kexec: it stays finalized. */
	info = list_item(s, FI_RETRIEVE, "small-0");
	if (info) {	/* braces: an ASSERT is several statements */
		ASSERT_EQ(FDBOX_STATE_FINALIZED, info->state) TH_LOG("fault %u", n);
	}
	ASSERT_EQ(base, kho_out("preserved_folios")) TH_LOG("fault %u: preserved folios", n);
	ASSERT_EQ(subtrees, kho_out("subtrees")) TH_LOG("fault %u: KHO subtrees", n);
	/* Not frozen for a kexec any more: the session finalizes and back. */
	ASSERT_EQ(0, fdbox_ioctl(s, FDBOX_FINALIZE, NULL)) TH_LOG("fault %u", n);
	ASSERT_EQ(0, fdbox_ioctl(s, FDBOX_UNFINALIZE, NULL)) TH_LOG("fault %u", n);
	ASSERT_EQ(base, kho_out("preserved_folios"));
}

/* Last of stage 1: the kexec follows it. */
/*
 * A vfio-pci device (QEMU's edu, when the VM has one): its deposit, with
 * a memfd it depends on, and the finalize of both, at every failure
 * point; then both are carried, finalized, for stage 2's retrieve.
 */
TEST_F_TIMEOUT(fault_injection_stage1, vfio_device, 300)
{
	unsigned int n, failed = 0, absorbed = 0;
	struct fdbox_item_info *info;
	int nth, s, m, err;
	struct vdev v;
	long left;

	if (find_pci(EDU_VENDOR, EDU_DEVICE, v.bdf, sizeof(v.bdf)))
		SKIP(return, "no edu device in this VM");
	FI_SETUP(nth);
	ASSERT_EQ(0, setup_device(&v, EDU_VENDOR, EDU_DEVICE));
	s = fdbox_session(FI_VFIO);
	ASSERT_LE(0, s);
	m = kind_memfd(&fi_kinds[0], SEED);
	ASSERT_LE(0, m);
	ASSERT_EQ(0, fdbox_deposit(s, m, "ram"));

	for (n = 1; ; n++) {
		ASSERT_GE(FI_MAX_FAULTS, n);
		ASSERT_EQ(0, nth_arm(nth, n));
		err = deposit_depending(s, v.fd, "dev", "ram");
		left = nth_disarm(nth);
		ASSERT_LE(0, left);
		if (err) {
			ASSERT_EQ(0, left) TH_LOG("device deposit with no fault: %s", strerror(-err));
			ASSERT_EQ(-ENOMEM, err) TH_LOG("device deposit, fault %u: %s", n,
						       strerror(-err));
			ASSERT_TRUE(list_item(s, NULL, "dev") == NULL);
			failed++;
			ASSERT_EQ(0, deposit_depending(s, v.fd, "dev", "ram"))
				TH_LOG("device deposit, retry after fault %u", n);
		} else if (!left) {
			absorbed++;
		}
		ASSERT_TRUE(list_item(s, NULL, "dev") != NULL);
		ASSERT_EQ(-EBUSY, fdbox_label_op(s, FDBOX_WITHDRAW, "ram"));
		ASSERT_EQ(0, fdbox_label_op(s, FDBOX_WITHDRAW, "dev"));
		if (left)
			break;
	}
	ksft_print_msg("deposit vfio device: %u fault points, %u refused it with ENOMEM, %u absorbed\n",
		       n - 1, failed, absorbed);

	ASSERT_EQ(0, deposit_depending(s, v.fd, "dev", "ram"));
	failed = absorbed = 0;
	for (n = 1; ; n++) {
		ASSERT_GE(FI_MAX_FAULTS, n);
		ASSERT_EQ(0, nth_arm(nth, n));
		err = fdbox_ioctl(s, FDBOX_FINALIZE, NULL);
		left = nth_disarm(nth);
		ASSERT_LE(0, left);
		if (err) {
			ASSERT_EQ(0, left) TH_LOG("finalize with no fault: %s", strerror(-err));
			ASSERT_EQ(-ENOMEM, err) TH_LOG("finalize, fault %u: %s", n, strerror(-err));
			info = list_item(s, NULL, "dev");
			ASSERT_TRUE(info && info->state == FDBOX_STATE_DEPOSITED);
			failed++;
			ASSERT_EQ(0, fdbox_ioctl(s, FDBOX_FINALIZE, NULL));
		} else if (!left) {
			absorbed++;
		}
		if (left)
			break;
		ASSERT_EQ(0, fdbox_ioctl(s, FDBOX_UNFINALIZE, NULL));
	}
	ksft_print_msg("finalize with a vfio device: %u fault points, %u refused it with ENOMEM, %u absorbed\n",
		       n - 1, failed, absorbed);
	/* Finalized: carried by the kexec at the end of this stage. */
	ASSERT_GT(fdbox_hold_forever(), 0);
	close_vdev(&v);
	close(m);
	close(s);
	close(nth);
}

TEST_F_TIMEOUT(fault_injection_stage1, kexec_freeze, 600)
{
	int nth, s, bar, big, err, m[ARRAY_SIZE(fi_kinds)];
	unsigned int i, n, failed = 0, absorbed = 0;
	long base, subtrees, left;

	FI_SETUP(nth);
	s = fdbox_session(FI_KEXEC);
	ASSERT_LE(0, s);
	for (i = 0; i < ARRAY_SIZE(fi_kinds); i++) {
		m[i] = kind_memfd(&fi_kinds[i], kexec_seed(i));
		if (m[i] == -EOPNOTSUPP)
			continue;
		ASSERT_LE(0, m[i]);
		ASSERT_EQ(0, fdbox_deposit(s, m[i], fi_kinds[i].name));
	}
	/*
	 * The barrier: named after FI_KEXEC, so frozen after it; a page
	 * written after the deposit where no run can describe it, so that
	 * its freeze fails with EFBIG without reaching a fault site.
	 */
	bar = fdbox_session(FI_BARRIER);
	ASSERT_LE(0, bar);
	big = memfd_create("far", MFD_CLOEXEC);
	ASSERT_LE(0, big);
	ASSERT_EQ(0, ftruncate(big, FI_FAR));
	ASSERT_EQ(0, fdbox_deposit(bar, big, "far"));
	ASSERT_EQ(1, pwrite(big, "x", 1, FI_FAR - PAGE));
	ASSERT_EQ(-EFBIG, fdbox_ioctl(bar, FDBOX_FINALIZE, NULL))
		TH_LOG("the barrier would not stop the kexec");
	base = kho_out("preserved_folios");
	subtrees = kho_out("subtrees");
	ASSERT_EQ(0, fdbox_next_load(NULL));

	for (n = 1; ; n++) {
		ASSERT_GE(FI_MAX_FAULTS, n) TH_LOG("kexec: still faulting");
		ASSERT_EQ(0, nth_arm(nth, n));
		err = kexec_reboot();	/* returns: the barrier refuses it */
		left = nth_disarm(nth);
		ASSERT_LE(0, left);
		if (left) {
			ASSERT_EQ(-EFBIG, err) TH_LOG("kexec with no fault: %s", strerror(-err));
		} else if (err == -EFBIG) {
			absorbed++;
		} else {
			failed++;
			ASSERT_EQ(-ENOMEM, err) TH_LOG("kexec, fault %u: %s, not ENOMEM",
						       n, strerror(-err));
		}
		check_after_kexec(_metadata, s, bar, m, base, subtrees, n);
		if (left)
			break;
	}
	ksft_print_msg("kexec-time freeze: %u fault points, %u refused the kexec with ENOMEM, %u absorbed\n",
		       n - 1, failed, absorbed);

	close(bar);
	close(big);
	ASSERT_EQ(base, kho_out("preserved_folios"));
	/*
	 * Hold the session; init scans for leaks and runs kexec -e, the
	 * kexec-time freeze that carries it, with no fault armed.
	 */
	ASSERT_GT(fdbox_hold_forever(), 0);
	close(nth);
}

/* ---- stage 2 ---- */

FDBOX_STAGE_FIXTURE(fault_injection_stage2);

TEST_F_TIMEOUT(fault_injection_stage2, attach, 300)
{
	struct fdbox_session_info si, before;
	struct fdbox_item_info *info;
	unsigned int i, n, failed = 0, absorbed = 0;
	int nth, probe, d, fd, err;
	long left;

	FI_SETUP(nth);
	probe = open(FDBOX_DESERIALIZE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, probe);
	ASSERT_TRUE(in_session(probe, FI_KEXEC, &before))
		TH_LOG("the kexec-time freeze did not carry %s", FI_KEXEC);
	ASSERT_TRUE(in_session(probe, FI_RETRIEVE, &si));
	ASSERT_FALSE(in_session(probe, FI_BARRIER, &si)) TH_LOG("the closed barrier arrived");

	/* Opening the device: an unattached file, closed again. */
	for (n = 1; ; n++) {
		ASSERT_GE(FI_MAX_FAULTS, n);
		ASSERT_EQ(0, nth_arm(nth, n));
		d = open(FDBOX_DESERIALIZE, O_RDWR | O_CLOEXEC);
		err = d < 0 ? -errno : 0;
		left = nth_disarm(nth);
		ASSERT_LE(0, left);
		if (d >= 0) {
			close(d);
			if (!left)
				absorbed++;
		} else {
			ASSERT_EQ(0, left) TH_LOG("open: %s with no fault", strerror(-err));
			failed++;
			ASSERT_EQ(-ENOMEM, err) TH_LOG("open, fault %u: %s, not ENOMEM",
						       n, strerror(-err));
		}
		if (left)
			break;
	}
	ksft_print_msg("open %s: %u fault points, %u failed with ENOMEM, %u absorbed\n",
		       FDBOX_DESERIALIZE, n - 1, failed, absorbed);

	/*
	 * FDBOX_ATTACH until it succeeds: an attached file cannot let go of
	 * its session without releasing it.
	 */
	d = open(FDBOX_DESERIALIZE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, d);
	failed = absorbed = 0;
	for (n = 1; ; n++) {
		ASSERT_GE(FI_MAX_FAULTS, n);
		ASSERT_EQ(0, nth_arm(nth, n));
		err = fdbox_name_op(d, FDBOX_ATTACH, FI_KEXEC);
		left = nth_disarm(nth);
		ASSERT_LE(0, left);
		if (!err) {
			absorbed += !left;
			break;
		}
		ASSERT_EQ(0, left) TH_LOG("attach: %s with no fault", strerror(-err));
		failed++;
		ASSERT_EQ(-ENOMEM, err) TH_LOG("attach, fault %u: %s, not ENOMEM", n, strerror(-err));
		ASSERT_TRUE(in_session(probe, FI_KEXEC, &si));
		ASSERT_EQ(0, si.attached) TH_LOG("attach, fault %u: failed but attached", n);
		ASSERT_EQ(before.nr_items, si.nr_items);
	}
	ksft_print_msg("attach: %u fault points, %u failed with ENOMEM%s\n", n - 1, failed,
		       absorbed ? ", then one absorbed (attached there)" : "");

	/* What the kexec-time freeze carried, byte for byte. */
	for (i = 0; i < ARRAY_SIZE(fi_kinds); i++) {
		info = list_item(d, NULL, fi_kinds[i].name);
		if (!info && fi_kinds[i].thp) {
			ksft_print_msg("%s: not deposited in stage 1\n", fi_kinds[i].name);
			continue;
		}
		ASSERT_TRUE(info != NULL) TH_LOG("%s did not arrive", fi_kinds[i].name);
		ASSERT_EQ(FDBOX_STATE_INCOMING, info->state);
		fd = fdbox_retrieve(d, fi_kinds[i].name, 0);
		ASSERT_LE(0, fd) TH_LOG("retrieve %s: %s", fi_kinds[i].name, strerror(-fd));
		check_memfd(_metadata, fd, fi_kinds[i].size, kexec_seed(i), fi_kinds[i].name);
		close(fd);
	}
	close(d);
	close(probe);
	close(nth);
}

/* Retrieve copies of @k, a fresh one at each failure point. */
static void retrieve_faults(struct __test_metadata *_metadata, int nth, int d,
			    unsigned int k)
{
	const struct fi_kind *kind = &fi_kinds[k];
	unsigned int i = 0, n, failed = 0, absorbed = 0, lost = 0;
	char label[FDBOX_NAME_MAX];
	struct fdbox_item_info *info;
	long restored, released, left;
	int fd;

	snprintf(label, sizeof(label), "%s-0", kind->name);
	if (!list_item(d, NULL, label) && kind->thp) {
		ksft_print_msg("retrieve %s: not deposited in stage 1\n", kind->name);
		return;
	}
	for (n = 1; ; n++) {
		ASSERT_GE(FI_MAX_FAULTS, n);
		ASSERT_GT(kind->copies, i)
			TH_LOG("retrieve %s: more fault points than copies (%u); raise them",
			       kind->name, kind->copies);
		snprintf(label, sizeof(label), "%s-%u", kind->name, i);
		info = list_item(d, NULL, label);
		ASSERT_TRUE(info != NULL) TH_LOG("%s is not listed", label);
		ASSERT_EQ(FDBOX_STATE_INCOMING, info->state);
		restored = kho_in("restored_bytes");
		released = kho_in("released_bytes");

		ASSERT_EQ(0, nth_arm(nth, n));
		fd = fdbox_retrieve(d, label, 0);
		left = nth_disarm(nth);
		ASSERT_LE(0, left);
		if (fd >= 0) {
			/* Whatever was absorbed, the file is whole. */
			check_memfd(_metadata, fd, kind->size, copy_seed(k, i), label);
			close(fd);
			EXPECT_EQ(released, kho_in("released_bytes")) TH_LOG("%s", label);
			i++;
			if (left)
				break;
			absorbed++;
			continue;
		}
		ASSERT_EQ(0, left) TH_LOG("retrieve %s: %s with no fault", label, strerror(-fd));
		failed++;
		/* shmem reports a failed inode allocation as ENOSPC, as memfd_create() does. */
		EXPECT_TRUE(fd == -ENOMEM || fd == -ENOSPC)
			TH_LOG("retrieve %s, fault %u: %s, not ENOMEM or ENOSPC", label, n,
			       strerror(-fd));
		/* Still there, untouched: nothing restored, nothing released. */
		info = list_item(d, NULL, label);
		if (!info || info->state != FDBOX_STATE_INCOMING ||
		    kho_in("restored_bytes") != restored || kho_in("released_bytes") != released)
			lost++;
		EXPECT_TRUE(info && info->state == FDBOX_STATE_INCOMING)
			TH_LOG("retrieve %s, fault %u: %s, and the item is %s", label, n,
			       strerror(-fd), info ? "no longer INCOMING" : "gone (released)");
		EXPECT_EQ(restored, kho_in("restored_bytes"))
			TH_LOG("retrieve %s, fault %u: KHO restored pages of a failed retrieve",
			       label, n);
		EXPECT_EQ(released, kho_in("released_bytes"))
			TH_LOG("retrieve %s, fault %u: KHO released pages of a failed retrieve",
			       label, n);
		/* The retry must find it whole. */
		fd = fdbox_retrieve(d, label, 0);
		EXPECT_LE(0, fd) TH_LOG("retrieve %s, retry after fault %u: %s", label, n,
					strerror(-fd));
		if (fd >= 0) {
			check_memfd(_metadata, fd, kind->size, copy_seed(k, i), label);
			close(fd);
		}
		i++;
	}
	ksft_print_msg("retrieve %s: %u fault points, %u failed with ENOMEM (%u of them lost the item), %u absorbed; %u copies used\n",
		       kind->name, n - 1, failed, lost, absorbed, i);
}

TEST_F_TIMEOUT(fault_injection_stage2, retrieve, 600)
{
	unsigned int k;
	int nth, d;

	FI_SETUP(nth);
	d = fdbox_attach(FI_RETRIEVE);
	ASSERT_LE(0, d) TH_LOG("attach %s: %s", FI_RETRIEVE, strerror(-d));
	for (k = 0; k < ARRAY_SIZE(fi_kinds); k++)
		retrieve_faults(_metadata, nth, d, k);
	/* The copies left over are released by the finish. */
	EXPECT_EQ(0, fdbox_finish(d));
	close(d);
	close(nth);
}

/* The device's retrieve at every failure point, until one succeeds. */
TEST_F_TIMEOUT(fault_injection_stage2, vfio_device, 300)
{
	unsigned int n, failed = 0;
	struct fdbox_item_info *info;
	struct vdev v = { .container = -1, .group = -1, .fd = -1 };
	int nth, d, fd;
	long left;

	if (find_pci(EDU_VENDOR, EDU_DEVICE, v.bdf, sizeof(v.bdf)))
		SKIP(return, "no edu device in this VM");
	FI_SETUP(nth);
	d = fdbox_attach(FI_VFIO);
	ASSERT_LE(0, d) TH_LOG("attach %s: %s", FI_VFIO, strerror(-d));
	for (n = 1; ; n++) {
		ASSERT_GE(FI_MAX_FAULTS, n);
		ASSERT_EQ(0, nth_arm(nth, n));
		fd = fdbox_retrieve(d, "dev", 0);
		left = nth_disarm(nth);
		ASSERT_LE(0, left);
		if (fd >= 0)
			break;
		ASSERT_EQ(0, left) TH_LOG("retrieve with no fault: %s", strerror(-fd));
		EXPECT_TRUE(fd == -ENOMEM || fd == -ENOSPC)
			TH_LOG("retrieve, fault %u: %s", n, strerror(-fd));
		info = list_item(d, NULL, "dev");
		ASSERT_TRUE(info && info->state == FDBOX_STATE_INCOMING)
			TH_LOG("retrieve, fault %u: the device item is gone", n);
		failed++;
	}
	/* A retrieve consumes the device: sites past an absorbed fault go untried. */
	ksft_print_msg("retrieve vfio device: %u failed with ENOMEM, then went through %s\n",
		       failed, left ? "reaching no further fault site" : "absorbing a fault");
	/* The device file works; the memfd it depends on is whole. */
	v.fd = fd;
	ASSERT_EQ(0, map_device(&v));
	EXPECT_EQ(0x010000ed, r32(&v, EDU_ID));
	fd = fdbox_retrieve(d, "ram", 0);
	ASSERT_LE(0, fd);
	check_memfd(_metadata, fd, fi_kinds[0].size, SEED, "ram");
	close(fd);
	EXPECT_EQ(0, fdbox_finish(d));
	close_vdev(&v);
	close(d);
	close(nth);
}

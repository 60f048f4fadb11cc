// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kexec HandOver: a test facility driven from debugfs.
 */

/**
 * DOC: Test facility
 *
 * ``/sys/kernel/debug/kho/test/ctl`` takes one command per write:
 *
 * ``preserve N SEED``
 *	allocate N folios of orders 0, 1, ... 10, 0, 1, ..., fill each with
 *	pseudo-random data from SEED, preserve them and add a "kho-test"
 *	subtree listing address, order and CRC32 of each
 * ``cancel``
 *	unpreserve and free them again
 * ``verify``
 *	in the next kernel: restore every folio of the incoming "kho-test"
 *	subtree and compare order and CRC32
 * ``release``
 *	free what ``verify`` restored, and release what it did not
 * ``scatter PAGES``
 *	preserve PAGES order-0 pages, each with a neighbour that is not
 *	preserved: the worst case of scattered memory (for measuring the
 *	handover's size; cancel undoes it)
 * ``contig PAGES ORDER``
 *	preserve PAGES pages as folios of ORDER (cancel undoes it)
 * ``batch``
 *	check kho_preserve_folios(): a batch holding a folio twice fails
 *	with -EEXIST and leaves none of its folios preserved; the same batch
 *	without the repeat preserves all (then undone); a batch of pages
 *	next to each other in memory (one run) is preserved whole, and is
 *	refused whole when one of its pages is preserved already. Fails with
 *	-EPROTO, after a log line, if not
 * ``scratch``
 *	check kho_range_in_scratch() at the edges of each scratch region: a
 *	span inside it, or reaching one byte into it, meets it; the pages
 *	just before and just after it do not (unless another region holds
 *	them). Fails with -EPROTO, after a log line, if not, and with
 *	-ENODATA if there is no scratch
 * ``leak``
 *	allocate 128 bytes and lose the pointer: a real leak, so that the
 *	test VM runner can show that a kmemleak report fails a run
 *
 * ``/sys/kernel/debug/kho/test/status`` reports the counts.
 *
 * Locking: kho_test_lock serializes the commands.
 */

#define pr_fmt(fmt) "kho-test: " fmt

#include <linux/crc32.h>
#include <linux/debugfs.h>
#include <linux/libfdt.h>
#include <linux/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "internal.h"

#define KHO_TEST_MAX_ORDER	10
#define KHO_TEST_NODE		"kho-test"

struct kho_test_rec {
	__le64 phys;
	__le32 order;
	__le32 crc;
};

static DEFINE_MUTEX(kho_test_lock);
static struct folio **kho_test_folios;
static unsigned long kho_test_nr;
static struct page **kho_test_spare;	/* scatter's unpreserved neighbours */
static unsigned long kho_test_nr_spare;
static void *kho_test_fdt;
static unsigned long kho_test_verified, kho_test_bad, kho_test_missing;
static unsigned long kho_test_released;

static u64 kho_test_next(u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static u32 kho_test_fill(struct folio *folio, u64 seed)
{
	u64 *p = folio_address(folio);
	size_t i, n = folio_size(folio) / sizeof(u64);
	u64 s = seed | 1;

	for (i = 0; i < n; i++)
		p[i] = kho_test_next(&s);
	return crc32_le(~0, (void *)p, folio_size(folio));
}

static void kho_test_drop(void)
{
	unsigned long i;

	kho_remove_subtree(KHO_TEST_NODE);
	for (i = 0; i < kho_test_nr; i++) {
		kho_unpreserve_folio(kho_test_folios[i]);
		folio_put(kho_test_folios[i]);
	}
	for (i = 0; i < kho_test_nr_spare; i++)
		__free_page(kho_test_spare[i]);
	kvfree(kho_test_folios);
	kvfree(kho_test_spare);
	kvfree(kho_test_fdt);
	kho_test_folios = NULL;
	kho_test_spare = NULL;
	kho_test_fdt = NULL;
	kho_test_nr = 0;
	kho_test_nr_spare = 0;
}

/* Preserve @nr folios of @order; with @spread, each page has a free neighbour. */
static int kho_test_bulk(unsigned long nr, unsigned int order, bool spread)
{
	unsigned long i;
	int err = 0;

	if (kho_test_nr || !nr || order > MAX_PAGE_ORDER || (spread && order))
		return -EINVAL;
	kho_test_folios = kvcalloc(nr, sizeof(*kho_test_folios), GFP_KERNEL);
	if (spread)
		kho_test_spare = kvcalloc(nr, sizeof(*kho_test_spare), GFP_KERNEL);
	if (!kho_test_folios || (spread && !kho_test_spare)) {
		err = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < nr; i++) {
		struct folio *folio;

		if (spread) {
			struct page *pair = alloc_pages(GFP_KERNEL | __GFP_NOWARN, 1);

			if (!pair) {
				err = -ENOMEM;
				goto fail;
			}
			split_page(pair, 1);
			kho_test_spare[kho_test_nr_spare++] = pair + 1;
			folio = page_folio(pair);
		} else {
			folio = folio_alloc(GFP_KERNEL | __GFP_NOWARN, order);
			if (!folio) {
				err = -ENOMEM;
				goto fail;
			}
		}
		err = kho_preserve_folio(folio);
		if (err) {
			folio_put(folio);
			goto fail;
		}
		kho_test_folios[kho_test_nr++] = folio;
		cond_resched();
	}
	return 0;
fail:
	kho_test_drop();
	return err;
}

static int kho_test_preserve(unsigned long n, u64 seed)
{
	size_t fdt_size = 4096 + n * sizeof(struct kho_test_rec);
	struct kho_test_rec *recs;
	unsigned long i;
	int err;

	if (kho_test_nr || !n || n > 100000)
		return -EINVAL;
	kho_test_folios = kvcalloc(n, sizeof(*kho_test_folios), GFP_KERNEL);
	recs = kvcalloc(n, sizeof(*recs), GFP_KERNEL);
	kho_test_fdt = kvzalloc(fdt_size, GFP_KERNEL);
	if (!kho_test_folios || !recs || !kho_test_fdt) {
		err = -ENOMEM;
		goto fail;
	}

	for (i = 0; i < n; i++) {
		unsigned int order = i % (KHO_TEST_MAX_ORDER + 1);
		struct folio *folio = folio_alloc(GFP_KERNEL, order);

		if (!folio) {
			err = -ENOMEM;
			goto fail;
		}
		kho_test_folios[kho_test_nr++] = folio;
		recs[i].phys = cpu_to_le64(folio_pfn(folio) << PAGE_SHIFT);
		recs[i].order = cpu_to_le32(order);
		recs[i].crc = cpu_to_le32(kho_test_fill(folio, seed + i));
		err = kho_preserve_folio(folio);
		if (err) {
			folio_put(folio);
			kho_test_nr--;
			goto fail;
		}
	}

	err = fdt_create(kho_test_fdt, fdt_size);
	err = err ?: fdt_finish_reservemap(kho_test_fdt);
	err = err ?: fdt_begin_node(kho_test_fdt, "");
	err = err ?: fdt_property_string(kho_test_fdt, "compatible", "kho-test-v1");
	err = err ?: fdt_property(kho_test_fdt, "folios", recs, n * sizeof(*recs));
	err = err ?: fdt_end_node(kho_test_fdt);
	err = err ?: fdt_finish(kho_test_fdt);
	if (err) {
		err = -EINVAL;
		goto fail;
	}
	err = kho_add_subtree(KHO_TEST_NODE, kho_test_fdt);
	if (err)
		goto fail;
	kvfree(recs);
	pr_info("preserved %lu folios\n", n);
	return 0;
fail:
	kvfree(recs);
	kho_test_drop();
	return err;
}

/* The records of the incoming "kho-test" subtree; their number, or -errno. */
static long kho_test_incoming(const struct kho_test_rec **recs)
{
	const void *fdt;
	int node, len;

	node = kho_find_subtree(KHO_TEST_NODE, &fdt);
	if (node < 0)
		return node;
	*recs = fdt_getprop(fdt, node, "folios", &len);
	if (!*recs || len % sizeof(**recs))
		return -EINVAL;
	return len / sizeof(**recs);
}

static int kho_test_verify(void)
{
	const struct kho_test_rec *recs;
	unsigned long i;
	long n;

	if (kho_test_folios)
		return -EBUSY;
	n = kho_test_incoming(&recs);
	if (n < 0)
		return n;
	kho_test_folios = kvcalloc(n, sizeof(*kho_test_folios), GFP_KERNEL);
	if (!kho_test_folios)
		return -ENOMEM;
	kho_test_nr = n;

	for (i = 0; i < n; i++) {
		unsigned int order = le32_to_cpu(recs[i].order);
		struct folio *folio = kho_restore_folio(le64_to_cpu(recs[i].phys));
		u32 crc;

		if (!folio) {
			kho_test_missing++;
			continue;
		}
		kho_test_folios[i] = folio;
		crc = crc32_le(~0, folio_address(folio), folio_size(folio));
		if (folio_order(folio) == order && crc == le32_to_cpu(recs[i].crc)) {
			kho_test_verified++;
		} else {
			kho_test_bad++;
			pr_err("folio %lu at %pa: order %u crc %08x, expected order %u crc %08x\n",
			       i, &recs[i].phys, folio_order(folio), crc, order,
			       le32_to_cpu(recs[i].crc));
		}
	}
	pr_info("verified %lu of %lu folios, %lu bad, %lu missing\n",
		kho_test_verified, n, kho_test_bad, kho_test_missing);
	return 0;
}

static int kho_test_release(void)
{
	const struct kho_test_rec *recs;
	unsigned long i;
	long n;

	/* The folios of a local "preserve" are still preserved: cancel them. */
	if (kho_test_fdt)
		return -EBUSY;
	n = kho_test_incoming(&recs);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		struct folio *folio = i < kho_test_nr ? kho_test_folios[i] : NULL;

		if (folio)
			folio_put(folio);
		else if (kho_release_folio(le64_to_cpu(recs[i].phys)))
			continue;
		kho_test_released++;
	}
	kvfree(kho_test_folios);
	kho_test_folios = NULL;
	kho_test_nr = 0;
	return 0;
}

static int kho_test_leak(void)
{
	void *p = kmalloc(128, GFP_KERNEL);

	if (!p)
		return -ENOMEM;
	memset(p, 0x6b, 128);
	/* %p prints a hash: no copy of the pointer is left to find. */
	pr_info("leaked 128 bytes on purpose (%p)\n", p);
	return 0;
}

/* Is @folio preserved? Preserving it again says so; that is undone. */
static bool kho_test_is_preserved(struct folio *folio)
{
	int err = kho_preserve_folio(folio);

	if (!err)
		kho_unpreserve_folio(folio);
	return err == -EEXIST;
}

static int kho_test_batch(void)
{
	struct folio *f[4] = { };
	int i, err = 0;

	for (i = 0; i < 3; i++) {
		f[i] = folio_alloc(GFP_KERNEL, i);
		if (!f[i]) {
			err = -ENOMEM;
			goto out;
		}
	}
	f[3] = f[1];
	if (kho_preserve_folios(f, 4) != -EEXIST) {
		pr_err("batch: a folio twice in a batch was not refused\n");
		err = -EPROTO;
	}
	for (i = 0; !err && i < 3; i++) {
		if (kho_test_is_preserved(f[i])) {
			pr_err("batch: folio %d stayed preserved after the batch failed\n", i);
			err = -EPROTO;
		}
	}
	if (!err)
		err = kho_preserve_folios(f, 3);
	for (i = 0; !err && i < 3; i++) {
		if (!kho_test_is_preserved(f[i])) {
			pr_err("batch: folio %d was not preserved\n", i);
			err = -EPROTO;
		}
	}
out:
	/* Whatever happened, nothing stays preserved over freed memory. */
	for (i = 0; i < 3; i++) {
		if (!f[i])
			continue;
		if (kho_test_is_preserved(f[i]))
			kho_unpreserve_folio(f[i]);
		folio_put(f[i]);
	}
	return err;
}

/* 1024 pages: a run across two bitmap chunks. */
#define KHO_TEST_RUN_ORDER	10

/* How many of @nr folios are preserved. */
static unsigned int kho_test_count_preserved(struct folio **f, unsigned int nr)
{
	unsigned int i, n = 0;

	for (i = 0; i < nr; i++)
		n += kho_test_is_preserved(f[i]);
	return n;
}

/*
 * kho_preserve_folios() on pages that follow each other: one run, across
 * a chunk of the bitmap, is preserved whole; a batch of two runs whose
 * second meets a preserved page leaves nothing of the first behind.
 */
static int kho_test_run(void)
{
	const unsigned int nr = 1U << KHO_TEST_RUN_ORDER, busy = nr * 3 / 4 + 32;
	struct folio **f, **two;
	struct page *page;
	unsigned int i, n;
	int err = 0;

	f = kcalloc(2 * nr, sizeof(*f), GFP_KERNEL);
	page = alloc_pages(GFP_KERNEL, KHO_TEST_RUN_ORDER);
	if (!f || !page) {
		kfree(f);
		if (page)
			__free_pages(page, KHO_TEST_RUN_ORDER);
		return -ENOMEM;
	}
	split_page(page, KHO_TEST_RUN_ORDER);
	for (i = 0; i < nr; i++)
		f[i] = page_folio(page + i);

	err = kho_preserve_folios(f, nr);
	n = kho_test_count_preserved(f, nr);
	if (err || n != nr) {
		pr_err("run: %d, %u of %u pages preserved\n", err, n, nr);
		err = -EPROTO;
	}
	/* Undone a page at a time: a run's bits are bits like any. */
	for (i = 0; i < nr; i++)
		if (kho_test_is_preserved(f[i]))
			kho_unpreserve_folio(f[i]);

	/* Pages [0, nr/2) and [3nr/4, nr): two runs, the second over @busy. */
	two = f + nr;
	for (i = 0; i < nr / 2; i++)
		two[i] = f[i];
	for (i = 0; i < nr / 4; i++)
		two[nr / 2 + i] = f[nr * 3 / 4 + i];
	if (!err)
		err = kho_preserve_folio(f[busy]);
	if (!err) {
		int ret = kho_preserve_folios(two, nr * 3 / 4);

		n = kho_test_count_preserved(f, nr);
		if (ret != -EEXIST || n != 1) {
			pr_err("run: over a preserved page: %d, %u preserved\n", ret, n);
			err = -EPROTO;
		}
	}
	/* Whatever happened, nothing stays preserved over freed memory. */
	for (i = 0; i < nr; i++) {
		if (kho_test_is_preserved(f[i]))
			kho_unpreserve_folio(f[i]);
		__free_page(page + i);
	}
	kfree(f);
	return err;
}

/* Is the page at @phys in a scratch region other than @skip? */
static bool kho_test_other_scratch(phys_addr_t phys, unsigned int skip)
{
	unsigned int i;

	for (i = 0; i < kho_nr_scratch; i++)
		if (i != skip && phys >= kho_scratch[i].start &&
		    phys < kho_scratch[i].start + kho_scratch[i].size)
			return true;
	return false;
}

/* Does kho_range_in_scratch(@phys, @size) say @want? */
static int kho_test_expect(phys_addr_t phys, phys_addr_t size, bool want,
			   unsigned int i)
{
	if (kho_range_in_scratch(phys, size) == want)
		return 0;
	pr_err("scratch: region %u: [%pa, +%pa) should%s meet scratch\n",
	       i, &phys, &size, want ? "" : " not");
	return -EPROTO;
}

static int kho_test_scratch(void)
{
	unsigned int i;
	int err = 0;

	if (!kho_nr_scratch) {
		pr_err("scratch: no scratch region\n");
		return -ENODATA;
	}
	for (i = 0; !err && i < kho_nr_scratch; i++) {
		phys_addr_t start = kho_scratch[i].start, size = kho_scratch[i].size;
		phys_addr_t end = start + size;

		err = kho_test_expect(start, size, true, i) ?:
		      kho_test_expect(end - 1, PAGE_SIZE, true, i) ?:
		      kho_test_expect(start - PAGE_SIZE, PAGE_SIZE + 1, true, i);
		if (!err && !kho_test_other_scratch(start - PAGE_SIZE, i))
			err = kho_test_expect(start - PAGE_SIZE, PAGE_SIZE, false, i);
		if (!err && !kho_test_other_scratch(end, i))
			err = kho_test_expect(end, PAGE_SIZE, false, i);
	}
	return err;
}

static ssize_t kho_test_ctl_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	unsigned long n;
	u64 seed;
	char buf[64];
	int err;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';

	mutex_lock(&kho_test_lock);
	if (sscanf(buf, "preserve %lu %llu", &n, &seed) == 2)
		err = kho_test_preserve(n, seed);
	else if (sscanf(buf, "scatter %lu", &n) == 1)
		err = kho_test_bulk(n, 0, true);
	else if (sscanf(buf, "contig %lu %llu", &n, &seed) == 2)
		err = seed > MAX_PAGE_ORDER ? -EINVAL : kho_test_bulk(n >> seed, seed, false);
	else if (sysfs_streq(buf, "cancel"))
		err = kho_test_nr ? (kho_test_drop(), 0) : -ENOENT;
	else if (sysfs_streq(buf, "verify"))
		err = kho_test_verify();
	else if (sysfs_streq(buf, "release"))
		err = kho_test_release();
	else if (sysfs_streq(buf, "batch"))
		err = kho_test_batch() ?: kho_test_run();
	else if (sysfs_streq(buf, "scratch"))
		err = kho_test_scratch();
	else if (sysfs_streq(buf, "leak"))
		err = kho_test_leak();
	else
		err = -EINVAL;
	mutex_unlock(&kho_test_lock);
	return err ?: count;
}

static const struct file_operations kho_test_ctl_fops = {
	.owner = THIS_MODULE,
	.write = kho_test_ctl_write,
	.llseek = noop_llseek,
};

static int kho_test_status_show(struct seq_file *m, void *v)
{
	mutex_lock(&kho_test_lock);
	seq_printf(m, "folios %lu\n", kho_test_nr);
	seq_printf(m, "verified %lu\n", kho_test_verified);
	seq_printf(m, "bad %lu\n", kho_test_bad);
	seq_printf(m, "missing %lu\n", kho_test_missing);
	seq_printf(m, "released %lu\n", kho_test_released);
	mutex_unlock(&kho_test_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kho_test_status);

static int __init kho_test_init(void)
{
	struct dentry *kho, *dir;

	if (!kho_enabled)
		return 0;
	kho = debugfs_lookup("kho", NULL);
	dir = debugfs_create_dir("test", kho);
	dput(kho);
	debugfs_create_file("ctl", 0200, dir, NULL, &kho_test_ctl_fops);
	debugfs_create_file("status", 0400, dir, NULL, &kho_test_status_fops);
	return 0;
}
late_initcall_sync(kho_test_init);

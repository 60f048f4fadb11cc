// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kexec HandOver: the outgoing side, what the next kernel will get.
 */

/**
 * DOC: Preserving memory
 *
 * A subsystem preserves memory in folios: kho_preserve_folio() marks a
 * naturally aligned folio of any order, kho_preserve_phys() splits a page
 * range into such folios. Nothing is copied and nothing is pinned: the
 * caller keeps the memory allocated until the kexec, or calls the matching
 * unpreserve. At kexec the set is serialized (serialize.c).
 *
 * The set is a bitmap per folio order, one bit per folio, kept in 512-bit
 * chunks in an xarray indexed by (pfn >> order) / 512. A chunk exists only
 * while one of its bits is set, so the cost follows the preserved memory,
 * not the size of RAM. kho_preserve_folios() preserves folios that follow
 * each other in memory as one run: one check for the run and its bits set
 * a chunk at a time, so a batch of a file's pages costs little more than
 * one folio.
 *
 * Subsystems add their own description with kho_add_subtree(): an FDT that
 * becomes a node of the handover FDT.
 *
 * Locking: kho_out_lock (a mutex) protects the bitmaps, the subtree list,
 * the counters and kho_out_frozen. Preserve and unpreserve may sleep. Once
 * the kexec has serialized the set (kho_out_frozen), preserving fails with
 * -EBUSY.
 */

#define pr_fmt(fmt) "kho: " fmt

#include <linux/list.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/xarray.h>

#include "internal.h"

#define CHUNK_BITS	KHO_BITMAP_FOLIOS

struct kho_chunk {
	DECLARE_BITMAP(bits, CHUNK_BITS);
};

struct kho_subtree {
	struct list_head list;
	const char *name;
	const void *fdt;
};

/* Protects everything outgoing: see "Locking" above. */
DEFINE_MUTEX(kho_out_lock);
bool kho_out_frozen;

static struct xarray kho_out_chunks[KHO_NR_ORDERS];
/* Folios preserved per order: the overlap check skips empty orders. */
static unsigned long kho_out_nr[KHO_NR_ORDERS];
static LIST_HEAD(kho_out_subtrees);
static unsigned long kho_out_folios;
static unsigned long kho_out_bytes;
static unsigned int kho_out_nr_subtrees;

static int __init kho_preserve_init(void)
{
	int i;

	for (i = 0; i < KHO_NR_ORDERS; i++)
		xa_init(&kho_out_chunks[i]);
	return 0;
}
early_initcall(kho_preserve_init);

/* Is any bit of [first, last] set in the bitmap of @order? */
static bool kho_out_any(unsigned int order, unsigned long first, unsigned long last)
{
	unsigned long index = first / CHUNK_BITS;
	struct kho_chunk *chunk;

	xa_for_each_range(&kho_out_chunks[order], index, chunk,
			  first / CHUNK_BITS, last / CHUNK_BITS) {
		unsigned long lo = max(first, index * CHUNK_BITS);
		unsigned long hi = min(last, index * CHUNK_BITS + CHUNK_BITS - 1);
		unsigned long bit = find_next_bit(chunk->bits, CHUNK_BITS,
						  lo % CHUNK_BITS);

		if (bit < CHUNK_BITS && index * CHUNK_BITS + bit <= hi)
			return true;
	}
	return false;
}

/*
 * Is any page of [pfn, end) preserved, in any order? In order o the
 * folios that can hold such a page are those from pfn >> o to
 * (end - 1) >> o, whether they are smaller or larger than the range.
 */
static bool kho_out_overlaps(unsigned long pfn, unsigned long end)
{
	unsigned int o;

	for (o = 0; o < KHO_NR_ORDERS; o++)
		if (kho_out_nr[o] && kho_out_any(o, pfn >> o, (end - 1) >> o))
			return true;
	return false;
}

/* Clear the bits of @nr folios of @order from @pfn; free emptied chunks. */
static void kho_out_clear(unsigned long pfn, unsigned int order, unsigned long nr)
{
	unsigned long idx = pfn >> order, last = idx + nr - 1;

	while (idx <= last) {
		unsigned long c = idx / CHUNK_BITS;
		unsigned long n = min(last + 1, (c + 1) * CHUNK_BITS) - idx;
		struct kho_chunk *chunk = xa_load(&kho_out_chunks[order], c);

		if (!WARN_ON_ONCE(!chunk)) {
			bitmap_clear(chunk->bits, idx % CHUNK_BITS, n);
			if (bitmap_empty(chunk->bits, CHUNK_BITS)) {
				xa_erase(&kho_out_chunks[order], c);
				kfree(chunk);
			}
		}
		idx += n;
	}
}

/*
 * Preserve @nr folios of @order, one after the other from @pfn: a run.
 * The checks are made once for the whole run and the bits set a chunk at
 * a time, so a physically contiguous file costs per chunk, not per page.
 */
static int __kho_preserve_run(unsigned long pfn, unsigned int order, unsigned long nr)
{
	unsigned long idx = pfn >> order, last = idx + nr - 1;
	unsigned long end = pfn + (nr << order);

	lockdep_assert_held(&kho_out_lock);

	if (order >= KHO_NR_ORDERS || pfn & ((1UL << order) - 1) || !nr || end < pfn)
		return -EINVAL;
	if (kho_overlaps_scratch(PFN_PHYS(pfn), PFN_PHYS(end - pfn)))
		return -EINVAL;
	if (kho_out_overlaps(pfn, end))
		return -EEXIST;

	while (idx <= last) {
		unsigned long c = idx / CHUNK_BITS;
		unsigned long n = min(last + 1, (c + 1) * CHUNK_BITS) - idx;
		struct kho_chunk *chunk = xa_load(&kho_out_chunks[order], c);
		int err;

		if (!chunk) {
			chunk = kzalloc(sizeof(*chunk), GFP_KERNEL);
			err = chunk ? xa_err(xa_store(&kho_out_chunks[order], c,
						      chunk, GFP_KERNEL)) : -ENOMEM;
			if (err) {
				kfree(chunk);
				if (idx > pfn >> order)
					kho_out_clear(pfn, order, idx - (pfn >> order));
				return err;
			}
		}
		bitmap_set(chunk->bits, idx % CHUNK_BITS, n);
		idx += n;
	}
	kho_out_nr[order] += nr;
	kho_out_folios += nr;
	kho_out_bytes += (PAGE_SIZE << order) * nr;
	return 0;
}

static int __kho_preserve(unsigned long pfn, unsigned int order)
{
	return __kho_preserve_run(pfn, order, 1);
}

static void __kho_unpreserve_run(unsigned long pfn, unsigned int order, unsigned long nr)
{
	lockdep_assert_held(&kho_out_lock);

	kho_out_clear(pfn, order, nr);
	kho_out_nr[order] -= nr;
	kho_out_folios -= nr;
	kho_out_bytes -= (PAGE_SIZE << order) * nr;
}

static void __kho_unpreserve(unsigned long pfn, unsigned int order)
{
	unsigned long idx = pfn >> order;
	struct kho_chunk *chunk;

	lockdep_assert_held(&kho_out_lock);

	chunk = xa_load(&kho_out_chunks[order], idx / CHUNK_BITS);
	if (WARN_ON_ONCE(!chunk || !test_bit(idx % CHUNK_BITS, chunk->bits)))
		return;
	__kho_unpreserve_run(pfn, order, 1);
}

/**
 * kho_folio_in_scratch - must this folio move before it can be preserved?
 * @folio: a folio of movable memory
 *
 * Scratch is lent to movable allocations until the kexec (lend.c), and
 * kho_preserve_folio() refuses a folio in it: its owner migrates it out
 * first, for instance with a long-term pin.
 *
 * Return: true if any page of @folio is in scratch.
 */
bool kho_folio_in_scratch(struct folio *folio)
{
	return kho_overlaps_scratch(PFN_PHYS(folio_pfn(folio)), folio_size(folio));
}
EXPORT_SYMBOL_GPL(kho_folio_in_scratch);

/**
 * kho_range_in_scratch - does a physical range meet KHO scratch?
 * @phys: its start
 * @size: its size in bytes
 *
 * One check for many folios: a caller whose folios lie in a range that
 * does not meet scratch need not check each of them.
 *
 * Return: true if any byte of the range is in scratch.
 */
bool kho_range_in_scratch(phys_addr_t phys, phys_addr_t size)
{
	return kho_overlaps_scratch(phys, size);
}
EXPORT_SYMBOL_GPL(kho_range_in_scratch);

/**
 * kho_preserve_folio - hand a folio over to the next kernel
 * @folio: the folio; it must stay allocated by the caller until the kexec
 *
 * The next kernel keeps the folio's pages out of its allocators and gives
 * them back, as a folio of the same order, through kho_restore_folio().
 *
 * Return: 0, -EEXIST if any of its pages is already preserved, -EINVAL if
 * the folio lies in a scratch area, -EBUSY after the kexec has started
 * serializing, -ENODEV if KHO is disabled, -ENOMEM.
 */
int kho_preserve_folio(struct folio *folio)
{
	int err;

	if (!kho_enabled)
		return -ENODEV;
	mutex_lock(&kho_out_lock);
	err = kho_out_frozen ? -EBUSY :
	      __kho_preserve(folio_pfn(folio), folio_order(folio));
	mutex_unlock(&kho_out_lock);
	return err;
}
EXPORT_SYMBOL_GPL(kho_preserve_folio);

/* How many folios from @folios[0] follow each other in memory, same order. */
static unsigned int kho_folios_run(struct folio **folios, unsigned int nr)
{
	unsigned long pfn = folio_pfn(folios[0]);
	unsigned int order = folio_order(folios[0]), n;

	for (n = 1; n < nr; n++)
		if (folio_order(folios[n]) != order ||
		    folio_pfn(folios[n]) != pfn + ((unsigned long)n << order))
			break;
	return n;
}

/**
 * kho_preserve_folios - hand a batch of folios over to the next kernel
 * @folios: the folios, as for kho_preserve_folio()
 * @nr: how many
 *
 * One lock for the whole batch, and folios that follow each other in
 * memory are preserved together, as one run: a subsystem walking a large
 * file preserves its folios a batch at a time.
 *
 * Return: as kho_preserve_folio(), -EEXIST also for a folio twice in
 * @folios, -EINVAL for one in scratch; on error none of them stays
 * preserved.
 */
int kho_preserve_folios(struct folio **folios, unsigned int nr)
{
	unsigned int i, n;
	int err = 0;

	if (!kho_enabled)
		return -ENODEV;
	mutex_lock(&kho_out_lock);
	if (kho_out_frozen) {
		mutex_unlock(&kho_out_lock);
		return -EBUSY;
	}
	for (i = 0; i < nr; i += n) {
		n = kho_folios_run(folios + i, nr - i);
		err = __kho_preserve_run(folio_pfn(folios[i]), folio_order(folios[i]), n);
		if (err)
			break;
	}
	if (err) {
		nr = i;
		for (i = 0; i < nr; i += n) {
			n = kho_folios_run(folios + i, nr - i);
			__kho_unpreserve_run(folio_pfn(folios[i]), folio_order(folios[i]), n);
		}
	}
	mutex_unlock(&kho_out_lock);
	return err;
}
EXPORT_SYMBOL_GPL(kho_preserve_folios);

/**
 * kho_unpreserve_folio - undo kho_preserve_folio()
 * @folio: a folio preserved with kho_preserve_folio()
 */
void kho_unpreserve_folio(struct folio *folio)
{
	mutex_lock(&kho_out_lock);
	if (!WARN_ON_ONCE(kho_out_frozen))
		__kho_unpreserve(folio_pfn(folio), folio_order(folio));
	mutex_unlock(&kho_out_lock);
}
EXPORT_SYMBOL_GPL(kho_unpreserve_folio);

/* The largest naturally aligned order at pfn that fits in nr pages. */
static unsigned int kho_split_order(unsigned long pfn, unsigned long nr)
{
	unsigned int order = min_t(unsigned int, pfn ? __ffs(pfn) : BITS_PER_LONG - 1,
				   ilog2(nr));

	return min_t(unsigned int, order, KHO_NR_ORDERS - 1);
}

/**
 * kho_preserve_phys - hand a page range over to the next kernel
 * @phys: page-aligned physical start
 * @size: page-aligned size in bytes
 *
 * The range is preserved as the fewest naturally aligned folios that cover
 * it; kho_restore_phys() gives it back as order-0 pages.
 *
 * Return: as kho_preserve_folio(); on error nothing stays preserved.
 */
int kho_preserve_phys(phys_addr_t phys, size_t size)
{
	unsigned long pfn = PHYS_PFN(phys), end = PHYS_PFN(phys + size);
	unsigned long cur;
	int err = 0;

	if (!kho_enabled)
		return -ENODEV;
	if (!PAGE_ALIGNED(phys) || !PAGE_ALIGNED(size) || !size || phys + size < phys)
		return -EINVAL;

	mutex_lock(&kho_out_lock);
	if (kho_out_frozen) {
		err = -EBUSY;
		goto out;
	}
	for (cur = pfn; cur < end; ) {
		unsigned int order = kho_split_order(cur, end - cur);

		err = __kho_preserve(cur, order);
		if (err)
			break;
		cur += 1UL << order;
	}
	if (err) {
		end = cur;
		for (cur = pfn; cur < end; ) {
			unsigned int order = kho_split_order(cur, end - cur);

			__kho_unpreserve(cur, order);
			cur += 1UL << order;
		}
	}
out:
	mutex_unlock(&kho_out_lock);
	return err;
}
EXPORT_SYMBOL_GPL(kho_preserve_phys);

/**
 * kho_unpreserve_phys - undo kho_preserve_phys()
 * @phys: the start given to kho_preserve_phys()
 * @size: the size given to kho_preserve_phys()
 */
void kho_unpreserve_phys(phys_addr_t phys, size_t size)
{
	unsigned long cur = PHYS_PFN(phys), end = PHYS_PFN(phys + size);

	mutex_lock(&kho_out_lock);
	if (!WARN_ON_ONCE(kho_out_frozen)) {
		while (cur < end) {
			unsigned int order = kho_split_order(cur, end - cur);

			__kho_unpreserve(cur, order);
			cur += 1UL << order;
		}
	}
	mutex_unlock(&kho_out_lock);
}
EXPORT_SYMBOL_GPL(kho_unpreserve_phys);

/**
 * kho_add_subtree - add a subsystem's description to the handover
 * @name: node name in the handover FDT, unique among subsystems
 * @fdt: a flattened device tree; KHO copies its root node's properties and
 *	children under /@name when the kexec happens, so it must stay valid
 *	and unchanged until kho_remove_subtree() or the kexec
 *
 * Return: 0, -EEXIST if @name is taken, -EBUSY after serialization started,
 * -ENODEV if KHO is disabled, -ENOMEM.
 */
int kho_add_subtree(const char *name, const void *fdt)
{
	struct kho_subtree *st;
	int err = 0;

	if (!kho_enabled)
		return -ENODEV;
	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	st->name = kstrdup(name, GFP_KERNEL);
	st->fdt = fdt;
	if (!st->name) {
		kfree(st);
		return -ENOMEM;
	}

	mutex_lock(&kho_out_lock);
	if (kho_out_frozen) {
		err = -EBUSY;
	} else {
		struct kho_subtree *pos;

		list_for_each_entry(pos, &kho_out_subtrees, list)
			if (!strcmp(pos->name, name))
				err = -EEXIST;
	}
	if (!err) {
		list_add_tail(&st->list, &kho_out_subtrees);
		kho_out_nr_subtrees++;
	}
	mutex_unlock(&kho_out_lock);

	if (err) {
		kfree(st->name);
		kfree(st);
	}
	return err;
}
EXPORT_SYMBOL_GPL(kho_add_subtree);

/**
 * kho_remove_subtree - take a description out of the handover
 * @name: the name given to kho_add_subtree()
 */
void kho_remove_subtree(const char *name)
{
	struct kho_subtree *st, *found = NULL;

	mutex_lock(&kho_out_lock);
	list_for_each_entry(st, &kho_out_subtrees, list) {
		if (!strcmp(st->name, name)) {
			found = st;
			list_del(&st->list);
			kho_out_nr_subtrees--;
			break;
		}
	}
	mutex_unlock(&kho_out_lock);
	if (found) {
		kfree(found->name);
		kfree(found);
	}
}
EXPORT_SYMBOL_GPL(kho_remove_subtree);

/* Fill @st if not NULL; tell whether anything is to be handed over. */
bool kho_out_stats_locked(struct kho_out_stats *st)
{
	lockdep_assert_held(&kho_out_lock);
	if (st) {
		st->folios = kho_out_folios;
		st->bytes = kho_out_bytes;
		st->subtrees = kho_out_nr_subtrees;
	}
	return kho_out_folios || kho_out_nr_subtrees;
}

void kho_out_stats(struct kho_out_stats *st)
{
	mutex_lock(&kho_out_lock);
	kho_out_stats_locked(st);
	mutex_unlock(&kho_out_lock);
}

/* Call @fn for every chunk of @order in pfn order. Caller holds kho_out_lock. */
int kho_out_walk_chunks(unsigned int order,
			int (*fn)(unsigned long first_pfn, const unsigned long *bits,
				  void *arg), void *arg)
{
	struct kho_chunk *chunk;
	unsigned long index;
	int err;

	lockdep_assert_held(&kho_out_lock);
	xa_for_each(&kho_out_chunks[order], index, chunk) {
		err = fn((index * CHUNK_BITS) << order, chunk->bits, arg);
		if (err)
			return err;
	}
	return 0;
}

/* Call @fn for every subtree in the order they were added. Caller holds kho_out_lock. */
int kho_out_walk_subtrees(int (*fn)(const char *name, const void *fdt, void *arg),
			  void *arg)
{
	struct kho_subtree *st;
	int err;

	lockdep_assert_held(&kho_out_lock);
	list_for_each_entry(st, &kho_out_subtrees, list) {
		err = fn(st->name, st->fdt, arg);
		if (err)
			return err;
	}
	return 0;
}

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
 * not the size of RAM.
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

static bool kho_out_test(unsigned long pfn, unsigned int order)
{
	unsigned long idx = pfn >> order;
	struct kho_chunk *chunk = xa_load(&kho_out_chunks[order], idx / CHUNK_BITS);

	return chunk && test_bit(idx % CHUNK_BITS, chunk->bits);
}

/* Is any page of [pfn, pfn + 2^order) preserved, in any order? */
static bool kho_out_overlaps(unsigned long pfn, unsigned int order)
{
	unsigned long end = pfn + (1UL << order);
	unsigned int o;

	for (o = 0; o < KHO_NR_ORDERS; o++) {
		unsigned long first, last, index;
		struct kho_chunk *chunk;

		if (!kho_out_nr[o])
			continue;
		if (o >= order) {
			if (kho_out_test(pfn & ~((1UL << o) - 1), o))
				return true;
			continue;
		}
		/* Smaller folios inside the range: any bit in [first, last]. */
		first = pfn >> o;
		last = (end >> o) - 1;
		index = first / CHUNK_BITS;
		xa_for_each_range(&kho_out_chunks[o], index, chunk,
				  first / CHUNK_BITS, last / CHUNK_BITS) {
			unsigned long lo = max(first, index * CHUNK_BITS);
			unsigned long hi = min(last, index * CHUNK_BITS + CHUNK_BITS - 1);
			unsigned long bit = find_next_bit(chunk->bits, CHUNK_BITS,
							  lo % CHUNK_BITS);

			if (bit < CHUNK_BITS && index * CHUNK_BITS + bit <= hi)
				return true;
		}
	}
	return false;
}

static int __kho_preserve(unsigned long pfn, unsigned int order)
{
	unsigned long idx = pfn >> order;
	struct kho_chunk *chunk;
	int err;

	lockdep_assert_held(&kho_out_lock);

	if (order >= KHO_NR_ORDERS || pfn & ((1UL << order) - 1))
		return -EINVAL;
	if (kho_overlaps_scratch(PFN_PHYS(pfn), PFN_PHYS(1UL << order)))
		return -EINVAL;
	if (kho_out_overlaps(pfn, order))
		return -EEXIST;

	chunk = xa_load(&kho_out_chunks[order], idx / CHUNK_BITS);
	if (!chunk) {
		chunk = kzalloc(sizeof(*chunk), GFP_KERNEL);
		if (!chunk)
			return -ENOMEM;
		err = xa_err(xa_store(&kho_out_chunks[order], idx / CHUNK_BITS,
				      chunk, GFP_KERNEL));
		if (err) {
			kfree(chunk);
			return err;
		}
	}
	__set_bit(idx % CHUNK_BITS, chunk->bits);
	kho_out_nr[order]++;
	kho_out_folios++;
	kho_out_bytes += PAGE_SIZE << order;
	return 0;
}

static void __kho_unpreserve(unsigned long pfn, unsigned int order)
{
	unsigned long idx = pfn >> order;
	struct kho_chunk *chunk;

	lockdep_assert_held(&kho_out_lock);

	chunk = xa_load(&kho_out_chunks[order], idx / CHUNK_BITS);
	if (WARN_ON_ONCE(!chunk || !test_bit(idx % CHUNK_BITS, chunk->bits)))
		return;
	__clear_bit(idx % CHUNK_BITS, chunk->bits);
	kho_out_nr[order]--;
	kho_out_folios--;
	kho_out_bytes -= PAGE_SIZE << order;
	if (bitmap_empty(chunk->bits, CHUNK_BITS)) {
		xa_erase(&kho_out_chunks[order], idx / CHUNK_BITS);
		kfree(chunk);
	}
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

/**
 * kho_preserve_folios - hand a batch of folios over to the next kernel
 * @folios: the folios, as for kho_preserve_folio()
 * @nr: how many
 *
 * One lock for the whole batch: a subsystem walking a large file
 * preserves its folios a batch at a time.
 *
 * Return: as kho_preserve_folio(), -EEXIST also for a folio twice in
 * @folios, -EINVAL for one in scratch; on error none of them stays
 * preserved.
 */
int kho_preserve_folios(struct folio **folios, unsigned int nr)
{
	unsigned int i;
	int err = 0;

	if (!kho_enabled)
		return -ENODEV;
	mutex_lock(&kho_out_lock);
	if (kho_out_frozen) {
		mutex_unlock(&kho_out_lock);
		return -EBUSY;
	}
	for (i = 0; i < nr; i++) {
		err = __kho_preserve(folio_pfn(folios[i]), folio_order(folios[i]));
		if (err)
			break;
	}
	if (err) {
		while (i--)
			__kho_unpreserve(folio_pfn(folios[i]), folio_order(folios[i]));
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

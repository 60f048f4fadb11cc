// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kexec HandOver: the incoming side, giving preserved memory back.
 */

/**
 * DOC: Restoring and releasing
 *
 * After boot, preserved folios sit in the memory map as memmap init left
 * them (refcount 1, no page flags), outside the page allocator and the
 * zones' managed pages; early boot touches none of them one by one.
 * Their owner finds its description with kho_find_subtree() and then,
 * folio by folio:
 *
 * - kho_restore_folio() turns the pages back into a folio of the preserved
 *   order (compound for order > 0), refcount 1, counted as managed memory:
 *   ready for a page cache. kho_restore_phys() does the same for a range
 *   preserved with kho_preserve_phys(), as order-0 pages.
 * - kho_release_folio() and kho_release_phys() give memory nobody wants
 *   back to the page allocator.
 *
 * A folio is restored or released once: a bit per preserved folio records
 * it (kho_in_taken), so that a second call cannot touch memory that has a
 * new owner.
 *
 * Locking: kho_in_lock (a mutex) serializes restores and releases and
 * protects the counters and kho_in_taken, which kho_holds_range() also
 * reads without it (a hint for the page allocator). The index of
 * preserved runs is read-only after boot.
 */

#define pr_fmt(fmt) "kho: " fmt

#include <linux/libfdt.h>
#include <linux/mm.h>
#include <linux/page_ref.h>

#include "../internal.h"
#include "internal.h"

static DEFINE_MUTEX(kho_in_lock);
static unsigned long kho_in_restored;
static unsigned long kho_in_released;

/**
 * kho_handover_present - did the previous kernel hand memory over?
 *
 * Return: true if a valid handover was received at boot.
 */
bool kho_handover_present(void)
{
	return kho_in_fdt;
}
EXPORT_SYMBOL_GPL(kho_handover_present);

/**
 * kho_find_subtree - find a subsystem's incoming description
 * @name: the name the previous kernel gave kho_add_subtree()
 * @fdt: set to the handover FDT, which stays mapped and unchanged
 *
 * Return: the offset of node /@name in *@fdt, or -ENOENT.
 */
int kho_find_subtree(const char *name, const void **fdt)
{
	int off;

	if (!kho_in_fdt)
		return -ENOENT;
	off = fdt_subnode_offset(kho_in_fdt, 0, name);
	if (off < 0)
		return -ENOENT;
	*fdt = kho_in_fdt;
	return off;
}
EXPORT_SYMBOL_GPL(kho_find_subtree);

/* The order of the preserved folio starting at @pfn, or -ENOENT / -EBUSY. */
static int kho_in_folio_order(unsigned long pfn, unsigned long *idx)
{
	const struct kho_run *r = kho_in_lookup(pfn);
	struct page *page;

	if (!r || (pfn - r->pfn) & ((1UL << r->order) - 1))
		return -ENOENT;
	*idx = r->idx + ((pfn - r->pfn) >> r->order);
	if (test_bit(*idx, kho_in_taken))
		return -EBUSY;	/* restored or released already */
	/* Not as boot left it (freed, or reserved by someone): keep off it. */
	page = pfn_to_page(pfn);
	if (WARN_ON_ONCE(PageBuddy(page) || !page_ref_count(page) || PageReserved(page)))
		return -EBUSY;
	return r->order;
}

/* Make the pages of a preserved folio ordinary memory again. */
static void kho_in_revive(unsigned long pfn, unsigned int order, bool compound)
{
	struct page *page = pfn_to_page(pfn);
	unsigned long i, nr = 1UL << order;

	for (i = 0; i < nr; i++) {
		/* Each page as memmap init left it, or something else had it. */
		VM_WARN_ON_ONCE_PAGE(page_ref_count(page + i) != 1 ||
				     (page[i].flags & PAGE_FLAGS_CHECK_AT_PREP) ||
				     page[i].mapping || page_has_type(page + i), page + i);
		set_page_count(page + i, compound && i ? 0 : 1);
	}
	if (compound && order)
		prep_compound_page(page, order);
	adjust_managed_page_count(page, nr);
}

/**
 * kho_restore_folio - take back a preserved folio
 * @phys: physical address of the folio, as it was preserved
 *
 * Return: the folio, with the order it was preserved with and a reference
 * the caller owns; NULL if no preserved folio starts at @phys or it was
 * restored or released already.
 */
struct folio *kho_restore_folio(phys_addr_t phys)
{
	unsigned long pfn = PHYS_PFN(phys), idx;
	struct folio *folio;
	int order;

	if (!PAGE_ALIGNED(phys))
		return NULL;
	mutex_lock(&kho_in_lock);
	order = kho_in_folio_order(pfn, &idx);
	if (order >= 0) {
		__set_bit(idx, kho_in_taken);
		kho_in_revive(pfn, order, true);
		kho_in_restored += 1UL << order;
	}
	mutex_unlock(&kho_in_lock);
	if (order < 0)
		return NULL;
	folio = page_folio(pfn_to_page(pfn));
	/* As folio_alloc() leaves it, for page cache and rmap. */
	if (order)
		folio_set_large_rmappable(folio);
	return folio;
}
EXPORT_SYMBOL_GPL(kho_restore_folio);

/* Check that [pfn, end) is whole preserved folios not yet taken. */
static int kho_in_check_range(unsigned long pfn, unsigned long end)
{
	unsigned long idx;

	while (pfn < end) {
		int order = kho_in_folio_order(pfn, &idx);

		if (order < 0)
			return order;
		pfn += 1UL << order;
		if (pfn > end)
			return -EINVAL;
	}
	return 0;
}

static int kho_in_range(phys_addr_t phys, size_t size, bool release)
{
	unsigned long pfn = PHYS_PFN(phys), end = PHYS_PFN(phys + size), idx;
	int err;

	if (!PAGE_ALIGNED(phys) || !PAGE_ALIGNED(size) || !size || phys + size < phys)
		return -EINVAL;
	mutex_lock(&kho_in_lock);
	err = kho_in_check_range(pfn, end);
	while (!err && pfn < end) {
		unsigned int order = kho_in_folio_order(pfn, &idx);

		__set_bit(idx, kho_in_taken);
		kho_in_revive(pfn, order, release);
		if (release) {
			__free_pages(pfn_to_page(pfn), order);
			kho_in_released += 1UL << order;
		} else {
			kho_in_restored += 1UL << order;
		}
		pfn += 1UL << order;
	}
	mutex_unlock(&kho_in_lock);
	return err;
}

/**
 * kho_restore_phys - take back a range preserved with kho_preserve_phys()
 * @phys: physical start
 * @size: size in bytes
 *
 * The pages become order-0 pages with a reference each, owned by the caller.
 *
 * Return: 0, -ENOENT if the range is not preserved memory, -EBUSY if part
 * of it was restored or released already, -EINVAL if it does not match
 * whole preserved folios.
 */
int kho_restore_phys(phys_addr_t phys, size_t size)
{
	return kho_in_range(phys, size, false);
}
EXPORT_SYMBOL_GPL(kho_restore_phys);

/**
 * kho_release_phys - give an unwanted preserved range to the page allocator
 * @phys: physical start
 * @size: size in bytes
 *
 * Return: as kho_restore_phys().
 */
int kho_release_phys(phys_addr_t phys, size_t size)
{
	return kho_in_range(phys, size, true);
}
EXPORT_SYMBOL_GPL(kho_release_phys);

/**
 * kho_release_folio - give an unwanted preserved folio to the page allocator
 * @phys: physical address of the folio
 *
 * Return: 0, -ENOENT if no preserved folio starts at @phys, -EBUSY if it
 * was restored or released already.
 */
int kho_release_folio(phys_addr_t phys)
{
	unsigned long pfn = PHYS_PFN(phys), idx;
	int order;

	if (!PAGE_ALIGNED(phys))
		return -EINVAL;
	mutex_lock(&kho_in_lock);
	order = kho_in_folio_order(pfn, &idx);
	if (order >= 0) {
		__set_bit(idx, kho_in_taken);
		kho_in_revive(pfn, order, true);
		folio_put(page_folio(pfn_to_page(pfn)));
		kho_in_released += 1UL << order;
	}
	mutex_unlock(&kho_in_lock);
	return order < 0 ? order : 0;
}
EXPORT_SYMBOL_GPL(kho_release_folio);

void kho_in_stats(struct kho_in_stats *st)
{
	unsigned long i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < kho_in_nr_runs; i++) {
		st->folios += kho_in_runs[i].nr;
		st->bytes += PFN_PHYS((unsigned long)kho_in_runs[i].nr << kho_in_runs[i].order);
	}
	mutex_lock(&kho_in_lock);
	st->restored = PFN_PHYS(kho_in_restored);
	st->released = PFN_PHYS(kho_in_released);
	mutex_unlock(&kho_in_lock);
}

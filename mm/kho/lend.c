// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kexec HandOver: scratch lent to movable allocations between kexecs.
 */

/**
 * DOC: Lent scratch
 *
 * Scratch has to hold no preserved page when the next kernel boots in it;
 * nothing requires it to sit idle until then. Once memblock is done, the
 * whole pageblocks of scratch that no early allocation uses are lent to
 * the page allocator as MIGRATE_CMA pageblocks, as CMA areas are: only
 * movable allocations (user memory, page cache) are placed there, and
 * the kernel's own allocations never are. Movable memory can be moved
 * away, and what lives there at the kexec is simply overwritten by the
 * next kernel.
 *
 * Preserved memory must still never be in scratch: kho_preserve_folio()
 * refuses such a folio. Owners of movable memory check it with
 * kho_folio_in_scratch() and migrate it out first (a long-term pin does,
 * as for CMA). Huge pages of the hugetlb pool are allocated outside
 * scratch in the first place.
 *
 * ``kho_lend=off`` on the command line keeps scratch idle instead.
 *
 * Locking: kho_plan_lend() runs in single-threaded early boot,
 * kho_lend_scratch() once as an initcall; nothing changes afterwards.
 */

#define pr_fmt(fmt) "kho: " fmt

#include <linux/cma.h>
#include <linux/init.h>
#include <linux/kstrtox.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/pageblock-flags.h>

#include "../internal.h"
#include "internal.h"

/* Free scratch ranges of whole pageblocks, found before memblock is gone. */
#define KHO_MAX_LEND	64
static struct kho_range kho_lend[KHO_MAX_LEND] __initdata;
static unsigned int kho_nr_lend __initdata;
static bool kho_lend_enabled __initdata = true;
unsigned long kho_lent_pages;

static int __init kho_lend_param(char *p)
{
	bool on;

	if (!p || kstrtobool(p, &on)) {
		pr_warn("kho_lend=%s not understood (on or off): scratch is lent\n",
			p ?: "");
		return 0;
	}
	kho_lend_enabled = on;
	return 0;
}
early_param("kho_lend", kho_lend_param);

static void __init kho_add_lend(phys_addr_t start, phys_addr_t end)
{
	start = ALIGN(start, pageblock_nr_pages << PAGE_SHIFT);
	end = ALIGN_DOWN(end, pageblock_nr_pages << PAGE_SHIFT);
	if (start >= end)
		return;
	if (kho_nr_lend == KHO_MAX_LEND) {
		pr_warn_once("scratch too fragmented: some of it is not lent\n");
		return;
	}
	kho_lend[kho_nr_lend].start = start;
	kho_lend[kho_nr_lend++].size = end - start;
}

/**
 * kho_plan_lend - note which scratch memory early boot left unused
 *
 * Called by kho_memblock_release() while no scratch range is reserved as
 * such yet: what memblock sees free in scratch then is what early boot
 * did not take. Logs how much early boot took, the need that scratch
 * must cover.
 */
void __init kho_plan_lend(void)
{
	phys_addr_t start, end, total = 0, free = 0;
	unsigned int i;
	u64 j;

	for (i = 0; i < kho_nr_scratch; i++) {
		phys_addr_t ss = kho_scratch[i].start;
		phys_addr_t se = ss + kho_scratch[i].size;

		total += kho_scratch[i].size;
		for_each_free_mem_range(j, NUMA_NO_NODE, MEMBLOCK_NONE, &start, &end, NULL) {
			start = max(start, ss);
			end = min(end, se);
			if (start >= end)
				continue;
			free += end - start;
			if (kho_lend_enabled)
				kho_add_lend(start, end);
		}
	}
	pr_info("scratch: early boot used %llu MiB of %llu MiB\n",
		(u64)(total - free) >> 20, (u64)total >> 20);
}

/* Lend what kho_plan_lend() found, once the page allocator runs. */
static int __init kho_lend_scratch(void)
{
	unsigned int i;

	for (i = 0; i < kho_nr_lend; i++) {
		unsigned long pfn = PHYS_PFN(kho_lend[i].start);
		unsigned long end = PHYS_PFN(kho_lend[i].start + kho_lend[i].size);

		for (; pfn < end; pfn += pageblock_nr_pages) {
			struct page *page = pfn_to_page(pfn);

			/* A pageblock across a zone boundary stays idle. */
			if (page_zone(page) != page_zone(pfn_to_page(pfn + pageblock_nr_pages - 1)))
				continue;
			init_cma_reserved_pageblock(page);
			kho_lent_pages += pageblock_nr_pages;
		}
	}
	totalcma_pages += kho_lent_pages;
	if (kho_nr_scratch)
		pr_info("scratch: %lu MiB lent to movable allocations\n",
			kho_lent_pages >> (20 - PAGE_SHIFT));
	return 0;
}
core_initcall(kho_lend_scratch);

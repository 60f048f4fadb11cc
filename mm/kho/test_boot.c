// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kexec HandOver: an early boot test hook that reserves memory as firmware
 * code does.
 */

/**
 * DOC: Reserving inside held memory (CONFIG_KEXEC_HANDOVER_TEST)
 *
 * ``kho_test_reserve=PHYS`` on the command line of a kernel that receives
 * a handover reserves the page at PHYS in early boot, while KHO holds all
 * memory outside scratch, the way firmware code (efi_mem_reserve(), for
 * one) does on real hosts. The page must still be reserved once KHO lifts
 * the hold. The test picks a page outside scratch that the previous
 * kernel did not preserve.
 *
 * Locking: early boot, single-threaded.
 */

#define pr_fmt(fmt) "kho-test: " fmt

#include <linux/init.h>
#include <linux/memblock.h>
#include <linux/mm.h>

#include "internal.h"

static phys_addr_t kho_test_reserve_at __initdata;

static int __init kho_test_reserve_param(char *p)
{
	if (!p)
		return -EINVAL;
	kho_test_reserve_at = PAGE_ALIGN_DOWN(memparse(p, NULL));
	return 0;
}
early_param("kho_test_reserve", kho_test_reserve_param);

/* Called by kho_memblock_setup() once the hold is in place. */
void __init kho_test_reserve_early(void)
{
	if (!kho_test_reserve_at)
		return;
	if (!memblock_is_region_memory(kho_test_reserve_at, PAGE_SIZE) ||
	    kho_overlaps_scratch(kho_test_reserve_at, PAGE_SIZE)) {
		pr_err("kho_test_reserve=%pa ignored: not RAM outside scratch\n",
		       &kho_test_reserve_at);
		return;
	}
	memblock_reserve(kho_test_reserve_at, PAGE_SIZE);
	pr_info("reserved [mem %pa] in early boot, as firmware would\n",
		&kho_test_reserve_at);
}

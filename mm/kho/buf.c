// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kexec HandOver: buffers of any size carried to the next kernel.
 */

/**
 * DOC: Preserved buffers
 *
 * The handover FDT is one physically contiguous allocation, so what a
 * subsystem writes into it is bounded by the largest such allocation.
 * Descriptions that grow with the number of objects (one node per file,
 * per mapping, per device) go into a preserved buffer instead, and the
 * FDT only holds a struct kho_buf_ref pointing to it.
 *
 * kho_buf_preserve() takes a page-aligned buffer (vmalloc() memory, or
 * pages from the page allocator), preserves each of its pages and lists
 * their physical addresses in table pages of its own, chained from
 * ref->table. The next kernel maps the same pages, without copying, with
 * kho_buf_restore(), or gives them back with kho_buf_release(). Both check
 * the table against the size before they take a page, and the data
 * against its checksum afterwards.
 *
 * Locking: none of its own; the pages are preserved and restored through
 * kho_preserve_phys() and kho_restore_phys(), which take KHO's locks. The
 * caller keeps the buffer unchanged from kho_buf_preserve() until the
 * kexec or kho_buf_unpreserve().
 */

#define pr_fmt(fmt) "kho: " fmt

#include <linux/crc32.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "internal.h"

static struct page *kho_buf_page(const void *addr)
{
	return is_vmalloc_addr(addr) ? vmalloc_to_page(addr) : virt_to_page(addr);
}

static __le64 *kho_buf_table(phys_addr_t phys)
{
	return phys_to_virt(phys);
}

/* Undo the first @nr data pages and every table page of an outgoing buffer. */
static void kho_buf_undo(phys_addr_t table, unsigned long nr)
{
	unsigned long i = 0;

	while (table) {
		__le64 *t = kho_buf_table(table);
		phys_addr_t next = le64_to_cpu(t[KHO_BUF_TABLE_ENTRIES]);
		unsigned int j;

		for (j = 0; j < KHO_BUF_TABLE_ENTRIES && i < nr; j++, i++)
			kho_unpreserve_phys(le64_to_cpu(t[j]), PAGE_SIZE);
		kho_unpreserve_phys(table, PAGE_SIZE);
		free_page((unsigned long)t);
		table = next;
	}
}

/**
 * kho_buf_preserve - hand a buffer of any size to the next kernel
 * @buf: page-aligned start: vmalloc() memory or the page allocator's
 * @size: bytes to carry, at most KHO_BUF_MAX
 * @ref: filled with what the next kernel needs to find the buffer; put it
 *	into a subtree's FDT as it is
 *
 * The buffer's pages stay where they are; the caller must not change or
 * free them until the kexec, or until kho_buf_unpreserve().
 *
 * Return: 0, -EINVAL for a misaligned or too big buffer, or an error of
 * kho_preserve_phys(); on error nothing stays preserved.
 */
int kho_buf_preserve(const void *buf, size_t size, struct kho_buf_ref *ref)
{
	unsigned long nr = DIV_ROUND_UP(size, PAGE_SIZE), i;
	__le64 *t = NULL, *link = NULL;
	phys_addr_t first = 0;
	int err = 0;

	BUILD_BUG_ON(KHO_BUF_TABLE_ENTRIES * 8 + 8 != PAGE_SIZE);
	memset(ref, 0, sizeof(*ref));
	if (!PAGE_ALIGNED(buf) || !size || size > KHO_BUF_MAX)
		return -EINVAL;

	for (i = 0; i < nr; i++) {
		unsigned int slot = i % KHO_BUF_TABLE_ENTRIES;
		phys_addr_t phys;

		if (!slot) {
			t = (__le64 *)get_zeroed_page(GFP_KERNEL);
			if (!t) {
				err = -ENOMEM;
				break;
			}
			err = kho_preserve_phys(virt_to_phys(t), PAGE_SIZE);
			if (err) {
				free_page((unsigned long)t);
				break;
			}
			/* Linked before its entries are: an undo walks it. */
			if (link)
				*link = cpu_to_le64(virt_to_phys(t));
			else
				first = virt_to_phys(t);
			link = &t[KHO_BUF_TABLE_ENTRIES];
		}
		phys = page_to_phys(kho_buf_page(buf + i * PAGE_SIZE));
		err = kho_preserve_phys(phys, PAGE_SIZE);
		if (err)
			break;
		t[slot] = cpu_to_le64(phys);
	}
	if (err) {
		kho_buf_undo(first, i);
		return err;
	}
	ref->table = cpu_to_le64(first);
	ref->size = cpu_to_le64(size);
	ref->crc = cpu_to_le32(crc32_le(~0, buf, size));
	return 0;
}
EXPORT_SYMBOL_GPL(kho_buf_preserve);

/**
 * kho_buf_unpreserve - undo kho_buf_preserve()
 * @ref: as kho_buf_preserve() filled it; cleared
 */
void kho_buf_unpreserve(struct kho_buf_ref *ref)
{
	kho_buf_undo(le64_to_cpu(ref->table),
		     DIV_ROUND_UP(le64_to_cpu(ref->size), PAGE_SIZE));
	memset(ref, 0, sizeof(*ref));
}
EXPORT_SYMBOL_GPL(kho_buf_unpreserve);

/*
 * Walk an incoming buffer's table: take each data page into @pages (or
 * release it, if @pages is NULL), and each table page once read. Stops at
 * the first page that is not preserved memory.
 */
static int kho_buf_walk(const struct kho_buf_ref *ref, struct page **pages)
{
	u64 size = le64_to_cpu(ref->size);
	unsigned long nr = DIV_ROUND_UP(size, PAGE_SIZE), i = 0;
	phys_addr_t table = le64_to_cpu(ref->table);
	int err = 0;

	if (!size || size > KHO_BUF_MAX || ref->reserved)
		return -EINVAL;
	while (i < nr && !err) {
		unsigned int j;
		__le64 *t;

		err = kho_restore_phys(table, PAGE_SIZE);
		if (err)
			break;
		t = kho_buf_table(table);
		for (j = 0; j < KHO_BUF_TABLE_ENTRIES && i < nr; j++) {
			phys_addr_t phys = le64_to_cpu(t[j]);

			if (!pages) {
				err = kho_release_phys(phys, PAGE_SIZE);
			} else {
				err = kho_restore_phys(phys, PAGE_SIZE);
				if (!err)
					pages[i] = pfn_to_page(PHYS_PFN(phys));
			}
			if (err)
				break;
			i++;
		}
		table = le64_to_cpu(t[KHO_BUF_TABLE_ENTRIES]);
		free_page((unsigned long)t);
	}
	/* Taken pages go back to the allocator; those not reached stay. */
	if (err && pages)
		while (i--)
			put_page(pages[i]);
	return err;
}

/**
 * kho_buf_restore - map a buffer the previous kernel preserved
 * @ref: as the previous kernel's kho_buf_preserve() filled it
 *
 * The buffer's pages become this kernel's again, mapped in place: nothing
 * is copied. The mapping is read-write; vfree() it to free the pages.
 *
 * Return: the mapping, or an ERR_PTR(): -EINVAL for a malformed @ref or a
 * checksum that does not match, -ENOENT or -EBUSY if a page was not
 * preserved or was taken already, -ENOMEM.
 */
void *kho_buf_restore(const struct kho_buf_ref *ref)
{
	u64 size = le64_to_cpu(ref->size);
	unsigned long nr = DIV_ROUND_UP(size, PAGE_SIZE);
	struct page **pages;
	void *buf;
	int err;

	if (!size || size > KHO_BUF_MAX)
		return ERR_PTR(-EINVAL);
	pages = kvcalloc(nr, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return ERR_PTR(-ENOMEM);
	err = kho_buf_walk(ref, pages);
	if (err) {
		kvfree(pages);
		return ERR_PTR(err);
	}
	/* vfree() puts the pages and frees the array. */
	buf = vmap(pages, nr, VM_MAP | VM_MAP_PUT_PAGES, PAGE_KERNEL);
	if (!buf) {
		while (nr--)
			put_page(pages[nr]);
		kvfree(pages);
		return ERR_PTR(-ENOMEM);
	}
	if (crc32_le(~0, buf, size) != le32_to_cpu(ref->crc)) {
		vfree(buf);
		return ERR_PTR(-EINVAL);
	}
	return buf;
}
EXPORT_SYMBOL_GPL(kho_buf_restore);

/**
 * kho_buf_release - give a preserved buffer's pages to the page allocator
 * @ref: as the previous kernel's kho_buf_preserve() filled it
 *
 * Return: 0, or as kho_buf_restore() for a malformed table; then the pages
 * not reached stay reserved.
 */
int kho_buf_release(const struct kho_buf_ref *ref)
{
	return kho_buf_walk(ref, NULL);
}
EXPORT_SYMBOL_GPL(kho_buf_release);

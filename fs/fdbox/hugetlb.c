// SPDX-License-Identifier: GPL-2.0-only
/*
 * fdbox: carry memfds on huge pages (MFD_HUGETLB) across kexec, their
 * pages left in place.
 */

/**
 * DOC: hugetlb memfd handler
 *
 * Deposit: the file's size is frozen (hugetlbfs_set_preserve()), and
 * every huge page in it is referenced and preserved with
 * kho_preserve_folio(), as one folio of order 9 (2 MiB) or 18 (1 GiB).
 * The reference keeps the page from being migrated; huge pages are
 * never reclaimed. Holes are left alone. Stores through mappings go on.
 *
 * Freeze: no page may enter the file any more (HUGETLBFS_PRESERVE_MAP),
 * the pages faulted into holes since the deposit are picked up, and all
 * are described as runs (see folios.c): 16 bytes per run of huge pages.
 *
 * Restore, in the next kernel, which must have the same huge page size
 * (hugepagesz= on its command line for 1 GiB): a new hugetlb memfd with
 * the same name, size, seals and mode; each preserved page becomes a
 * persistent, in-use page of that size's pool (HugePages_Total grows by
 * one) and goes into the file at its index, its reservation already
 * consumed. Closing the file puts the pages on the pool's free list.
 * Without that huge page size, retrieve fails with EOPNOTSUPP and
 * leaves the item; discarding it gives its memory to the page allocator,
 * with the pool's counters untouched.
 *
 * Locking: the inode lock serializes deposit, freeze, thaw and withdraw
 * against truncate, fallocate and mmap, as for memfd.c.
 */

#define pr_fmt(fmt) "fdbox-hugetlb: " fmt

#include <linux/fcntl.h>
#include <linux/fdbox_abi.h>
#include <linux/file.h>
#include <linux/hugetlb.h>
#include <linux/init.h>
#include <linux/kho.h>
#include <linux/libfdt.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/pagevec.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "folios.h"
#include "internal.h"

#define MFD_PREFIX	"memfd:"
#define MFD_PREFIX_LEN	(sizeof(MFD_PREFIX) - 1)
#define HUGETLB_SEALS	(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | \
			 F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC)

static bool hugetlb_can_preserve(struct file *file)
{
	return hugetlbfs_is_memfd(file);
}

/* Hold every huge page of the file not held yet. Caller holds the inode lock. */
static int hugetlb_hold_all(struct inode *inode, struct fdbox_folios *f)
{
	pgoff_t end = DIV_ROUND_UP(i_size_read(inode), PAGE_SIZE);
	struct folio_batch fbatch;
	pgoff_t index = 0;
	unsigned int i;
	int err = 0;

	folio_batch_init(&fbatch);
	while (!err && index < end &&
	       filemap_get_folios(inode->i_mapping, &index, end - 1, &fbatch)) {
		for (i = 0; !err && i < folio_batch_count(&fbatch); i++) {
			struct folio *folio = fbatch.folios[i];

			if (fatal_signal_pending(current)) {
				err = -EINTR;
			} else if (folio_test_hwpoison(folio)) {
				pr_warn("huge page at %llu of a memfd is poisoned: not carried\n",
					(u64)folio->index << PAGE_SHIFT);
				err = -EIO;
			} else if (!fdbox_folios_holds(f, folio)) {
				folio_get(folio);
				err = fdbox_folios_hold(f, folio);
			}
		}
		folio_batch_release(&fbatch);
		cond_resched();
	}
	return err;
}

/* hugetlb keeps a poisoned page in the file: it must not be carried. */
static int hugetlb_check_poison(struct fdbox_folios *f)
{
	struct folio *folio;
	unsigned long index;

	xa_for_each(&f->held, index, folio) {
		if (folio_test_hwpoison(folio)) {
			pr_warn("huge page at %llu of a memfd is poisoned: not carried\n",
				(u64)index << PAGE_SHIFT);
			return -EIO;
		}
	}
	return 0;
}

static int hugetlb_preserve(struct file *file, void **state)
{
	struct inode *inode = file_inode(file);
	struct fdbox_folios *f;
	int err;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	fdbox_folios_init(f);

	inode_lock(inode);
	hugetlbfs_set_preserve(inode, HUGETLBFS_PRESERVE_SIZE);
	err = hugetlb_hold_all(inode, f);
	if (err) {
		fdbox_folios_drop(f);
		hugetlbfs_set_preserve(inode, 0);
	}
	inode_unlock(inode);

	if (err) {
		kfree(f);
		return err;
	}
	*state = f;
	return 0;
}

static void hugetlb_unpreserve(struct file *file, void *state)
{
	struct inode *inode = file_inode(file);

	inode_lock(inode);
	fdbox_folios_drop(state);
	hugetlbfs_set_preserve(inode, 0);
	inode_unlock(inode);
	kfree(state);
}

static int hugetlb_freeze(struct file *file, void *state)
{
	struct inode *inode = file_inode(file);
	struct fdbox_folios *f = state;
	int err = 0;

	inode_lock(inode);
	hugetlbfs_set_preserve(inode, HUGETLBFS_PRESERVE_SIZE | HUGETLBFS_PRESERVE_MAP);
	/* Pages faulted into holes since the deposit; no more can come. */
	if (READ_ONCE(inode->i_mapping->nrpages) != f->nr_pages)
		err = hugetlb_hold_all(inode, f);
	if (!err)
		err = hugetlb_check_poison(f);
	if (!err)
		err = fdbox_folios_describe(f);
	if (err) {
		fdbox_folios_undescribe(f);
		hugetlbfs_set_preserve(inode, HUGETLBFS_PRESERVE_SIZE);
	}
	inode_unlock(inode);
	return err;
}

static void hugetlb_thaw(struct file *file, void *state)
{
	struct inode *inode = file_inode(file);

	inode_lock(inode);
	fdbox_folios_undescribe(state);
	hugetlbfs_set_preserve(inode, HUGETLBFS_PRESERVE_SIZE);
	inode_unlock(inode);
}

static int hugetlb_serialize(struct file *file, void *state, void *fdt)
{
	struct inode *inode = file_inode(file);
	int err;

	err = fdt_property_string(fdt, "memfd-name",
				  file_dentry(file)->d_name.name + MFD_PREFIX_LEN);
	err = err ?: fdt_property_u32(fdt, "memfd-seals",
				      READ_ONCE(HUGETLBFS_I(inode)->seals) & HUGETLB_SEALS);
	err = err ?: fdt_property_u32(fdt, "memfd-mode", inode->i_mode & 0777);
	err = err ?: fdt_property_u32(fdt, "hugetlb-shift",
				      huge_page_shift(hstate_inode(inode)));
	err = err ?: fdbox_folios_serialize(state, fdt);
	if (err == -FDT_ERR_NOSPACE)
		return -ENOSPC;
	return err ? -EINVAL : 0;
}

static void hugetlb_info(struct file *file, void *state, u64 *size, u64 *preserved,
			 u64 *metadata)
{
	struct fdbox_folios *f = state;

	*size = i_size_read(file_inode(file));
	*preserved = (u64)f->nr_pages << PAGE_SHIFT;
	*metadata = fdbox_folios_metadata(f);
}

struct hugetlb_restore {
	struct file *file;
	struct hstate *h;
};

/* Make one preserved folio a huge page of the pool, at its place in the file. */
static int hugetlb_restore_folio(void *priv, phys_addr_t phys, unsigned int order,
				 pgoff_t index)
{
	struct hugetlb_restore *r = priv;
	struct folio *folio;
	int err;

	if (order != huge_page_order(r->h))
		return -EINVAL;
	folio = kho_restore_folio(phys);
	if (!folio)
		return -EINVAL;
	if (folio_order(folio) != order || hugetlb_adopt_folio(r->h, folio)) {
		folio_put(folio);
		return -EINVAL;
	}
	/* Out of KHO now: failing here would lose the page's contents. */
	err = hugetlb_insert_folio(r->file, folio, index, GFP_KERNEL | __GFP_NOFAIL);
	folio_put(folio);
	return err;
}

static struct file *hugetlb_restore(const void *fdt, int node, bool *untouched)
{
	struct hugetlb_restore r;
	struct fdbox_folios_in in;
	u32 seals, mode, shift;
	const char *name;
	char *fullname;
	u64 size;
	int len, err;

	if (!fdbox_folios_parse(fdt, node, &in)) {
		pr_err("a hugetlb memfd's runs are malformed; its pages stay reserved\n");
		return ERR_PTR(-EINVAL);
	}
	size = fdbox_fdt_u64(fdt, node, "size");
	name = fdt_getprop(fdt, node, "memfd-name", &len);
	if (!name || len < 1 || len > NAME_MAX + 1 - MFD_PREFIX_LEN ||
	    name[len - 1] || fdbox_fdt_u32(fdt, node, "memfd-seals", &seals) ||
	    fdbox_fdt_u32(fdt, node, "memfd-mode", &mode) ||
	    fdbox_fdt_u32(fdt, node, "hugetlb-shift", &shift) ||
	    (seals & ~HUGETLB_SEALS) || (mode & ~0777) || size > MAX_LFS_FILESIZE ||
	    shift <= PAGE_SHIFT || shift >= 40 || !IS_ALIGNED(size, 1ULL << shift)) {
		pr_err("a hugetlb memfd's description does not check out; released\n");
		fdbox_folios_release(&in);
		return ERR_PTR(-EINVAL);
	}
	/* Failing from here to the first page leaves the item, for another try. */
	r.h = size_to_hstate(1UL << shift);
	if (!r.h) {
		pr_warn("memfd %s needs %lu KiB huge pages: boot with hugepagesz=%luK\n",
			name, 1UL << (shift - 10), 1UL << (shift - 10));
		*untouched = true;
		return ERR_PTR(-EOPNOTSUPP);
	}
	fullname = kasprintf(GFP_KERNEL, MFD_PREFIX "%s", name);
	if (!fullname) {
		*untouched = true;
		return ERR_PTR(-ENOMEM);
	}
	r.file = hugetlb_file_setup(fullname, size, VM_NORESERVE,
				    HUGETLB_ANONHUGE_INODE, shift);
	kfree(fullname);
	if (IS_ERR(r.file)) {
		*untouched = true;
		err = PTR_ERR(r.file);
		return ERR_PTR(err == -ENODEV || err == -ENOENT ? -EOPNOTSUPP : err);
	}
	r.file->f_mode |= FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE;
	r.file->f_flags |= O_LARGEFILE;

	err = fdbox_folios_restore(&in, huge_page_order(r.h), size >> PAGE_SHIFT,
				   hugetlb_restore_folio, &r);
	if (err) {
		fput(r.file);
		return ERR_PTR(err);
	}
	file_inode(r.file)->i_mode = (file_inode(r.file)->i_mode & ~0777) | mode;
	HUGETLBFS_I(file_inode(r.file))->seals = seals;
	return r.file;
}

static struct fdbox_handler hugetlb_handler = {
	.compatible	= FDBOX_HUGETLB_COMPATIBLE,
	.type		= FDBOX_ITEM_MEMFD_HUGETLB,
	.can_preserve	= hugetlb_can_preserve,
	.preserve	= hugetlb_preserve,
	.unpreserve	= hugetlb_unpreserve,
	.freeze		= hugetlb_freeze,
	.thaw		= hugetlb_thaw,
	.serialize	= hugetlb_serialize,
	.info		= hugetlb_info,
	.restore	= hugetlb_restore,
	.discard	= fdbox_folios_discard,
};

static int __init fdbox_hugetlb_init(void)
{
	return fdbox_register_handler(&hugetlb_handler);
}
device_initcall(fdbox_hugetlb_init);

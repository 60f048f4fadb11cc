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

#define HUGETLB_SEALS	(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | \
			 F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC)

static bool hugetlb_can_preserve(struct file *file)
{
	return hugetlbfs_is_memfd(file);
}

/*
 * Hold every huge page of the file not held yet. The pool allocates none
 * in KHO scratch, but a gigantic page carved out at run time may be there:
 * it is moved out first. Caller holds the inode lock.
 */
static int hugetlb_hold_all(struct file *file, struct fdbox_folios *f)
{
	struct inode *inode = file_inode(file);
	pgoff_t end = DIV_ROUND_UP(i_size_read(inode), PAGE_SIZE);
	struct folio *move = NULL;
	struct folio_batch fbatch;
	unsigned int i, moves = 0;
	pgoff_t index = 0;
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
			} else if (kho_folio_in_scratch(folio) && !fdbox_folios_holds(f, folio)) {
				folio_get(folio);
				move = folio;
				index = folio->index;
			} else if (!fdbox_folios_holds(f, folio)) {
				folio_get(folio);
				err = fdbox_folios_hold(f, folio);
				moves = 0;
			}
			if (move)
				break;
		}
		folio_batch_release(&fbatch);
		if (move) {
			/* Still in scratch after two moves: give up. */
			if (moves++ > 1) {
				folio_put(move);
				err = -EBUSY;
			} else {
				err = fdbox_folio_leave_scratch(file, move);
			}
			move = NULL;
		}
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

static int hugetlb_preserve(struct fdbox_item *item)
{
	struct file *file = item->file;
	struct inode *inode = file_inode(file);
	struct fdbox_folios *f;
	int err;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	fdbox_folios_init(f);

	inode_lock(inode);
	hugetlbfs_set_preserve(inode, HUGETLBFS_PRESERVE_SIZE);
	err = hugetlb_hold_all(file, f);
	if (err) {
		fdbox_folios_drop(f);
		hugetlbfs_set_preserve(inode, 0);
	}
	inode_unlock(inode);

	if (err) {
		kfree(f);
		return err;
	}
	item->priv = f;
	return 0;
}

static void hugetlb_unpreserve(struct fdbox_item *item)
{
	struct file *file = item->file;
	struct inode *inode = file_inode(file);

	inode_lock(inode);
	fdbox_folios_drop(item->priv);
	hugetlbfs_set_preserve(inode, 0);
	inode_unlock(inode);
	kfree(item->priv);
}

static int hugetlb_freeze(struct fdbox_item *item)
{
	struct file *file = item->file;
	struct inode *inode = file_inode(file);
	struct fdbox_folios *f = item->priv;
	int err = 0;

	inode_lock(inode);
	hugetlbfs_set_preserve(inode, HUGETLBFS_PRESERVE_SIZE | HUGETLBFS_PRESERVE_MAP);
	/* Pages faulted into holes since the deposit; no more can come. */
	if (READ_ONCE(inode->i_mapping->nrpages) != f->nr_pages)
		err = hugetlb_hold_all(file, f);
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

static void hugetlb_thaw(struct fdbox_item *item)
{
	struct file *file = item->file;
	struct inode *inode = file_inode(file);

	inode_lock(inode);
	fdbox_folios_undescribe(item->priv);
	hugetlbfs_set_preserve(inode, HUGETLBFS_PRESERVE_SIZE);
	inode_unlock(inode);
}

static int hugetlb_describe(struct fdbox_item *item, void *fdt)
{
	struct file *file = item->file;
	struct inode *inode = file_inode(file);
	int err;

	err = fdbox_memfile_describe(file, READ_ONCE(HUGETLBFS_I(inode)->seals) &
				     HUGETLB_SEALS, item->priv, fdt);
	return err ?: fdbox_fdt_err(fdt_property_u32(fdt, "hugetlb-shift",
						     huge_page_shift(hstate_inode(inode))));
}

static void hugetlb_info(struct fdbox_item *item, struct fdbox_sizes *sz)
{
	struct file *file = item->file;
	struct fdbox_folios *f = item->priv;

	sz->size = i_size_read(file_inode(file));
	sz->preserved = (u64)f->nr_pages << PAGE_SHIFT;
	sz->metadata = fdbox_folios_metadata(f);
}

struct hugetlb_restore {
	struct fdbox_item *item;
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
	if (!err)
		fdbox_folios_keep(r->item, folio, index);
	folio_put(folio);
	return err;
}

static struct file *hugetlb_retrieve(struct fdbox_item *item, bool *untouched)
{
	struct hugetlb_restore r = { .item = item };
	struct fdbox_memfile d;
	char *fullname;
	u32 shift;
	int err;

	err = fdbox_memfile_parse(item, HUGETLB_SEALS, &d);
	if (err)
		return ERR_PTR(err);
	if (fdbox_fdt_u32(item->fdt, item->node, "hugetlb-shift", &shift) ||
	    shift <= PAGE_SHIFT || shift >= 40 || !IS_ALIGNED(d.size, 1ULL << shift)) {
		pr_err("a hugetlb memfd's description does not check out; released\n");
		fdbox_folios_release(&d.in);
		return ERR_PTR(-EINVAL);
	}
	/* Failing from here to the first page leaves the item, for another try. */
	r.h = size_to_hstate(1UL << shift);
	if (!r.h) {
		pr_warn("memfd %s needs %lu KiB huge pages: boot with hugepagesz=%luK\n",
			d.name, 1UL << (shift - 10), 1UL << (shift - 10));
		*untouched = true;
		return ERR_PTR(-EOPNOTSUPP);
	}
	if (fdbox_folios_keep_start(item)) {
		*untouched = true;
		return ERR_PTR(-ENOMEM);
	}
	fullname = kasprintf(GFP_KERNEL, MFD_PREFIX "%s", d.name);
	if (!fullname) {
		fdbox_folios_finish(item);
		*untouched = true;
		return ERR_PTR(-ENOMEM);
	}
	r.file = hugetlb_file_setup(fullname, d.size, VM_NORESERVE,
				    HUGETLB_ANONHUGE_INODE, shift);
	kfree(fullname);
	if (IS_ERR(r.file)) {
		fdbox_folios_finish(item);
		*untouched = true;
		err = PTR_ERR(r.file);
		return ERR_PTR(err == -ENODEV || err == -ENOENT ? -EOPNOTSUPP : err);
	}
	r.file->f_mode |= FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE;
	r.file->f_flags |= O_LARGEFILE;

	err = fdbox_folios_restore(&d.in, huge_page_order(r.h), d.size >> PAGE_SHIFT,
				   hugetlb_restore_folio, &r);
	if (err) {
		fdbox_folios_finish(item);
		fput(r.file);
		return ERR_PTR(err);
	}
	file_inode(r.file)->i_mode = (file_inode(r.file)->i_mode & ~0777) | d.mode;
	HUGETLBFS_I(file_inode(r.file))->seals = d.seals;
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
	.describe	= hugetlb_describe,
	.info		= hugetlb_info,
	.retrieve	= hugetlb_retrieve,
	.discard	= fdbox_folios_discard,
	.finish		= fdbox_folios_finish,
};

static int __init fdbox_hugetlb_init(void)
{
	return fdbox_register_handler(&hugetlb_handler);
}
device_initcall(fdbox_hugetlb_init);

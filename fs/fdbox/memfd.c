// SPDX-License-Identifier: GPL-2.0-only
/*
 * fdbox: carry memfds (on shmem) across kexec, their pages left in place.
 */

/**
 * DOC: memfd handler
 *
 * Deposit: the file's size is frozen (shmem_set_preserve()), every folio
 * up to the end of the file is looked up (swapped-out pages are brought
 * back, fallocated ones zeroed), referenced and preserved with
 * kho_preserve_folio(). The reference keeps each folio where it is: it
 * cannot be migrated, split, collapsed or reclaimed while it is held, and
 * the mapping is made unevictable besides. Holes are left alone, so a
 * sparse file stays sparse. Writes and stores through mappings go on.
 *
 * Freeze: no new folio may enter the file any more (SHMEM_PRESERVE_MAP);
 * the folios written into holes since the deposit are picked up, and the
 * folios are described as runs (struct fdbox_memfd_run), in the FDT when
 * they are few, else in blocks of preserved memory. Thaw frees them and
 * lets folios in again.
 *
 * Restore, in the next kernel: a new memfd with the same name, size,
 * seals and mode; each preserved folio goes into it as it is, with its
 * order, at its index. Whatever cannot be restored is released.
 *
 * Locking: the inode lock (i_rwsem) serializes deposit, freeze, thaw and
 * withdraw of a file against truncate and fallocate. fdbox calls all of
 * them with the session locked, so they never race each other.
 */

#define pr_fmt(fmt) "fdbox-memfd: " fmt

#include <linux/fcntl.h>
#include <linux/fdbox_abi.h>
#include <linux/file.h>
#include <linux/init.h>
#include <linux/kho.h>
#include <linux/libfdt.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>

#include "folios.h"
#include "internal.h"

#define MEMFD_SEALS	(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | \
			 F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC)

struct fdbox_memfd {
	struct fdbox_folios folios;
	bool was_unevictable;
};

static bool memfd_can_preserve(struct file *file)
{
	return shmem_is_memfd(file);
}

/*
 * Hold every folio of the file not held yet, moving those in KHO scratch
 * out of it first. Caller holds the inode lock.
 */
static int memfd_hold_all(struct file *file, struct fdbox_memfd *m)
{
	struct inode *inode = file_inode(file);
	pgoff_t end = DIV_ROUND_UP(i_size_read(inode), PAGE_SIZE);
	unsigned int moves = 0;
	pgoff_t index = 0;
	int err = 0;

	while (index < end) {
		struct folio *folio;
		pgoff_t next;

		/* A killed depositor should not finish a GiB it will undo. */
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		if (!xa_find(&inode->i_mapping->i_pages, &index, end - 1, XA_PRESENT))
			break;
		/* Swaps in, and zeroes a fallocated folio; never allocates. */
		err = shmem_get_folio(inode, index, 0, &folio, SGP_NOALLOC);
		if (err == -ENOENT) {	/* a hole again */
			err = 0;
			index++;
			continue;
		}
		if (err)
			break;
		folio_mark_dirty(folio);
		folio_unlock(folio);
		next = folio->index + folio_nr_pages(folio);
		if (kho_folio_in_scratch(folio) && !fdbox_folios_holds(&m->folios, folio)) {
			/* Still in scratch after two moves: give up. */
			if (moves++ > 1) {
				folio_put(folio);
				err = -EBUSY;
				break;
			}
			err = fdbox_folio_leave_scratch(file, folio);
			if (err)
				break;
			continue;
		}
		moves = 0;
		if (fdbox_folios_holds(&m->folios, folio))
			folio_put(folio);
		else
			err = fdbox_folios_hold(&m->folios, folio);
		if (err)
			break;
		index = next;
		cond_resched();
	}
	return err;
}

static int memfd_preserve(struct fdbox_item *item)
{
	struct file *file = item->file;
	struct inode *inode = file_inode(file);
	struct fdbox_memfd *m;
	int err;

	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	fdbox_folios_init(&m->folios);

	inode_lock(inode);
	shmem_set_preserve(inode, SHMEM_PRESERVE_SIZE);
	err = memfd_hold_all(file, m);
	if (err) {
		fdbox_folios_drop(&m->folios);
		shmem_set_preserve(inode, 0);
	} else {
		m->was_unevictable = mapping_unevictable(inode->i_mapping);
		mapping_set_unevictable(inode->i_mapping);
	}
	inode_unlock(inode);

	if (err) {
		kfree(m);
		return err;
	}
	item->priv = m;
	return 0;
}

static void memfd_unpreserve(struct fdbox_item *item)
{
	struct file *file = item->file;
	struct inode *inode = file_inode(file);
	struct fdbox_memfd *m = item->priv;

	inode_lock(inode);
	fdbox_folios_drop(&m->folios);
	shmem_set_preserve(inode, 0);
	if (!m->was_unevictable) {
		mapping_clear_unevictable(inode->i_mapping);
		shmem_unlock_mapping(inode->i_mapping);
	}
	inode_unlock(inode);
	kfree(m);
}

static int memfd_freeze(struct fdbox_item *item)
{
	struct file *file = item->file;
	struct inode *inode = file_inode(file);
	struct fdbox_memfd *m = item->priv;
	int err;

	inode_lock(inode);
	shmem_set_preserve(inode, SHMEM_PRESERVE_SIZE | SHMEM_PRESERVE_MAP);
	/*
	 * Folios written into holes since the deposit; no more can come.
	 * The folios we hold are all still there: if the file has no more
	 * pages than those, there is nothing new to look for.
	 */
	err = 0;
	if (READ_ONCE(inode->i_mapping->nrpages) != m->folios.nr_pages)
		err = memfd_hold_all(file, m);
	if (!err)
		err = fdbox_folios_describe(&m->folios);
	if (err) {
		fdbox_folios_undescribe(&m->folios);
		shmem_set_preserve(inode, SHMEM_PRESERVE_SIZE);
	}
	inode_unlock(inode);
	return err;
}

static void memfd_thaw(struct fdbox_item *item)
{
	struct file *file = item->file;
	struct inode *inode = file_inode(file);
	struct fdbox_memfd *m = item->priv;

	inode_lock(inode);
	fdbox_folios_undescribe(&m->folios);
	shmem_set_preserve(inode, SHMEM_PRESERVE_SIZE);
	inode_unlock(inode);
}

static int memfd_describe(struct fdbox_item *item, void *fdt)
{
	struct file *file = item->file;
	struct fdbox_memfd *m = item->priv;

	return fdbox_memfile_describe(file, READ_ONCE(SHMEM_I(file_inode(file))->seals) &
				      MEMFD_SEALS, &m->folios, fdt);
}

static void memfd_info(struct fdbox_item *item, struct fdbox_sizes *sz)
{
	struct file *file = item->file;
	struct fdbox_memfd *m = item->priv;

	sz->size = i_size_read(file_inode(file));
	sz->preserved = (u64)m->folios.nr_pages << PAGE_SHIFT;
	sz->metadata = fdbox_folios_metadata(&m->folios);
}

/* Put one preserved folio back at its place in the file. */
static int memfd_restore_folio(void *priv, phys_addr_t phys, unsigned int order,
			       pgoff_t index)
{
	struct file *file = priv;
	struct folio *folio;
	int err;

	folio = kho_restore_folio(phys);
	if (!folio)
		return -EINVAL;
	if (folio_order(folio) != order) {
		folio_put(folio);
		return -EINVAL;
	}
	/*
	 * The folio is out of KHO now: failing to index it would lose its
	 * contents, and a retry could not take it again.
	 */
	err = shmem_insert_folio(file, folio, index, GFP_KERNEL | __GFP_NOFAIL);
	folio_put(folio);
	return err;
}

static struct file *memfd_retrieve(struct fdbox_item *item, bool *untouched)
{
	struct fdbox_memfile d;
	struct file *file;
	char *fullname;
	int err;

	err = fdbox_memfile_parse(item, MEMFD_SEALS, &d);
	if (err)
		return ERR_PTR(err);
	/* Failing here leaves the memory alone, for another try. */
	fullname = kasprintf(GFP_KERNEL, MFD_PREFIX "%s", d.name);
	if (!fullname) {
		*untouched = true;
		return ERR_PTR(-ENOMEM);
	}
	file = shmem_file_setup(fullname, d.size, VM_NORESERVE);
	kfree(fullname);
	if (IS_ERR(file)) {
		*untouched = true;
		return file;
	}
	file->f_mode |= FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE;
	file->f_flags |= O_LARGEFILE;

	err = fdbox_folios_restore(&d.in, MAX_PAGECACHE_ORDER, DIV_ROUND_UP(d.size, PAGE_SIZE),
				   memfd_restore_folio, file);
	if (err) {
		fput(file);
		return ERR_PTR(err);
	}
	file_inode(file)->i_mode = (file_inode(file)->i_mode & ~0777) | d.mode;
	SHMEM_I(file_inode(file))->seals = d.seals;
	return file;
}

static struct fdbox_handler memfd_handler = {
	.compatible	= FDBOX_MEMFD_COMPATIBLE,
	.type		= FDBOX_ITEM_MEMFD,
	.can_preserve	= memfd_can_preserve,
	.preserve	= memfd_preserve,
	.unpreserve	= memfd_unpreserve,
	.freeze		= memfd_freeze,
	.thaw		= memfd_thaw,
	.describe	= memfd_describe,
	.info		= memfd_info,
	.retrieve	= memfd_retrieve,
	.discard	= fdbox_folios_discard,
};

static int __init fdbox_memfd_init(void)
{
	return fdbox_register_handler(&memfd_handler);
}
device_initcall(fdbox_memfd_init);

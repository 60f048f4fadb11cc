// SPDX-License-Identifier: GPL-2.0-only
/*
 * fdbox: carry memfds (on shmem) across kexec, their pages left in place.
 */

/**
 * DOC: memfd handler
 *
 * Deposit: the file's size is frozen (shmem_set_preserve()), the mapping
 * is made unevictable, and the page cache is walked a batch of folios at
 * a time (filemap_get_folios()): the folios ready as they are get
 * referenced and preserved with one KHO lock per batch, those next to
 * each other in memory as one run (kho_preserve_folios()). Those in KHO
 * scratch are set aside and moved out together, up to 512 pages with one
 * long-term pin (fdbox_range_leave_scratch()), and then held. The others
 * are looked up one by one, the slow way (swapped-out pages are brought
 * back, fallocated ones zeroed). The reference keeps each folio where it
 * is: it cannot be migrated, split, collapsed or reclaimed while it is
 * held. Holes are left alone, so a sparse file stays sparse. Writes and
 * stores through mappings go on.
 *
 * Freeze: no new folio may enter the file any more (SHMEM_PRESERVE_MAP);
 * the folios written into holes since the deposit are picked up, and the
 * folios are described as runs (struct fdbox_memfd_run), in the FDT when
 * they are few, else in blocks of preserved memory. Thaw frees them and
 * lets folios in again.
 *
 * Restore, in the next kernel: a new memfd with the same name, size,
 * seals and mode; each preserved folio goes into it as it is, with its
 * order, at its index: on demand and in the background, after retrieve
 * has returned (memfd_fill.c). Malformed runs fail the retrieve, and
 * what they describe is released. A deposit of a retrieved memfd waits
 * until all its folios are back. If other items depend on the memfd (a
 * device DMAing into it), every folio is back before retrieve returns
 * (one KHO does not give back fails it with -EIO), and each keeps a
 * reference of fdbox's until the item's finish (FDBOX_FINISH, or the
 * discard of the memfd if it was built for a dependent and never handed
 * out), so that it stays at the address the device was given
 * (fdbox_folios_keep()). While kept, F_SEAL_WRITE cannot be added
 * (EBUSY, as for any pinned page).
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
#include <linux/pagevec.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>

#include "folios.h"
#include "memfd_fill.h"
#include "internal.h"

#define MEMFD_SEALS	(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | \
			 F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC)

/* Fewer folios are put back before retrieve returns (memfd_fill.c). */
#define MEMFD_FILL_MIN_FOLIOS	512

struct fdbox_memfd {
	struct fdbox_folios folios;
	bool was_unevictable;
};

static bool memfd_can_preserve(struct file *file)
{
	return shmem_is_memfd(file);
}

/*
 * Hold the folio at @index, the slow way: swap it in, zero it if it was
 * fallocated, move it out of KHO scratch. @index is moved past it, or
 * past the hole. Caller holds the inode lock.
 */
static int memfd_hold_one(struct file *file, struct fdbox_memfd *m, pgoff_t *index)
{
	unsigned int moves;

	for (moves = 0; ; moves++) {
		struct folio *folio;
		int err;

		err = shmem_get_folio(file_inode(file), *index, 0, &folio, SGP_NOALLOC);
		if (err == -ENOENT) {	/* a hole again */
			(*index)++;
			return 0;
		}
		if (err)
			return err;
		folio_mark_dirty(folio);
		folio_unlock(folio);
		if (fdbox_folios_holds(&m->folios, folio)) {
			*index = folio->index + folio_nr_pages(folio);
			folio_put(folio);
			return 0;
		}
		if (!kho_folio_in_scratch(folio)) {
			*index = folio->index + folio_nr_pages(folio);
			return fdbox_folios_hold(&m->folios, folio);
		}
		/* Still in scratch after two moves: give up. */
		if (moves == 2) {
			folio_put(folio);
			return -EBUSY;
		}
		err = fdbox_folio_leave_scratch(file, folio);
		if (err)
			return err;
	}
}

/*
 * Hold what [@start, @end) of the file holds, the slow way: a folio moved
 * out of scratch may have been split on the way, and the part of a huge
 * folio past the end of the file then dropped.
 */
static int memfd_hold_range(struct file *file, struct fdbox_memfd *m,
			    pgoff_t start, pgoff_t end)
{
	pgoff_t eof = DIV_ROUND_UP(i_size_read(file_inode(file)), PAGE_SIZE);
	int err = 0;

	end = min(end, eof);

	while (!err && start < end)
		err = memfd_hold_one(file, m, &start);
	return err;
}

/* Pages in KHO scratch, set aside to be moved out together. */
struct memfd_move {
	pgoff_t start, end;
};

/* Move the pages set aside out of scratch, then hold them. */
static int memfd_move_flush(struct file *file, struct fdbox_memfd *m,
			    struct memfd_move *move)
{
	int err = 0;

	if (move->end > move->start)
		err = fdbox_range_leave_scratch(file, move->start, move->end) ?:
		      memfd_hold_range(file, m, move->start, move->end);
	move->start = 0;
	move->end = 0;
	return err;
}

/* Set [@start, @end) aside: one range, up to FDBOX_LEAVE_MAX pages. */
static int memfd_move_add(struct file *file, struct fdbox_memfd *m,
			  struct memfd_move *move, pgoff_t start, pgoff_t end)
{
	int err = 0;

	if (move->end > move->start &&
	    (move->end != start || end - move->start > FDBOX_LEAVE_MAX))
		err = memfd_move_flush(file, m, move);
	if (move->end <= move->start)
		move->start = start;
	move->end = end;
	return err;
}

/*
 * The folios of a batch mostly lie together in memory: one look at
 * scratch for the span they cover spares a look per folio.
 */
static bool memfd_batch_may_be_in_scratch(struct folio_batch *fbatch)
{
	unsigned long lo = ULONG_MAX, hi = 0;
	unsigned int i;

	for (i = 0; i < folio_batch_count(fbatch); i++) {
		unsigned long pfn = folio_pfn(fbatch->folios[i]);

		lo = min(lo, pfn);
		hi = max(hi, pfn + folio_nr_pages(fbatch->folios[i]));
	}
	return hi > lo && kho_range_in_scratch(PFN_PHYS(lo), PFN_PHYS(hi - lo));
}

/*
 * Hold the folios filemap_get_folios() found: those that look ready in
 * one batch; those in KHO scratch are set aside in @move, to be moved out
 * together (one migration for many, not one per folio); the others one
 * by one. With @fresh nothing below the walk is held yet, so no folio is
 * looked up among the held. Takes over the batch's references.
 */
static int memfd_hold_found(struct file *file, struct fdbox_memfd *m,
			    struct folio_batch *fbatch, bool fresh,
			    struct memfd_move *move)
{
	struct folio *ready[PAGEVEC_SIZE];
	pgoff_t ready_start[PAGEVEC_SIZE], ready_end[PAGEVEC_SIZE];
	bool scratch = memfd_batch_may_be_in_scratch(fbatch);
	unsigned int i, nr = 0;
	int err = 0;

	for (i = 0; i < folio_batch_count(fbatch); i++) {
		struct folio *folio = fbatch->folios[i];
		bool held = !fresh && fdbox_folios_holds(&m->folios, folio);
		pgoff_t start = folio->index, end = start + folio_nr_pages(folio);

		if (!err && !held && folio_test_uptodate(folio) &&
		    !folio_test_swapcache(folio) && folio->mapping == file->f_mapping) {
			if (scratch && kho_folio_in_scratch(folio)) {
				folio_put(folio);
				err = memfd_move_add(file, m, move, start, end);
				continue;
			}
			if (!folio_test_dirty(folio))
				folio_mark_dirty(folio);
			ready_start[nr] = start;
			ready_end[nr] = end;
			ready[nr++] = folio;
			continue;
		}
		folio_put(folio);
		if (!err && !held)
			err = memfd_hold_range(file, m, start, end);
	}
	if (err) {
		while (nr--)
			folio_put(ready[nr]);
		return err;
	}
	if (!nr)
		return 0;
	err = fdbox_folios_hold_batch(&m->folios, ready, nr);
	/*
	 * One seen twice (collapsed into a THP since the lookup): nothing of
	 * the batch is held; each goes the slow way.
	 */
	if (err != -EINVAL && err != -EEXIST)
		return err;
	for (i = 0, err = 0; !err && i < nr; i++)
		err = memfd_hold_range(file, m, ready_start[i], ready_end[i]);
	return err;
}

/*
 * Hold every folio of the file not held yet, a batch at a time. The
 * batches skip swapped-out pages: if the file has any, every index is
 * looked at again, the slow way. Caller holds the inode lock.
 */
static int memfd_hold_all(struct file *file, struct fdbox_memfd *m)
{
	struct inode *inode = file_inode(file);
	pgoff_t end = DIV_ROUND_UP(i_size_read(inode), PAGE_SIZE);
	bool fresh = !m->folios.nr_pages;
	struct memfd_move move = { };
	struct folio_batch fbatch;
	pgoff_t index = 0;
	int err = 0;

	folio_batch_init(&fbatch);
	while (!err && index < end &&
	       filemap_get_folios(inode->i_mapping, &index, end - 1, &fbatch)) {
		err = memfd_hold_found(file, m, &fbatch, fresh, &move);
		folio_batch_reinit(&fbatch);
		/* A killed depositor should not finish a GiB it will undo. */
		if (!err && fatal_signal_pending(current))
			err = -EINTR;
		cond_resched();
	}
	if (!err)
		err = memfd_move_flush(file, m, &move);
	if (err || !READ_ONCE(SHMEM_I(inode)->swapped))
		return err;

	index = 0;
	while (!err && index < end) {
		void *entry;

		if (fatal_signal_pending(current))
			return -EINTR;
		entry = xa_find(&inode->i_mapping->i_pages, &index, end - 1, XA_PRESENT);
		if (!entry)
			break;
		/*
		 * No reference taken: if it is one we hold, it cannot go
		 * away; if not, its fields are only compared.
		 */
		if (!xa_is_value(entry) && fdbox_folios_holds(&m->folios, entry))
			index = ((struct folio *)entry)->index + folio_nr_pages(entry);
		else
			err = memfd_hold_one(file, m, &index);
		cond_resched();
	}
	return err;
}

static void memfd_restore_evictable(struct inode *inode, struct fdbox_memfd *m)
{
	if (!m->was_unevictable) {
		mapping_clear_unevictable(inode->i_mapping);
		shmem_unlock_mapping(inode->i_mapping);
	}
}

static int memfd_preserve(struct fdbox_item *item)
{
	struct file *file = item->file;
	struct inode *inode = file_inode(file);
	struct fdbox_memfd *m;
	int err;

	/* Retrieved in this kernel, it may be taking its pages back still. */
	err = shmem_wait_filler(inode);
	if (err)
		return err;
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	fdbox_folios_init(&m->folios);

	inode_lock(inode);
	shmem_set_preserve(inode, SHMEM_PRESERVE_SIZE);
	/* First, so that reclaim does not swap out what the walk passed. */
	m->was_unevictable = mapping_unevictable(inode->i_mapping);
	mapping_set_unevictable(inode->i_mapping);
	err = memfd_hold_all(file, m);
	if (err) {
		fdbox_folios_drop(&m->folios);
		memfd_restore_evictable(inode, m);
		shmem_set_preserve(inode, 0);
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
	memfd_restore_evictable(inode, m);
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
	if (READ_ONCE(inode->i_mapping->nrpages) != m->folios.nr_pages ||
	    READ_ONCE(SHMEM_I(inode)->swapped))
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

static struct file *memfd_retrieve(struct fdbox_item *item, bool *untouched)
{
	u64 preserved = fdbox_fdt_u64(item->fdt, item->node, "preserved");
	struct fdbox_memfile d;
	struct fdbox_runs runs;
	struct file *file;
	char *fullname;
	int err;

	err = fdbox_memfile_parse(item, MEMFD_SEALS, &d);
	if (err)
		return ERR_PTR(err);
	/* Failing here leaves the memory alone, for another try. */
	*untouched = true;
	if (fdbox_runs_alloc(&d.in, &runs))
		return ERR_PTR(-ENOMEM);
	if (fdbox_folios_keep_start(item)) {
		fdbox_runs_free(&runs);
		return ERR_PTR(-ENOMEM);
	}
	fullname = kasprintf(GFP_KERNEL, MFD_PREFIX "%s", d.name);
	file = fullname ? shmem_file_setup(fullname, d.size, VM_NORESERVE) : ERR_PTR(-ENOMEM);
	kfree(fullname);
	/* Every block at once: short of them, nothing is put in. */
	if (!IS_ERR(file)) {
		err = shmem_reserve_blocks(file_inode(file), preserved >> PAGE_SHIFT);
		if (err) {
			fput(file);
			file = ERR_PTR(err);
		}
	}
	if (IS_ERR(file)) {
		fdbox_folios_finish(item);
		fdbox_runs_free(&runs);
		return file;
	}
	*untouched = false;
	file->f_mode |= FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE;
	file->f_flags |= O_LARGEFILE;
	file_inode(file)->i_mode = (file_inode(file)->i_mode & ~0777) | d.mode;
	SHMEM_I(file_inode(file))->seals = d.seals;

	err = fdbox_runs_take(&d.in, MAX_PAGECACHE_ORDER, DIV_ROUND_UP(d.size, PAGE_SIZE),
			      &runs);
	if (!err && (preserved & ~PAGE_MASK || runs.nr_pages != preserved >> PAGE_SHIFT)) {
		pr_err("a memfd's runs hold %lu pages, not the %llu bytes it says; released\n",
		       runs.nr_pages, preserved);
		fdbox_runs_release(&runs);
		fdbox_runs_free(&runs);
		err = -EINVAL;
	}
	if (err) {
		shmem_unreserve_blocks(file_inode(file), preserved >> PAGE_SHIFT);
		goto fail;
	}
	/*
	 * A device depending on the memfd finds every page in place; a small
	 * file is put back faster than a fill can be set up and torn down.
	 */
	if (item->dependents || runs.nr_folios < MEMFD_FILL_MIN_FOLIOS ||
	    memfd_fill_start(file, &runs)) {
		/*
		 * A hole where a device was given a page would take its DMA
		 * behind the file's back: such a memfd is not handed out.
		 */
		if (memfd_fill_now(item, file, &runs) && item->dependents) {
			err = -EIO;
			goto fail;
		}
	}
	return file;

fail:
	fdbox_folios_finish(item);
	fput(file);
	return ERR_PTR(err);
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
	.finish		= fdbox_folios_finish,
};

static int __init fdbox_memfd_init(void)
{
	return fdbox_register_handler(&memfd_handler);
}
device_initcall(fdbox_memfd_init);

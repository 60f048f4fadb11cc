// SPDX-License-Identifier: GPL-2.0-only
/*
 * fdbox: a retrieved memfd takes its pages back on demand.
 */

/**
 * DOC: memfd refill
 *
 * Putting one preserved folio back into a file (KHO restore, memory
 * cgroup charge, page cache insertion) costs about what a page fault
 * does, and a TiB of base pages is 2^28 folios: a retrieve that put
 * every folio back before returning would cost time in proportion to
 * the file. So a retrieved memfd is returned with its runs decoded and
 * checked but its page cache empty, and a filler (struct shmem_filler):
 * a lookup that finds no page at an index asks it, and the folio
 * preserved for that index goes back on the spot, with those that follow
 * it up to 64 KiB (what fault-around maps at once). A work item puts back
 * the others in file order, then removes the filler; until then it
 * holds the file open. Each folio has a claimed bit and a done bit:
 * whoever claims it puts it back, the others wait for done.
 *
 * The retriever's memory cgroup is charged for what the work puts back,
 * as when retrieve did it all; a fault charges the faulting task's, as
 * any shmem fault does.
 *
 * FDBOX_FINISH waits for the fills under way (fdbox_restore_begin()), and
 * the memfd's deposit for the next update waits for its own
 * (shmem_wait_filler()), so that both see every page.
 *
 * A memfd other items depend on (a device DMAing into it), a small one
 * (fewer than 512 folios: 2 MiB of base pages), or one whose bitmaps
 * cannot be allocated, is put back whole before its retrieve returns
 * (memfd_fill_now()).
 *
 * The file's blocks are reserved for every page before the retrieve
 * touches anything (shmem_reserve_blocks()): once, and not by a fill
 * halfway.
 *
 * A folio KHO does not give back (a handover whose runs and KHO's own
 * record disagree) is lost: its index reads as a hole, its blocks are
 * given back, and one log line counts the pages lost.
 *
 * Locking: the bitmaps change by atomic bit operations, the runs are
 * read-only. The filler is called under shmem's SRCU, which
 * shmem_set_filler() waits for before the work frees the fill.
 */

#define pr_fmt(fmt) "fdbox-memfd: " fmt

#include <linux/bitops.h>
#include <linux/fdbox.h>
#include <linux/file.h>
#include <linux/kho.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>

#include <trace/events/fdbox.h>

#include "folios.h"
#include "memfd_fill.h"

/* What a fault puts back: as much as fault-around maps by default. */
#define FILL_AHEAD_PAGES	16

/**
 * struct memfd_fill - a memfd whose folios are still coming back
 * @filler: what shmem asks for a missing page
 * @file: the memfd, held open until every folio is back
 * @memcg: charged for what @work puts back
 * @runs: the folios, in file order
 * @claimed: one bit per folio: someone puts it back
 * @done: it is in the file (or lost)
 * @lost: KHO did not give it back
 * @on_demand: how many a lookup put back (for the trace)
 * @lost_pages: base pages of the folios lost
 * @work: puts back the folios no fault asked for
 */
struct memfd_fill {
	struct shmem_filler filler;
	struct file *file;
	struct mem_cgroup *memcg;
	struct fdbox_runs runs;
	unsigned long *claimed;
	unsigned long *done;
	unsigned long *lost;
	atomic_long_t on_demand;
	atomic_long_t lost_pages;
	struct work_struct work;
};

/*
 * Put folio @j of @run back into @file; with @keep, keep it in place for
 * the item's dependents. Return: 0, -EIO if KHO does not give it, or
 * the error of its insertion.
 */
static int fill_folio(struct file *file, const struct fdbox_run *run, u64 j,
		      struct fdbox_item *keep)
{
	pgoff_t index = run->index + (j << run->order);
	struct folio *folio;
	int err;

	folio = kho_restore_folio(fdbox_run_folio(run, j));
	if (!folio)
		return -EIO;
	if (folio_order(folio) != run->order) {
		folio_put(folio);
		return -EIO;
	}
	/*
	 * Out of KHO now: failing to index it would lose its contents. Every
	 * path that could fill its place first asks the filler.
	 */
	err = shmem_insert_folio(file, folio, index, GFP_KERNEL | __GFP_NOFAIL);
	if (!err && keep)
		fdbox_folios_keep(keep, folio, index);
	folio_put(folio);
	return err;
}

/*
 * Put folio @n (of @run) back, unless someone else does: then wait for
 * them. @on_demand: a lookup asks. Return: 1 when it is in the file, 0 if
 * it is lost.
 */
static int fill_claimed(struct memfd_fill *fill, const struct fdbox_run *run,
			unsigned long n, bool on_demand)
{
	if (!test_and_set_bit(n, fill->claimed)) {
		if (on_demand)
			atomic_long_inc(&fill->on_demand);
		if (fill_folio(fill->file, run, n - run->first, NULL)) {
			set_bit(n, fill->lost);
			atomic_long_add(1UL << run->order, &fill->lost_pages);
		}
		/* The page cache entry and @lost before @done. */
		smp_mb__before_atomic();
		set_bit(n, fill->done);
		/* @done before wake_up_var() looks for waiters. */
		smp_mb__after_atomic();
		wake_up_var(fill);
	} else {
		wait_var_event(fill, test_bit_acquire(n, fill->done));
	}
	return !test_bit(n, fill->lost);
}

static int memfd_fill_index(struct shmem_filler *filler, pgoff_t index)
{
	struct memfd_fill *fill = container_of(filler, struct memfd_fill, filler);
	const struct fdbox_run *run = fdbox_runs_find(&fill->runs, index);
	unsigned long n, ahead, end;
	int ret;

	if (!run)
		return 0;
	n = run->first + ((index - run->index) >> run->order);
	ret = fill_claimed(fill, run, n, true);
	/*
	 * A fault maps the pages around it that are in the page cache
	 * (fault-around): put back those that follow in the run too, so
	 * that one fault maps them all.
	 */
	end = min(run->first + run->nr, n + (FILL_AHEAD_PAGES >> run->order));
	for (ahead = n + 1; ret > 0 && ahead < end && !test_bit(ahead, fill->claimed); ahead++)
		fill_claimed(fill, run, ahead, true);
	return ret;
}

static void memfd_fill_free(struct memfd_fill *fill)
{
	kvfree(fill->claimed);
	fdbox_runs_free(&fill->runs);
	kfree(fill);
}

/* Log and give back the blocks of the pages of a memfd that did not come. */
static void fill_lost(struct inode *inode, unsigned long lost)
{
	if (!lost)
		return;
	shmem_unreserve_blocks(inode, lost);
	pr_err("%lu pages of a memfd could not be put back (not preserved memory); their places read as holes\n",
	       lost);
}

static void memfd_fill_work(struct work_struct *work)
{
	struct memfd_fill *fill = container_of(work, struct memfd_fill, work);
	struct inode *inode = file_inode(fill->file);
	unsigned long r, lost;
	struct mem_cgroup *old;
	u64 j;

	old = set_active_memcg(fill->memcg);
	for (r = 0; r < fill->runs.nr_runs; r++) {
		const struct fdbox_run *run = &fill->runs.run[r];

		for (j = 0; j < run->nr; j++) {
			fill_claimed(fill, run, run->first + j, false);
			cond_resched();
		}
	}
	set_active_memcg(old);
	shmem_set_filler(inode, NULL);

	lost = atomic_long_read(&fill->lost_pages);
	trace_fdbox_fill_end(inode->i_ino, atomic_long_read(&fill->on_demand), lost);
	fill_lost(inode, lost);
	fput(fill->file);
	mem_cgroup_put(fill->memcg);
	memfd_fill_free(fill);
	fdbox_restore_end();
}

/**
 * memfd_fill_now - put every folio of a retrieved memfd back at once
 * @item: the incoming item, whose kept folios fdbox_folios_keep() records
 * @file: the new memfd, with blocks reserved for every page of @runs
 * @runs: its folios; freed
 *
 * A folio that cannot be put back is lost, as in a fill on demand.
 *
 * Return: the number of pages lost.
 */
unsigned long memfd_fill_now(struct fdbox_item *item, struct file *file,
			     struct fdbox_runs *runs)
{
	unsigned long r, lost = 0;
	u64 j;

	for (r = 0; r < runs->nr_runs; r++) {
		const struct fdbox_run *run = &runs->run[r];

		for (j = 0; j < run->nr; j++) {
			if (fill_folio(file, run, j, item))
				lost += 1UL << run->order;
			cond_resched();
		}
	}
	fill_lost(file_inode(file), lost);
	fdbox_runs_free(runs);
	return lost;
}

/**
 * memfd_fill_start - let a retrieved memfd take its folios back on demand
 * @file: the new memfd, which no one else has yet
 * @runs: its folios; taken over on success
 *
 * Return: 0, or -ENOMEM (then @runs is the caller's still).
 */
int memfd_fill_start(struct file *file, struct fdbox_runs *runs)
{
	size_t longs = BITS_TO_LONGS(runs->nr_folios);
	struct memfd_fill *fill;

	fill = kzalloc(sizeof(*fill), GFP_KERNEL);
	if (!fill)
		return -ENOMEM;
	/* One allocation for the three bitmaps: 96 KiB for a GiB of 4 KiB pages. */
	fill->claimed = kvcalloc(3 * longs, sizeof(long), GFP_KERNEL);
	if (!fill->claimed) {
		kfree(fill);
		return -ENOMEM;
	}
	fill->done = fill->claimed + longs;
	fill->lost = fill->done + longs;
	fill->runs = *runs;
	memset(runs, 0, sizeof(*runs));
	fill->filler.fill = memfd_fill_index;
	fill->file = get_file(file);
	fill->memcg = get_mem_cgroup_from_current();
	INIT_WORK(&fill->work, memfd_fill_work);
	trace_fdbox_fill_start(file_inode(file)->i_ino, fill->runs.nr_folios);
	shmem_set_filler(file_inode(file), &fill->filler);
	fdbox_restore_begin();
	queue_work(system_unbound_wq, &fill->work);
	return 0;
}

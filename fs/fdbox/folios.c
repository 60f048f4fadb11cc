// SPDX-License-Identifier: GPL-2.0-only
/*
 * fdbox: the folios a memory file's handler holds, and the runs that
 * describe them in the handover.
 */

/**
 * DOC: held folios and their runs
 *
 * A handler of a file backed by folios (memfd on shmem, on hugetlbfs)
 * holds each folio of the file with a reference and preserves it with
 * kho_preserve_folio(). At freeze the held folios, in file order, are
 * merged into runs (struct fdbox_memfd_run): a few go into the FDT, more
 * into blocks of preserved memory. In the next kernel the runs are
 * walked in file order and each folio is handed to the handler, or
 * released to the page allocator.
 *
 * The memfd and hugetlb handlers describe their files alike: name,
 * seals, mode and runs (fdbox_memfile_describe(), fdbox_memfile_parse()).
 *
 * Locking: a handler calls the outgoing functions with its file's inode
 * lock held, so only one of them changes the held folios at a time; the
 * xarray's own lock covers each store, and one batch of them.
 */

#define pr_fmt(fmt) "fdbox: " fmt

#include <linux/crc32.h>
#include <linux/fdbox.h>
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/kho.h>
#include <linux/libfdt.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "folios.h"
#include "internal.h"

/* The largest order a run may have: order + PAGE_SHIFT stays below 64. */
#define FDBOX_RELEASE_MAX_ORDER	(63 - PAGE_SHIFT - 1)

void fdbox_folios_init(struct fdbox_folios *f)
{
	memset(f, 0, sizeof(*f));
	xa_init(&f->held);
}

/* Hold and preserve @folio; takes over the caller's reference. */
int fdbox_folios_hold(struct fdbox_folios *f, struct folio *folio)
{
	int err = -EFBIG;

	if (folio->index > FDBOX_MEMFD_INDEX_MASK)
		goto put;
	err = kho_preserve_folio(folio);
	if (err)
		goto put;
	err = xa_err(xa_store(&f->held, folio->index, folio, GFP_KERNEL));
	if (err) {
		kho_unpreserve_folio(folio);
		goto put;
	}
	f->nr_pages += folio_nr_pages(folio);
	return 0;
put:
	folio_put(folio);
	return err;
}

/*
 * Hold and preserve @nr folios, none of them held yet, taking over the
 * caller's references: one KHO lock and one xarray lock for the batch.
 * On error none is held and every reference is put.
 */
int fdbox_folios_hold_batch(struct fdbox_folios *f, struct folio **folios,
			    unsigned int nr)
{
	XA_STATE(xas, &f->held, 0);
	unsigned int i, stored = 0;
	int err = 0;

	for (i = 0; i < nr; i++)
		if (folios[i]->index > FDBOX_MEMFD_INDEX_MASK)
			err = -EFBIG;
	err = err ?: kho_preserve_folios(folios, nr);
	if (err)
		goto put;
	do {
		bool walked = false;

		xas_lock(&xas);
		for (; stored < nr; stored++) {
			pgoff_t index = folios[stored]->index;

			/* Indices one after the other: step, not a walk from the root. */
			if (walked && index == xas.xa_index + 1)
				xas_next(&xas);
			else
				xas_set(&xas, index);
			xas_store(&xas, folios[stored]);
			if (xas_error(&xas))
				break;
			walked = true;
		}
		xas_unlock(&xas);
	} while (xas_nomem(&xas, GFP_KERNEL));
	err = xas_error(&xas);
	if (err) {
		for (i = 0; i < stored; i++)
			xa_erase(&f->held, folios[i]->index);
		for (i = 0; i < nr; i++)
			kho_unpreserve_folio(folios[i]);
		goto put;
	}
	for (i = 0; i < nr; i++)
		f->nr_pages += folio_nr_pages(folios[i]);
	return 0;
put:
	for (i = 0; i < nr; i++)
		folio_put(folios[i]);
	return err;
}

/**
 * fdbox_range_leave_scratch - move a memfd's pages out of KHO scratch
 * @file: the memfd
 * @start: the first page index of the range
 * @end: the page index past it; the range has no hole
 *
 * KHO lends scratch to movable allocations and refuses to preserve what
 * is in it. A long-term pin migrates the folios in scratch out, as it
 * would out of a CMA area: up to FDBOX_LEAVE_MAX folios per pin, which is
 * one migration for all of them. The pins are dropped at once. The
 * caller then looks the range up again.
 *
 * Return: 0 or -errno (-ENOMEM when no memory outside scratch is free).
 */
int fdbox_range_leave_scratch(struct file *file, pgoff_t start, pgoff_t end)
{
	unsigned int max = min_t(pgoff_t, end - start, FDBOX_LEAVE_MAX);
	loff_t size = i_size_read(file_inode(file));
	struct folio **pinned;
	int err = 0;

	pinned = kmalloc_array(max, sizeof(*pinned), GFP_KERNEL);
	if (!pinned)
		return -ENOMEM;
	while (start < end) {
		loff_t first = (loff_t)start << PAGE_SHIFT;
		loff_t last = min_t(loff_t, (loff_t)end << PAGE_SHIFT, size) - 1;
		pgoff_t offset;
		long n;

		if (first > last)
			break;
		n = memfd_pin_folios(file, first, last, pinned, max, &offset);
		if (n <= 0) {
			err = n;
			break;
		}
		start = pinned[n - 1]->index + folio_nr_pages(pinned[n - 1]);
		unpin_folios(pinned, n);
		cond_resched();
	}
	kfree(pinned);
	return err;
}

/**
 * fdbox_folio_leave_scratch - move a folio of a memfd out of KHO scratch
 * @file: the memfd
 * @folio: a folio of @file in scratch; the caller's reference, which is
 *	dropped
 *
 * As fdbox_range_leave_scratch(), for one folio. The caller then looks
 * the index up again.
 *
 * Return: 0 or -errno.
 */
int fdbox_folio_leave_scratch(struct file *file, struct folio *folio)
{
	loff_t start = (loff_t)folio->index << PAGE_SHIFT;
	loff_t end = min_t(loff_t, start + folio_size(folio),
			   i_size_read(file_inode(file))) - 1;
	struct folio *pinned;
	pgoff_t offset;
	long n;

	folio_put(folio);
	n = memfd_pin_folios(file, start, end, &pinned, 1, &offset);
	if (n < 0)
		return n;
	unpin_folio(pinned);
	return 0;
}

bool fdbox_folios_holds(struct fdbox_folios *f, struct folio *folio)
{
	return xa_load(&f->held, folio->index) == folio;
}

/* Unpreserve and let go of every folio held. */
void fdbox_folios_drop(struct fdbox_folios *f)
{
	struct folio *folio;
	unsigned long index;

	xa_for_each(&f->held, index, folio) {
		kho_unpreserve_folio(folio);
		folio_put(folio);
		cond_resched();
	}
	xa_destroy(&f->held);
	f->nr_pages = 0;
}

struct runs_builder {
	struct fdbox_memfd_run *out;	/* the runs emitted, */
	unsigned long nr, cap;		/* how many, and room for */
	int err;
	u64 phys, index, count;		/* the open run */
	unsigned int order;
	bool down;			/* it goes down in memory, */
	unsigned int shift;		/* in chunks of 2^shift folios */
};

/* Make room for one more run. May sleep: not under RCU. */
static void runs_grow(struct runs_builder *r)
{
	unsigned long cap = max(64UL, r->cap * 2);
	struct fdbox_memfd_run *out;

	if (r->nr < r->cap || r->err)
		return;
	out = kvrealloc(r->out, cap * sizeof(*out), GFP_KERNEL);
	if (!out) {
		r->err = -ENOMEM;
		return;
	}
	r->out = out;
	r->cap = cap;
}

/* Close the open run. Needs room for it: see runs_grow(). */
static void runs_emit(struct runs_builder *r)
{
	struct fdbox_memfd_run *run;

	if (!r->count || r->err)
		return;
	run = &r->out[r->nr++];
	run->phys_order = cpu_to_le64(r->phys | r->order |
				      (r->down ? FDBOX_MEMFD_RUN_DOWN : 0) |
				      ((u64)r->shift << FDBOX_MEMFD_SHIFT_SHIFT));
	run->index_nr = cpu_to_le64(r->index |
				    ((r->count - 1) << FDBOX_MEMFD_INDEX_BITS));
	r->count = 0;
}

/* Where folio @j of a run is: see struct fdbox_memfd_run. */
static u64 run_folio_phys(u64 phys, unsigned int order, bool down,
			  unsigned int shift, u64 j)
{
	unsigned int fshift = order + PAGE_SHIFT;
	u64 chunk_mask = (1ULL << shift) - 1;

	if (!down)
		return phys + (j << fshift);
	return phys + ((j & chunk_mask) << fshift) - ((j & ~chunk_mask) << fshift);
}

/*
 * Does the folio at @index extend the open run? A run going up that meets
 * a folio just below its start turns into one going down, in chunks of
 * its length so far (a power of two).
 */
static bool runs_extend(struct runs_builder *r, unsigned long index,
			unsigned int order, u64 phys)
{
	u64 step = r->count << order;

	if (!r->count || order != r->order || r->count >= FDBOX_MEMFD_MAX_RUN ||
	    index != r->index + step)
		return false;
	if (phys == run_folio_phys(r->phys, order, r->down, r->shift, r->count))
		return true;
	if (!r->down && is_power_of_2(r->count) && ilog2(r->count) <= 31 &&
	    phys + (step << PAGE_SHIFT) == r->phys) {
		r->down = true;
		r->shift = ilog2(r->count);
		return true;
	}
	return false;
}

/*
 * Walk the held folios in file order, merging them into runs, into
 * @r->out. One walk of the xarray, not a lookup from its root per folio:
 * the caller holds the inode lock, so nothing is added or removed
 * meanwhile.
 */
static int runs_make(struct fdbox_folios *f, struct runs_builder *r)
{
	XA_STATE(xas, &f->held, 0);
	struct folio *folio;

	rcu_read_lock();
	xas_for_each(&xas, folio, ULONG_MAX) {
		unsigned long index = xas.xa_index;
		unsigned int order;
		u64 phys;

		if (xas_retry(&xas, folio))
			continue;
		/* Room for the run this folio may close; the folio is held. */
		if (need_resched() || r->nr == r->cap) {
			xas_pause(&xas);
			rcu_read_unlock();
			runs_grow(r);
			cond_resched();
			rcu_read_lock();
			if (r->err)
				break;
		}
		order = folio_order(folio);
		phys = PFN_PHYS(folio_pfn(folio));
		if (runs_extend(r, index, order, phys)) {
			r->count++;
			continue;
		}
		runs_emit(r);
		r->phys = phys;
		r->index = index;
		r->order = order;
		r->down = false;
		r->shift = 0;
		r->count = 1;
	}
	rcu_read_unlock();
	if (r->count)
		runs_grow(r);
	runs_emit(r);
	return r->err;
}

static size_t block_bytes(unsigned long nr_runs)
{
	return PAGE_ALIGN(nr_runs * sizeof(struct fdbox_memfd_run));
}

static unsigned long block_runs(struct fdbox_folios *f, unsigned int b)
{
	return min_t(unsigned long, f->nr_runs - (unsigned long)b * FDBOX_MEMFD_BLOCK_RUNS,
		     FDBOX_MEMFD_BLOCK_RUNS);
}

/* Free what fdbox_folios_describe() built, or the part it got to. */
void fdbox_folios_undescribe(struct fdbox_folios *f)
{
	unsigned int b;

	for (b = 0; f->block_va && b < f->nr_blocks; b++) {
		size_t bytes = block_bytes(block_runs(f, b));

		if (!f->block_va[b])
			break;
		if (f->blocks[b].phys)
			kho_unpreserve_phys(virt_to_phys(f->block_va[b]), bytes);
		free_pages_exact(f->block_va[b], bytes);
	}
	kfree(f->block_va);
	kfree(f->blocks);
	kvfree(f->inline_runs);
	f->inline_runs = NULL;
	f->block_va = NULL;
	f->blocks = NULL;
	f->nr_blocks = 0;
	f->nr_runs = 0;
}

/*
 * Describe the held folios as runs, inline or in preserved blocks. On
 * error the caller calls fdbox_folios_undescribe().
 */
int fdbox_folios_describe(struct fdbox_folios *f)
{
	struct runs_builder r = {};
	unsigned int b;
	int err;

	err = runs_make(f, &r);
	if (err)
		goto out;
	f->nr_runs = r.nr;
	if (f->nr_runs <= FDBOX_MEMFD_INLINE_RUNS) {
		if (f->nr_runs) {
			f->inline_runs = r.out;
			r.out = NULL;
		}
		goto out;
	}
	err = -ENOMEM;
	f->nr_blocks = DIV_ROUND_UP(f->nr_runs, FDBOX_MEMFD_BLOCK_RUNS);
	f->blocks = kcalloc(f->nr_blocks, sizeof(*f->blocks), GFP_KERNEL);
	f->block_va = kcalloc(f->nr_blocks, sizeof(*f->block_va), GFP_KERNEL);
	if (!f->blocks || !f->block_va)
		goto out;
	for (b = 0; b < f->nr_blocks; b++) {
		size_t bytes = block_bytes(block_runs(f, b));

		f->block_va[b] = alloc_pages_exact(bytes, GFP_KERNEL | __GFP_ZERO);
		if (!f->block_va[b])
			goto out;
		memcpy(f->block_va[b], r.out + (unsigned long)b * FDBOX_MEMFD_BLOCK_RUNS,
		       block_runs(f, b) * sizeof(*r.out));
	}
	err = 0;
	for (b = 0; b < f->nr_blocks; b++) {
		unsigned long nr = block_runs(f, b);
		void *va = f->block_va[b];

		err = kho_preserve_phys(virt_to_phys(va), block_bytes(nr));
		if (err)
			break;
		f->blocks[b].phys = cpu_to_le64(virt_to_phys(va));
		f->blocks[b].nr_runs = cpu_to_le32(nr);
		f->blocks[b].crc = cpu_to_le32(crc32_le(~0, va,
							nr * sizeof(struct fdbox_memfd_run)));
	}
out:
	kvfree(r.out);
	return err;
}

/* Add memfd-runs or memfd-blocks to the item's node; a libfdt error. */
int fdbox_folios_serialize(struct fdbox_folios *f, void *fdt)
{
	if (f->inline_runs)
		return fdt_property(fdt, "memfd-runs", f->inline_runs,
				    f->nr_runs * sizeof(*f->inline_runs));
	return fdt_property(fdt, "memfd-blocks", f->blocks,
			    f->nr_blocks * sizeof(*f->blocks));
}

/* Bytes of handover metadata: the runs in the FDT, or the blocks. */
u64 fdbox_folios_metadata(struct fdbox_folios *f)
{
	u64 bytes;
	unsigned int b;

	bytes = f->inline_runs ? f->nr_runs * sizeof(*f->inline_runs) :
				 f->nr_blocks * sizeof(*f->blocks);
	for (b = 0; b < f->nr_blocks; b++)
		bytes += block_bytes(block_runs(f, b));
	return bytes;
}

struct runs_walk {
	unsigned int max_order;
	fdbox_folio_restore_fn restore;	/* NULL: release everything */
	void *priv;
	pgoff_t next;			/* runs must go up in the file */
	pgoff_t end;
	int err;			/* once set, release the rest */
};

static int walk_folio(struct runs_walk *w, u64 phys, unsigned int order, u64 index)
{
	int err;

	if (!IS_ALIGNED(index, 1UL << order) || index < w->next || index >= w->end)
		return -EINVAL;
	err = w->restore(w->priv, phys, order, index);
	w->next = index + (1UL << order);
	return err;
}

/* Hand the folios of @runs to the handler, or release them. */
static void walk_runs(struct runs_walk *w, const struct fdbox_memfd_run *runs,
		      unsigned long nr)
{
	unsigned long i;

	for (i = 0; i < nr; i++) {
		u64 po = le64_to_cpu(runs[i].phys_order);
		u64 in = le64_to_cpu(runs[i].index_nr);
		unsigned int order = po & FDBOX_MEMFD_ORDER_MASK;
		bool down = po & FDBOX_MEMFD_RUN_DOWN;
		unsigned int shift = (po & FDBOX_MEMFD_SHIFT_MASK) >> FDBOX_MEMFD_SHIFT_SHIFT;
		u64 phys = po & ~FDBOX_MEMFD_FLAGS_MASK;
		u64 index = in & FDBOX_MEMFD_INDEX_MASK;
		u64 j, count = (in >> FDBOX_MEMFD_INDEX_BITS) + 1;
		u64 last_chunk = ((count - 1) >> shift) << shift;

		/* A run going down must not wrap below 0; up has no chunks. */
		if (order > w->max_order || !PAGE_ALIGNED(phys) ||
		    (down && (phys >> (order + PAGE_SHIFT)) < last_chunk) ||
		    (!down && shift)) {
			w->err = w->err ?: -EINVAL;
			continue;
		}
		for (j = 0; j < count; j++) {
			u64 fphys = run_folio_phys(phys, order, down, shift, j);

			if (!w->err)
				w->err = walk_folio(w, fphys, order, index + (j << order));
			if (w->err)
				kho_release_folio(fphys);
			cond_resched();
		}
	}
}

static int walk(const struct fdbox_folios_in *in, struct runs_walk *w)
{
	const struct fdbox_memfd_run *runs;
	unsigned int b;

	walk_runs(w, in->runs, in->nr_runs);
	for (b = 0; b < in->nr_blocks; b++) {
		u64 bphys = le64_to_cpu(in->blocks[b].phys);
		u32 nr = le32_to_cpu(in->blocks[b].nr_runs);
		size_t bytes = block_bytes(nr);

		if (!nr || nr > FDBOX_MEMFD_BLOCK_RUNS || kho_restore_phys(bphys, bytes)) {
			pr_err("block %u of an item's runs is not preserved memory; its pages stay reserved\n",
			       b);
			w->err = w->err ?: -EINVAL;
			continue;
		}
		runs = phys_to_virt(bphys);
		if (crc32_le(~0, (const u8 *)runs, nr * sizeof(*runs)) ==
		    le32_to_cpu(in->blocks[b].crc)) {
			walk_runs(w, runs, nr);
		} else {
			pr_err("block %u of an item's runs fails its checksum; its pages stay reserved\n",
			       b);
			w->err = w->err ?: -EINVAL;
		}
		free_pages_exact((void *)runs, bytes);
	}
	return w->err;
}

/**
 * fdbox_folios_parse - find the runs of an item node
 * @fdt: the handover FDT
 * @node: the item's node
 * @in: filled with the runs and blocks found
 *
 * Return: false if they are malformed.
 */
bool fdbox_folios_parse(const void *fdt, int node, struct fdbox_folios_in *in)
{
	int len;

	in->runs = fdt_getprop(fdt, node, "memfd-runs", &len);
	in->nr_runs = in->runs ? len / sizeof(*in->runs) : 0;
	if (in->runs && len % sizeof(*in->runs))
		return false;
	in->blocks = fdt_getprop(fdt, node, "memfd-blocks", &len);
	in->nr_blocks = in->blocks ? len / sizeof(*in->blocks) : 0;
	if (in->blocks && len % sizeof(*in->blocks))
		return false;
	return true;
}

/**
 * fdbox_folios_restore - hand every folio of an item to its handler
 * @in: the item's runs
 * @max_order: the largest folio order the handler takes
 * @end: the file's size in pages: every folio must end before it
 * @restore: called for each folio, in file order
 * @priv: its first argument
 *
 * Once a folio is out of order, or @restore fails, the rest is released.
 * Every block of runs is freed either way.
 *
 * Return: 0, or the first error.
 */
int fdbox_folios_restore(const struct fdbox_folios_in *in, unsigned int max_order,
			 pgoff_t end, fdbox_folio_restore_fn restore, void *priv)
{
	struct runs_walk w = {
		.max_order = max_order, .restore = restore, .priv = priv, .end = end,
	};

	return walk(in, &w);
}

/* Read one run; false if it is malformed on its own. */
static bool run_decode(const struct fdbox_memfd_run *raw, unsigned int max_order,
		       struct fdbox_run *run)
{
	u64 po = le64_to_cpu(raw->phys_order);
	u64 in = le64_to_cpu(raw->index_nr);
	u64 last_chunk;

	run->order = po & FDBOX_MEMFD_ORDER_MASK;
	run->down = po & FDBOX_MEMFD_RUN_DOWN;
	run->shift = (po & FDBOX_MEMFD_SHIFT_MASK) >> FDBOX_MEMFD_SHIFT_SHIFT;
	run->phys = po & ~FDBOX_MEMFD_FLAGS_MASK;
	run->index = in & FDBOX_MEMFD_INDEX_MASK;
	run->nr = (in >> FDBOX_MEMFD_INDEX_BITS) + 1;
	last_chunk = ((run->nr - 1) >> run->shift) << run->shift;
	/* A run going down must not wrap below 0; up has no chunks. */
	return run->order <= max_order && PAGE_ALIGNED(run->phys) &&
	       IS_ALIGNED(run->index, 1ULL << run->order) &&
	       !(run->down && (run->phys >> (run->order + PAGE_SHIFT)) < last_chunk) &&
	       !(!run->down && run->shift);
}

/**
 * fdbox_run_folio - where a folio of a decoded run is
 * @run: the run
 * @j: the folio's number in it
 *
 * Return: its physical address.
 */
u64 fdbox_run_folio(const struct fdbox_run *run, u64 j)
{
	return run_folio_phys(run->phys, run->order, run->down, run->shift, j);
}

/**
 * fdbox_runs_alloc - make room for the runs of an item, before taking them
 * @in: the item's runs, as found in its node
 * @runs: gets the room
 *
 * Touches nothing of the handover: failing here leaves the item as it was.
 *
 * Return: 0, or -ENOMEM.
 */
int fdbox_runs_alloc(const struct fdbox_folios_in *in, struct fdbox_runs *runs)
{
	unsigned long nr = in->nr_runs;
	unsigned int b;

	for (b = 0; b < in->nr_blocks; b++)
		nr += min_t(u32, le32_to_cpu(in->blocks[b].nr_runs), FDBOX_MEMFD_BLOCK_RUNS);
	memset(runs, 0, sizeof(*runs));
	runs->run = kvmalloc_array(max(nr, 1UL), sizeof(*runs->run), GFP_KERNEL | __GFP_NOWARN);
	return runs->run ? 0 : -ENOMEM;
}

/**
 * fdbox_runs_release - give every folio of decoded runs to the page allocator
 * @runs: decoded runs whose folios were not restored
 */
void fdbox_runs_release(const struct fdbox_runs *runs)
{
	unsigned long r;
	u64 j;

	for (r = 0; r < runs->nr_runs; r++) {
		for (j = 0; j < runs->run[r].nr; j++) {
			kho_release_folio(fdbox_run_folio(&runs->run[r], j));
			cond_resched();
		}
	}
}

/*
 * Decode @nr runs after those already in @runs. Once one is malformed
 * (*@ok false) the others are still added if they make sense alone, for
 * their folios to be released; KHO checks each before it frees it.
 */
static void runs_add(struct fdbox_runs *runs, const struct fdbox_memfd_run *raw,
		     unsigned long nr, unsigned int max_order, pgoff_t end, bool *ok)
{
	unsigned long i;

	for (i = 0; i < nr; i++) {
		struct fdbox_run *run = &runs->run[runs->nr_runs];
		const struct fdbox_run *prev = runs->nr_runs ? run - 1 : NULL;
		pgoff_t next = prev ? prev->index + (prev->nr << prev->order) : 0;

		if (!run_decode(&raw[i], max_order, run)) {
			*ok = false;
			continue;
		}
		if (run->index < next || run->index > end ||
		    run->nr > (end - run->index) >> run->order)
			*ok = false;
		run->first = runs->nr_folios;
		runs->nr_folios += run->nr;
		runs->nr_pages += run->nr << run->order;
		runs->nr_runs++;
	}
}

/**
 * fdbox_runs_take - decode and check the runs of an item, in file order
 * @in: the item's runs, as found in its node
 * @max_order: the largest folio order its handler takes
 * @end: the file's size in pages: every folio must end before it
 * @runs: from fdbox_runs_alloc(); filled
 *
 * The blocks of runs go back to the page allocator. The folios are not
 * touched: the caller restores each (fdbox_run_folio()), and frees
 * @runs (fdbox_runs_free()).
 *
 * Return: 0; or -EINVAL after one log line, when the runs are
 * malformed: then the folios of every run that makes sense alone were
 * released, the others stay reserved, and @runs is freed.
 */
int fdbox_runs_take(const struct fdbox_folios_in *in, unsigned int max_order,
		    pgoff_t end, struct fdbox_runs *runs)
{
	unsigned int b;
	bool ok = true;

	runs_add(runs, in->runs, in->nr_runs, max_order, end, &ok);
	for (b = 0; b < in->nr_blocks; b++) {
		u64 bphys = le64_to_cpu(in->blocks[b].phys);
		u32 nr = le32_to_cpu(in->blocks[b].nr_runs);
		const struct fdbox_memfd_run *raw;
		size_t bytes = block_bytes(nr);

		if (!nr || nr > FDBOX_MEMFD_BLOCK_RUNS || kho_restore_phys(bphys, bytes)) {
			ok = false;
			continue;
		}
		raw = phys_to_virt(bphys);
		if (crc32_le(~0, (const u8 *)raw, nr * sizeof(*raw)) ==
		    le32_to_cpu(in->blocks[b].crc))
			runs_add(runs, raw, nr, max_order, end, &ok);
		else
			ok = false;
		free_pages_exact((void *)raw, bytes);
	}
	if (ok)
		return 0;
	pr_err("an item's runs are malformed; the pages of those that make sense are released, the others stay reserved\n");
	fdbox_runs_release(runs);
	fdbox_runs_free(runs);
	return -EINVAL;
}

/**
 * fdbox_runs_find - the run holding the page at an index of the file
 * @runs: decoded runs
 * @index: the page's index
 *
 * Return: the run, or NULL if @index is a hole.
 */
const struct fdbox_run *fdbox_runs_find(const struct fdbox_runs *runs, pgoff_t index)
{
	unsigned long lo = 0, hi = runs->nr_runs;

	/* The runs go up in the file and do not overlap. */
	while (lo < hi) {
		unsigned long mid = lo + (hi - lo) / 2;
		const struct fdbox_run *run = &runs->run[mid];

		if (index < run->index)
			hi = mid;
		else if (index - run->index >= run->nr << run->order)
			lo = mid + 1;
		else
			return run;
	}
	return NULL;
}

/**
 * fdbox_runs_free - free decoded runs
 * @runs: from fdbox_runs_alloc()
 */
void fdbox_runs_free(struct fdbox_runs *runs)
{
	kvfree(runs->run);
	runs->run = NULL;
	runs->nr_runs = 0;
}

/**
 * fdbox_folios_discard - release every folio an item node describes
 * @item: the incoming item
 *
 * A handler's discard: malformed runs are left alone (their pages stay
 * reserved), and logged.
 */
void fdbox_folios_discard(struct fdbox_item *item)
{
	struct fdbox_folios_in in;

	if (fdbox_folios_parse(item->fdt, item->node, &in))
		fdbox_folios_release(&in);
	else
		pr_err("an item's runs are malformed; its pages stay reserved\n");
}

/**
 * fdbox_folios_keep_start - make room to keep an item's folios in place
 * @item: the incoming item, in its handler's retrieve
 *
 * An item others depend on may have a device among them (no-IOMMU vfio)
 * that DMAs into its folios at the physical addresses the previous
 * kernel gave it. From its restore until the item's finish each folio
 * keeps a reference of fdbox's (fdbox_folios_keep()), which keeps
 * compaction and NUMA migration off it; a dependent that needs the
 * memory in place for longer holds it itself. Sets @item->priv.
 *
 * Return: 0, or -ENOMEM.
 */
int fdbox_folios_keep_start(struct fdbox_item *item)
{
	struct xarray *kept;

	item->priv = NULL;
	if (!item->dependents)
		return 0;
	kept = kmalloc(sizeof(*kept), GFP_KERNEL);
	if (!kept)
		return -ENOMEM;
	xa_init(kept);
	item->priv = kept;
	return 0;
}

/**
 * fdbox_folios_keep - keep a restored folio in place for the dependents
 * @item: the incoming item, after fdbox_folios_keep_start()
 * @folio: a folio just restored at @index of the item's file
 * @index: its index
 *
 * Cannot fail: the folio is in the file already, and a failure now would
 * lose the whole file's contents.
 */
void fdbox_folios_keep(struct fdbox_item *item, struct folio *folio, pgoff_t index)
{
	struct xarray *kept = item->priv;

	if (!kept)
		return;
	folio_get(folio);
	xa_store(kept, index, folio, GFP_KERNEL | __GFP_NOFAIL);
}

/**
 * fdbox_folios_finish - let the folios kept for the dependents go
 * @item: the incoming item
 *
 * A memory handler's finish (at FDBOX_FINISH, or when the item, built
 * for a dependent and never handed out, is discarded), and the cleanup
 * of its failed retrieve.
 */
void fdbox_folios_finish(struct fdbox_item *item)
{
	struct xarray *kept = item->priv;
	struct folio *folio;
	unsigned long index;

	if (!kept)
		return;
	xa_for_each(kept, index, folio) {
		folio_put(folio);
		cond_resched();
	}
	xa_destroy(kept);
	kfree(kept);
	item->priv = NULL;
}

/**
 * fdbox_folios_release - give every folio of an item to the page allocator
 * @in: the item's runs
 */
void fdbox_folios_release(const struct fdbox_folios_in *in)
{
	/* KHO frees only what it recorded, at the order it recorded. */
	struct runs_walk w = { .max_order = FDBOX_RELEASE_MAX_ORDER, .err = -ECANCELED };

	walk(in, &w);
}

/**
 * fdbox_memfile_describe - the properties every memfd-like item has
 * @file: a memfd (the name given to memfd_create() follows "memfd:")
 * @seals: its F_SEAL_* to carry
 * @f: its folios, described (fdbox_folios_describe())
 * @fdt: the item's open node
 *
 * Return: 0, -ENOSPC when @fdt is full, -EINVAL.
 */
int fdbox_memfile_describe(struct file *file, u32 seals, struct fdbox_folios *f,
			   void *fdt)
{
	struct inode *inode = file_inode(file);
	int err;

	err = fdt_property_string(fdt, "memfd-name",
				  file_dentry(file)->d_name.name + MFD_PREFIX_LEN);
	err = err ?: fdt_property_u32(fdt, "memfd-seals", seals);
	err = err ?: fdt_property_u32(fdt, "memfd-mode", inode->i_mode & 0777);
	err = err ?: fdbox_folios_serialize(f, fdt);
	if (err == -FDT_ERR_NOSPACE)
		return -ENOSPC;
	return err ? -EINVAL : 0;
}

/**
 * fdbox_memfile_parse - read and check what fdbox_memfile_describe() wrote
 * @item: the incoming item
 * @seal_mask: the seals the file's kind has
 * @d: filled
 *
 * Return: 0, or -EINVAL after one log line: then the item's folios were
 * released if its runs could be read, else they stay reserved.
 */
int fdbox_memfile_parse(const struct fdbox_item *item, u32 seal_mask,
			struct fdbox_memfile *d)
{
	const void *fdt = item->fdt;
	int node = item->node, len;

	if (!fdbox_folios_parse(fdt, node, &d->in)) {
		pr_err("a memfd's runs are malformed; its pages stay reserved\n");
		return -EINVAL;
	}
	d->size = fdbox_fdt_u64(fdt, node, "size");
	d->name = fdt_getprop(fdt, node, "memfd-name", &len);
	if (!d->name || len < 1 || len > NAME_MAX + 1 - MFD_PREFIX_LEN ||
	    d->name[len - 1] || fdbox_fdt_u32(fdt, node, "memfd-seals", &d->seals) ||
	    fdbox_fdt_u32(fdt, node, "memfd-mode", &d->mode) ||
	    (d->seals & ~seal_mask) || (d->mode & ~0777) || d->size > MAX_LFS_FILESIZE) {
		pr_err("a memfd's description does not check out; released\n");
		fdbox_folios_release(&d->in);
		return -EINVAL;
	}
	return 0;
}

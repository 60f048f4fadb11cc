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

#include <linux/crc32.h>
#include <linux/fcntl.h>
#include <linux/fdbox_abi.h>
#include <linux/file.h>
#include <linux/init.h>
#include <linux/io.h>
#include <linux/kho.h>
#include <linux/libfdt.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "internal.h"

#define MFD_PREFIX	"memfd:"
#define MFD_PREFIX_LEN	(sizeof(MFD_PREFIX) - 1)
#define MEMFD_SEALS	(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | \
			 F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC)

struct fdbox_memfd {
	struct xarray folios;		/* first index -> folio we hold */
	unsigned long nr_pages;
	bool was_unevictable;
	/* From freeze to thaw: */
	struct fdbox_memfd_run *inline_runs;	/* few runs: in the FDT */
	struct fdbox_memfd_block *blocks;	/* many: in preserved blocks */
	void **block_va;
	unsigned int nr_blocks;
	unsigned long nr_runs;
};

static bool memfd_can_preserve(struct file *file)
{
	return shmem_is_memfd(file);
}

/* Hold and preserve @folio; takes over the caller's reference. */
static int memfd_hold_folio(struct fdbox_memfd *m, struct folio *folio)
{
	int err = -EFBIG;

	if (folio->index > FDBOX_MEMFD_INDEX_MASK)
		goto put;
	err = kho_preserve_folio(folio);
	if (err)
		goto put;
	err = xa_err(xa_store(&m->folios, folio->index, folio, GFP_KERNEL));
	if (err) {
		kho_unpreserve_folio(folio);
		goto put;
	}
	m->nr_pages += folio_nr_pages(folio);
	return 0;
put:
	folio_put(folio);
	return err;
}

/* Hold every folio of the file not held yet. Caller holds the inode lock. */
static int memfd_hold_all(struct inode *inode, struct fdbox_memfd *m)
{
	pgoff_t end = DIV_ROUND_UP(i_size_read(inode), PAGE_SIZE);
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
		if (xa_load(&m->folios, folio->index) == folio)
			folio_put(folio);
		else
			err = memfd_hold_folio(m, folio);
		if (err)
			break;
		index = next;
		cond_resched();
	}
	return err;
}

static void memfd_drop_all(struct fdbox_memfd *m)
{
	struct folio *folio;
	unsigned long index;

	xa_for_each(&m->folios, index, folio) {
		kho_unpreserve_folio(folio);
		folio_put(folio);
		cond_resched();
	}
	xa_destroy(&m->folios);
	m->nr_pages = 0;
}

static int memfd_preserve(struct file *file, void **state)
{
	struct inode *inode = file_inode(file);
	struct fdbox_memfd *m;
	int err;

	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	xa_init(&m->folios);

	inode_lock(inode);
	shmem_set_preserve(inode, SHMEM_PRESERVE_SIZE);
	err = memfd_hold_all(inode, m);
	if (err) {
		memfd_drop_all(m);
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
	*state = m;
	return 0;
}

static void memfd_unpreserve(struct file *file, void *state)
{
	struct inode *inode = file_inode(file);
	struct fdbox_memfd *m = state;

	inode_lock(inode);
	memfd_drop_all(m);
	shmem_set_preserve(inode, 0);
	if (!m->was_unevictable) {
		mapping_clear_unevictable(inode->i_mapping);
		shmem_unlock_mapping(inode->i_mapping);
	}
	inode_unlock(inode);
	kfree(m);
}

struct memfd_runs {
	struct fdbox_memfd *m;
	unsigned long nr;		/* runs emitted */
	u64 phys, index, count;		/* the open run */
	unsigned int order;
	bool down;			/* it goes down in memory, */
	unsigned int shift;		/* in chunks of 2^shift folios */
};

static void memfd_run_emit(struct memfd_runs *r)
{
	struct fdbox_memfd *m = r->m;

	if (!r->count)
		return;
	if (m->inline_runs || m->block_va) {
		struct fdbox_memfd_run *run;

		unsigned long b = r->nr / FDBOX_MEMFD_BLOCK_RUNS;

		if (m->inline_runs)
			run = &m->inline_runs[r->nr];
		else
			run = (struct fdbox_memfd_run *)m->block_va[b] +
			      r->nr % FDBOX_MEMFD_BLOCK_RUNS;
		run->phys_order = cpu_to_le64(r->phys | r->order |
					      (r->down ? FDBOX_MEMFD_RUN_DOWN : 0) |
					      ((u64)r->shift << FDBOX_MEMFD_SHIFT_SHIFT));
		run->index_nr = cpu_to_le64(r->index |
					    ((r->count - 1) << FDBOX_MEMFD_INDEX_BITS));
	}
	r->nr++;
	r->count = 0;
}

/* Where folio @j of a run is: see struct fdbox_memfd_run. */
static u64 memfd_run_folio(u64 phys, unsigned int order, bool down,
			   unsigned int shift, u64 j)
{
	unsigned int fshift = order + PAGE_SHIFT;
	u64 chunk_mask = (1ULL << shift) - 1;

	if (!down)
		return phys + (j << fshift);
	return phys + ((j & chunk_mask) << fshift) - ((j & ~chunk_mask) << fshift);
}

/*
 * Does @folio at @index extend the open run? A run going up that meets
 * a folio just below its start turns into one going down, in chunks of
 * its length so far (a power of two).
 */
static bool memfd_run_extends(struct memfd_runs *r, unsigned long index,
			      unsigned int order, u64 phys)
{
	u64 step = r->count << order;

	if (!r->count || order != r->order || r->count >= FDBOX_MEMFD_MAX_RUN ||
	    index != r->index + step)
		return false;
	if (phys == memfd_run_folio(r->phys, order, r->down, r->shift, r->count))
		return true;
	if (!r->down && is_power_of_2(r->count) && ilog2(r->count) <= 31 &&
	    phys + (step << PAGE_SHIFT) == r->phys) {
		r->down = true;
		r->shift = ilog2(r->count);
		return true;
	}
	return false;
}

/* Walk the held folios in file order, merging them into runs. */
static unsigned long memfd_make_runs(struct fdbox_memfd *m)
{
	struct memfd_runs r = { .m = m };
	struct folio *folio;
	unsigned long index;

	xa_for_each(&m->folios, index, folio) {
		unsigned int order = folio_order(folio);
		u64 phys = PFN_PHYS(folio_pfn(folio));

		cond_resched();
		if (memfd_run_extends(&r, index, order, phys)) {
			r.count++;
			continue;
		}
		memfd_run_emit(&r);
		r.phys = phys;
		r.index = index;
		r.order = order;
		r.down = false;
		r.shift = 0;
		r.count = 1;
	}
	memfd_run_emit(&r);
	return r.nr;
}

static size_t memfd_block_bytes(unsigned long nr_runs)
{
	return PAGE_ALIGN(nr_runs * sizeof(struct fdbox_memfd_run));
}

static unsigned long memfd_block_runs(struct fdbox_memfd *m, unsigned int b)
{
	return min_t(unsigned long, m->nr_runs - (unsigned long)b * FDBOX_MEMFD_BLOCK_RUNS,
		     FDBOX_MEMFD_BLOCK_RUNS);
}

static void memfd_free_blocks(struct fdbox_memfd *m)
{
	unsigned int b;

	for (b = 0; m->block_va && b < m->nr_blocks; b++) {
		size_t bytes = memfd_block_bytes(memfd_block_runs(m, b));

		if (!m->block_va[b])
			break;
		if (m->blocks[b].phys)
			kho_unpreserve_phys(virt_to_phys(m->block_va[b]), bytes);
		free_pages_exact(m->block_va[b], bytes);
	}
	kfree(m->block_va);
	kfree(m->blocks);
	kfree(m->inline_runs);
	m->inline_runs = NULL;
	m->block_va = NULL;
	m->blocks = NULL;
	m->nr_blocks = 0;
	m->nr_runs = 0;
}

static int memfd_fill_blocks(struct fdbox_memfd *m)
{
	unsigned int b;
	int err;

	m->nr_runs = memfd_make_runs(m);
	if (m->nr_runs <= FDBOX_MEMFD_INLINE_RUNS) {
		if (!m->nr_runs)
			return 0;
		m->inline_runs = kcalloc(m->nr_runs, sizeof(*m->inline_runs), GFP_KERNEL);
		if (!m->inline_runs)
			return -ENOMEM;
		memfd_make_runs(m);
		return 0;
	}
	m->nr_blocks = DIV_ROUND_UP(m->nr_runs, FDBOX_MEMFD_BLOCK_RUNS);
	m->blocks = kcalloc(m->nr_blocks, sizeof(*m->blocks), GFP_KERNEL);
	m->block_va = kcalloc(m->nr_blocks, sizeof(*m->block_va), GFP_KERNEL);
	if (!m->blocks || !m->block_va)
		return -ENOMEM;
	for (b = 0; b < m->nr_blocks; b++) {
		m->block_va[b] = alloc_pages_exact(memfd_block_bytes(memfd_block_runs(m, b)),
						   GFP_KERNEL | __GFP_ZERO);
		if (!m->block_va[b])
			return -ENOMEM;
	}
	memfd_make_runs(m);	/* again, into the blocks this time */
	for (b = 0; b < m->nr_blocks; b++) {
		unsigned long nr = memfd_block_runs(m, b);
		void *va = m->block_va[b];

		err = kho_preserve_phys(virt_to_phys(va), memfd_block_bytes(nr));
		if (err)
			return err;
		m->blocks[b].phys = cpu_to_le64(virt_to_phys(va));
		m->blocks[b].nr_runs = cpu_to_le32(nr);
		m->blocks[b].crc = cpu_to_le32(crc32_le(~0, va,
							nr * sizeof(struct fdbox_memfd_run)));
	}
	return 0;
}

static int memfd_freeze(struct file *file, void *state)
{
	struct inode *inode = file_inode(file);
	struct fdbox_memfd *m = state;
	int err;

	inode_lock(inode);
	shmem_set_preserve(inode, SHMEM_PRESERVE_SIZE | SHMEM_PRESERVE_MAP);
	/*
	 * Folios written into holes since the deposit; no more can come.
	 * The folios we hold are all still there: if the file has no more
	 * pages than those, there is nothing new to look for.
	 */
	err = 0;
	if (READ_ONCE(inode->i_mapping->nrpages) != m->nr_pages)
		err = memfd_hold_all(inode, m);
	if (!err)
		err = memfd_fill_blocks(m);
	if (err) {
		memfd_free_blocks(m);
		shmem_set_preserve(inode, SHMEM_PRESERVE_SIZE);
	}
	inode_unlock(inode);
	return err;
}

static void memfd_thaw(struct file *file, void *state)
{
	struct inode *inode = file_inode(file);

	inode_lock(inode);
	memfd_free_blocks(state);
	shmem_set_preserve(inode, SHMEM_PRESERVE_SIZE);
	inode_unlock(inode);
}

static int memfd_serialize(struct file *file, void *state, void *fdt)
{
	struct inode *inode = file_inode(file);
	struct fdbox_memfd *m = state;
	int err;

	err = fdt_property_string(fdt, "memfd-name",
				  file_dentry(file)->d_name.name + MFD_PREFIX_LEN);
	err = err ?: fdt_property_u32(fdt, "memfd-seals",
				      READ_ONCE(SHMEM_I(inode)->seals) & MEMFD_SEALS);
	err = err ?: fdt_property_u32(fdt, "memfd-mode", inode->i_mode & 0777);
	if (m->inline_runs)
		err = err ?: fdt_property(fdt, "memfd-runs", m->inline_runs,
					  m->nr_runs * sizeof(*m->inline_runs));
	else
		err = err ?: fdt_property(fdt, "memfd-blocks", m->blocks,
					  m->nr_blocks * sizeof(*m->blocks));
	if (err == -FDT_ERR_NOSPACE)
		return -ENOSPC;
	return err ? -EINVAL : 0;
}

static void memfd_info(struct file *file, void *state, u64 *size, u64 *preserved,
		       u64 *metadata)
{
	struct fdbox_memfd *m = state;
	unsigned int b;

	*size = i_size_read(file_inode(file));
	*preserved = (u64)m->nr_pages << PAGE_SHIFT;
	*metadata = m->inline_runs ? m->nr_runs * sizeof(*m->inline_runs) :
				     m->nr_blocks * sizeof(*m->blocks);
	for (b = 0; b < m->nr_blocks; b++)
		*metadata += memfd_block_bytes(memfd_block_runs(m, b));
}

/* Put one preserved folio back at its place in @file. */
static int memfd_restore_folio(struct file *file, u64 phys, unsigned int order,
			       pgoff_t index, pgoff_t *next, pgoff_t end)
{
	struct folio *folio;
	int err;

	if (order > MAX_PAGECACHE_ORDER || !IS_ALIGNED(index, 1UL << order) ||
	    index < *next || index >= end)
		return -EINVAL;
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
	*next = index + (1UL << order);
	return err;
}

struct memfd_walk {
	struct file *file;	/* NULL: release everything */
	pgoff_t next;		/* runs must go up in the file */
	pgoff_t end;
	int err;		/* once set, release the rest */
};

/* Put the folios of @runs into the file, or release them. */
static void memfd_walk_runs(struct memfd_walk *w, const struct fdbox_memfd_run *runs,
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
		if (order > MAX_PAGECACHE_ORDER || !PAGE_ALIGNED(phys) ||
		    (down && (phys >> (order + PAGE_SHIFT)) < last_chunk) ||
		    (!down && shift)) {
			w->err = w->err ?: -EINVAL;
			continue;
		}
		for (j = 0; j < count; j++) {
			u64 fphys = memfd_run_folio(phys, order, down, shift, j);

			if (!w->err)
				w->err = memfd_restore_folio(w->file, fphys, order,
							     index + (j << order),
							     &w->next, w->end);
			if (w->err)
				kho_release_folio(fphys);
			cond_resched();
		}
	}
}

/*
 * Go through the runs, inline or in blocks: put each folio into @file,
 * or release it once @file is NULL or something failed. Every block is
 * freed.
 */
static int memfd_walk(const struct fdbox_memfd_run *runs, unsigned long nr_runs,
		      const struct fdbox_memfd_block *blocks, unsigned int nr_blocks,
		      struct file *file, pgoff_t end)
{
	struct memfd_walk w = { .file = file, .end = end, .err = file ? 0 : -ECANCELED };
	unsigned int b;

	memfd_walk_runs(&w, runs, nr_runs);
	for (b = 0; b < nr_blocks; b++) {
		u64 bphys = le64_to_cpu(blocks[b].phys);
		u32 nr = le32_to_cpu(blocks[b].nr_runs);
		size_t bytes = memfd_block_bytes(nr);
		void *va;

		if (!nr || nr > FDBOX_MEMFD_BLOCK_RUNS || kho_restore_phys(bphys, bytes)) {
			pr_err("block %u of a memfd is not preserved memory; its pages stay reserved\n",
			       b);
			w.err = w.err ?: -EINVAL;
			continue;
		}
		va = phys_to_virt(bphys);
		if (crc32_le(~0, va, nr * sizeof(*runs)) == le32_to_cpu(blocks[b].crc)) {
			memfd_walk_runs(&w, va, nr);
		} else {
			pr_err("block %u of a memfd fails its checksum; its pages stay reserved\n",
			       b);
			w.err = w.err ?: -EINVAL;
		}
		free_pages_exact(va, bytes);
	}
	return w.err == -ECANCELED ? 0 : w.err;
}

/* The item's runs and blocks; false if malformed. */
static bool memfd_runs(const void *fdt, int node, const struct fdbox_memfd_run **runs,
		       unsigned long *nr_runs, const struct fdbox_memfd_block **blocks,
		       unsigned int *nr_blocks)
{
	int len;

	*runs = fdt_getprop(fdt, node, "memfd-runs", &len);
	*nr_runs = *runs ? len / sizeof(**runs) : 0;
	if (*runs && len % sizeof(**runs))
		return false;
	*blocks = fdt_getprop(fdt, node, "memfd-blocks", &len);
	*nr_blocks = *blocks ? len / sizeof(**blocks) : 0;
	if (*blocks && len % sizeof(**blocks))
		return false;
	return true;
}

static int memfd_prop_u32(const void *fdt, int node, const char *name, u32 *val)
{
	const fdt32_t *p;
	int len;

	p = fdt_getprop(fdt, node, name, &len);
	if (!p || len != sizeof(*p))
		return -EINVAL;
	*val = fdt32_to_cpu(*p);
	return 0;
}

static void memfd_discard(const void *fdt, int node)
{
	const struct fdbox_memfd_block *blocks;
	const struct fdbox_memfd_run *runs;
	unsigned long nr_runs;
	unsigned int nr_blocks;

	if (memfd_runs(fdt, node, &runs, &nr_runs, &blocks, &nr_blocks))
		memfd_walk(runs, nr_runs, blocks, nr_blocks, NULL, 0);
	else
		pr_err("a memfd's runs are malformed; its pages stay reserved\n");
}

static struct file *memfd_restore(const void *fdt, int node, bool *untouched)
{
	const struct fdbox_memfd_block *blocks;
	const struct fdbox_memfd_run *runs;
	unsigned long nr_runs;
	unsigned int nr_blocks;
	u32 seals, mode;
	const char *name;
	struct file *file;
	char *fullname;
	u64 size;
	int len, err;

	if (!memfd_runs(fdt, node, &runs, &nr_runs, &blocks, &nr_blocks)) {
		pr_err("a memfd's runs are malformed; its pages stay reserved\n");
		return ERR_PTR(-EINVAL);
	}
	size = fdbox_fdt_u64(fdt, node, "size");
	name = fdt_getprop(fdt, node, "memfd-name", &len);
	if (!name || len < 1 || len > NAME_MAX + 1 - MFD_PREFIX_LEN ||
	    name[len - 1] || memfd_prop_u32(fdt, node, "memfd-seals", &seals) ||
	    memfd_prop_u32(fdt, node, "memfd-mode", &mode) ||
	    (seals & ~MEMFD_SEALS) || (mode & ~0777) || size > MAX_LFS_FILESIZE) {
		pr_err("a memfd's description does not check out; released\n");
		err = -EINVAL;
		goto discard;
	}
	/* Failing here leaves the memory alone, for another try. */
	fullname = kasprintf(GFP_KERNEL, MFD_PREFIX "%s", name);
	if (!fullname) {
		*untouched = true;
		return ERR_PTR(-ENOMEM);
	}
	file = shmem_file_setup(fullname, size, VM_NORESERVE);
	kfree(fullname);
	if (IS_ERR(file)) {
		*untouched = true;
		return file;
	}
	file->f_mode |= FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE;
	file->f_flags |= O_LARGEFILE;

	err = memfd_walk(runs, nr_runs, blocks, nr_blocks, file,
			 DIV_ROUND_UP(size, PAGE_SIZE));
	if (err) {
		fput(file);
		return ERR_PTR(err);
	}
	file_inode(file)->i_mode = (file_inode(file)->i_mode & ~0777) | mode;
	SHMEM_I(file_inode(file))->seals = seals;
	return file;

discard:
	memfd_walk(runs, nr_runs, blocks, nr_blocks, NULL, 0);
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
	.serialize	= memfd_serialize,
	.info		= memfd_info,
	.restore	= memfd_restore,
	.discard	= memfd_discard,
};

static int __init fdbox_memfd_init(void)
{
	return fdbox_register_handler(&memfd_handler);
}
device_initcall(fdbox_memfd_init);

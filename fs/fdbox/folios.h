/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fdbox: the folios a memory file's handler holds, and the runs that
 * describe them in the handover (struct fdbox_memfd_run).
 */
#ifndef _FS_FDBOX_FOLIOS_H
#define _FS_FDBOX_FOLIOS_H

#include <linux/fdbox_abi.h>
#include <linux/types.h>
#include <linux/xarray.h>

struct fdbox_item;
struct file;
struct folio;

/**
 * struct fdbox_folios - the folios of one file, held and preserved
 * @held: the file index of each folio's first page -> the folio
 * @nr_pages: base pages held
 * @inline_runs: from describe to undescribe, few runs: in the FDT
 * @blocks: many runs: the blocks of preserved memory holding them
 * @block_va: where each block is mapped
 * @nr_blocks: how many blocks
 * @nr_runs: how many runs
 */
struct fdbox_folios {
	struct xarray held;
	unsigned long nr_pages;
	struct fdbox_memfd_run *inline_runs;
	struct fdbox_memfd_block *blocks;
	void **block_va;
	unsigned int nr_blocks;
	unsigned long nr_runs;
};

void fdbox_folios_init(struct fdbox_folios *f);
int fdbox_folios_hold(struct fdbox_folios *f, struct folio *folio);
int fdbox_folios_hold_batch(struct fdbox_folios *f, struct folio **folios,
			    unsigned int nr);
bool fdbox_folios_holds(struct fdbox_folios *f, struct folio *folio);
int fdbox_folio_leave_scratch(struct file *file, struct folio *folio);
/* The most folios fdbox_range_leave_scratch() moves at a time. */
#define FDBOX_LEAVE_MAX	512
int fdbox_range_leave_scratch(struct file *file, pgoff_t start, pgoff_t end);
void fdbox_folios_drop(struct fdbox_folios *f);
int fdbox_folios_describe(struct fdbox_folios *f);
void fdbox_folios_undescribe(struct fdbox_folios *f);
int fdbox_folios_serialize(struct fdbox_folios *f, void *fdt);
u64 fdbox_folios_metadata(struct fdbox_folios *f);

/* In the next kernel: the runs of an item node. */
struct fdbox_folios_in {
	const struct fdbox_memfd_run *runs;
	unsigned long nr_runs;
	const struct fdbox_memfd_block *blocks;
	unsigned int nr_blocks;
};

/*
 * Put the preserved folio at @phys, of @order, at @index of the file
 * being rebuilt. On error, the folio may be left preserved: the walk
 * releases it.
 */
typedef int (*fdbox_folio_restore_fn)(void *priv, phys_addr_t phys,
				      unsigned int order, pgoff_t index);

/**
 * struct fdbox_run - one run of an incoming item, decoded and checked
 * @phys: where its first folio is
 * @index: the file index of its first folio
 * @nr: how many folios it has
 * @first: the number of its first folio among the item's
 * @order: the order of its folios
 * @shift: a run going down does so in chunks of 2^@shift folios
 * @down: it goes down in memory
 */
struct fdbox_run {
	u64 phys;
	u64 index;
	u64 nr;
	unsigned long first;
	u8 order;
	u8 shift;
	bool down;
};

/**
 * struct fdbox_runs - the runs of an incoming item, in file order
 * @run: the runs
 * @nr_runs: how many
 * @nr_folios: how many folios they hold
 * @nr_pages: how many base pages
 */
struct fdbox_runs {
	struct fdbox_run *run;
	unsigned long nr_runs;
	unsigned long nr_folios;
	unsigned long nr_pages;
};

int fdbox_runs_alloc(const struct fdbox_folios_in *in, struct fdbox_runs *runs);
int fdbox_runs_take(const struct fdbox_folios_in *in, unsigned int max_order,
		    pgoff_t end, struct fdbox_runs *runs);
u64 fdbox_run_folio(const struct fdbox_run *run, u64 j);
const struct fdbox_run *fdbox_runs_find(const struct fdbox_runs *runs, pgoff_t index);
void fdbox_runs_release(const struct fdbox_runs *runs);
void fdbox_runs_free(struct fdbox_runs *runs);

bool fdbox_folios_parse(const void *fdt, int node, struct fdbox_folios_in *in);
int fdbox_folios_restore(const struct fdbox_folios_in *in, unsigned int max_order,
			 pgoff_t end, fdbox_folio_restore_fn restore, void *priv);
void fdbox_folios_release(const struct fdbox_folios_in *in);
void fdbox_folios_discard(struct fdbox_item *item);
int fdbox_folios_keep_start(struct fdbox_item *item);
void fdbox_folios_keep(struct fdbox_item *item, struct folio *folio, pgoff_t index);
void fdbox_folios_finish(struct fdbox_item *item);

/* A memfd's dentry name: "memfd:" and the name given to memfd_create(). */
#define MFD_PREFIX	"memfd:"
#define MFD_PREFIX_LEN	(sizeof(MFD_PREFIX) - 1)

/**
 * struct fdbox_memfile - an incoming memfd-like item, as described
 * @name: the name given to memfd_create(), in the handover tree
 * @seals: F_SEAL_*
 * @mode: permission bits
 * @size: the file's size
 * @in: its runs
 */
struct fdbox_memfile {
	const char *name;
	u32 seals;
	u32 mode;
	u64 size;
	struct fdbox_folios_in in;
};

int fdbox_memfile_describe(struct file *file, u32 seals, struct fdbox_folios *f,
			   void *fdt);
int fdbox_memfile_parse(const struct fdbox_item *item, u32 seal_mask,
			struct fdbox_memfile *d);

#endif /* _FS_FDBOX_FOLIOS_H */

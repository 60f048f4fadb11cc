/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kexec HandOver: declarations shared by the files of mm/kho.
 */
#ifndef _MM_KHO_INTERNAL_H
#define _MM_KHO_INTERNAL_H

#include <linux/kho.h>
#include <linux/kho_abi.h>
#include <linux/mutex.h>

struct dentry;

/* Folio orders KHO tracks: up to 1 GiB folios on x86_64, with room. */
#define KHO_NR_ORDERS		32

/* Largest handover FDT accepted from the previous kernel. */
#define KHO_MAX_FDT_SIZE	(64UL << 20)

struct kho_range {
	phys_addr_t start;
	phys_addr_t size;
};

/* Scratch ranges of this kernel (and of the next): boot.c. */
extern struct kho_range kho_scratch[KHO_MAX_SCRATCH];
extern unsigned int kho_nr_scratch;
extern bool kho_enabled;
bool kho_overlaps_scratch(phys_addr_t start, phys_addr_t size);

/* Scratch lent to movable allocations: lend.c. */
extern unsigned long kho_lent_pages;
void kho_plan_lend(void);

/* Outgoing state: preserve.c. kho_out_lock protects all of it. */
extern struct mutex kho_out_lock;
struct kho_out_stats {
	unsigned long folios;
	unsigned long bytes;
	unsigned int subtrees;
};

void kho_out_stats(struct kho_out_stats *st);
bool kho_out_stats_locked(struct kho_out_stats *st);
int kho_out_walk_chunks(unsigned int order,
			int (*fn)(unsigned long first_pfn, const unsigned long *bits,
				  void *arg), void *arg);
int kho_out_walk_subtrees(int (*fn)(const char *name, const void *fdt, void *arg),
			  void *arg);
extern bool kho_out_frozen;

/* Building the handover: serialize.c. */
struct kho_fdt_info {
	unsigned long nr_extents;
	unsigned long nr_bitmaps;
	size_t map_bytes;	/* extents + bitmaps */
	size_t fdt_bytes;
};

void *kho_build_fdt(size_t *size, struct kho_fdt_info *info);
void kho_free_fdt(void *fdt, size_t size);

/* Incoming state: boot.c and restore.c. */
struct kho_run {
	unsigned long pfn;
	unsigned int nr;	/* folios */
	unsigned int order;
	unsigned long idx;	/* number of the run's first folio in kho_in_taken */
};

extern struct kho_run *kho_in_runs;
extern unsigned long kho_in_nr_runs;
extern unsigned long *kho_in_taken;	/* a bit per folio: restored or released */
extern const void *kho_in_fdt;
extern size_t kho_in_fdt_size;
const struct kho_run *kho_in_lookup(unsigned long pfn);
struct kho_in_stats {
	unsigned long folios;
	unsigned long bytes;
	unsigned long restored;
	unsigned long released;
};

void kho_in_stats(struct kho_in_stats *st);

/*
 * Testing hooks: damage the next handover on purpose (corrupt.c), reserve
 * memory in early boot as firmware does (test_boot.c).
 */
enum kho_corrupt {
	KHO_CORRUPT_NONE,
	KHO_CORRUPT_FDT,	/* flip a byte after the checksum is taken */
	KHO_CORRUPT_HEADER,	/* bad header checksum */
	KHO_CORRUPT_OUTSIDE_RAM,	/* a valid-looking extent outside RAM */
	KHO_CORRUPT_OVERLAP,	/* two extents over the same pages */
	KHO_CORRUPT_COMPATIBLE,	/* unknown root compatible string */
	/* The rest keep both checksums valid: only content checks see them. */
	KHO_CORRUPT_VERSION,	/* unknown header version */
	KHO_CORRUPT_FDT_MAGIC,	/* not an FDT */
	KHO_CORRUPT_TRUNCATED,	/* the header announces half the FDT */
	KHO_CORRUPT_EXTENT_ALIGN,	/* an extent not aligned to its order */
	KHO_CORRUPT_EXTENTS_LEN,	/* extents cut mid-entry */
	KHO_CORRUPT_BITMAP_ALIGN,	/* a bitmap window not aligned */
	KHO_CORRUPT_NO_SCRATCH,	/* the scratch table is gone */
	KHO_CORRUPT_IN_SCRATCH,	/* an extent inside scratch */
	KHO_CORRUPT_SUBTREE,	/* a subtree's own compatible unknown */
	KHO_CORRUPT_HANDLER,	/* a compatible inside a subtree unknown */
};

#ifdef CONFIG_KEXEC_HANDOVER_TEST
extern enum kho_corrupt kho_corrupt_mode;
void kho_corrupt(void *fdt, struct kho_header *hdr);
void kho_corrupt_debugfs(struct dentry *out);
void kho_test_reserve_early(void);
static inline bool kho_corrupt_asked(enum kho_corrupt kind)
{
	return kho_corrupt_mode == kind;
}
#else
static inline void kho_test_reserve_early(void) { }
static inline void kho_corrupt(void *fdt, struct kho_header *hdr) { }
static inline void kho_corrupt_debugfs(struct dentry *out) { }
static inline bool kho_corrupt_asked(enum kho_corrupt kind) { return false; }
#endif

#endif /* _MM_KHO_INTERNAL_H */

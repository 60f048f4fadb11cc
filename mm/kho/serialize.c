// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kexec HandOver: turning the outgoing state into the handover at kexec.
 */

/**
 * DOC: Serializing at kexec
 *
 * Loading an image with kexec_file_load adds a SETUP_KEXEC_HANDOVER
 * setup_data entry (struct kho_setup): the scratch ranges and the address
 * of this kernel's header page, and makes every segment of the image land
 * in scratch. kernel_kexec() calls kho_kexec_prepare(), which:
 *
 * - with nothing preserved, clears the header page: the next kernel boots
 *   as it would without KHO;
 * - refuses the kexec (-EBUSY) when something is preserved but the loaded
 *   image cannot carry it (loaded by kexec_load, or a kexec jump);
 * - otherwise builds the handover FDT (the memory map and the subsystem
 *   subtrees) in physically contiguous pages, checksums it, points the
 *   header page at it and freezes the outgoing state.
 *
 * The memory map lists each order's folios in pfn order: runs of
 * physically contiguous folios become one struct kho_extent, even across
 * chunks, and a 512-folio window holding five runs or more becomes one
 * struct kho_bitmap, whichever is smaller. Contiguous memory costs 16 bytes
 * per run, scattered 4 KiB pages at most 72 bytes per 2 MiB.
 *
 * Locking: everything runs under kho_out_lock; kho_kexec_prepare() is
 * called with the kexec lock held, so the order is kexec lock, then
 * kho_out_lock.
 */

#define pr_fmt(fmt) "kho: " fmt

#include <linux/crc32.h>
#include <linux/gfp.h>
#include <linux/kexec.h>
#include <linux/libfdt.h>
#include <linux/mm.h>
#include <linux/notifier.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/vmalloc.h>

#include "internal.h"

static struct kho_header *kho_header;

static BLOCKING_NOTIFIER_HEAD(kho_freeze_chain);

/**
 * kho_register_freeze_notifier - be told when a kexec is about to happen
 * @nb: called with KHO_FREEZE and the image before the handover is built,
 *	and with KHO_THAW if the kexec is then refused after all
 *
 * A KHO user finishes its preservation on KHO_FREEZE: it may still
 * preserve memory and add subtrees. Returning notifier_from_errno(err)
 * refuses the kexec with err.
 *
 * Return: 0.
 */
int kho_register_freeze_notifier(struct notifier_block *nb)
{
	return blocking_notifier_chain_register(&kho_freeze_chain, nb);
}
EXPORT_SYMBOL_GPL(kho_register_freeze_notifier);

/**
 * kho_unregister_freeze_notifier - undo kho_register_freeze_notifier()
 * @nb: the notifier
 *
 * Return: 0, or -ENOENT if @nb was not registered.
 */
int kho_unregister_freeze_notifier(struct notifier_block *nb)
{
	return blocking_notifier_chain_unregister(&kho_freeze_chain, nb);
}
EXPORT_SYMBOL_GPL(kho_unregister_freeze_notifier);

/**
 * kho_image_carries_handover - can this image take preserved state along?
 * @image: a loaded kexec image
 *
 * Return: true for an image loaded with kexec_file_load that is not a
 * kexec jump or a crash kernel.
 */
bool kho_image_carries_handover(const struct kimage *image)
{
	return image->file_mode && !image->preserve_context &&
	       image->type != KEXEC_TYPE_CRASH;
}
EXPORT_SYMBOL_GPL(kho_image_carries_handover);

/**
 * kho_image_skips_digest - may purgatory skip checking this image?
 * @image: an image being loaded with kexec_file_load
 *
 * While KHO is on, every image kexec_file_load loads for a plain kexec
 * carries a handover (empty when nothing is preserved): the floor of a
 * live update and the update itself are the same kexec. Purgatory hashes
 * every loaded segment before it jumps, about 0.4 s for a usual kernel
 * and initramfs, all of it time in which a live update's VMs stand still.
 * The check is for a crash kernel, whose image waits for months under a
 * kernel that may be failing. A planned kexec runs a healthy kernel: it
 * keeps the segments in pages it allocated itself, and copies them to
 * their place in scratch only once every device is shut down but those
 * kept running, which reach only the memory their owners pinned and
 * deposited. And on a mismatch purgatory only spins: it turns a damaged
 * image into a hang.
 *
 * Return: true when KHO is on and @image can carry a handover.
 */
bool kho_image_skips_digest(const struct kimage *image)
{
	return kho_enabled && kho_nr_scratch && kho_image_carries_handover(image);
}

/* The FDT of the last kho_kexec_prepare(), if the kexec did not happen. */
static void *kho_out_fdt;
static size_t kho_out_fdt_size;

struct kho_map {
	struct kho_extent *ext;		/* NULL while counting */
	struct kho_bitmap *bm;
	unsigned long nr_ext;
	unsigned long nr_bm;
	unsigned int order;
	bool pending;
	unsigned long pend_pfn;
	unsigned long pend_pages;
};

static void kho_map_flush(struct kho_map *m)
{
	if (!m->pending)
		return;
	if (m->ext) {
		m->ext[m->nr_ext].phys_order = cpu_to_le64(PFN_PHYS(m->pend_pfn) | m->order);
		m->ext[m->nr_ext].size = cpu_to_le64(PFN_PHYS(m->pend_pages));
	}
	m->nr_ext++;
	m->pending = false;
}

static int kho_map_chunk(unsigned long first_pfn, const unsigned long *bits, void *arg)
{
	struct kho_map *m = arg;
	unsigned int order = m->order;
	unsigned long s, e, runs = 0;

	for (s = find_first_bit(bits, KHO_BITMAP_FOLIOS); s < KHO_BITMAP_FOLIOS;
	     s = find_next_bit(bits, KHO_BITMAP_FOLIOS, e)) {
		e = find_next_zero_bit(bits, KHO_BITMAP_FOLIOS, s);
		runs++;
	}

	if (runs * sizeof(struct kho_extent) > sizeof(struct kho_bitmap)) {
		kho_map_flush(m);
		if (m->bm) {
			struct kho_bitmap *b = &m->bm[m->nr_bm];
			int i;

			b->base_order = cpu_to_le64(PFN_PHYS(first_pfn) | order);
			for (i = 0; i < KHO_BITMAP_FOLIOS / 64; i++)
				b->bits[i] = cpu_to_le64(bitmap_read(bits, i * 64, 64));
		}
		m->nr_bm++;
		return 0;
	}

	for (s = find_first_bit(bits, KHO_BITMAP_FOLIOS); s < KHO_BITMAP_FOLIOS;
	     s = find_next_bit(bits, KHO_BITMAP_FOLIOS, e)) {
		unsigned long pfn = first_pfn + (s << order);
		unsigned long pages;

		e = find_next_zero_bit(bits, KHO_BITMAP_FOLIOS, s);
		pages = (e - s) << order;
		if (m->pending && m->pend_pfn + m->pend_pages == pfn) {
			m->pend_pages += pages;
			continue;
		}
		kho_map_flush(m);
		m->pending = true;
		m->pend_pfn = pfn;
		m->pend_pages = pages;
	}
	return 0;
}

static int kho_map_walk(struct kho_map *m)
{
	unsigned int order;
	int err;

	for (order = 0; order < KHO_NR_ORDERS; order++) {
		m->order = order;
		err = kho_out_walk_chunks(order, kho_map_chunk, m);
		if (err)
			return err;
		kho_map_flush(m);
	}
	return 0;
}

static int kho_extent_cmp(const void *a, const void *b)
{
	u64 pa = le64_to_cpu(((const struct kho_extent *)a)->phys_order) & ~KHO_ORDER_MASK;
	u64 pb = le64_to_cpu(((const struct kho_extent *)b)->phys_order) & ~KHO_ORDER_MASK;

	return pa < pb ? -1 : pa > pb;
}

/* Copy the properties and children of @node in @src into @dst (sequential write). */
static int kho_copy_node(void *dst, const void *src, int node, int depth)
{
	int prop, child, err;

	if (depth > 32)
		return -FDT_ERR_BADSTRUCTURE;
	fdt_for_each_property_offset(prop, src, node) {
		const char *name;
		const void *val;
		int len;

		val = fdt_getprop_by_offset(src, prop, &name, &len);
		if (!val)
			return len;
		err = fdt_property(dst, name, val, len);
		if (err)
			return err;
	}
	fdt_for_each_subnode(child, src, node) {
		err = fdt_begin_node(dst, fdt_get_name(src, child, NULL));
		if (!err)
			err = kho_copy_node(dst, src, child, depth + 1);
		if (!err)
			err = fdt_end_node(dst);
		if (err)
			return err;
	}
	return 0;
}

static int kho_subtree_size(const char *name, const void *fdt, void *arg)
{
	*(size_t *)arg += fdt_totalsize(fdt) + strlen(name) + 64;
	return 0;
}

static int kho_copy_subtree(const char *name, const void *fdt, void *dst)
{
	int err = fdt_begin_node(dst, name);

	if (!err)
		err = kho_copy_node(dst, fdt, 0, 0);
	if (!err)
		err = fdt_end_node(dst);
	if (err)
		pr_err("subtree %s: cannot copy: %s\n", name, fdt_strerror(err));
	return err;
}

void kho_free_fdt(void *fdt, size_t size)
{
	free_pages((unsigned long)fdt, get_order(size));
}

/**
 * kho_build_fdt - serialize the outgoing state
 * @size: set to the size of the buffer (a power-of-two number of pages)
 * @info: if not NULL, set to the sizes of the parts
 *
 * Caller holds kho_out_lock. The FDT is in physically contiguous pages;
 * free it with kho_free_fdt().
 *
 * Return: the FDT or an ERR_PTR().
 */
void *kho_build_fdt(size_t *size, struct kho_fdt_info *info)
{
	struct kho_map m = { };
	struct kho_scratch_range sr[KHO_MAX_SCRATCH];
	size_t map_bytes, bytes;
	void *fdt = NULL;
	unsigned int i;
	int err;

	lockdep_assert_held(&kho_out_lock);

	kho_map_walk(&m);	/* count */
	m.ext = kvcalloc(m.nr_ext ?: 1, sizeof(*m.ext), GFP_KERNEL);
	m.bm = kvcalloc(m.nr_bm ?: 1, sizeof(*m.bm), GFP_KERNEL);
	if (!m.ext || !m.bm) {
		err = -ENOMEM;
		goto out;
	}
	m.nr_ext = 0;
	m.nr_bm = 0;
	kho_map_walk(&m);	/* fill */
	sort(m.ext, m.nr_ext, sizeof(*m.ext), kho_extent_cmp, NULL);

	for (i = 0; i < kho_nr_scratch; i++) {
		sr[i].start = cpu_to_le64(kho_scratch[i].start);
		sr[i].size = cpu_to_le64(kho_scratch[i].size);
	}

	map_bytes = m.nr_ext * sizeof(*m.ext) + m.nr_bm * sizeof(*m.bm);
	bytes = 4096 + map_bytes + sizeof(sr);
	kho_out_walk_subtrees(kho_subtree_size, &bytes);
	bytes = PAGE_SIZE << get_order(bytes);
	if (get_order(bytes) > MAX_PAGE_ORDER) {
		pr_err("handover needs %zu bytes, more than one contiguous allocation\n", bytes);
		err = -E2BIG;
		goto out;
	}
	fdt = (void *)__get_free_pages(GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN,
				       get_order(bytes));
	if (!fdt) {
		err = -ENOMEM;
		goto out;
	}

	err = fdt_create(fdt, bytes);
	err = err ?: fdt_finish_reservemap(fdt);
	err = err ?: fdt_begin_node(fdt, "");
	err = err ?: fdt_property_string(fdt, "compatible",
					 kho_corrupt_asked(KHO_CORRUPT_COMPATIBLE) ?
					 "kho-v999" : KHO_FDT_COMPATIBLE);
	err = err ?: fdt_property(fdt, "preserved-extents", m.ext,
				  m.nr_ext * sizeof(*m.ext));
	err = err ?: fdt_property(fdt, "preserved-bitmaps", m.bm,
				  m.nr_bm * sizeof(*m.bm));
	err = err ?: fdt_property(fdt, "scratch", sr, kho_nr_scratch * sizeof(*sr));
	err = err ?: kho_out_walk_subtrees(kho_copy_subtree, fdt);
	err = err ?: fdt_end_node(fdt);
	err = err ?: fdt_finish(fdt);
	if (err) {
		pr_err("cannot build the handover FDT: %s\n", fdt_strerror(err));
		err = -EINVAL;
		goto out;
	}

	*size = bytes;
	if (info) {
		info->nr_extents = m.nr_ext;
		info->nr_bitmaps = m.nr_bm;
		info->map_bytes = map_bytes;
		info->fdt_bytes = fdt_totalsize(fdt);
	}
out:
	kvfree(m.ext);
	kvfree(m.bm);
	if (err && fdt)
		free_pages((unsigned long)fdt, get_order(bytes));
	return err ? ERR_PTR(err) : fdt;
}

/* Build the handover for @image, or find why it cannot be. */
static int kho_kexec_build(struct kimage *image)
{
	struct kho_fdt_info info;
	void *fdt;
	size_t size;
	int err = 0;

	mutex_lock(&kho_out_lock);
	/* A kexec that failed after an earlier prepare: start over. */
	if (kho_out_fdt) {
		kho_free_fdt(kho_out_fdt, kho_out_fdt_size);
		kho_out_fdt = NULL;
	}
	kho_out_frozen = false;
	memset(kho_header, 0, sizeof(*kho_header));
	if (!kho_out_stats_locked(NULL)) {
		/* Nothing preserved: nothing changes. A kexec jump comes back. */
		if (image->preserve_context)
			goto out;
		goto freeze;
	}

	if (!image->file_mode || image->preserve_context) {
		pr_err("kexec refused: memory is preserved, but the loaded image cannot carry it; load it with kexec_file_load (kexec -s)\n");
		err = -EBUSY;
		goto out;
	}

	fdt = kho_build_fdt(&size, &info);
	if (IS_ERR(fdt)) {
		err = PTR_ERR(fdt);
		pr_err("kexec refused: cannot serialize the handover (%d)\n", err);
		goto out;
	}
	if (kho_overlaps_scratch(virt_to_phys(fdt), size)) {
		/* Cannot happen: scratch is lent to movable allocations only. */
		pr_err("kexec refused: the handover landed in scratch\n");
		kho_free_fdt(fdt, size);
		err = -ENOMEM;
		goto out;
	}
	kho_out_fdt = fdt;
	kho_out_fdt_size = size;
	kho_header->magic = cpu_to_le32(KHO_HEADER_MAGIC);
	kho_header->version = cpu_to_le32(KHO_ABI_VERSION);
	kho_header->fdt_phys = cpu_to_le64(virt_to_phys(fdt));
	kho_header->fdt_size = cpu_to_le64(info.fdt_bytes);
	kho_header->fdt_crc = cpu_to_le32(crc32_le(~0, fdt, info.fdt_bytes));
	kho_header->crc = cpu_to_le32(crc32_le(~0, (void *)kho_header, sizeof(*kho_header)));
	kho_corrupt(fdt, kho_header);
	pr_info("handing over %lu extents and %lu bitmaps of preserved memory, %zu bytes of FDT\n",
		info.nr_extents, info.nr_bitmaps, info.fdt_bytes);
freeze:
	/* From here on, what is preserved is what the next kernel gets. */
	kho_out_frozen = true;
out:
	mutex_unlock(&kho_out_lock);
	return err;
}

/**
 * kho_kexec_prepare - serialize the handover, or refuse the kexec
 * @image: the image about to be executed
 *
 * Called by kernel_kexec() with the kexec lock held.
 *
 * Return: 0 to go on with the kexec, -EBUSY if preserved state would be
 * lost with this image, or the error of building the handover; on error
 * the outgoing state is unchanged.
 */
int kho_kexec_prepare(struct kimage *image)
{
	int err;

	if (!kho_enabled || !kho_header)
		return 0;

	/* A kexec that failed after an earlier prepare left us frozen. */
	mutex_lock(&kho_out_lock);
	kho_out_frozen = false;
	mutex_unlock(&kho_out_lock);
	err = blocking_notifier_call_chain_robust(&kho_freeze_chain, KHO_FREEZE,
						  KHO_THAW, image);
	err = notifier_to_errno(err);
	if (err) {
		pr_err("kexec refused: a KHO user cannot freeze its state (%d)\n", err);
		return err;
	}
	err = kho_kexec_build(image);
	if (err)
		blocking_notifier_call_chain(&kho_freeze_chain, KHO_THAW, image);
	return err;
}

/**
 * kho_setup_data_size - room kexec_file_load needs for the KHO setup_data
 * @image: the image being loaded
 *
 * Return: the payload size, or 0 when KHO is off or @image is a crash
 * kernel (which runs in its own reserved memory and gets no handover).
 */
size_t kho_setup_data_size(struct kimage *image)
{
	if (!kho_enabled || !kho_header || !kho_nr_scratch ||
	    image->type == KEXEC_TYPE_CRASH)
		return 0;
	return sizeof(struct kho_setup);
}

/**
 * kho_fill_setup_data - fill the setup_data payload of an image being loaded
 * @image: the image
 * @data: kho_setup_data_size() bytes
 */
void kho_fill_setup_data(struct kimage *image, void *data)
{
	struct kho_setup *ks = data;
	unsigned int i;

	memset(ks, 0, sizeof(*ks));
	ks->magic = cpu_to_le32(KHO_SETUP_MAGIC);
	ks->version = cpu_to_le32(KHO_ABI_VERSION);
	ks->header_phys = cpu_to_le64(virt_to_phys(kho_header));
	ks->nr_scratch = cpu_to_le32(kho_nr_scratch);
	for (i = 0; i < kho_nr_scratch; i++) {
		ks->scratch[i].start = cpu_to_le64(kho_scratch[i].start);
		ks->scratch[i].size = cpu_to_le64(kho_scratch[i].size);
	}
	ks->crc = cpu_to_le32(crc32_le(~0, (void *)ks, sizeof(*ks)));
}

/**
 * kho_locate_mem_hole - place a kexec segment in scratch
 * @kbuf: the segment
 * @func: the kexec_file walker callback to try a range with
 *
 * Return: 0 when KHO does not decide (off, or a crash kernel), 1 when a
 * place was found, -EADDRNOTAVAIL when scratch has no room.
 */
int kho_locate_mem_hole(struct kexec_buf *kbuf, int (*func)(struct resource *, void *))
{
	unsigned int i;
	int ret;

	if (!kho_setup_data_size(kbuf->image))
		return 0;

	for (i = 0; i < kho_nr_scratch; i++) {
		unsigned int n = kbuf->top_down ? kho_nr_scratch - 1 - i : i;
		struct resource res = DEFINE_RES_MEM(kho_scratch[n].start,
						     kho_scratch[n].size);

		ret = func(&res, kbuf);
		if (ret)
			return ret;
	}
	pr_err_ratelimited("no room in scratch for a %lu-byte kexec segment\n", kbuf->memsz);
	return -EADDRNOTAVAIL;
}

static int __init kho_serialize_init(void)
{
	if (!kho_enabled)
		return 0;
	kho_header = (void *)get_zeroed_page(GFP_KERNEL);
	if (!kho_header) {
		pr_err("no memory for the header page: KHO disabled\n");
		kho_enabled = false;
	}
	return 0;
}
core_initcall(kho_serialize_init);

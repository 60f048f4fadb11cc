// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kexec HandOver: early boot, where preserved memory is kept safe.
 */

/**
 * DOC: Scratch and early boot
 *
 * A kernel that receives a handover must not allocate a single page that
 * the previous kernel preserved, and it cannot know which pages those are
 * until it can read the handover. KHO therefore keeps *scratch* ranges:
 * memory that never holds preserved pages, where the next kernel's image,
 * initrd and every early (memblock) allocation go.
 *
 * - Cold boot: once the NUMA nodes are known, kho_memblock_release()
 *   reserves scratch (kho_scratch=SIZE, or a default sized for the
 *   kernel's early allocations), one range per node in proportion to its
 *   memory, below 4 GiB where it fits. Until the kexec, its free part is
 *   lent to movable allocations only (lend.c); nothing preserved can be
 *   in it.
 * - kexec_file_load puts every segment of the next image in scratch, and
 *   the decompressor keeps KASLR inside it.
 * - Boot with a handover: kho_memblock_setup(), right after memblock knows
 *   the memory, checks the setup_data entry and the header page and
 *   reserves all memory outside scratch and the first MiB, so memblock
 *   allocates from scratch only. Just before memblock hands memory to the
 *   page allocator, kho_memblock_release() reads and validates the
 *   handover FDT, builds the sorted index of preserved runs, and drops
 *   that reservation; kho_memblock_free_pages() then frees everything
 *   except the preserved pages, which it does not touch: they keep the
 *   state memmap init gave them (refcount 1, no page flags) until restored or
 *   released (restore.c), so this costs per run, not per page. The
 *   scratch ranges are kept for the next kexec.
 *
 * Anything wrong with the handover (magic, version, checksum, a range
 * outside RAM, in scratch or overlapping another) is reported in one line
 * and the kernel boots as if there were no handover; nothing is exposed.
 *
 * Locking: everything here runs single-threaded during early boot, except
 * the lookups into the index of preserved runs (kho_in_lookup(),
 * kho_holds_range()), which is read-only once built; kho_in_taken, which
 * restore.c sets under kho_in_lock, is read without it by
 * kho_holds_range() only.
 */

#define pr_fmt(fmt) "kho: " fmt

#include <linux/crash_dump.h>
#include <linux/crc32.h>
#include <linux/init.h>
#include <linux/io.h>
#include <linux/libfdt.h>
#include <linux/math64.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/sched/clock.h>
#include <linux/sort.h>
#include <linux/sizes.h>

#include <asm/setup.h>
#include <asm/tsc.h>

#include "../internal.h"
#include "internal.h"

/*
 * The handover's cost is timed before sched_clock() can be trusted: in a
 * kexec'd kernel whose early TSC calibration failed it still counts
 * jiffies, which do not advance yet. The TSC does (KHO is x86-64 only);
 * its rate is known by the time the cost is reported, if it is at all.
 */
static u64 __init kho_boot_clock(void)
{
	return rdtsc();
}

bool kho_enabled = true;
struct kho_range kho_scratch[KHO_MAX_SCRATCH];
unsigned int kho_nr_scratch;

struct kho_run *kho_in_runs;
unsigned long kho_in_nr_runs;
unsigned long *kho_in_taken;
static unsigned long kho_in_nr_folios;
const void *kho_in_fdt;
size_t kho_in_fdt_size;
static phys_addr_t kho_in_header_phys;
/* Boot time spent on the handover (kho_boot_clock()), reported later. */
static u64 kho_in_parse_time __initdata;
static u64 kho_in_free_time __initdata;

/**
 * kho_is_enabled - can memory be preserved across kexec in this boot?
 *
 * Return: false when booted with kho=off or when scratch could not be
 * set up.
 */
bool kho_is_enabled(void)
{
	return kho_enabled && kho_nr_scratch;
}
EXPORT_SYMBOL_GPL(kho_is_enabled);

static phys_addr_t kho_scratch_param __initdata;
static struct kho_setup kho_in_setup __initdata;
static struct kho_header kho_in_header __initdata;
static bool kho_in_pending __initdata;

/* Memory reserved while only scratch may be allocated from. */
#define KHO_MAX_HOLD	128

/* Less scratch than this cannot hold a kernel's early allocations. */
#define KHO_MIN_SCRATCH	SZ_64M
/* memblock_reserve() (kho_memblock_reserved()) reads these: its sections. */
static struct kho_range kho_hold[KHO_MAX_HOLD] __initdata_memblock;
static unsigned int kho_nr_hold __initdata_memblock;
static bool kho_holding __initdata_memblock;

/*
 * Reservations made inside the hold while it is in place: firmware tables
 * (EFI boot services regions the previous kernel kept, ESRT, ...) that
 * lifting the hold must not drop. A held range that overflows the table
 * is kept whole instead.
 */
#define KHO_MAX_KEEP	64
static struct kho_range kho_keep[KHO_MAX_KEEP] __initdata_memblock;
static unsigned int kho_nr_keep __initdata_memblock;
static DECLARE_BITMAP(kho_hold_kept, KHO_MAX_HOLD) __initdata_memblock;

static int __init kho_param(char *p)
{
	if (p && !strcmp(p, "off"))
		kho_enabled = false;
	return 0;
}
early_param("kho", kho_param);

static int __init kho_scratch_size_param(char *p)
{
	if (!p)
		return -EINVAL;
	kho_scratch_param = memparse(p, NULL);
	if (kho_scratch_param && kho_scratch_param < KHO_MIN_SCRATCH) {
		pr_warn("kho_scratch=%s below the minimum: %lu MiB\n", p,
			(unsigned long)(KHO_MIN_SCRATCH >> 20));
		kho_scratch_param = KHO_MIN_SCRATCH;
	}
	return 0;
}
early_param("kho_scratch", kho_scratch_size_param);

/**
 * kho_is_scratch_page - must this page stay out of the page allocator?
 * @page: a reserved page about to be freed (free_reserved_page())
 *
 * In a kernel started by kexec, the kernel image and the initrd sit in
 * scratch; their pages are never freed, so that no preserved memory can
 * ever be in scratch.
 *
 * Return: true if @page is in scratch.
 */
bool kho_is_scratch_page(struct page *page)
{
	return kho_overlaps_scratch(page_to_phys(page), PAGE_SIZE);
}

bool kho_overlaps_scratch(phys_addr_t start, phys_addr_t size)
{
	unsigned int i;

	for (i = 0; i < kho_nr_scratch; i++)
		if (start < kho_scratch[i].start + kho_scratch[i].size &&
		    kho_scratch[i].start < start + size)
			return true;
	return false;
}

static bool __init kho_ram_range(phys_addr_t start, phys_addr_t size)
{
	return size && PAGE_ALIGNED(start) && PAGE_ALIGNED(size) &&
	       start + size > start && start >= SZ_1M &&
	       memblock_is_region_memory(start, size);
}

static void __init kho_read_setup(u64 pa, struct kho_setup *out)
{
	void *p = early_memremap(pa + sizeof(struct setup_data), sizeof(*out));

	memcpy(out, p, sizeof(*out));
	early_memunmap(p, sizeof(*out));
}

/*
 * The KHO entry of the boot protocol's setup_data list, if any. Type 10 is
 * upstream Linux's own handover (another layout: a kexec from such a kernel
 * carries nothing into this one, say so) unless it is an older fdbox
 * kernel's entry, told apart by its length and magic.
 */
static bool __init kho_find_setup(struct kho_setup *out)
{
	u64 pa = boot_params.hdr.setup_data;
	unsigned int n = 0;

	while (pa && n++ < 64) {
		struct setup_data *sd = early_memremap(pa, sizeof(*sd));
		u64 next = sd->next;
		u32 type = sd->type, len = sd->len;

		early_memunmap(sd, sizeof(*sd));
		if (type == KHO_SETUP_TYPE_OLD) {
			if (len == sizeof(*out)) {
				kho_read_setup(pa, out);
				if (le32_to_cpu(out->magic) == KHO_SETUP_MAGIC) {
					pr_info("handover from an older fdbox kernel (setup_data type %u)\n",
						type);
					return true;
				}
			}
			pr_warn("setup_data type %u is another kernel's handover format: ignored, nothing carried from it\n",
				type);
		}
		if (type == SETUP_KEXEC_HANDOVER) {
			if (len != sizeof(*out)) {
				pr_err("handover refused: setup_data of %u bytes, expected %zu\n",
				       len, sizeof(*out));
				return false;
			}
			kho_read_setup(pa, out);
			return true;
		}
		pa = next;
	}
	return false;
}

static u32 __init kho_crc_without(void *obj, size_t size, __le32 *crc)
{
	__le32 saved = *crc;
	u32 val;

	*crc = 0;
	val = crc32_le(~0, obj, size);
	*crc = saved;
	return val;
}

/* Check the setup_data payload; set kho_scratch from it. */
static const char * __init kho_check_setup(struct kho_setup *ks)
{
	unsigned int i, j, n = le32_to_cpu(ks->nr_scratch);

	if (le32_to_cpu(ks->magic) != KHO_SETUP_MAGIC)
		return "bad setup_data magic";
	if (le32_to_cpu(ks->version) != KHO_ABI_VERSION)
		return "unknown version";
	if (kho_crc_without(ks, sizeof(*ks), &ks->crc) != le32_to_cpu(ks->crc))
		return "setup_data checksum mismatch";
	phys_addr_t total = 0;

	if (!n || n > KHO_MAX_SCRATCH)
		return "bad number of scratch ranges";
	for (i = 0; i < n; i++)
		total += le64_to_cpu(ks->scratch[i].size);
	if (total < KHO_MIN_SCRATCH)
		return "scratch too small";
	for (i = 0; i < n; i++) {
		phys_addr_t s = le64_to_cpu(ks->scratch[i].start);
		phys_addr_t sz = le64_to_cpu(ks->scratch[i].size);

		if (!kho_ram_range(s, sz))
			return "scratch range outside RAM";
		for (j = 0; j < i; j++)
			if (s < kho_scratch[j].start + kho_scratch[j].size &&
			    kho_scratch[j].start < s + sz)
				return "overlapping scratch ranges";
		kho_scratch[i].start = s;
		kho_scratch[i].size = sz;
	}
	kho_nr_scratch = n;
	return NULL;
}

/* Check the header page; tell whether it announces a handover. */
static const char * __init kho_check_header(phys_addr_t pa, bool *present)
{
	struct kho_header *h = &kho_in_header;
	phys_addr_t fdt, size;
	void *p;

	*present = false;
	if (!kho_ram_range(pa, PAGE_SIZE) || kho_overlaps_scratch(pa, PAGE_SIZE))
		return "header page outside RAM or in scratch";
	p = early_memremap(pa, sizeof(*h));
	memcpy(h, p, sizeof(*h));
	early_memunmap(p, sizeof(*h));

	if (le32_to_cpu(h->magic) != KHO_HEADER_MAGIC)
		return NULL;	/* the previous kernel preserved nothing */
	if (le32_to_cpu(h->version) != KHO_ABI_VERSION)
		return "unknown header version";
	if (kho_crc_without(h, sizeof(*h), &h->crc) != le32_to_cpu(h->crc))
		return "header checksum mismatch";
	fdt = le64_to_cpu(h->fdt_phys);
	size = le64_to_cpu(h->fdt_size);
	if (size < 64 || size > KHO_MAX_FDT_SIZE ||
	    !kho_ram_range(fdt, PAGE_ALIGN(size)) ||
	    kho_overlaps_scratch(fdt, PAGE_ALIGN(size)) ||
	    (pa < fdt + PAGE_ALIGN(size) && fdt < pa + PAGE_SIZE))
		return "handover FDT outside RAM, in scratch or too large";
	*present = true;
	return NULL;
}

static void __init kho_add_hold(phys_addr_t start, phys_addr_t end, const char **err)
{
	if (start >= end || *err)
		return;
	if (kho_nr_hold == KHO_MAX_HOLD) {
		*err = "memory map too fragmented";
		return;
	}
	kho_hold[kho_nr_hold].start = start;
	kho_hold[kho_nr_hold++].size = end - start;
}

/*
 * Free RAM minus scratch minus the first MiB: reserved until the handover
 * is read. Only free memory, so that lifting the hold later drops no
 * reservation made before it.
 */
static const char * __init kho_plan_hold(void)
{
	const char *err = NULL;
	phys_addr_t start, end;
	u64 i;

	for_each_free_mem_range(i, NUMA_NO_NODE, MEMBLOCK_NONE, &start, &end, NULL) {
		phys_addr_t cur = max_t(phys_addr_t, start, SZ_1M);

		while (cur < end) {
			phys_addr_t next = end, skip = end;
			unsigned int s;

			/* The first scratch range at or after cur. */
			for (s = 0; s < kho_nr_scratch; s++) {
				phys_addr_t ss = kho_scratch[s].start;
				phys_addr_t se = ss + kho_scratch[s].size;

				if (se > cur && ss < next) {
					next = max(ss, cur);
					skip = min(se, end);
				}
			}
			kho_add_hold(cur, next, &err);
			cur = skip;
		}
	}
	return err;
}

static phys_addr_t __init kho_default_scratch_size(void)
{
	phys_addr_t ram = memblock_phys_mem_size();
	phys_addr_t size = SZ_128M + ram / 16;

	/* KASAN's shadow is an early allocation of an eighth of RAM. */
	if (IS_ENABLED(CONFIG_KASAN))
		size += ram / 8;
	return ALIGN(size, SZ_2M);
}

static phys_addr_t __init kho_node_mem_size(int nid)
{
	unsigned long start, end, pages = 0;
	int i;

	for_each_mem_pfn_range(i, nid, &start, &end, NULL)
		pages += end - start;
	return PFN_PHYS(pages);
}

/* Scratch on @nid, below 4 GiB if it fits there; 0 if none. */
static phys_addr_t __init kho_alloc_scratch(phys_addr_t size, int nid)
{
	phys_addr_t addr;

	addr = memblock_alloc_range_nid(size, SZ_2M, SZ_16M, SZ_4G, nid, true);
	if (!addr)
		addr = memblock_alloc_range_nid(size, SZ_2M, SZ_16M,
						MEMBLOCK_ALLOC_ACCESSIBLE, nid, true);
	return addr;
}

/*
 * One scratch range per node, sized in proportion to the node's memory:
 * the next kernel allocates each node's memory map and KASAN shadow there.
 * Nodes past the first KHO_MAX_SCRATCH get none; what a node cannot give
 * is taken from any node. Scratch short of the size asked for would leave
 * the next kernel's early boot without memory: then KHO is off.
 * Called once the nodes are known, before memory goes to the page allocator.
 */
static void __init kho_reserve_scratch(void)
{
	phys_addr_t total = kho_scratch_param ?: kho_default_scratch_size();
	phys_addr_t ram = 0, got = 0, size, addr;
	unsigned int i, n = 0;
	int nid;

	for_each_node_state(nid, N_MEMORY)
		if (n++ < KHO_MAX_SCRATCH)
			ram += kho_node_mem_size(nid);
	if (n > KHO_MAX_SCRATCH)
		pr_info("scratch on the first %d of %u nodes only\n", KHO_MAX_SCRATCH, n);

	for_each_node_state(nid, N_MEMORY) {
		if (kho_nr_scratch == KHO_MAX_SCRATCH || !ram)
			break;
		size = ALIGN(mul_u64_u64_div_u64(total, kho_node_mem_size(nid), ram), SZ_2M);
		if (!size)
			continue;
		addr = kho_alloc_scratch(size, nid);
		if (!addr) {
			pr_warn("cannot reserve %pa of scratch on node %d\n", &size, nid);
			continue;
		}
		kho_scratch[kho_nr_scratch].start = addr;
		kho_scratch[kho_nr_scratch++].size = size;
		got += size;
	}
	if (got < total && kho_nr_scratch < KHO_MAX_SCRATCH) {
		size = ALIGN(total - got, SZ_2M);
		addr = kho_alloc_scratch(size, NUMA_NO_NODE);
		if (addr) {
			kho_scratch[kho_nr_scratch].start = addr;
			kho_scratch[kho_nr_scratch++].size = size;
			got += size;
		}
	}
	if (got < total || got < KHO_MIN_SCRATCH) {
		pr_err("cannot reserve %pa of scratch (got %pa): KHO disabled\n",
		       &total, &got);
		kho_enabled = false;
	}
	/* Found; kho_memblock_release() reserves them after kho_plan_lend(). */
	for (i = 0; i < kho_nr_scratch; i++)
		memblock_phys_free(kho_scratch[i].start, kho_scratch[i].size);
	if (!kho_enabled)
		kho_nr_scratch = 0;
}

/**
 * kho_memblock_setup - set up scratch, or receive a handover, at early boot
 *
 * Called by the architecture right after memblock learned the memory
 * layout and before its first memblock allocation.
 */
void __init kho_memblock_setup(void)
{
	const char *err = NULL;
	bool found, present = false;
	unsigned int i;

	/* A crash kernel lives in its own small reserved memory. */
	if (!kho_enabled || is_kdump_kernel())
		return;

	found = kho_find_setup(&kho_in_setup);
	if (found)
		err = kho_check_setup(&kho_in_setup);
	if (found && !err) {
		kho_in_header_phys = le64_to_cpu(kho_in_setup.header_phys);
		err = kho_check_header(kho_in_header_phys, &present);
	}
	if (present && !err)
		err = kho_plan_hold();

	if (err) {
		pr_err("handover from the previous kernel refused (%s): booting without it\n",
		       err);
		kho_nr_scratch = 0;
		present = false;
	}
	/* A cold boot reserves scratch once the NUMA nodes are known. */
	if (kho_nr_scratch && kho_scratch_param)
		pr_info("kho_scratch= ignored: the scratch ranges come with the kexec\n");

	if (present) {
		for (i = 0; i < kho_nr_hold; i++) {
			if (memblock_reserve(kho_hold[i].start, kho_hold[i].size)) {
				/* Nothing allocated yet: undo, boot without it. */
				pr_err("handover from the previous kernel refused (cannot reserve memory): booting without it\n");
				while (i--)
					memblock_phys_free(kho_hold[i].start, kho_hold[i].size);
				kho_nr_hold = 0;
				present = false;
				break;
			}
		}
		kho_in_pending = present;
		kho_holding = present;
	}
	if (kho_holding)
		kho_test_reserve_early();
}

/* Grow a noted reservation that [@s, @e) overlaps or touches. */
static bool __init_memblock kho_keep_merge(phys_addr_t s, phys_addr_t e)
{
	unsigned int i;

	for (i = 0; i < kho_nr_keep; i++) {
		phys_addr_t ks = kho_keep[i].start, ke = ks + kho_keep[i].size;

		if (s > ke || e < ks)
			continue;
		kho_keep[i].start = min(s, ks);
		kho_keep[i].size = max(e, ke) - kho_keep[i].start;
		return true;
	}
	return false;
}

/**
 * kho_memblock_reserved - note a reservation made inside held memory
 * @base: start of the range memblock_reserve() was given
 * @size: its size
 *
 * Called by memblock_reserve(). While KHO holds the memory outside scratch
 * (a boot with a handover, until kho_memblock_release()), a reservation
 * inside it is added to memblock's reserved ranges as already reserved;
 * KHO notes it so that it survives the end of the hold.
 */
void __init_memblock kho_memblock_reserved(phys_addr_t base, phys_addr_t size)
{
	unsigned int i;

	if (!kho_holding)
		return;
	for (i = 0; i < kho_nr_hold; i++) {
		phys_addr_t s = max(base, kho_hold[i].start);
		phys_addr_t e = min(base + size, kho_hold[i].start + kho_hold[i].size);

		if (s >= e || kho_keep_merge(s, e))
			continue;
		if (kho_nr_keep == KHO_MAX_KEEP) {
			/* The whole held range stays: the handover may be refused. */
			__set_bit(i, kho_hold_kept);
			continue;
		}
		kho_keep[kho_nr_keep].start = s;
		kho_keep[kho_nr_keep++].size = e - s;
	}
}

/* End the hold, keeping what was reserved inside it meanwhile. */
static void __init kho_lift_hold(void)
{
	unsigned int i;

	kho_holding = false;
	for (i = 0; i < kho_nr_hold; i++)
		if (!test_bit(i, kho_hold_kept))
			memblock_phys_free(kho_hold[i].start, kho_hold[i].size);
	for (i = 0; i < kho_nr_keep; i++)
		memblock_reserve(kho_keep[i].start, kho_keep[i].size);
	if (kho_nr_keep)
		pr_info("%u ranges reserved inside held memory during early boot: kept\n",
			kho_nr_keep);
	if (!bitmap_empty(kho_hold_kept, KHO_MAX_HOLD))
		pr_warn("too many reservations inside held memory: %u held ranges kept whole\n",
			bitmap_weight(kho_hold_kept, KHO_MAX_HOLD));
}

static int __init kho_run_cmp(const void *a, const void *b)
{
	const struct kho_run *ra = a, *rb = b;

	return ra->pfn < rb->pfn ? -1 : ra->pfn > rb->pfn;
}

static unsigned long __init kho_bitmap_runs(const struct kho_bitmap *b,
					    struct kho_run *out)
{
	DECLARE_BITMAP(bits, KHO_BITMAP_FOLIOS);
	u64 base = le64_to_cpu(b->base_order);
	unsigned int order = base & KHO_ORDER_MASK;
	unsigned long s, e, n = 0;
	int i;

	for (i = 0; i < KHO_BITMAP_FOLIOS / 64; i++)
		bitmap_write(bits, le64_to_cpu(b->bits[i]), i * 64, 64);
	for (s = find_first_bit(bits, KHO_BITMAP_FOLIOS); s < KHO_BITMAP_FOLIOS;
	     s = find_next_bit(bits, KHO_BITMAP_FOLIOS, e)) {
		e = find_next_zero_bit(bits, KHO_BITMAP_FOLIOS, s);
		if (out) {
			out[n].pfn = PHYS_PFN(base & ~KHO_ORDER_MASK) + (s << order);
			out[n].nr = e - s;
			out[n].order = order;
		}
		n++;
	}
	return n;
}

/* Read and validate the handover FDT; build kho_in_runs. */
static const char * __init kho_in_parse(void)
{
	phys_addr_t fdt_pa = le64_to_cpu(kho_in_header.fdt_phys);
	size_t size = le64_to_cpu(kho_in_header.fdt_size);
	const struct kho_extent *ext;
	const struct kho_bitmap *bm;
	const struct kho_scratch_range *sr;
	unsigned long n_ext, n_bm, nr = 0, i;
	struct kho_run *runs;
	const void *fdt;
	int len;

	fdt = phys_to_virt(fdt_pa);
	if (crc32_le(~0, fdt, size) != le32_to_cpu(kho_in_header.fdt_crc))
		return "FDT checksum mismatch";
	if (fdt_check_header(fdt) || fdt_totalsize(fdt) != size)
		return "not a valid FDT";
	if (fdt_node_check_compatible(fdt, 0, KHO_FDT_COMPATIBLE))
		return "incompatible handover (root compatible is not " KHO_FDT_COMPATIBLE ")";

	sr = fdt_getprop(fdt, 0, "scratch", &len);
	if (!sr || len != kho_nr_scratch * sizeof(*sr))
		return "scratch table missing";
	for (i = 0; i < kho_nr_scratch; i++)
		if (le64_to_cpu(sr[i].start) != kho_scratch[i].start ||
		    le64_to_cpu(sr[i].size) != kho_scratch[i].size)
			return "scratch table does not match setup_data";

	ext = fdt_getprop(fdt, 0, "preserved-extents", &len);
	if (!ext || len % sizeof(*ext))
		return "bad preserved-extents";
	n_ext = len / sizeof(*ext);
	bm = fdt_getprop(fdt, 0, "preserved-bitmaps", &len);
	if (!bm || len % sizeof(*bm))
		return "bad preserved-bitmaps";
	n_bm = len / sizeof(*bm);

	for (i = 0; i < n_ext; i++) {
		u64 po = le64_to_cpu(ext[i].phys_order);
		u64 sz = le64_to_cpu(ext[i].size);
		unsigned int order = po & KHO_ORDER_MASK;

		if (order >= KHO_NR_ORDERS || !sz ||
		    (po & ~KHO_ORDER_MASK) % (PAGE_SIZE << order) ||
		    sz % (PAGE_SIZE << order) || sz / (PAGE_SIZE << order) > UINT_MAX)
			return "malformed extent";
	}
	for (i = 0; i < n_bm; i++) {
		u64 bo = le64_to_cpu(bm[i].base_order);
		unsigned int order = bo & KHO_ORDER_MASK;

		if (order >= KHO_NR_ORDERS ||
		    (bo & ~KHO_ORDER_MASK) % ((PAGE_SIZE << order) * KHO_BITMAP_FOLIOS))
			return "malformed bitmap";
		nr += kho_bitmap_runs(&bm[i], NULL);
	}
	nr += n_ext;

	runs = memblock_alloc(max(nr, 1UL) * sizeof(*runs), SMP_CACHE_BYTES);
	if (!runs)
		return "no memory for the index of preserved memory";
	for (i = 0; i < n_ext; i++) {
		u64 po = le64_to_cpu(ext[i].phys_order);
		unsigned int order = po & KHO_ORDER_MASK;

		runs[i].pfn = PHYS_PFN(po & ~KHO_ORDER_MASK);
		runs[i].nr = le64_to_cpu(ext[i].size) / (PAGE_SIZE << order);
		runs[i].order = order;
	}
	for (i = 0; i < n_bm; i++)
		n_ext += kho_bitmap_runs(&bm[i], &runs[n_ext]);
	sort(runs, nr, sizeof(*runs), kho_run_cmp, NULL);
	kho_in_nr_folios = 0;
	for (i = 0; i < nr; i++) {
		runs[i].idx = kho_in_nr_folios;
		kho_in_nr_folios += runs[i].nr;
	}

	for (i = 0; i < nr; i++) {
		phys_addr_t start = PFN_PHYS(runs[i].pfn);
		phys_addr_t bytes = PFN_PHYS((phys_addr_t)runs[i].nr << runs[i].order);

		const char *err = NULL;

		if (!kho_ram_range(start, bytes))
			err = "preserved memory outside RAM";
		else if (kho_overlaps_scratch(start, bytes))
			err = "preserved memory in scratch";
		else if (i && runs[i - 1].pfn +
			 ((unsigned long)runs[i - 1].nr << runs[i - 1].order) > runs[i].pfn)
			err = "overlapping preserved ranges";
		if (err) {
			memblock_free(runs, max(nr, 1UL) * sizeof(*runs));
			return err;
		}
	}

	kho_in_taken = memblock_alloc(BITS_TO_LONGS(max(kho_in_nr_folios, 1UL)) *
				      sizeof(long), SMP_CACHE_BYTES);
	if (!kho_in_taken) {
		memblock_free(runs, max(nr, 1UL) * sizeof(*runs));
		return "no memory for the index of preserved memory";
	}
	kho_in_runs = runs;
	kho_in_nr_runs = nr;
	kho_in_fdt = fdt;
	kho_in_fdt_size = size;
	return NULL;
}

/*
 * With the hold lifted: keep the FDT and the header page, and check that no
 * preserved run is memory this kernel reserved for itself.
 */
static const char * __init kho_in_claim(void)
{
	phys_addr_t fdt = le64_to_cpu(kho_in_header.fdt_phys);
	unsigned long i;

	for (i = 0; i < kho_in_nr_runs; i++) {
		const struct kho_run *r = &kho_in_runs[i];

		if (memblock_is_region_reserved(PFN_PHYS(r->pfn),
						PFN_PHYS((phys_addr_t)r->nr << r->order)) ||
		    (fdt < PFN_PHYS(r->pfn + ((unsigned long)r->nr << r->order)) &&
		     PFN_PHYS(r->pfn) < fdt + PAGE_ALIGN(kho_in_fdt_size)) ||
		    (kho_in_header_phys >= PFN_PHYS(r->pfn) &&
		     kho_in_header_phys < PFN_PHYS(r->pfn + ((unsigned long)r->nr << r->order)))) {
			memblock_free(kho_in_runs, max(kho_in_nr_runs, 1UL) * sizeof(*kho_in_runs));
			memblock_free(kho_in_taken, BITS_TO_LONGS(max(kho_in_nr_folios, 1UL)) *
				      sizeof(long));
			kho_in_taken = NULL;
			kho_in_runs = NULL;
			kho_in_nr_runs = 0;
			kho_in_fdt = NULL;
			kho_in_fdt_size = 0;
			return "preserved memory overlaps memory this kernel reserved";
		}
	}
	memblock_reserve(fdt, PAGE_ALIGN(kho_in_fdt_size));
	memblock_reserve(kho_in_header_phys, PAGE_SIZE);
	return NULL;
}

/**
 * kho_scratch_only - is every memblock allocation made in scratch now?
 *
 * True in a kernel that received a handover, from kho_memblock_setup() to
 * kho_memblock_release(). What is allocated then must be given back as
 * memblock memory, never to the page allocator as the allocator's own
 * pages: scratch has to stay free for the next kexec.
 *
 * Return: true while memory outside scratch is held.
 */
bool __init kho_scratch_only(void)
{
	return kho_in_pending;
}

/*
 * Reserve what is still free in [start, end): early boot holds the rest
 * already, and a reservation across one of those would mix NUMA nodes.
 */
static void __init kho_reserve_free(phys_addr_t start, phys_addr_t end)
{
	phys_addr_t fs, fe;
	u64 j;

again:
	for_each_free_mem_range(j, NUMA_NO_NODE, MEMBLOCK_NONE, &fs, &fe, NULL) {
		fs = max(fs, start);
		fe = min(fe, end);
		if (fs < fe) {
			memblock_reserve(fs, fe - fs);
			goto again;	/* the free ranges changed */
		}
	}
}

/**
 * kho_memblock_release - switch from scratch-only to normal memory
 *
 * Called by memblock_free_all() before memory goes to the page allocator.
 */
void __init kho_memblock_release(void)
{
	const char *err;
	unsigned int i;

	/* A crash kernel lives in its own small reserved memory. */
	if (!kho_enabled || is_kdump_kernel())
		return;

	if (kho_in_pending) {
		u64 start = kho_boot_clock();

		/* The index is allocated while only scratch is usable. */
		err = kho_in_parse();
		kho_lift_hold();
		if (!err)
			err = kho_in_claim();
		kho_in_parse_time = kho_boot_clock() - start;
		if (err)
			pr_err("handover from the previous kernel refused (%s): booting without it\n",
			       err);
		else
			pr_info("handover received: %lu runs of preserved memory\n",
				kho_in_nr_runs);
		kho_in_pending = false;
	}
	if (!kho_nr_scratch)
		kho_reserve_scratch();
	kho_plan_lend();
	/* Scratch never reaches the page allocator as memory of its own. */
	for (i = 0; i < kho_nr_scratch; i++) {
		kho_reserve_free(kho_scratch[i].start, kho_scratch[i].start + kho_scratch[i].size);
		pr_info("scratch: [mem %pa-%pa] node %d\n", &kho_scratch[i].start,
			&(phys_addr_t){kho_scratch[i].start + kho_scratch[i].size - 1},
			early_pfn_to_nid(PHYS_PFN(kho_scratch[i].start)));
	}
}

/* Index of the first run that ends after @pfn. */
static unsigned long kho_in_first_after(unsigned long pfn)
{
	unsigned long lo = 0, hi = kho_in_nr_runs;

	while (lo < hi) {
		unsigned long mid = lo + (hi - lo) / 2;
		const struct kho_run *r = &kho_in_runs[mid];

		if (r->pfn + ((unsigned long)r->nr << r->order) <= pfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct kho_run *kho_in_lookup(unsigned long pfn)
{
	unsigned long i;

	if (!kho_in_runs)
		return NULL;
	i = kho_in_first_after(pfn);
	if (i < kho_in_nr_runs && kho_in_runs[i].pfn <= pfn)
		return &kho_in_runs[i];
	return NULL;
}

/**
 * kho_holds_range - does KHO still hold memory in a pfn range?
 * @pfn: first pfn of the range
 * @nr: number of pages
 *
 * For the page allocator's searches of contiguous memory and page
 * isolation (alloc_contig_pages(), has_unmovable_pages()): a preserved
 * page neither restored nor released yet is no allocator's and cannot be
 * migrated, and nothing in its struct page says so. Costs per run in the
 * range, plus a bitmap scan of its folios. Lockless, and may run under
 * the zone lock: a restore or release racing with it can only make the
 * answer a stale "held", which costs the caller a retry.
 *
 * Return: true if part of [@pfn, @pfn + @nr) is such memory.
 */
bool kho_holds_range(unsigned long pfn, unsigned long nr)
{
	unsigned long end = pfn + nr, i;

	if (!nr || !kho_in_runs)
		return false;
	for (i = kho_in_first_after(pfn); i < kho_in_nr_runs; i++) {
		const struct kho_run *r = &kho_in_runs[i];
		unsigned long r_end = r->pfn + ((unsigned long)r->nr << r->order);
		unsigned long first, last;

		if (r->pfn >= end)
			break;
		/* The run's folios that overlap the range. */
		first = r->idx + ((max(r->pfn, pfn) - r->pfn) >> r->order);
		last = r->idx + ((min(r_end, end) - r->pfn - 1) >> r->order) + 1;
		/* Bits only go 0 -> 1, under kho_in_lock: a race errs on "held". */
		if (data_race(find_next_zero_bit(kho_in_taken, last, first)) < last)
			return true;
	}
	return false;
}

static void __init kho_free_range(unsigned long pfn, unsigned long end)
{
	while (pfn < end) {
		unsigned int order = min_t(unsigned int, MAX_PAGE_ORDER,
					   pfn ? __ffs(pfn) : MAX_PAGE_ORDER);

		while (pfn + (1UL << order) > end)
			order--;
		memblock_free_pages(pfn_to_page(pfn), pfn, order);
		pfn += 1UL << order;
	}
}

/**
 * kho_memblock_free_pages - keep preserved pages out of the page allocator
 * @page: first page of the block memblock is freeing
 * @pfn: its pfn
 * @order: the block's order
 *
 * Return: true if KHO took care of the block (freed what is not preserved,
 * left the rest alone), false to free it as usual.
 */
bool __init kho_memblock_free_pages(struct page *page, unsigned long pfn,
				    unsigned int order)
{
	unsigned long end = pfn + (1UL << order), cur = pfn, i;
	u64 start;

	/* memblock_free_late() of early memory in scratch: keep it. */
	if (kho_overlaps_scratch(PFN_PHYS(pfn), PAGE_SIZE << order)) {
		totalram_pages_add(-(1L << order));
		return true;
	}
	if (!kho_in_runs)
		return false;
	i = kho_in_first_after(pfn);
	if (i == kho_in_nr_runs || kho_in_runs[i].pfn >= end)
		return false;

	start = kho_boot_clock();
	for (; i < kho_in_nr_runs && kho_in_runs[i].pfn < end; i++) {
		const struct kho_run *r = &kho_in_runs[i];
		unsigned long s = max(r->pfn, pfn);
		unsigned long e = min(r->pfn + ((unsigned long)r->nr << r->order), end);

		/*
		 * The run's pages stay as memmap init left them (refcount 1,
		 * no page flags, outside every allocator; kho_holds_range()
		 * tells pfn walkers): nothing per page, so the boot's work
		 * follows the runs, not the memory carried.
		 */
		kho_free_range(cur, s);
		/* memblock_free_all() counts the whole block as RAM. */
		totalram_pages_add(-(long)(e - s));
		cur = e;
	}
	kho_free_range(cur, end);
	kho_in_free_time += kho_boot_clock() - start;
	return true;
}

/* What the handover cost this boot, for whoever profiles a kexec. */
static int __init kho_report_boot(void)
{
	if (!kho_in_runs)
		return 0;
	if (tsc_khz)
		pr_info("handover took %llu us to validate and index, %llu us to keep out of the page allocator\n",
			mul_u64_u32_div(kho_in_parse_time, 1000, tsc_khz),
			mul_u64_u32_div(kho_in_free_time, 1000, tsc_khz));
	else
		pr_info("handover took %llu TSC cycles to validate and index, %llu to keep out of the page allocator (TSC rate unknown)\n",
			kho_in_parse_time, kho_in_free_time);
	return 0;
}
late_initcall(kho_report_boot);

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kexec HandOver (KHO): the format handed from one kernel to the next.
 *
 * This is an ABI between two kernels that may be different builds. Every
 * structure here has fixed-width fields, explicit padding and a fixed byte
 * order (little endian). Changing any of it means a new KHO_ABI_VERSION and
 * a new compatible string; a kernel refuses a version it does not know.
 *
 * The pieces, from the boot loader's view inwards:
 *
 * 1. A setup_data entry of type SETUP_KEXEC_HANDOVER (x86 boot protocol)
 *    carries struct kho_setup: the scratch ranges and the physical address
 *    of the header page. It is written when the image is loaded with
 *    kexec_file_load, and read by the decompressor (KASLR) and early boot.
 * 2. The header page (struct kho_header) is written at finalize, just
 *    before the kexec: where the handover FDT is, its size and checksum.
 *    A header whose magic is not KHO_HEADER_MAGIC means "nothing handed
 *    over".
 * 3. The handover FDT. Root compatible KHO_FDT_COMPATIBLE, properties:
 *      "preserved-extents"  array of struct kho_extent
 *      "preserved-bitmaps"  array of struct kho_bitmap
 *      "scratch"            array of struct kho_scratch_range
 *    and one node per subsystem (kho_add_subtree()), whose content the
 *    subsystem owns and versions with its own compatible string.
 */
#ifndef _LINUX_KHO_ABI_H
#define _LINUX_KHO_ABI_H

#include <linux/types.h>

#define KHO_ABI_VERSION		1
#define KHO_FDT_COMPATIBLE	"kho-v1"

/* "KHOS", "KHOH": little-endian u32 magics. */
#define KHO_SETUP_MAGIC		0x534f484bU
#define KHO_HEADER_MAGIC	0x484f484bU

/*
 * One scratch range per NUMA node, for the first this many nodes; the
 * early allocations of nodes past them fall back to other nodes' scratch.
 */
#define KHO_MAX_SCRATCH		4

/*
 * fdbox kernels up to tag fdbox-format1-last put struct kho_setup under
 * setup_data type 10, which upstream Linux also gave to its own handover
 * (SETUP_KEXEC_KHO, a 32-byte payload). An entry of that type is taken for
 * ours only when its length is sizeof(struct kho_setup) and its magic
 * KHO_SETUP_MAGIC: so a host can still be updated from such a kernel.
 */
#define KHO_SETUP_TYPE_OLD	10

/* A range of physical memory the next kernel may use before it knows what is preserved. */
struct kho_scratch_range {
	__le64 start;
	__le64 size;
};

/* Payload of the SETUP_KEXEC_HANDOVER setup_data entry. */
struct kho_setup {
	__le32 magic;
	__le32 version;
	__le64 header_phys;
	__le32 nr_scratch;
	__le32 crc;		/* crc32_le(~0) of the struct with crc = 0 */
	struct kho_scratch_range scratch[KHO_MAX_SCRATCH];
};

/* The header page, written at finalize. */
struct kho_header {
	__le32 magic;
	__le32 version;
	__le64 fdt_phys;
	__le64 fdt_size;
	__le32 fdt_crc;		/* crc32_le(~0) of the fdt_size bytes at fdt_phys */
	__le32 crc;		/* crc32_le(~0) of this struct with crc = 0 */
};

/*
 * Preserved memory is a set of folios, each 2^order pages, naturally
 * aligned. Physically contiguous folios of one order are one extent;
 * windows of 512 folios of one order where folios are scattered are one
 * bitmap. No two entries describe the same page.
 */
#define KHO_ORDER_MASK		0x3fULL	/* low bits of phys_order/base_order */
#define KHO_BITMAP_FOLIOS	512

struct kho_extent {
	__le64 phys_order;	/* physical start | order */
	__le64 size;		/* bytes, a multiple of the folio size */
};

struct kho_bitmap {
	__le64 base_order;	/* window start, aligned to 512 folios | order */
	__le64 bits[KHO_BITMAP_FOLIOS / 64];	/* bit i: folio i of the window */
};

/*
 * A preserved buffer (kho_buf_preserve()): data of any size in pages
 * anywhere in memory. Table pages, each 4096 bytes, list the physical
 * addresses of the data pages in order: KHO_BUF_TABLE_ENTRIES of them,
 * then the physical address of the next table page (0 after the last).
 * A subsystem puts struct kho_buf_ref into its subtree.
 */
#define KHO_BUF_TABLE_ENTRIES	511
#define KHO_BUF_MAX		0x100000000ULL	/* bytes: 4 GiB */

struct kho_buf_ref {
	__le64 table;		/* physical address of the first table page */
	__le64 size;		/* bytes of data */
	__le32 crc;		/* crc32_le(~0) of the data */
	__le32 reserved;	/* 0 */
};

#endif /* _LINUX_KHO_ABI_H */

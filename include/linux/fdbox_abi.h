/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fdbox: the handover format, an ABI between one kernel and the next.
 *
 * Version 2 ("fdbox-v2"). fdbox adds one small subtree, "fdbox", to the
 * Kexec HandOver FDT; the description of the sessions, which grows with
 * the number of items, is a second FDT in a preserved buffer of any size
 * (struct kho_buf_ref, see kho_abi.h):
 *
 *   /fdbox                   (in KHO's FDT)
 *     compatible             "fdbox-v2"
 *     tree                   struct kho_buf_ref: the tree below
 *
 *   / (the tree)             compatible = "fdbox-v2"
 *     /s0, /s1, ...          one node per session
 *       name                 the session's name (string)
 *       /i0, /i1, ...        one node per item
 *         label              the item's label (string)
 *         compatible         the handler's format, e.g. "fdbox,memfd-v1"
 *         size, preserved, metadata
 *                            u64 each, big-endian (FDT cells), as
 *                            FDBOX_LIST reports them
 *         ...                the handler's own properties
 *
 * Version 1 ("fdbox-v1") had the tree's sessions directly under /fdbox in
 * KHO's FDT, which bounded it to what one contiguous allocation holds.
 * A kernel reads both; it writes version 2. Item nodes are the same in
 * both, so a handler's format does not depend on the container.
 *
 * Changing anything here, in a way an older kernel would misread, means
 * a new compatible string.
 */
#ifndef _LINUX_FDBOX_ABI_H
#define _LINUX_FDBOX_ABI_H

#include <linux/types.h>

#define FDBOX_KHO_NODE		"fdbox"
#define FDBOX_COMPATIBLE	"fdbox-v2"
#define FDBOX_COMPATIBLE_V1	"fdbox-v1"

/*
 * memfd on shmem, "fdbox,memfd-v1". Properties of the item node:
 *   memfd-name   string: the name given to memfd_create()
 *   memfd-seals  u32: F_SEAL_* at the kexec
 *   memfd-mode   u32: permission bits (memfd_create's exec bits)
 *   memfd-runs   array of struct fdbox_memfd_run, when there are at
 *                most FDBOX_MEMFD_INLINE_RUNS of them
 *   memfd-blocks array of struct fdbox_memfd_block, when there are more
 *
 * The file's folios are described by runs: folios of one order that
 * follow each other in the file and lie next to each other in physical
 * memory. A run goes up in memory, or down (FDBOX_MEMFD_RUN_DOWN) in
 * chunks of 2^shift folios that go up inside each chunk: the page
 * allocator often hands out consecutive folios that way, from blocks it
 * splits, taken from the top of memory down. Folio j of a run at phys,
 * of folio size S, with c = 2^shift, is at
 *
 *   up:    phys + j * S
 *   down:  phys + (j % c) * S - (j / c) * c * S
 *
 * shift 0 with FDBOX_MEMFD_RUN_DOWN is a run that simply goes down. Runs
 * are in increasing file order. A few runs sit in the FDT itself; more fill
 * blocks of preserved memory (kho_preserve_phys()) listed in the
 * memfd-blocks property. A sparse file has holes between runs.
 */
#define FDBOX_MEMFD_COMPATIBLE	"fdbox,memfd-v1"

/**
 * struct fdbox_memfd_run - folios contiguous in the file and in memory
 * @phys_order: physical address of the first folio (page aligned), ORed
 *	with the order of all of them (FDBOX_MEMFD_ORDER_MASK), with
 *	FDBOX_MEMFD_RUN_DOWN for a run going down, and with the chunk
 *	shift of such a run (FDBOX_MEMFD_SHIFT_MASK; 0 for a run going up)
 * @index_nr: the first folio's page index in the file in the low 40
 *	bits; the number of folios, minus one, in the high 24 bits
 */
struct fdbox_memfd_run {
	__le64 phys_order;
	__le64 index_nr;
};

#define FDBOX_MEMFD_ORDER_MASK	0x3fULL
#define FDBOX_MEMFD_RUN_DOWN	0x40ULL
#define FDBOX_MEMFD_SHIFT_SHIFT	7
#define FDBOX_MEMFD_SHIFT_MASK	(0x1fULL << FDBOX_MEMFD_SHIFT_SHIFT)
#define FDBOX_MEMFD_FLAGS_MASK	0xfffULL
#define FDBOX_MEMFD_INDEX_BITS	40
#define FDBOX_MEMFD_INDEX_MASK	((1ULL << FDBOX_MEMFD_INDEX_BITS) - 1)
#define FDBOX_MEMFD_MAX_RUN	(1ULL << (64 - FDBOX_MEMFD_INDEX_BITS))

/* Up to this many runs go into the FDT (4 KiB). */
#define FDBOX_MEMFD_INLINE_RUNS	256

/* Runs per block; a block is at most this many runs' worth of pages. */
#define FDBOX_MEMFD_BLOCK_RUNS	4096

/**
 * struct fdbox_memfd_block - one block of runs
 * @phys: physical address of the block (page aligned)
 * @nr_runs: how many runs it holds, at most FDBOX_MEMFD_BLOCK_RUNS; the
 *	block is the pages holding them, PAGE_ALIGN(nr_runs * 16) bytes
 * @crc: crc32_le(~0, runs, nr_runs * 16)
 */
struct fdbox_memfd_block {
	__le64 phys;
	__le32 nr_runs;
	__le32 crc;
};

/*
 * memfd on hugetlbfs (MFD_HUGETLB), "fdbox,hugetlb-v1". The properties of
 * "fdbox,memfd-v1", their meaning unchanged, plus:
 *   hugetlb-shift  u32: log2 of the huge page size (21: 2 MiB, 30: 1 GiB)
 * Every folio of the runs is one huge page: its order is hugetlb-shift
 * minus PAGE_SHIFT, its index in base pages.
 */
#define FDBOX_HUGETLB_COMPATIBLE	"fdbox,hugetlb-v1"

/*
 * A vfio-pci device opened in no-IOMMU mode, "fdbox,vfio-pci-v1". It keeps
 * running across the kexec: nothing is carried in memory. Properties:
 *   vfio-bdf     u32: PCI domain << 16 | bus << 8 | devfn
 *   vfio-id      u32: vendor << 16 | device, checked before retrieve
 *   vfio-mode    string: "noiommu" (the only mode of this version)
 *   vfio-config  the first 256 bytes of config space at the freeze, for
 *                diagnostics
 *
 * The global participant "fdbox,vfio-pci-devices-v1" lists every carried
 * device, so that the next kernel binds them to vfio-pci as PCI finds
 * them, before any other driver can:
 *   vfio-devices array of u32, vfio-bdf of each
 */
#define FDBOX_VFIO_PCI_COMPATIBLE	"fdbox,vfio-pci-v1"
#define FDBOX_VFIO_DEVICES_COMPATIBLE	"fdbox,vfio-pci-devices-v1"
#define FDBOX_VFIO_CONFIG_SIZE		256

#endif /* _LINUX_FDBOX_ABI_H */

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kexec HandOver (KHO): keep memory, and a small description of it, alive
 * across kexec. See Documentation/core-api/kho.rst.
 */
#ifndef _LINUX_KHO_H
#define _LINUX_KHO_H

#include <linux/err.h>
#include <linux/errno.h>
#include <linux/types.h>

struct folio;
struct page;
struct kimage;
struct kexec_buf;
struct resource;
struct notifier_block;
struct kho_buf_ref;

/* Events of the freeze notifier chain; the data is the struct kimage. */
enum kho_freeze_event {
	KHO_FREEZE,	/* a kexec is starting: finish preserving, or refuse */
	KHO_THAW,	/* the kexec was refused after KHO_FREEZE */
};

#ifdef CONFIG_KEXEC_HANDOVER

bool kho_is_enabled(void);

/* Outgoing: what the next kernel gets. */
bool kho_folio_in_scratch(struct folio *folio);
bool kho_range_in_scratch(phys_addr_t phys, phys_addr_t size);
int kho_preserve_folio(struct folio *folio);
int kho_preserve_folios(struct folio **folios, unsigned int nr);
void kho_unpreserve_folio(struct folio *folio);
int kho_preserve_phys(phys_addr_t phys, size_t size);
void kho_unpreserve_phys(phys_addr_t phys, size_t size);
int kho_add_subtree(const char *name, const void *fdt);
void kho_remove_subtree(const char *name);
int kho_buf_preserve(const void *buf, size_t size, struct kho_buf_ref *ref);
void kho_buf_unpreserve(struct kho_buf_ref *ref);
int kho_register_freeze_notifier(struct notifier_block *nb);
int kho_unregister_freeze_notifier(struct notifier_block *nb);
bool kho_image_carries_handover(const struct kimage *image);
bool kho_image_skips_digest(const struct kimage *image);

/* Incoming: what the previous kernel handed over. */
bool kho_handover_present(void);
int kho_find_subtree(const char *name, const void **fdt);
struct folio *kho_restore_folio(phys_addr_t phys);
int kho_restore_phys(phys_addr_t phys, size_t size);
int kho_release_folio(phys_addr_t phys);
int kho_release_phys(phys_addr_t phys, size_t size);
void *kho_buf_restore(const struct kho_buf_ref *ref);
int kho_buf_release(const struct kho_buf_ref *ref);

/* Hooks for early boot, the page allocator and kexec. */
void kho_memblock_setup(void);
void kho_memblock_release(void);
void kho_memblock_reserved(phys_addr_t base, phys_addr_t size);
bool kho_memblock_free_pages(struct page *page, unsigned long pfn,
			     unsigned int order);
int kho_locate_mem_hole(struct kexec_buf *kbuf,
			int (*func)(struct resource *, void *));
bool kho_is_scratch_page(struct page *page);
bool kho_scratch_only(void);
bool kho_holds_range(unsigned long pfn, unsigned long nr);
size_t kho_setup_data_size(struct kimage *image);
void kho_fill_setup_data(struct kimage *image, void *data);
int kho_kexec_prepare(struct kimage *image);

#else /* !CONFIG_KEXEC_HANDOVER */

static inline bool kho_is_enabled(void) { return false; }
static inline bool kho_folio_in_scratch(struct folio *folio) { return false; }
static inline bool kho_range_in_scratch(phys_addr_t phys, phys_addr_t size) { return false; }
static inline int kho_preserve_folio(struct folio *folio) { return -EOPNOTSUPP; }
static inline int kho_preserve_folios(struct folio **folios, unsigned int nr)
{
	return -EOPNOTSUPP;
}

static inline void kho_unpreserve_folio(struct folio *folio) { }
static inline int kho_preserve_phys(phys_addr_t phys, size_t size) { return -EOPNOTSUPP; }
static inline void kho_unpreserve_phys(phys_addr_t phys, size_t size) { }
static inline int kho_add_subtree(const char *name, const void *fdt) { return -EOPNOTSUPP; }
static inline void kho_remove_subtree(const char *name) { }
static inline int kho_buf_preserve(const void *buf, size_t size,
				   struct kho_buf_ref *ref) { return -EOPNOTSUPP; }
static inline void kho_buf_unpreserve(struct kho_buf_ref *ref) { }
static inline int kho_register_freeze_notifier(struct notifier_block *nb) { return 0; }
static inline int kho_unregister_freeze_notifier(struct notifier_block *nb) { return 0; }
static inline bool kho_image_carries_handover(const struct kimage *image) { return false; }
static inline bool kho_image_skips_digest(const struct kimage *image) { return false; }
static inline bool kho_handover_present(void) { return false; }
static inline bool kho_holds_range(unsigned long pfn, unsigned long nr) { return false; }
static inline int kho_find_subtree(const char *name, const void **fdt) { return -ENOENT; }
static inline struct folio *kho_restore_folio(phys_addr_t phys) { return NULL; }
static inline int kho_restore_phys(phys_addr_t phys, size_t size) { return -ENOENT; }
static inline int kho_release_folio(phys_addr_t phys) { return -ENOENT; }
static inline int kho_release_phys(phys_addr_t phys, size_t size) { return -ENOENT; }
static inline void *kho_buf_restore(const struct kho_buf_ref *ref) { return ERR_PTR(-ENOENT); }
static inline int kho_buf_release(const struct kho_buf_ref *ref) { return -ENOENT; }
static inline void kho_memblock_setup(void) { }
static inline void kho_memblock_release(void) { }
static inline void kho_memblock_reserved(phys_addr_t base, phys_addr_t size) { }
static inline bool kho_memblock_free_pages(struct page *page, unsigned long pfn,
					   unsigned int order) { return false; }
static inline int kho_locate_mem_hole(struct kexec_buf *kbuf,
				      int (*func)(struct resource *, void *)) { return 0; }
static inline bool kho_is_scratch_page(struct page *page) { return false; }
static inline bool kho_scratch_only(void) { return false; }
static inline size_t kho_setup_data_size(struct kimage *image) { return 0; }
static inline void kho_fill_setup_data(struct kimage *image, void *data) { }
static inline int kho_kexec_prepare(struct kimage *image) { return 0; }

#endif /* CONFIG_KEXEC_HANDOVER */

#ifdef CONFIG_KEXEC_HANDOVER_TEST
bool kho_test_corrupt_items(void);
#else
static inline bool kho_test_corrupt_items(void) { return false; }
#endif

#endif /* _LINUX_KHO_H */

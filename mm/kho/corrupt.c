// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kexec HandOver: damaging the next handover on purpose, for tests.
 */

/**
 * DOC: Corrupt handovers (CONFIG_KEXEC_HANDOVER_TEST)
 *
 * A test writes one of kho_corrupt_names[] to ``kho/out/corrupt`` (debugfs)
 * and kexecs: the handover built at that kexec is damaged that way, and
 * the next kernel must refuse it without crashing and without losing its
 * own memory. "none" stops it. Only kernels built for tests have this:
 * a kernel a user ships never damages its handover.
 *
 * Locking: kho_corrupt_mode is written under kho_out_lock and read by
 * kho_kexec_build() under the same lock. kho_test_corrupt_items() reads it
 * without the lock (READ_ONCE): a write racing with a kexec decides only
 * whether that kexec's handover is damaged.
 */

#define pr_fmt(fmt) "kho: " fmt

#include <linux/crc32.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/kho.h>
#include <linux/kho_abi.h>
#include <linux/libfdt.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "internal.h"

enum kho_corrupt kho_corrupt_mode;

/**
 * kho_test_corrupt_items - should a subtree damage its own description?
 *
 * KHO's tests damage the handover FDT on purpose (debugfs kho/out/corrupt).
 * What a subsystem keeps in preserved buffers is out of KHO's sight: for
 * "handler-compatible", the subsystem makes one item's compatible unknown
 * itself, after asking here.
 *
 * Return: true while "handler-compatible" is asked for.
 */
bool kho_test_corrupt_items(void)
{
	return READ_ONCE(kho_corrupt_mode) == KHO_CORRUPT_HANDLER;
}
EXPORT_SYMBOL_GPL(kho_test_corrupt_items);

/* Make the first compatible at @depth (or deeper, if @deeper) unknown. */
static void kho_corrupt_compatible(void *fdt, int depth, bool deeper)
{
	int node, d = 0, len;
	char *c;

	for (node = fdt_next_node(fdt, 0, &d); node >= 0 && d > 0;
	     node = fdt_next_node(fdt, node, &d)) {
		if (d < depth || (d > depth && !deeper))
			continue;
		c = fdt_getprop_w(fdt, node, "compatible", &len);
		if (c && len > 1) {
			c[0] ^= 0x20;	/* "fdbox,..." becomes "Fdbox,..." */
			return;
		}
	}
}

/**
 * kho_corrupt - damage a built handover the way the test asked for
 * @fdt: the handover FDT
 * @hdr: the header page, already pointing at @fdt with valid checksums
 *
 * Called under kho_out_lock. Most kinds recompute both checksums after
 * the damage, so that only the next kernel's content checks can see it.
 */
void kho_corrupt(void *fdt, struct kho_header *hdr)
{
	struct kho_extent *ext;
	struct kho_bitmap *bm;
	int len;

	switch (kho_corrupt_mode) {
	case KHO_CORRUPT_NONE:
		return;
	case KHO_CORRUPT_FDT:
		((u8 *)fdt)[fdt_off_dt_struct(fdt) + 8] ^= 0x40;
		return;
	case KHO_CORRUPT_HEADER:
		hdr->crc = cpu_to_le32(le32_to_cpu(hdr->crc) ^ 1);
		return;
	case KHO_CORRUPT_COMPATIBLE:
		return;		/* written so by kho_build_fdt() */
	case KHO_CORRUPT_VERSION:
		hdr->version = cpu_to_le32(KHO_ABI_VERSION + 1);
		break;
	case KHO_CORRUPT_FDT_MAGIC:
		((u8 *)fdt)[0] ^= 0xff;
		break;
	case KHO_CORRUPT_TRUNCATED:
		hdr->fdt_size = cpu_to_le64(le64_to_cpu(hdr->fdt_size) / 2);
		break;
	case KHO_CORRUPT_OUTSIDE_RAM:
	case KHO_CORRUPT_OVERLAP:
	case KHO_CORRUPT_EXTENT_ALIGN:
	case KHO_CORRUPT_IN_SCRATCH:
		ext = fdt_getprop_w(fdt, 0, "preserved-extents", &len);
		if (!ext || len < 2 * (int)sizeof(*ext))
			break;
		if (kho_corrupt_mode == KHO_CORRUPT_OUTSIDE_RAM)
			ext[len / sizeof(*ext) - 1].phys_order = cpu_to_le64(1ULL << 50);
		else if (kho_corrupt_mode == KHO_CORRUPT_OVERLAP)
			ext[1] = ext[0];
		else if (kho_corrupt_mode == KHO_CORRUPT_EXTENT_ALIGN)
			ext[0].phys_order = cpu_to_le64(le64_to_cpu(ext[0].phys_order) +
							PAGE_SIZE / 2);
		else
			ext[0].phys_order = cpu_to_le64(kho_scratch[0].start);
		break;
	case KHO_CORRUPT_EXTENTS_LEN:
		ext = fdt_getprop_w(fdt, 0, "preserved-extents", &len);
		if (ext && len)	/* shrinking a property always fits */
			fdt_setprop(fdt, 0, "preserved-extents", ext, len - 1);
		break;
	case KHO_CORRUPT_BITMAP_ALIGN:
		bm = fdt_getprop_w(fdt, 0, "preserved-bitmaps", &len);
		if (bm && len)
			bm[0].base_order = cpu_to_le64(le64_to_cpu(bm[0].base_order) + PAGE_SIZE);
		break;
	case KHO_CORRUPT_NO_SCRATCH:
		fdt_delprop(fdt, 0, "scratch");
		break;
	case KHO_CORRUPT_SUBTREE:
		kho_corrupt_compatible(fdt, 1, false);
		break;
	case KHO_CORRUPT_HANDLER:
		kho_corrupt_compatible(fdt, 2, true);
		break;
	}
	/* Valid checksums: only the content checks can catch it. */
	hdr->fdt_crc = cpu_to_le32(crc32_le(~0, fdt, le64_to_cpu(hdr->fdt_size)));
	hdr->crc = 0;
	hdr->crc = cpu_to_le32(crc32_le(~0, (void *)hdr, sizeof(*hdr)));
}

static const char * const kho_corrupt_names[] = {
	[KHO_CORRUPT_NONE] = "none",
	[KHO_CORRUPT_FDT] = "fdt",
	[KHO_CORRUPT_HEADER] = "header",
	[KHO_CORRUPT_OUTSIDE_RAM] = "outside-ram",
	[KHO_CORRUPT_OVERLAP] = "overlap",
	[KHO_CORRUPT_COMPATIBLE] = "compatible",
	[KHO_CORRUPT_VERSION] = "version",
	[KHO_CORRUPT_FDT_MAGIC] = "fdt-magic",
	[KHO_CORRUPT_TRUNCATED] = "truncated",
	[KHO_CORRUPT_EXTENT_ALIGN] = "extent-align",
	[KHO_CORRUPT_EXTENTS_LEN] = "extents-length",
	[KHO_CORRUPT_BITMAP_ALIGN] = "bitmap-align",
	[KHO_CORRUPT_NO_SCRATCH] = "no-scratch",
	[KHO_CORRUPT_IN_SCRATCH] = "in-scratch",
	[KHO_CORRUPT_SUBTREE] = "subtree-compatible",
	[KHO_CORRUPT_HANDLER] = "handler-compatible",
};

static ssize_t kho_corrupt_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	char buf[32];
	int i;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	i = sysfs_match_string(kho_corrupt_names, buf);
	if (i < 0)
		return -EINVAL;
	mutex_lock(&kho_out_lock);
	WRITE_ONCE(kho_corrupt_mode, i);
	mutex_unlock(&kho_out_lock);
	return count;
}

static ssize_t kho_corrupt_read(struct file *file, char __user *ubuf,
				size_t count, loff_t *ppos)
{
	char buf[32];
	int len = scnprintf(buf, sizeof(buf), "%s\n", kho_corrupt_names[kho_corrupt_mode]);

	return simple_read_from_buffer(ubuf, count, ppos, buf, len);
}

static const struct file_operations kho_corrupt_fops = {
	.owner = THIS_MODULE,
	.read = kho_corrupt_read,
	.write = kho_corrupt_write,
	.llseek = default_llseek,
};

/* Called by the debugfs view with its kho/out directory. */
void kho_corrupt_debugfs(struct dentry *out)
{
	debugfs_create_file("corrupt", 0600, out, NULL, &kho_corrupt_fops);
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kexec HandOver: the debugfs view, /sys/kernel/debug/kho.
 */

/**
 * DOC: debugfs
 *
 * ``kho/scratch``
 *	the scratch ranges, one "start size" line each (hex)
 * ``kho/out/fdt``
 *	the handover FDT as it would be built now
 * ``kho/out/stats``
 *	preserved folios and bytes, subtrees, and what the memory map costs:
 *	extents, bitmaps, map bytes, FDT bytes
 * ``kho/out/corrupt``
 *	with CONFIG_KEXEC_HANDOVER_TEST only: see corrupt.c
 * ``kho/in/fdt``
 *	the FDT received from the previous kernel, if any
 * ``kho/in/stats``
 *	whether a handover arrived, preserved folios and bytes, bytes
 *	restored and released so far
 */

#define pr_fmt(fmt) "kho: " fmt

#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/libfdt.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include "internal.h"

struct kho_fdt_view {
	void *fdt;
	size_t size;
	size_t len;
};

static int kho_out_fdt_open(struct inode *inode, struct file *file)
{
	struct kho_fdt_view *v = kzalloc(sizeof(*v), GFP_KERNEL);
	struct kho_fdt_info info;

	if (!v)
		return -ENOMEM;
	mutex_lock(&kho_out_lock);
	v->fdt = kho_build_fdt(&v->size, &info);
	mutex_unlock(&kho_out_lock);
	if (IS_ERR(v->fdt)) {
		int err = PTR_ERR(v->fdt);

		kfree(v);
		return err;
	}
	v->len = info.fdt_bytes;
	file->private_data = v;
	return 0;
}

static ssize_t kho_out_fdt_read(struct file *file, char __user *buf, size_t count,
				loff_t *ppos)
{
	struct kho_fdt_view *v = file->private_data;

	return simple_read_from_buffer(buf, count, ppos, v->fdt, v->len);
}

static int kho_out_fdt_release(struct inode *inode, struct file *file)
{
	struct kho_fdt_view *v = file->private_data;

	kho_free_fdt(v->fdt, v->size);
	kfree(v);
	return 0;
}

static const struct file_operations kho_out_fdt_fops = {
	.owner = THIS_MODULE,
	.open = kho_out_fdt_open,
	.read = kho_out_fdt_read,
	.release = kho_out_fdt_release,
	.llseek = default_llseek,
};

static int kho_out_stats_show(struct seq_file *m, void *v)
{
	struct kho_out_stats st;
	struct kho_fdt_info info = { };
	size_t size;
	void *fdt;

	kho_out_stats(&st);
	mutex_lock(&kho_out_lock);
	fdt = kho_build_fdt(&size, &info);
	mutex_unlock(&kho_out_lock);
	if (IS_ERR(fdt))
		return PTR_ERR(fdt);
	kho_free_fdt(fdt, size);

	seq_printf(m, "preserved_folios %lu\n", st.folios);
	seq_printf(m, "preserved_bytes %lu\n", st.bytes);
	seq_printf(m, "subtrees %u\n", st.subtrees);
	seq_printf(m, "extents %lu\n", info.nr_extents);
	seq_printf(m, "bitmaps %lu\n", info.nr_bitmaps);
	seq_printf(m, "map_bytes %zu\n", info.map_bytes);
	seq_printf(m, "fdt_bytes %zu\n", info.fdt_bytes);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kho_out_stats);

static int kho_in_stats_show(struct seq_file *m, void *v)
{
	struct kho_in_stats st;

	kho_in_stats(&st);
	seq_printf(m, "present %d\n", kho_handover_present());
	seq_printf(m, "preserved_folios %lu\n", st.folios);
	seq_printf(m, "preserved_bytes %lu\n", st.bytes);
	seq_printf(m, "restored_bytes %lu\n", st.restored);
	seq_printf(m, "released_bytes %lu\n", st.released);
	seq_printf(m, "fdt_bytes %zu\n", kho_in_fdt_size);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kho_in_stats);

static int kho_scratch_show(struct seq_file *m, void *v)
{
	unsigned int i;

	for (i = 0; i < kho_nr_scratch; i++)
		seq_printf(m, "0x%llx 0x%llx\n", (u64)kho_scratch[i].start,
			   (u64)kho_scratch[i].size);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kho_scratch);

static struct debugfs_blob_wrapper kho_in_fdt_blob;

static int __init kho_debugfs_init(void)
{
	struct dentry *root, *out, *in;

	if (!kho_enabled)
		return 0;
	root = debugfs_create_dir("kho", NULL);
	debugfs_create_file("scratch", 0400, root, NULL, &kho_scratch_fops);

	out = debugfs_create_dir("out", root);
	debugfs_create_file("fdt", 0400, out, NULL, &kho_out_fdt_fops);
	debugfs_create_file("stats", 0400, out, NULL, &kho_out_stats_fops);
	kho_corrupt_debugfs(out);

	in = debugfs_create_dir("in", root);
	debugfs_create_file("stats", 0400, in, NULL, &kho_in_stats_fops);
	if (kho_in_fdt) {
		kho_in_fdt_blob.data = (void *)kho_in_fdt;
		kho_in_fdt_blob.size = kho_in_fdt_size;
		debugfs_create_blob("fdt", 0400, in, &kho_in_fdt_blob);
	}
	return 0;
}
late_initcall(kho_debugfs_init);

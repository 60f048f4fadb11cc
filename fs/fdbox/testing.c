// SPDX-License-Identifier: GPL-2.0-only
/*
 * fdbox: a test handler and test participants, for the selftests of the
 * handler interface (CONFIG_FDBOX_TEST).
 */

/**
 * DOC: Test handler
 *
 * FDBOX_TEST_NEW on an open debugfs ``fdbox-test/object`` returns the fd
 * of a new *test object*: a file of its own inode, holding bytes
 * (write() replaces them, read() returns them). Before
 * it is deposited, ioctls make it depend on another object
 * (FDBOX_TEST_DEPEND) and use the test participants (FDBOX_TEST_USE).
 * The handler ("fdbox,test-object-v1") carries the bytes in a preserved
 * buffer of the item's own; the retrieved object is a new file with the
 * same bytes, which also remembers the first 8 bytes of the object it
 * depends on and the inode number of the retrieve context
 * (FDBOX_TEST_INFO).
 *
 * Two participants each preserve one page with a known pattern:
 * "fdbox,test-global-v1" (global) and "fdbox,test-session-v1" (one per
 * session). In the next kernel the global one is looked up at
 * subsys_initcall, long before fdbox's own init; their finish callbacks
 * check the pattern and free the page. ``fdbox-test/stats`` counts all of
 * it, in both kernels.
 *
 * Locking: fdbox_test_lock protects the counters; objects are not shared
 * between threads by the tests (their bytes are replaced under it too).
 */

#define pr_fmt(fmt) "fdbox-test: " fmt

#include <linux/anon_inodes.h>
#include <linux/debugfs.h>
#include <linux/fdbox.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/io.h>
#include <linux/kho.h>
#include <linux/kho_abi.h>
#include <linux/libfdt.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "internal.h"

/* Test-only ioctls, 0x1c-0x1f of fdbox's range; the selftests define the same. */
#define FDBOX_TEST_NEW		_IO(FDBOX_TYPE, 0x1c)	/* on fdbox-test/object */
#define FDBOX_TEST_DEPEND	_IO(FDBOX_TYPE, 0x1d)	/* arg: an object's fd */
#define FDBOX_TEST_USE		_IO(FDBOX_TYPE, 0x1e)	/* arg: FDBOX_TEST_USE_* */
#define FDBOX_TEST_INFO		_IO(FDBOX_TYPE, 0x1f)	/* arg: struct fdbox_test_info */
#define FDBOX_TEST_USE_GLOBAL	1
#define FDBOX_TEST_USE_SESSION	2

struct fdbox_test_info {
	__u64 dep_head;		/* first 8 bytes of the object depended on */
	__u64 context_ino;	/* inode number of the retrieve context */
};

#define FDBOX_TEST_MAX		SZ_1M
#define FDBOX_TEST_PATTERN	0xfdb0c5a7e5ULL

struct fdbox_test_obj {
	void *data;		/* vmalloc() */
	size_t len;
	struct file *depends;	/* before deposit: what it will depend on */
	unsigned int uses;
	struct fdbox_test_info info;
};

/* What the handler keeps of a deposited object. */
struct fdbox_test_out {
	void *copy;
	size_t len;
	struct kho_buf_ref ref;
};

static DEFINE_MUTEX(fdbox_test_lock);
static struct {
	unsigned int out_global, out_session;	/* preserved instances now */
	unsigned int in_global_early;		/* found at subsys_initcall */
	unsigned int in_global_finished, in_session_finished, in_bad_pattern;
	unsigned int items_finished;
} fdbox_test_stats;

static const struct file_operations fdbox_test_fops;

static void fdbox_test_count(unsigned int *counter, int delta)
{
	mutex_lock(&fdbox_test_lock);
	*counter += delta;
	mutex_unlock(&fdbox_test_lock);
}

/* ---- participants: one page each, with a pattern ---- */

static int fdbox_test_part_preserve(void **priv, unsigned int *counter)
{
	struct page *page = alloc_page(GFP_KERNEL);
	int err;

	if (!page)
		return -ENOMEM;
	*(u64 *)page_address(page) = FDBOX_TEST_PATTERN ^ page_to_phys(page);
	err = kho_preserve_phys(page_to_phys(page), PAGE_SIZE);
	if (err) {
		__free_page(page);
		return err;
	}
	*priv = page;
	fdbox_test_count(counter, 1);
	return 0;
}

static void fdbox_test_part_unpreserve(void *priv, unsigned int *counter)
{
	struct page *page = priv;

	kho_unpreserve_phys(page_to_phys(page), PAGE_SIZE);
	__free_page(page);
	fdbox_test_count(counter, -1);
}

static int fdbox_test_part_describe(void *priv, void *fdt)
{
	return fdbox_fdt_err(fdt_property_u64(fdt, "page", page_to_phys((struct page *)priv)));
}

static void fdbox_test_part_finish(const void *fdt, int node, unsigned int *counter)
{
	phys_addr_t phys = fdbox_fdt_u64(fdt, node, "page");
	bool ok;

	if (!phys || kho_restore_phys(phys, PAGE_SIZE)) {
		fdbox_test_count(&fdbox_test_stats.in_bad_pattern, 1);
		return;
	}
	ok = *(u64 *)phys_to_virt(phys) == (FDBOX_TEST_PATTERN ^ phys);
	__free_page(pfn_to_page(PHYS_PFN(phys)));
	fdbox_test_count(ok ? counter : &fdbox_test_stats.in_bad_pattern, 1);
}

static int fdbox_test_global_preserve(void **priv)
{
	return fdbox_test_part_preserve(priv, &fdbox_test_stats.out_global);
}

static void fdbox_test_global_unpreserve(void *priv)
{
	fdbox_test_part_unpreserve(priv, &fdbox_test_stats.out_global);
}

static void fdbox_test_global_finish(const void *fdt, int node)
{
	fdbox_test_part_finish(fdt, node, &fdbox_test_stats.in_global_finished);
}

static int fdbox_test_session_preserve(void **priv)
{
	return fdbox_test_part_preserve(priv, &fdbox_test_stats.out_session);
}

static void fdbox_test_session_unpreserve(void *priv)
{
	fdbox_test_part_unpreserve(priv, &fdbox_test_stats.out_session);
}

static void fdbox_test_session_finish(const void *fdt, int node)
{
	fdbox_test_part_finish(fdt, node, &fdbox_test_stats.in_session_finished);
}

static struct fdbox_participant fdbox_test_global = {
	.compatible	= "fdbox,test-global-v1",
	.preserve	= fdbox_test_global_preserve,
	.unpreserve	= fdbox_test_global_unpreserve,
	.describe	= fdbox_test_part_describe,
	.finish		= fdbox_test_global_finish,
};

static struct fdbox_participant fdbox_test_session = {
	.compatible	= "fdbox,test-session-v1",
	.session_scoped	= true,
	.preserve	= fdbox_test_session_preserve,
	.unpreserve	= fdbox_test_session_unpreserve,
	.describe	= fdbox_test_part_describe,
	.finish		= fdbox_test_session_finish,
};

/* ---- test objects ---- */

static struct fdbox_test_obj *fdbox_test_obj_alloc(void)
{
	return kzalloc(sizeof(struct fdbox_test_obj), GFP_KERNEL);
}

static void fdbox_test_obj_free(struct fdbox_test_obj *obj)
{
	if (obj->depends)
		fput(obj->depends);
	vfree(obj->data);
	kfree(obj);
}

static int fdbox_test_release(struct inode *inode, struct file *file)
{
	fdbox_test_obj_free(file->private_data);
	return 0;
}

static ssize_t fdbox_test_read(struct file *file, char __user *buf, size_t count,
			       loff_t *ppos)
{
	struct fdbox_test_obj *obj = file->private_data;
	ssize_t ret;

	mutex_lock(&fdbox_test_lock);
	ret = simple_read_from_buffer(buf, count, ppos, obj->data, obj->len);
	mutex_unlock(&fdbox_test_lock);
	return ret;
}

/* Replace the bytes with what is written, in one write. */
static ssize_t fdbox_test_write(struct file *file, const char __user *buf,
				size_t count, loff_t *ppos)
{
	struct fdbox_test_obj *obj = file->private_data;
	void *data;

	if (!count || count > FDBOX_TEST_MAX)
		return -EINVAL;
	data = vmalloc(count);
	if (!data)
		return -ENOMEM;
	if (copy_from_user(data, buf, count)) {
		vfree(data);
		return -EFAULT;
	}
	mutex_lock(&fdbox_test_lock);
	swap(obj->data, data);
	obj->len = count;
	mutex_unlock(&fdbox_test_lock);
	vfree(data);
	return count;
}

static long fdbox_test_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct fdbox_test_obj *obj = file->private_data;
	struct file *other;

	switch (cmd) {
	case FDBOX_TEST_DEPEND:
		other = fget(arg);
		if (!other)
			return -EBADF;
		if (other->f_op != &fdbox_test_fops || other == file) {
			fput(other);
			return -EINVAL;
		}
		if (obj->depends)
			fput(obj->depends);
		obj->depends = other;
		return 0;
	case FDBOX_TEST_USE:
		if (arg & ~(FDBOX_TEST_USE_GLOBAL | FDBOX_TEST_USE_SESSION))
			return -EINVAL;
		obj->uses = arg;
		return 0;
	case FDBOX_TEST_INFO:
		return copy_to_user((void __user *)arg, &obj->info, sizeof(obj->info)) ?
		       -EFAULT : 0;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations fdbox_test_fops = {
	.owner		= THIS_MODULE,
	.release	= fdbox_test_release,
	.read		= fdbox_test_read,
	.write		= fdbox_test_write,
	.unlocked_ioctl	= fdbox_test_ioctl,
	.llseek		= default_llseek,
};

/* A new object, with an inode of its own: fdbox tells files by inode. */
static struct file *fdbox_test_obj_file(struct fdbox_test_obj *obj)
{
	struct file *file;

	file = anon_inode_create_getfile("[fdbox-test]", &fdbox_test_fops, obj,
					 O_RDWR, NULL);
	if (!IS_ERR(file))
		file->f_mode |= FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE;
	return file;
}

/* FDBOX_TEST_NEW on debugfs fdbox-test/object: the fd of a new object. */
static long fdbox_test_factory_ioctl(struct file *file, unsigned int cmd,
				     unsigned long arg)
{
	struct fdbox_test_obj *obj;
	struct file *f;
	int fd;

	if (cmd != FDBOX_TEST_NEW)
		return -ENOTTY;
	obj = fdbox_test_obj_alloc();
	if (!obj)
		return -ENOMEM;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		kfree(obj);
		return fd;
	}
	f = fdbox_test_obj_file(obj);
	if (IS_ERR(f)) {
		put_unused_fd(fd);
		kfree(obj);
		return PTR_ERR(f);
	}
	fd_install(fd, f);
	return fd;
}

static const struct file_operations fdbox_test_factory_fops = {
	.owner		= THIS_MODULE,
	.open		= simple_open,
	.unlocked_ioctl	= fdbox_test_factory_ioctl,
};

/* ---- the handler ---- */

static bool fdbox_test_can_preserve(struct file *file)
{
	return file->f_op == &fdbox_test_fops;
}

static int fdbox_test_preserve(struct fdbox_item *item)
{
	struct fdbox_test_obj *obj = item->file->private_data;
	struct fdbox_test_out *out;
	int err;

	if (!obj->len)
		return -ENODATA;
	if (obj->depends) {
		err = fdbox_item_depend(item, obj->depends);
		if (err < 0)
			return err;
	}
	if (obj->uses & FDBOX_TEST_USE_GLOBAL) {
		err = fdbox_item_use(item, &fdbox_test_global);
		if (err)
			return err;
	}
	if (obj->uses & FDBOX_TEST_USE_SESSION) {
		err = fdbox_item_use(item, &fdbox_test_session);
		if (err)
			return err;
	}
	out = kzalloc(sizeof(*out), GFP_KERNEL);
	if (!out)
		return -ENOMEM;
	mutex_lock(&fdbox_test_lock);
	out->len = obj->len;
	out->copy = vmalloc(out->len);
	if (out->copy)
		memcpy(out->copy, obj->data, out->len);
	mutex_unlock(&fdbox_test_lock);
	err = out->copy ? kho_buf_preserve(out->copy, out->len, &out->ref) : -ENOMEM;
	if (err) {
		vfree(out->copy);
		kfree(out);
		return err;
	}
	item->priv = out;
	return 0;
}

static void fdbox_test_unpreserve(struct fdbox_item *item)
{
	struct fdbox_test_out *out = item->priv;

	kho_buf_unpreserve(&out->ref);
	vfree(out->copy);
	kfree(out);
}

static int fdbox_test_describe(struct fdbox_item *item, void *fdt)
{
	struct fdbox_test_out *out = item->priv;
	struct fdbox_test_obj *obj = item->file->private_data;

	return fdbox_fdt_err(fdt_property(fdt, "test-data", &out->ref, sizeof(out->ref)) ?:
			     fdt_property_u32(fdt, "test-depends", !!obj->depends));
}

static void fdbox_test_info(struct fdbox_item *item, struct fdbox_sizes *sz)
{
	struct fdbox_test_out *out = item->priv;

	sz->size = out->len;
	sz->preserved = PAGE_ALIGN(out->len) +
			DIV_ROUND_UP(PAGE_ALIGN(out->len) / PAGE_SIZE, KHO_BUF_TABLE_ENTRIES) *
			PAGE_SIZE;
	sz->metadata = sizeof(out->ref);
}

static int fdbox_test_ref(const struct fdbox_item *item, struct kho_buf_ref *ref)
{
	const void *prop;
	int len;

	prop = fdt_getprop(item->fdt, item->node, "test-data", &len);
	if (!prop || len != sizeof(*ref))
		return -EINVAL;
	memcpy(ref, prop, sizeof(*ref));
	return 0;
}

static struct file *fdbox_test_retrieve(struct fdbox_item *item, bool *untouched)
{
	struct fdbox_test_obj *obj;
	struct kho_buf_ref ref;
	struct file *dep, *file;
	u32 depends = 0;

	if (fdbox_test_ref(item, &ref))
		return ERR_PTR(-EINVAL);
	fdbox_fdt_u32(item->fdt, item->node, "test-depends", &depends);
	dep = fdbox_item_dependency(item, 0);
	if (depends && (!dep || dep->f_op != &fdbox_test_fops)) {
		*untouched = true;
		return ERR_PTR(-ENOLINK);
	}
	obj = fdbox_test_obj_alloc();
	if (!obj) {
		*untouched = true;
		return ERR_PTR(-ENOMEM);
	}
	obj->data = kho_buf_restore(&ref);
	if (IS_ERR(obj->data)) {
		long err = PTR_ERR(obj->data);

		obj->data = NULL;
		fdbox_test_obj_free(obj);
		return ERR_PTR(err);
	}
	obj->len = le64_to_cpu(ref.size);
	if (dep) {
		struct fdbox_test_obj *d = dep->private_data;

		memcpy(&obj->info.dep_head, d->data, min_t(size_t, d->len, 8));
	}
	if (item->context)
		obj->info.context_ino = file_inode(item->context)->i_ino;
	file = fdbox_test_obj_file(obj);
	if (IS_ERR(file))
		fdbox_test_obj_free(obj);	/* its bytes went with it */
	return file;
}

static void fdbox_test_discard(struct fdbox_item *item)
{
	struct kho_buf_ref ref;

	if (!fdbox_test_ref(item, &ref))
		kho_buf_release(&ref);
}

static void fdbox_test_finish(struct fdbox_item *item)
{
	fdbox_test_count(&fdbox_test_stats.items_finished, 1);
}

static struct fdbox_handler fdbox_test_handler = {
	.compatible	= "fdbox,test-object-v1",
	.flags		= FDBOX_HANDLER_CONTEXT,
	.can_preserve	= fdbox_test_can_preserve,
	.preserve	= fdbox_test_preserve,
	.unpreserve	= fdbox_test_unpreserve,
	.describe	= fdbox_test_describe,
	.info		= fdbox_test_info,
	.retrieve	= fdbox_test_retrieve,
	.discard	= fdbox_test_discard,
	.finish		= fdbox_test_finish,
};

static int fdbox_test_stats_show(struct seq_file *m, void *v)
{
	mutex_lock(&fdbox_test_lock);
	seq_printf(m, "out_global %u\nout_session %u\n", fdbox_test_stats.out_global,
		   fdbox_test_stats.out_session);
	seq_printf(m, "in_global_early %u\nin_global_finished %u\n",
		   fdbox_test_stats.in_global_early, fdbox_test_stats.in_global_finished);
	seq_printf(m, "in_session_finished %u\nin_bad_pattern %u\nitems_finished %u\n",
		   fdbox_test_stats.in_session_finished, fdbox_test_stats.in_bad_pattern,
		   fdbox_test_stats.items_finished);
	mutex_unlock(&fdbox_test_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(fdbox_test_stats);

/* Early, as an IOMMU driver would: before fdbox's own late init. */
static int __init fdbox_test_early(void)
{
	const void *fdt;

	fdbox_register_participant(&fdbox_test_global);
	fdbox_register_participant(&fdbox_test_session);
	if (fdbox_participant_find(fdbox_test_global.compatible, &fdt) >= 0) {
		fdbox_test_stats.in_global_early = 1;
		pr_info("found the global test participant at subsys_initcall\n");
	}
	return 0;
}
subsys_initcall(fdbox_test_early);

static int __init fdbox_test_init(void)
{
	struct dentry *dir = debugfs_create_dir("fdbox-test", NULL);

	debugfs_create_file("object", 0600, dir, NULL, &fdbox_test_factory_fops);
	debugfs_create_file("stats", 0400, dir, NULL, &fdbox_test_stats_fops);
	return fdbox_register_handler(&fdbox_test_handler);
}
device_initcall(fdbox_test_init);

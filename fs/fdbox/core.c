// SPDX-License-Identifier: GPL-2.0-only
/*
 * fdbox: carry file descriptors across kexec.
 */

/**
 * DOC: fdbox core
 *
 * fdbox gives a process a way to hand file descriptors, with the memory
 * behind them left in place, to the kernel it kexecs into. Two misc
 * devices carry the interface (Documentation/userspace-api/fdbox.rst):
 *
 * - ``/dev/kho/serialize``: each open file is an outgoing session
 *   (session.c);
 * - ``/dev/kho/deserialize``: each open file attaches to one incoming
 *   session (restore.c).
 *
 * Each kind of file has a handler (struct fdbox_handler) that knows how
 * to pin, preserve and rebuild it; memfd.c is one. This file keeps the
 * list of handlers and the argument checks the ioctls share.
 *
 * Locking: fdbox_handlers_lock protects the list of handlers. Handlers
 * register at boot and never go away.
 */

#define pr_fmt(fmt) "fdbox: " fmt

#include <linux/init.h>
#include <linux/kho.h>
#include <linux/libfdt.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "internal.h"

static DEFINE_MUTEX(fdbox_handlers_lock);
static LIST_HEAD(fdbox_handlers);

/**
 * fdbox_register_handler - teach fdbox to carry one more kind of file
 * @handler: the handler; it must stay valid for the life of the kernel
 *
 * Return: 0, or -EEXIST if a handler with the same compatible string is
 * registered already.
 */
int fdbox_register_handler(struct fdbox_handler *handler)
{
	struct fdbox_handler *h;
	int err = 0;

	mutex_lock(&fdbox_handlers_lock);
	list_for_each_entry(h, &fdbox_handlers, list) {
		if (!strcmp(h->compatible, handler->compatible))
			err = -EEXIST;
	}
	if (!err)
		list_add_tail(&handler->list, &fdbox_handlers);
	mutex_unlock(&fdbox_handlers_lock);
	return err;
}
EXPORT_SYMBOL_GPL(fdbox_register_handler);

const struct fdbox_handler *fdbox_handler_for_file(struct file *file)
{
	const struct fdbox_handler *h, *found = NULL;

	mutex_lock(&fdbox_handlers_lock);
	list_for_each_entry(h, &fdbox_handlers, list) {
		if (h->can_preserve(file)) {
			found = h;
			break;
		}
	}
	mutex_unlock(&fdbox_handlers_lock);
	return found;
}

const struct fdbox_handler *fdbox_handler_for_compatible(const char *compatible)
{
	const struct fdbox_handler *h, *found = NULL;

	mutex_lock(&fdbox_handlers_lock);
	list_for_each_entry(h, &fdbox_handlers, list) {
		if (!strcmp(h->compatible, compatible)) {
			found = h;
			break;
		}
	}
	mutex_unlock(&fdbox_handlers_lock);
	return found;
}

/*
 * Copy an ioctl argument whose first field is its size. Older (shorter)
 * structures are zero-extended; newer ones must have zeroes past what
 * this kernel knows (-E2BIG otherwise).
 */
int fdbox_copy_arg(void *karg, size_t ksize, size_t minsize, unsigned long uarg)
{
	u32 usize;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < minsize)
		return -EINVAL;
	if (usize > PAGE_SIZE)
		return -E2BIG;
	return copy_struct_from_user(karg, ksize, (void __user *)uarg, usize);
}

/* 1 to FDBOX_NAME_MAX - 1 printable ASCII bytes, then a NUL. */
bool fdbox_name_valid(const char *name)
{
	size_t len = strnlen(name, FDBOX_NAME_MAX);
	size_t i;

	if (!len || len == FDBOX_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		if (name[i] < 0x20 || name[i] > 0x7e)
			return false;
	}
	return true;
}

/*
 * FDBOX_LIST and FDBOX_LIST_SESSIONS: fill as many entries as userspace
 * has room for, each entry_size bytes (shorter or longer than ours:
 * truncated or zero-extended), and report how many there are.
 */
int fdbox_list_copy_out(unsigned long uarg, size_t entry_size,
			fdbox_fill_fn fill, void *priv)
{
	struct fdbox_list arg;
	unsigned int i;
	void *entry;
	int err;

	err = fdbox_copy_arg(&arg, sizeof(arg), sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags || arg.entry_size < entry_size ||
	    arg.entry_size > PAGE_SIZE || (arg.count && !arg.entries))
		return -EINVAL;

	entry = kmalloc(entry_size, GFP_KERNEL);
	if (!entry)
		return -ENOMEM;
	for (i = 0; ; i++) {
		u8 __user *dst = u64_to_user_ptr(arg.entries) + (u64)i * arg.entry_size;

		memset(entry, 0, entry_size);
		if (!fill(priv, i, entry))
			break;
		if (i >= arg.count)
			continue;
		if (copy_to_user(dst, entry, entry_size) ||
		    clear_user(dst + entry_size, arg.entry_size - entry_size)) {
			err = -EFAULT;
			break;
		}
	}
	kfree(entry);
	if (err)
		return err;
	if (put_user(i, &((struct fdbox_list __user *)uarg)->count))
		return -EFAULT;
	return 0;
}

u64 fdbox_fdt_u64(const void *fdt, int node, const char *name)
{
	const fdt64_t *val;
	int len;

	val = fdt_getprop(fdt, node, name, &len);
	if (!val || len != sizeof(*val))
		return 0;
	return fdt64_to_cpu(*val);
}

static struct miscdevice fdbox_serialize_dev = {
	.minor		= MISC_DYNAMIC_MINOR,
	.name		= "kho_serialize",
	.nodename	= "kho/serialize",
	.mode		= 0600,
	.fops		= &fdbox_serialize_fops,
};

static struct miscdevice fdbox_deserialize_dev = {
	.minor		= MISC_DYNAMIC_MINOR,
	.name		= "kho_deserialize",
	.nodename	= "kho/deserialize",
	.mode		= 0600,
	.fops		= &fdbox_deserialize_fops,
};

/* After the handlers (device_initcall): incoming items need them. */
static int __init fdbox_init(void)
{
	int err;

	if (!kho_is_enabled())
		return 0;
	err = fdbox_session_init();
	if (err)
		goto fail;
	fdbox_restore_init();
	err = misc_register(&fdbox_serialize_dev);
	if (err)
		goto fail;
	err = misc_register(&fdbox_deserialize_dev);
	if (err) {
		misc_deregister(&fdbox_serialize_dev);
		goto fail;
	}
	return 0;
fail:
	pr_err("cannot start (%d)\n", err);
	return err;
}
late_initcall(fdbox_init);

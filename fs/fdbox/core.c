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
 *   (outgoing.c);
 * - ``/dev/kho/deserialize``: each open file attaches to one incoming
 *   session (incoming.c).
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
#include <linux/rhashtable.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "internal.h"

#define CREATE_TRACE_POINTS
#include <trace/events/fdbox.h>

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

	BUILD_BUG_ON(sizeof(struct fdbox_set_name) != FDBOX_SET_NAME_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct fdbox_deposit) != FDBOX_DEPOSIT_SIZE_VER1);
	BUILD_BUG_ON(sizeof(struct fdbox_attach) != FDBOX_ATTACH_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct fdbox_retrieve) != FDBOX_RETRIEVE_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct fdbox_item_info) != FDBOX_ITEM_INFO_SIZE_VER1);
	BUILD_BUG_ON(sizeof(struct fdbox_session_info) != FDBOX_SESSION_INFO_SIZE_VER0);

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

static const struct rhashtable_params fdbox_label_params = {
	.key_len	= FDBOX_NAME_MAX,
	.key_offset	= offsetof(struct fdbox_label_entry, label),
	.head_offset	= offsetof(struct fdbox_label_entry, hash),
};

int fdbox_labels_init(struct rhashtable *labels)
{
	return rhashtable_init(labels, &fdbox_label_params);
}

void fdbox_labels_destroy(struct rhashtable *labels)
{
	rhashtable_destroy(labels);
}

/* Add @e, whose label is NUL-padded; -EEXIST if the label is taken. */
int fdbox_labels_insert(struct rhashtable *labels, struct fdbox_label_entry *e)
{
	return rhashtable_lookup_insert_fast(labels, &e->hash, fdbox_label_params);
}

void fdbox_labels_remove(struct rhashtable *labels, struct fdbox_label_entry *e)
{
	rhashtable_remove_fast(labels, &e->hash, fdbox_label_params);
}

/* The entry of a valid @label, which need not be padded; or NULL. */
struct fdbox_label_entry *fdbox_labels_find(struct rhashtable *labels,
					    const char *label)
{
	char key[FDBOX_NAME_MAX];

	strscpy_pad(key, label);
	return rhashtable_lookup_fast(labels, key, fdbox_label_params);
}

/* Read the argument of FDBOX_LIST or FDBOX_LIST_SESSIONS. */
int fdbox_list_arg(struct fdbox_list *arg, unsigned long uarg, bool sessions)
{
	size_t min_entry = sessions ? FDBOX_SESSION_INFO_SIZE_VER0 :
				      FDBOX_ITEM_INFO_SIZE_VER0;
	int err;

	err = fdbox_copy_arg(arg, sizeof(*arg), FDBOX_LIST_SIZE_VER0, uarg);
	if (err)
		return err;
	if (arg->flags || arg->entry_size < min_entry || arg->entry_size > PAGE_SIZE ||
	    (arg->count && !arg->entries))
		return -EINVAL;
	if (arg->session[0] && (sessions || !fdbox_name_valid(arg->session)))
		return -EINVAL;
	return 0;
}

/*
 * Under the caller's locks: fill up to arg->count entries into a kernel
 * buffer, and count them all. fill() gets a NULL entry for those that are
 * only counted.
 */
int fdbox_list_collect(const struct fdbox_list *arg, size_t entry_size,
		       fdbox_fill_fn fill, void *priv, struct fdbox_listing *l)
{
	unsigned int i;

	/* Count first: a big count on a short list costs no big buffer. */
	for (l->total = 0; fill(priv, l->total, NULL); l->total++)
		cond_resched();
	l->filled = min3(arg->count, l->total, (unsigned int)FDBOX_LIST_MAX);
	l->entry_size = entry_size;
	l->buf = l->filled ? kvcalloc(l->filled, entry_size, GFP_KERNEL) : NULL;
	if (l->filled && !l->buf)
		return -ENOMEM;
	for (i = 0; i < l->filled; i++) {
		fill(priv, i, l->buf + i * entry_size);
		cond_resched();
	}
	return 0;
}

/*
 * With no lock held: copy the entries out, each arg->entry_size bytes
 * (ours truncated for older userspace, zero-extended for newer), and
 * report how many there are. Frees the buffer.
 */
int fdbox_list_copy_out(const struct fdbox_list *arg, unsigned long uarg,
			struct fdbox_listing *l)
{
	size_t n = min_t(size_t, arg->entry_size, l->entry_size);
	unsigned int i;
	int err = 0;

	for (i = 0; i < l->filled && !err; i++) {
		u8 __user *dst = u64_to_user_ptr(arg->entries) + (u64)i * arg->entry_size;

		if (copy_to_user(dst, l->buf + i * l->entry_size, n) ||
		    clear_user(dst + n, arg->entry_size - n))
			err = -EFAULT;
	}
	kvfree(l->buf);
	if (!err && put_user(l->total, &((struct fdbox_list __user *)uarg)->count))
		err = -EFAULT;
	return err;
}

/* libfdt's sequential write errors as -errno. */
int fdbox_fdt_err(int err)
{
	if (err == -FDT_ERR_NOSPACE)
		return -ENOSPC;
	return err < 0 ? -EINVAL : 0;
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

/* Read a u32 property of an item node: 0, or -EINVAL if missing or malformed. */
int fdbox_fdt_u32(const void *fdt, int node, const char *name, u32 *val)
{
	const fdt32_t *p;
	int len;

	p = fdt_getprop(fdt, node, name, &len);
	if (!p || len != sizeof(*p))
		return -EINVAL;
	*val = fdt32_to_cpu(*p);
	return 0;
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

// SPDX-License-Identifier: GPL-2.0-only
/*
 * fdbox: outgoing sessions, /dev/kho/serialize.
 */

/**
 * DOC: Outgoing sessions
 *
 * Each open file of ``/dev/kho/serialize`` is a session. The process
 * names it (FDBOX_SET_NAME), deposits files into it under labels
 * (FDBOX_DEPOSIT), and keeps it open until the kexec. A deposit calls
 * the file's handler, which pins and preserves the file's memory then
 * and there; the session holds a reference to the file.
 *
 * Finalizing a session (FDBOX_FINALIZE, or the kexec) asks every handler
 * to freeze its file: take the final list of what to carry. At the
 * kexec, KHO calls fdbox_kho_notify() with KHO_FREEZE: every named
 * session that is not finalized yet is, and one FDT describing all of
 * them becomes the "fdbox" subtree of the handover. If anything fails,
 * the kexec is refused and what the kexec finalized is thawed again;
 * KHO_THAW does the same when KHO refuses the kexec after us.
 *
 * Closing the file cancels the session: every item is thawed,
 * unpreserved and its file put. A session closed while frozen for a
 * kexec is left alone (the kexec carries it) and destroyed on KHO_THAW.
 *
 * Locking: fdbox_lock protects the list of named sessions, their names,
 * fdbox_frozen and fdbox_fdt. Each session's lock protects its items
 * and state. Order: kexec lock, fdbox_lock, session lock, then whatever
 * the handlers take (the inode lock, KHO's lock). fdbox_inodes (an
 * xarray with its own lock) holds every inode deposited anywhere, so
 * that a file is in one session at most.
 */

#define pr_fmt(fmt) "fdbox: " fmt

#include <linux/fdbox_abi.h>
#include <linux/file.h>
#include <linux/kexec.h>
#include <linux/kho.h>
#include <linux/ktime.h>
#include <linux/libfdt.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "internal.h"
#include <trace/events/fdbox.h>

/* The handover FDT of all sessions is at most this big. */
#define FDBOX_FDT_MAX		SZ_4M

struct fdbox_item {
	struct list_head list;
	char label[FDBOX_NAME_MAX];
	struct file *file;
	const struct fdbox_handler *handler;
	void *state;
	bool frozen;
};

struct fdbox_session {
	struct list_head list;		/* fdbox_sessions, once named */
	struct mutex lock;
	char name[FDBOX_NAME_MAX];	/* set once, under both locks */
	struct list_head items;
	unsigned int nr_items;
	bool finalized;
	bool finalized_by_kexec;
	bool orphaned;			/* closed while frozen; fdbox_lock */
};

static DEFINE_MUTEX(fdbox_lock);
static LIST_HEAD(fdbox_sessions);
static bool fdbox_frozen;
static void *fdbox_fdt;
static DEFINE_XARRAY(fdbox_inodes);

static struct fdbox_item *fdbox_find_item(struct fdbox_session *s, const char *label)
{
	struct fdbox_item *item;

	list_for_each_entry(item, &s->items, list) {
		if (!strcmp(item->label, label))
			return item;
	}
	return NULL;
}

static void fdbox_item_thaw(struct fdbox_item *item)
{
	if (item->frozen && item->handler->thaw)
		item->handler->thaw(item->file, item->state);
	item->frozen = false;
}

/* Take an item out of its session and give everything back. */
static void fdbox_item_destroy(struct fdbox_session *s, struct fdbox_item *item)
{
	fdbox_item_thaw(item);
	item->handler->unpreserve(item->file, item->state);
	xa_erase(&fdbox_inodes, (unsigned long)file_inode(item->file));
	list_del(&item->list);
	s->nr_items--;
	fput(item->file);
	kfree(item);
}

static void fdbox_session_thaw(struct fdbox_session *s)
{
	struct fdbox_item *item;

	list_for_each_entry(item, &s->items, list)
		fdbox_item_thaw(item);
	s->finalized = false;
	s->finalized_by_kexec = false;
}

static int fdbox_session_freeze(struct fdbox_session *s)
{
	struct fdbox_item *item;
	int err;

	list_for_each_entry(item, &s->items, list) {
		if (item->handler->freeze) {
			err = item->handler->freeze(item->file, item->state);
			if (err) {
				pr_err_ratelimited("session %s: cannot finalize %s (%d)\n",
						   s->name, item->label, err);
				fdbox_session_thaw(s);
				return err;
			}
		}
		item->frozen = true;
	}
	s->finalized = true;
	return 0;
}

static void fdbox_session_destroy(struct fdbox_session *s)
{
	struct fdbox_item *item, *tmp;

	mutex_lock(&s->lock);
	list_for_each_entry_safe(item, tmp, &s->items, list)
		fdbox_item_destroy(s, item);
	mutex_unlock(&s->lock);
	mutex_destroy(&s->lock);
	kfree(s);
}

static int fdbox_serialize_open(struct inode *inode, struct file *file)
{
	struct fdbox_session *s;

	/* capable() asks the initial user namespace. */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	mutex_init(&s->lock);
	INIT_LIST_HEAD(&s->items);
	INIT_LIST_HEAD(&s->list);
	file->private_data = s;
	return 0;
}

static int fdbox_serialize_release(struct inode *inode, struct file *file)
{
	struct fdbox_session *s = file->private_data;

	/*
	 * Under fdbox_lock, so that a kexec starting now waits until
	 * everything is unpreserved.
	 */
	mutex_lock(&fdbox_lock);
	if (s->name[0] && fdbox_frozen) {
		/* The kexec carries it; KHO_THAW destroys it. */
		s->orphaned = true;
	} else {
		list_del(&s->list);
		fdbox_session_destroy(s);
	}
	mutex_unlock(&fdbox_lock);
	return 0;
}

static int fdbox_set_name(struct fdbox_session *s, unsigned long uarg)
{
	struct fdbox_set_name arg;
	struct fdbox_session *pos;
	int err;

	err = fdbox_copy_arg(&arg, sizeof(arg), FDBOX_SET_NAME_SIZE_VER0, uarg);
	if (err)
		return err;
	if (arg.flags || !fdbox_name_valid(arg.name))
		return -EINVAL;

	mutex_lock(&fdbox_lock);
	if (fdbox_frozen || s->name[0]) {
		err = -EBUSY;
		goto out;
	}
	list_for_each_entry(pos, &fdbox_sessions, list) {
		if (!strcmp(pos->name, arg.name)) {
			err = -EEXIST;
			goto out;
		}
	}
	mutex_lock(&s->lock);
	strscpy(s->name, arg.name);
	mutex_unlock(&s->lock);
	list_add_tail(&s->list, &fdbox_sessions);
out:
	mutex_unlock(&fdbox_lock);
	return err;
}

static int fdbox_deposit(struct fdbox_session *s, unsigned long uarg)
{
	struct fdbox_deposit arg;
	struct fdbox_item *item;
	struct file *file;
	int err;

	err = fdbox_copy_arg(&arg, sizeof(arg), FDBOX_DEPOSIT_SIZE_VER0, uarg);
	if (err)
		return err;
	if (arg.flags || arg.reserved || !fdbox_name_valid(arg.label))
		return -EINVAL;

	file = fget(arg.fd);
	if (!file)
		return -EBADF;
	item = kzalloc(sizeof(*item), GFP_KERNEL);
	if (!item) {
		err = -ENOMEM;
		goto put_file;
	}
	strscpy(item->label, arg.label);
	item->file = file;
	item->handler = fdbox_handler_for_file(file);
	if (!item->handler) {
		err = -EOPNOTSUPP;
		goto free_item;
	}
	/* The file comes back writable: whoever deposits it must have it so. */
	if ((file->f_mode & (FMODE_READ | FMODE_WRITE)) != (FMODE_READ | FMODE_WRITE)) {
		err = -EACCES;
		goto free_item;
	}

	mutex_lock(&s->lock);
	if (!s->name[0]) {
		err = -EINVAL;
		goto unlock;
	}
	if (s->finalized) {
		err = -EBUSY;
		goto unlock;
	}
	if (fdbox_find_item(s, item->label)) {
		err = -EEXIST;
		goto unlock;
	}
	err = xa_insert(&fdbox_inodes, (unsigned long)file_inode(file), item,
			GFP_KERNEL);
	if (err)
		goto unlock;	/* -EBUSY: in a session already */
	trace_fdbox_deposit_start(s->name, item->label);
	err = item->handler->preserve(file, &item->state);
	trace_fdbox_deposit_end(s->name, item->label, err);
	if (err) {
		xa_erase(&fdbox_inodes, (unsigned long)file_inode(file));
		goto unlock;
	}
	list_add_tail(&item->list, &s->items);
	s->nr_items++;
	mutex_unlock(&s->lock);
	return 0;

unlock:
	mutex_unlock(&s->lock);
free_item:
	kfree(item);
put_file:
	fput(file);
	return err;
}

static int fdbox_withdraw(struct fdbox_session *s, unsigned long uarg)
{
	struct fdbox_label arg;
	struct fdbox_item *item;
	int err;

	err = fdbox_copy_arg(&arg, sizeof(arg), FDBOX_LABEL_SIZE_VER0, uarg);
	if (err)
		return err;
	if (arg.flags || !fdbox_name_valid(arg.label) || arg.session[0])
		return -EINVAL;

	mutex_lock(&s->lock);
	item = fdbox_find_item(s, arg.label);
	if (!item)
		err = -ENOENT;
	else if (s->finalized)
		err = -EBUSY;
	else
		fdbox_item_destroy(s, item);
	mutex_unlock(&s->lock);
	return err;
}

static int fdbox_finalize(struct fdbox_session *s, bool finalize)
{
	int err = 0;

	mutex_lock(&fdbox_lock);
	mutex_lock(&s->lock);
	if (!s->name[0]) {
		err = -EINVAL;
	} else if (fdbox_frozen || s->finalized == finalize) {
		err = -EBUSY;
	} else if (finalize) {
		trace_fdbox_finalize_start(s->name, s->nr_items);
		err = fdbox_session_freeze(s);
		trace_fdbox_finalize_end(s->name, err);
	} else {
		fdbox_session_thaw(s);
	}
	mutex_unlock(&s->lock);
	mutex_unlock(&fdbox_lock);
	return err;
}

struct fdbox_list_items {
	struct fdbox_session *s;
	struct fdbox_item *cursor;
	unsigned int pos;
};

static bool fdbox_fill_item(void *priv, unsigned int i, void *entry)
{
	struct fdbox_list_items *li = priv;
	struct fdbox_item_info *info = entry;
	struct fdbox_item *item = li->cursor;
	u64 size, preserved, metadata;

	if (i >= li->s->nr_items)
		return false;
	/* Entries are asked for in order: walk the list once. */
	item = i ? list_next_entry(item, list) :
		   list_first_entry(&li->s->items, struct fdbox_item, list);
	li->cursor = item;
	if (!info)
		return true;

	strscpy(info->label, item->label);
	info->type = item->handler->type;
	info->state = li->s->finalized ? FDBOX_STATE_FINALIZED : FDBOX_STATE_DEPOSITED;
	item->handler->info(item->file, item->state, &size, &preserved, &metadata);
	info->size = size;
	info->preserved = preserved;
	info->metadata = metadata;
	return true;
}

static struct fdbox_session *fdbox_find_session(const char *name)
{
	struct fdbox_session *s;

	list_for_each_entry(s, &fdbox_sessions, list) {
		if (!strcmp(s->name, name))
			return s;
	}
	return NULL;
}

/* FDBOX_LIST: the items of this session, or of the one named. */
static int fdbox_list(struct fdbox_session *own, unsigned long uarg)
{
	struct fdbox_list_items li = { .s = own };
	struct fdbox_listing l;
	struct fdbox_list arg;
	int err;

	err = fdbox_list_arg(&arg, uarg, false);
	if (err)
		return err;
	mutex_lock(&fdbox_lock);
	if (arg.session[0])
		li.s = fdbox_find_session(arg.session);
	if (li.s) {
		mutex_lock(&li.s->lock);
		err = fdbox_list_collect(&arg, sizeof(struct fdbox_item_info),
					 fdbox_fill_item, &li, &l);
		mutex_unlock(&li.s->lock);
	} else {
		err = -ENOENT;
	}
	mutex_unlock(&fdbox_lock);
	return err ?: fdbox_list_copy_out(&arg, uarg, &l);
}

static bool fdbox_fill_session(void *priv, unsigned int i, void *entry)
{
	struct fdbox_session_info *info = entry;
	struct fdbox_session **cursor = priv;
	struct fdbox_item *item;
	struct fdbox_session *s;

	s = i ? list_next_entry(*cursor, list) :
		list_first_entry(&fdbox_sessions, struct fdbox_session, list);
	if (list_entry_is_head(s, &fdbox_sessions, list))
		return false;
	*cursor = s;
	if (!info)
		return true;
	mutex_lock(&s->lock);
	strscpy(info->name, s->name);
	info->nr_items = s->nr_items;
	info->attached = 1;	/* an open file holds every outgoing session */
	list_for_each_entry(item, &s->items, list) {
		u64 size, preserved, metadata;

		item->handler->info(item->file, item->state, &size, &preserved, &metadata);
		info->preserved += preserved;
	}
	mutex_unlock(&s->lock);
	return true;
}

/* FDBOX_LIST_SESSIONS: every named outgoing session. */
static int fdbox_list_sessions(unsigned long uarg)
{
	struct fdbox_session *cursor = NULL;
	struct fdbox_listing l;
	struct fdbox_list arg;
	int err;

	err = fdbox_list_arg(&arg, uarg, true);
	if (err)
		return err;
	mutex_lock(&fdbox_lock);
	err = fdbox_list_collect(&arg, sizeof(struct fdbox_session_info),
				 fdbox_fill_session, &cursor, &l);
	mutex_unlock(&fdbox_lock);
	return err ?: fdbox_list_copy_out(&arg, uarg, &l);
}

static long fdbox_serialize_ioctl(struct file *file, unsigned int cmd,
				  unsigned long arg)
{
	struct fdbox_session *s = file->private_data;

	switch (cmd) {
	case FDBOX_SET_NAME:
		return fdbox_set_name(s, arg);
	case FDBOX_DEPOSIT:
		return fdbox_deposit(s, arg);
	case FDBOX_WITHDRAW:
		return fdbox_withdraw(s, arg);
	case FDBOX_FINALIZE:
		return fdbox_finalize(s, true);
	case FDBOX_UNFINALIZE:
		return fdbox_finalize(s, false);
	case FDBOX_LIST:
		return fdbox_list(s, arg);
	case FDBOX_LIST_SESSIONS:
		return fdbox_list_sessions(arg);
	default:
		return -ENOTTY;
	}
}

const struct file_operations fdbox_serialize_fops = {
	.owner		= THIS_MODULE,
	.open		= fdbox_serialize_open,
	.release	= fdbox_serialize_release,
	.unlocked_ioctl	= fdbox_serialize_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

/* libfdt's sequential write errors as -errno. */
static int fdbox_fdt_err(int err)
{
	if (err == -FDT_ERR_NOSPACE)
		return -ENOSPC;
	return err < 0 ? -EINVAL : 0;
}

static int fdbox_fdt_item(void *fdt, struct fdbox_item *item, unsigned int n)
{
	u64 size, preserved, metadata;
	char node[16];
	int err;

	item->handler->info(item->file, item->state, &size, &preserved, &metadata);
	snprintf(node, sizeof(node), "i%u", n);
	err = fdt_begin_node(fdt, node);
	err = err ?: fdt_property_string(fdt, "label", item->label);
	err = err ?: fdt_property_string(fdt, "compatible", item->handler->compatible);
	err = err ?: fdt_property_u64(fdt, "size", size);
	err = err ?: fdt_property_u64(fdt, "preserved", preserved);
	err = err ?: fdt_property_u64(fdt, "metadata", metadata);
	err = fdbox_fdt_err(err);
	if (!err && item->handler->serialize)
		err = item->handler->serialize(item->file, item->state, fdt);
	return err ?: fdbox_fdt_err(fdt_end_node(fdt));
}

static int fdbox_fdt_session(void *fdt, struct fdbox_session *s, unsigned int n)
{
	struct fdbox_item *item;
	unsigned int i = 0;
	char node[16];
	int err;

	snprintf(node, sizeof(node), "s%u", n);
	err = fdbox_fdt_err(fdt_begin_node(fdt, node) ?:
			    fdt_property_string(fdt, "name", s->name));
	list_for_each_entry(item, &s->items, list) {
		if (err)
			break;
		err = fdbox_fdt_item(fdt, item, i++);
	}
	return err ?: fdbox_fdt_err(fdt_end_node(fdt));
}

/* Describe every session in @fdt. Caller holds fdbox_lock. */
static int fdbox_fdt_write(void *fdt, size_t size)
{
	struct fdbox_session *s;
	unsigned int n = 0;
	int err;

	err = fdbox_fdt_err(fdt_create(fdt, size) ?:
			    fdt_finish_reservemap(fdt) ?:
			    fdt_begin_node(fdt, "") ?:
			    fdt_property_string(fdt, "compatible", FDBOX_COMPATIBLE));
	list_for_each_entry(s, &fdbox_sessions, list) {
		if (err)
			break;
		mutex_lock(&s->lock);
		err = fdbox_fdt_session(fdt, s, n++);
		mutex_unlock(&s->lock);
	}
	return err ?: fdbox_fdt_err(fdt_end_node(fdt) ?: fdt_finish(fdt));
}

static int fdbox_fdt_build(void)
{
	size_t size = SZ_64K;
	void *fdt;
	int err;

	for (;;) {
		fdt = kvmalloc(size, GFP_KERNEL);
		if (!fdt)
			return -ENOMEM;
		err = fdbox_fdt_write(fdt, size);
		if (!err)
			break;
		kvfree(fdt);
		if (err != -ENOSPC || size >= FDBOX_FDT_MAX)
			return err;
		size *= 2;
	}
	err = kho_add_subtree(FDBOX_KHO_NODE, fdt);
	if (err) {
		kvfree(fdt);
		return err;
	}
	fdbox_fdt = fdt;
	return 0;
}

/* Undo what the kexec did to the sessions. Caller holds fdbox_lock. */
static void fdbox_kexec_thaw(void)
{
	struct fdbox_session *s, *tmp;

	if (fdbox_fdt) {
		kho_remove_subtree(FDBOX_KHO_NODE);
		kvfree(fdbox_fdt);
		fdbox_fdt = NULL;
	}
	list_for_each_entry_safe(s, tmp, &fdbox_sessions, list) {
		if (s->orphaned) {
			list_del(&s->list);
			fdbox_session_destroy(s);
			continue;
		}
		mutex_lock(&s->lock);
		if (s->finalized_by_kexec)
			fdbox_session_thaw(s);
		mutex_unlock(&s->lock);
	}
	fdbox_frozen = false;
}

static int fdbox_kexec_freeze(struct kimage *image)
{
	unsigned int nr_sessions = 0, nr_items = 0;
	ktime_t start = ktime_get();
	struct fdbox_session *s;
	int err = 0;

	/* A kexec jump comes back without KHO_THAW: do not freeze for it. */
	if (list_empty(&fdbox_sessions))
		goto out;
	if (!kho_image_carries_handover(image)) {
		pr_err("kexec refused: sessions are open, but the loaded image cannot carry them; load it with kexec_file_load (kexec -s)\n");
		return -EBUSY;
	}
	trace_fdbox_handover_start(list_count_nodes(&fdbox_sessions));
	list_for_each_entry(s, &fdbox_sessions, list) {
		mutex_lock(&s->lock);
		if (!s->finalized) {
			err = fdbox_session_freeze(s);
			s->finalized_by_kexec = !err;
		}
		nr_sessions++;
		nr_items += s->nr_items;
		mutex_unlock(&s->lock);
		if (err)
			break;
	}
	if (!err)
		err = fdbox_fdt_build();
	trace_fdbox_handover_end(nr_items, err);
	if (err) {
		pr_err("kexec refused: cannot finalize the sessions (%d)\n", err);
		fdbox_kexec_thaw();
		return err;
	}
	pr_info("handing over %u sessions with %u items, finalized in %lld us\n",
		nr_sessions, nr_items, ktime_us_delta(ktime_get(), start));
out:
	fdbox_frozen = kho_image_carries_handover(image);
	return 0;
}

static int fdbox_kho_notify(struct notifier_block *nb, unsigned long event,
			    void *image)
{
	int err = 0;

	mutex_lock(&fdbox_lock);
	if (event == KHO_FREEZE)
		err = fdbox_kexec_freeze(image);
	else if (event == KHO_THAW && fdbox_frozen)
		fdbox_kexec_thaw();
	mutex_unlock(&fdbox_lock);
	return notifier_from_errno(err);
}

static struct notifier_block fdbox_kho_nb = {
	.notifier_call = fdbox_kho_notify,
};

int fdbox_session_init(void)
{
	return kho_register_freeze_notifier(&fdbox_kho_nb);
}

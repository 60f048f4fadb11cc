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
 * unpreserved and its file put, the items that depend on others first.
 * A session closed while frozen for a kexec is left alone (the kexec
 * carries it) and destroyed on KHO_THAW.
 *
 * An item may depend on others of its session (fdbox_item_depend(): a
 * device on its iommufd, a mapping on its memfd), deposited before it;
 * an item others depend on cannot be withdrawn. Items may use
 * participants (participant.c).
 *
 * Locking: fdbox_lock protects the list of named sessions, their names,
 * fdbox_frozen and fdbox_fdt. Each session's lock protects its items
 * and state. Order: kexec lock, fdbox_lock, session lock, then whatever
 * the handlers take (the inode lock, KHO's lock, fdbox_parts_lock).
 * fdbox_inodes (an
 * xarray with its own lock) holds the object behind every file deposited
 * anywhere (fdbox_file_key()), so that it is in one session at most.
 */

#define pr_fmt(fmt) "fdbox: " fmt

#include <linux/fdbox_abi.h>
#include <linux/file.h>
#include <linux/kexec.h>
#include <linux/kho.h>
#include <linux/kho_abi.h>
#include <linux/ktime.h>
#include <linux/libfdt.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/xarray.h>

#include "internal.h"
#include <trace/events/fdbox.h>

/**
 * struct fdbox_out_item - an item of an outgoing session
 * @list: on its session's items, in deposit order
 * @key: its label
 * @pub: what the handler sees
 * @handler: its handler
 * @session: its session
 * @deps: the items it depends on (fdbox_item_depend())
 * @nr_deps: how many
 * @dependents: how many items depend on it
 * @uses: the participants it uses (fdbox_item_use())
 * @nr_uses: how many
 * @frozen: the handler froze it
 */
struct fdbox_out_item {
	struct list_head list;
	struct fdbox_label_entry key;
	struct fdbox_item pub;
	const struct fdbox_handler *handler;
	struct fdbox_session *session;
	struct fdbox_out_item **deps;
	unsigned int nr_deps;
	unsigned int dependents;
	struct fdbox_use **uses;
	unsigned int nr_uses;
	bool frozen;
};

struct fdbox_session {
	struct list_head list;		/* fdbox_sessions, once named */
	struct mutex lock;
	char name[FDBOX_NAME_MAX];	/* set once, under both locks */
	struct list_head items;
	struct rhashtable labels;
	unsigned int nr_items;
	bool finalized;
	bool finalized_by_kexec;
	bool orphaned;			/* closed while frozen; fdbox_lock */
};

static DEFINE_MUTEX(fdbox_lock);
static LIST_HEAD(fdbox_sessions);
static bool fdbox_frozen;
static DEFINE_XARRAY(fdbox_inodes);

/*
 * What makes two files the same object: the inode of their mapping. For
 * a memfd that is its inode; files on one shared anonymous inode (a vfio
 * device's) have a mapping of their own object's.
 */
static unsigned long fdbox_file_key(struct file *file)
{
	return (unsigned long)file->f_mapping->host;
}

/* From KHO_FREEZE to KHO_THAW: the handover, as fdbox_kexec_freeze() built it. */
static void *fdbox_fdt;			/* the "fdbox" subtree */
static void *fdbox_tree;		/* the sessions, in a preserved buffer */
static struct kho_buf_ref fdbox_tree_ref;

static struct fdbox_out_item *fdbox_find_item(struct fdbox_session *s, const char *label)
{
	struct fdbox_label_entry *e = fdbox_labels_find(&s->labels, label);

	return e ? container_of(e, struct fdbox_out_item, key) : NULL;
}

static void fdbox_item_thaw(struct fdbox_out_item *item)
{
	if (item->frozen && item->handler->thaw)
		item->handler->thaw(&item->pub);
	item->frozen = false;
}

/* Let go of what an item depends on and uses. */
static void fdbox_item_unlink(struct fdbox_out_item *item)
{
	while (item->nr_deps)
		item->deps[--item->nr_deps]->dependents--;
	while (item->nr_uses)
		fdbox_use_put(item->uses[--item->nr_uses]);
	kfree(item->deps);
	kfree(item->uses);
	item->deps = NULL;
	item->uses = NULL;
}

/* Take an item out of its session and give everything back. */
static void fdbox_item_destroy(struct fdbox_session *s, struct fdbox_out_item *item)
{
	fdbox_item_thaw(item);
	item->handler->unpreserve(&item->pub);
	fdbox_item_unlink(item);
	xa_erase(&fdbox_inodes, fdbox_file_key(item->pub.file));
	fdbox_labels_remove(&s->labels, &item->key);
	list_del(&item->list);
	s->nr_items--;
	fput(item->pub.file);
	kfree(item);
}

/* During preserve: the item of the handler's view. */
static struct fdbox_out_item *fdbox_out_item(struct fdbox_item *pub)
{
	return container_of(pub, struct fdbox_out_item, pub);
}

/* Grow an array of links by one slot; the slot, or NULL. */
static void *fdbox_link_slot(void **array, unsigned int nr, size_t size)
{
	void *bigger;

	if (nr >= FDBOX_MAX_LINKS)
		return NULL;
	bigger = krealloc_array(*array, nr + 1, size, GFP_KERNEL);
	if (!bigger)
		return NULL;
	*array = bigger;
	return bigger + nr * size;
}

/* Make @item depend on @other, an item of its session (or NULL: -ENOLINK). */
static int fdbox_item_link(struct fdbox_out_item *item, struct fdbox_out_item *other)
{
	struct fdbox_out_item **slot;
	unsigned int i;

	if (!other)
		return -ENOLINK;
	for (i = 0; i < item->nr_deps; i++) {
		if (item->deps[i] == other)
			return i;
	}
	if (item->nr_deps >= FDBOX_MAX_LINKS)
		return -E2BIG;
	slot = fdbox_link_slot((void **)&item->deps, item->nr_deps, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	*slot = other;
	other->dependents++;
	return item->nr_deps++;
}

/**
 * fdbox_item_depend - declare that an item needs another of its session
 * @pub: the item being preserved (call from the handler's preserve)
 * @file: the file the item needs, deposited in the same session before
 *
 * The next kernel retrieves @file's item before this one, and hands its
 * file to this item's retrieve as fdbox_item_dependency(item, index).
 * While this item is in the session, @file's item cannot be withdrawn.
 *
 * Return: the index of the dependency (0 for the first one declared; the
 * same index again for the same file, or for an item the user named with
 * FDBOX_DEPOSIT_DEPENDS), -ENOLINK if @file is not deposited in the item's
 * session, -E2BIG past FDBOX_MAX_LINKS dependencies, -ENOMEM.
 */
int fdbox_item_depend(struct fdbox_item *pub, struct file *file)
{
	struct fdbox_out_item *item = fdbox_out_item(pub), *other;

	/* Under the xarray's lock: a found item is not freed meanwhile. */
	xa_lock(&fdbox_inodes);
	other = xa_load(&fdbox_inodes, fdbox_file_key(file));
	if (other && (other == item || other->session != item->session))
		other = NULL;
	xa_unlock(&fdbox_inodes);
	return fdbox_item_link(item, other);
}
EXPORT_SYMBOL_GPL(fdbox_item_depend);

/**
 * fdbox_item_use - declare that an item uses a participant
 * @pub: the item being preserved (call from the handler's preserve)
 * @p: a registered participant
 *
 * The participant's state is preserved with its first user and
 * unpreserved after its last; in the next kernel, released once the
 * last item using it is finished or discarded.
 *
 * Return: 0, -E2BIG past FDBOX_MAX_LINKS participants, -ENOMEM, or the
 * error of the participant's preserve.
 */
int fdbox_item_use(struct fdbox_item *pub, struct fdbox_participant *p)
{
	struct fdbox_out_item *item = fdbox_out_item(pub);
	struct fdbox_use *use, **slot;
	unsigned int i;

	for (i = 0; i < item->nr_uses; i++) {
		if (!strcmp(fdbox_use_compatible(item->uses[i]), p->compatible))
			return 0;
	}
	if (item->nr_uses >= FDBOX_MAX_LINKS)
		return -E2BIG;
	slot = fdbox_link_slot((void **)&item->uses, item->nr_uses, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	use = fdbox_use_get(p, item->session);
	if (IS_ERR(use))
		return PTR_ERR(use);
	*slot = use;
	item->nr_uses++;
	return 0;
}
EXPORT_SYMBOL_GPL(fdbox_item_use);

static void fdbox_session_thaw(struct fdbox_session *s)
{
	struct fdbox_out_item *item;

	list_for_each_entry(item, &s->items, list) {
		fdbox_item_thaw(item);
		cond_resched();
	}
	s->finalized = false;
	s->finalized_by_kexec = false;
}

static int fdbox_session_freeze(struct fdbox_session *s)
{
	struct fdbox_out_item *item;
	int err;

	list_for_each_entry(item, &s->items, list) {
		if (item->handler->freeze) {
			err = item->handler->freeze(&item->pub);
			if (err) {
				pr_err_ratelimited("session %s: cannot finalize %s (%d)\n",
						   s->name, item->key.label, err);
				fdbox_session_thaw(s);
				return err;
			}
		}
		item->frozen = true;
		cond_resched();
	}
	s->finalized = true;
	return 0;
}

static void fdbox_session_destroy(struct fdbox_session *s)
{
	struct fdbox_out_item *item, *tmp;

	mutex_lock(&s->lock);
	/* Newest first: what depends on an item goes before it. */
	list_for_each_entry_safe_reverse(item, tmp, &s->items, list) {
		fdbox_item_destroy(s, item);
		cond_resched();
	}
	mutex_unlock(&s->lock);
	fdbox_labels_destroy(&s->labels);
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
	if (fdbox_labels_init(&s->labels)) {
		kfree(s);
		return -ENOMEM;
	}
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

/* FDBOX_DEPOSIT_DEPENDS: the labels, copied and checked; NULL if none. */
static char (*fdbox_deposit_depends(const struct fdbox_deposit *arg))[FDBOX_NAME_MAX]
{
	char (*labels)[FDBOX_NAME_MAX];
	unsigned int i;

	if (!(arg->flags & FDBOX_DEPOSIT_DEPENDS))
		return arg->depends || arg->nr_depends ? ERR_PTR(-EINVAL) : NULL;
	if (!arg->nr_depends)
		return ERR_PTR(-EINVAL);
	if (arg->nr_depends > FDBOX_MAX_LINKS)
		return ERR_PTR(-E2BIG);
	labels = memdup_array_user(u64_to_user_ptr(arg->depends), arg->nr_depends,
				   FDBOX_NAME_MAX);
	if (IS_ERR(labels))
		return labels;
	for (i = 0; i < arg->nr_depends; i++) {
		if (!fdbox_name_valid(labels[i])) {
			kfree(labels);
			return ERR_PTR(-EINVAL);
		}
	}
	return labels;
}

/* Link @item to the items named in @labels, which must be others of @s. */
static int fdbox_depend_labels(struct fdbox_session *s, struct fdbox_out_item *item,
			       char (*labels)[FDBOX_NAME_MAX], unsigned int nr)
{
	unsigned int i;
	int err;

	for (i = 0; i < nr; i++) {
		struct fdbox_out_item *other = fdbox_find_item(s, labels[i]);

		err = fdbox_item_link(item, other == item ? NULL : other);
		if (err < 0)
			return err;
	}
	return 0;
}

static int fdbox_deposit(struct fdbox_session *s, unsigned long uarg)
{
	char (*depends)[FDBOX_NAME_MAX];
	struct fdbox_deposit arg;
	struct fdbox_out_item *item;
	struct file *file;
	int err;

	err = fdbox_copy_arg(&arg, sizeof(arg), FDBOX_DEPOSIT_SIZE_VER0, uarg);
	if (err)
		return err;
	if ((arg.flags & ~FDBOX_DEPOSIT_DEPENDS) || arg.reserved || arg.reserved2 ||
	    !fdbox_name_valid(arg.label))
		return -EINVAL;
	depends = fdbox_deposit_depends(&arg);
	if (IS_ERR(depends))
		return PTR_ERR(depends);

	file = fget(arg.fd);
	if (!file) {
		err = -EBADF;
		goto free_depends;
	}
	item = kzalloc(sizeof(*item), GFP_KERNEL);
	if (!item) {
		err = -ENOMEM;
		goto put_file;
	}
	strscpy_pad(item->key.label, arg.label);
	item->pub.file = file;
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
	err = fdbox_labels_insert(&s->labels, &item->key);
	if (err)
		goto unlock;	/* -EEXIST, or -ENOMEM */
	err = xa_insert(&fdbox_inodes, fdbox_file_key(file), item,
			GFP_KERNEL);
	if (err) {
		fdbox_labels_remove(&s->labels, &item->key);
		goto unlock;	/* -EBUSY: in a session already */
	}
	item->session = s;
	err = fdbox_depend_labels(s, item, depends, depends ? arg.nr_depends : 0);
	if (!err) {
		trace_fdbox_deposit_start(s->name, item->key.label);
		err = item->handler->preserve(&item->pub);
		trace_fdbox_deposit_end(s->name, item->key.label, err);
	}
	if (err) {
		fdbox_item_unlink(item);
		xa_erase(&fdbox_inodes, fdbox_file_key(file));
		fdbox_labels_remove(&s->labels, &item->key);
		goto unlock;
	}
	list_add_tail(&item->list, &s->items);
	s->nr_items++;
	mutex_unlock(&s->lock);
	kfree(depends);
	return 0;

unlock:
	mutex_unlock(&s->lock);
free_item:
	kfree(item);
put_file:
	fput(file);
free_depends:
	kfree(depends);
	return err;
}

static int fdbox_withdraw(struct fdbox_session *s, unsigned long uarg)
{
	struct fdbox_label arg;
	struct fdbox_out_item *item;
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
	else if (s->finalized || item->dependents)
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
	struct fdbox_out_item *cursor;
	unsigned int pos;
};

static bool fdbox_fill_item(void *priv, unsigned int i, void *entry)
{
	struct fdbox_list_items *li = priv;
	struct fdbox_item_info *info = entry;
	struct fdbox_out_item *item = li->cursor;
	struct fdbox_sizes sz;

	if (i >= li->s->nr_items)
		return false;
	/* Entries are asked for in order: walk the list once. */
	item = i ? list_next_entry(item, list) :
		   list_first_entry(&li->s->items, struct fdbox_out_item, list);
	li->cursor = item;
	if (!info)
		return true;

	strscpy(info->label, item->key.label);
	strscpy(info->compatible, item->handler->compatible);
	info->type = item->handler->type;
	info->state = li->s->finalized ? FDBOX_STATE_FINALIZED : FDBOX_STATE_DEPOSITED;
	item->handler->info(&item->pub, &sz);
	info->size = sz.size;
	info->preserved = sz.preserved;
	info->metadata = sz.metadata;
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
	struct fdbox_out_item *item;
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
		struct fdbox_sizes sz;

		item->handler->info(&item->pub, &sz);
		info->preserved += sz.preserved;
		cond_resched();
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

/* A property holding a list of strings, each with its NUL. */
static int fdbox_fdt_strings(void *fdt, const char *name, const char * const *strs,
			     unsigned int nr)
{
	size_t len = 0, off = 0;
	unsigned int i;
	char *buf;
	int err;

	if (!nr)
		return 0;
	for (i = 0; i < nr; i++)
		len += strlen(strs[i]) + 1;
	buf = kmalloc(len, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	for (i = 0; i < nr; i++)
		off += strscpy(buf + off, strs[i], len - off) + 1;
	err = fdbox_fdt_err(fdt_property(fdt, name, buf, len));
	kfree(buf);
	return err;
}

/* "depends" and "uses": labels and compatible strings. */
static int fdbox_fdt_links(void *fdt, struct fdbox_out_item *item)
{
	const char *strs[FDBOX_MAX_LINKS];
	unsigned int i;
	int err;

	for (i = 0; i < item->nr_deps; i++)
		strs[i] = item->deps[i]->key.label;
	err = fdbox_fdt_strings(fdt, "depends", strs, item->nr_deps);
	for (i = 0; i < item->nr_uses; i++)
		strs[i] = fdbox_use_compatible(item->uses[i]);
	return err ?: fdbox_fdt_strings(fdt, "uses", strs, item->nr_uses);
}

static int fdbox_fdt_item(void *fdt, struct fdbox_out_item *item, unsigned int n)
{
	struct fdbox_sizes sz;
	char node[16];
	int err;

	item->handler->info(&item->pub, &sz);
	snprintf(node, sizeof(node), "i%u", n);
	err = fdt_begin_node(fdt, node);
	err = err ?: fdt_property_string(fdt, "label", item->key.label);
	err = err ?: fdt_property_string(fdt, "compatible", item->handler->compatible);
	err = err ?: fdt_property_u64(fdt, "size", sz.size);
	err = err ?: fdt_property_u64(fdt, "preserved", sz.preserved);
	err = err ?: fdt_property_u64(fdt, "metadata", sz.metadata);
	err = fdbox_fdt_err(err) ?: fdbox_fdt_links(fdt, item);
	if (!err && item->handler->describe)
		err = item->handler->describe(&item->pub, fdt);
	return err ?: fdbox_fdt_err(fdt_end_node(fdt));
}

static int fdbox_fdt_session(void *fdt, struct fdbox_session *s, unsigned int n)
{
	struct fdbox_out_item *item;
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
		cond_resched();
	}
	err = err ?: fdbox_uses_describe(fdt, s);
	return err ?: fdbox_fdt_err(fdt_end_node(fdt));
}

/* For KHO's test of an unknown handler: make the first item's unknown. */
static void fdbox_tree_corrupt(void *fdt)
{
	int node, depth = 0, len;
	char *c;

	for (node = fdt_next_node(fdt, 0, &depth); node >= 0 && depth > 0;
	     node = fdt_next_node(fdt, node, &depth)) {
		c = fdt_getprop_w(fdt, node, "compatible", &len);
		if (depth == 2 && c && len > 1) {
			c[0] ^= 0x20;	/* "fdbox,..." becomes "Fdbox,..." */
			return;
		}
	}
}

/* Describe every session in @fdt. Caller holds fdbox_lock. */
static int fdbox_tree_write(void *fdt, size_t size)
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
	err = err ?: fdbox_uses_describe(fdt, NULL);
	err = err ?: fdbox_fdt_err(fdt_end_node(fdt) ?: fdt_finish(fdt));
	if (!err && kho_test_corrupt_items())
		fdbox_tree_corrupt(fdt);
	return err;
}

/* Take the handover back out of KHO. Caller holds fdbox_lock. */
static void fdbox_handover_free(void)
{
	if (fdbox_fdt) {
		kho_remove_subtree(FDBOX_KHO_NODE);
		kfree(fdbox_fdt);
		fdbox_fdt = NULL;
	}
	if (fdbox_tree) {
		kho_buf_unpreserve(&fdbox_tree_ref);
		vfree(fdbox_tree);
		fdbox_tree = NULL;
	}
}

/* The "fdbox" subtree: what version, and where the tree is. */
#define FDBOX_SUBTREE_SIZE	SZ_1K

/*
 * Write the sessions into a tree of whatever size they need, preserve
 * it, and point the "fdbox" subtree at it. Caller holds fdbox_lock.
 */
static int fdbox_handover_build(unsigned int nr_items)
{
	/* About 200 bytes per item: most handovers take one pass. */
	size_t size = PAGE_ALIGN(SZ_64K + nr_items * 256UL);
	int err;

	for (;;) {
		fdbox_tree = vmalloc(size);
		if (!fdbox_tree)
			return -ENOMEM;
		err = fdbox_tree_write(fdbox_tree, size);
		if (err != -ENOSPC || size >= KHO_BUF_MAX)
			break;
		vfree(fdbox_tree);
		size *= 2;
	}
	if (!err)
		err = kho_buf_preserve(fdbox_tree, fdt_totalsize(fdbox_tree),
				       &fdbox_tree_ref);
	if (err) {
		vfree(fdbox_tree);
		fdbox_tree = NULL;
		return err;
	}

	fdbox_fdt = kmalloc(FDBOX_SUBTREE_SIZE, GFP_KERNEL);
	if (!fdbox_fdt) {
		err = -ENOMEM;
		goto fail;
	}
	err = fdbox_fdt_err(fdt_create(fdbox_fdt, FDBOX_SUBTREE_SIZE) ?:
			    fdt_finish_reservemap(fdbox_fdt) ?:
			    fdt_begin_node(fdbox_fdt, "") ?:
			    fdt_property_string(fdbox_fdt, "compatible", FDBOX_COMPATIBLE) ?:
			    fdt_property(fdbox_fdt, "tree", &fdbox_tree_ref,
					 sizeof(fdbox_tree_ref)) ?:
			    fdt_end_node(fdbox_fdt) ?:
			    fdt_finish(fdbox_fdt));
	if (err) {
		kfree(fdbox_fdt);
		fdbox_fdt = NULL;
		goto fail;
	}
	err = kho_add_subtree(FDBOX_KHO_NODE, fdbox_fdt);
	if (err) {
		kfree(fdbox_fdt);
		fdbox_fdt = NULL;
		goto fail;
	}
	return 0;
fail:
	fdbox_handover_free();
	return err;
}

/* Undo what the kexec did to the sessions. Caller holds fdbox_lock. */
static void fdbox_kexec_thaw(void)
{
	struct fdbox_session *s, *tmp;

	fdbox_handover_free();
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

	/* An earlier kexec froze everything and then failed past KHO: undo. */
	if (fdbox_frozen)
		fdbox_kexec_thaw();
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
		err = fdbox_handover_build(nr_items);
	trace_fdbox_handover_end(nr_items, err);
	if (err) {
		pr_err("kexec refused: cannot finalize the sessions (%d)\n", err);
		fdbox_kexec_thaw();
		return err;
	}
	pr_info("handing over %u sessions with %u items in %u bytes, finalized in %lld us\n",
		nr_sessions, nr_items, fdt_totalsize(fdbox_tree),
		ktime_us_delta(ktime_get(), start));
out:
	fdbox_frozen = kho_image_carries_handover(image);
	return 0;
}

static int fdbox_kho_notify(struct notifier_block *nb, unsigned long event,
			    void *image)
{
	int err = 0;

	mutex_lock(&fdbox_lock);
	if (event == KHO_FREEZE) {
		fdbox_in_report_unfinished();
		err = fdbox_kexec_freeze(image);
	} else if (event == KHO_THAW && fdbox_frozen) {
		fdbox_kexec_thaw();
	}
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

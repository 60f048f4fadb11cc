// SPDX-License-Identifier: GPL-2.0-only
/*
 * fdbox: incoming sessions, /dev/kho/deserialize.
 */

/**
 * DOC: Incoming sessions
 *
 * At boot, fdbox_restore_init() reads the "fdbox" subtree the previous
 * kernel handed over, checks it, and lists its sessions and items; the
 * memory stays where it is, reserved by KHO. A subtree that does not
 * check out is refused as a whole with one log line.
 *
 * Each open file of ``/dev/kho/deserialize`` can attach to one incoming
 * session (FDBOX_ATTACH) and then retrieve its items (FDBOX_RETRIEVE):
 * the item's handler builds a new file from the same memory. Closing the
 * file releases every item of its session that was not retrieved, and
 * the session goes away. Sessions nobody attaches stay listed until
 * FDBOX_DISCARD_SESSION releases them.
 *
 * An item whose handler this kernel does not have (an unknown compatible
 * string) is listed with type 0; it cannot be retrieved, and discarding
 * it only forgets it: its memory stays reserved until the next kexec.
 *
 * Locking: fdbox_in_lock protects the list of incoming sessions, their
 * items and who is attached. Restores and releases run under it;
 * listings are copied to userspace after it is dropped.
 */

#define pr_fmt(fmt) "fdbox: " fmt

#include <linux/fdbox_abi.h>
#include <linux/file.h>
#include <linux/kho.h>
#include <linux/libfdt.h>
#include <linux/mutex.h>
#include <linux/slab.h>

#include "internal.h"
#include <trace/events/fdbox.h>

struct fdbox_in_item {
	struct list_head list;
	const char *label;		/* in the handover FDT */
	const char *compatible;
	const struct fdbox_handler *handler;
	int node;
	bool retrieved;
	struct file *file;		/* rebuilt, but the fd never got out */
};

struct fdbox_in_session {
	struct list_head list;
	const char *name;		/* in the handover FDT */
	struct list_head items;
	unsigned int nr_items;		/* neither retrieved nor discarded */
	bool attached;
};

static DEFINE_MUTEX(fdbox_in_lock);
static LIST_HEAD(fdbox_in_sessions);
static const void *fdbox_in_fdt;

/* A string property that is a valid name, or NULL. */
static const char *fdbox_fdt_name(const void *fdt, int node, const char *prop)
{
	const char *name;
	int len;

	name = fdt_getprop(fdt, node, prop, &len);
	if (!name || len < 2 || len > FDBOX_NAME_MAX || name[len - 1] ||
	    strlen(name) != len - 1 || !fdbox_name_valid(name))
		return NULL;
	return name;
}

static struct fdbox_in_session *fdbox_in_find(const char *name)
{
	struct fdbox_in_session *s;

	list_for_each_entry(s, &fdbox_in_sessions, list) {
		if (!strcmp(s->name, name))
			return s;
	}
	return NULL;
}

static struct fdbox_in_item *fdbox_in_find_item(struct fdbox_in_session *s,
						const char *label)
{
	struct fdbox_in_item *item;

	list_for_each_entry(item, &s->items, list) {
		if (!strcmp(item->label, label))
			return item;
	}
	return NULL;
}

static void fdbox_in_discard_item(struct fdbox_in_session *s,
				  struct fdbox_in_item *item)
{
	if (!item->retrieved) {
		if (item->file)
			fput(item->file);	/* the file owns the memory now */
		else if (item->handler)
			item->handler->discard(fdbox_in_fdt, item->node);
		else
			pr_warn("session %s: item %s (%s) has no handler here; its memory stays reserved until the next kexec\n",
				s->name, item->label, item->compatible);
		s->nr_items--;
	}
	list_del(&item->list);
	kfree(item);
}

static void fdbox_in_discard_session(struct fdbox_in_session *s)
{
	struct fdbox_in_item *item, *tmp;

	list_for_each_entry_safe(item, tmp, &s->items, list)
		fdbox_in_discard_item(s, item);
	list_del(&s->list);
	kfree(s);
}

static void fdbox_in_free_all(void)
{
	struct fdbox_in_session *s, *tmp;
	struct fdbox_in_item *item, *itmp;

	list_for_each_entry_safe(s, tmp, &fdbox_in_sessions, list) {
		list_for_each_entry_safe(item, itmp, &s->items, list)
			kfree(item);
		list_del(&s->list);
		kfree(s);
	}
}

static int fdbox_in_parse_session(const void *fdt, int snode)
{
	struct fdbox_in_session *s;
	const char *name;
	int inode;

	name = fdbox_fdt_name(fdt, snode, "name");
	if (!name || fdbox_in_find(name)) {
		pr_err("incoming sessions refused (a session without a valid, unique name)\n");
		return -EINVAL;
	}
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	s->name = name;
	INIT_LIST_HEAD(&s->items);
	list_add_tail(&s->list, &fdbox_in_sessions);

	fdt_for_each_subnode(inode, fdt, snode) {
		struct fdbox_in_item *item;
		const char *label;
		int len;

		label = fdbox_fdt_name(fdt, inode, "label");
		if (!label || fdbox_in_find_item(s, label)) {
			pr_err("incoming sessions refused (session %s: an item without a valid, unique label)\n",
			       s->name);
			return -EINVAL;
		}
		item = kzalloc(sizeof(*item), GFP_KERNEL);
		if (!item)
			return -ENOMEM;
		item->label = label;
		item->node = inode;
		item->compatible = fdt_getprop(fdt, inode, "compatible", &len);
		if (!item->compatible || len < 1 || item->compatible[len - 1])
			item->compatible = "(none)";
		item->handler = fdbox_handler_for_compatible(item->compatible);
		if (!item->handler)
			pr_warn("session %s: item %s: no handler for %s in this kernel; it cannot be retrieved\n",
				s->name, label, item->compatible);
		list_add_tail(&item->list, &s->items);
		s->nr_items++;
	}
	return 0;
}

/* Read what the previous kernel left; all or nothing. */
void fdbox_restore_init(void)
{
	struct fdbox_in_session *s;
	unsigned int nr = 0, items = 0;
	const void *fdt;
	int root, snode, err = 0;

	root = kho_find_subtree(FDBOX_KHO_NODE, &fdt);
	if (root < 0)
		return;
	if (fdt_node_check_compatible(fdt, root, FDBOX_COMPATIBLE)) {
		pr_err("incoming sessions refused (not %s)\n", FDBOX_COMPATIBLE);
		return;
	}
	fdt_for_each_subnode(snode, fdt, root) {
		err = fdbox_in_parse_session(fdt, snode);
		if (err)
			break;
	}
	if (err) {
		fdbox_in_free_all();
		return;
	}
	fdbox_in_fdt = fdt;
	list_for_each_entry(s, &fdbox_in_sessions, list) {
		nr++;
		items += s->nr_items;
	}
	pr_info("%u incoming sessions with %u items wait to be attached\n", nr, items);
}

struct fdbox_reader {
	struct fdbox_in_session *session;	/* attached, or NULL */
};

static int fdbox_deserialize_open(struct inode *inode, struct file *file)
{
	struct fdbox_reader *r;

	/* capable() asks the initial user namespace. */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	file->private_data = r;
	return 0;
}

static int fdbox_deserialize_release(struct inode *inode, struct file *file)
{
	struct fdbox_reader *r = file->private_data;

	mutex_lock(&fdbox_in_lock);
	if (r->session)
		fdbox_in_discard_session(r->session);
	mutex_unlock(&fdbox_in_lock);
	kfree(r);
	return 0;
}

static bool fdbox_fill_session(void *priv, unsigned int i, void *entry)
{
	struct fdbox_session_info *info = entry;
	struct fdbox_in_session *s, **cursor = priv;
	struct fdbox_in_item *item;

	s = i ? list_next_entry(*cursor, list) :
		list_first_entry(&fdbox_in_sessions, struct fdbox_in_session, list);
	if (list_entry_is_head(s, &fdbox_in_sessions, list))
		return false;
	*cursor = s;
	if (!info)
		return true;
	strscpy(info->name, s->name);
	info->nr_items = s->nr_items;
	info->attached = s->attached;
	list_for_each_entry(item, &s->items, list) {
		if (!item->retrieved)
			info->preserved += fdbox_fdt_u64(fdbox_in_fdt, item->node,
							 "preserved");
	}
	return true;
}

static int fdbox_list_sessions(unsigned long uarg)
{
	struct fdbox_in_session *cursor = NULL;
	struct fdbox_listing l;
	struct fdbox_list arg;
	int err;

	err = fdbox_list_arg(&arg, uarg, true);
	if (err)
		return err;
	mutex_lock(&fdbox_in_lock);
	err = fdbox_list_collect(&arg, sizeof(struct fdbox_session_info),
				 fdbox_fill_session, &cursor, &l);
	mutex_unlock(&fdbox_in_lock);
	return err ?: fdbox_list_copy_out(&arg, uarg, &l);
}

struct fdbox_list_in_items {
	struct fdbox_in_session *s;
	struct fdbox_in_item *cursor;
};

static bool fdbox_fill_in_item(void *priv, unsigned int i, void *entry)
{
	struct fdbox_list_in_items *li = priv;
	struct fdbox_item_info *info = entry;
	struct fdbox_in_item *item;

	item = i ? list_next_entry(li->cursor, list) :
		   list_first_entry(&li->s->items, struct fdbox_in_item, list);
	if (list_entry_is_head(item, &li->s->items, list))
		return false;
	li->cursor = item;
	if (!info)
		return true;
	strscpy(info->label, item->label);
	info->type = item->handler ? item->handler->type : 0;
	info->state = item->retrieved ? FDBOX_STATE_RETRIEVED : FDBOX_STATE_INCOMING;
	info->size = fdbox_fdt_u64(fdbox_in_fdt, item->node, "size");
	info->preserved = fdbox_fdt_u64(fdbox_in_fdt, item->node, "preserved");
	info->metadata = fdbox_fdt_u64(fdbox_in_fdt, item->node, "metadata");
	return true;
}

/* FDBOX_LIST: the attached session's items, or those of the one named. */
static int fdbox_in_list(struct fdbox_reader *r, unsigned long uarg)
{
	struct fdbox_list_in_items li;
	struct fdbox_listing l;
	struct fdbox_list arg;
	int err;

	err = fdbox_list_arg(&arg, uarg, false);
	if (err)
		return err;
	mutex_lock(&fdbox_in_lock);
	li.s = arg.session[0] ? fdbox_in_find(arg.session) : r->session;
	err = li.s ? fdbox_list_collect(&arg, sizeof(struct fdbox_item_info),
					fdbox_fill_in_item, &li, &l) : -ENOENT;
	mutex_unlock(&fdbox_in_lock);
	return err ?: fdbox_list_copy_out(&arg, uarg, &l);
}

static int fdbox_attach(struct fdbox_reader *r, unsigned long uarg, bool discard)
{
	struct fdbox_in_session *s;
	struct fdbox_attach arg;
	int err;

	err = fdbox_copy_arg(&arg, sizeof(arg), FDBOX_ATTACH_SIZE_VER0, uarg);
	if (err)
		return err;
	if (arg.flags || !fdbox_name_valid(arg.name))
		return -EINVAL;
	if (!discard && r->session)
		return -EBUSY;
	s = fdbox_in_find(arg.name);
	if (!s)
		return -ENOENT;
	if (s->attached)
		return -EBUSY;
	if (discard) {
		fdbox_in_discard_session(s);
	} else {
		s->attached = true;
		r->session = s;
	}
	return 0;
}

static int fdbox_retrieve(struct fdbox_reader *r, unsigned long uarg)
{
	struct fdbox_retrieve __user *uret = (void __user *)uarg;
	struct fdbox_retrieve arg;
	struct fdbox_in_item *item;
	struct file *file;
	bool untouched = false;
	int fd, err;

	err = fdbox_copy_arg(&arg, sizeof(arg), FDBOX_RETRIEVE_SIZE_VER0, uarg);
	if (err)
		return err;
	if ((arg.flags & ~FDBOX_RETRIEVE_NO_CLOEXEC) || arg.reserved ||
	    !fdbox_name_valid(arg.label))
		return -EINVAL;
	if (!r->session)
		return -ENOENT;
	item = fdbox_in_find_item(r->session, arg.label);
	if (!item || item->retrieved)
		return -ENOENT;
	if (!item->handler)
		return -EOPNOTSUPP;
	/* Fail before the item is consumed, not after. */
	if (put_user(-1, &uret->fd))
		return -EFAULT;
	fd = get_unused_fd_flags(arg.flags & FDBOX_RETRIEVE_NO_CLOEXEC ? 0 : O_CLOEXEC);
	if (fd < 0)
		return fd;

	trace_fdbox_retrieve_start(r->session->name, item->label);
	if (item->file) {
		file = item->file;
		item->file = NULL;
	} else {
		file = item->handler->restore(fdbox_in_fdt, item->node, &untouched);
	}
	trace_fdbox_retrieve_end(r->session->name, item->label, PTR_ERR_OR_ZERO(file));
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		if (untouched)	/* e.g. no memory for a new file: try again */
			return PTR_ERR(file);
		/* The handler released what it could of the item. */
		pr_err_ratelimited("session %s: cannot retrieve %s (%ld); it was released\n",
				   r->session->name, item->label, PTR_ERR(file));
		r->session->nr_items--;
		list_del(&item->list);
		kfree(item);
		return PTR_ERR(file);
	}
	if (put_user(fd, &uret->fd)) {
		/* The pointer went bad meanwhile: keep the file for a retry. */
		item->file = file;
		put_unused_fd(fd);
		return -EFAULT;
	}
	r->session->nr_items--;
	item->retrieved = true;
	fd_install(fd, file);
	return 0;
}

/* FDBOX_DISCARD: an item of the attached session, or of an unattached one. */
static int fdbox_discard(struct fdbox_reader *r, unsigned long uarg)
{
	struct fdbox_in_session *s = r->session;
	struct fdbox_in_item *item;
	struct fdbox_label arg;
	int err;

	err = fdbox_copy_arg(&arg, sizeof(arg), FDBOX_LABEL_SIZE_VER0, uarg);
	if (err)
		return err;
	if (arg.flags || !fdbox_name_valid(arg.label) ||
	    (arg.session[0] && !fdbox_name_valid(arg.session)))
		return -EINVAL;
	if (arg.session[0]) {
		s = fdbox_in_find(arg.session);
		if (s && s->attached && s != r->session)
			return -EBUSY;
	}
	if (!s)
		return -ENOENT;
	item = fdbox_in_find_item(s, arg.label);
	if (!item || item->retrieved)
		return -ENOENT;
	fdbox_in_discard_item(s, item);
	return 0;
}

static long fdbox_deserialize_ioctl(struct file *file, unsigned int cmd,
				    unsigned long arg)
{
	struct fdbox_reader *r = file->private_data;
	long ret;

	/* Listings take the lock themselves, and copy out without it. */
	if (cmd == FDBOX_LIST_SESSIONS)
		return fdbox_list_sessions(arg);
	if (cmd == FDBOX_LIST)
		return fdbox_in_list(r, arg);

	mutex_lock(&fdbox_in_lock);
	switch (cmd) {
	case FDBOX_ATTACH:
		ret = fdbox_attach(r, arg, false);
		break;
	case FDBOX_DISCARD_SESSION:
		ret = fdbox_attach(r, arg, true);
		break;
	case FDBOX_RETRIEVE:
		ret = fdbox_retrieve(r, arg);
		break;
	case FDBOX_DISCARD:
		ret = fdbox_discard(r, arg);
		break;
	default:
		ret = -ENOTTY;
	}
	mutex_unlock(&fdbox_in_lock);
	return ret;
}

const struct file_operations fdbox_deserialize_fops = {
	.owner		= THIS_MODULE,
	.open		= fdbox_deserialize_open,
	.release	= fdbox_deserialize_release,
	.unlocked_ioctl	= fdbox_deserialize_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

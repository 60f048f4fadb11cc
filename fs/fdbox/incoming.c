// SPDX-License-Identifier: GPL-2.0-only
/*
 * fdbox: incoming sessions, /dev/kho/deserialize.
 */

/**
 * DOC: Incoming sessions
 *
 * At boot, fdbox_restore_init() reads the "fdbox" subtree the previous
 * kernel handed over (version 2: the tree of sessions in a preserved
 * buffer, mapped in place; version 1: the tree in the subtree itself),
 * checks it, and lists its sessions and items; the memory stays where it
 * is, reserved by KHO. A subtree that does not check out is refused as a
 * whole with one log line.
 *
 * Each open file of ``/dev/kho/deserialize`` can attach to one incoming
 * session (FDBOX_ATTACH) and then retrieve its items (FDBOX_RETRIEVE):
 * the item's handler builds a new file from the same memory.
 * FDBOX_FINISH ends the session: every item not retrieved is released
 * and the session goes away. It first waits for the restores still under
 * way after their retrieve returned (fdbox_restore_begin()). Closing the
 * file without it only detaches: the items not retrieved wait for the
 * next attach, so that a VMM that dies halfway loses nothing; a session
 * with nothing left waiting ends at the close. Sessions nobody attaches
 * stay listed until FDBOX_DISCARD_SESSION releases them, or until the
 * next kexec, which does not carry them (and says so): no memory is kept
 * longer than that.
 *
 * An item that depends on others (its node's "depends") is retrieved
 * after them: retrieving it first builds those it depends on, which stay
 * with fdbox until they are retrieved themselves, and their files are
 * kept for it until the session is finished. A dependency that is not
 * there (discarded, or a malformed handover) makes the retrieve fail with
 * ENOLINK and leaves the item as it was. Participants (participant.c)
 * are released once the last item using them is finished or discarded.
 *
 * The tree is read at the first of: fdbox's late init, or a driver's early
 * fdbox_participant_find(). Handlers are looked up when an item is used,
 * since they may register after an early read.
 *
 * An item whose handler this kernel does not have (an unknown compatible
 * string) is listed with type 0 and its compatible string; it cannot be
 * retrieved, and discarding it only forgets it: its memory stays
 * reserved until the next kexec.
 *
 * Locking: fdbox_in_lock protects the list of incoming sessions, their
 * items and who is attached. Restores and releases run under it;
 * listings are copied to userspace after it is dropped. At a kexec it is
 * taken under outgoing.c's fdbox_lock.
 */

#define pr_fmt(fmt) "fdbox: " fmt

#include <linux/debugfs.h>
#include <linux/fdbox_abi.h>
#include <linux/file.h>
#include <linux/kho.h>
#include <linux/kho_abi.h>
#include <linux/libfdt.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>

#include "internal.h"
#include <trace/events/fdbox.h>

/* How deep dependencies may chain. */
#define FDBOX_MAX_DEPTH		8

/**
 * struct fdbox_in_item - an item of an incoming session
 * @list: on its session's items, in the order of the handover
 * @key: its label
 * @pub: what the handler sees; @pub.file holds fdbox's own reference
 *	while the item is built but not handed out, or kept for dependents
 * @compatible: its handler's format, in the handover tree
 * @handler: its handler, once looked up
 * @session: its session
 * @depends: the labels it depends on (a list of strings in the tree)
 * @depends_len: their length in bytes
 * @dep_files: during its retrieve, the files of what it depends on
 * @nr_dep_files: how many
 * @parts: the participants it uses
 * @nr_parts: how many
 * @retrieved: handed out as an fd
 */
struct fdbox_in_item {
	struct list_head list;
	struct fdbox_label_entry key;
	struct fdbox_item pub;
	const char *compatible;
	const struct fdbox_handler *handler;
	struct fdbox_in_session *session;
	const char *depends;
	int depends_len;
	struct file **dep_files;
	unsigned int nr_dep_files;
	struct fdbox_in_part *parts[FDBOX_MAX_LINKS];
	unsigned int nr_parts;
	bool retrieved;
};

struct fdbox_in_session {
	struct list_head list;
	const char *name;		/* in the handover FDT */
	struct list_head items;
	struct rhashtable labels;
	unsigned int nr_items;		/* neither retrieved nor discarded */
	bool attached;
};

static DEFINE_MUTEX(fdbox_in_lock);
static LIST_HEAD(fdbox_in_sessions);
static LIST_HEAD(fdbox_in_parts);	/* incoming participants */
static bool fdbox_in_parsed;
static const void *fdbox_in_fdt;	/* the tree of sessions */
static void *fdbox_in_tree;		/* version 2: its mapping */

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
	struct fdbox_label_entry *e = fdbox_labels_find(&s->labels, label);

	return e ? container_of(e, struct fdbox_in_item, key) : NULL;
}

/* Once the last session and participant are gone, so is the tree. */
static void fdbox_in_put_tree(void)
{
	if (!list_empty(&fdbox_in_sessions) || !list_empty(&fdbox_in_parts))
		return;
	vfree(fdbox_in_tree);
	fdbox_in_tree = NULL;
	fdbox_in_fdt = NULL;
}

static void fdbox_in_free_session(struct fdbox_in_session *s)
{
	list_del(&s->list);
	fdbox_labels_destroy(&s->labels);
	kfree(s);
}

/* The item's handler, looked up the first time it is needed. */
static const struct fdbox_handler *fdbox_in_handler(struct fdbox_in_item *item)
{
	if (!item->handler)
		item->handler = fdbox_handler_for_compatible(item->compatible);
	return item->handler;
}

/*
 * An item is done (finished after its retrieve, or discarded): let go of
 * fdbox's reference to its file and of its participants, and forget it.
 */
static void fdbox_in_item_done(struct fdbox_in_session *s, struct fdbox_in_item *item)
{
	if (item->pub.file)
		fput(item->pub.file);
	while (item->nr_parts)
		fdbox_in_part_put(item->parts[--item->nr_parts]);
	fdbox_labels_remove(&s->labels, &item->key);
	list_del(&item->list);
	kfree(item);
}

/*
 * An item leaves its session: finished if its retrieve built a file
 * (handed out, or for a dependent: the file owns the memory now),
 * discarded if not.
 */
static void fdbox_in_discard_item(struct fdbox_in_session *s,
				  struct fdbox_in_item *item)
{
	if (item->retrieved || item->pub.file) {
		if (item->handler->finish)
			item->handler->finish(&item->pub);
	} else if (fdbox_in_handler(item)) {
		item->handler->discard(&item->pub);
	} else {
		pr_warn("session %s: item %s (%s) has no handler here; its memory stays reserved until the next kexec\n",
			s->name, item->key.label, item->compatible);
	}
	if (!item->retrieved)
		s->nr_items--;
	fdbox_in_item_done(s, item);
}

/* The session ends: finish what was built, release the rest. */
static void fdbox_in_end_session(struct fdbox_in_session *s)
{
	struct fdbox_in_item *item, *tmp;

	/* Newest first: dependents before what they depend on. */
	list_for_each_entry_safe_reverse(item, tmp, &s->items, list) {
		fdbox_in_discard_item(s, item);
		cond_resched();
	}
	fdbox_in_free_session(s);
	fdbox_in_put_tree();
}

static void fdbox_in_free_all(void)
{
	struct fdbox_in_session *s, *tmp;
	struct fdbox_in_item *item, *itmp;
	struct fdbox_in_part *part, *ptmp;

	list_for_each_entry_safe(s, tmp, &fdbox_in_sessions, list) {
		list_for_each_entry_safe(item, itmp, &s->items, list) {
			kfree(item);
			cond_resched();
		}
		fdbox_in_free_session(s);
	}
	list_for_each_entry_safe(part, ptmp, &fdbox_in_parts, list) {
		list_del(&part->list);
		kfree(part);
	}
}

/* The participants an item names in "uses", found in its session or globally. */
static int fdbox_in_parse_uses(const void *fdt, struct fdbox_in_item *item)
{
	const char *uses;
	int len, off;

	uses = fdt_getprop(fdt, item->pub.node, "uses", &len);
	if (!uses)
		return 0;
	if (len < 2 || uses[len - 1])
		return -EINVAL;
	for (off = 0; off < len; off += strlen(uses + off) + 1) {
		struct fdbox_in_part *part;

		part = fdbox_in_part_find(&fdbox_in_parts, uses + off, item->session) ?:
		       fdbox_in_part_find(&fdbox_in_parts, uses + off, NULL);
		if (!part || item->nr_parts >= FDBOX_MAX_LINKS)
			return -EINVAL;
		part->users++;
		item->parts[item->nr_parts++] = part;
	}
	return 0;
}

/* Each item's number of dependents, for keeping its file for them. */
static void fdbox_in_count_dependents(struct fdbox_in_session *s)
{
	struct fdbox_in_item *item, *dep;
	int off;

	list_for_each_entry(item, &s->items, list) {
		for (off = 0; item->depends && off < item->depends_len;
		     off += strlen(item->depends + off) + 1) {
			dep = fdbox_in_find_item(s, item->depends + off);
			if (dep)
				dep->pub.dependents++;
		}
		cond_resched();
	}
}

static int fdbox_in_parse_session(const void *fdt, int snode)
{
	struct fdbox_in_session *s;
	const char *name;
	int inode, err;

	name = fdbox_fdt_name(fdt, snode, "name");
	if (!name || fdbox_in_find(name)) {
		pr_err("incoming sessions refused (a session without a valid, unique name)\n");
		return -EINVAL;
	}
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	if (fdbox_labels_init(&s->labels)) {
		kfree(s);
		return -ENOMEM;
	}
	s->name = name;
	INIT_LIST_HEAD(&s->items);
	list_add_tail(&s->list, &fdbox_in_sessions);
	err = fdbox_in_parts_parse(&fdbox_in_parts, fdt, snode, s);
	if (err)
		return err;

	fdt_for_each_subnode(inode, fdt, snode) {
		struct fdbox_in_item *item;
		const char *label;
		int len;

		if (fdt_get_name(fdt, inode, NULL)[0] == 'p')
			continue;	/* a participant */
		label = fdbox_fdt_name(fdt, inode, "label");
		if (!label) {
			pr_err("incoming sessions refused (session %s: an item without a valid label)\n",
			       s->name);
			return -EINVAL;
		}
		item = kzalloc(sizeof(*item), GFP_KERNEL);
		if (!item)
			return -ENOMEM;
		strscpy_pad(item->key.label, label);
		if (fdbox_labels_insert(&s->labels, &item->key)) {
			pr_err("incoming sessions refused (session %s: label %s twice)\n",
			       s->name, label);
			kfree(item);
			return -EINVAL;
		}
		item->session = s;
		item->pub.fdt = fdt;
		item->pub.node = inode;
		list_add_tail(&item->list, &s->items);
		s->nr_items++;
		cond_resched();
		item->compatible = fdt_getprop(fdt, inode, "compatible", &len);
		if (!item->compatible || len < 1 || item->compatible[len - 1])
			item->compatible = "(none)";
		item->depends = fdt_getprop(fdt, inode, "depends", &item->depends_len);
		if ((item->depends && (item->depends_len < 2 ||
				       item->depends[item->depends_len - 1])) ||
		    fdbox_in_parse_uses(fdt, item)) {
			pr_err("incoming sessions refused (session %s: item %s has malformed links)\n",
			       s->name, label);
			return -EINVAL;
		}
	}
	fdbox_in_count_dependents(s);
	return 0;
}

/*
 * Find the tree of sessions: version 1 has it in the subtree, version 2
 * in a preserved buffer, mapped here. Return its root node, or -errno
 * after one log line.
 */
static int fdbox_in_find_tree(const void **fdt)
{
	struct kho_buf_ref ref;
	const void *prop;
	void *tree;
	int root, len;

	root = kho_find_subtree(FDBOX_KHO_NODE, fdt);
	if (root < 0)
		return root;
	if (!fdt_node_check_compatible(*fdt, root, FDBOX_COMPATIBLE_V1))
		return root;
	if (fdt_node_check_compatible(*fdt, root, FDBOX_COMPATIBLE)) {
		pr_err("incoming sessions refused (not %s or %s)\n",
		       FDBOX_COMPATIBLE, FDBOX_COMPATIBLE_V1);
		return -EINVAL;
	}
	prop = fdt_getprop(*fdt, root, "tree", &len);
	if (!prop || len != sizeof(ref)) {
		pr_err("incoming sessions refused (no tree)\n");
		return -EINVAL;
	}
	memcpy(&ref, prop, sizeof(ref));	/* FDT properties are 4-byte aligned */
	tree = kho_buf_restore(&ref);
	if (IS_ERR(tree)) {
		pr_err("incoming sessions refused (the tree cannot be read: %ld)\n",
		       PTR_ERR(tree));
		return PTR_ERR(tree);
	}
	if (fdt_check_header(tree) || fdt_totalsize(tree) != le64_to_cpu(ref.size) ||
	    fdt_node_check_compatible(tree, 0, FDBOX_COMPATIBLE)) {
		pr_err("incoming sessions refused (the tree is not a %s FDT)\n",
		       FDBOX_COMPATIBLE);
		vfree(tree);
		return -EINVAL;
	}
	fdbox_in_tree = tree;
	*fdt = tree;
	return 0;
}

/* Participants no item uses: nothing will release them later. */
static void fdbox_in_settle_parts(void)
{
	struct fdbox_in_part *part, *tmp;

	list_for_each_entry_safe(part, tmp, &fdbox_in_parts, list) {
		if (!part->users) {
			part->users = 1;
			fdbox_in_part_put(part);
		}
	}
}

/* Read what the previous kernel left, once; all or nothing. */
static void fdbox_in_parse(void)
{
	struct fdbox_in_session *s;
	unsigned int nr = 0, items = 0;
	const void *fdt;
	int root, snode, err = 0;

	lockdep_assert_held(&fdbox_in_lock);
	if (fdbox_in_parsed)
		return;
	fdbox_in_parsed = true;
	root = fdbox_in_find_tree(&fdt);
	if (root < 0)
		return;
	/* Format 1 has only sessions; format 2 global participants too. */
	if (fdbox_in_tree)
		err = fdbox_in_parts_parse(&fdbox_in_parts, fdt, root, NULL);
	fdt_for_each_subnode(snode, fdt, root) {
		if (err)
			break;
		if (fdbox_in_tree && fdt_get_name(fdt, snode, NULL)[0] == 'p')
			continue;
		err = fdbox_in_parse_session(fdt, snode);
	}
	if (err) {
		fdbox_in_free_all();
		vfree(fdbox_in_tree);
		fdbox_in_tree = NULL;
		return;
	}
	fdbox_in_fdt = fdt;
	fdbox_in_settle_parts();
	list_for_each_entry(s, &fdbox_in_sessions, list) {
		nr++;
		items += s->nr_items;
	}
	if (fdbox_in_tree)
		pr_info("%u incoming sessions with %u items wait to be attached (%s, tree of %u bytes)\n",
			nr, items, FDBOX_COMPATIBLE, fdt_totalsize(fdbox_in_tree));
	else
		pr_info("%u incoming sessions with %u items wait to be attached (%s)\n",
			nr, items, FDBOX_COMPATIBLE_V1);
	fdbox_in_put_tree();	/* an empty handover */
}

/* At fdbox's init, once handlers are registered: read, and report. */
void fdbox_restore_init(void)
{
	struct fdbox_in_session *s;
	struct fdbox_in_item *item;

	mutex_lock(&fdbox_in_lock);
	fdbox_in_parse();
	list_for_each_entry(s, &fdbox_in_sessions, list) {
		list_for_each_entry(item, &s->items, list) {
			if (!fdbox_in_handler(item))
				pr_warn("session %s: item %s: no handler for %s in this kernel; it cannot be retrieved\n",
					s->name, item->key.label, item->compatible);
			cond_resched();
		}
	}
	mutex_unlock(&fdbox_in_lock);
}

/**
 * fdbox_participant_find - find a global participant's handover early
 * @compatible: the participant's compatible string
 * @fdt: set to the handover tree, which stays mapped while the
 *	participant is in use
 *
 * May be called from any initcall: the handover is read on first use.
 * The participant's state belongs to its driver from then on; fdbox
 * calls its finish callback once no item uses it.
 *
 * Return: the participant's node in *@fdt, or -ENOENT.
 */
int fdbox_participant_find(const char *compatible, const void **fdt)
{
	struct fdbox_in_part *part;
	int node = -ENOENT;

	if (!kho_is_enabled())
		return -ENOENT;
	mutex_lock(&fdbox_in_lock);
	fdbox_in_parse();
	part = fdbox_in_part_find(&fdbox_in_parts, compatible, NULL);
	if (part) {
		*fdt = part->fdt;
		node = part->node;
	}
	mutex_unlock(&fdbox_in_lock);
	return node;
}
EXPORT_SYMBOL_GPL(fdbox_participant_find);

/**
 * fdbox_item_dependency - the file of an item this one depends on
 * @item: the item being retrieved (call from the handler's retrieve)
 * @i: the index fdbox_item_depend() returned in the previous kernel
 *
 * Return: the file, valid until the session is finished; NULL if @i is
 * out of range.
 */
struct file *fdbox_item_dependency(struct fdbox_item *item, unsigned int i)
{
	struct fdbox_in_item *in = container_of(item, struct fdbox_in_item, pub);

	return i < in->nr_dep_files ? in->dep_files[i] : NULL;
}
EXPORT_SYMBOL_GPL(fdbox_item_dependency);

/*
 * Build an item's file: first those of the items it depends on (kept by
 * fdbox for it), then its own. On error, *untouched as the handler's
 * retrieve sets it.
 */
static struct file *fdbox_in_build(struct fdbox_in_item *item, struct file *context,
				   unsigned int depth, bool *untouched)
{
	struct fdbox_in_session *s = item->session;
	unsigned int nr = 0, i;
	struct file *file;
	int off;

	*untouched = true;
	if (!fdbox_in_handler(item))
		return ERR_PTR(-EOPNOTSUPP);
	if (depth > FDBOX_MAX_DEPTH)
		return ERR_PTR(-ELOOP);
	for (off = 0; item->depends && off < item->depends_len;
	     off += strlen(item->depends + off) + 1)
		nr++;
	if (nr) {
		item->dep_files = kcalloc(nr, sizeof(*item->dep_files), GFP_KERNEL);
		if (!item->dep_files)
			return ERR_PTR(-ENOMEM);
	}
	for (off = 0, i = 0; i < nr; off += strlen(item->depends + off) + 1, i++) {
		struct fdbox_in_item *dep = fdbox_in_find_item(s, item->depends + off);
		bool dep_untouched;

		if (!dep || (dep->retrieved && !dep->pub.file)) {
			pr_err_ratelimited("session %s: item %s depends on %s, which is not there\n",
					   s->name, item->key.label, item->depends + off);
			file = ERR_PTR(-ENOLINK);
			goto out;
		}
		if (!dep->pub.file) {
			file = fdbox_in_build(dep, NULL, depth + 1, &dep_untouched);
			if (IS_ERR(file)) {
				if (!dep_untouched) {	/* released by its handler */
					s->nr_items--;
					fdbox_in_item_done(s, dep);
				}
				goto out;
			}
			dep->pub.file = file;
		}
		item->dep_files[i] = dep->pub.file;
	}
	item->nr_dep_files = nr;
	item->pub.context = context;
	*untouched = false;
	file = item->handler->retrieve(&item->pub, untouched);
	item->pub.context = NULL;
out:
	kfree(item->dep_files);
	item->dep_files = NULL;
	item->nr_dep_files = 0;
	return file;
}

/* debugfs fdbox/in-tree: the tree of a version 2 handover, while in use. */
static ssize_t fdbox_in_tree_read(struct file *file, char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	ssize_t ret = 0;

	mutex_lock(&fdbox_in_lock);
	if (fdbox_in_tree)
		ret = simple_read_from_buffer(ubuf, count, ppos, fdbox_in_tree,
					      fdt_totalsize(fdbox_in_tree));
	mutex_unlock(&fdbox_in_lock);
	return ret;
}

static const struct file_operations fdbox_in_tree_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.read	= fdbox_in_tree_read,
	.llseek	= default_llseek,
};

static int __init fdbox_in_debugfs_init(void)
{
	struct dentry *dir = debugfs_create_dir("fdbox", NULL);

	debugfs_create_file("in-tree", 0400, dir, NULL, &fdbox_in_tree_fops);
	return 0;
}
late_initcall(fdbox_in_debugfs_init);

/* At a kexec: say what the kexec does not carry. */
void fdbox_in_report_unfinished(void)
{
	struct fdbox_in_session *s;

	mutex_lock(&fdbox_in_lock);
	list_for_each_entry(s, &fdbox_in_sessions, list) {
		if (s->nr_items)
			pr_warn("incoming session %s: %u items were never retrieved; this kexec does not carry them\n",
				s->name, s->nr_items);
	}
	mutex_unlock(&fdbox_in_lock);
}

struct fdbox_reader {
	struct fdbox_in_session *session;	/* attached, or NULL */
};

/* A close without FDBOX_FINISH: what was not retrieved waits. */
static void fdbox_in_detach(struct fdbox_in_session *s)
{
	s->attached = false;
	if (!s->nr_items) {
		fdbox_in_end_session(s);	/* nothing waits: done */
		return;
	}
	pr_info_ratelimited("incoming session %s: detached with %u items not retrieved; they wait for the next attach\n",
			    s->name, s->nr_items);
}

/* Restores going on after their retrieve returned: FDBOX_FINISH waits. */
static atomic_t fdbox_restores = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(fdbox_restores_wq);

/**
 * fdbox_restore_begin - a retrieve returned with work still under way
 *
 * A handler whose retrieve hands out a file before all of its state is
 * back (a memfd filled on demand) calls this before it returns, and
 * fdbox_restore_end() once the work is done. FDBOX_FINISH waits for all
 * of them, so that after it everything the previous kernel handed over
 * is in a file or released.
 */
void fdbox_restore_begin(void)
{
	atomic_inc(&fdbox_restores);
}

/**
 * fdbox_restore_end - the work fdbox_restore_begin() announced is done
 */
void fdbox_restore_end(void)
{
	if (atomic_dec_and_test(&fdbox_restores))
		wake_up_all(&fdbox_restores_wq);
}

/* FDBOX_FINISH: the attached session is done; release what is left. */
static int fdbox_finish(struct fdbox_reader *r)
{
	struct fdbox_in_session *s = r->session;

	if (!s)
		return -ENOENT;
	if (s->nr_items)
		pr_info_ratelimited("incoming session %s finished: %u items not retrieved are released\n",
				    s->name, s->nr_items);
	fdbox_in_end_session(s);
	r->session = NULL;
	return 0;
}

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
		fdbox_in_detach(r->session);
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
			info->preserved += fdbox_fdt_u64(fdbox_in_fdt, item->pub.node,
							 "preserved");
		cond_resched();
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
	strscpy(info->label, item->key.label);
	strscpy(info->compatible, item->compatible);
	info->type = fdbox_in_handler(item) ? item->handler->type : 0;
	info->state = item->retrieved ? FDBOX_STATE_RETRIEVED : FDBOX_STATE_INCOMING;
	info->size = fdbox_fdt_u64(fdbox_in_fdt, item->pub.node, "size");
	info->preserved = fdbox_fdt_u64(fdbox_in_fdt, item->pub.node, "preserved");
	info->metadata = fdbox_fdt_u64(fdbox_in_fdt, item->pub.node, "metadata");
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
		fdbox_in_end_session(s);
	} else {
		s->attached = true;
		r->session = s;
	}
	return 0;
}

static int fdbox_retrieve(struct fdbox_reader *r, unsigned long uarg)
{
	struct fdbox_retrieve __user *uret = (void __user *)uarg;
	struct fdbox_in_session *s = r->session;
	struct file *file, *context = NULL;
	struct fdbox_retrieve arg;
	struct fdbox_in_item *item;
	bool untouched = false;
	int fd, err;

	err = fdbox_copy_arg(&arg, sizeof(arg), FDBOX_RETRIEVE_SIZE_VER0, uarg);
	if (err)
		return err;
	if ((arg.flags & ~(FDBOX_RETRIEVE_NO_CLOEXEC | FDBOX_RETRIEVE_CONTEXT)) ||
	    (!(arg.flags & FDBOX_RETRIEVE_CONTEXT) && arg.context_fd) ||
	    !fdbox_name_valid(arg.label))
		return -EINVAL;
	if (!s)
		return -ENOENT;
	item = fdbox_in_find_item(s, arg.label);
	if (!item || item->retrieved)
		return -ENOENT;
	if (!fdbox_in_handler(item))
		return -EOPNOTSUPP;
	if (arg.flags & FDBOX_RETRIEVE_CONTEXT) {
		/* Built already (for a dependent): too late for a context. */
		if (!(item->handler->flags & FDBOX_HANDLER_CONTEXT) || item->pub.file)
			return -EINVAL;
		context = fget(arg.context_fd);
		if (!context)
			return -EBADF;
	}
	/* Fail before the item is consumed, not after. */
	err = put_user(-1, &uret->fd) ? -EFAULT : 0;
	fd = err ?: get_unused_fd_flags(arg.flags & FDBOX_RETRIEVE_NO_CLOEXEC ? 0 : O_CLOEXEC);
	if (fd < 0)
		goto out;

	trace_fdbox_retrieve_start(s->name, item->key.label);
	file = item->pub.file ?: fdbox_in_build(item, context, 0, &untouched);
	trace_fdbox_retrieve_end(s->name, item->key.label, PTR_ERR_OR_ZERO(file));
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		fd = PTR_ERR(file);
		if (untouched)	/* e.g. no memory for a new file: try again */
			goto out;
		/* The handler released what it could of the item. */
		pr_err_ratelimited("session %s: cannot retrieve %s (%ld); it was released\n",
				   s->name, item->key.label, PTR_ERR(file));
		s->nr_items--;
		fdbox_in_item_done(s, item);
		goto out;
	}
	/* Kept by fdbox from now on: for the items that depend on it. */
	item->pub.file = file;
	if (put_user(fd, &uret->fd)) {
		/* The pointer went bad meanwhile: keep the file for a retry. */
		put_unused_fd(fd);
		fd = -EFAULT;
		goto out;
	}
	if (!item->pub.dependents)
		item->pub.file = NULL;	/* the fd's reference is fdbox's */
	else
		get_file(file);
	s->nr_items--;
	item->retrieved = true;
	fd_install(fd, file);
	fd = 0;
out:
	if (context)
		fput(context);
	return fd;
}

/*
 * FDBOX_DISCARD: an item of the attached session, or of one named: not
 * attached, or attached to this very file.
 */
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

	/*
	 * FDBOX_FINISH waits for the restores under way outside the lock,
	 * which they may need, and checks again under it, which any retrieve
	 * that starts one holds.
	 */
	for (;;) {
		if (cmd == FDBOX_FINISH &&
		    wait_event_killable(fdbox_restores_wq, !atomic_read(&fdbox_restores)))
			return -EINTR;
		mutex_lock(&fdbox_in_lock);
		if (cmd != FDBOX_FINISH || !atomic_read(&fdbox_restores))
			break;
		mutex_unlock(&fdbox_in_lock);
	}
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
	case FDBOX_FINISH:
		ret = fdbox_finish(r);
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

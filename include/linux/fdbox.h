/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fdbox: carry file descriptors across kexec. The interface between the
 * session core (fs/fdbox) and the handlers of each kind of file, and the
 * participants that have no file. See Documentation/core-api/fdbox.rst.
 */
#ifndef _LINUX_FDBOX_H
#define _LINUX_FDBOX_H

#include <linux/bits.h>
#include <linux/errno.h>
#include <linux/list.h>
#include <linux/types.h>

struct file;

/*
 * Words, used with one meaning each: *preserve* is the outgoing side,
 * from deposit to the kexec (KHO keeps memory); *freeze* fixes what is
 * carried; *describe* writes it into the handover at the kexec;
 * *retrieve* is the incoming side, building a file again; *discard*
 * releases what is not retrieved; *finish* ends an item that was built,
 * when its session ends (or, never handed out, it is discarded).
 */

/**
 * struct fdbox_item - one item, as its handler sees it
 * @file: outgoing, the deposited file; incoming, NULL until @retrieve
 *	built one, then that file
 * @priv: the handler's state: outgoing, from @preserve to @unpreserve;
 *	incoming, from @retrieve to @finish
 * @fdt: incoming: the handover tree, with the item's node at @node
 * @node: see @fdt
 * @context: incoming, during @retrieve only: the file the caller passed
 *	with FDBOX_RETRIEVE_CONTEXT, or NULL
 * @dependents: incoming: how many items of the session depend on this
 *	one; their handlers may need its memory where the previous kernel
 *	left it until @finish
 *
 * The core owns the structure; handlers read it and set @priv.
 */
struct fdbox_item {
	struct file *file;
	void *priv;
	const void *fdt;
	int node;
	struct file *context;
	unsigned int dependents;
};

/**
 * struct fdbox_sizes - what FDBOX_LIST reports of an item
 * @size: the file's size in bytes
 * @preserved: bytes of memory preserved for it
 * @metadata: bytes of handover metadata describing it (0 before freeze)
 */
struct fdbox_sizes {
	u64 size;
	u64 preserved;
	u64 metadata;
};

/* struct fdbox_handler.flags */
#define FDBOX_HANDLER_CONTEXT	BIT(0)	/* retrieve takes a context */

/**
 * struct fdbox_handler - how to carry one kind of file across kexec
 * @compatible: names the handler's format of an item node,
 *	"fdbox,NAME-vN"; a new format is a new string. Userspace sees it
 * @type: FDBOX_ITEM_* for the types the UAPI numbers, 0 otherwise
 * @flags: FDBOX_HANDLER_*
 * @can_preserve: is @file of this kind?
 * @preserve: at deposit, while the owner keeps running: pin the file's
 *	memory, kho_preserve_*() it, set @item->priv; declare what the item
 *	needs (fdbox_item_depend(), fdbox_item_use())
 * @unpreserve: undo @preserve (withdraw, or the session closed)
 * @freeze: at finalize (explicit, or at kexec): fix what is carried;
 *	may fail, which refuses the finalize or the kexec
 * @thaw: undo @freeze
 * @describe: at kexec, after @freeze: add the handler's properties to
 *	the item's open node in @fdt (libfdt sequential write); bulky data
 *	goes into preserved buffers (kho_buf_preserve()) referenced from
 *	the node. Return 0, -ENOSPC when @fdt is full, or another -errno
 * @info: fill @sizes
 * @retrieve: in the next kernel: build a new file from the node. Files
 *	of the items this one depends on are fdbox_item_dependency(). On
 *	error, either nothing was touched (set *untouched: the item stays,
 *	to be retrieved again) or everything the node describes was released
 * @discard: in the next kernel: release everything the node describes
 * @finish: optional, in the next kernel: after a successful @retrieve,
 *	when the session ends (FDBOX_FINISH) or the item, built for a
 *	dependent and never handed out, is discarded; drop what was kept
 *	for the items that depend on this one
 * @list: on the list of handlers; owned by the fdbox core
 *
 * Outgoing callbacks run with the item's session locked; incoming ones
 * with the incoming sessions locked. All may sleep.
 */
struct fdbox_handler {
	const char *compatible;
	u32 type;
	u32 flags;
	bool (*can_preserve)(struct file *file);
	int (*preserve)(struct fdbox_item *item);
	void (*unpreserve)(struct fdbox_item *item);
	int (*freeze)(struct fdbox_item *item);
	void (*thaw)(struct fdbox_item *item);
	int (*describe)(struct fdbox_item *item, void *fdt);
	void (*info)(struct fdbox_item *item, struct fdbox_sizes *sizes);
	struct file *(*retrieve)(struct fdbox_item *item, bool *untouched);
	void (*discard)(struct fdbox_item *item);
	void (*finish)(struct fdbox_item *item);
	struct list_head list;
};

/**
 * struct fdbox_participant - state carried without a file of its own
 * @compatible: names the format of its node, "fdbox,NAME-vN"; one
 *	participant per compatible string (global), or per compatible and
 *	session (@session_scoped)
 * @session_scoped: one instance per session instead of one for all
 * @preserve: outgoing, when the first item starts using it: preserve the
 *	state, set *@priv
 * @unpreserve: outgoing, after the last item stopped using it
 * @describe: at kexec: add properties to its open node in @fdt
 * @finish: incoming, after the last item using it was retrieved and
 *	finished, or discarded: release the preserved state (@fdt, @node:
 *	its node). A driver that took the state over early
 *	(fdbox_participant_find()) lets go of what it no longer needs
 * @list: on the list of participants; owned by the fdbox core
 *
 * A participant lives, in both kernels, as long as an item uses it. Its
 * callbacks run with fdbox's locks held and may sleep.
 */
struct fdbox_participant {
	const char *compatible;
	bool session_scoped;
	int (*preserve)(void **priv);
	void (*unpreserve)(void *priv);
	int (*describe)(void *priv, void *fdt);
	void (*finish)(const void *fdt, int node);
	struct list_head list;
};

#ifdef CONFIG_FDBOX
int fdbox_register_handler(struct fdbox_handler *handler);
int fdbox_register_participant(struct fdbox_participant *p);
int fdbox_item_depend(struct fdbox_item *item, struct file *file);
int fdbox_item_use(struct fdbox_item *item, struct fdbox_participant *p);
struct file *fdbox_item_dependency(struct fdbox_item *item, unsigned int i);
int fdbox_participant_find(const char *compatible, const void **fdt);
void fdbox_restore_begin(void);
void fdbox_restore_end(void);
#else
static inline int fdbox_register_handler(struct fdbox_handler *handler)
{
	return 0;
}

static inline int fdbox_register_participant(struct fdbox_participant *p)
{
	return 0;
}

static inline int fdbox_participant_find(const char *compatible, const void **fdt)
{
	return -ENOENT;
}
#endif

#endif /* _LINUX_FDBOX_H */

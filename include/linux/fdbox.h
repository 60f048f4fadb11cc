/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fdbox: carry file descriptors across kexec. The interface between the
 * session core (fs/fdbox) and the handler of each kind of file.
 * See Documentation/userspace-api/fdbox.rst.
 */
#ifndef _LINUX_FDBOX_H
#define _LINUX_FDBOX_H

#include <linux/list.h>
#include <linux/types.h>

struct file;

/**
 * struct fdbox_handler - how to carry one kind of file across kexec
 * @compatible: names the handler's serialized format, "fdbox,NAME-vN";
 *	a new format is a new string
 * @type: enum fdbox_item_type reported to userspace
 * @can_preserve: is @file of this kind?
 * @preserve: at deposit, while the owner keeps running: pin the file's
 *	memory, kho_preserve_*() it, and keep what is needed in *@state
 * @unpreserve: undo @preserve (withdraw, or the session closed)
 * @freeze: at finalize (explicit, or at kexec): take the final picture
 *	of the file; may fail, which refuses the finalize or the kexec
 * @thaw: undo @freeze
 * @serialize: at kexec, after @freeze: add the handler's properties to
 *	the item's open node in @fdt (libfdt sequential write); must be
 *	cheap. Return 0, -ENOSPC when @fdt is full, or another -errno
 * @info: file size, bytes of memory preserved for it, and bytes of
 *	handover metadata describing it (0 before @freeze)
 * @restore: in the next kernel: build a new file from the item's node
 *	at @node of @fdt. On error, either nothing was touched (the handler
 *	sets its last argument, untouched, to true: the item stays, to be
 *	retrieved again) or everything the node describes was released
 * @discard: in the next kernel: release everything the node describes
 * @list: on the list of handlers; owned by the fdbox core
 *
 * All callbacks but @restore and @discard run with the item's session
 * locked, and may sleep.
 */
struct fdbox_handler {
	const char *compatible;
	u32 type;
	bool (*can_preserve)(struct file *file);
	int (*preserve)(struct file *file, void **state);
	void (*unpreserve)(struct file *file, void *state);
	int (*freeze)(struct file *file, void *state);
	void (*thaw)(struct file *file, void *state);
	int (*serialize)(struct file *file, void *state, void *fdt);
	void (*info)(struct file *file, void *state, u64 *size, u64 *preserved,
		     u64 *metadata);
	struct file *(*restore)(const void *fdt, int node, bool *untouched);
	void (*discard)(const void *fdt, int node);
	struct list_head list;
};

#ifdef CONFIG_FDBOX
int fdbox_register_handler(struct fdbox_handler *handler);
#else
static inline int fdbox_register_handler(struct fdbox_handler *handler)
{
	return 0;
}
#endif

#endif /* _LINUX_FDBOX_H */

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fdbox: declarations shared by the files of fs/fdbox.
 */
#ifndef _FS_FDBOX_INTERNAL_H
#define _FS_FDBOX_INTERNAL_H

#include <linux/fdbox.h>
#include <linux/fs.h>
#include <uapi/linux/fdbox.h>

/* core.c: handlers, argument checking, listing */
const struct fdbox_handler *fdbox_handler_for_file(struct file *file);
const struct fdbox_handler *fdbox_handler_for_compatible(const char *compatible);
int fdbox_copy_arg(void *karg, size_t ksize, size_t minsize, unsigned long uarg);
bool fdbox_name_valid(const char *name);

/* Fills entry @i of a listing; returns false past the last entry. */
typedef bool (*fdbox_fill_fn)(void *priv, unsigned int i, void *entry);
int fdbox_list_copy_out(unsigned long uarg, size_t entry_size,
			fdbox_fill_fn fill, void *priv);

/* session.c: /dev/kho/serialize */
extern const struct file_operations fdbox_serialize_fops;
int fdbox_session_init(void);

/* restore.c: /dev/kho/deserialize */
extern const struct file_operations fdbox_deserialize_fops;
void fdbox_restore_init(void);

/* Read a u64 property of an item node; 0 if missing or malformed. */
u64 fdbox_fdt_u64(const void *fdt, int node, const char *name);

#endif /* _FS_FDBOX_INTERNAL_H */

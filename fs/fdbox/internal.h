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

/*
 * Listings: fill() is asked for entries 0, 1, ... in order and fills
 * @entry (NULL: only counted); it returns false past the last one.
 */
typedef bool (*fdbox_fill_fn)(void *priv, unsigned int i, void *entry);

/* Most entries one call returns. */
#define FDBOX_LIST_MAX		65536

struct fdbox_listing {
	void *buf;
	size_t entry_size;
	unsigned int total;
	unsigned int filled;
};

int fdbox_list_arg(struct fdbox_list *arg, unsigned long uarg, bool sessions);
int fdbox_list_collect(const struct fdbox_list *arg, size_t entry_size,
		       fdbox_fill_fn fill, void *priv, struct fdbox_listing *l);
int fdbox_list_copy_out(const struct fdbox_list *arg, unsigned long uarg,
			struct fdbox_listing *l);

/* session.c: /dev/kho/serialize */
extern const struct file_operations fdbox_serialize_fops;
int fdbox_session_init(void);

/* restore.c: /dev/kho/deserialize */
extern const struct file_operations fdbox_deserialize_fops;
void fdbox_restore_init(void);

/* Read a u64 property of an item node; 0 if missing or malformed. */
u64 fdbox_fdt_u64(const void *fdt, int node, const char *name);
int fdbox_fdt_u32(const void *fdt, int node, const char *name, u32 *val);

#endif /* _FS_FDBOX_INTERNAL_H */

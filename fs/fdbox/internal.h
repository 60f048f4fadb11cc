/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fdbox: declarations shared by the files of fs/fdbox.
 */
#ifndef _FS_FDBOX_INTERNAL_H
#define _FS_FDBOX_INTERNAL_H

#include <linux/fdbox.h>
#include <linux/fs.h>
#include <linux/rhashtable-types.h>
#include <uapi/linux/fdbox.h>

/* core.c: handlers, argument checking, listing */
const struct fdbox_handler *fdbox_handler_for_file(struct file *file);
const struct fdbox_handler *fdbox_handler_for_compatible(const char *compatible);
int fdbox_copy_arg(void *karg, size_t ksize, size_t minsize, unsigned long uarg);
bool fdbox_name_valid(const char *name);

/*
 * Items of a session by label, on both sides: a hash table, so that a
 * deposit or retrieve costs the same with 10 items or 100,000. The label
 * is NUL-padded to FDBOX_NAME_MAX bytes, the key.
 */
struct fdbox_label_entry {
	struct rhash_head hash;
	char label[FDBOX_NAME_MAX];
};

int fdbox_labels_init(struct rhashtable *labels);
void fdbox_labels_destroy(struct rhashtable *labels);
int fdbox_labels_insert(struct rhashtable *labels, struct fdbox_label_entry *e);
void fdbox_labels_remove(struct rhashtable *labels, struct fdbox_label_entry *e);
struct fdbox_label_entry *fdbox_labels_find(struct rhashtable *labels,
					    const char *label);

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

/* outgoing.c: /dev/kho/serialize */
extern const struct file_operations fdbox_serialize_fops;
int fdbox_session_init(void);

/* incoming.c: /dev/kho/deserialize */
extern const struct file_operations fdbox_deserialize_fops;
void fdbox_restore_init(void);
void fdbox_in_report_unfinished(void);

/* An item's dependencies, and its participants: a few each at most. */
#define FDBOX_MAX_LINKS		16

/* participant.c: outgoing instances, and incoming participants */
struct fdbox_use;
struct fdbox_use *fdbox_use_get(struct fdbox_participant *p, const void *scope);
void fdbox_use_put(struct fdbox_use *use);
const char *fdbox_use_compatible(const struct fdbox_use *use);
int fdbox_uses_describe(void *fdt, const void *scope);

/**
 * struct fdbox_in_part - an incoming participant
 * @list: on the incoming participants (incoming.c)
 * @compatible: its format, in the handover tree
 * @fdt: the handover tree, and @node its node in it
 * @node: see @fdt
 * @scope: its session (struct fdbox_in_session), or NULL: global
 * @users: items using it, not yet finished or discarded
 */
struct fdbox_in_part {
	struct list_head list;
	const char *compatible;
	const void *fdt;
	int node;
	const void *scope;
	unsigned int users;
};

int fdbox_in_parts_parse(struct list_head *parts, const void *fdt, int parent,
			 const void *scope);
struct fdbox_in_part *fdbox_in_part_find(struct list_head *parts,
					 const char *compatible, const void *scope);
void fdbox_in_part_put(struct fdbox_in_part *part);

/* libfdt's sequential write errors as -errno. */
int fdbox_fdt_err(int err);

/* Read a u64 property of an item node; 0 if missing or malformed. */
u64 fdbox_fdt_u64(const void *fdt, int node, const char *name);
int fdbox_fdt_u32(const void *fdt, int node, const char *name, u32 *val);

#endif /* _FS_FDBOX_INTERNAL_H */

/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * fdbox: carry file descriptors across kexec.
 *
 * /dev/kho/serialize: each open file is one outgoing session. Deposit fds
 * under labels; at kexec (or FDBOX_FINALIZE) every open session is handed
 * to the next kernel through Kexec HandOver. Closing the file before the
 * kexec cancels the session.
 *
 * /dev/kho/deserialize: after the kexec, each open file attaches to one
 * incoming session and retrieves its fds by label. FDBOX_FINISH releases
 * every item not retrieved; closing the file without it leaves them
 * waiting for the next attach.
 *
 * Every ioctl takes a pointer to a structure whose first field, size, is
 * sizeof() of the structure as userspace knows it; the kernel accepts
 * smaller (older) and larger (newer, zero-filled) structures. Unknown
 * flags and non-zero reserved fields are rejected with EINVAL.
 * See Documentation/userspace-api/fdbox.rst.
 */
#ifndef _UAPI_LINUX_FDBOX_H
#define _UAPI_LINUX_FDBOX_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Session names and item labels: 1-63 printable bytes and a NUL. */
#define FDBOX_NAME_MAX		64

#define FDBOX_TYPE		0xBB

/*
 * The kind of fd an item holds. Every kind is named by its handler's
 * compatible string (struct fdbox_item_info.compatible, e.g.
 * "fdbox,memfd-v1"); the first two also have a number, kept for the
 * userspace that knows them by it. Other kinds report 0.
 */
enum fdbox_item_type {
	FDBOX_ITEM_OTHER = 0,		/* see compatible */
	FDBOX_ITEM_MEMFD = 1,		/* memfd on shmem */
	FDBOX_ITEM_MEMFD_HUGETLB = 2,	/* memfd on hugetlbfs */
};

/* Where an item is in its life. */
enum fdbox_item_state {
	FDBOX_STATE_DEPOSITED = 1,	/* outgoing, session open */
	FDBOX_STATE_FINALIZED = 2,	/* outgoing, serialized for the kexec */
	FDBOX_STATE_INCOMING = 3,	/* after the kexec, not yet retrieved */
	FDBOX_STATE_RETRIEVED = 4,	/* after the kexec, turned into an fd */
};

/**
 * struct fdbox_set_name - FDBOX_SET_NAME: name an outgoing session
 * @size: sizeof(struct fdbox_set_name)
 * @flags: must be 0
 * @name: unique among the sessions of this kernel
 *
 * Once per session, before the first deposit. EEXIST if the name is taken.
 */
struct fdbox_set_name {
	__u32 size;
	__u32 flags;
	char name[FDBOX_NAME_MAX];
};

/* struct fdbox_deposit.flags */
#define FDBOX_DEPOSIT_DEPENDS	(1U << 0)	/* depends and nr_depends are set */

/**
 * struct fdbox_deposit - FDBOX_DEPOSIT: put an fd into the session
 * @size: sizeof(struct fdbox_deposit)
 * @flags: FDBOX_DEPOSIT_*
 * @fd: the caller's fd
 * @reserved: must be 0
 * @label: unique within the session
 * @depends: with FDBOX_DEPOSIT_DEPENDS: pointer to an array of
 *	@nr_depends labels (char[FDBOX_NAME_MAX] each) of items of this
 *	session that this one needs, e.g. the memfd a device writes into
 * @nr_depends: 1 to 16
 * @reserved2: must be 0
 *
 * The handler pins the fd's memory and preserves it; the caller may close
 * its fd afterwards, the session keeps the file. EOPNOTSUPP for a type
 * without handler, EBUSY if the file is in a session already. With
 * dependencies: ENOLINK if a label names no other item of the session,
 * E2BIG for more than 16; the next kernel retrieves those items first,
 * and they cannot be withdrawn while this one is deposited.
 */
struct fdbox_deposit {
	__u32 size;
	__u32 flags;
	__s32 fd;
	__u32 reserved;
	char label[FDBOX_NAME_MAX];
	__u64 depends;
	__u32 nr_depends;
	__u32 reserved2;
};

/**
 * struct fdbox_label - FDBOX_WITHDRAW and FDBOX_DISCARD: act on one item
 * @size: sizeof(struct fdbox_label)
 * @flags: must be 0
 * @label: the item
 * @session: FDBOX_DISCARD only: empty for the attached session, or the
 *	name of an incoming session nobody is attached to
 */
struct fdbox_label {
	__u32 size;
	__u32 flags;
	char label[FDBOX_NAME_MAX];
	char session[FDBOX_NAME_MAX];
};

/**
 * struct fdbox_item_info - one item, as FDBOX_LIST reports it
 * @label: its label
 * @type: enum fdbox_item_type
 * @state: enum fdbox_item_state
 * @size: the file's size in bytes
 * @preserved: bytes of memory preserved for it
 * @metadata: bytes of handover metadata describing it, known once the
 *	item is finalized (0 before)
 * @compatible: its handler's format, which names its kind; for an
 *	incoming item whose handler this kernel lacks, as the previous
 *	kernel wrote it (since version 1 of this structure)
 */
struct fdbox_item_info {
	char label[FDBOX_NAME_MAX];
	__u32 type;
	__u32 state;
	__aligned_u64 size;
	__aligned_u64 preserved;
	__aligned_u64 metadata;
	char compatible[FDBOX_NAME_MAX];
};

/**
 * struct fdbox_session_info - one session, as FDBOX_LIST_SESSIONS reports it
 * @name: its name
 * @nr_items: items not yet retrieved or discarded
 * @attached: 1 if a deserialize file is attached to it; an incoming
 *	session with items and no file attached is waiting (its owner
 *	closed without FDBOX_FINISH, or never attached)
 * @preserved: bytes of memory preserved for its items
 */
struct fdbox_session_info {
	char name[FDBOX_NAME_MAX];
	__u32 nr_items;
	__u32 attached;
	__aligned_u64 preserved;
};

/**
 * struct fdbox_list - FDBOX_LIST and FDBOX_LIST_SESSIONS
 * @size: sizeof(struct fdbox_list)
 * @flags: must be 0
 * @count: in: room in @entries; out: how many there are (more than the
 *	room: the first @count in were filled, call again with more room)
 * @entry_size: sizeof(struct fdbox_item_info) or (struct
 *	fdbox_session_info) as userspace knows it
 * @entries: user pointer to an array of @count entries
 * @session: FDBOX_LIST only: empty for this file's own session, or the
 *	name of another session of the same side (outgoing on
 *	/dev/kho/serialize, incoming on /dev/kho/deserialize), listed
 *	without attaching to it
 */
struct fdbox_list {
	__u32 size;
	__u32 flags;
	__u32 count;
	__u32 entry_size;
	__aligned_u64 entries;
	char session[FDBOX_NAME_MAX];
};

/*
 * The first version of each extensible structure: the smallest size the
 * kernel accepts (for list entries, the smallest entry_size).
 */
#define FDBOX_SET_NAME_SIZE_VER0	72
#define FDBOX_DEPOSIT_SIZE_VER0		80
#define FDBOX_DEPOSIT_SIZE_VER1		96	/* with depends */
#define FDBOX_LABEL_SIZE_VER0		72	/* without session */
#define FDBOX_LIST_SIZE_VER0		24	/* without session */
#define FDBOX_ATTACH_SIZE_VER0		72
#define FDBOX_RETRIEVE_SIZE_VER0	80
#define FDBOX_ITEM_INFO_SIZE_VER0	96	/* without compatible */
#define FDBOX_ITEM_INFO_SIZE_VER1	160
#define FDBOX_SESSION_INFO_SIZE_VER0	80

/**
 * struct fdbox_attach - FDBOX_ATTACH, FDBOX_DISCARD_SESSION: pick an incoming session
 * @size: sizeof(struct fdbox_attach)
 * @flags: must be 0
 * @name: the session's name
 */
struct fdbox_attach {
	__u32 size;
	__u32 flags;
	char name[FDBOX_NAME_MAX];
};

/* FDBOX_RETRIEVE flags */
#define FDBOX_RETRIEVE_NO_CLOEXEC	(1U << 0)
#define FDBOX_RETRIEVE_CONTEXT		(1U << 1)	/* context_fd is set */

/**
 * struct fdbox_retrieve - FDBOX_RETRIEVE: turn an incoming item into an fd
 * @size: sizeof(struct fdbox_retrieve)
 * @flags: FDBOX_RETRIEVE_*
 * @label: the item
 * @fd: out: the new fd (O_CLOEXEC unless FDBOX_RETRIEVE_NO_CLOEXEC)
 * @context_fd: with FDBOX_RETRIEVE_CONTEXT, an fd the item's handler
 *	needs to rebuild it (a guest_memfd: its VM); must be 0 otherwise.
 *	EINVAL for an item whose kind takes no context
 */
struct fdbox_retrieve {
	__u32 size;
	__u32 flags;
	char label[FDBOX_NAME_MAX];
	__s32 fd;
	__s32 context_fd;
};

/* /dev/kho/serialize */
#define FDBOX_SET_NAME		_IO(FDBOX_TYPE, 0x00)
#define FDBOX_DEPOSIT		_IO(FDBOX_TYPE, 0x01)
#define FDBOX_WITHDRAW		_IO(FDBOX_TYPE, 0x02)
#define FDBOX_FINALIZE		_IO(FDBOX_TYPE, 0x03)
#define FDBOX_UNFINALIZE	_IO(FDBOX_TYPE, 0x04)
/* both devices: the items of a session; the sessions of that side */
#define FDBOX_LIST		_IO(FDBOX_TYPE, 0x05)
#define FDBOX_LIST_SESSIONS	_IO(FDBOX_TYPE, 0x10)
/* /dev/kho/deserialize */
#define FDBOX_ATTACH		_IO(FDBOX_TYPE, 0x11)
#define FDBOX_RETRIEVE		_IO(FDBOX_TYPE, 0x12)
#define FDBOX_DISCARD		_IO(FDBOX_TYPE, 0x13)
#define FDBOX_DISCARD_SESSION	_IO(FDBOX_TYPE, 0x14)
#define FDBOX_FINISH		_IO(FDBOX_TYPE, 0x15)

#endif /* _UAPI_LINUX_FDBOX_H */

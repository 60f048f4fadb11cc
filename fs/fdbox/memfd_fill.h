/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fdbox: a retrieved memfd takes its pages back on demand (memfd_fill.c).
 */
#ifndef _FS_FDBOX_MEMFD_FILL_H
#define _FS_FDBOX_MEMFD_FILL_H

struct fdbox_item;
struct fdbox_runs;
struct file;

int memfd_fill_start(struct file *file, struct fdbox_runs *runs);
unsigned long memfd_fill_now(struct fdbox_item *item, struct file *file,
			     struct fdbox_runs *runs);

#endif /* _FS_FDBOX_MEMFD_FILL_H */

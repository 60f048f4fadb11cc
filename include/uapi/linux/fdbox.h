/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * fdbox: carry file descriptors across kexec.
 *
 * The session devices /dev/kho/serialize and /dev/kho/deserialize and their
 * ioctls are defined here as they land; Documentation/userspace-api/fdbox.rst
 * describes them.
 */
#ifndef _UAPI_LINUX_FDBOX_H
#define _UAPI_LINUX_FDBOX_H

#include <linux/types.h>

#endif /* _UAPI_LINUX_FDBOX_H */

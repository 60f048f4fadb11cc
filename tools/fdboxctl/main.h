/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FDBOXCTL_MAIN_H
#define FDBOXCTL_MAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/fdbox.h>

#include "json_writer.h"

/* Exit codes (documented in the man page). */
#define EXIT_OK		0
#define EXIT_ERROR	1	/* the command failed; the message says why */
#define EXIT_USAGE	2	/* bad command line */

#define KHO_DEBUGFS	"/sys/kernel/debug/kho"
/* The sessions of a handover in format 2, kept outside KHO's FDT. */
#define FDBOX_IN_TREE	"/sys/kernel/debug/fdbox/in-tree"
#define FDBOX_SERIALIZE		"/dev/kho/serialize"
#define FDBOX_DESERIALIZE	"/dev/kho/deserialize"

extern const char *bin_name;
extern bool json_output;
extern struct json_writer *json_wtr;

struct cmd {
	const char *name;
	int (*func)(int argc, char **argv);
};

int cmd_select(const struct cmd *cmds, int argc, char **argv,
	       int (*help)(int argc, char **argv));
void p_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Open one of the fdbox devices, or say clearly why not; -1 on error. */
int open_device(const char *path);
/* A listing into a malloc()ed array; the number of entries, or -1. */
int fetch_list(int fd, unsigned long cmd, const char *session, void **entries,
	       size_t entry_size);
const char *item_kind(const struct fdbox_item_info *it);
const char *item_state_name(uint32_t state);
/* "key N" from a file of such lines; -1 if missing. */
long long read_stat(const char *path, const char *key);
void print_bytes(uint64_t bytes);

int do_status(int argc, char **argv);
int do_list(int argc, char **argv);
int do_dump(int argc, char **argv);
int do_kexec(int argc, char **argv);
int do_discard(int argc, char **argv);

#endif

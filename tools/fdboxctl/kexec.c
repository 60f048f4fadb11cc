// SPDX-License-Identifier: GPL-2.0
/*
 * fdboxctl kexec: load the next kernel with kexec_file_load, after
 * checking that the live update can carry the sessions, and optionally
 * perform it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <linux/kexec.h>
#include <linux/reboot.h>

#include "main.h"

struct carried {
	int sessions, finalized;
	unsigned long long items, bytes;
	char pending[FDBOX_NAME_MAX];	/* a session not finalized yet */
};

/* Is every item of outgoing session @name finalized? -1 if unknown. */
static int session_finalized(int fd, const char *name)
{
	struct fdbox_item_info *items = NULL;
	int n, i, ret = 1;

	n = fetch_list(fd, FDBOX_LIST, name, (void **)&items, sizeof(*items));
	if (n < 0)
		return errno == ENOENT ? 1 : -1;	/* closed meanwhile */
	for (i = 0; i < n; i++)
		if (items[i].state != FDBOX_STATE_FINALIZED)
			ret = 0;
	free(items);
	return ret;
}

/* What the kexec would carry now, and which sessions are finalized. */
static int count_carried(struct carried *c)
{
	struct fdbox_session_info *s = NULL;
	int fd = open_device(FDBOX_SERIALIZE), i, done;

	if (fd < 0)
		return -1;
	c->sessions = fetch_list(fd, FDBOX_LIST_SESSIONS, NULL, (void **)&s, sizeof(*s));
	for (i = 0; i < c->sessions; i++) {
		c->items += s[i].nr_items;
		c->bytes += s[i].preserved;
		done = session_finalized(fd, s[i].name);
		if (done < 0)
			break;
		c->finalized += done;
		if (!done && !c->pending[0])
			memcpy(c->pending, s[i].name, sizeof(c->pending));
	}
	close(fd);
	free(s);
	if (c->sessions < 0 || i < c->sessions) {
		p_err("cannot list the outgoing sessions: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int load(const char *kernel, const char *initrd, const char *cmdline)
{
	int kfd, ifd = -1, ret;
	unsigned long flags = 0;

	kfd = open(kernel, O_RDONLY | O_CLOEXEC);
	if (kfd < 0) {
		p_err("cannot open kernel %s: %s", kernel, strerror(errno));
		return -1;
	}
	if (initrd) {
		ifd = open(initrd, O_RDONLY | O_CLOEXEC);
		if (ifd < 0) {
			p_err("cannot open initrd %s: %s", initrd, strerror(errno));
			close(kfd);
			return -1;
		}
	} else {
		flags |= KEXEC_FILE_NO_INITRAMFS;
	}
	ret = syscall(SYS_kexec_file_load, kfd, ifd, strlen(cmdline) + 1, cmdline, flags);
	if (ret < 0) {
		if (errno == EADDRNOTAVAIL)
			p_err("the kernel and initrd do not fit in KHO scratch: boot this kernel with a larger kho_scratch=");
		else if (errno == ENOEXEC || errno == EKEYREJECTED)
			p_err("%s is not a kernel this kernel can load: %s", kernel,
			      strerror(errno));
		else
			p_err("kexec_file_load: %s", strerror(errno));
	}
	close(kfd);
	if (ifd >= 0)
		close(ifd);
	return ret;
}

static int read_cmdline(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cmdline", "r");

	if (!f || !fgets(buf, len, f)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

int do_kexec(int argc, char **argv)
{
	static const struct option options[] = {
		{ "kernel",		required_argument,	NULL, 'k' },
		{ "initrd",		required_argument,	NULL, 'i' },
		{ "append",		required_argument,	NULL, 'a' },
		{ "reuse-cmdline",	no_argument,		NULL, 'r' },
		{ "exec",		no_argument,		NULL, 'e' },
		{ "require-finalized",	no_argument,		NULL, 'f' },
		{ 0 }
	};
	const char *kernel = NULL, *initrd = NULL, *append = NULL;
	bool reuse = false, exec = false, require_finalized = false;
	struct carried c = { 0 };
	char cmdline[4096] = "";
	int opt;

	optind = 0;	/* argv[0] is the first option here */
	while ((opt = getopt_long(argc + 1, argv - 1, "", options, NULL)) >= 0) {
		switch (opt) {
		case 'k':
			kernel = optarg;
			break;
		case 'i':
			initrd = optarg;
			break;
		case 'a':
			append = optarg;
			break;
		case 'r':
			reuse = true;
			break;
		case 'e':
			exec = true;
			break;
		case 'f':
			require_finalized = true;
			break;
		default:
			return usage_err("bad kexec option");
		}
	}
	if (!kernel)
		return usage_err("kexec needs --kernel FILE");
	if (append && reuse)
		return usage_err("--append and --reuse-cmdline exclude each other");
	if (reuse && read_cmdline(cmdline, sizeof(cmdline))) {
		p_err("cannot read /proc/cmdline");
		return EXIT_ERROR;
	}
	if (append)
		snprintf(cmdline, sizeof(cmdline), "%s", append);

	/*
	 * Preflight: KHO active, the sessions readable, the image fits in
	 * scratch (kexec_file_load checks that). A session not finalized yet
	 * is finalized by the kexec itself, which is refused, losing nothing,
	 * if that fails; --require-finalized insists on it being done first.
	 */
	if (count_carried(&c))
		return EXIT_ERROR;
	if (require_finalized && c.finalized < c.sessions) {
		p_err("session '%s' is not finalized (%d of %d are): its owner must finalize it first",
		      c.pending, c.finalized, c.sessions);
		return EXIT_ERROR;
	}
	if (load(kernel, initrd, cmdline) < 0)
		return EXIT_ERROR;

	if (json_output) {
		jsonw_start_object(json_wtr);
		jsonw_uint_field(json_wtr, "sessions", c.sessions);
		jsonw_uint_field(json_wtr, "finalized_sessions", c.finalized);
		jsonw_uint_field(json_wtr, "items", c.items);
		jsonw_uint_field(json_wtr, "bytes", c.bytes);
		jsonw_bool_field(json_wtr, "loaded", true);
		jsonw_bool_field(json_wtr, "exec", exec);
		jsonw_end_object(json_wtr);
		jsonw_destroy(&json_wtr);
	} else {
		printf("loaded %s; the kexec will carry %d sessions, %llu items, ", kernel,
		       c.sessions, c.items);
		print_bytes(c.bytes);
		printf("; %d of %d sessions finalized, the others will be at the kexec\n",
		       c.finalized, c.sessions);
	}
	fflush(stdout);
	if (!exec)
		return EXIT_OK;

	sync();
	syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
		LINUX_REBOOT_CMD_KEXEC, NULL);
	/* Still here: the kernel refused, and every session is as it was. */
	json_output = false;
	if (errno == EBUSY)
		p_err("the kexec was refused: the loaded image cannot carry the sessions");
	else
		p_err("the kexec was refused: a session could not be finalized (%s); nothing was lost, see dmesg",
		      strerror(errno));
	return EXIT_ERROR;
}

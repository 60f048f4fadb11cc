// SPDX-License-Identifier: GPL-2.0
/*
 * fdboxctl: look at and drive fdbox, the carrying of file descriptors
 * across a kexec. Commands follow bpftool's shape: fdboxctl [OPTIONS]
 * COMMAND [ARGS], with -j/--json and -p/--pretty on every command.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "main.h"

const char *bin_name;
bool json_output;
struct json_writer *json_wtr;

static int do_help(int argc, char **argv)
{
	if (json_output) {
		jsonw_null(json_wtr);
		return EXIT_OK;
	}
	fprintf(stderr,
		"Usage: %s [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"COMMAND := {\n"
		"    status                          KHO, scratch, handover, sessions\n"
		"    list [in | out] [SESSION]       sessions, or the items of one\n"
		"    dump [--in | --out]             the handover FDT, decoded\n"
		"    kexec --kernel K [--initrd I] [--append ARGS | --reuse-cmdline] [--exec]\n"
		"                                    load the next kernel, carrying the sessions\n"
		"    discard SESSION [LABEL]         release unclaimed incoming state\n"
		"    help }\n"
		"OPTIONS := { -j|--json [-p|--pretty] | -V|--version | -h|--help }\n",
		bin_name);
	return EXIT_OK;
}

static const struct cmd main_cmds[] = {
	{ "help",	do_help },
	{ "status",	do_status },
	{ "list",	do_list },
	{ "dump",	do_dump },
	{ "kexec",	do_kexec },
	{ "discard",	do_discard },
	{ NULL, NULL },
};

void p_err(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (json_output) {
		jsonw_start_object(json_wtr);
		jsonw_string_field(json_wtr, "error", msg);
		jsonw_end_object(json_wtr);
	} else {
		fprintf(stderr, "Error: %s\n", msg);
	}
}

int usage_err(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p_err("%s (see '%s help')", msg, bin_name);
	return EXIT_USAGE;
}

int cmd_select(const struct cmd *cmds, int argc, char **argv,
	       int (*help)(int argc, char **argv))
{
	const struct cmd *c;

	if (argc < 1)
		return help(argc, argv);
	for (c = cmds; c->name; c++) {
		if (!strcmp(argv[0], c->name))
			return c->func(argc - 1, argv + 1);
	}
	return usage_err("unknown command '%s'", argv[0]);
}

int open_device(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT)
		p_err("%s does not exist: this kernel has no fdbox (CONFIG_FDBOX), or KHO is off (kho=off)",
		      path);
	else if (errno == EPERM || errno == EACCES)
		p_err("cannot open %s: fdbox needs root (CAP_SYS_ADMIN)", path);
	else
		p_err("cannot open %s: %s", path, strerror(errno));
	return -1;
}

int fetch_list(int fd, unsigned long cmd, const char *session, void **entries,
	       size_t entry_size)
{
	struct fdbox_list arg = { .size = sizeof(arg), .entry_size = entry_size };
	void *buf = NULL;

	if (session)
		snprintf(arg.session, sizeof(arg.session), "%s", session);
	/* Ask for the count, then for the entries; again if it grew. */
	for (;;) {
		unsigned int room = arg.count;

		arg.entries = (uintptr_t)buf;
		if (ioctl(fd, cmd, &arg) < 0) {
			free(buf);
			return -1;
		}
		if (arg.count <= room && (buf || !arg.count))
			break;
		free(buf);
		buf = calloc(arg.count + 1, entry_size);
		if (!buf)
			return -1;
	}
	*entries = buf;
	return arg.count;
}

/*
 * An item's kind: the short names of the kinds the UAPI numbers, else
 * its handler's compatible string without the "fdbox," prefix.
 */
const char *item_kind(const struct fdbox_item_info *it)
{
	switch (it->type) {
	case FDBOX_ITEM_MEMFD:		return "memfd";
	case FDBOX_ITEM_MEMFD_HUGETLB:	return "memfd-hugetlb";
	}
	if (!it->compatible[0])
		return "unknown";
	if (!strncmp(it->compatible, "fdbox,", 6))
		return it->compatible + 6;
	return it->compatible;
}

const char *item_state_name(uint32_t state)
{
	switch (state) {
	case FDBOX_STATE_DEPOSITED:	return "deposited";
	case FDBOX_STATE_FINALIZED:	return "finalized";
	case FDBOX_STATE_INCOMING:	return "incoming";
	case FDBOX_STATE_RETRIEVED:	return "retrieved";
	default:			return "unknown";
	}
}

long long read_stat(const char *path, const char *key)
{
	char line[256], name[128];
	long long val, ret = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%127s %lld", name, &val) == 2 && !strcmp(name, key))
			ret = val;
	fclose(f);
	return ret;
}

void print_bytes(uint64_t bytes)
{
	if (bytes >= (1ULL << 30) && !(bytes % (1ULL << 20)))
		printf("%.2f GiB", bytes / (double)(1ULL << 30));
	else if (bytes >= (1ULL << 20))
		printf("%.1f MiB", bytes / (double)(1ULL << 20));
	else
		printf("%llu B", (unsigned long long)bytes);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "json",	no_argument,	NULL, 'j' },
		{ "pretty",	no_argument,	NULL, 'p' },
		{ "version",	no_argument,	NULL, 'V' },
		{ "help",	no_argument,	NULL, 'h' },
		{ 0 }
	};
	bool pretty = false;
	int opt, ret;

	bin_name = argv[0];
	while ((opt = getopt_long(argc, argv, "+jpVh", options, NULL)) >= 0) {
		switch (opt) {
		case 'j':
			json_output = true;
			break;
		case 'p':
			json_output = true;
			pretty = true;
			break;
		case 'V':
			printf("%s v1 (fdbox UAPI type 0x%x)\n", bin_name, FDBOX_TYPE);
			return EXIT_OK;
		case 'h':
			return do_help(0, NULL);
		default:
			do_help(0, NULL);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (json_output) {
		json_wtr = jsonw_new(stdout, pretty);
		if (!json_wtr)
			return EXIT_ERROR;
	}
	ret = cmd_select(main_cmds, argc, argv, do_help);
	if (json_output)
		jsonw_destroy(&json_wtr);
	return ret;
}

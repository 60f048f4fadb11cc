// SPDX-License-Identifier: GPL-2.0
/* fdboxctl status: is KHO on, what came in, what goes out. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "main.h"

struct range {
	unsigned long long start, size;
};

static int read_scratch(struct range *r, int max)
{
	FILE *f = fopen(KHO_DEBUGFS "/scratch", "r");
	int n = 0;

	if (!f)
		return -1;
	while (n < max && fscanf(f, "%llx %llx", &r[n].start, &r[n].size) == 2)
		n++;
	fclose(f);
	return n;
}

/* Sessions of one side; -1 if the device is missing. */
static int sessions_of(const char *dev, struct fdbox_session_info **s)
{
	int fd = open(dev, O_RDWR | O_CLOEXEC), n;

	if (fd < 0)
		return -1;
	n = fetch_list(fd, FDBOX_LIST_SESSIONS, NULL, (void **)s, sizeof(**s));
	close(fd);
	return n;
}

static void show_sessions(const char *side, struct fdbox_session_info *s, int n)
{
	int i;

	if (json_output) {
		jsonw_name(json_wtr, side);
		jsonw_start_array(json_wtr);
	} else {
		printf("%s sessions: %d\n", side, n < 0 ? 0 : n);
	}
	for (i = 0; i < n; i++) {
		if (json_output) {
			jsonw_start_object(json_wtr);
			jsonw_string_field(json_wtr, "name", s[i].name);
			jsonw_uint_field(json_wtr, "items", s[i].nr_items);
			jsonw_uint_field(json_wtr, "bytes", s[i].preserved);
			jsonw_bool_field(json_wtr, "attached", s[i].attached);
			jsonw_end_object(json_wtr);
		} else {
			printf("  %-24s %3u items  ", s[i].name, s[i].nr_items);
			print_bytes(s[i].preserved);
			printf("%s\n", s[i].attached && !strcmp(side, "incoming") ?
			       "  (attached)" : "");
		}
	}
	if (json_output)
		jsonw_end_array(json_wtr);
}

int do_status(int argc, char **argv)
{
	struct fdbox_session_info *out = NULL, *in = NULL;
	struct range scratch[16];
	int nr_out, nr_in, nr_scratch, i;
	long long present;
	bool active;

	if (argc)
		return usage_err("status takes no argument");
	active = !access(FDBOX_SERIALIZE, F_OK);
	nr_scratch = read_scratch(scratch, 16);
	present = read_stat(KHO_DEBUGFS "/in/stats", "present");
	nr_out = sessions_of(FDBOX_SERIALIZE, &out);
	nr_in = sessions_of(FDBOX_DESERIALIZE, &in);
	if (active && (nr_out < 0 || nr_in < 0)) {
		p_err("cannot list sessions: %s", strerror(errno));
		return EXIT_ERROR;
	}

	if (json_output) {
		jsonw_start_object(json_wtr);
		jsonw_bool_field(json_wtr, "kho_active", active);
		jsonw_name(json_wtr, "scratch");
		jsonw_start_array(json_wtr);
		for (i = 0; i < nr_scratch; i++) {
			jsonw_start_object(json_wtr);
			jsonw_uint_field(json_wtr, "start", scratch[i].start);
			jsonw_uint_field(json_wtr, "size", scratch[i].size);
			jsonw_end_object(json_wtr);
		}
		jsonw_end_array(json_wtr);
		jsonw_name(json_wtr, "handover_received");
		if (present < 0)
			jsonw_null(json_wtr);	/* no debugfs */
		else
			jsonw_bool(json_wtr, present > 0);
	} else {
		printf("KHO: %s\n", active ? "active" : "not active (no /dev/kho/serialize)");
		if (nr_scratch < 0)
			printf("scratch: unknown (mount debugfs on /sys/kernel/debug)\n");
		for (i = 0; i < nr_scratch; i++) {
			printf("scratch: 0x%llx-0x%llx (", scratch[i].start,
			       scratch[i].start + scratch[i].size - 1);
			print_bytes(scratch[i].size);
			printf(")\n");
		}
		printf("handover received: %s\n", present < 0 ? "unknown (no debugfs)" :
		       present ? "yes" : "no");
	}
	show_sessions("outgoing", out, nr_out);
	show_sessions("incoming", in, nr_in);
	if (json_output)
		jsonw_end_object(json_wtr);
	free(out);
	free(in);
	return EXIT_OK;
}

// SPDX-License-Identifier: GPL-2.0
/* fdboxctl list [in | out] [SESSION]: the sessions, or one's items. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "main.h"

static int list_items(int fd, const char *side, const char *session)
{
	struct fdbox_item_info *items = NULL;
	int n, i;

	n = fetch_list(fd, FDBOX_LIST, session, (void **)&items, sizeof(*items));
	if (n < 0) {
		if (errno == ENOENT)
			p_err("no %s session named '%s'", side, session);
		else
			p_err("cannot list session '%s': %s", session, strerror(errno));
		return EXIT_ERROR;
	}
	if (json_output)
		jsonw_start_array(json_wtr);
	else
		printf("%-24s %-16s %-10s %14s %14s %10s\n", "LABEL", "TYPE", "STATE",
		       "SIZE", "PRESERVED", "METADATA");
	for (i = 0; i < n; i++) {
		struct fdbox_item_info *it = &items[i];

		if (json_output) {
			jsonw_start_object(json_wtr);
			jsonw_string_field(json_wtr, "label", it->label);
			jsonw_string_field(json_wtr, "type", item_kind(it));
			jsonw_string_field(json_wtr, "compatible", it->compatible);
			jsonw_string_field(json_wtr, "state", item_state_name(it->state));
			jsonw_uint_field(json_wtr, "size", it->size);
			jsonw_uint_field(json_wtr, "preserved", it->preserved);
			jsonw_uint_field(json_wtr, "metadata", it->metadata);
			jsonw_end_object(json_wtr);
		} else {
			printf("%-24s %-16s %-10s %14llu %14llu %10llu\n", it->label,
			       item_kind(it), item_state_name(it->state),
			       (unsigned long long)it->size,
			       (unsigned long long)it->preserved,
			       (unsigned long long)it->metadata);
		}
	}
	if (json_output)
		jsonw_end_array(json_wtr);
	free(items);
	return EXIT_OK;
}

static int list_sessions(int fd, const char *side)
{
	struct fdbox_session_info *s = NULL;
	int n, i;

	n = fetch_list(fd, FDBOX_LIST_SESSIONS, NULL, (void **)&s, sizeof(*s));
	if (n < 0) {
		p_err("cannot list %s sessions: %s", side, strerror(errno));
		return EXIT_ERROR;
	}
	if (json_output)
		jsonw_start_array(json_wtr);
	else
		printf("%-24s %-9s %-9s %6s %14s\n", "SESSION", "SIDE", "STATE", "ITEMS",
		       "BYTES");
	for (i = 0; i < n; i++) {
		/* An incoming session nobody holds waits for an attach or a finish. */
		const char *state = strcmp(side, "incoming") ? "open" :
				    s[i].attached ? "attached" : "waiting";

		if (json_output) {
			jsonw_start_object(json_wtr);
			jsonw_string_field(json_wtr, "name", s[i].name);
			jsonw_string_field(json_wtr, "side", side);
			jsonw_uint_field(json_wtr, "items", s[i].nr_items);
			jsonw_uint_field(json_wtr, "bytes", s[i].preserved);
			jsonw_bool_field(json_wtr, "attached", s[i].attached);
			jsonw_string_field(json_wtr, "state", state);
			jsonw_end_object(json_wtr);
		} else {
			printf("%-24s %-9s %-9s %6u %14llu\n", s[i].name, side, state,
			       s[i].nr_items, (unsigned long long)s[i].preserved);
		}
	}
	if (json_output)
		jsonw_end_array(json_wtr);
	free(s);
	return EXIT_OK;
}

/* Does incoming session @name exist? */
static bool incoming_has(const char *name)
{
	struct fdbox_item_info *items = NULL;
	int fd = open(FDBOX_DESERIALIZE, O_RDWR | O_CLOEXEC), n;

	if (fd < 0)
		return false;
	n = fetch_list(fd, FDBOX_LIST, name, (void **)&items, sizeof(*items));
	close(fd);
	free(items);
	return n >= 0;
}

static int list_side(bool in, const char *session)
{
	int fd = open_device(in ? FDBOX_DESERIALIZE : FDBOX_SERIALIZE), ret;
	const char *side = in ? "incoming" : "outgoing";

	if (fd < 0)
		return EXIT_ERROR;
	ret = session ? list_items(fd, side, session) : list_sessions(fd, side);
	close(fd);
	return ret;
}

int do_list(int argc, char **argv)
{
	const char *side = NULL, *session;
	int ret;

	if (argc && (!strcmp(argv[0], "in") || !strcmp(argv[0], "out"))) {
		side = argv[0];
		argc--;
		argv++;
	}
	if (argc > 1)
		return usage_err("list takes [in | out] [SESSION]");
	session = argc ? argv[0] : NULL;
	if (side)
		return list_side(!strcmp(side, "in"), session);
	if (session)	/* incoming if there is one of that name */
		return list_side(incoming_has(session), session);
	/* Both sides' sessions, as one list. */
	if (json_output)
		jsonw_start_object(json_wtr);
	if (json_output)
		jsonw_name(json_wtr, "outgoing");
	ret = list_side(false, NULL);
	if (!ret && json_output)
		jsonw_name(json_wtr, "incoming");
	if (!ret)
		ret = list_side(true, NULL);
	if (json_output)
		jsonw_end_object(json_wtr);
	return ret;
}

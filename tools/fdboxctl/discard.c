// SPDX-License-Identifier: GPL-2.0
/* fdboxctl discard SESSION [LABEL]: release unclaimed incoming state. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "main.h"

int do_discard(int argc, char **argv)
{
	int fd, ret;

	if (argc < 1 || argc > 2)
		return usage_err("discard takes SESSION [LABEL]");
	fd = open_device(FDBOX_DESERIALIZE);
	if (fd < 0)
		return EXIT_ERROR;
	if (argc == 1) {
		struct fdbox_attach arg = { .size = sizeof(arg) };

		snprintf(arg.name, sizeof(arg.name), "%s", argv[0]);
		ret = ioctl(fd, FDBOX_DISCARD_SESSION, &arg);
	} else {
		struct fdbox_label arg = { .size = sizeof(arg) };

		snprintf(arg.session, sizeof(arg.session), "%s", argv[0]);
		snprintf(arg.label, sizeof(arg.label), "%s", argv[1]);
		ret = ioctl(fd, FDBOX_DISCARD, &arg);
	}
	close(fd);
	if (ret < 0) {
		if (errno == ENOENT && argc == 1)
			p_err("no incoming session '%s'", argv[0]);
		else if (errno == ENOENT)
			p_err("no item '%s' waiting in incoming session '%s'", argv[1], argv[0]);
		else if (errno == EBUSY)
			p_err("session '%s' is attached: its owner releases it with FDBOX_FINISH",
			      argv[0]);
		else if (errno == EINVAL)
			p_err("not a valid session name or label");
		else
			p_err("discard: %s", strerror(errno));
		return EXIT_ERROR;
	}
	if (json_output) {
		jsonw_start_object(json_wtr);
		jsonw_string_field(json_wtr, "discarded", argc == 1 ? "session" : "item");
		jsonw_string_field(json_wtr, "session", argv[0]);
		if (argc == 2)
			jsonw_string_field(json_wtr, "label", argv[1]);
		jsonw_end_object(json_wtr);
	} else {
		printf("discarded %s%s%s\n", argv[0], argc == 2 ? "/" : "",
		       argc == 2 ? argv[1] : "");
	}
	return EXIT_OK;
}

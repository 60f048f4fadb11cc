// SPDX-License-Identifier: GPL-2.0
/* fdbox as the bench's carrier: /dev/kho/serialize and deserialize. */
#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>

#include "bench.h"
#include "fdbox_lib.h"

#define SESSION		"bench"
#define LABEL		"mem"
#define KHO_OUT		"/sys/kernel/debug/kho/out/stats"

const char carrier_name[] = "fdbox";

void carrier_out(const struct step *s, int memfd)
{
	struct fdbox_item_info info;
	double t;
	int sess;

	sess = fdbox_session(SESSION);
	if (sess < 0)
		die("fdbox session");
	t = now();
	if (fdbox_deposit(sess, memfd, LABEL) < 0)
		die("FDBOX_DEPOSIT");
	report(s, "deposit_s", "%.6f", now() - t);
	t = now();
	if (fdbox_ioctl(sess, FDBOX_FINALIZE, NULL) < 0)
		die("FDBOX_FINALIZE");
	report(s, "finalize_s", "%.6f", now() - t);
	if (fdbox_list(sess, FDBOX_LIST, &info, 1, sizeof(info)) != 1)
		die("FDBOX_LIST");
	report(s, "memfd_metadata_bytes", "%llu", (unsigned long long)info.metadata);
	report(s, "kho_map_bytes", "%ld", fdbox_stat(KHO_OUT, "map_bytes"));
	report(s, "kho_fdt_bytes", "%ld", fdbox_stat(KHO_OUT, "fdt_bytes"));
	/* The session stays open until the kexec. */
	if (fdbox_hold_forever() < 0)
		die("fork");
	close(sess);
}

int carrier_in(const struct step *s)
{
	int d = fdbox_attach(SESSION), m;

	if (d < 0)
		die("FDBOX_ATTACH");
	m = fdbox_retrieve(d, LABEL, 0);
	if (m < 0)
		die("FDBOX_RETRIEVE");
	close(d);
	return m;
}

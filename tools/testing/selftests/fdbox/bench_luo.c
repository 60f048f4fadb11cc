// SPDX-License-Identifier: GPL-2.0
/*
 * Upstream's Live Update Orchestrator (Linux 7.x) as the bench's carrier,
 * for make bench PEER=luo: /dev/liveupdate. Built against the peer
 * kernel's UAPI headers. LUO has no finalize step of its own (the kexec
 * serializes), and does not report its handover size.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/liveupdate.h>

#include "bench.h"
#include "fdbox_lib.h"

#define SESSION		"bench"
#define TOKEN		1

const char carrier_name[] = "luo";
const bool carrier_keeps_devices = false;

void carrier_out(const struct step *s, int memfd)
{
	struct liveupdate_ioctl_create_session cs = { .size = sizeof(cs) };
	struct liveupdate_session_preserve_fd pf = { .size = sizeof(pf) };
	double t;
	int lu;

	lu = open("/dev/liveupdate", O_RDWR);
	if (lu < 0)
		die("/dev/liveupdate");
	snprintf((char *)cs.name, sizeof(cs.name), "%s", SESSION);
	if (ioctl(lu, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs) < 0)
		die("LIVEUPDATE_IOCTL_CREATE_SESSION");
	close(lu);
	pf.fd = memfd;
	pf.token = TOKEN;
	t = now();
	if (ioctl(cs.fd, LIVEUPDATE_SESSION_PRESERVE_FD, &pf) < 0)
		die("LIVEUPDATE_SESSION_PRESERVE_FD");
	report(s, "deposit_s", "%.6f", now() - t);
	/* The session must stay open until the kexec. */
	if (fdbox_hold_forever() < 0)
		die("fork");
	close(cs.fd);
}

int carrier_in(const struct step *s)
{
	struct liveupdate_ioctl_retrieve_session rs = { .size = sizeof(rs) };
	struct liveupdate_session_retrieve_fd rf = { .size = sizeof(rf) };
	struct liveupdate_session_finish fin = { .size = sizeof(fin) };
	int lu = open("/dev/liveupdate", O_RDWR);

	if (lu < 0)
		die("/dev/liveupdate");
	snprintf((char *)rs.name, sizeof(rs.name), "%s", SESSION);
	if (ioctl(lu, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &rs) < 0)
		die("LIVEUPDATE_IOCTL_RETRIEVE_SESSION");
	rf.token = TOKEN;
	if (ioctl(rs.fd, LIVEUPDATE_SESSION_RETRIEVE_FD, &rf) < 0)
		die("LIVEUPDATE_SESSION_RETRIEVE_FD");
	if (ioctl(rs.fd, LIVEUPDATE_SESSION_FINISH, &fin) < 0)
		die("LIVEUPDATE_SESSION_FINISH");
	close(rs.fd);
	close(lu);
	return rf.fd;
}

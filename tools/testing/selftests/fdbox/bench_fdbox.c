// SPDX-License-Identifier: GPL-2.0
/* fdbox as the bench's carrier: /dev/kho/serialize and deserialize. */
#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>

#include "bench.h"
#include "fdbox_lib.h"
#include "fdbox_vfio_lib.h"

#define SESSION		"bench"
#define LABEL		"mem"
#define DEVICE		"dev"
#define KHO_OUT		"/sys/kernel/debug/kho/out/stats"

const char carrier_name[] = "fdbox";
const bool carrier_keeps_devices = true;

static bool with_device(const struct step *s)
{
	size_t n = strlen(s->mode);

	return n > 5 && !strcmp(s->mode + n - 5, "-vfio");
}

/* Open edu through vfio-pci, bus mastering on, and deposit it. */
static void device_out(const struct step *s, int sess)
{
	struct vdev v;
	double t;

	if (setup_device(&v, EDU_VENDOR, EDU_DEVICE))
		die("edu through vfio-pci (-device edu, vfio.enable_unsafe_noiommu_mode=1)");
	if (cfg_write16(&v, PCI_COMMAND, cfg_read16(&v, PCI_COMMAND) | PCI_COMMAND_MASTER))
		die("PCI_COMMAND");
	t = now();
	if (deposit_depending(sess, v.fd, DEVICE, LABEL) < 0)
		die("FDBOX_DEPOSIT of the device");
	report(s, "device_deposit_s", "%.6f", now() - t);
	close_vdev(&v);
}

/* The device back, answering at once. */
static void device_in(const struct step *s, int d)
{
	struct vdev v = { .container = -1, .group = -1 };
	double t = now();

	v.fd = fdbox_retrieve(d, DEVICE, 0);
	if (v.fd < 0)
		die("FDBOX_RETRIEVE of the device");
	if (map_device(&v) || r32(&v, EDU_ID) != 0x010000ed)
		die("the retrieved device does not answer");
	report(s, "device_retrieve_s", "%.6f", now() - t);
	close_vdev(&v);
}

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
	if (with_device(s))
		device_out(s, sess);
	t = now();
	if (fdbox_ioctl(sess, FDBOX_FINALIZE, NULL) < 0)
		die("FDBOX_FINALIZE");
	report(s, "finalize_s", "%.6f", now() - t);
	/* The memfd's entry comes first. */
	if (fdbox_list(sess, FDBOX_LIST, &info, 1, sizeof(info)) < 1)
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
	if (with_device(s))
		device_in(s, d);
	close(d);
	return m;
}

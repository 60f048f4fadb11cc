// SPDX-License-Identifier: GPL-2.0
/*
 * kho_test: Kexec HandOver across real kexecs, driven through the KHO test
 * facility in debugfs (CONFIG_KEXEC_HANDOVER_TEST). Scenarios (--case):
 *
 * roundtrip  stage 1 preserves folios of orders 0-10 full of pseudo-random
 *            data; stage 2 restores them, checks order and CRC of every
 *            one, frees them and sees MemFree come back
 * release    the same, but the image is loaded before the folios are
 *            preserved, and stage 2 releases them unclaimed
 * nothing    nothing preserved: the next kernel gets no handover
 * kexec_load a kexec of an image loaded with kexec_load is refused with
 *            EBUSY while memory is preserved; kexec -s then carries it
 * corrupt    (--any-stage) each stage damages its handover a different
 *            way (15 kinds); the next stage checks it was refused in one
 *            log line and nothing exposed, or, for an unknown handler,
 *            that only that item is refused
 * metadata   one stage: what the handover costs per GiB preserved, read
 *            from debugfs, for 4 KiB pages as allocated, 4 KiB pages every
 *            other page, 2 MiB folios and 4 MiB folios
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <linux/reboot.h>

#include "fdbox_stage.h"
#include "fdbox_lib.h"

#define KHO "/sys/kernel/debug/kho"
#define CTL KHO "/test/ctl"
#define NR_FOLIOS 110	/* ten of each order 0-10: 80 MiB */
#define NR_SMALL 22
#define SEED 20261122

/* Pages in one of each order 0..10, times the number of rounds. */
#define PRESERVED_BYTES(n) ((long)((n) / 11) * 2047 * 4096)

static int ctl(const char *cmd)
{
	int fd = open(CTL, O_WRONLY);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, cmd, strlen(cmd)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int kmsg_has(const char *text)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "dmesg | grep -qF '%s'", text);
	return system(cmd) == 0;
}

static int preserve(int n)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "preserve %d %d", n, SEED);
	return ctl(cmd);
}

/* ---- roundtrip ---- */

FDBOX_STAGE_FIXTURE(roundtrip_stage1);
FDBOX_STAGE_FIXTURE(roundtrip_stage2);

/*
 * kho_preserve_folios(): a batch with a folio twice, or a run over a
 * preserved page, preserves none of it.
 */
TEST_F(roundtrip_stage1, batch_all_or_none)
{
	ASSERT_EQ(0, ctl("batch"))
		TH_LOG("the batch test failed: see dmesg for kho-test's reason");
	ASSERT_EQ(0, fdbox_stat(KHO "/out/stats", "preserved_folios"));
}

/* kho_range_in_scratch() at the edges of each scratch region. */
TEST_F(roundtrip_stage1, range_in_scratch)
{
	ASSERT_EQ(0, ctl("scratch"))
		TH_LOG("the scratch test failed: see dmesg for kho-test's reason");
}

TEST_F(roundtrip_stage1, preserve_mixed_orders)
{
	ASSERT_EQ(0, preserve(NR_FOLIOS));
	ASSERT_EQ(NR_FOLIOS, fdbox_stat(KHO "/out/stats", "preserved_folios"));
	ASSERT_EQ(PRESERVED_BYTES(NR_FOLIOS), fdbox_stat(KHO "/out/stats", "preserved_bytes"));
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(roundtrip_stage2, handover_arrived)
{
	ASSERT_EQ(1, fdbox_stat(KHO "/in/stats", "present"))
		TH_LOG("no handover: was it refused? see dmesg");
	ASSERT_EQ(NR_FOLIOS, fdbox_stat(KHO "/in/stats", "preserved_folios"));
}

/* The kexec put the kernel, KASLR or not, inside scratch. */
TEST_F(roundtrip_stage2, kernel_in_scratch)
{
	unsigned long long ks = 0, ke = 0, s, size;
	char line[256];
	int inside = 0;
	FILE *f = fopen("/proc/iomem", "r");

	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "Kernel code"))
			sscanf(line, " %llx-%llx", &ks, &ke);
	fclose(f);
	ASSERT_NE(0, ks) TH_LOG("no 'Kernel code' in /proc/iomem");

	f = fopen(KHO "/scratch", "r");
	ASSERT_NE(NULL, f);
	while (fscanf(f, "%llx %llx", &s, &size) == 2)
		if (ks >= s && ke < s + size)
			inside = 1;
	fclose(f);
	ASSERT_TRUE(inside) TH_LOG("kernel code at %llx-%llx is outside scratch", ks, ke);
}

TEST_F(roundtrip_stage2, restore_and_verify)
{
	ASSERT_EQ(0, ctl("verify"));
	EXPECT_EQ(0, fdbox_stat(KHO "/test/status", "missing"));
	EXPECT_EQ(0, fdbox_stat(KHO "/test/status", "bad"));
	ASSERT_EQ(NR_FOLIOS, fdbox_stat(KHO "/test/status", "verified"));
}

TEST_F(roundtrip_stage2, freed_memory_returns)
{
	long before = fdbox_memfree_kb(), after;

	ASSERT_EQ(0, ctl("release"));
	after = fdbox_memfree_kb();
	ASSERT_GE(after - before, PRESERVED_BYTES(NR_FOLIOS) / 1024 * 9 / 10)
		TH_LOG("MemFree grew by %ld kB only", after - before);
}

/* ---- release: unclaimed memory goes back ---- */

FDBOX_STAGE_FIXTURE(release_stage1);
FDBOX_STAGE_FIXTURE(release_stage2);

/* Loaded first, preserved after: the loaded image still carries it all. */
TEST_F(release_stage1, load_then_preserve)
{
	ASSERT_EQ(0, fdbox_next_load(NULL));
	ASSERT_EQ(0, preserve(NR_FOLIOS));
}

TEST_F(release_stage2, release_unclaimed)
{
	long before = fdbox_memfree_kb(), after;

	ASSERT_EQ(1, fdbox_stat(KHO "/in/stats", "present"));
	ASSERT_EQ(0, fdbox_stat(KHO "/in/stats", "released_bytes"));
	ASSERT_EQ(0, ctl("release"));
	after = fdbox_memfree_kb();
	ASSERT_EQ(NR_FOLIOS, fdbox_stat(KHO "/test/status", "released"));
	ASSERT_EQ(PRESERVED_BYTES(NR_FOLIOS), fdbox_stat(KHO "/in/stats", "released_bytes"));
	ASSERT_GE(after - before, PRESERVED_BYTES(NR_FOLIOS) / 1024 * 9 / 10)
		TH_LOG("MemFree grew by %ld kB only", after - before);
	/* Released once: a second release finds nothing left. */
	ASSERT_EQ(0, ctl("release"));
	ASSERT_EQ(NR_FOLIOS, fdbox_stat(KHO "/test/status", "released"));
}

/* ---- nothing preserved ---- */

FDBOX_STAGE_FIXTURE(nothing_stage1);
FDBOX_STAGE_FIXTURE(nothing_stage2);

TEST_F(nothing_stage1, load_with_nothing_preserved)
{
	ASSERT_EQ(0, fdbox_stat(KHO "/out/stats", "preserved_folios"));
	ASSERT_EQ(0, fdbox_stat(KHO "/out/stats", "subtrees"));
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(nothing_stage2, no_handover)
{
	ASSERT_EQ(0, fdbox_stat(KHO "/in/stats", "present"));
	ASSERT_EQ(0, fdbox_stat(KHO "/in/stats", "preserved_folios"));
	ASSERT_FALSE(kmsg_has("refused"));
	ASSERT_EQ(-ENOENT, ctl("verify"));
}

/* ---- kexec_load cannot carry a handover ---- */

FDBOX_STAGE_FIXTURE(kexec_load_stage1);
FDBOX_STAGE_FIXTURE(kexec_load_stage2);

TEST_F(kexec_load_stage1, refused_then_kexec_s)
{
	long ret;

	ASSERT_EQ(0, preserve(NR_SMALL));
	/* fdbox-next builds the next initramfs; then replace the image. */
	ASSERT_EQ(0, fdbox_next_load(NULL));
	ASSERT_EQ(0, system("kexec -l /boot/bzImage --initrd=/run/fdbox-next.cpio "
			    "--append=\"$(cat /etc/fdbox/cmdline) fdbox.stage=2\""));
	ret = syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
		      LINUX_REBOOT_CMD_KEXEC, NULL);
	ASSERT_EQ(-1, ret);
	ASSERT_EQ(EBUSY, errno);
	ASSERT_TRUE(kmsg_has("kho: kexec refused"));
	ASSERT_EQ(NR_SMALL, fdbox_stat(KHO "/out/stats", "preserved_folios"));
	/* The retry with kexec_file_load goes through (init runs kexec -e). */
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(kexec_load_stage2, state_survived)
{
	ASSERT_EQ(1, fdbox_stat(KHO "/in/stats", "present"));
	ASSERT_EQ(0, ctl("verify"));
	ASSERT_EQ(NR_SMALL, fdbox_stat(KHO "/test/status", "verified"));
	ASSERT_EQ(0, ctl("release"));
}

/*
 * ---- corrupt handovers: one kind per stage ----
 * Each stage preserves test folios and deposits two memfds ("a", "b") in
 * an fdbox session, then damages its handover one way (kho/out/corrupt).
 * The next kernel must boot and log one refusal: KHO refuses the whole
 * handover for damage to its header, FDT or memory map (nothing is
 * exposed, the deserialize view is empty); fdbox refuses its subtree for
 * an unknown root compatible (empty view); an item of an unknown handler
 * is listed but cannot be retrieved, and the other item arrives intact.
 */

static const char * const corruptions[] = {
	"fdt", "header", "outside-ram", "overlap", "compatible",
	"version", "fdt-magic", "truncated", "extent-align", "extents-length",
	"bitmap-align", "no-scratch", "in-scratch",
	"subtree-compatible", "handler-compatible",
};
#define NR_CORRUPTIONS (sizeof(corruptions) / sizeof(corruptions[0]))
#define CORRUPT_MEMFD (1 << 20)

/* How many kernel log lines contain @text. */
static int kmsg_count(const char *text)
{
	char cmd[512];
	int n = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "dmesg | grep -cF '%s'", text);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (fscanf(p, "%d", &n) != 1)
		n = -1;
	pclose(p);
	return n;
}

/* Sessions in the deserialize view. */
static int incoming_sessions(void)
{
	struct fdbox_session_info info[4];
	int d = open(FDBOX_DESERIALIZE, O_RDWR), n;

	if (d < 0)
		return -errno;
	n = fdbox_list(d, FDBOX_LIST_SESSIONS, info, 4, sizeof(info[0]));
	close(d);
	return n;
}

FDBOX_STAGE_FIXTURE(corrupt);

TEST_F(corrupt, previous_handover_refused)
{
	const char *kind;
	int d, m;
	void *map;

	if (fdbox_stage == 1)
		SKIP(return, "stage 1 has no previous kernel");
	kind = corruptions[fdbox_stage - 2];
	TH_LOG("the previous stage corrupted '%s'", kind);
	if (strncmp(kind, "subtree", 7) && strncmp(kind, "handler", 7)) {
		/* KHO refuses everything, in one line. */
		ASSERT_EQ(1, kmsg_count("kho: handover from the previous kernel refused ("));
		ASSERT_EQ(0, fdbox_stat(KHO "/in/stats", "present"));
		ASSERT_EQ(0, fdbox_stat(KHO "/in/stats", "preserved_folios"));
		ASSERT_NE(0, access(KHO "/in/fdt", F_OK));
		ASSERT_EQ(-ENOENT, ctl("verify"));
		ASSERT_EQ(0, incoming_sessions());
		return;
	}
	/* KHO took it; fdbox judges its own part. */
	ASSERT_EQ(0, kmsg_count("kho: handover from the previous kernel refused ("));
	ASSERT_EQ(1, fdbox_stat(KHO "/in/stats", "present"));
	if (!strcmp(kind, "subtree-compatible")) {
		ASSERT_EQ(1, kmsg_count("fdbox: incoming sessions refused (not "));
		ASSERT_EQ(0, incoming_sessions());
		return;
	}
	ASSERT_EQ(0, ctl("verify"));
	ASSERT_EQ(0, ctl("release"));
	ASSERT_EQ(1, kmsg_count("no handler for"));
	ASSERT_EQ(1, incoming_sessions());
	d = fdbox_attach("corrupt");
	ASSERT_LE(0, d);
	EXPECT_EQ(-EOPNOTSUPP, fdbox_retrieve(d, "a", 0));
	m = fdbox_retrieve(d, "b", 0);
	ASSERT_LE(0, m);
	map = mmap(NULL, CORRUPT_MEMFD, PROT_READ, MAP_SHARED, m, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(-1, fdbox_check(map, 0, CORRUPT_MEMFD, SEED + 'b'));
	munmap(map, CORRUPT_MEMFD);
	close(m);
	EXPECT_EQ(0, fdbox_finish(d));
	close(d);
}

TEST_F(corrupt, corrupt_next_handover)
{
	char path[] = KHO "/out/corrupt";
	const char *labels[] = { "a", "b" };
	int fd, s, m, i;
	void *map;

	if (fdbox_stage > (int)NR_CORRUPTIONS)
		SKIP(return, "all kinds done");
	/*
	 * Scattered pages make the bitmaps there is to damage; only fdbox
	 * has nested compatibles for the subtree kinds to hit.
	 */
	if (!strcmp(corruptions[fdbox_stage - 1], "bitmap-align")) {
		ASSERT_EQ(0, ctl("scatter 64"));
	} else if (strncmp(corruptions[fdbox_stage - 1], "subtree", 7)) {
		ASSERT_EQ(0, preserve(NR_SMALL));
	}
	s = fdbox_session("corrupt");
	ASSERT_LE(0, s);
	for (i = 0; i < 2; i++) {
		m = fdbox_memfd(labels[i], 0, CORRUPT_MEMFD, &map);
		ASSERT_LE(0, m);
		fdbox_fill(map, 0, CORRUPT_MEMFD, SEED + labels[i][0]);
		munmap(map, CORRUPT_MEMFD);
		ASSERT_EQ(0, fdbox_deposit(s, m, labels[i]));
		close(m);
	}
	fd = open(path, O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_LT(0, write(fd, corruptions[fdbox_stage - 1],
			   strlen(corruptions[fdbox_stage - 1])));
	close(fd);
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

/* ---- metadata: handover bytes per GiB preserved ---- */

#define GIB_PAGES (1L << 18)

FDBOX_STAGE_FIXTURE(metadata_stage1);

/* Preserve, read the cost, undo. Returns the FDT bytes. */
static long measure(struct __test_metadata *_metadata, const char *cmd, const char *what)
{
	long fdt, map, ext, bm;

	EXPECT_EQ(0, ctl(cmd)) TH_LOG("%s", cmd);
	fdt = fdbox_stat(KHO "/out/stats", "fdt_bytes");
	map = fdbox_stat(KHO "/out/stats", "map_bytes");
	ext = fdbox_stat(KHO "/out/stats", "extents");
	bm = fdbox_stat(KHO "/out/stats", "bitmaps");
	EXPECT_EQ(GIB_PAGES * 4096, fdbox_stat(KHO "/out/stats", "preserved_bytes"));
	printf("# metadata: 1 GiB of %s: %ld extents, %ld bitmaps, %ld map bytes, %ld FDT bytes\n",
	       what, ext, bm, map, fdt);
	EXPECT_EQ(0, ctl("cancel"));
	return fdt;
}

TEST_F_TIMEOUT(metadata_stage1, pages_as_allocated_under_64k, 600)
{
	ASSERT_GT(65536, measure(_metadata, "contig 262144 0", "4 KiB pages as allocated"));
}

TEST_F_TIMEOUT(metadata_stage1, every_other_page, 600)
{
	/*
	 * Half the pages of a 2 GiB span, chosen freely, cannot be described
	 * in less than 64 KiB (log2 C(2^19, 2^18) bits): only report it.
	 */
	measure(_metadata, "scatter 262144", "4 KiB pages, every other page");
}

TEST_F_TIMEOUT(metadata_stage1, huge_folios_under_1k, 600)
{
	ASSERT_GT(1024, measure(_metadata, "contig 262144 9", "2 MiB folios"));
}

TEST_F_TIMEOUT(metadata_stage1, large_folios_under_1k, 600)
{
	ASSERT_GT(1024, measure(_metadata, "contig 262144 10", "4 MiB folios"));
}

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
 *            way; the next stage checks it was refused and nothing exposed
 * metadata   one stage: what the handover costs per GiB preserved, read
 *            from debugfs, for 4 KiB pages as allocated, 4 KiB pages every
 *            other page, 2 MiB folios and 4 MiB folios
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <linux/reboot.h>

#include "fdbox_stage.h"

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

/* The value of "key N" in a debugfs stats file, or -1. */
static long stat_of(const char *path, const char *key)
{
	char line[256], name[128];
	long val, ret = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%127s %ld", name, &val) == 2 && !strcmp(name, key))
			ret = val;
	fclose(f);
	return ret;
}

static long memfree_kb(void)
{
	return stat_of("/proc/meminfo", "MemFree:");
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

TEST_F(roundtrip_stage1, preserve_mixed_orders)
{
	ASSERT_EQ(0, preserve(NR_FOLIOS));
	ASSERT_EQ(NR_FOLIOS, stat_of(KHO "/out/stats", "preserved_folios"));
	ASSERT_EQ(PRESERVED_BYTES(NR_FOLIOS), stat_of(KHO "/out/stats", "preserved_bytes"));
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(roundtrip_stage2, handover_arrived)
{
	ASSERT_EQ(1, stat_of(KHO "/in/stats", "present"))
		TH_LOG("no handover: was it refused? see dmesg");
	ASSERT_EQ(NR_FOLIOS, stat_of(KHO "/in/stats", "preserved_folios"));
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
	EXPECT_EQ(0, stat_of(KHO "/test/status", "missing"));
	EXPECT_EQ(0, stat_of(KHO "/test/status", "bad"));
	ASSERT_EQ(NR_FOLIOS, stat_of(KHO "/test/status", "verified"));
}

TEST_F(roundtrip_stage2, freed_memory_returns)
{
	long before = memfree_kb(), after;

	ASSERT_EQ(0, ctl("release"));
	after = memfree_kb();
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
	long before = memfree_kb(), after;

	ASSERT_EQ(1, stat_of(KHO "/in/stats", "present"));
	ASSERT_EQ(0, stat_of(KHO "/in/stats", "released_bytes"));
	ASSERT_EQ(0, ctl("release"));
	after = memfree_kb();
	ASSERT_EQ(NR_FOLIOS, stat_of(KHO "/test/status", "released"));
	ASSERT_EQ(PRESERVED_BYTES(NR_FOLIOS), stat_of(KHO "/in/stats", "released_bytes"));
	ASSERT_GE(after - before, PRESERVED_BYTES(NR_FOLIOS) / 1024 * 9 / 10)
		TH_LOG("MemFree grew by %ld kB only", after - before);
	/* Released once: a second release finds nothing left. */
	ASSERT_EQ(0, ctl("release"));
	ASSERT_EQ(NR_FOLIOS, stat_of(KHO "/test/status", "released"));
}

/* ---- nothing preserved ---- */

FDBOX_STAGE_FIXTURE(nothing_stage1);
FDBOX_STAGE_FIXTURE(nothing_stage2);

TEST_F(nothing_stage1, load_with_nothing_preserved)
{
	ASSERT_EQ(0, stat_of(KHO "/out/stats", "preserved_folios"));
	ASSERT_EQ(0, stat_of(KHO "/out/stats", "subtrees"));
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(nothing_stage2, no_handover)
{
	ASSERT_EQ(0, stat_of(KHO "/in/stats", "present"));
	ASSERT_EQ(0, stat_of(KHO "/in/stats", "preserved_folios"));
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
	ASSERT_EQ(NR_SMALL, stat_of(KHO "/out/stats", "preserved_folios"));
	/* The retry with kexec_file_load goes through (init runs kexec -e). */
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(kexec_load_stage2, state_survived)
{
	ASSERT_EQ(1, stat_of(KHO "/in/stats", "present"));
	ASSERT_EQ(0, ctl("verify"));
	ASSERT_EQ(NR_SMALL, stat_of(KHO "/test/status", "verified"));
	ASSERT_EQ(0, ctl("release"));
}

/* ---- corrupt handovers: one kind per stage ---- */

static const char * const corruptions[] = {
	"fdt", "header", "outside-ram", "overlap", "compatible",
};
#define NR_CORRUPTIONS (sizeof(corruptions) / sizeof(corruptions[0]))

FDBOX_STAGE_FIXTURE(corrupt);

TEST_F(corrupt, previous_handover_refused)
{
	if (fdbox_stage == 1)
		SKIP(return, "stage 1 has no previous kernel");
	TH_LOG("the previous stage corrupted '%s'", corruptions[fdbox_stage - 2]);
	ASSERT_TRUE(kmsg_has("kho: handover from the previous kernel refused"));
	ASSERT_EQ(0, stat_of(KHO "/in/stats", "present"));
	ASSERT_EQ(0, stat_of(KHO "/in/stats", "preserved_folios"));
	ASSERT_NE(0, access(KHO "/in/fdt", F_OK));
	ASSERT_EQ(-ENOENT, ctl("verify"));
}

TEST_F(corrupt, corrupt_next_handover)
{
	char path[] = KHO "/out/corrupt";
	int fd;

	if (fdbox_stage > (int)NR_CORRUPTIONS)
		SKIP(return, "all kinds done");
	ASSERT_EQ(0, preserve(NR_SMALL));
	fd = open(path, O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_LT(0, write(fd, corruptions[fdbox_stage - 1],
			   strlen(corruptions[fdbox_stage - 1])));
	close(fd);
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
	fdt = stat_of(KHO "/out/stats", "fdt_bytes");
	map = stat_of(KHO "/out/stats", "map_bytes");
	ext = stat_of(KHO "/out/stats", "extents");
	bm = stat_of(KHO "/out/stats", "bitmaps");
	EXPECT_EQ(GIB_PAGES * 4096, stat_of(KHO "/out/stats", "preserved_bytes"));
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

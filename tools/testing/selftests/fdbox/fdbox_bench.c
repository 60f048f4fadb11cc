// SPDX-License-Identifier: GPL-2.0
/*
 * fdbox_bench: the guest side of `make bench`. Each boot of the bench VM
 * finishes the step the previous boot started (after the kexec) and
 * starts the next one (before it), so every step is one live update:
 *
 *   fdbox_bench --plan FILE --stage N     in stage N: finish step N-1,
 *                                         start step N
 *   fdbox_bench --kexec N                 the kexec of step N, stamped
 *
 * A plan line is "MODE MIB REP [profile]"; MODE is one of
 *   floor      nothing carried: the cost of the kexec itself
 *   fdbox      a memfd of MIB, 4 KiB pages, deposited, carried zero-copy
 *   fdbox-thp  the same with transparent huge pages
 *   fdbox-hugetlb  the same on 2 MiB hugetlb pages (MFD_HUGETLB), from a
 *              pool sized for the step
 *   fdbox-vfio a memfd of MIB, 4 KiB pages, and a vfio-pci device (QEMU's
 *              edu, no-IOMMU) depending on it, kept running: the same
 *              live update with a device
 *   luo[-thp]  the same through upstream's LUO (luo_bench, PEER=luo)
 *   copy       the copy-based live update: the memfd written to a file
 *              on the virtio disk with O_DIRECT (io_uring, registered
 *              buffers, several requests in flight), read back after
 *   vmm[-thp|-hugetlb]  a running VM (samples/fdbox/fdbox-vmm) with MIB
 *              of guest RAM: its blackout, by its own clock (bench_vmm.c)
 * With "profile", the step's phases run under ftrace's function profiler
 * (bench_profile.c) and are not timed.
 *
 * Results are lines "# bench: STEP MODE MIB REP KEY VALUE" on the output
 * serial port; the host (bench.py) turns them into tables. Times come
 * from clock_gettime(CLOCK_MONOTONIC), except the kexec's, which is the
 * TSC from the reboot call to this program's start in the new kernel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <liburing.h>
#include <sys/mman.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <x86intrin.h>
#include <linux/reboot.h>

#include "bench.h"
#include "fdbox_lib.h"

#define MiB		(1UL << 20)
#define SEED		0xbe9c4ULL
#define DISK		"/dev/vda"
#define MNT		"/mnt"
#define COPY_FILE	MNT "/mem.img"
#define THP_SHMEM	"/sys/kernel/mm/transparent_hugepage/shmem_enabled"
#define HUGE_2M		"/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
#define MFD_HUGE_2M	(21U << 26)	/* MFD_HUGE_2MB */

/* The copy path: 1 MiB requests, this many in flight. */
#define IO_SIZE		MiB
#define IO_DEPTH	32
#define REG_CHUNK	(256 * MiB)	/* one registered buffer */

static uint64_t tsc0;
static double mono0, boot0;

/* Seconds since this kernel's clocks started. */
static double boottime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void die(const char *what)
{
	fprintf(stderr, "fdbox_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

void report(const struct step *s, const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("# bench: %d %s %lu %d %s ", s->nr, s->mode, s->mib, s->rep, key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static int read_step(const char *plan, int nr, struct step *s)
{
	FILE *f = fopen(plan, "r");
	char line[128], extra[16];
	int i = 0, n;

	if (!f)
		die(plan);
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (++i < nr)
			continue;
		s->nr = nr;
		n = sscanf(line, "%15s %lu %d %15s", s->mode, &s->mib, &s->rep, extra);
		s->profile = n == 4 && !strcmp(extra, "profile");
		if (n < 3 || (n == 4 && !s->profile)) {
			fprintf(stderr, "fdbox_bench: bad plan line %d: %s", i, line);
			exit(1);
		}
		fclose(f);
		return 1;
	}
	fclose(f);
	return 0;
}

/* Is the step's memory handed to the carrier (not floor, not copy)? */
static bool is_carried(const struct step *s)
{
	size_t n = strlen(carrier_name);

	return !strncmp(s->mode, carrier_name, n) &&
	       (!s->mode[n] || !strcmp(s->mode + n, "-thp") ||
		!strcmp(s->mode + n, "-hugetlb") ||
		(carrier_keeps_devices && !strcmp(s->mode + n, "-vfio")));
}

static bool is_hugetlb(const struct step *s)
{
	size_t n = strlen(s->mode);

	return n > 8 && !strcmp(s->mode + n - 8, "-hugetlb");
}

/* A pool of exactly the 2 MiB pages the step needs (none for the others). */
static void set_hugetlb_pool(unsigned long pages)
{
	char buf[32];
	int fd = open(HUGE_2M, O_WRONLY);
	int n = snprintf(buf, sizeof(buf), "%lu\n", pages);

	if (fd < 0 || write(fd, buf, n) != n)
		die(HUGE_2M);
	close(fd);
}

static bool is_thp(const struct step *s)
{
	size_t n = strlen(s->mode);

	return n > 4 && !strcmp(s->mode + n - 4, "-thp");
}

static void set_thp(bool on)
{
	int fd = open(THP_SHMEM, O_WRONLY);

	if (fd < 0 || write(fd, on ? "always" : "never", on ? 6 : 5) < 0)
		die(THP_SHMEM);
	close(fd);
}

static void mount_disk(void)
{
	mkdir(MNT, 0755);
	if (mount(DISK, MNT, "ext2", 0, NULL) < 0 && errno != EBUSY)
		die("mount " DISK);
}

/* Register @map as fixed buffers of REG_CHUNK bytes each. */
static void register_map(struct io_uring *ring, char *map, size_t size)
{
	size_t n = (size + REG_CHUNK - 1) / REG_CHUNK, i;
	struct iovec *iov = calloc(n, sizeof(*iov));

	for (i = 0; i < n; i++) {
		iov[i].iov_base = map + i * REG_CHUNK;
		iov[i].iov_len = size - i * REG_CHUNK < REG_CHUNK ? size - i * REG_CHUNK :
								     REG_CHUNK;
	}
	errno = -io_uring_register_buffers(ring, iov, n);
	if (errno)
		die("io_uring_register_buffers");
	free(iov);
}

/* Move @size bytes between @map and @fd with O_DIRECT, IO_DEPTH at a time. */
static void copy_io(int fd, char *map, size_t size, bool write)
{
	size_t submitted = 0, done = 0;
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	int inflight = 0;

	errno = -io_uring_queue_init(IO_DEPTH, &ring, 0);
	if (errno)
		die("io_uring_queue_init");
	register_map(&ring, map, size);
	while (done < size) {
		while (inflight < IO_DEPTH && submitted < size) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			int idx = submitted / REG_CHUNK;

			if (write)
				io_uring_prep_write_fixed(sqe, fd, map + submitted, IO_SIZE,
							  submitted, idx);
			else
				io_uring_prep_read_fixed(sqe, fd, map + submitted, IO_SIZE,
							 submitted, idx);
			submitted += IO_SIZE;
			inflight++;
		}
		io_uring_submit(&ring);
		errno = -io_uring_wait_cqe(&ring, &cqe);
		if (errno)
			die("io_uring_wait_cqe");
		if (cqe->res != IO_SIZE) {
			errno = cqe->res < 0 ? -cqe->res : EIO;
			die(write ? "write " COPY_FILE : "read " COPY_FILE);
		}
		io_uring_cqe_seen(&ring, cqe);
		inflight--;
		done += IO_SIZE;
	}
	io_uring_queue_exit(&ring);
}

/* Before the kexec: put the step's memory where the kexec will carry it. */
static void start_step(const struct step *s)
{
	size_t size = s->mib * MiB;
	double t;
	void *map;
	int m, fd;

	if (!strcmp(s->mode, "floor"))
		return;
	if (is_vmm(s)) {
		set_thp(is_thp(s));
		set_hugetlb_pool(is_hugetlb(s) ? size / (2 * MiB) : 0);
		vmm_start_step(s);
		return;
	}
	if (strcmp(s->mode, "copy") && !is_carried(s)) {
		fprintf(stderr, "fdbox_bench: %s cannot run mode %s\n", carrier_name, s->mode);
		exit(1);
	}
	set_thp(is_thp(s));
	set_hugetlb_pool(is_hugetlb(s) ? size / (2 * MiB) : 0);
	m = fdbox_memfd("bench", is_hugetlb(s) ? MFD_HUGETLB | MFD_HUGE_2M : 0, size, &map);
	if (m < 0) {
		errno = -m;
		die("memfd");
	}
	fdbox_fill(map, 0, size, SEED ^ s->nr);

	if (is_carried(s)) {
		if (s->profile)
			profile_start();
		carrier_out(s, m);
		if (s->profile)
			profile_stop(s, "deposit+finalize");
	} else {
		mount_disk();
		unlink(COPY_FILE);
		t = now();
		fd = open(COPY_FILE, O_CREAT | O_WRONLY | O_DIRECT, 0600);
		if (fd < 0)
			die(COPY_FILE);
		copy_io(fd, map, size, true);
		if (fsync(fd) < 0)
			die("fsync");
		close(fd);
		report(s, "save_s", "%.6f", now() - t);
	}
	munmap(map, size);
	close(m);
}

/* After the kexec: take the memory back, read it all once, verify it. */
static void finish_step(const struct step *s)
{
	size_t size = s->mib * MiB, i;
	uint64_t sum = 0;
	double t;
	long bad;
	char *map;
	int m, fd;

	if (!strcmp(s->mode, "floor"))
		return;
	/* As before the kexec: THP mappings need THP on for shmem. */
	set_thp(is_thp(s));
	if (is_vmm(s)) {
		vmm_finish_step(s);
		return;
	}
	if (s->profile)
		profile_start();
	t = now();
	if (is_carried(s)) {
		m = carrier_in(s);
		map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
		if (map == MAP_FAILED)
			die("mmap");
	} else {
		mount_disk();
		m = fdbox_memfd("bench", 0, size, (void **)&map);
		if (m < 0) {
			errno = -m;
			die("memfd");
		}
		fd = open(COPY_FILE, O_RDONLY | O_DIRECT);
		if (fd < 0)
			die(COPY_FILE);
		copy_io(fd, map, size, false);
		close(fd);
	}
	report(s, "retrieve_s", "%.6f", now() - t);

	t = now();
	for (i = 0; i < size / 8; i++)
		sum += ((uint64_t *)map)[i];
	report(s, "first_read_s", "%.6f", now() - t);
	report(s, "sum", "%llx", (unsigned long long)sum);	/* keeps the read */
	if (s->profile)
		profile_stop(s, "retrieve+read");

	t = now();
	bad = fdbox_check(map, 0, size, SEED ^ s->nr);
	report(s, "verify_s", "%.6f", now() - t);
	report(s, "intact", "%d", bad < 0);
	if (bad >= 0) {
		fprintf(stderr, "fdbox_bench: step %d: memory differs at offset %ld\n",
			s->nr, bad);
		exit(1);
	}
	munmap(map, size);
	close(m);
}

/* Seconds since this kernel started. */
static double uptime(void)
{
	FILE *f = fopen("/proc/uptime", "r");
	double up = -1;

	if (f) {
		if (fscanf(f, "%lf", &up) != 1)
			up = -1;
		fclose(f);
	}
	return up;
}

/*
 * What KHO says the handover cost this boot (our kernel only): validating
 * and indexing it, and keeping the preserved pages out of the allocator,
 * and how many runs of preserved memory it carried.
 */
static void report_kho_boot(const struct step *s)
{
	int len = klogctl(10, NULL, 0);	/* SYSLOG_ACTION_SIZE_BUFFER */
	unsigned long index_us, keep_us, runs;
	char *buf, *p;

	if (len <= 0)
		return;
	buf = calloc(1, len + 1);
	if (!buf)
		die("calloc");
	len = klogctl(3, buf, len);	/* SYSLOG_ACTION_READ_ALL */
	p = len > 0 ? strstr(buf, "kho: handover took ") : NULL;
	if (p && sscanf(p, "kho: handover took %lu us to validate and index, %lu us",
			&index_us, &keep_us) == 2) {
		report(s, "kho_boot_index_s", "%.6f", index_us / 1e6);
		report(s, "kho_boot_keep_s", "%.6f", keep_us / 1e6);
	}
	/* The work above should follow the runs, not the pages. */
	p = len > 0 ? strstr(buf, "kho: handover received: ") : NULL;
	if (p && sscanf(p, "kho: handover received: %lu runs", &runs) == 1)
		report(s, "kho_boot_runs", "%lu", runs);
	free(buf);
}

/* The TSC rate over this boot so far (at least 0.2 s of it). */
static void report_tsc_hz(const struct step *s)
{
	double dt = now() - mono0;

	if (dt < 0.2) {
		usleep((0.2 - dt) * 1e6);
		dt = now() - mono0;
	}
	report(s, "tsc_hz", "%.0f", (__rdtsc() - tsc0) / dt);
}

static int do_stage(const char *plan, int stage)
{
	struct step prev, next;
	bool have_prev = stage > 1 && read_step(plan, stage - 1, &prev);
	bool have_next = read_step(plan, stage, &next);
	FILE *f;

	if (have_prev) {
		report(&prev, "user_tsc", "%llu", (unsigned long long)tsc0);
		report(&prev, "user_boottime_s", "%.6f", boot0);
		report(&prev, "uptime_s", "%.3f", uptime());
		report_kho_boot(&prev);
		finish_step(&prev);
		report_tsc_hz(&prev);
	}
	if (!have_next)
		return 0;
	start_step(&next);
	report_tsc_hz(&next);
	/* Load the next stage; init hands the kexec itself to --kexec. */
	if (system("fdbox-next"))
		die("fdbox-next");
	f = fopen("/run/fdbox-kexec", "w");
	if (!f)
		die("/run/fdbox-kexec");
	fprintf(f, "%s --kexec %d\n", program_invocation_short_name, stage);
	fclose(f);
	return 0;
}

/* The kexec, with the TSC stamped just before it, and the line drained. */
static int do_kexec(int nr)
{
	int tty = open("/dev/ttyS1", O_WRONLY | O_NOCTTY);
	char line[96];
	int len;

	if (tty < 0)
		die("/dev/ttyS1");
	sync();
	len = snprintf(line, sizeof(line), "# bench: %d - - - kexec_tsc %llu\n", nr,
		       (unsigned long long)__rdtsc());
	if (write(tty, line, len) != len || tcdrain(tty) < 0)
		die("/dev/ttyS1");
	syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
		LINUX_REBOOT_CMD_KEXEC, NULL);
	die("kexec");
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "plan",	required_argument,	NULL, 'p' },
		{ "stage",	required_argument,	NULL, 's' },
		{ "kexec",	required_argument,	NULL, 'k' },
		{ 0 }
	};
	const char *plan = NULL;
	int opt, stage = 0, kexec = 0;

	tsc0 = __rdtsc();
	mono0 = now();
	boot0 = boottime();
	while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0) {
		switch (opt) {
		case 'p':
			plan = optarg;
			break;
		case 's':
			stage = atoi(optarg);
			break;
		case 'k':
			kexec = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: fdbox_bench --plan FILE --stage N | --kexec N\n");
			return 2;
		}
	}
	if (kexec > 0)
		return do_kexec(kexec);
	if (!plan || stage < 1) {
		fprintf(stderr, "usage: fdbox_bench --plan FILE --stage N | --kexec N\n");
		return 2;
	}
	return do_stage(plan, stage);
}

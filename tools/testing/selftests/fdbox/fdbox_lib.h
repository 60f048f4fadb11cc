/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the fdbox selftests: the ioctls of /dev/kho/serialize and
 * /dev/kho/deserialize, memfds filled with a verifiable pattern, and a
 * holder process that keeps sessions open until the kexec.
 */
#ifndef FDBOX_LIB_H
#define FDBOX_LIB_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/fdbox.h>
#include <linux/memfd.h>

#define FDBOX_SERIALIZE		"/dev/kho/serialize"
#define FDBOX_DESERIALIZE	"/dev/kho/deserialize"

/* ioctl() that returns -errno. */
static inline int fdbox_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

/* Open a serialize session and name it; the fd, or -errno. */
static inline int fdbox_session(const char *name)
{
	struct fdbox_set_name arg = { .size = sizeof(arg) };
	int fd = open(FDBOX_SERIALIZE, O_RDWR | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	snprintf(arg.name, sizeof(arg.name), "%s", name);
	err = fdbox_ioctl(fd, FDBOX_SET_NAME, &arg);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

static inline int fdbox_deposit(int session, int fd, const char *label)
{
	struct fdbox_deposit arg = { .size = sizeof(arg), .fd = fd };

	snprintf(arg.label, sizeof(arg.label), "%s", label);
	return fdbox_ioctl(session, FDBOX_DEPOSIT, &arg);
}

static inline int fdbox_label_op(int fd, unsigned long cmd, const char *label)
{
	struct fdbox_label arg = { .size = sizeof(arg) };

	snprintf(arg.label, sizeof(arg.label), "%s", label);
	return fdbox_ioctl(fd, cmd, &arg);
}

static inline int fdbox_name_op(int fd, unsigned long cmd, const char *name)
{
	struct fdbox_attach arg = { .size = sizeof(arg) };

	snprintf(arg.name, sizeof(arg.name), "%s", name);
	return fdbox_ioctl(fd, cmd, &arg);
}

/* Open /dev/kho/deserialize attached to session @name; fd or -errno. */
static inline int fdbox_attach(const char *name)
{
	int fd = open(FDBOX_DESERIALIZE, O_RDWR | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	err = fdbox_name_op(fd, FDBOX_ATTACH, name);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* The retrieved fd, or -errno. */
static inline int fdbox_retrieve(int d, const char *label, unsigned int flags)
{
	struct fdbox_retrieve arg = { .size = sizeof(arg), .flags = flags };
	int err;

	snprintf(arg.label, sizeof(arg.label), "%s", label);
	err = fdbox_ioctl(d, FDBOX_RETRIEVE, &arg);
	return err ? err : arg.fd;
}

/* FDBOX_FINISH: release what the attached session has left; 0 or -errno. */
static inline int fdbox_finish(int d)
{
	return fdbox_ioctl(d, FDBOX_FINISH, NULL);
}

/*
 * List up to @max entries of @entry_size, of session @session (NULL: the
 * file's own); the total count or -errno.
 */
static inline int fdbox_list_of(int fd, unsigned long cmd, const char *session,
				void *entries, unsigned int max, unsigned int entry_size)
{
	struct fdbox_list arg = {
		.size = sizeof(arg), .count = max, .entry_size = entry_size,
		.entries = (uintptr_t)entries,
	};
	int err;

	if (session)
		snprintf(arg.session, sizeof(arg.session), "%s", session);
	err = fdbox_ioctl(fd, cmd, &arg);
	return err ? err : (int)arg.count;
}

static inline int fdbox_list(int fd, unsigned long cmd, void *entries,
			     unsigned int max, unsigned int entry_size)
{
	return fdbox_list_of(fd, cmd, NULL, entries, max, entry_size);
}

/* FDBOX_DISCARD of @label in incoming session @session, not attached. */
static inline int fdbox_discard_in(int d, const char *session, const char *label)
{
	struct fdbox_label arg = { .size = sizeof(arg) };

	snprintf(arg.label, sizeof(arg.label), "%s", label);
	snprintf(arg.session, sizeof(arg.session), "%s", session);
	return fdbox_ioctl(d, FDBOX_DISCARD, &arg);
}

/* The item @label of a listing, or NULL. */
static inline struct fdbox_item_info *fdbox_find_info(struct fdbox_item_info *items,
						      int n, const char *label)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(items[i].label, label))
			return &items[i];
	return NULL;
}

/* ---- pattern: word w of a buffer filled with seed s is mix(s ^ w) ---- */

static inline uint64_t fdbox_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline void fdbox_fill(void *p, size_t off, size_t len, uint64_t seed)
{
	uint64_t *w = p;
	size_t i;

	for (i = off / 8; i < (off + len) / 8; i++)
		w[i] = fdbox_mix(seed ^ i);
}

/* Offset of the first word that differs, or -1. */
static inline long fdbox_check(const void *p, size_t off, size_t len, uint64_t seed)
{
	const uint64_t *w = p;
	size_t i;

	for (i = off / 8; i < (off + len) / 8; i++)
		if (w[i] != fdbox_mix(seed ^ i))
			return (long)i * 8;
	return -1;
}

/* A memfd of @size bytes, mapped at *map (MAP_SHARED); fd or -errno. */
static inline int fdbox_memfd(const char *name, unsigned int flags, size_t size,
			      void **map)
{
	int fd = memfd_create(name, flags);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size) < 0)
		goto fail;
	if (map) {
		*map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (*map == MAP_FAILED)
			goto fail;
	}
	return fd;
fail:
	close(fd);
	return -errno;
}

/*
 * A hash of the physical frames backing [p, p + len), read from
 * /proc/self/pagemap after touching every page; 0 if a page is missing.
 */
static inline uint64_t fdbox_pfn_hash(const volatile char *p, size_t len)
{
	long psz = sysconf(_SC_PAGESIZE);
	uint64_t h = 0, e;
	size_t i;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	for (i = 0; i < len; i += psz) {
		(void)p[i];
		if (pread(fd, &e, 8, ((uintptr_t)p + i) / psz * 8) != 8 ||
		    !(e >> 63) || !(e & ((1ULL << 55) - 1))) {
			h = 0;
			break;
		}
		h = fdbox_mix(h ^ (e & ((1ULL << 55) - 1)));
	}
	close(fd);
	return h;
}

/*
 * Keep the caller's open files (its sessions) alive until the kexec: a
 * child in its own session, detached from the test's output, sleeps
 * forever with copies of every fd. Returns its pid.
 */
static inline pid_t fdbox_hold_forever(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		setsid();
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		for (;;)
			pause();
	}
	return pid;
}

/*
 * The last kernel log line containing @needle, copied to @buf (@len bytes;
 * @buf may be NULL). Returns true if there is one.
 */
static inline bool fdbox_kmsg_last(const char *needle, char *buf, size_t len)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	bool found = false;
	char line[1024];
	ssize_t n;

	if (fd < 0)
		return false;
	while ((n = read(fd, line, sizeof(line) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;	/* EPIPE: overwritten records, go on */
		line[n] = '\0';
		if (!strstr(line, needle))
			continue;
		found = true;
		if (buf)
			snprintf(buf, len, "%s", line);
	}
	close(fd);
	return found;
}

/* The value of "key N" in a file of such lines (meminfo, stats), or -1. */
static inline long fdbox_stat(const char *path, const char *key)
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

static inline long fdbox_memfree_kb(void)
{
	return fdbox_stat("/proc/meminfo", "MemFree:");
}

/*
 * Free memory including the pages waiting on per-cpu lists (which
 * MemFree leaves out): the "count:" lines of /proc/zoneinfo.
 */
static inline long fdbox_free_kb(void)
{
	char line[256];
	long pages = 0, n;
	FILE *f = fopen("/proc/zoneinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " count: %ld", &n) == 1)
			pages += n;
	fclose(f);
	return fdbox_memfree_kb() + pages * (sysconf(_SC_PAGESIZE) / 1024);
}

#endif /* FDBOX_LIB_H */

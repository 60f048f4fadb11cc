// SPDX-License-Identifier: GPL-2.0
/*
 * fdbox_test: sessions and the memfd handler, in one boot and across real
 * kexecs. Each scenario is a --case; stage 1 builds and deposits, then a
 * holder process keeps the sessions open while the guest's init kexecs;
 * stage 2 retrieves and compares byte for byte.
 *
 * ioctls          one boot: every ioctl's errors and bad input
 * roundtrip       64 MiB memfd; same bytes, same physical pages after
 * large           1 GiB memfd, THP off then on: handover cost; the THP
 *                 one crosses the kexec with its huge folios
 * sparse          holes stay holes: allocated blocks and data map equal;
 *                 fallocated pages arrive as zeros
 * fill            retrieved memfds take their pages back on demand: read
 *                 at once by read() and by two faulting threads, deposited
 *                 again at once, closed at once, truncated: same bytes,
 *                 same pages, and every page back after FDBOX_FINISH; a
 *                 retrieve under strict overcommit with no room left
 *                 works (the pages exist already)
 * seals           seals kept and enforced
 * name            memfd names kept
 * write_after_deposit  writes after the deposit, into pages and holes,
 *                 all reach the next kernel; a finalized file takes no
 *                 new pages
 * multi_session   three sessions held by three processes
 * closed_before_kexec  a closed session hands nothing over, frees all
 * unclaimed       what nobody retrieves is released, per item, per
 *                 attached session, per unattached session
 * chain           (--any-stage) one memfd through every kexec of the
 *                 run, retrieved and deposited again each time, on the
 *                 same pages, free memory stable (FDBOX_CHAIN_MIB: size)
 * privilege       (one boot) no CAP_SYS_ADMIN, another user, a user
 *                 namespace: the devices refuse to open; fds the caller
 *                 does not hold, or not for writing, cannot be deposited
 * handler_failure a memfd that cannot be finalized refuses the kexec;
 *                 every session stays as it was
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/falloc.h>
#include <linux/reboot.h>

#include "fdbox_stage.h"
#include "fdbox_lib.h"

#ifndef F_SEAL_EXEC	/* glibc 2.36 does not have it yet */
#define F_SEAL_EXEC 0x0020
#endif

#define MiB (1UL << 20)
#define GiB (1UL << 30)
#define SEED 0x5eed2026ULL
#define KHO_OUT "/sys/kernel/debug/kho/out/stats"

static int kexec_reboot(void)
{
	return syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
		       LINUX_REBOOT_CMD_KEXEC, NULL) < 0 ? -errno : 0;
}

/* A memfd of @size filled with the pattern of @seed. */
static int pattern_memfd(const char *name, size_t size, uint64_t seed)
{
	void *map;
	int fd = fdbox_memfd(name, MFD_CLOEXEC | MFD_ALLOW_SEALING, size, &map);

	if (fd < 0)
		return fd;
	fdbox_fill(map, 0, size, seed);
	munmap(map, size);
	return fd;
}

/* Retrieve @label, check its size and pattern; the fd or -errno. */
static int retrieve_checked(struct __test_metadata *_metadata, int d,
			    const char *label, size_t size, uint64_t seed)
{
	struct stat st;
	void *map;
	long bad;
	int fd = fdbox_retrieve(d, label, 0);

	if (fd < 0)
		return fd;
	EXPECT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(size, st.st_size);
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	EXPECT_NE(MAP_FAILED, map);
	if (map == MAP_FAILED)
		return -EINVAL;
	bad = fdbox_check(map, 0, size, seed);
	EXPECT_EQ(-1, bad) TH_LOG("%s differs at byte %ld", label, bad);
	munmap(map, size);
	return fd;
}

/* ---- ioctls: one boot, every error path ---- */

FDBOX_STAGE_FIXTURE(ioctls_stage1);

TEST_F(ioctls_stage1, devices)
{
	struct stat st;

	ASSERT_EQ(0, stat(FDBOX_SERIALIZE, &st));
	EXPECT_EQ(0600, st.st_mode & 07777);
	ASSERT_EQ(0, stat(FDBOX_DESERIALIZE, &st));
	EXPECT_EQ(0600, st.st_mode & 07777);
}

TEST_F(ioctls_stage1, set_name)
{
	struct fdbox_set_name arg = { .size = sizeof(arg) };
	char big[256] = { 0 };
	int s = open(FDBOX_SERIALIZE, O_RDWR), s2;

	ASSERT_LE(0, s);
	EXPECT_EQ(-EFAULT, fdbox_ioctl(s, FDBOX_SET_NAME, (void *)8));
	arg.size = 4;
	EXPECT_EQ(-EINVAL, fdbox_ioctl(s, FDBOX_SET_NAME, &arg));
	arg.size = sizeof(arg);
	EXPECT_EQ(-EINVAL, fdbox_ioctl(s, FDBOX_SET_NAME, &arg));	/* empty */
	memset(arg.name, 'a', sizeof(arg.name));
	EXPECT_EQ(-EINVAL, fdbox_ioctl(s, FDBOX_SET_NAME, &arg));	/* no NUL */
	strcpy(arg.name, "bad\tname");
	EXPECT_EQ(-EINVAL, fdbox_ioctl(s, FDBOX_SET_NAME, &arg));
	strcpy(arg.name, "ok");
	arg.flags = 1;
	EXPECT_EQ(-EINVAL, fdbox_ioctl(s, FDBOX_SET_NAME, &arg));
	arg.flags = 0;
	/* A newer, bigger struct: fine if the tail is zero, E2BIG if not. */
	memcpy(big, &arg, sizeof(arg));
	((struct fdbox_set_name *)big)->size = sizeof(big);
	big[sizeof(big) - 1] = 1;
	EXPECT_EQ(-E2BIG, fdbox_ioctl(s, FDBOX_SET_NAME, big));
	big[sizeof(big) - 1] = 0;
	EXPECT_EQ(0, fdbox_ioctl(s, FDBOX_SET_NAME, big));
	EXPECT_EQ(-EBUSY, fdbox_ioctl(s, FDBOX_SET_NAME, &arg));	/* twice */
	EXPECT_EQ(-EEXIST, fdbox_session("ok"));
	s2 = fdbox_session("a name with spaces, 63 bytes at most ~!@#$%^&*()_+{}|:<>?-=[]");
	EXPECT_LE(0, s2);
	close(s2);
	EXPECT_EQ(-ENOTTY, fdbox_ioctl(s, _IO(FDBOX_TYPE, 0x7f), &arg));
	close(s);
	/* The name is free again once the session is closed. */
	s = fdbox_session("ok");
	EXPECT_LE(0, s);
	close(s);
}

TEST_F(ioctls_stage1, deposit)
{
	struct fdbox_deposit arg = { .size = sizeof(arg) };
	int s, s2, m, p[2], hf, tf, unnamed;

	unnamed = open(FDBOX_SERIALIZE, O_RDWR);
	ASSERT_LE(0, unnamed);
	m = fdbox_memfd("m", 0, MiB, NULL);
	ASSERT_LE(0, m);
	EXPECT_EQ(-EINVAL, fdbox_deposit(unnamed, m, "x"));
	s = fdbox_session("dep");
	s2 = fdbox_session("dep2");
	ASSERT_LE(0, s);
	ASSERT_LE(0, s2);

	EXPECT_EQ(-EBADF, fdbox_deposit(s, 999, "x"));
	EXPECT_EQ(-EBADF, fdbox_deposit(s, -1, "x"));
	ASSERT_EQ(0, pipe(p));
	EXPECT_EQ(-EOPNOTSUPP, fdbox_deposit(s, p[0], "pipe"));
	EXPECT_EQ(-EOPNOTSUPP, fdbox_deposit(s, s2, "session"));
	EXPECT_EQ(-EOPNOTSUPP, fdbox_deposit(s, s, "itself"));
	tf = open("/tmp/file", O_RDWR | O_CREAT, 0600);	/* tmpfs, not a memfd */
	EXPECT_EQ(-EOPNOTSUPP, fdbox_deposit(s, tf, "tmpfile"));
	/* hugetlbfs, but a file of a mount of its own, not a memfd */
	mkdir("/tmp/hugetlbfs", 0700);
	hf = -1;
	if (!mount("none", "/tmp/hugetlbfs", "hugetlbfs", 0, NULL))
		hf = open("/tmp/hugetlbfs/file", O_RDWR | O_CREAT, 0600);
	EXPECT_LE(0, hf);
	EXPECT_EQ(-EOPNOTSUPP, fdbox_deposit(s, hf, "hugetlbfs"));

	arg.fd = m;
	strcpy(arg.label, "m");
	arg.reserved = 1;
	EXPECT_EQ(-EINVAL, fdbox_ioctl(s, FDBOX_DEPOSIT, &arg));
	arg.reserved = 0;
	arg.flags = 2;
	EXPECT_EQ(-EINVAL, fdbox_ioctl(s, FDBOX_DEPOSIT, &arg));
	EXPECT_EQ(-EINVAL, fdbox_deposit(s, m, ""));
	EXPECT_EQ(-EINVAL, fdbox_deposit(s, m, "new\nline"));

	EXPECT_EQ(0, fdbox_deposit(s, m, "m"));
	EXPECT_EQ(-EBUSY, fdbox_deposit(s, m, "again"));	/* same file */
	EXPECT_EQ(-EBUSY, fdbox_deposit(s2, m, "m"));		/* other session */
	m = fdbox_memfd("m2", 0, MiB, NULL);
	EXPECT_EQ(-EEXIST, fdbox_deposit(s, m, "m"));		/* label taken */
	EXPECT_EQ(0, fdbox_deposit(s2, m, "m"));		/* not here */
	close(p[0]);
	close(p[1]);
	close(tf);
	close(hf);
	umount2("/tmp/hugetlbfs", MNT_DETACH);
	close(s);
	close(s2);
	close(unnamed);
}

TEST_F(ioctls_stage1, size_frozen_while_deposited)
{
	char buf[4096] = "data";
	int s = fdbox_session("frozen"), m = fdbox_memfd("f", 0, MiB, NULL);

	ASSERT_LE(0, s);
	ASSERT_LE(0, m);
	ASSERT_EQ(0, fdbox_deposit(s, m, "f"));
	EXPECT_EQ(-1, ftruncate(m, 2 * MiB));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, ftruncate(m, 0));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, fallocate(m, 0, 0, MiB));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, fallocate(m, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, pwrite(m, buf, sizeof(buf), MiB));	/* past the end */
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(sizeof(buf), pwrite(m, buf, sizeof(buf), 4096));	/* inside */
	EXPECT_EQ(0, fdbox_label_op(s, FDBOX_WITHDRAW, "f"));
	EXPECT_EQ(0, ftruncate(m, 2 * MiB));	/* thawed */
	/* Closing the session thaws what it held. */
	ASSERT_EQ(0, fdbox_deposit(s, m, "f"));
	close(s);
	EXPECT_EQ(0, ftruncate(m, 0));
	close(m);
}

TEST_F(ioctls_stage1, withdraw_finalize)
{
	int s = fdbox_session("fin"), m = fdbox_memfd("m", 0, MiB, NULL);
	int m2 = fdbox_memfd("m2", 0, MiB, NULL), unnamed;

	ASSERT_LE(0, s);
	EXPECT_EQ(-ENOENT, fdbox_label_op(s, FDBOX_WITHDRAW, "none"));
	EXPECT_EQ(-EINVAL, fdbox_label_op(s, FDBOX_WITHDRAW, ""));
	EXPECT_EQ(-EBUSY, fdbox_ioctl(s, FDBOX_UNFINALIZE, NULL));
	ASSERT_EQ(0, fdbox_deposit(s, m, "m"));
	EXPECT_EQ(0, fdbox_ioctl(s, FDBOX_FINALIZE, NULL));
	EXPECT_EQ(-EBUSY, fdbox_ioctl(s, FDBOX_FINALIZE, NULL));
	EXPECT_EQ(-EBUSY, fdbox_deposit(s, m2, "m2"));
	EXPECT_EQ(-EBUSY, fdbox_label_op(s, FDBOX_WITHDRAW, "m"));
	EXPECT_EQ(0, fdbox_ioctl(s, FDBOX_UNFINALIZE, NULL));
	EXPECT_EQ(0, fdbox_deposit(s, m2, "m2"));
	EXPECT_EQ(0, fdbox_label_op(s, FDBOX_WITHDRAW, "m"));
	unnamed = open(FDBOX_SERIALIZE, O_RDWR);
	EXPECT_EQ(-EINVAL, fdbox_ioctl(unnamed, FDBOX_FINALIZE, NULL));
	close(unnamed);
	close(s);
	close(m);
	close(m2);
}

TEST_F(ioctls_stage1, list)
{
	unsigned char big[2][128];
	struct fdbox_item_info items[4];
	size_t i;
	struct fdbox_list arg = { .size = sizeof(arg) };
	int s = fdbox_session("list"), m = fdbox_memfd("m", 0, 3 * 4096, NULL);

	ASSERT_LE(0, s);
	ASSERT_EQ(3 * 4096, pwrite(m, "x", 1, 4096) + 3 * 4096 - 1);
	EXPECT_EQ(0, fdbox_list(s, FDBOX_LIST, NULL, 0, sizeof(items[0])));
	ASSERT_EQ(0, fdbox_deposit(s, m, "m"));
	EXPECT_EQ(1, fdbox_list(s, FDBOX_LIST, NULL, 0, sizeof(items[0])));
	EXPECT_EQ(-EINVAL, fdbox_list(s, FDBOX_LIST, items, 4, 8));
	EXPECT_EQ(-EFAULT, fdbox_list(s, FDBOX_LIST, (void *)8, 4, sizeof(items[0])));
	arg.flags = 1;
	arg.entry_size = sizeof(items[0]);
	EXPECT_EQ(-EINVAL, fdbox_ioctl(s, FDBOX_LIST, &arg));
	/* Newer userspace, bigger entries: zero-extended; no more than asked. */
	memset(big, 0xff, sizeof(big));
	ASSERT_EQ(1, fdbox_list(s, FDBOX_LIST, big, 1, sizeof(big[0])));
	EXPECT_STREQ("m", (char *)big[0]);
	for (i = sizeof(items[0]); i < sizeof(big[0]); i++)
		ASSERT_EQ(0, big[0][i]) TH_LOG("byte %zu of a bigger entry", i);
	EXPECT_EQ(0xff, big[1][0]);
	ASSERT_EQ(1, fdbox_list(s, FDBOX_LIST, items, 4, sizeof(items[0])));
	EXPECT_STREQ("m", items[0].label);
	EXPECT_EQ(FDBOX_ITEM_MEMFD, items[0].type);
	EXPECT_EQ(FDBOX_STATE_DEPOSITED, items[0].state);
	EXPECT_EQ(3 * 4096, items[0].size);
	EXPECT_EQ(4096, items[0].preserved);	/* one page written */
	EXPECT_EQ(0, items[0].metadata);
	ASSERT_EQ(0, fdbox_ioctl(s, FDBOX_FINALIZE, NULL));
	ASSERT_EQ(1, fdbox_list(s, FDBOX_LIST, items, 4, sizeof(items[0])));
	EXPECT_EQ(FDBOX_STATE_FINALIZED, items[0].state);
	EXPECT_LT(0, items[0].metadata);
	close(m);
	close(s);
}

/* An operator sees every outgoing session, and its items, by name. */
TEST_F(ioctls_stage1, list_other_sessions)
{
	struct fdbox_session_info sessions[4];
	struct fdbox_item_info items[2];
	int s = fdbox_session("mine"), other = fdbox_session("other");
	int m = fdbox_memfd("m", 0, 8192, NULL), n;
	static const char buf[8192];

	ASSERT_LE(0, s);
	ASSERT_LE(0, other);
	ASSERT_EQ(8192, pwrite(m, buf, sizeof(buf), 0));
	ASSERT_EQ(0, fdbox_deposit(other, m, "theirs"));
	n = fdbox_list(s, FDBOX_LIST_SESSIONS, sessions, 4, sizeof(sessions[0]));
	ASSERT_EQ(2, n);
	EXPECT_STREQ("mine", sessions[0].name);
	EXPECT_STREQ("other", sessions[1].name);
	EXPECT_EQ(1, sessions[1].nr_items);
	EXPECT_EQ(8192, sessions[1].preserved);
	ASSERT_EQ(1, fdbox_list_of(s, FDBOX_LIST, "other", items, 2, sizeof(items[0])));
	EXPECT_STREQ("theirs", items[0].label);
	EXPECT_EQ(-ENOENT, fdbox_list_of(s, FDBOX_LIST, "nobody", items, 2, sizeof(items[0])));
	EXPECT_EQ(-EINVAL, fdbox_list_of(s, FDBOX_LIST, "bad\x01", items, 2, sizeof(items[0])));
	EXPECT_EQ(-EINVAL, fdbox_list_of(s, FDBOX_LIST_SESSIONS, "other", sessions, 4,
					 sizeof(sessions[0])));
	close(m);
	close(other);
	close(s);
}

TEST_F(ioctls_stage1, deserialize_without_handover)
{
	struct fdbox_retrieve ret = { .size = sizeof(ret), .context_fd = 1 };
	struct fdbox_session_info sessions[2];
	struct fdbox_item_info items[2];
	int d = open(FDBOX_DESERIALIZE, O_RDWR);

	ASSERT_LE(0, d);
	EXPECT_EQ(0, fdbox_list(d, FDBOX_LIST_SESSIONS, sessions, 2, sizeof(sessions[0])));
	EXPECT_EQ(-ENOENT, fdbox_list(d, FDBOX_LIST, items, 2, sizeof(items[0])));
	EXPECT_EQ(-ENOENT, fdbox_name_op(d, FDBOX_ATTACH, "none"));
	EXPECT_EQ(-EINVAL, fdbox_name_op(d, FDBOX_ATTACH, ""));
	EXPECT_EQ(-ENOENT, fdbox_name_op(d, FDBOX_DISCARD_SESSION, "none"));
	EXPECT_EQ(-ENOENT, fdbox_retrieve(d, "x", 0));
	EXPECT_EQ(-EINVAL, fdbox_retrieve(d, "x", 4));	/* an unknown flag */
	EXPECT_EQ(-ENOENT, fdbox_finish(d));	/* nothing attached */
	/* A context fd without the flag saying so. */
	strcpy(ret.label, "x");
	EXPECT_EQ(-EINVAL, fdbox_ioctl(d, FDBOX_RETRIEVE, &ret));
	EXPECT_EQ(-ENOENT, fdbox_label_op(d, FDBOX_DISCARD, "x"));
	EXPECT_EQ(-ENOTTY, fdbox_ioctl(d, FDBOX_DEPOSIT, items));
	close(d);
}

/* Everything above left no preserved memory behind. */
TEST_F(ioctls_stage1, nothing_left_preserved)
{
	EXPECT_EQ(0, fdbox_stat(KHO_OUT, "preserved_folios"));
}

/*
 * ---- privilege: who may use the devices ----
 * Each check runs in a child, whose exit status is the number of checks
 * that went wrong.
 */

FDBOX_STAGE_FIXTURE(privilege_stage1);

/* Open both devices: each must fail with @err. */
static int open_refused(int err)
{
	const char *dev[] = { FDBOX_SERIALIZE, FDBOX_DESERIALIZE };
	int i, bad = 0, fd;

	for (i = 0; i < 2; i++) {
		fd = open(dev[i], O_RDWR);
		if (fd >= 0 || errno != err) {
			fprintf(stderr, "open %s: %d (%s), wanted %s\n", dev[i], fd,
				fd >= 0 ? "opened" : strerror(errno), strerror(err));
			bad++;
		}
		if (fd >= 0)
			close(fd);
	}
	return bad;
}

static int run_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn());
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Root, but without CAP_SYS_ADMIN: the file mode lets it in, fdbox not. */
static int without_cap_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return 100;
	data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
	data[CAP_TO_INDEX(CAP_SYS_ADMIN)].permitted &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
	if (syscall(SYS_capset, &hdr, data))
		return 100;
	return open_refused(EPERM);
}

/* Another user: the device's mode (0600 root) refuses it first. */
static int as_nobody(void)
{
	if (setgid(65534) || setuid(65534))
		return 100;
	return open_refused(EACCES);
}

/*
 * Root of its own user namespace, mapped to root: every capability, but
 * in that namespace only. fdbox asks the initial one.
 */
static int in_user_namespace(void)
{
	int fd;

	if (unshare(CLONE_NEWUSER))
		return 100;
	fd = open("/proc/self/uid_map", O_WRONLY);
	if (fd < 0 || write(fd, "0 0 1", 5) != 5)
		return 100;
	close(fd);
	return open_refused(EPERM);
}

TEST_F(privilege_stage1, open_without_cap_sys_admin)
{
	EXPECT_EQ(0, run_child(without_cap_sys_admin));
}

TEST_F(privilege_stage1, open_as_another_user)
{
	EXPECT_EQ(0, run_child(as_nobody));
}

TEST_F(privilege_stage1, open_from_user_namespace)
{
	EXPECT_EQ(0, run_child(in_user_namespace));
}

/*
 * Only files the caller holds, open for reading and writing, can be
 * deposited: not another process's fd number, not an O_PATH fd, not a
 * read-only reopening of a memfd (the retrieved file is writable).
 */
TEST_F(privilege_stage1, deposit_foreign_fd)
{
	int s, m, ro, path, pipefd[2], theirs;
	char proc[64];
	pid_t pid;

	s = fdbox_session("priv");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* A memfd far above any fd number the parent uses. */
		theirs = dup2(fdbox_memfd("theirs", 0, MiB, NULL), 900);
		if (write(pipefd[1], &theirs, sizeof(theirs)) != sizeof(theirs))
			_exit(1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(sizeof(theirs), read(pipefd[0], &theirs, sizeof(theirs)));
	ASSERT_EQ(900, theirs);
	EXPECT_EQ(-EBADF, fdbox_deposit(s, theirs, "theirs"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);

	m = fdbox_memfd("mine", 0, MiB, NULL);
	ASSERT_LE(0, m);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", m);
	ro = open(proc, O_RDONLY);
	ASSERT_LE(0, ro);
	EXPECT_EQ(-EACCES, fdbox_deposit(s, ro, "read-only"));
	path = open(proc, O_PATH);
	ASSERT_LE(0, path);
	EXPECT_EQ(-EBADF, fdbox_deposit(s, path, "o-path"));
	EXPECT_EQ(0, fdbox_deposit(s, m, "mine"));
	close(path);
	close(ro);
	close(m);
	close(s);
	EXPECT_EQ(0, fdbox_stat(KHO_OUT, "preserved_folios"));
}

/* ---- roundtrip: 64 MiB, byte-exact, zero-copy ---- */

#define RT_SIZE (64 * MiB)

FDBOX_STAGE_FIXTURE(roundtrip_stage1);
FDBOX_STAGE_FIXTURE(roundtrip_stage2);

TEST_F(roundtrip_stage1, deposit)
{
	char args[128];
	void *map;
	int s, m;

	m = fdbox_memfd("guest-ram", MFD_CLOEXEC, RT_SIZE, &map);
	ASSERT_LE(0, m);
	fdbox_fill(map, 0, RT_SIZE, SEED);
	s = fdbox_session("vmm");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, m, "ram"));
	snprintf(args, sizeof(args), "fdbox.pfns=%llx",
		 (unsigned long long)fdbox_pfn_hash(map, RT_SIZE));
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(args));
}

TEST_F(roundtrip_stage2, retrieve_same_bytes_same_pages)
{
	struct fdbox_session_info sessions[4];
	struct fdbox_item_info items[4];
	char want[64], link[128], path[64];
	void *map;
	int d, m, n;

	n = fdbox_list(open(FDBOX_DESERIALIZE, O_RDWR), FDBOX_LIST_SESSIONS,
		       sessions, 4, sizeof(sessions[0]));
	ASSERT_EQ(1, n);
	EXPECT_STREQ("vmm", sessions[0].name);
	EXPECT_EQ(1, sessions[0].nr_items);
	EXPECT_EQ(RT_SIZE, sessions[0].preserved);

	d = fdbox_attach("vmm");
	ASSERT_LE(0, d);
	EXPECT_EQ(-EBUSY, fdbox_attach("vmm"));
	EXPECT_EQ(-EBUSY, fdbox_name_op(d, FDBOX_ATTACH, "vmm"));
	ASSERT_EQ(1, fdbox_list(d, FDBOX_LIST, items, 4, sizeof(items[0])));
	EXPECT_STREQ("ram", items[0].label);
	EXPECT_EQ(FDBOX_STATE_INCOMING, items[0].state);
	EXPECT_EQ(RT_SIZE, items[0].size);

	m = retrieve_checked(_metadata, d, "ram", RT_SIZE, SEED);
	ASSERT_LE(0, m);
	EXPECT_EQ(FD_CLOEXEC, fcntl(m, F_GETFD));
	EXPECT_EQ(-ENOENT, fdbox_retrieve(d, "ram", 0));	/* once */
	ASSERT_EQ(1, fdbox_list(d, FDBOX_LIST, items, 4, sizeof(items[0])));
	EXPECT_EQ(FDBOX_STATE_RETRIEVED, items[0].state);

	snprintf(path, sizeof(path), "/proc/self/fd/%d", m);
	n = readlink(path, link, sizeof(link) - 1);
	ASSERT_LT(0, n);
	link[n] = 0;
	EXPECT_STREQ("/memfd:guest-ram (deleted)", link);

	/* Zero-copy: the very pages of the previous kernel. */
	ASSERT_EQ(0, fdbox_cmdline_get("fdbox.pfns", want, sizeof(want)));
	map = mmap(NULL, RT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	ASSERT_NE(MAP_FAILED, map);
	snprintf(path, sizeof(path), "%llx",
		 (unsigned long long)fdbox_pfn_hash(map, RT_SIZE));
	EXPECT_STREQ(want, path);

	/* An ordinary memfd again: writable, resizable, depositable. */
	fdbox_fill(map, 0, RT_SIZE, SEED + 1);
	EXPECT_EQ(-1, fdbox_check(map, 0, RT_SIZE, SEED + 1));
	munmap(map, RT_SIZE);
	EXPECT_EQ(0, ftruncate(m, RT_SIZE / 2));
	n = fdbox_session("again");
	ASSERT_LE(0, n);
	EXPECT_EQ(0, fdbox_deposit(n, m, "ram"));
	close(n);
	close(m);
	close(d);
}

/* ---- large: 1 GiB, THP off and on ---- */

#define LARGE_SIZE GiB
#define THP_SHMEM "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

static int set_shmem_thp(const char *mode)
{
	int fd = open(THP_SHMEM, O_WRONLY);
	int ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, mode, strlen(mode)) == (ssize_t)strlen(mode);
	close(fd);
	return ok ? 0 : -EIO;
}

/* Deposit, finalize, report the cost; the session fd. */
static int deposit_and_measure(struct __test_metadata *_metadata, int m,
			       const char *what)
{
	struct fdbox_item_info info;
	int s = fdbox_session(what);

	EXPECT_LE(0, s);
	EXPECT_EQ(0, fdbox_deposit(s, m, "ram"));
	EXPECT_EQ(0, fdbox_ioctl(s, FDBOX_FINALIZE, NULL));
	EXPECT_EQ(1, fdbox_list(s, FDBOX_LIST, &info, 1, sizeof(info)));
	ksft_print_msg("metadata %s: memfd runs %llu bytes for %llu MiB; KHO map %ld bytes, KHO FDT %ld bytes\n",
		       what, (unsigned long long)info.metadata,
		       (unsigned long long)info.preserved >> 20,
		       fdbox_stat(KHO_OUT, "map_bytes"), fdbox_stat(KHO_OUT, "fdt_bytes"));
	EXPECT_EQ(LARGE_SIZE, info.preserved);
	EXPECT_EQ(0, fdbox_ioctl(s, FDBOX_UNFINALIZE, NULL));
	return s;
}

/* Scattered pages: two memfds written a page each in turn. */
static void measure_scattered(struct __test_metadata *_metadata)
{
	struct fdbox_item_info info;
	void *map = NULL, *map2 = NULL;
	size_t off, size = LARGE_SIZE / 4;
	int s, m, m2;

	m = fdbox_memfd("scattered", MFD_CLOEXEC, size, &map);
	m2 = fdbox_memfd("other", MFD_CLOEXEC, size, &map2);
	ASSERT_LE(0, m);
	ASSERT_LE(0, m2);
	for (off = 0; off < size; off += 4096) {
		fdbox_fill(map, off, 4096, SEED);
		fdbox_fill(map2, off, 4096, SEED);
	}
	s = fdbox_session("scattered");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, m, "ram"));
	ASSERT_EQ(0, fdbox_ioctl(s, FDBOX_FINALIZE, NULL));
	ASSERT_EQ(1, fdbox_list(s, FDBOX_LIST, &info, 1, sizeof(info)));
	ksft_print_msg("metadata scattered: memfd runs %llu bytes for %llu MiB\n",
		       (unsigned long long)info.metadata,
		       (unsigned long long)info.preserved >> 20);
	close(s);
	munmap(map, size);
	munmap(map2, size);
	close(m);
	close(m2);
}

FDBOX_STAGE_FIXTURE(large_stage1);
FDBOX_STAGE_FIXTURE(large_stage2);

TEST_F_TIMEOUT(large_stage1, deposit_1g_thp_off_then_on, 600)
{
	char args[64];
	void *map;
	int s, m;

	ASSERT_EQ(0, set_shmem_thp("never"));
	m = pattern_memfd("small-pages", LARGE_SIZE, SEED);
	ASSERT_LE(0, m);
	s = deposit_and_measure(_metadata, m, "thp-off");
	close(s);
	close(m);

	measure_scattered(_metadata);

	ASSERT_EQ(0, set_shmem_thp("always"));
	m = fdbox_memfd("huge-pages", MFD_CLOEXEC, LARGE_SIZE, &map);
	ASSERT_LE(0, m);
	fdbox_fill(map, 0, LARGE_SIZE, SEED);
	snprintf(args, sizeof(args), "fdbox.thp_kb=%ld",
		 fdbox_stat("/proc/meminfo", "ShmemHugePages:"));
	ksft_print_msg("ShmemHugePages before: %s\n", args);
	munmap(map, LARGE_SIZE);
	s = deposit_and_measure(_metadata, m, "thp-on");
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(args));
}

TEST_F_TIMEOUT(large_stage2, retrieve_1g_with_huge_folios, 600)
{
	char want[32];
	long thp;
	int d, m;

	ASSERT_EQ(0, fdbox_cmdline_get("fdbox.thp_kb", want, sizeof(want)));
	ASSERT_LT(LARGE_SIZE / 2 / 1024, atol(want)) TH_LOG("stage 1 got few huge pages");
	d = fdbox_attach("thp-on");
	ASSERT_LE(0, d);
	m = retrieve_checked(_metadata, d, "ram", LARGE_SIZE, SEED);
	ASSERT_LE(0, m);
	thp = fdbox_stat("/proc/meminfo", "ShmemHugePages:");
	EXPECT_GE(thp, atol(want)) TH_LOG("huge folios came back as %ld kB", thp);
	close(m);
	close(d);
}

/* ---- sparse: holes stay holes ---- */

#define SPARSE_SIZE (256 * MiB)

/* Where the data is: a hash of the SEEK_DATA/SEEK_HOLE extents. */
static uint64_t data_map(int fd, size_t size)
{
	uint64_t h = 0;
	off_t data = 0, hole;

	while ((data = lseek(fd, data, SEEK_DATA)) >= 0 && (size_t)data < size) {
		hole = lseek(fd, data, SEEK_HOLE);
		h = fdbox_mix(h ^ data) ^ fdbox_mix(hole);
		data = hole;
	}
	return h;
}

static void sparse_write(void *map)
{
	size_t off;

	/* Every 7th page of the first 8 MiB, then one page at 200 MiB. */
	for (off = 0; off < 8 * MiB; off += 7 * 4096)
		fdbox_fill(map, off, 4096, SEED);
	fdbox_fill(map, 200 * MiB, 4096, SEED);
}

static long sparse_check(void *map)
{
	static const char zero[4096];
	size_t off;

	for (off = 0; off < SPARSE_SIZE; off += 4096) {
		int written = (off < 8 * MiB && off % (7 * 4096) == 0) || off == 200 * MiB;

		if (written ? fdbox_check(map, off, 4096, SEED) != -1 :
			      memcmp((char *)map + off, zero, 4096))
			return off;
	}
	return -1;
}

FDBOX_STAGE_FIXTURE(sparse_stage1);
FDBOX_STAGE_FIXTURE(sparse_stage2);

TEST_F(sparse_stage1, deposit_sparse)
{
	struct stat st;
	char args[128];
	void *map;
	int s, m;

	ASSERT_EQ(0, set_shmem_thp("never"));
	m = fdbox_memfd("sparse", MFD_CLOEXEC, SPARSE_SIZE, &map);
	ASSERT_LE(0, m);
	/* Allocated, never written: the deposit takes them the slow way. */
	ASSERT_EQ(0, fallocate(m, 0, 100 * MiB, MiB));
	sparse_write(map);
	ASSERT_EQ(0, fstat(m, &st));
	s = fdbox_session("sparse");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, m, "sparse"));
	ASSERT_EQ(0, fstat(m, &st));	/* deposit allocated nothing */
	snprintf(args, sizeof(args), "fdbox.blocks=%lld fdbox.map=%llx",
		 (long long)st.st_blocks, (unsigned long long)data_map(m, SPARSE_SIZE));
	ksft_print_msg("%s\n", args);
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(args));
}

TEST_F(sparse_stage2, holes_stay_holes)
{
	char blocks[32], map_hash[32], got[32];
	struct stat st;
	void *map;
	int d, m;

	ASSERT_EQ(0, fdbox_cmdline_get("fdbox.blocks", blocks, sizeof(blocks)));
	ASSERT_EQ(0, fdbox_cmdline_get("fdbox.map", map_hash, sizeof(map_hash)));
	d = fdbox_attach("sparse");
	ASSERT_LE(0, d);
	m = fdbox_retrieve(d, "sparse", 0);
	ASSERT_LE(0, m);
	ASSERT_EQ(0, fstat(m, &st));
	EXPECT_EQ(SPARSE_SIZE, st.st_size);
	/* SEEK_DATA waits for every page to be back: st_blocks is whole after. */
	snprintf(got, sizeof(got), "%llx", (unsigned long long)data_map(m, SPARSE_SIZE));
	EXPECT_STREQ(map_hash, got) TH_LOG("data/hole map differs");
	ASSERT_EQ(0, fstat(m, &st));
	EXPECT_EQ(atoll(blocks), st.st_blocks) TH_LOG("allocated blocks differ");
	map = mmap(NULL, SPARSE_SIZE, PROT_READ, MAP_SHARED, m, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(-1, sparse_check(map));
	munmap(map, SPARSE_SIZE);
	close(m);
	close(d);
}

/* ---- fill: pages come back on demand, whoever touches them first ---- */

#define FILL_SIZE	(128 * MiB)
#define FILL_HOLE	(64 * MiB)	/* and 16 MiB after it: never written */
#define FILL_SMALL	(32 * MiB)
#define KHO_IN		"/sys/kernel/debug/kho/in/stats"

FDBOX_STAGE_FIXTURE(fill_stage1);
FDBOX_STAGE_FIXTURE(fill_stage2);

/* Check @map from @end down to @start, a page at a time: the bad offset, or -1. */
static long check_down(const char *map, size_t start, size_t end, uint64_t seed)
{
	size_t off;

	for (off = end; off > start; off -= 4096)
		if (fdbox_check(map, off - 4096, 4096, seed) != -1)
			return off - 4096;
	return -1;
}

struct fill_reader {
	const char *map;
	size_t start, end;
	long bad;
};

static void *fill_read(void *arg)
{
	struct fill_reader *r = arg;

	r->bad = check_down(r->map, r->start, r->end, SEED + 'f');
	return NULL;
}

#define FILL_TRACE	"/sys/kernel/debug/tracing"

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_TRUNC), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		err = -errno;
	close(fd);
	return err;
}

/*
 * Sum the fdbox_fill_end events traced: folios a lookup put back, and
 * folios lost. The number of fills, or -1.
 */
static int fill_traced(long *on_demand, long *lost)
{
	FILE *f = fopen(FILL_TRACE "/trace", "r");
	char line[512], *p;
	int fills = 0;
	long d, l;

	if (!f)
		return -1;
	*on_demand = *lost = 0;
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, "fdbox_fill_end:");
		if (p && sscanf(p, "fdbox_fill_end: ino=%*u on_demand=%ld lost=%ld", &d, &l) == 2) {
			*on_demand += d;
			*lost += l;
			fills++;
		}
	}
	fclose(f);
	return fills;
}

TEST_F_TIMEOUT(fill_stage1, deposit, 300)
{
	char args[128];
	void *map;
	int s, m, small;

	ASSERT_EQ(0, set_shmem_thp("never"));
	m = fdbox_memfd("fill", MFD_CLOEXEC, FILL_SIZE, &map);
	ASSERT_LE(0, m);
	fdbox_fill(map, 0, FILL_HOLE, SEED + 'f');
	fdbox_fill(map, FILL_HOLE + 16 * MiB, FILL_SIZE - FILL_HOLE - 16 * MiB, SEED + 'f');
	s = fdbox_session("fill");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, m, "f"));
	small = pattern_memfd("redeposit", FILL_SMALL, SEED + 'g');
	ASSERT_LE(0, small);
	ASSERT_EQ(0, fdbox_deposit(s, small, "g"));
	small = pattern_memfd("closed", FILL_SMALL, SEED + 'h');
	ASSERT_LE(0, small);
	ASSERT_EQ(0, fdbox_deposit(s, small, "h"));
	snprintf(args, sizeof(args), "fdbox.pfns=%llx",
		 (unsigned long long)fdbox_pfn_hash(map, FILL_HOLE));
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(args));
}

TEST_F_TIMEOUT(fill_stage2, every_reader_sees_its_pages, 300)
{
	struct fill_reader r[2];
	pthread_t t[2];
	char want[64], got[64];
	uint64_t page[512];
	long on_demand = 0, lost = 0;
	void *map;
	int d, m, g, h, s, i;

	ASSERT_EQ(0, write_file(FILL_TRACE "/trace", ""));
	ASSERT_EQ(0, write_file(FILL_TRACE "/events/fdbox/fdbox_fill_end/enable", "1"));
	d = fdbox_attach("fill");
	ASSERT_LE(0, d);

	/*
	 * Under strict overcommit with no room left: the pages exist
	 * already, so the retrieve takes them. Closed at once: the file goes
	 * once its pages are back.
	 */
	ASSERT_EQ(0, write_file("/proc/sys/vm/overcommit_ratio", "0"));
	ASSERT_EQ(0, write_file("/proc/sys/vm/overcommit_memory", "2"));
	h = fdbox_retrieve(d, "h", 0);
	ASSERT_EQ(0, write_file("/proc/sys/vm/overcommit_memory", "0"));
	ASSERT_EQ(0, write_file("/proc/sys/vm/overcommit_ratio", "50"));
	ASSERT_LE(0, h) TH_LOG("retrieve under strict overcommit: %s", strerror(-h));
	close(h);

	/* Deposited again at once: the deposit waits for every page. */
	g = fdbox_retrieve(d, "g", 0);
	ASSERT_LE(0, g);
	s = fdbox_session("again");
	ASSERT_LE(0, s);
	EXPECT_EQ(0, fdbox_deposit(s, g, "g"));
	map = mmap(NULL, FILL_SMALL, PROT_READ, MAP_SHARED, g, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(-1, fdbox_check(map, 0, FILL_SMALL, SEED + 'g'));
	munmap(map, FILL_SMALL);
	close(s);
	close(g);

	/* Read at once, from the end, by read() and two faulting threads. */
	m = fdbox_retrieve(d, "f", 0);
	ASSERT_LE(0, m);
	ASSERT_EQ(sizeof(page), pread(m, page, sizeof(page), FILL_SIZE - sizeof(page)));
	for (i = 0; i < (int)(sizeof(page) / 8); i++)
		if (page[i] != fdbox_mix((SEED + 'f') ^ ((FILL_SIZE - sizeof(page)) / 8 + i)))
			break;
	EXPECT_EQ(sizeof(page) / 8, i) TH_LOG("read(): word %d of the last page differs", i);
	map = mmap(NULL, FILL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	ASSERT_NE(MAP_FAILED, map);
	r[0] = (struct fill_reader){ .map = map, .start = FILL_HOLE + 16 * MiB, .end = FILL_SIZE };
	r[1] = (struct fill_reader){ .map = map, .start = 0, .end = FILL_HOLE };
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, fill_read, &r[i]));
	for (i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(-1, r[i].bad) TH_LOG("reader %d: page at %ld differs", i, r[i].bad);
	}
	/* The very pages of the previous kernel, whoever put them back. */
	ASSERT_EQ(0, fdbox_cmdline_get("fdbox.pfns", want, sizeof(want)));
	snprintf(got, sizeof(got), "%llx", (unsigned long long)fdbox_pfn_hash(map, FILL_HOLE));
	EXPECT_STREQ(want, got);

	/* The hole is still one; a size change waits, then works as ever. */
	EXPECT_EQ(FILL_HOLE + 16 * MiB, lseek(m, FILL_HOLE, SEEK_DATA));
	EXPECT_EQ(FILL_HOLE, lseek(m, 0, SEEK_HOLE));
	ASSERT_EQ(sizeof(page), pread(m, page, sizeof(page), FILL_HOLE));
	for (i = 0; i < (int)(sizeof(page) / 8) && !page[i]; i++)
		;
	EXPECT_EQ(sizeof(page) / 8, i) TH_LOG("the hole has data");
	EXPECT_EQ(0, ftruncate(m, FILL_SIZE / 2));
	EXPECT_EQ(0, ftruncate(m, FILL_SIZE));
	EXPECT_EQ(-1, check_down(map, 0, FILL_HOLE, SEED + 'f'));
	EXPECT_EQ(0, ((char *)map)[FILL_SIZE - 1]) TH_LOG("truncated data came back");
	munmap(map, FILL_SIZE);
	close(m);

	/* FINISH waits for the fills: KHO has given every page back. */
	EXPECT_EQ(0, fdbox_finish(d));
	close(d);
	EXPECT_EQ(fdbox_stat(KHO_IN, "preserved_bytes"),
		  fdbox_stat(KHO_IN, "restored_bytes") + fdbox_stat(KHO_IN, "released_bytes"));
	/* Three fills, none lost; the readers came first to some folios. */
	EXPECT_EQ(3, fill_traced(&on_demand, &lost));
	EXPECT_EQ(0, lost);
	EXPECT_LT(0, on_demand) TH_LOG("every folio was back before anyone looked");
	ksft_print_msg("folios put back on demand: %ld\n", on_demand);
}

/* ---- seals ---- */

#define SEALED_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

FDBOX_STAGE_FIXTURE(seals_stage1);
FDBOX_STAGE_FIXTURE(seals_stage2);

TEST_F(seals_stage1, deposit_sealed)
{
	int s, sealed, noexec, open_seals;

	sealed = pattern_memfd("sealed", 4 * MiB, SEED);
	ASSERT_LE(0, sealed);
	ASSERT_EQ(0, fcntl(sealed, F_ADD_SEALS, SEALED_SEALS));
	noexec = memfd_create("noexec", MFD_NOEXEC_SEAL);
	ASSERT_LE(0, noexec);
	ASSERT_EQ(0, fcntl(noexec, F_ADD_SEALS, F_SEAL_SEAL));
	open_seals = memfd_create("unsealed", MFD_ALLOW_SEALING);
	ASSERT_LE(0, open_seals);

	s = fdbox_session("seals");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, sealed, "sealed"));
	ASSERT_EQ(0, fdbox_deposit(s, noexec, "noexec"));
	ASSERT_EQ(0, fdbox_deposit(s, open_seals, "unsealed"));
	/* A seal added after the deposit travels too. */
	ASSERT_EQ(0, fcntl(open_seals, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(seals_stage2, seals_kept_and_enforced)
{
	struct stat st;
	int d, m;

	d = fdbox_attach("seals");
	ASSERT_LE(0, d);
	m = retrieve_checked(_metadata, d, "sealed", 4 * MiB, SEED);
	ASSERT_LE(0, m);
	EXPECT_EQ(SEALED_SEALS, fcntl(m, F_GET_SEALS));
	EXPECT_EQ(-1, pwrite(m, "x", 1, 0));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, ftruncate(m, MiB));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_WRITE, MAP_SHARED, m, 0));
	EXPECT_EQ(0, fcntl(m, F_ADD_SEALS, F_SEAL_SEAL));	/* not sealed yet */
	close(m);

	m = fdbox_retrieve(d, "noexec", 0);
	ASSERT_LE(0, m);
	EXPECT_EQ(F_SEAL_SEAL | F_SEAL_EXEC, fcntl(m, F_GET_SEALS));
	EXPECT_EQ(-1, fcntl(m, F_ADD_SEALS, F_SEAL_GROW));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, fstat(m, &st));
	EXPECT_EQ(0, st.st_mode & 0111);
	EXPECT_EQ(-1, fchmod(m, 0755));
	EXPECT_EQ(EPERM, errno);
	close(m);

	m = fdbox_retrieve(d, "unsealed", 0);
	ASSERT_LE(0, m);
	EXPECT_EQ(F_SEAL_FUTURE_WRITE, fcntl(m, F_GET_SEALS));
	EXPECT_EQ(0, ftruncate(m, MiB));
	close(m);
	close(d);
}

/* ---- names ---- */

static const char *const names[] = {
	"a",
	"with spaces and ~!@#$%^&*()",
	/* 249 bytes: the longest memfd_create() takes */
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"0123456789012345678901234567890123456789012345678901234567890123456789"
	"012345678901234567890123456789012345678",
	"", /* empty is allowed */
};

FDBOX_STAGE_FIXTURE(name_stage1);
FDBOX_STAGE_FIXTURE(name_stage2);

TEST_F(name_stage1, deposit_named)
{
	char label[16];
	unsigned int i;
	int s = fdbox_session("names");

	ASSERT_LE(0, s);
	ASSERT_EQ(249, strlen(names[2]));
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		int m = memfd_create(names[i], 0);

		ASSERT_LE(0, m) TH_LOG("memfd_create(%s)", names[i]);
		snprintf(label, sizeof(label), "n%u", i);
		ASSERT_EQ(0, fdbox_deposit(s, m, label));
		close(m);	/* the session keeps the file */
	}
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(name_stage2, names_kept)
{
	char label[16], path[64], link[512], want[512];
	unsigned int i;
	int d = fdbox_attach("names");

	ASSERT_LE(0, d);
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		int m, n;

		snprintf(label, sizeof(label), "n%u", i);
		m = fdbox_retrieve(d, label, 0);
		ASSERT_LE(0, m);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", m);
		n = readlink(path, link, sizeof(link) - 1);
		ASSERT_LT(0, n);
		link[n] = 0;
		snprintf(want, sizeof(want), "/memfd:%s (deleted)", names[i]);
		EXPECT_STREQ(want, link);
		close(m);
	}
	close(d);
}

/* ---- write_after_deposit ---- */

#define WAD_SIZE (32 * MiB)

FDBOX_STAGE_FIXTURE(write_after_deposit_stage1);
FDBOX_STAGE_FIXTURE(write_after_deposit_stage2);

TEST_F(write_after_deposit_stage1, write_then_kexec)
{
	char page[4096];
	void *map;
	int s, m;

	ASSERT_EQ(0, set_shmem_thp("never"));
	m = fdbox_memfd("wad", MFD_CLOEXEC, WAD_SIZE, &map);
	ASSERT_LE(0, m);
	fdbox_fill(map, 0, WAD_SIZE / 2, SEED);		/* second half: a hole */
	s = fdbox_session("wad");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, m, "wad"));

	/* Stores into deposited pages and into the hole, then write(). */
	fdbox_fill(map, 0, WAD_SIZE / 2, SEED + 1);
	fdbox_fill(map, WAD_SIZE / 2, WAD_SIZE / 4, SEED + 1);
	fdbox_fill(page, 0, sizeof(page), SEED + 2);
	ASSERT_EQ(sizeof(page), pwrite(m, page, sizeof(page), WAD_SIZE - 4096));

	/* Finalized, the file takes no new page; unfinalized, it does. */
	ASSERT_EQ(0, fdbox_ioctl(s, FDBOX_FINALIZE, NULL));
	EXPECT_EQ(-1, pwrite(m, page, sizeof(page), WAD_SIZE - 8192));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(sizeof(page), pwrite(m, page, sizeof(page), 0));	/* a page it has */
	ASSERT_EQ(0, fdbox_ioctl(s, FDBOX_UNFINALIZE, NULL));
	fdbox_fill(map, 0, WAD_SIZE / 2 + WAD_SIZE / 4, SEED + 1);
	munmap(map, WAD_SIZE);
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(write_after_deposit_stage2, every_write_arrived)
{
	char page[4096];
	struct stat st;
	void *map;
	int d, m;

	d = fdbox_attach("wad");
	ASSERT_LE(0, d);
	m = fdbox_retrieve(d, "wad", 0);
	ASSERT_LE(0, m);
	map = mmap(NULL, WAD_SIZE, PROT_READ, MAP_SHARED, m, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(-1, fdbox_check(map, 0, WAD_SIZE / 2 + WAD_SIZE / 4, SEED + 1));
	fdbox_fill(page, 0, sizeof(page), SEED + 2);
	EXPECT_EQ(0, memcmp((char *)map + WAD_SIZE - 4096, page, sizeof(page)));
	/* The rest of the hole stayed a hole. */
	ASSERT_EQ(0, fstat(m, &st));
	EXPECT_EQ((WAD_SIZE / 2 + WAD_SIZE / 4 + 4096) / 512, st.st_blocks);
	munmap(map, WAD_SIZE);
	close(m);
	close(d);
}

/* ---- multi_session: three holders ---- */

FDBOX_STAGE_FIXTURE(multi_session_stage1);
FDBOX_STAGE_FIXTURE(multi_session_stage2);

TEST_F(multi_session_stage1, three_processes)
{
	int i;

	for (i = 0; i < 3; i++) {
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (pid == 0) {
			char name[16];
			int s, m;

			snprintf(name, sizeof(name), "vm%d", i);
			m = pattern_memfd(name, (i + 1) * 8 * MiB, SEED + i);
			s = fdbox_session(name);
			if (m < 0 || s < 0 || fdbox_deposit(s, m, "ram"))
				_exit(1);
			close(m);
			/* This process holds the session until the kexec. */
			close(0);
			close(1);
			close(2);
			setsid();
			for (;;)
				pause();
		}
	}
	/* All three sessions exist before the kexec is loaded. */
	for (i = 0; i < 100; i++) {
		int s = fdbox_session("vm2");

		if (s == -EEXIST)
			break;
		if (s >= 0)
			close(s);
		usleep(100000);
	}
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(multi_session_stage2, three_sessions_back)
{
	struct fdbox_session_info sessions[4];
	int d, i, n;

	d = open(FDBOX_DESERIALIZE, O_RDWR);
	n = fdbox_list(d, FDBOX_LIST_SESSIONS, sessions, 4, sizeof(sessions[0]));
	close(d);
	ASSERT_EQ(3, n);
	for (i = 0; i < 3; i++) {
		char name[16];
		int m;

		snprintf(name, sizeof(name), "vm%d", i);
		d = fdbox_attach(name);
		ASSERT_LE(0, d) TH_LOG("session %s", name);
		m = retrieve_checked(_metadata, d, "ram", (i + 1) * 8 * MiB, SEED + i);
		EXPECT_LE(0, m);
		close(m);
		close(d);
	}
}

/* ---- closed_before_kexec ---- */

FDBOX_STAGE_FIXTURE(closed_before_kexec_stage1);
FDBOX_STAGE_FIXTURE(closed_before_kexec_stage2);

TEST_F(closed_before_kexec_stage1, cancel_returns_memory)
{
	long before, after;
	int s, m;

	before = fdbox_free_kb();
	m = pattern_memfd("cancelled", 256 * MiB, SEED);
	ASSERT_LE(0, m);
	s = fdbox_session("cancelled");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, m, "ram"));
	EXPECT_EQ(256 * MiB / 4096, fdbox_stat(KHO_OUT, "preserved_folios"));
	close(s);
	EXPECT_EQ(0, fdbox_stat(KHO_OUT, "preserved_folios"));
	close(m);
	/* Nothing lost; more free than before is the kernel's own doing. */
	after = fdbox_free_kb();
	EXPECT_LE(before - after, before / 100)
		TH_LOG("free memory %ld kB before, %ld kB after", before, after);
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(closed_before_kexec_stage2, nothing_arrived)
{
	struct fdbox_session_info sessions[2];
	int d = open(FDBOX_DESERIALIZE, O_RDWR);

	ASSERT_LE(0, d);
	EXPECT_EQ(0, fdbox_list(d, FDBOX_LIST_SESSIONS, sessions, 2, sizeof(sessions[0])));
	EXPECT_EQ(0, fdbox_stat("/sys/kernel/debug/kho/in/stats", "present"));
	close(d);
}

/* ---- unclaimed: released, never leaked ---- */

#define UC_SIZE (128 * MiB)

FDBOX_STAGE_FIXTURE(unclaimed_stage1);
FDBOX_STAGE_FIXTURE(unclaimed_stage2);

TEST_F(unclaimed_stage1, deposit_three_sessions)
{
	const char *labels[] = { "kept", "dropped", "left" };
	int i, j;

	for (i = 0; i < 3; i++) {
		char name[16];
		int s;

		snprintf(name, sizeof(name), "u%d", i);
		s = fdbox_session(name);
		ASSERT_LE(0, s);
		for (j = 0; j < 3; j++) {
			int m = pattern_memfd(labels[j], UC_SIZE / 4, SEED + j);

			ASSERT_LE(0, m);
			ASSERT_EQ(0, fdbox_deposit(s, m, labels[j]));
			close(m);
		}
	}
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

#define KHO_IN "/sys/kernel/debug/kho/in/stats"

struct released {
	long memfree_kb;
	long released;
};

static void release_start(struct released *r)
{
	r->memfree_kb = fdbox_free_kb();
	r->released = fdbox_stat(KHO_IN, "released_bytes");
}

/* KHO gave exactly @bytes back, and free memory grew by that much. */
static void expect_released(struct __test_metadata *_metadata, struct released *r,
			    long bytes, const char *what)
{
	long grew = fdbox_free_kb() - r->memfree_kb;

	EXPECT_EQ(bytes, fdbox_stat(KHO_IN, "released_bytes") - r->released)
		TH_LOG("%s: KHO released another amount", what);
	EXPECT_GE(grew, bytes / 1024 * 9 / 10) TH_LOG("%s: free memory grew by %ld kB", what, grew);
	EXPECT_LE(grew, bytes / 1024 * 11 / 10) TH_LOG("%s: free memory grew by %ld kB", what, grew);
}

TEST_F(unclaimed_stage2, released_not_leaked)
{
	struct fdbox_session_info sessions[4];
	struct fdbox_item_info items[4];
	struct released r;
	int d, d2, m;

	/*
	 * u0: one item retrieved, one discarded, one left: it waits across
	 * a close, and FDBOX_FINISH of a second attach releases it.
	 */
	d = fdbox_attach("u0");
	ASSERT_LE(0, d);
	m = retrieve_checked(_metadata, d, "kept", UC_SIZE / 4, SEED);
	ASSERT_LE(0, m);
	EXPECT_EQ(-EINVAL, fdbox_retrieve(d, "left", 4));
	release_start(&r);
	EXPECT_EQ(0, fdbox_label_op(d, FDBOX_DISCARD, "dropped"));
	expect_released(_metadata, &r, UC_SIZE / 4, "discard");
	EXPECT_EQ(-ENOENT, fdbox_label_op(d, FDBOX_DISCARD, "dropped"));
	EXPECT_EQ(-ENOENT, fdbox_label_op(d, FDBOX_DISCARD, "kept"));
	EXPECT_EQ(-ENOENT, fdbox_retrieve(d, "dropped", 0));
	release_start(&r);
	close(d);
	EXPECT_EQ(0, fdbox_stat(KHO_IN, "released_bytes") - r.released)
		TH_LOG("a close without finish released memory");
	d = fdbox_attach("u0");
	ASSERT_LE(0, d);
	/* "kept" listed as retrieved, "left" waiting; "dropped" is gone. */
	ASSERT_EQ(2, fdbox_list(d, FDBOX_LIST, items, 4, sizeof(items[0])));
	EXPECT_EQ(FDBOX_STATE_RETRIEVED, fdbox_find_info(items, 2, "kept")->state);
	EXPECT_EQ(FDBOX_STATE_INCOMING, fdbox_find_info(items, 2, "left")->state);
	release_start(&r);
	EXPECT_EQ(0, fdbox_finish(d));
	expect_released(_metadata, &r, UC_SIZE / 4, "finish");
	EXPECT_EQ(-ENOENT, fdbox_finish(d));
	close(d);

	/* u1: attached elsewhere, cannot be discarded; then finished. */
	d = fdbox_attach("u1");
	ASSERT_LE(0, d);
	d2 = open(FDBOX_DESERIALIZE, O_RDWR);
	EXPECT_EQ(-EBUSY, fdbox_name_op(d2, FDBOX_DISCARD_SESSION, "u1"));
	EXPECT_EQ(-EBUSY, fdbox_discard_in(d2, "u1", "kept"));
	EXPECT_EQ(-ENOENT, fdbox_finish(d2));
	release_start(&r);
	EXPECT_EQ(0, fdbox_finish(d));
	close(d);
	expect_released(_metadata, &r, 3 * UC_SIZE / 4, "finish u1");

	/* u2: nobody attaches; listed, then discarded. */
	ASSERT_EQ(1, fdbox_list(d2, FDBOX_LIST_SESSIONS, sessions, 4, sizeof(sessions[0])));
	EXPECT_STREQ("u2", sessions[0].name);
	EXPECT_EQ(3, sessions[0].nr_items);
	EXPECT_EQ(0, sessions[0].attached);
	ASSERT_EQ(3, fdbox_list_of(d2, FDBOX_LIST, "u2", items, 4, sizeof(items[0])));
	release_start(&r);
	EXPECT_EQ(0, fdbox_discard_in(d2, "u2", "left"));
	expect_released(_metadata, &r, UC_SIZE / 4, "discard an item of u2");
	EXPECT_EQ(-ENOENT, fdbox_discard_in(d2, "u2", "left"));
	release_start(&r);
	EXPECT_EQ(0, fdbox_name_op(d2, FDBOX_DISCARD_SESSION, "u2"));
	expect_released(_metadata, &r, UC_SIZE / 2, "discard u2");
	EXPECT_EQ(0, fdbox_list(d2, FDBOX_LIST_SESSIONS, sessions, 4, sizeof(sessions[0])));
	close(d2);
	close(m);
}

/*
 * ---- chain: live updates in a row ----
 * As many as the run has stages; FDBOX_CHAIN_MIB sets the size (64 MiB by
 * default), FDBOX_CHAIN_THP=1 backs it with THP (a GiB of 4 KiB pages
 * costs the debug kernel over a minute of page faults per stage). From
 * stage 3 on, free memory must stay within 1 % of what stage 2 saw:
 * nothing may leak or stay reserved from one update to the next.
 */

static size_t chain_size(void)
{
	const char *mib = getenv("FDBOX_CHAIN_MIB");

	return (mib ? strtoul(mib, NULL, 0) : 64) * MiB;
}

FDBOX_STAGE_FIXTURE(chain);

TEST_F_TIMEOUT(chain, carry_again, 600)
{
	const char *stages = getenv("FDBOX_STAGES");
	size_t size = chain_size();
	char want[64], got[64], next[160], base[32];
	int s, m, d = -1;
	long free_kb = 0;
	void *map;

	ASSERT_NE(NULL, stages);
	if (fdbox_stage == 1) {
		if (getenv("FDBOX_CHAIN_THP"))
			ASSERT_EQ(0, set_shmem_thp("always"));
		m = pattern_memfd("chain", size, SEED);
	} else {
		d = fdbox_attach("chain");
		ASSERT_LE(0, d);
		m = retrieve_checked(_metadata, d, "ram", size, SEED);
	}
	ASSERT_LE(0, m);
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, m, 0);
	ASSERT_NE(MAP_FAILED, map);
	snprintf(got, sizeof(got), "%llx", (unsigned long long)fdbox_pfn_hash(map, size));
	munmap(map, size);
	if (fdbox_stage > 1) {
		ASSERT_EQ(0, fdbox_cmdline_get("fdbox.pfns", want, sizeof(want)));
		EXPECT_STREQ(want, got) TH_LOG("not the same pages as stage 1");
		strcpy(got, want);
		free_kb = fdbox_free_kb();
		ASSERT_LT(0, free_kb);
		ksft_print_msg("stage %d: %ld kB free with the memfd retrieved\n",
			       fdbox_stage, free_kb);
	}
	if (fdbox_stage > 2) {
		ASSERT_EQ(0, fdbox_cmdline_get("fdbox.free", base, sizeof(base)));
		EXPECT_GE(free_kb, atol(base) - atol(base) / 100)
			TH_LOG("free memory drifted from %s kB to %ld kB", base, free_kb);
		EXPECT_LE(free_kb, atol(base) + atol(base) / 100)
			TH_LOG("free memory drifted from %s kB to %ld kB", base, free_kb);
		free_kb = atol(base);
	}
	if (fdbox_stage == atoi(stages))
		return;
	s = fdbox_session("chain");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, m, "ram"));
	/* The pages carried: a deposit moves those in KHO scratch. */
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, m, 0);
	ASSERT_NE(MAP_FAILED, map);
	snprintf(got, sizeof(got), "%llx", (unsigned long long)fdbox_pfn_hash(map, size));
	munmap(map, size);
	close(m);
	if (d >= 0)
		close(d);
	snprintf(next, sizeof(next), "fdbox.pfns=%s fdbox.free=%ld", got, free_kb);
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(next));
}

/* ---- handler_failure: the kexec is refused, nothing changes ---- */

FDBOX_STAGE_FIXTURE(handler_failure_stage1);
FDBOX_STAGE_FIXTURE(handler_failure_stage2);

TEST_F(handler_failure_stage1, refused_then_retried)
{
	struct fdbox_item_info items[2];
	long long far = 1LL << 53;	/* 8 PiB: beyond what a run describes */
	int good, bad, m, mbad;

	m = pattern_memfd("good", 16 * MiB, SEED);
	ASSERT_LE(0, m);
	good = fdbox_session("good");
	ASSERT_LE(0, good);
	ASSERT_EQ(0, fdbox_deposit(good, m, "ram"));
	mbad = memfd_create("bad", 0);
	ASSERT_LE(0, mbad);
	ASSERT_EQ(0, ftruncate(mbad, far));
	bad = fdbox_session("bad");
	ASSERT_LE(0, bad);
	ASSERT_EQ(0, fdbox_deposit(bad, mbad, "far"));
	/* A page the handler cannot describe, written after the deposit. */
	ASSERT_EQ(1, pwrite(mbad, "x", 1, far - 4096));

	ASSERT_EQ(0, fdbox_next_load(NULL));
	EXPECT_EQ(-EFBIG, kexec_reboot());
	/* Every session as before: deposited, not finalized, usable. */
	ASSERT_EQ(1, fdbox_list(good, FDBOX_LIST, items, 2, sizeof(items[0])));
	EXPECT_EQ(FDBOX_STATE_DEPOSITED, items[0].state);
	ASSERT_EQ(1, fdbox_list(bad, FDBOX_LIST, items, 2, sizeof(items[0])));
	EXPECT_EQ(FDBOX_STATE_DEPOSITED, items[0].state);
	EXPECT_EQ(-1, ftruncate(m, 0));
	EXPECT_EQ(EPERM, errno);

	/* Without the bad session, the kexec carries the good one. */
	close(bad);
	close(mbad);
	ASSERT_GT(fdbox_hold_forever(), 0);
}

TEST_F(handler_failure_stage2, good_session_arrived)
{
	struct fdbox_session_info sessions[4];
	int d, m;

	d = open(FDBOX_DESERIALIZE, O_RDWR);
	ASSERT_EQ(1, fdbox_list(d, FDBOX_LIST_SESSIONS, sessions, 4, sizeof(sessions[0])));
	close(d);
	d = fdbox_attach("good");
	ASSERT_LE(0, d);
	m = retrieve_checked(_metadata, d, "ram", 16 * MiB, SEED);
	EXPECT_LE(0, m);
	close(m);
	close(d);
}

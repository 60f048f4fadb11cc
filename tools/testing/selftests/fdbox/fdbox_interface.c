// SPDX-License-Identifier: GPL-2.0
/*
 * fdbox_interface: the handler interface, through the test handler and
 * participants of CONFIG_FDBOX_TEST (debugfs fdbox-test/).
 *
 * items_reference   (two stages) test objects that depend on each other:
 *                   a -> b -> c (c depends on b, b on a), d alone, "lonely"
 *                   depending on "x", and a memfd. Stage 1: a dependency
 *                   outside the session is refused (ENOLINK), an item
 *                   others depend on cannot be withdrawn (EBUSY). Stage 2:
 *                   retrieving c first builds b and a, and c's handler got
 *                   b's file; b is then retrieved with its bytes, a never;
 *                   after x is discarded, lonely is refused (ENOLINK) and
 *                   stays; a retrieve context reaches d's handler (its
 *                   inode number) and a memfd refuses one (EINVAL); the
 *                   handler's finish runs once per object built, handed
 *                   out (c, b, d) or not (a).
 * global_participant (two stages) objects using a global and a
 *                   session-scoped participant: one global instance for
 *                   all sessions, one per session, preserved with the first
 *                   user and released after the last, in the first kernel;
 *                   in the second, the global one was found at
 *                   subsys_initcall, and each is released (its page checked)
 *                   once the last item using it is finished or discarded.
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include "fdbox_stage.h"
#include "fdbox_lib.h"

#define TEST_DIR "/sys/kernel/debug/fdbox-test"
#define KHO_IN "/sys/kernel/debug/kho/in/stats"

/* The test handler's ioctls (fs/fdbox/testing.c). */
#define FDBOX_TEST_NEW		_IO(FDBOX_TYPE, 0x1c)
#define FDBOX_TEST_DEPEND	_IO(FDBOX_TYPE, 0x1d)
#define FDBOX_TEST_USE		_IO(FDBOX_TYPE, 0x1e)
#define FDBOX_TEST_INFO		_IO(FDBOX_TYPE, 0x1f)
#define FDBOX_TEST_USE_GLOBAL	1
#define FDBOX_TEST_USE_SESSION	2

struct fdbox_test_info {
	__u64 dep_head;
	__u64 context_ino;
};

static long test_stat(const char *key)
{
	return fdbox_stat(TEST_DIR "/stats", key);
}

/* A test object holding @text; its fd or -errno. */
static int object(const char *text)
{
	int factory = open(TEST_DIR "/object", O_RDWR | O_CLOEXEC), fd;

	if (factory < 0)
		return -errno;
	fd = ioctl(factory, FDBOX_TEST_NEW, 0);
	close(factory);
	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -EIO;
	}
	return fd;
}

/* Deposit a new object holding @text under @label, depending on @dep (or -1). */
static int deposit_object(int s, const char *label, const char *text, int dep,
			  unsigned long uses)
{
	int o = object(text), err;

	if (o < 0)
		return o;
	err = dep >= 0 ? fdbox_ioctl(o, FDBOX_TEST_DEPEND, (void *)(long)dep) : 0;
	err = err ?: fdbox_ioctl(o, FDBOX_TEST_USE, (void *)uses);
	err = err ?: fdbox_deposit(s, o, label);
	close(o);
	return err;
}

/* The bytes of a retrieved object, compared with @text. */
static int object_holds(int fd, const char *text)
{
	char buf[256] = { 0 };
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	return n == (ssize_t)strlen(text) && !memcmp(buf, text, n);
}

static long first8(const char *text)
{
	long v = 0;

	memcpy(&v, text, 8);
	return v;
}

/* ---- items_reference ---- */

FDBOX_STAGE_FIXTURE(items_reference_stage1);
FDBOX_STAGE_FIXTURE(items_reference_stage2);

#define TA "alpha: depended on by b"
#define TB "bravo: depends on a"
#define TC "charlie: depends on b"
#define TD "delta: takes a context"
#define TX "xray: discarded before lonely"

TEST_F(items_reference_stage1, deposit)
{
	int s, other, a, b, c, x, m, o;

	s = fdbox_session("refs");
	ASSERT_LE(0, s);
	other = fdbox_session("other");
	ASSERT_LE(0, other);

	a = object(TA);
	b = object(TB);
	c = object(TC);
	x = object(TX);
	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ASSERT_LE(0, c);
	ASSERT_LE(0, x);
	ASSERT_EQ(0, fdbox_ioctl(b, FDBOX_TEST_DEPEND, (void *)(long)a));
	ASSERT_EQ(0, fdbox_ioctl(c, FDBOX_TEST_DEPEND, (void *)(long)b));
	/* b's dependency is not deposited yet, then in another session. */
	EXPECT_EQ(-ENOLINK, fdbox_deposit(s, b, "b"));
	ASSERT_EQ(0, fdbox_deposit(other, a, "a-elsewhere"));
	EXPECT_EQ(-ENOLINK, fdbox_deposit(s, b, "b"));
	close(other);	/* cancels that session: a is free again */
	ASSERT_EQ(0, fdbox_deposit(s, a, "a"));
	ASSERT_EQ(0, fdbox_deposit(s, b, "b"));
	ASSERT_EQ(0, fdbox_deposit(s, c, "c"));
	ASSERT_EQ(0, fdbox_deposit(s, x, "x"));
	ASSERT_EQ(0, deposit_object(s, "lonely", "lonely: depends on x", x, 0));
	ASSERT_EQ(0, deposit_object(s, "d", TD, -1, 0));
	m = fdbox_memfd("plain", MFD_CLOEXEC, 4096, NULL);
	ASSERT_LE(0, m);
	ASSERT_EQ(0, fdbox_deposit(s, m, "plain"));
	close(m);

	/* What others depend on stays; what nothing depends on can go. */
	EXPECT_EQ(-EBUSY, fdbox_label_op(s, FDBOX_WITHDRAW, "a"));
	EXPECT_EQ(-EBUSY, fdbox_label_op(s, FDBOX_WITHDRAW, "b"));
	o = object("gone");
	ASSERT_LE(0, o);
	ASSERT_EQ(0, fdbox_ioctl(o, FDBOX_TEST_DEPEND, (void *)(long)c));
	ASSERT_EQ(0, fdbox_deposit(s, o, "withdrawn"));
	EXPECT_EQ(-EBUSY, fdbox_label_op(s, FDBOX_WITHDRAW, "c"));
	EXPECT_EQ(0, fdbox_label_op(s, FDBOX_WITHDRAW, "withdrawn"));
	close(o);
	close(a);
	close(b);
	close(c);
	close(x);
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(items_reference_stage2, retrieve_in_order)
{
	struct fdbox_retrieve ret = { .size = sizeof(ret) };
	struct fdbox_item_info items[8], *it;
	struct fdbox_test_info info;
	int d, b, c, dd, ctx, n;
	struct stat st;
	long finished = test_stat("items_finished");

	d = fdbox_attach("refs");
	ASSERT_LE(0, d);
	n = fdbox_list(d, FDBOX_LIST, items, 8, sizeof(items[0]));
	ASSERT_EQ(7, n);
	it = fdbox_find_info(items, n, "c");
	ASSERT_NE(NULL, it);
	EXPECT_STREQ("fdbox,test-object-v1", it->compatible);
	EXPECT_EQ(FDBOX_ITEM_OTHER, it->type);

	/* c first: b and a are built for it, and c saw b. */
	c = fdbox_retrieve(d, "c", 0);
	ASSERT_LE(0, c) TH_LOG("retrieve c: %s", strerror(-c));
	EXPECT_TRUE(object_holds(c, TC));
	ASSERT_EQ(0, fdbox_ioctl(c, FDBOX_TEST_INFO, &info));
	EXPECT_EQ(first8(TB), (long)info.dep_head) TH_LOG("c's handler did not get b");
	n = fdbox_list(d, FDBOX_LIST, items, 8, sizeof(items[0]));
	EXPECT_EQ(FDBOX_STATE_INCOMING, fdbox_find_info(items, n, "b")->state);
	b = fdbox_retrieve(d, "b", 0);
	ASSERT_LE(0, b);
	EXPECT_TRUE(object_holds(b, TB));
	ASSERT_EQ(0, fdbox_ioctl(b, FDBOX_TEST_INFO, &info));
	EXPECT_EQ(first8(TA), (long)info.dep_head) TH_LOG("b's handler did not get a");
	/* a, built for b, is never handed out: it is finished all the same. */

	/* A dependency discarded: refused clearly, and the item stays. */
	EXPECT_EQ(0, fdbox_label_op(d, FDBOX_DISCARD, "x"));
	EXPECT_EQ(-ENOLINK, fdbox_retrieve(d, "lonely", 0));
	n = fdbox_list(d, FDBOX_LIST, items, 8, sizeof(items[0]));
	ASSERT_NE(NULL, fdbox_find_info(items, n, "lonely"));
	EXPECT_EQ(FDBOX_STATE_INCOMING, fdbox_find_info(items, n, "lonely")->state);
	EXPECT_EQ(0, fdbox_label_op(d, FDBOX_DISCARD, "lonely"));

	/* A context: given to the object, refused by the memfd. */
	ctx = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, ctx);
	ret.flags = FDBOX_RETRIEVE_CONTEXT;
	ret.context_fd = ctx;
	strcpy(ret.label, "plain");
	EXPECT_EQ(-EINVAL, fdbox_ioctl(d, FDBOX_RETRIEVE, &ret));
	ret.context_fd = -1;
	strcpy(ret.label, "d");
	EXPECT_EQ(-EBADF, fdbox_ioctl(d, FDBOX_RETRIEVE, &ret));
	ret.flags = 0;
	ret.context_fd = ctx;
	EXPECT_EQ(-EINVAL, fdbox_ioctl(d, FDBOX_RETRIEVE, &ret));
	ret.flags = FDBOX_RETRIEVE_CONTEXT;
	ASSERT_EQ(0, fdbox_ioctl(d, FDBOX_RETRIEVE, &ret));
	dd = ret.fd;
	EXPECT_TRUE(object_holds(dd, TD));
	ASSERT_EQ(0, fdbox_ioctl(dd, FDBOX_TEST_INFO, &info));
	ASSERT_EQ(0, fstat(ctx, &st));
	EXPECT_EQ((__u64)st.st_ino, info.context_ino);

	/* The finish step reaches each built object's handler: c, b, a, d. */
	EXPECT_EQ(finished, test_stat("items_finished"));
	EXPECT_EQ(0, fdbox_finish(d));
	EXPECT_EQ(finished + 4, test_stat("items_finished"));
	/* The objects stay usable after the finish. */
	EXPECT_TRUE(object_holds(c, TC));
	close(b);
	close(c);
	close(dd);
	close(ctx);
	close(d);
	EXPECT_EQ(fdbox_stat(KHO_IN, "preserved_bytes"),
		  fdbox_stat(KHO_IN, "restored_bytes") + fdbox_stat(KHO_IN, "released_bytes"));
}

/* ---- global_participant ---- */

FDBOX_STAGE_FIXTURE(global_participant_stage1);
FDBOX_STAGE_FIXTURE(global_participant_stage2);

TEST_F(global_participant_stage1, preserved_while_used)
{
	int ga, gb, gc;

	ASSERT_EQ(0, test_stat("out_global"));
	ga = fdbox_session("ga");
	gb = fdbox_session("gb");
	gc = fdbox_session("gc");
	ASSERT_LE(0, ga);
	ASSERT_LE(0, gb);
	ASSERT_LE(0, gc);
	ASSERT_EQ(0, deposit_object(ga, "g1", "g1", -1, FDBOX_TEST_USE_GLOBAL));
	ASSERT_EQ(0, deposit_object(ga, "g2", "g2", -1, FDBOX_TEST_USE_GLOBAL));
	ASSERT_EQ(0, deposit_object(gc, "g4", "g4", -1, FDBOX_TEST_USE_GLOBAL));
	EXPECT_EQ(1, test_stat("out_global")) TH_LOG("one instance for all sessions");
	ASSERT_EQ(0, deposit_object(ga, "s1", "s1", -1, FDBOX_TEST_USE_SESSION));
	ASSERT_EQ(0, deposit_object(ga, "s1b", "s1b", -1, FDBOX_TEST_USE_SESSION));
	ASSERT_EQ(0, deposit_object(gb, "s2", "s2", -1,
				    FDBOX_TEST_USE_SESSION | FDBOX_TEST_USE_GLOBAL));
	EXPECT_EQ(2, test_stat("out_session")) TH_LOG("one instance per session");

	/* Released after the last user, and taken again. */
	EXPECT_EQ(0, fdbox_label_op(ga, FDBOX_WITHDRAW, "s1b"));
	EXPECT_EQ(2, test_stat("out_session"));
	EXPECT_EQ(0, fdbox_label_op(gb, FDBOX_WITHDRAW, "s2"));
	EXPECT_EQ(1, test_stat("out_session"));
	EXPECT_EQ(0, fdbox_label_op(ga, FDBOX_WITHDRAW, "g1"));
	EXPECT_EQ(0, fdbox_label_op(ga, FDBOX_WITHDRAW, "g2"));
	EXPECT_EQ(1, test_stat("out_global")) TH_LOG("g4 in gc still uses it");
	close(gc);
	EXPECT_EQ(0, test_stat("out_global")) TH_LOG("no user left");
	ASSERT_EQ(0, deposit_object(ga, "g3", "g3", -1, FDBOX_TEST_USE_GLOBAL));
	ASSERT_EQ(0, deposit_object(gb, "s2", "s2", -1, FDBOX_TEST_USE_SESSION));
	EXPECT_EQ(1, test_stat("out_global"));
	EXPECT_EQ(2, test_stat("out_session"));
	ASSERT_GT(fdbox_hold_forever(), 0);
	ASSERT_EQ(0, fdbox_next_load(NULL));
}

TEST_F(global_participant_stage2, released_after_last_user)
{
	int d, g3;

	EXPECT_EQ(1, test_stat("in_global_early")) TH_LOG("not found at subsys_initcall");
	EXPECT_EQ(0, test_stat("in_global_finished"));
	EXPECT_EQ(0, test_stat("in_session_finished"));

	/* ga: g3 (global) and s1 (its session's); finished after retrieve. */
	d = fdbox_attach("ga");
	ASSERT_LE(0, d);
	g3 = fdbox_retrieve(d, "g3", 0);
	ASSERT_LE(0, g3);
	EXPECT_TRUE(object_holds(g3, "g3"));
	EXPECT_EQ(0, test_stat("in_global_finished")) TH_LOG("released while in use");
	EXPECT_EQ(0, fdbox_finish(d));
	EXPECT_EQ(1, test_stat("in_global_finished"));
	EXPECT_EQ(1, test_stat("in_session_finished"));
	close(d);
	close(g3);

	/* gb: s2 discarded with its session. */
	d = open(FDBOX_DESERIALIZE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, d);
	EXPECT_EQ(0, fdbox_name_op(d, FDBOX_DISCARD_SESSION, "gb"));
	EXPECT_EQ(2, test_stat("in_session_finished"));
	EXPECT_EQ(0, test_stat("in_bad_pattern")) TH_LOG("a participant's page changed");
	close(d);
	EXPECT_EQ(fdbox_stat(KHO_IN, "preserved_bytes"),
		  fdbox_stat(KHO_IN, "restored_bytes") + fdbox_stat(KHO_IN, "released_bytes"));
}

// SPDX-License-Identifier: GPL-2.0
/*
 * fdbox_fuzz: a seeded fuzzer of every ioctl of /dev/kho/serialize and
 * /dev/kho/deserialize, calling from several threads at once. One boot:
 *
 *   fdbox_fuzz --case fuzz --stage 1
 *
 * The harness takes argv, so the knobs are environment variables:
 *
 *   FDBOX_FUZZ_SEED     seed (default: from the clock), printed as
 *                       "# seed: N" so that a failing run can be replayed
 *   FDBOX_FUZZ_CALLS    fuzzed ioctls in all (default 100000, what CI
 *                       runs); a longer run, with a longer limit:
 *                         vm-run.sh --timeout 3600 --cmd \
 *                           'FDBOX_FUZZ_CALLS=1000000 fdbox_fuzz --case fuzz --stage 1'
 *   FDBOX_FUZZ_THREADS  threads (default 4, at most 64)
 *
 * Tests of FIXTURE(fuzz_stage1):
 *   ioctls                  the fuzz run
 *   nothing_left_preserved  once every file is closed: no session left, KHO
 *                           holds nothing
 *   kmemleak_clean          two kmemleak scans find nothing (skipped
 *                           without kmemleak)
 *
 * The calls. A pool holds what they aim at: serialize sessions (named or
 * not, with items or not, finalized or not), deserialize files, memfds of
 * 0-64 KiB (holes, seals), and files never replaced (pipe, socket, tmpfs
 * file, a memfd with a read-only and an O_PATH fd, and a vfio-pci device
 * with its group and container when the VM has QEMU's edu device and
 * no-IOMMU mode). Each thread has its
 * own PRNG seeded from the seed and its index. A call picks a target (a
 * session, a deserialize file, a file of another kind, an fd that is not
 * open), a command (each FDBOX_* ioctl, the same numbers with direction
 * and size bits, unknown numbers of type 0xBB) and an argument: NULL, a
 * bad pointer, random bytes, a structure the other threads keep changing
 * while the kernel reads it, or mostly a valid structure with a field or
 * two broken (size too small, too large with a zero or non-zero tail,
 * huge; flags; reserved; names and labels empty, unterminated, with
 * control or high bytes, or taken; fds; list counts, entry sizes and
 * entries pointers). Each thread's structures sit in an arena followed by
 * a PROT_NONE page, sometimes right against it or across it (partial
 * faults), or in a read-only alias of it (the kernel's writes fault). Now
 * and then a thread replaces a pool object (a session closed and another
 * opened, named, filled, finalized) while the others go on calling on it:
 * the ioctls run unlocked.
 *
 * The oracle. From the bytes it put in user memory the fuzzer computes
 * what the kernel must answer, as fdbox_copy_arg() and the checks of each
 * ioctl do (fs/fdbox): EBADF, ENOTTY, or the exact error of the argument
 * checks (EFAULT, EINVAL, E2BIG), and then no write to user memory at
 * all; past the checks, success or one of the errors the state of the
 * sessions can give. It fails on anything else, on a return value other
 * than 0 or -1, and on a listing that writes outside its entries or fills
 * them wrongly. The errors are those of Documentation/userspace-api/
 * fdbox.rst (EPERM only comes from open()) and, from the kernel source,
 * ENOMEM where fdbox allocates, EMFILE and ENOSPC for a retrieve. A call
 * whose target was replaced while it ran may get any of them, EBADF or
 * ENOTTY. Sanitizer reports (KASAN, lockdep, list debugging) fail the VM
 * run (vm-verdict.sh); kmemleak_clean and the VM's init both scan for
 * leaks.
 *
 * Replay: the calls a thread makes depend on the seed alone, their
 * interleaving does not. The same seed, calls and threads make the same
 * calls again; with FDBOX_FUZZ_THREADS=1 (thread 0's calls alone) the
 * kernel sees them in the same order too.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "fdbox_stage.h"
#include "fdbox_lib.h"
#include "fdbox_vfio_lib.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE	0x0010
#endif

#define KHO_OUT		"/sys/kernel/debug/kho/out/stats"
#define KMEMLEAK	"/sys/kernel/debug/kmemleak"

#define PG		4096		/* PAGE_SIZE of x86_64: fdbox_copy_arg()'s limit */
#define ARENA		(2 * PG)	/* per-thread argument arena, then a guard page */
#define ENT_SIZE	(256 << 10)	/* per-thread listing buffer, then a guard page */
#define ENT_FILL	(16 << 10)	/* bytes of entries checked, at most */
#define CANARY		64
#define MEMFD_MAX	(64 << 10)
/* Preserved bytes: whole folios, which may be THP (shmem_enabled) */
#define ALIGN_2M(x)	(((x) + (2ULL << 20) - 1) & ~((2ULL << 20) - 1))
#define LIST_MAX	65536		/* FDBOX_LIST_MAX */

#define NR_SER		6
#define NR_DES		3
#define NR_MEMFD	10
#define SLOT_SER	0
#define SLOT_DES	(SLOT_SER + NR_SER)
#define SLOT_MEMFD	(SLOT_DES + NR_DES)
#define NR_SLOTS	(SLOT_MEMFD + NR_MEMFD)

#define MAX_THREADS	64
#define MAX_REPORTS	20
#define STALL_S		120		/* as the hung task detector */
#define NR_ERRNO	134

/* ---- what each ioctl takes and may answer ---- */

/* Sets of errnos: EOPNOTSUPP is 95. */
#define EB(e)		((__uint128_t)1 << (e))

enum { DEV_SER = 1, DEV_DES = 2 };

enum argkind { A_NONE, A_SET_NAME, A_DEPOSIT, A_LABEL, A_LIST, A_SESSIONS, A_ATTACH,
	       A_RETRIEVE, NR_KINDS };

static const struct {
	unsigned int ksize;	/* the kernel's sizeof */
	unsigned int minsize;	/* _SIZE_VER0 */
} kinds[NR_KINDS] = {
	[A_SET_NAME] = { sizeof(struct fdbox_set_name), FDBOX_SET_NAME_SIZE_VER0 },
	[A_DEPOSIT] = { sizeof(struct fdbox_deposit), FDBOX_DEPOSIT_SIZE_VER0 },
	[A_LABEL] = { sizeof(struct fdbox_label), FDBOX_LABEL_SIZE_VER0 },
	[A_LIST] = { sizeof(struct fdbox_list), FDBOX_LIST_SIZE_VER0 },
	[A_SESSIONS] = { sizeof(struct fdbox_list), FDBOX_LIST_SIZE_VER0 },
	[A_ATTACH] = { sizeof(struct fdbox_attach), FDBOX_ATTACH_SIZE_VER0 },
	[A_RETRIEVE] = { sizeof(struct fdbox_retrieve), FDBOX_RETRIEVE_SIZE_VER0 },
};

#define LIST_ERRS	(EB(ENOMEM) | EB(EFAULT))	/* kvcalloc(), copy-out */

/*
 * @ser, @des: the errors a call may get once its argument passed the
 * checks, on each device (fs/fdbox/session.c, restore.c, memfd.c).
 */
static const struct fuzz_cmd {
	const char *name;
	unsigned int cmd;
	enum argkind arg;
	int devs;
	__uint128_t ser, des;
} cmds[] = {
	{ "SET_NAME", FDBOX_SET_NAME, A_SET_NAME, DEV_SER, EB(EBUSY) | EB(EEXIST), 0 },
	/* EINVAL: the session has no name */
	{ "DEPOSIT", FDBOX_DEPOSIT, A_DEPOSIT, DEV_SER,
	  EB(EBADF) | EB(EACCES) | EB(EOPNOTSUPP) | EB(EINVAL) | EB(EBUSY) | EB(EEXIST) |
	  EB(ENOMEM), 0 },
	{ "WITHDRAW", FDBOX_WITHDRAW, A_LABEL, DEV_SER, EB(ENOENT) | EB(EBUSY), 0 },
	{ "FINALIZE", FDBOX_FINALIZE, A_NONE, DEV_SER, EB(EINVAL) | EB(EBUSY) | EB(ENOMEM), 0 },
	{ "UNFINALIZE", FDBOX_UNFINALIZE, A_NONE, DEV_SER, EB(EINVAL) | EB(EBUSY), 0 },
	{ "LIST", FDBOX_LIST, A_LIST, DEV_SER | DEV_DES,
	  LIST_ERRS | EB(ENOENT), LIST_ERRS | EB(ENOENT) },
	{ "LIST_SESSIONS", FDBOX_LIST_SESSIONS, A_SESSIONS, DEV_SER | DEV_DES,
	  LIST_ERRS, LIST_ERRS },
	{ "ATTACH", FDBOX_ATTACH, A_ATTACH, DEV_DES, 0, EB(EBUSY) | EB(ENOENT) },
	/* EINVAL, ENOMEM, ENOSPC: the handler could not rebuild the file */
	{ "RETRIEVE", FDBOX_RETRIEVE, A_RETRIEVE, DEV_DES, 0,
	  EB(ENOENT) | EB(EOPNOTSUPP) | EB(EFAULT) | EB(EMFILE) | EB(ENOMEM) | EB(EINVAL) |
	  EB(ENOSPC) },
	{ "DISCARD", FDBOX_DISCARD, A_LABEL, DEV_DES, 0, EB(EBUSY) | EB(ENOENT) },
	{ "DISCARD_SESSION", FDBOX_DISCARD_SESSION, A_ATTACH, DEV_DES, 0, EB(EBUSY) | EB(ENOENT) },
	{ "FINISH", FDBOX_FINISH, A_NONE, DEV_DES, 0, EB(ENOENT) },
};

#define NR_CMDS		((int)ARRAY_SIZE(cmds))
#define B_VARIANT	NR_CMDS		/* an fdbox number with dir/size bits */
#define B_UNKNOWN	(NR_CMDS + 1)	/* a number of type 0xBB fdbox lacks */
#define NR_BUCKETS	(NR_CMDS + 2)

/* Anything fdbox answers: for a call whose target fd changed under it. */
#define ALL_ERRS	(EB(EFAULT) | EB(EINVAL) | EB(E2BIG) | EB(EBADF) | EB(EACCES) | \
			 EB(EOPNOTSUPP) | EB(ENOTTY) | EB(EBUSY) | EB(EEXIST) | EB(ENOENT) | \
			 EB(ENOMEM) | EB(EMFILE) | EB(ENOSPC))

enum { T_SER, T_DES, T_WRONG, T_BAD, NR_TKINDS };
static const char *const tkind_names[NR_TKINDS] = {
	"serialize", "deserialize", "other file", "bad fd"
};

/* ---- names and labels: a few valid ones, so that EEXIST and ENOENT happen ---- */

#define LONG63 "abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ-012345678"
_Static_assert(sizeof(LONG63) == FDBOX_NAME_MAX, "a name of 63 bytes");

static const char *const good_names[] = {
	"fz0", "fz1", "fz2", "fz3", "fz4", "fz5", " fz with spaces ~!@#", LONG63,
};
static const char *const good_labels[] = { "ram", "l1", "l2", "l3", "dev 0", "~", LONG63 };
#define NR_NAMES	((int)ARRAY_SIZE(good_names))
#define NR_LABELS	((int)ARRAY_SIZE(good_labels))

/* ---- the pool ---- */

/*
 * A replaceable object. @gen is odd while a thread replaces it: a call
 * that saw it change may have hit another file under the same number.
 */
struct slot {
	int fd;
	unsigned int gen;
};

static struct slot pool[NR_SLOTS];
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

enum { ST_PIPE_R, ST_PIPE_W, ST_SOCK, ST_TMPFILE, ST_MEMFD, ST_MEMFD_RO, ST_OPATH,
       ST_VFIO_DEV, ST_VFIO_GROUP, ST_VFIO_CONTAINER, NR_STATIC };
static int statics[NR_STATIC];
static struct vdev vfio;
static bool have_vfio;

/* Numbers never open in this process. */
static const int bad_fds[] = { -1, -100, INT_MIN, INT_MAX, 100000, 1 << 20 };
#define NR_BAD_FDS	((int)ARRAY_SIZE(bad_fds))

/*
 * One page per kind of structure, shared by the threads, which change
 * its fields while others pass it to the kernel. The listing's entries
 * pointer is never changed: it points into racy_ent, followed by a
 * guard page, so that whatever count the kernel reads it cannot write
 * anywhere else.
 */
static unsigned char *racy, *racy_ent;

static unsigned long long seed;
static unsigned long nr_failures;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- per thread ---- */

struct prng {
	uint64_t s;
};

union argbuf {
	unsigned char b[PG + 64];
	struct fdbox_set_name set_name;
	struct fdbox_deposit deposit;
	struct fdbox_label label;
	struct fdbox_list list;
	struct fdbox_attach attach;
	struct fdbox_retrieve retrieve;
};

struct expect {
	__uint128_t allowed;
	bool ok;		/* success allowed */
	int exact;		/* the one error predicted, or 0 */
	bool arg_stage;		/* refused before the kernel looked at state: no writes */
};

struct call {
	int tkind, slot, fd, bucket;
	unsigned int gen, cmd;
	const char *amode;	/* how the argument was made */
	const char *where;	/* and where it is */
	void *arg;
	bool racy;
	/* The argument in user memory, when the fuzzer knows it. */
	unsigned char *user;	/* its bytes, read-write view */
	size_t readable;	/* from there to the first unreadable byte */
	size_t snap_len;
	unsigned char snap[256];
	/* A listing into this thread's buffer: canaries around its entries. */
	unsigned char *ent;
	size_t ent_fill;	/* bytes pre-filled with 0x5a from ent */
	bool canary_after;
	uint64_t ent_bytes;	/* min(count, LIST_MAX) * entry_size */
	uint32_t count, esize;
	struct expect ex;
};

struct fuzzer {
	int id;
	struct prng r;
	unsigned long target, calls, replaced;
	unsigned long relaxed;		/* calls whose target was replaced meanwhile */
	int done;
	/* The call in flight, for the stall report. */
	int cur_bucket, cur_fd, cur_tkind, in_call;
	unsigned char *rw, *ro, *ent;
	union argbuf buf;
	unsigned long stats[NR_TKINDS][NR_BUCKETS][NR_ERRNO];
	pthread_t tid;
};

/* splitmix64 */
static uint64_t rnd64(struct prng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned int rnd(struct prng *r, unsigned int n)
{
	return n ? rnd64(r) % n : 0;
}

static int slot_fd(int i, unsigned int *gen)
{
	*gen = __atomic_load_n(&pool[i].gen, __ATOMIC_ACQUIRE);
	return __atomic_load_n(&pool[i].fd, __ATOMIC_RELAXED);
}

static bool slot_changed(int i, unsigned int gen)
{
	return (gen & 1) || __atomic_load_n(&pool[i].gen, __ATOMIC_ACQUIRE) != gen;
}

static int any_slot_fd(int i)
{
	unsigned int gen;

	return slot_fd(i, &gen);
}

static const char *ename(int e)
{
	static const struct { int e; const char *name; } t[] = {
#define ERRNAME(x) { x, #x }
		ERRNAME(EPERM), ERRNAME(ENOENT), ERRNAME(EINTR), ERRNAME(EIO), ERRNAME(E2BIG),
		ERRNAME(EBADF), ERRNAME(EAGAIN), ERRNAME(ENOMEM), ERRNAME(EACCES),
		ERRNAME(EFAULT), ERRNAME(EBUSY), ERRNAME(EEXIST), ERRNAME(EINVAL),
		ERRNAME(EMFILE), ERRNAME(ENOTTY), ERRNAME(EFBIG), ERRNAME(ENOSPC),
		ERRNAME(ERANGE), ERRNAME(EMSGSIZE), ERRNAME(EOPNOTSUPP), ERRNAME(EOVERFLOW),
#undef ERRNAME
	};
	static __thread char other[24];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(t); i++)
		if (t[i].e == e)
			return t[i].name;
	snprintf(other, sizeof(other), "errno %d", e);
	return other;
}

static const char *bucket_name(int b)
{
	return b < NR_CMDS ? cmds[b].name : b == B_VARIANT ? "(dir/size bits)" : "(unknown nr)";
}

/* One line of log, whole, whatever the other threads print. */
static void say(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&report_lock);
	printf("# %s\n", line);
	fflush(stdout);
	pthread_mutex_unlock(&report_lock);
}

static bool count_failure(void)
{
	return __atomic_fetch_add(&nr_failures, 1, __ATOMIC_RELAXED) < MAX_REPORTS;
}

/* A call that went wrong: everything needed to find it again. */
static void report(struct fuzzer *f, struct call *c, const char *fmt, ...)
{
	char what[256], hex[3 * 96 + 1] = "";
	size_t i, n = c->snap_len < 96 ? c->snap_len : 96;
	va_list ap;

	if (!count_failure())
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	for (i = 0; i < n; i++)
		snprintf(hex + 3 * i, 4, "%02x ", c->snap[i]);
	say("FAIL: seed %llu thread %d call %lu: %s fd %d, cmd %s 0x%08x, arg %s%s %p: %s",
	    seed, f->id, f->calls, tkind_names[c->tkind], c->fd, bucket_name(c->bucket),
	    c->cmd, c->amode, c->where, c->arg, what);
	if (n)
		say("  argument as passed (%zu bytes readable): %s", c->readable, hex);
}

/* ---- valid names and everything else ---- */

static bool name_valid(const char *name)
{
	size_t len = strnlen(name, FDBOX_NAME_MAX), i;

	if (!len || len == FDBOX_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] > 0x7e)
			return false;
	return true;
}

/* A name or label: one of @good most of the time if @often_valid. */
static void put_name(struct prng *r, char *dst, const char *const *good, int ngood,
		     bool often_valid)
{
	unsigned int i, len;

	memset(dst, 0, FDBOX_NAME_MAX);
	if (rnd(r, 100) < (often_valid ? 80 : 25)) {
		strcpy(dst, good[rnd(r, ngood)]);
		/* What follows the NUL does not count. */
		if (!rnd(r, 8))
			for (i = strlen(dst) + 1; i < FDBOX_NAME_MAX; i++)
				dst[i] = 1 + rnd(r, 255);
		return;
	}
	switch (rnd(r, 8)) {
	case 0:		/* random printable: valid */
		len = 1 + rnd(r, FDBOX_NAME_MAX - 1);
		for (i = 0; i < len; i++)
			dst[i] = 0x20 + rnd(r, 0x5f);
		break;
	case 1:		/* empty */
		break;
	case 2:		/* unterminated */
		memset(dst, 'A', FDBOX_NAME_MAX);
		break;
	case 3:		/* unterminated, printable */
		for (i = 0; i < FDBOX_NAME_MAX; i++)
			dst[i] = 0x20 + rnd(r, 0x5f);
		break;
	case 4:		/* a control character */
		strcpy(dst, good[rnd(r, ngood)]);
		dst[rnd(r, strlen(dst))] = 1 + rnd(r, 0x1f);
		break;
	case 5:		/* DEL */
		strcpy(dst, good[rnd(r, ngood)]);
		dst[rnd(r, strlen(dst))] = 0x7f;
		break;
	case 6:		/* not ASCII */
		strcpy(dst, good[rnd(r, ngood)]);
		dst[rnd(r, strlen(dst))] = 0x80 + rnd(r, 0x80);
		break;
	default:	/* anything */
		for (i = 0; i < FDBOX_NAME_MAX; i++)
			dst[i] = rnd(r, 256);
		break;
	}
}

/* ---- picking fields ---- */

static uint32_t pick_size(struct prng *r, uint32_t ksize, uint32_t minsize)
{
	switch (rnd(r, 16)) {
	case 0: return 0;
	case 1: return 1 + rnd(r, 7);
	case 2: return minsize - 1;
	case 3: return rnd(r, minsize);
	case 4: return minsize + rnd(r, ksize - minsize + 1);	/* older */
	case 5: return ksize + 1 + rnd(r, 64);			/* newer */
	case 6: return ksize + 1 + rnd(r, PG - ksize);
	case 7: return PG;
	case 8: return PG + 1;
	case 9: return 2 * PG;
	case 10: return 1 << 20;
	case 11: return 0x80000000;
	case 12: return 0xffffffff;
	case 13: return rnd64(r);
	default: return ksize;
	}
}

static uint32_t pick_flags(struct prng *r)
{
	return rnd(r, 4) ? 1U << rnd(r, 32) : (uint32_t)rnd64(r);
}

static uint32_t pick_count(struct prng *r)
{
	/* Huge counts make the kernel allocate room for 65536 entries: rare. */
	static const uint32_t huge[] = { 65535, 65536, 65537, 0x7fffffff, 0x80000000, 0xffffffff };
	unsigned int x = rnd(r, 100);

	if (x < 20)
		return 0;
	if (x < 60)
		return 1 + rnd(r, 4);
	if (x < 99)
		return 5 + rnd(r, 60);
	return huge[rnd(r, 6)];
}

static uint32_t pick_esize(struct prng *r, enum argkind kind)
{
	uint32_t min = kind == A_LIST ? FDBOX_ITEM_INFO_SIZE_VER0 : FDBOX_SESSION_INFO_SIZE_VER0;
	uint32_t other = kind == A_LIST ? FDBOX_SESSION_INFO_SIZE_VER0 : FDBOX_ITEM_INFO_SIZE_VER0;

	switch (rnd(r, 20)) {
	case 0: return other;
	case 1: return min - 1;
	case 2: return rnd(r, min);
	case 3: return PG;
	case 4: return PG + 1 + rnd(r, 8);
	case 5: return rnd64(r);
	case 6: case 7: case 8: return min + 1 + rnd(r, 64);
	case 9: return min + 1 + rnd(r, PG - min);
	default: return min;
	}
}

/* An address nothing is mapped at, or the kernel's, or not canonical. */
static void *bad_ptr(struct fuzzer *f)
{
	switch (rnd(&f->r, 10)) {
	case 0: return (void *)1;
	case 1: return (void *)8;
	case 2: return (void *)4095;
	case 3: return f->rw + ARENA;				/* a guard page */
	case 4: return f->ent + ENT_SIZE;
	case 5: return (void *)0xffff888000000000UL;		/* the direct map */
	case 6: return (void *)0xffffffffff600000UL;		/* vsyscall page */
	case 7: return (void *)0x8000000000000000UL;		/* not canonical */
	case 8: return (void *)(1UL << 47);			/* past user space */
	default: return (void *)(uintptr_t)(rnd64(&f->r) | 1ULL << 63);
	}
}

/*
 * Where a listing goes. Every choice is memory the kernel may write
 * without harm: this thread's buffers, each followed by a guard page
 * that stops a listing larger than they are, or addresses that fault.
 */
static uint64_t pick_entries(struct fuzzer *f)
{
	struct prng *r = &f->r;
	unsigned int x = rnd(r, 100);

	if (x < 55)
		return (uintptr_t)(f->ent + CANARY + (rnd(r, 4) ? rnd(r, 64) * 8 : rnd(r, PG)));
	if (x < 63)	/* runs into the guard page */
		return (uintptr_t)(f->ent + ENT_SIZE - 1 - rnd(r, 2 * PG));
	if (x < 73)
		return 0;
	if (x < 85)
		return (uintptr_t)bad_ptr(f);
	if (x < 93)	/* read-only */
		return (uintptr_t)(f->ro + rnd(r, ARENA));
	return (uintptr_t)(f->rw + rnd(r, ARENA));	/* over the argument itself */
}

static int pick_fd(struct fuzzer *f)
{
	struct prng *r = &f->r;
	unsigned int x = rnd(r, 100);

	if (x < 60)
		return any_slot_fd(SLOT_MEMFD + rnd(r, NR_MEMFD));
	if (x < 65)
		return statics[ST_MEMFD];
	if (x < 70)
		return statics[ST_MEMFD_RO];		/* EACCES */
	if (x < 80)
		return statics[rnd(r, NR_STATIC)];	/* pipes: EACCES, O_PATH: EBADF */
	if (x < 85)
		return any_slot_fd(rnd(r, SLOT_MEMFD));	/* an fdbox file: EOPNOTSUPP */
	if (x < 88)
		return rnd(r, 3);
	if (x < 96)
		return bad_fds[rnd(r, NR_BAD_FDS)];
	return rnd64(r);
}

/* ---- building arguments ---- */

/* A valid structure of @kind for cmds[@ci], or one that only the state refuses. */
static void fill_valid(struct fuzzer *f, int ci, enum argkind kind, union argbuf *a)
{
	struct prng *r = &f->r;

	memset(a->b, 0, kinds[kind].ksize);
	switch (kind) {
	case A_SET_NAME:
		put_name(r, a->set_name.name, good_names, NR_NAMES, true);
		break;
	case A_DEPOSIT:
		a->deposit.fd = pick_fd(f);
		put_name(r, a->deposit.label, good_labels, NR_LABELS, true);
		break;
	case A_LABEL:
		put_name(r, a->label.label, good_labels, NR_LABELS, true);
		/* FDBOX_DISCARD may name an unattached session */
		if (ci >= 0 && cmds[ci].cmd == FDBOX_DISCARD && !rnd(r, 3))
			put_name(r, a->label.session, good_names, NR_NAMES, true);
		break;
	case A_LIST:
	case A_SESSIONS:
		a->list.count = pick_count(r);
		a->list.entry_size = rnd(r, 4) ? (kind == A_LIST ? FDBOX_ITEM_INFO_SIZE_VER0 :
						  FDBOX_SESSION_INFO_SIZE_VER0) :
				     pick_esize(r, kind);
		a->list.entries = pick_entries(f);
		if (kind == A_LIST && rnd(r, 5) < 2)
			put_name(r, a->list.session, good_names, NR_NAMES, true);
		break;
	case A_ATTACH:
		put_name(r, a->attach.name, good_names, NR_NAMES, true);
		break;
	case A_RETRIEVE:
		a->retrieve.flags = rnd(r, 2) ? FDBOX_RETRIEVE_NO_CLOEXEC : 0;
		a->retrieve.fd = rnd(r, 2) ? -1 : (int)rnd64(r);
		put_name(r, a->retrieve.label, good_labels, NR_LABELS, true);
		break;
	default:
		break;
	}
	a->set_name.size = kinds[kind].ksize;	/* size comes first in all */
}

/* Break one thing. */
static void mutate(struct fuzzer *f, enum argkind kind, union argbuf *a, uint32_t *usize,
		   bool *tail)
{
	struct prng *r = &f->r;
	uint32_t ksize = kinds[kind].ksize;
	unsigned int x;
	size_t pos;

	switch (rnd(r, 8)) {
	case 0:
		*usize = pick_size(r, ksize, kinds[kind].minsize);
		break;
	case 1:
		a->set_name.flags = pick_flags(r);	/* flags come second in all */
		break;
	case 2:		/* reserved fields, or the second name */
		if (kind == A_DEPOSIT)
			a->deposit.reserved = pick_flags(r);
		else if (kind == A_RETRIEVE)
			a->retrieve.context_fd = pick_flags(r);
		else if (kind == A_LABEL)
			put_name(r, a->label.session, good_names, NR_NAMES, false);
		else if (kind == A_LIST || kind == A_SESSIONS)
			put_name(r, a->list.session, good_names, NR_NAMES, false);
		else
			put_name(r, a->set_name.name, good_names, NR_NAMES, false);
		break;
	case 3:		/* the main name */
		if (kind == A_DEPOSIT)
			put_name(r, a->deposit.label, good_labels, NR_LABELS, false);
		else if (kind == A_LABEL)
			put_name(r, a->label.label, good_labels, NR_LABELS, false);
		else if (kind == A_RETRIEVE)
			put_name(r, a->retrieve.label, good_labels, NR_LABELS, false);
		else if (kind == A_LIST || kind == A_SESSIONS)
			put_name(r, a->list.session, good_names, NR_NAMES, false);
		else	/* set_name and attach: the same layout */
			put_name(r, a->set_name.name, good_names, NR_NAMES, false);
		break;
	case 4:		/* numbers */
		if (kind == A_DEPOSIT) {
			a->deposit.fd = pick_fd(f);
		} else if (kind == A_LIST || kind == A_SESSIONS) {
			x = rnd(r, 3);
			if (x == 0)
				a->list.count = pick_count(r);
			else if (x == 1)
				a->list.entry_size = pick_esize(r, kind);
			else
				a->list.entries = pick_entries(f);
		} else if (kind == A_RETRIEVE) {
			a->retrieve.fd = rnd64(r);
		} else {
			a->set_name.flags = 0;
		}
		break;
	case 5:		/* any byte but size and the entries pointer */
		pos = 4 + rnd(r, ksize - 4);
		if ((kind != A_LIST && kind != A_SESSIONS) ||
		    pos < offsetof(struct fdbox_list, entries) ||
		    pos >= offsetof(struct fdbox_list, session))
			a->b[pos] = rnd(r, 256);
		break;
	case 6:		/* a newer structure with something in its tail */
		*tail = true;
		if (*usize <= ksize || *usize > PG)
			*usize = ksize + 1 + rnd(r, rnd(r, 2) ? 64 : PG - ksize);
		break;
	default:	/* a newer structure, tail zero: fine */
		*usize = ksize + 1 + rnd(r, PG - ksize);
		break;
	}
}

/*
 * Put @len bytes of @src in the arena: at its start, right against the
 * guard page, across it (only what fits is written), or read through the
 * read-only alias.
 */
static void place(struct fuzzer *f, struct call *c, const unsigned char *src, size_t len)
{
	struct prng *r = &f->r;
	unsigned int x = rnd(r, 100);
	size_t off, w = len;
	bool ro = false;

	if (x < 70) {
		off = rnd(r, 4) ? rnd(r, 9) * 8 : rnd(r, 72);
	} else if (x < 80) {
		off = ARENA - len;
		c->where = " against the guard page";
	} else if (x < 88) {
		w = 1 + rnd(r, len - 1);
		off = ARENA - w;
		c->where = " across the guard page";
	} else {
		off = rnd(r, 9) * 8;
		ro = true;
		c->where = ", read-only";
	}
	memcpy(f->rw + off, src, w);
	c->user = f->rw + off;
	c->readable = ARENA - off;
	c->arg = (ro ? f->ro : f->rw) + off;
	c->snap_len = w < sizeof(c->snap) ? w : sizeof(c->snap);
	memcpy(c->snap, c->user, c->snap_len);
}

/*
 * A listing into this thread's entries buffer: canaries before and after
 * the count * entry_size bytes the kernel may write, 0x5a in them.
 */
static void setup_list(struct fuzzer *f, struct call *c, const struct fdbox_list *l)
{
	unsigned char *e = (unsigned char *)(uintptr_t)l->entries;
	size_t room;

	c->ent = NULL;
	if (e < f->ent + CANARY || e >= f->ent + ENT_SIZE)
		return;
	room = f->ent + ENT_SIZE - e;
	c->ent = e;
	c->count = l->count;
	c->esize = l->entry_size;
	c->ent_bytes = (uint64_t)(l->count < LIST_MAX ? l->count : LIST_MAX) * l->entry_size;
	c->ent_fill = c->ent_bytes < ENT_FILL ? c->ent_bytes : ENT_FILL;
	if (c->ent_fill > room)
		c->ent_fill = room;
	c->canary_after = c->ent_bytes + CANARY <= room;
	memset(e - CANARY, 0xa5, CANARY);
	memset(e, 0x5a, c->ent_fill);
	if (c->canary_after)
		memset(e + c->ent_bytes, 0xa5, CANARY);
}

static void gen_struct(struct fuzzer *f, struct call *c, int ci, enum argkind kind)
{
	struct prng *r = &f->r;
	union argbuf *a = &f->buf;
	uint32_t ksize = kinds[kind].ksize, usize = ksize;
	unsigned int x = rnd(r, 100), n;
	bool tail = false;
	size_t len = ksize;

	fill_valid(f, ci, kind, a);
	n = x < 40 ? 0 : x < 85 ? 1 : 2 + rnd(r, 2);
	while (n--)
		mutate(f, kind, a, &usize, &tail);
	a->set_name.size = usize;
	if (usize > ksize && usize <= PG) {
		len = usize;
		memset(a->b + ksize, 0, usize - ksize);
		if (tail)
			a->b[ksize + rnd(r, usize - ksize)] = 1 + rnd(r, 255);
	}
	c->amode = "structure";
	if (kind == A_LIST || kind == A_SESSIONS)
		setup_list(f, c, &a->list);
	place(f, c, a->b, len);
}

static void gen_random(struct fuzzer *f, struct call *c, enum argkind kind)
{
	struct prng *r = &f->r;
	union argbuf *a = &f->buf;
	size_t len = rnd(r, 4) ? 1 + rnd(r, 128) : 1 + rnd(r, PG), i;
	uint32_t usize;

	for (i = 0; i < len; i++)
		a->b[i] = rnd(r, 256);
	if (len >= 4 && rnd(r, 2)) {
		usize = pick_size(r, kinds[kind].ksize, kinds[kind].minsize);
		memcpy(a->b, &usize, 4);
	}
	if (kind == A_LIST || kind == A_SESSIONS) {
		/* Random bytes may point anywhere: never let a listing do that. */
		if (len < sizeof(struct fdbox_list))
			len = sizeof(struct fdbox_list);
		a->list.entries = pick_entries(f);
		setup_list(f, c, &a->list);
	}
	place(f, c, a->b, len);
	c->amode = "random bytes";
}

/* Change the shared structure of @kind a little, then use it. */
static void gen_racy(struct fuzzer *f, struct call *c, enum argkind kind)
{
	static const unsigned int name_off[NR_KINDS] = {
		[A_SET_NAME] = offsetof(struct fdbox_set_name, name),
		[A_DEPOSIT] = offsetof(struct fdbox_deposit, label),
		[A_LABEL] = offsetof(struct fdbox_label, label),
		[A_LIST] = offsetof(struct fdbox_list, session),
		[A_SESSIONS] = offsetof(struct fdbox_list, session),
		[A_ATTACH] = offsetof(struct fdbox_attach, name),
	};
	static const unsigned char bytes[] = { 0, 'a', ' ', 0x01, 0x7f, 0x80, 0xff };
	struct prng *r = &f->r;
	unsigned char *p = racy + kind * PG;
	uint32_t *u32 = (uint32_t *)p;
	unsigned int n = 1 + rnd(r, 3), pos, i;

	while (n--) {
		switch (rnd(r, 6)) {
		case 0:
			__atomic_store_n(&u32[0], rnd(r, 2) ? kinds[kind].ksize :
					 pick_size(r, kinds[kind].ksize, kinds[kind].minsize),
					 __ATOMIC_RELAXED);
			break;
		case 1:
			__atomic_store_n(&u32[1], rnd(r, 2) ? 0 : pick_flags(r), __ATOMIC_RELAXED);
			break;
		case 2:		/* the fd, the count or the entry size: never entries */
			if (kind == A_DEPOSIT)
				__atomic_store_n(&u32[2], pick_fd(f), __ATOMIC_RELAXED);
			else if (kind == A_LIST || kind == A_SESSIONS)
				__atomic_store_n(&u32[2 + rnd(r, 2)], rnd(r, 2) ? pick_count(r) :
						 pick_esize(r, kind), __ATOMIC_RELAXED);
			break;
		case 3:		/* a valid name again */
			pos = name_off[kind];
			for (i = 0; i < FDBOX_NAME_MAX; i++) {
				const char *s = good_names[f->id % NR_NAMES];

				__atomic_store_n(&p[pos + i], i <= strlen(s) ? s[i] : 0,
						 __ATOMIC_RELAXED);
			}
			break;
		default:	/* one byte of the name */
			pos = name_off[kind] + rnd(r, FDBOX_NAME_MAX);
			__atomic_store_n(&p[pos], bytes[rnd(r, sizeof(bytes))], __ATOMIC_RELAXED);
			break;
		}
	}
	c->arg = p;
	c->racy = true;
	c->amode = "shared, changing";
}

static void gen_arg(struct fuzzer *f, struct call *c, int ci, enum argkind kind)
{
	struct prng *r = &f->r;
	unsigned int x = rnd(r, 100);

	c->ent = NULL;
	c->user = NULL;
	c->where = "";
	c->readable = 0;
	c->snap_len = 0;
	c->racy = false;
	if (kind == A_NONE) {	/* FINALIZE, UNFINALIZE: the argument is ignored */
		c->arg = x < 50 ? NULL : bad_ptr(f);
		c->amode = "ignored";
	} else if (x < 3) {
		c->arg = NULL;
		c->amode = "NULL";
	} else if (x < 6) {
		c->arg = bad_ptr(f);
		c->amode = "bad pointer";
	} else if (x < 8) {	/* size half readable */
		c->arg = c->user = f->rw + ARENA - 2;
		c->readable = 2;
		c->amode = "2 bytes before the guard page";
	} else if (x < 16) {
		gen_random(f, c, kind);
	} else if (x < 19 && kind != A_RETRIEVE) {
		/* Not RETRIEVE: its fd could not be known, nor closed. */
		gen_racy(f, c, kind);
	} else {
		gen_struct(f, c, ci, kind);
	}
}

/* ---- the oracle ---- */

/* fdbox_copy_arg(): the error, or 0 and the kernel's copy in @karg. */
static int predict_copy(const unsigned char *u, size_t readable, enum argkind kind,
			union argbuf *karg)
{
	uint32_t ksize = kinds[kind].ksize, usize;
	size_t i;

	if (!u || readable < 4)
		return EFAULT;				/* get_user() */
	memcpy(&usize, u, 4);
	if (usize < kinds[kind].minsize)
		return EINVAL;
	if (usize > PG)
		return E2BIG;
	/* copy_struct_from_user(): the tail, word by word, then the head */
	for (i = ksize; i < usize; i++) {
		if (i >= readable)
			return EFAULT;
		if (u[i])
			return E2BIG;
	}
	if (readable < (usize < ksize ? usize : ksize))
		return EFAULT;
	memset(karg->b, 0, ksize);
	memcpy(karg->b, u, usize < ksize ? usize : ksize);
	return 0;
}

/* The checks each ioctl makes of its copy, before it takes any lock. */
static int predict_checks(int ci, const union argbuf *a)
{
	const struct fdbox_list *l = &a->list;
	uint32_t min;

	switch (cmds[ci].arg) {
	case A_SET_NAME:
		return a->set_name.flags || !name_valid(a->set_name.name) ? EINVAL : 0;
	case A_DEPOSIT:
		if ((a->deposit.flags & ~FDBOX_DEPOSIT_DEPENDS) || a->deposit.reserved ||
		    a->deposit.reserved2 || !name_valid(a->deposit.label))
			return EINVAL;
		if (!(a->deposit.flags & FDBOX_DEPOSIT_DEPENDS))
			return a->deposit.depends || a->deposit.nr_depends ? EINVAL : 0;
		if (!a->deposit.nr_depends)
			return EINVAL;
		if (a->deposit.nr_depends > 16)
			return E2BIG;
		/* The fuzzer's labels pointer is never a mapped address. */
		return EFAULT;
	case A_LABEL:
		if (a->label.flags || !name_valid(a->label.label))
			return EINVAL;
		if (cmds[ci].cmd == FDBOX_WITHDRAW)
			return a->label.session[0] ? EINVAL : 0;
		return a->label.session[0] && !name_valid(a->label.session) ? EINVAL : 0;
	case A_LIST:
	case A_SESSIONS:
		min = cmds[ci].arg == A_LIST ? FDBOX_ITEM_INFO_SIZE_VER0 :
					       FDBOX_SESSION_INFO_SIZE_VER0;
		if (l->flags || l->entry_size < min || l->entry_size > PG ||
		    (l->count && !l->entries))
			return EINVAL;
		if (l->session[0] && (cmds[ci].arg == A_SESSIONS || !name_valid(l->session)))
			return EINVAL;
		return 0;
	case A_ATTACH:
		return a->attach.flags || !name_valid(a->attach.name) ? EINVAL : 0;
	case A_RETRIEVE:
		/* A context memfds refuse (EINVAL) after the lookup, not here. */
		return (a->retrieve.flags & ~(FDBOX_RETRIEVE_NO_CLOEXEC | FDBOX_RETRIEVE_CONTEXT)) ||
		       (!(a->retrieve.flags & FDBOX_RETRIEVE_CONTEXT) && a->retrieve.context_fd) ||
		       !name_valid(a->retrieve.label) ? EINVAL : 0;
	default:
		return 0;
	}
}

static void expect_exact(struct call *c, int e)
{
	c->ex.allowed = EB(e);
	c->ex.ok = false;
	c->ex.exact = e;
	c->ex.arg_stage = true;
}

static void predict(struct call *c)
{
	const struct fuzz_cmd *fc = c->bucket < NR_CMDS ? &cmds[c->bucket] : NULL;
	int dev = c->tkind == T_SER ? DEV_SER : c->tkind == T_DES ? DEV_DES : 0;
	__uint128_t state;
	union argbuf karg;
	int e;

	memset(&c->ex, 0, sizeof(c->ex));
	if (c->tkind == T_BAD)
		return expect_exact(c, EBADF);
	if (!fc || !(fc->devs & dev))
		return expect_exact(c, ENOTTY);
	state = dev == DEV_SER ? fc->ser : fc->des;
	c->ex.ok = true;
	if (fc->arg == A_NONE) {
		c->ex.allowed = state;
	} else if (c->racy) {
		c->ex.allowed = state | EB(EINVAL) | EB(E2BIG);
	} else {
		e = predict_copy(c->user, c->readable, fc->arg, &karg);
		if (!e)
			e = predict_checks(c->bucket, &karg);
		if (e)
			return expect_exact(c, e);
		c->ex.allowed = state;
	}
}

/* One entry of a successful listing, copied out of the buffer. */
static void check_entry(struct fuzzer *f, struct call *c, unsigned int i)
{
	const unsigned char *e = c->ent + (size_t)i * c->esize;
	bool items = cmds[c->bucket].arg == A_LIST, ser = c->tkind == T_SER;
	size_t ksize = items ? sizeof(struct fdbox_item_info) : sizeof(struct fdbox_session_info);
	struct fdbox_session_info s;
	struct fdbox_item_info it;
	size_t j;

	for (j = ksize; j < c->esize; j++) {
		if (e[j]) {
			report(f, c, "entry %u byte %zu is 0x%02x, not zero-extended", i, j, e[j]);
			return;
		}
	}
	if (!items) {
		memcpy(&s, e, sizeof(s));
		if (!name_valid(s.name) || s.attached > 1 || (ser && !s.attached))
			report(f, c, "session entry %u: name valid %d, attached %u", i,
			       name_valid(s.name), s.attached);
		return;
	}
	/* An entry_size below ours has only the head of each entry. */
	memset(&it, 0, sizeof(it));
	memcpy(&it, e, c->esize < sizeof(it) ? c->esize : sizeof(it));
	if (c->esize >= FDBOX_ITEM_INFO_SIZE_VER1 &&
	    !memchr(it.compatible, 0, sizeof(it.compatible)))
		report(f, c, "item entry %u: compatible not NUL-terminated", i);
	/* The vfio device: nothing of it in memory, its config at finalize. */
	if (ser && have_vfio && it.type == FDBOX_ITEM_OTHER) {
		if (!name_valid(it.label) || it.size || it.preserved ||
		    (it.state != FDBOX_STATE_DEPOSITED && it.state != FDBOX_STATE_FINALIZED) ||
		    (it.state == FDBOX_STATE_DEPOSITED && it.metadata) ||
		    (c->esize >= FDBOX_ITEM_INFO_SIZE_VER1 &&
		     strcmp(it.compatible, "fdbox,vfio-pci-v1")))
			report(f, c, "device entry %u: label valid %d state %u size %llu preserved %llu metadata %llu",
			       i, name_valid(it.label), it.state, (unsigned long long)it.size,
			       (unsigned long long)it.preserved, (unsigned long long)it.metadata);
		return;
	}
	if (!name_valid(it.label) || it.type > FDBOX_ITEM_MEMFD_HUGETLB ||
	    (ser && (it.type != FDBOX_ITEM_MEMFD ||
		     (it.state != FDBOX_STATE_DEPOSITED && it.state != FDBOX_STATE_FINALIZED) ||
		     it.size > MEMFD_MAX || it.preserved % PG || it.preserved > ALIGN_2M(it.size) ||
		     (it.state == FDBOX_STATE_DEPOSITED && it.metadata))) ||
	    (!ser && it.state != FDBOX_STATE_INCOMING && it.state != FDBOX_STATE_RETRIEVED))
		report(f, c, "item entry %u: label valid %d type %u state %u size %llu preserved %llu metadata %llu",
		       i, name_valid(it.label), it.type, it.state, (unsigned long long)it.size,
		       (unsigned long long)it.preserved, (unsigned long long)it.metadata);
}

/* A listing wrote its entries, and nothing else. */
static void check_list(struct fuzzer *f, struct call *c, long ret, bool relaxed)
{
	uint32_t total, n;
	size_t i, from = 0;

	if (!c->ent)
		return;
	for (i = 0; i < CANARY; i++) {
		if (c->ent[-1 - (long)i] != 0xa5) {
			report(f, c, "wrote %zu bytes before its entries", i + 1);
			return;
		}
		if (c->canary_after && c->ent[c->ent_bytes + i] != 0xa5) {
			report(f, c, "wrote past count %u * entry_size %u", c->count, c->esize);
			return;
		}
	}
	/* Another file under the same number may have answered. */
	if (relaxed || c->racy)
		return;
	if (!ret && c->user) {
		memcpy(&total, c->user + offsetof(struct fdbox_list, count), 4);
		n = c->count < LIST_MAX ? c->count : LIST_MAX;
		n = n < total ? n : total;
		for (i = 0; i < n && (i + 1) * c->esize <= c->ent_fill; i++)
			check_entry(f, c, i);
		from = (size_t)n * c->esize;
	} else if (!c->ex.arg_stage) {
		return;		/* a copy-out that faulted half-way */
	}
	/* What the kernel did not fill is as it was. */
	for (i = from; i < c->ent_fill; i++) {
		if (c->ent[i] != 0x5a) {
			report(f, c, "%s, yet wrote entries byte %zu",
			       c->ex.arg_stage ? "refused" : "listed fewer", i);
			return;
		}
	}
}

static void check(struct fuzzer *f, struct call *c, long ret, int err)
{
	bool relaxed = c->slot >= 0 && slot_changed(c->slot, c->gen);
	__uint128_t allowed = relaxed ? ALL_ERRS : c->ex.allowed;
	int fd;

	if (ret != 0 && ret != -1) {
		report(f, c, "returned %ld", ret);
	} else if (!ret && !c->ex.ok && !relaxed) {
		report(f, c, "succeeded, expected %s", ename(c->ex.exact));
	} else if (ret && (err <= 0 || err >= 128 || !((allowed >> err) & 1))) {
		if (c->ex.exact && !relaxed)
			report(f, c, "%s, expected %s", ename(err), ename(c->ex.exact));
		else
			report(f, c, "%s, not one this call may return", ename(err));
	}
	/* Refused at the argument checks: user memory untouched. */
	if (c->ex.arg_stage && !relaxed && c->snap_len && memcmp(c->snap, c->user, c->snap_len))
		report(f, c, "%s, yet wrote to its argument", ret ? ename(err) : "succeeded");
	f->relaxed += relaxed;
	if (c->bucket < NR_CMDS && cmds[c->bucket].arg == A_LIST)
		check_list(f, c, ret, relaxed);
	else if (c->bucket < NR_CMDS && cmds[c->bucket].arg == A_SESSIONS)
		check_list(f, c, ret, relaxed);
	/* Whatever was retrieved is closed: fds and items do not pile up. */
	if (!ret && c->bucket < NR_CMDS && cmds[c->bucket].cmd == FDBOX_RETRIEVE && c->user) {
		memcpy(&fd, c->user + offsetof(struct fdbox_retrieve, fd), sizeof(fd));
		if (fd < 0 || close(fd))
			report(f, c, "retrieved fd %d cannot be closed", fd);
	}
}

/* ---- the pool ---- */

static int new_memfd(struct prng *r)
{
	static const unsigned int sizes[] = { 0, 1, 4095, 4096, 4097, 8192, MEMFD_MAX };
	static const unsigned int seals[] = {
		0, 0, F_SEAL_GROW | F_SEAL_SHRINK, F_SEAL_WRITE, F_SEAL_FUTURE_WRITE,
		F_SEAL_SEAL | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_WRITE,
	};
	unsigned int size = rnd(r, 2) ? sizes[rnd(r, 7)] : rnd(r, MEMFD_MAX + 1);
	unsigned int seal = seals[rnd(r, 6)], off;
	char page[PG];
	int fd;

	fd = memfd_create("fdbox-fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size))
		goto fail;
	/* Some pages written, some holes. */
	memset(page, 0x42, sizeof(page));
	for (off = 0; off < size; off += PG) {
		if (rnd(r, 2) && pwrite(fd, page, size - off < PG ? size - off : PG, off) < 0)
			goto fail;
	}
	if (seal && fcntl(fd, F_ADD_SEALS, seal))
		goto fail;
	return fd;
fail:
	close(fd);
	return -errno;
}

/*
 * A session: unnamed, or named with 0-3 items and finalized or not
 * (@how -1: at random, 0: unnamed, 1: named, items, finalized). Every
 * random number is drawn whatever the kernel answers, so that a thread's
 * calls depend on the seed alone. Caller holds pool_lock (or is alone).
 */
static int new_session(struct prng *r, int name, int how)
{
	struct fdbox_set_name sn = { .size = sizeof(sn) };
	unsigned int named = rnd(r, 10) < 8, n = 1 + rnd(r, 3), finalize = !rnd(r, 4), i;
	unsigned int memfd[3], label[3];
	int fd;

	for (i = 0; i < 3; i++) {
		memfd[i] = rnd(r, NR_MEMFD);
		label[i] = rnd(r, NR_LABELS);
	}
	if (name < 0)
		name = rnd(r, NR_NAMES);
	if (how == 0)
		named = 0;
	if (how == 1)
		named = finalize = 1;
	fd = open(FDBOX_SERIALIZE, O_RDWR | O_CLOEXEC);
	if (fd < 0 || !named)
		return fd < 0 ? -errno : fd;
	strcpy(sn.name, good_names[name]);
	if (ioctl(fd, FDBOX_SET_NAME, &sn))
		return fd;	/* EEXIST: it stays unnamed */
	for (i = 0; i < n; i++)
		fdbox_deposit(fd, pool[SLOT_MEMFD + memfd[i]].fd, good_labels[label[i]]);
	if (finalize)
		ioctl(fd, FDBOX_FINALIZE, NULL);
	return fd;
}

static int new_reader(void)
{
	int fd = open(FDBOX_DESERIALIZE, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* Close one pool object and put a new one in its slot, under other threads' calls. */
static void replace_one(struct fuzzer *f)
{
	struct prng *r = &f->r;
	unsigned int x = rnd(r, 100), i;
	struct slot *s;
	int fd;

	if (x < 50)
		i = SLOT_SER + rnd(r, NR_SER);
	else if (x < 85)
		i = SLOT_MEMFD + rnd(r, NR_MEMFD);
	else
		i = SLOT_DES + rnd(r, NR_DES);
	s = &pool[i];
	pthread_mutex_lock(&pool_lock);
	__atomic_add_fetch(&s->gen, 1, __ATOMIC_RELEASE);
	if (i < SLOT_DES)
		fd = new_session(r, -1, -1);
	else if (i < SLOT_MEMFD)
		fd = new_reader();
	else
		fd = new_memfd(r);
	/*
	 * Built on a fresh fd number, then moved over the slot's (closing
	 * the old file): a thread holding the slot's number never finds it
	 * closed, or reused by a file still being set up.
	 */
	if (fd >= 0 && dup2(fd, s->fd) < 0)
		fd = -errno;
	else if (fd >= 0)
		close(fd);
	if (fd < 0 && count_failure())
		say("FAIL: seed %llu thread %d: cannot replace pool slot %u: %s", seed, f->id, i,
		    ename(-fd));
	__atomic_add_fetch(&s->gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&pool_lock);
	f->replaced++;
}

/* ---- one call ---- */

static bool known_nr(unsigned int nr)
{
	int i;

	for (i = 0; i < NR_CMDS; i++)
		if (_IOC_NR(cmds[i].cmd) == nr)
			return true;
	return false;
}

static void fuzz_one(struct fuzzer *f)
{
	static const int wrong[] = { ST_PIPE_R, ST_SOCK, ST_TMPFILE, ST_MEMFD, ST_MEMFD_RO };
	struct prng *r = &f->r;
	enum argkind kind;
	unsigned int x, nr;
	struct call c;
	int ci, err, dev;
	long ret;

	/* The target. */
	c.slot = -1;
	c.gen = 0;
	x = rnd(r, 100);
	if (x < 62) {
		c.tkind = T_SER;
		c.slot = SLOT_SER + rnd(r, NR_SER);
	} else if (x < 88) {
		c.tkind = T_DES;
		c.slot = SLOT_DES + rnd(r, NR_DES);
	} else if (x < 95) {
		c.tkind = T_WRONG;
		x = rnd(r, 6);
		if (x < 5)
			c.fd = statics[wrong[x]];
		else
			c.slot = SLOT_MEMFD + rnd(r, NR_MEMFD);
	} else {
		c.tkind = T_BAD;
		x = rnd(r, NR_BAD_FDS + 1);
		c.fd = x < NR_BAD_FDS ? bad_fds[x] : statics[ST_OPATH];
	}
	if (c.slot >= 0)
		c.fd = slot_fd(c.slot, &c.gen);

	/*
	 * The command, mostly one of the target's device (the others only
	 * get ENOTTY); the argument is made for ci's structure in any case.
	 */
	dev = c.tkind == T_SER ? DEV_SER : c.tkind == T_DES ? DEV_DES : 0;
	ci = rnd(r, NR_CMDS);
	if (dev && rnd(r, 5))
		while (!(cmds[ci].devs & dev))
			ci = rnd(r, NR_CMDS);
	kind = cmds[ci].arg;
	x = rnd(r, 100);
	if (x < 88) {
		c.bucket = ci;
		c.cmd = cmds[ci].cmd;
	} else if (x < 94) {	/* the numbers do not encode size or direction */
		c.bucket = B_VARIANT;
		if (rnd(r, 4))
			c.cmd = _IOC(1 + rnd(r, 3), FDBOX_TYPE, _IOC_NR(cmds[ci].cmd),
				     rnd(r, 2) ? kinds[kind].ksize : rnd(r, _IOC_SIZEMASK + 1));
		else
			c.cmd = _IO(FDBOX_TYPE + 1, _IOC_NR(cmds[ci].cmd));
	} else {
		c.bucket = B_UNKNOWN;
		do
			nr = rnd(r, 256);
		while (known_nr(nr));
		c.cmd = _IO(FDBOX_TYPE, nr);
	}
	gen_arg(f, &c, ci, kind);
	predict(&c);

	__atomic_store_n(&f->cur_bucket, c.bucket, __ATOMIC_RELAXED);
	__atomic_store_n(&f->cur_fd, c.fd, __ATOMIC_RELAXED);
	__atomic_store_n(&f->cur_tkind, c.tkind, __ATOMIC_RELAXED);
	__atomic_store_n(&f->in_call, 1, __ATOMIC_RELEASE);
	errno = 0;
	ret = ioctl(c.fd, c.cmd, c.arg);
	err = errno;
	__atomic_store_n(&f->in_call, 0, __ATOMIC_RELEASE);

	f->stats[c.tkind][c.bucket][!ret ? 0 : err > 0 && err < NR_ERRNO ? err : NR_ERRNO - 1]++;
	check(f, &c, ret, err);
}

static void *fuzz_thread(void *arg)
{
	struct fuzzer *f = arg;
	unsigned long i;

	for (i = 0; i < f->target; i++) {
		if (!rnd(&f->r, 256))
			replace_one(f);
		fuzz_one(f);
		__atomic_store_n(&f->calls, i + 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&f->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* ---- setting up ---- */

/* @len bytes, then a PROT_NONE page; of memfd @fd if >= 0, else anonymous. */
static unsigned char *map_guarded(size_t len, int fd, int prot)
{
	unsigned char *p = mmap(NULL, len + PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int flags = MAP_FIXED | (fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED);

	if (p == MAP_FAILED || mmap(p, len, prot, flags, fd, 0) == MAP_FAILED)
		return NULL;
	return p;
}

static int setup_fuzzer(struct fuzzer *f, int id)
{
	int fd = memfd_create("fdbox-fuzz-arena", MFD_CLOEXEC);

	f->id = id;
	f->r.s = fdbox_mix(seed + 0x1000 * (id + 1ULL));
	if (fd < 0 || ftruncate(fd, ARENA))
		return -1;
	/* Two views of the same pages: what the fuzzer writes, the kernel may only read. */
	f->rw = map_guarded(ARENA, fd, PROT_READ | PROT_WRITE);
	f->ro = map_guarded(ARENA, fd, PROT_READ);
	close(fd);
	f->ent = map_guarded(ENT_SIZE, -1, PROT_READ | PROT_WRITE);
	return f->rw && f->ro && f->ent ? 0 : -1;
}

static int setup_statics(void)
{
	char path[64] = "/tmp/fdbox-fuzz-XXXXXX";
	int p[2], sv[2], i;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	statics[ST_PIPE_R] = p[0];
	statics[ST_PIPE_W] = p[1];
	/* The test kernel may have no networking: an eventfd stands in. */
	if (!socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		statics[ST_SOCK] = sv[0];
		close(sv[1]);
	} else {
		statics[ST_SOCK] = eventfd(0, EFD_CLOEXEC);
	}
	/* A tmpfs file: shmem, as a memfd, but not one. */
	statics[ST_TMPFILE] = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (statics[ST_TMPFILE] < 0) {
		statics[ST_TMPFILE] = mkstemp(path);
		unlink(path);
	}
	statics[ST_MEMFD] = fdbox_memfd("fdbox-fuzz-static", MFD_CLOEXEC, MEMFD_MAX, NULL);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", statics[ST_MEMFD]);
	statics[ST_MEMFD_RO] = open(path, O_RDONLY | O_CLOEXEC);
	statics[ST_OPATH] = open(path, O_PATH | O_CLOEXEC);
	/*
	 * A vfio-pci device (edu, if the VM has one), its group and its
	 * container: deposited, refused (EINVAL, EOPNOTSUPP), listed. In a
	 * VM without one, more pipes.
	 */
	if (!setup_device(&vfio, EDU_VENDOR, EDU_DEVICE)) {
		have_vfio = true;
		statics[ST_VFIO_DEV] = vfio.fd;
		statics[ST_VFIO_GROUP] = vfio.group;
		statics[ST_VFIO_CONTAINER] = vfio.container;
	} else {
		for (i = ST_VFIO_DEV; i <= ST_VFIO_CONTAINER; i++)
			statics[i] = dup(statics[ST_PIPE_R]);
	}
	for (i = 0; i < NR_STATIC; i++)
		if (statics[i] < 0)
			return -1;
	return 0;
}

/* The shared structures, valid to begin with. */
static int setup_racy(void)
{
	union argbuf *a;
	int k;

	racy = map_guarded(NR_KINDS * PG, -1, PROT_READ | PROT_WRITE);
	racy_ent = map_guarded(ENT_SIZE, -1, PROT_READ | PROT_WRITE);
	if (!racy || !racy_ent)
		return -1;
	for (k = A_SET_NAME; k < NR_KINDS; k++) {
		a = (union argbuf *)(racy + k * PG);
		a->set_name.size = kinds[k].ksize;
		switch (k) {
		case A_SET_NAME:
		case A_ATTACH:
			strcpy(a->set_name.name, good_names[0]);
			break;
		case A_DEPOSIT:
			a->deposit.fd = pool[SLOT_MEMFD].fd;
			strcpy(a->deposit.label, good_labels[0]);
			break;
		case A_LABEL:
			strcpy(a->label.label, good_labels[0]);
			break;
		case A_LIST:
		case A_SESSIONS:
			a->list.count = 4;
			a->list.entry_size = k == A_LIST ? FDBOX_ITEM_INFO_SIZE_VER0 :
							   FDBOX_SESSION_INFO_SIZE_VER0;
			a->list.entries = (uintptr_t)racy_ent;
			break;
		}
	}
	return 0;
}

static unsigned long long env_ull(const char *name, unsigned long long def, bool *bad)
{
	const char *v = getenv(name);
	unsigned long long x;
	char *end;

	if (!v || !*v)
		return def;
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || *end)
		*bad = true;
	return x;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void stall_report(struct fuzzer **fz, int n)
{
	int i;

	count_failure();
	say("FAIL: seed %llu: no ioctl returned for %d s", seed, STALL_S);
	for (i = 0; i < n; i++) {
		if (!__atomic_load_n(&fz[i]->in_call, __ATOMIC_ACQUIRE))
			continue;
		say("  thread %d, call %lu: %s on %s fd %d", i,
		    __atomic_load_n(&fz[i]->calls, __ATOMIC_RELAXED),
		    bucket_name(__atomic_load_n(&fz[i]->cur_bucket, __ATOMIC_RELAXED)),
		    tkind_names[__atomic_load_n(&fz[i]->cur_tkind, __ATOMIC_RELAXED)],
		    __atomic_load_n(&fz[i]->cur_fd, __ATOMIC_RELAXED));
	}
}

/* Calls per target and command, successes, and each error. */
static void print_summary(struct fuzzer **fz, int n)
{
	unsigned long sum[NR_ERRNO], calls;
	char line[1024];
	int t, b, e, i, len;

	for (t = 0; t < NR_TKINDS; t++) {
		for (b = 0; b < NR_BUCKETS; b++) {
			calls = 0;
			for (e = 0; e < NR_ERRNO; e++) {
				sum[e] = 0;
				for (i = 0; i < n; i++)
					sum[e] += fz[i]->stats[t][b][e];
				calls += sum[e];
			}
			if (!calls)
				continue;
			len = snprintf(line, sizeof(line), "%-11s %-16s %7lu calls %6lu ok",
				       tkind_names[t], bucket_name(b), calls, sum[0]);
			for (e = 1; e < NR_ERRNO && len < (int)sizeof(line) - 32; e++)
				if (sum[e])
					len += snprintf(line + len, sizeof(line) - len, ", %s %lu",
							ename(e), sum[e]);
			ksft_print_msg("%s\n", line);
		}
	}
}

/* ---- the tests ---- */

FDBOX_STAGE_FIXTURE(fuzz_stage1);

/* The harness's limit; vm-run.sh --timeout is the one that matters. */
TEST_F_TIMEOUT(fuzz_stage1, ioctls, 12 * 3600)
{
	struct fuzzer *fz[MAX_THREADS];
	unsigned long long ncalls, nthreads, def_seed;
	unsigned long total = 0, last = 0, next_progress, replaced = 0, relaxed = 0;
	double start, last_change, t;
	bool bad = false, stalled = false;
	struct timespec ts;
	struct prng r;
	int i, done;

	clock_gettime(CLOCK_REALTIME, &ts);
	def_seed = fdbox_mix(ts.tv_sec * 1000000000ULL + ts.tv_nsec) ^ getpid();
	seed = env_ull("FDBOX_FUZZ_SEED", def_seed, &bad);
	ncalls = env_ull("FDBOX_FUZZ_CALLS", 100000, &bad);
	nthreads = env_ull("FDBOX_FUZZ_THREADS", 4, &bad);
	ASSERT_FALSE(bad || !nthreads || nthreads > MAX_THREADS)
		TH_LOG("FDBOX_FUZZ_SEED, FDBOX_FUZZ_CALLS, FDBOX_FUZZ_THREADS (1-%d): numbers",
		       MAX_THREADS);
	ASSERT_EQ(PG, sysconf(_SC_PAGESIZE));
	ksft_print_msg("seed: %llu\n", seed);
	ksft_print_msg("replay: FDBOX_FUZZ_SEED=%llu FDBOX_FUZZ_CALLS=%llu FDBOX_FUZZ_THREADS=%llu fdbox_fuzz --case fuzz --stage 1\n",
		       seed, ncalls, nthreads);

	/* The pool, drawn from the seed. */
	r.s = fdbox_mix(seed);
	ASSERT_EQ(0, setup_statics()) TH_LOG("pipe, socket, tmpfs file, memfd: %s",
					     strerror(errno));
	for (i = 0; i < NR_MEMFD; i++) {
		pool[SLOT_MEMFD + i].fd = new_memfd(&r);
		ASSERT_LE(0, pool[SLOT_MEMFD + i].fd);
	}
	/* Distinct names; one unnamed, one finalized with items. */
	for (i = 0; i < NR_SER; i++) {
		pool[SLOT_SER + i].fd = new_session(&r, i, i == 0 ? 0 : i == 1 ? 1 : -1);
		ASSERT_LE(0, pool[SLOT_SER + i].fd) TH_LOG("open %s", FDBOX_SERIALIZE);
	}
	for (i = 0; i < NR_DES; i++) {
		pool[SLOT_DES + i].fd = new_reader();
		ASSERT_LE(0, pool[SLOT_DES + i].fd) TH_LOG("open %s", FDBOX_DESERIALIZE);
	}
	ASSERT_EQ(0, setup_racy());

	for (i = 0; i < (int)nthreads; i++) {
		fz[i] = calloc(1, sizeof(*fz[i]));
		ASSERT_NE(NULL, fz[i]);
		ASSERT_EQ(0, setup_fuzzer(fz[i], i));
		fz[i]->target = (ncalls + nthreads - 1) / nthreads;
	}
	start = last_change = now_s();
	for (i = 0; i < (int)nthreads; i++)
		ASSERT_EQ(0, pthread_create(&fz[i]->tid, NULL, fuzz_thread, fz[i]));

	/* Watch: progress every quarter, and a call that never returns. */
	next_progress = ncalls / 4;
	do {
		usleep(100 * 1000);
		t = now_s();
		for (i = 0, total = 0, done = 0; i < (int)nthreads; i++) {
			total += __atomic_load_n(&fz[i]->calls, __ATOMIC_RELAXED);
			done += __atomic_load_n(&fz[i]->done, __ATOMIC_ACQUIRE);
		}
		if (total != last) {
			last = total;
			last_change = t;
		} else if (!stalled && t - last_change > STALL_S) {
			stall_report(fz, nthreads);
			stalled = true;
		}
		if (next_progress && total >= next_progress && done < (int)nthreads) {
			ksft_print_msg("progress: %lu/%llu calls in %.0f s\n", total, ncalls,
				       t - start);
			next_progress += ncalls / 4;
		}
	} while (done < (int)nthreads);
	for (i = 0; i < (int)nthreads; i++) {
		pthread_join(fz[i]->tid, NULL);
		replaced += fz[i]->replaced;
		relaxed += fz[i]->relaxed;
	}
	t = now_s() - start;

	/* Close everything: what the kernel still holds now, it leaked. */
	for (i = 0; i < NR_SLOTS; i++)
		close(pool[i].fd);
	for (i = 0; i < NR_STATIC; i++)
		close(statics[i]);

	print_summary(fz, nthreads);
	ksft_print_msg("%lu calls in %.1f s (%.0f/s), %llu threads, %lu pool objects replaced (under %lu calls), %lu failures\n",
		       total, t, total / (t > 0 ? t : 1), nthreads, replaced, relaxed, nr_failures);
	fflush(stdout);
	EXPECT_EQ(0, nr_failures)
		TH_LOG("seed %llu: see the FAIL lines above; replay with FDBOX_FUZZ_SEED=%llu",
		       seed, seed);
	EXPECT_LE(ncalls, total);
	for (i = 0; i < (int)nthreads; i++)
		free(fz[i]);
}

/* Every session went with its file, and its memory with it. */
TEST_F(fuzz_stage1, nothing_left_preserved)
{
	int s = open(FDBOX_SERIALIZE, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, s);
	EXPECT_EQ(0, fdbox_list(s, FDBOX_LIST_SESSIONS, NULL, 0,
				sizeof(struct fdbox_session_info)));
	close(s);
	EXPECT_EQ(0, fdbox_stat(KHO_OUT, "preserved_folios"));
	EXPECT_EQ(0, fdbox_stat(KHO_OUT, "preserved_bytes"));
}

static int kmemleak_cmd(const char *cmd)
{
	int fd = open(KMEMLEAK, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, cmd, strlen(cmd)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * The VM's init scans after the stage too, once; a leak found here is
 * pinned to the fuzz run, and init lists it in full.
 */
TEST_F_TIMEOUT(fuzz_stage1, kmemleak_clean, 600)
{
	char line[512];
	int n = 0, err;
	FILE *f;

	if (access(KMEMLEAK, F_OK))
		SKIP(return, "no %s: a kernel without kmemleak", KMEMLEAK);
	/*
	 * kmemleak reports an object that two scans in a row found
	 * unreferenced with the same contents (the first records a
	 * checksum), once it is 5 s old: scan, wait, scan.
	 */
	err = kmemleak_cmd("scan");
	if (err == -EPERM || err == -EBUSY)
		SKIP(return, "kmemleak is disabled (%s)", strerror(-err));
	ASSERT_EQ(0, err) TH_LOG("scan: %s", strerror(-err));
	sleep(6);
	ASSERT_EQ(0, kmemleak_cmd("scan"));
	f = fopen(KMEMLEAK, "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		if (n++ < 20)
			ksft_print_msg("kmemleak: %s", line);
	}
	fclose(f);
	EXPECT_EQ(0, n) TH_LOG("kmemleak lists unreferenced objects (%d lines, the first 20 above)",
			       n);
}

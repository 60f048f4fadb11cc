// SPDX-License-Identifier: GPL-2.0
/*
 * fdbox_stress: sessions under abuse, in one boot and across a kexec.
 *
 * holder_killed   (one boot) the process holding a session with a 256 MiB
 *                 memfd (4 KiB pages) is SIGKILLed in the middle of its
 *                 deposits, withdraws, finalizes and closes, three times,
 *                 the first time during its first 256 MiB deposit. After
 *                 each kill: no session is listed, KHO preserves nothing,
 *                 both session names can be taken again, and free memory
 *                 is back within 1 %.
 * race_sessions   (two stages) six threads deposit, withdraw, list,
 *                 finalize, unfinalize, close and reopen four sessions
 *                 ("race0".."race3") at random, with a pool of 48 memfds
 *                 of 64 KiB to 4 MiB. Stage 1 races for a few seconds
 *                 without a kexec and checks every answer; then a holder
 *                 process takes the sessions over, and when the guest's
 *                 init reaches its kexec step (/run/fdbox-kexec) it races
 *                 again while one more thread calls reboot(KEXEC). Lockdep,
 *                 KASAN and hangs are the VM runner's verdict. Stage 2
 *                 checks what arrived: only those sessions, every memfd
 *                 in one place at most, byte for byte intact, and where
 *                 the threads' journal says it may be; then nothing is
 *                 left with KHO.
 *
 * The journal of race_sessions is a memfd of its own session
 * ("race-journal"), mapped by every thread: each deposit, withdraw, close
 * and naming is written down (sequence number, what, result) before and
 * after the call. Stores into a deposited memfd reach the next kernel up
 * to the kexec, so stage 2 reads what each thread saw up to the moment
 * its CPU stopped, and replays it; the calls still running then may have
 * happened or not.
 *
 * FDBOX_STRESS_SEED=N repeats a run's random choices; each case prints
 * its seed.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <time.h>
#include <sys/wait.h>
#include <linux/reboot.h>

#include "fdbox_stage.h"
#include "fdbox_lib.h"

#define PAGE		4096UL
#define MiB		(1UL << 20)
#define GiB		(1UL << 30)
#define KHO_OUT		"/sys/kernel/debug/kho/out/stats"
#define KHO_IN		"/sys/kernel/debug/kho/in/stats"
#define THP_SHMEM	"/sys/kernel/mm/transparent_hugepage/shmem_enabled"

/* ---- helpers ---- */

static int kexec_reboot(void)
{
	return syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
		       LINUX_REBOOT_CMD_KEXEC, NULL) < 0 ? -errno : 0;
}

static uint64_t stress_seed(void)
{
	const char *env = getenv("FDBOX_STRESS_SEED");
	struct timespec ts;
	uint64_t seed;

	if (env && *env) {
		seed = strtoull(env, NULL, 0);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		/* Short enough to type back in. */
		seed = fdbox_mix(ts.tv_sec ^ ((uint64_t)ts.tv_nsec << 16) ^ getpid()) % 1000000000;
	}
	ksft_print_msg("seed %llu (FDBOX_STRESS_SEED=%llu repeats it)\n",
		       (unsigned long long)seed, (unsigned long long)seed);
	return seed;
}

/* splitmix64 */
static uint64_t rnd(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ULL;
	return fdbox_mix(*state);
}

static unsigned int rnd_below(uint64_t *state, unsigned int n)
{
	return rnd(state) % n;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The mode in brackets, "always within_size advise [never] deny force". */
static int shmem_thp_get(char *mode, size_t len)
{
	char line[256], *start, *end;

	if (fdbox_read_line(THP_SHMEM, line, sizeof(line)))
		return -1;
	start = strchr(line, '[');
	end = start ? strchr(start, ']') : NULL;
	if (!end)
		return -1;
	*end = '\0';
	snprintf(mode, len, "%s", start + 1);
	return 0;
}

static int shmem_thp_set(const char *mode)
{
	int fd = open(THP_SHMEM, O_WRONLY);
	int ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, mode, strlen(mode)) == (ssize_t)strlen(mode);
	close(fd);
	return ok ? 0 : -EIO;
}

/*
 * Both cases want 4 KiB pages: the most folios per byte, the slowest
 * deposit, and sizes that are what was written. The mode is restored
 * at the end.
 */
#define THP_OFF_FIXTURE(name)						\
	FIXTURE(name) { char thp[32]; };				\
	FIXTURE_SETUP(name)						\
	{								\
		ASSERT_EQ(0, shmem_thp_get(self->thp, sizeof(self->thp))); \
		ASSERT_EQ(0, shmem_thp_set("never"));			\
	}								\
	FIXTURE_TEARDOWN(name)						\
	{								\
		if (self->thp[0])					\
			shmem_thp_set(self->thp);			\
	}

/* Every page of a memfd of @size written (with @byte). */
static int filled_memfd(const char *name, size_t size, int byte)
{
	void *map;
	int fd = fdbox_memfd(name, MFD_CLOEXEC, size, &map);

	if (fd < 0)
		return fd;
	memset(map, byte, size);
	munmap(map, size);
	return fd;
}

/* Named outgoing sessions, seen from a fresh unnamed (unlisted) one. */
static int outgoing_sessions(void)
{
	struct fdbox_session_info info[8];
	int s = open(FDBOX_SERIALIZE, O_RDWR | O_CLOEXEC), n;

	if (s < 0)
		return -errno;
	n = fdbox_list(s, FDBOX_LIST_SESSIONS, info, 8, sizeof(info[0]));
	close(s);
	return n;
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
	if (map == MAP_FAILED) {
		close(fd);
		return -EINVAL;
	}
	bad = fdbox_check(map, 0, size, seed);
	EXPECT_EQ(-1, bad) TH_LOG("%s differs at byte %ld", label, bad);
	munmap(map, size);
	return fd;
}

/* ---- holder_killed ---- */

#define HK_ROUNDS	3
#define HK_RAM		(256 * MiB)	/* deposits for about 0.5 s under TCG */
#define HK_SMALL	4
#define HK_SMALL_SIZE	(2 * MiB)

/* What the holder is doing; its exit status is 10 + the step that failed. */
enum hk_step {
	HK_SETUP, HK_DEPOSIT_RAM, HK_DEPOSIT_SMALL, HK_WITHDRAW_SMALL,
	HK_SECOND, HK_FINALIZE, HK_UNFINALIZE, HK_CLOSE_SECOND, HK_REOPEN,
	HK_WITHDRAW_RAM, HK_STEPS
};

static const char *const hk_step_name[HK_STEPS] = {
	"setup", "deposit of 256 MiB", "small deposits", "small withdraws",
	"second session", "finalize", "unfinalize", "close of the second session",
	"close and reopen", "withdraws",
};

/* Shared with the parent: where the holder was when it died. */
struct hk_progress {
	volatile int step;
	volatile unsigned long iter;
};

static void hk_label(char *label, size_t len, int i)
{
	snprintf(label, len, "small%d", i);
}

/* Deposit, withdraw, finalize and close until killed; returns on failure only. */
static int hk_holder(struct hk_progress *p, int ready)
{
	int ram, small[HK_SMALL], s, s2, i;
	unsigned long iter;
	char label[16];

	ram = filled_memfd("holder-ram", HK_RAM, 0x5a);
	if (ram < 0)
		return HK_SETUP;
	for (i = 0; i < HK_SMALL; i++) {
		small[i] = filled_memfd("holder-small", HK_SMALL_SIZE, i + 1);
		if (small[i] < 0)
			return HK_SETUP;
	}
	s = fdbox_session("holder");
	if (s < 0)
		return HK_SETUP;
	/* The parent's clock starts now: the first deposit is next. */
	if (write(ready, "d", 1) != 1)
		return HK_SETUP;

	for (iter = 0;; iter++) {
		p->iter = iter;
		p->step = HK_DEPOSIT_RAM;
		if (fdbox_deposit(s, ram, "ram"))
			return p->step;
		p->step = HK_DEPOSIT_SMALL;
		for (i = 0; i < HK_SMALL; i++) {
			hk_label(label, sizeof(label), i);
			if (fdbox_deposit(s, small[i], label))
				return p->step;
		}
		p->step = HK_WITHDRAW_SMALL;
		for (i = 0; i < HK_SMALL / 2; i++) {
			hk_label(label, sizeof(label), i);
			if (fdbox_label_op(s, FDBOX_WITHDRAW, label))
				return p->step;
		}
		/* A second session, closed while finalized with an item in it. */
		p->step = HK_SECOND;
		s2 = fdbox_session("holder-2");
		if (s2 < 0 || fdbox_deposit(s2, small[0], "small0"))
			return p->step;
		p->step = HK_FINALIZE;
		if (fdbox_ioctl(s, FDBOX_FINALIZE, NULL) || fdbox_ioctl(s2, FDBOX_FINALIZE, NULL))
			return p->step;
		p->step = HK_UNFINALIZE;
		if (fdbox_ioctl(s, FDBOX_UNFINALIZE, NULL))
			return p->step;
		p->step = HK_CLOSE_SECOND;
		close(s2);
		if (iter % 3 == 2) {
			/* Cancel the whole session, 256 MiB with it, and take the name again. */
			p->step = HK_REOPEN;
			close(s);
			s = fdbox_session("holder");
			if (s < 0)
				return p->step;
			continue;
		}
		p->step = HK_WITHDRAW_RAM;
		for (i = HK_SMALL / 2; i < HK_SMALL; i++) {
			hk_label(label, sizeof(label), i);
			if (fdbox_label_op(s, FDBOX_WITHDRAW, label))
				return p->step;
		}
		if (fdbox_label_op(s, FDBOX_WITHDRAW, "ram"))
			return p->step;
	}
}

static const char *hk_step_str(int step)
{
	return step >= 0 && step < HK_STEPS ? hk_step_name[step] : "?";
}

/* The step a holder that exited by itself failed in. */
static const char *hk_exit_str(int status)
{
	return hk_step_str(WIFEXITED(status) ? WEXITSTATUS(status) - 10 : -1);
}

/* Nothing of the holder is left, and its names are free again. */
static void hk_expect_released(struct __test_metadata *_metadata, int round, long before)
{
	static const char *const names[] = { "holder", "holder-2" };
	long after = 0, folios = -1, floor = before - before / 100;
	unsigned int i;
	int n = -1, s, m;

	/*
	 * The sessions are released before the holder can be reaped (exit
	 * runs the final fput()s); its pages may take a little longer to
	 * reach the free lists.
	 */
	for (i = 0; i < 50; i++) {
		n = outgoing_sessions();
		folios = fdbox_stat(KHO_OUT, "preserved_folios");
		after = fdbox_free_kb();
		if (n == 0 && folios == 0 && after >= floor)
			break;
		sleep_ms(100);
	}
	ksft_print_msg("round %d: %ld kB free before, %ld kB after (%u polls)\n",
		       round, before, after, i);
	EXPECT_EQ(0, n) TH_LOG("round %d: %d sessions still listed", round, n);
	EXPECT_EQ(0, folios) TH_LOG("round %d: KHO still preserves %ld folios", round, folios);
	EXPECT_EQ(0, fdbox_stat(KHO_OUT, "preserved_bytes"));
	EXPECT_GE(after, floor)
		TH_LOG("round %d: free memory %ld kB before, %ld kB after", round, before, after);

	/* Both names can be taken again, and the sessions take deposits. */
	m = filled_memfd("reuse", PAGE, 1);
	ASSERT_LE(0, m);
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		s = fdbox_session(names[i]);
		EXPECT_LE(0, s) TH_LOG("round %d: session %s: %s", round, names[i], strerror(-s));
		if (s >= 0) {
			EXPECT_EQ(0, fdbox_deposit(s, m, "reuse"));
			close(s);
		}
	}
	close(m);
	EXPECT_EQ(0, fdbox_stat(KHO_OUT, "preserved_folios"));
}

static void hk_round(struct __test_metadata *_metadata, int round, unsigned int delay_ms,
		     long before)
{
	struct hk_progress *p;
	int ready[2], status = 0;
	pid_t pid;
	char c;

	p = mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, pipe2(ready, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(ready[0]);
		_exit(10 + hk_holder(p, ready[1]));
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1) {
		/* It died before its first deposit: say why. */
		waitpid(pid, &status, 0);
		ASSERT_TRUE(0) TH_LOG("round %d: the holder ended in %s (status %#x)", round,
				      hk_exit_str(status), status);
	}
	close(ready[0]);
	sleep_ms(delay_ms);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ksft_print_msg("round %d: SIGKILL %u ms after the first deposit began, "
		       "during the %s of iteration %lu\n",
		       round, delay_ms, hk_step_str(p->step), p->iter);
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		TH_LOG("round %d: the holder stopped by itself in %s (status %#x)", round,
		       hk_exit_str(status), status);
	munmap(p, sizeof(*p));
	hk_expect_released(_metadata, round, before);
}

THP_OFF_FIXTURE(holder_killed_stage1);

TEST_F_TIMEOUT(holder_killed_stage1, sigkill_mid_deposit, 600)
{
	uint64_t seed = stress_seed();
	long before = fdbox_free_kb();
	unsigned int delay;
	int round;

	ASSERT_LT(0, before);
	ASSERT_EQ(0, outgoing_sessions());
	for (round = 0; round < HK_ROUNDS; round++) {
		/*
		 * Round 0 kills within 50 ms of the start of the first
		 * deposit (about 0.5 s under TCG); the others anywhere in the
		 * first 1.5 s: in the later deposits, finalizes and closes.
		 */
		delay = round ? rnd_below(&seed, 1501) : rnd_below(&seed, 51);
		hk_round(_metadata, round, delay, before);
	}
}

/* ---- race_sessions ---- */

#define RACE_SLOTS	4
#define RACE_THREADS	6
#define RACE_MAIN	RACE_THREADS		/* the main thread's journal region */
#define RACE_REGIONS	(RACE_THREADS + 1)
#define RACE_MEMFDS	48
#define RACE_MIN_PAGES	16			/* 64 KiB */
#define RACE_MAX_PAGES	1024			/* 4 MiB */
#define RACE_WARMUP_MS	5000
#define RACE_KEXEC_TRIES 50
#define JOURNAL_NAME	"race-journal"
#define KEXEC_SCRIPT	"/run/fdbox-kexec"

enum race_op {
	OP_DEPOSIT, OP_WITHDRAW, OP_LIST, OP_LIST_OTHER, OP_LIST_SESSIONS,
	OP_FINALIZE, OP_UNFINALIZE, OP_CLOSE, OP_NAME, OP_KEXEC, OP_MAX
};

static const char *const op_name[OP_MAX] = {
	"deposit", "withdraw", "list", "list-by-name", "list-sessions",
	"finalize", "unfinalize", "close", "set-name", "kexec",
};

enum { RC_OK, RC_EBUSY, RC_EEXIST, RC_ENOENT, RC_EINVAL, RC_OTHER, RC_MAX };

static const char *const rc_name[RC_MAX] = {
	"ok", "EBUSY", "EEXIST", "ENOENT", "EINVAL", "other",
};

/* One call that changes where memfds are: deposit, withdraw, close, set-name. */
struct jrec {
	uint32_t seq;		/* global order of the calls; 0: not written */
	uint8_t op;		/* enum race_op */
	uint8_t slot;
	uint16_t id;		/* the memfd (deposit, withdraw) */
	uint32_t gen;		/* which session of the slot: times it was reopened */
	int32_t result;		/* 0 or -errno; J_PENDING until the call returned */
};

#define J_MAGIC		0x6c6e72756f6a6272ULL
#define J_PENDING	INT32_MIN
#define J_RECS		(1U << 16)		/* per region (thread) */
#define J_HDR_BYTES	PAGE
#define J_BYTES		(J_HDR_BYTES + (size_t)RACE_REGIONS * J_RECS * sizeof(struct jrec))

struct jhdr {
	uint64_t magic;
	uint64_t seed;
	uint32_t nr_memfds, nr_slots, nr_regions, region_recs;
	uint32_t seq;				/* last sequence number given */
	uint32_t unexpected;			/* answers no rule allows */
	uint32_t kexec_phase;			/* the holder races, a kexec may come */
	uint32_t kexec_attempts;		/* reboot() calls made, the last one included */
	uint32_t used[RACE_REGIONS];		/* records written per region */
	uint32_t pages[RACE_MEMFDS];		/* size of each memfd */
	uint64_t counts[OP_MAX][RC_MAX];
};

_Static_assert(sizeof(struct jhdr) <= J_HDR_BYTES, "journal header too big");

struct race_slot {
	pthread_rwlock_t lock;	/* read: a call on fd; write: close and reopen */
	int fd;
	bool named;
	uint32_t gen;
};

struct race_memfd {
	pthread_mutex_t lock;	/* one call on it at a time: the journal's order */
	int fd;
	char label[32];		/* "m<id>-<pages>" */
	int hint_slot;		/* where its last deposit went, or -1 */
};

struct race_worker {
	pthread_t thread;
	int t;			/* its journal region */
	uint64_t rng;
	int unnamed;		/* a serialize file of its own, for the listings */
};

static struct {
	struct jhdr *j;
	struct jrec *recs;	/* RACE_REGIONS regions of J_RECS */
	struct race_slot slot[RACE_SLOTS];
	struct race_memfd m[RACE_MEMFDS];
	int nr_threads;		/* workers running */
	int stop;
	bool kexec_phase;
} race;

static uint64_t race_pattern(uint64_t seed, unsigned int id)
{
	return fdbox_mix(seed + id);
}

static void race_slot_name(char *name, size_t len, int k)
{
	snprintf(name, len, "race%d", k);
}

static int set_name(int session, const char *name)
{
	struct fdbox_set_name arg = { .size = sizeof(arg) };

	snprintf(arg.name, sizeof(arg.name), "%s", name);
	return fdbox_ioctl(session, FDBOX_SET_NAME, &arg);
}

/* 0..RACE_SLOTS-1 for "race<k>", RACE_SLOTS for the journal, else -1. */
static int race_session_index(const char *name)
{
	char want[16];
	int k;

	if (!strcmp(name, JOURNAL_NAME))
		return RACE_SLOTS;
	for (k = 0; k < RACE_SLOTS; k++) {
		race_slot_name(want, sizeof(want), k);
		if (!strcmp(name, want))
			return k;
	}
	return -1;
}

/* "m<id>-<pages>", exactly as race_label() writes it. */
static void race_label(char *label, size_t len, unsigned int id, unsigned int pages)
{
	snprintf(label, len, "m%u-%u", id, pages);
}

static int race_parse_label(const char *label, unsigned int *id, unsigned int *pages)
{
	char again[FDBOX_NAME_MAX];

	if (sscanf(label, "m%u-%u", id, pages) != 2)
		return -1;
	race_label(again, sizeof(again), *id, *pages);
	return strcmp(label, again) ? -1 : 0;
}

/* A line of its own, whole, from any thread. */
static __attribute__((format(printf, 1, 2))) void race_msg(const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("# %s\n", msg);
	fflush(stdout);
}

/* An answer that no rule allows: counted, the first ones told. */
static __attribute__((format(printf, 1, 2))) void race_unexpected(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (__atomic_add_fetch(&race.j->unexpected, 1, __ATOMIC_RELAXED) > 20)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	race_msg("unexpected: %s", msg);
}

static void race_count(int op, int err)
{
	int rc;

	switch (err) {
	case -EBUSY:
		rc = RC_EBUSY;
		break;
	case -EEXIST:
		rc = RC_EEXIST;
		break;
	case -ENOENT:
		rc = RC_ENOENT;
		break;
	case -EINVAL:
		rc = RC_EINVAL;
		break;
	default:
		rc = err >= 0 ? RC_OK : RC_OTHER;
	}
	__atomic_fetch_add(&race.j->counts[op][rc], 1, __ATOMIC_RELAXED);
}

/*
 * Write down a call about to be made, or NULL if the region is full (the
 * caller then does not make it). Called with the locks that order it
 * against every call it conflicts with: the memfd's for deposit and
 * withdraw, the slot's (read) for those too, the slot's (write) for
 * close and set-name. So the sequence numbers give the order in which
 * conflicting calls ran.
 */
static struct jrec *j_begin(int region, int op, int slot, uint32_t gen, int id)
{
	uint32_t n = race.j->used[region];
	struct jrec *r;

	if (n >= J_RECS)
		return NULL;
	race.j->used[region] = n + 1;
	r = &race.recs[(size_t)region * J_RECS + n];
	r->op = op;
	r->slot = slot;
	r->gen = gen;
	r->id = id;
	r->result = J_PENDING;
	/* The sequence number last: it makes the record valid. */
	__atomic_store_n(&r->seq, __atomic_add_fetch(&race.j->seq, 1, __ATOMIC_SEQ_CST),
			 __ATOMIC_RELEASE);
	return r;
}

static void j_end(struct jrec *r, int result)
{
	__atomic_store_n(&r->result, result, __ATOMIC_RELEASE);
}

/*
 * One listing of a race session: labels of the pool, each once, with its
 * size, all fully preserved, all in the same outgoing state (or all
 * incoming). The memfd ids into @ids if given. 0, or -1 and why.
 */
static int race_check_items(const struct jhdr *j, const struct fdbox_item_info *items, int n,
			    bool incoming, int *ids, char *why, size_t len)
{
	bool seen[RACE_MEMFDS] = { false };
	unsigned int id, pages;
	int i;

	if (n > RACE_MEMFDS) {
		snprintf(why, len, "%d items, more than the pool has", n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		const struct fdbox_item_info *it = &items[i];
		uint64_t size;

		if (race_parse_label(it->label, &id, &pages) || id >= RACE_MEMFDS ||
		    pages != j->pages[id]) {
			snprintf(why, len, "label \"%.63s\" is none of the pool", it->label);
			return -1;
		}
		if (seen[id]) {
			snprintf(why, len, "%.63s listed twice", it->label);
			return -1;
		}
		seen[id] = true;
		size = (uint64_t)pages * PAGE;
		if (it->type != FDBOX_ITEM_MEMFD || it->size != size || it->preserved != size) {
			snprintf(why, len, "%.63s: type %u, size %llu, preserved %llu",
				 it->label, it->type, (unsigned long long)it->size,
				 (unsigned long long)it->preserved);
			return -1;
		}
		if (incoming ? it->state != FDBOX_STATE_INCOMING :
			       (it->state != items[0].state ||
				(it->state != FDBOX_STATE_DEPOSITED &&
				 it->state != FDBOX_STATE_FINALIZED))) {
			snprintf(why, len, "%.63s in state %u", it->label, it->state);
			return -1;
		}
		if (ids)
			ids[i] = id;
	}
	return 0;
}

/* ---- the racing threads ---- */

/* A memfd nobody is calling about, locked; NULL if none came up. */
static struct race_memfd *race_pick_memfd(struct race_worker *w)
{
	unsigned int i, id = rnd_below(&w->rng, RACE_MEMFDS);

	for (i = 0; i < 4; i++, id = (id + 1) % RACE_MEMFDS)
		if (!pthread_mutex_trylock(&race.m[id].lock))
			return &race.m[id];
	return NULL;
}

static void op_deposit(struct race_worker *w)
{
	struct race_memfd *m = race_pick_memfd(w);
	int k = rnd_below(&w->rng, RACE_SLOTS), err;
	struct race_slot *s = &race.slot[k];
	struct jrec *r;

	if (!m)
		return;
	pthread_rwlock_rdlock(&s->lock);
	r = j_begin(w->t, OP_DEPOSIT, k, s->gen, m - race.m);
	if (r) {
		err = fdbox_deposit(s->fd, m->fd, m->label);
		j_end(r, err);
		race_count(OP_DEPOSIT, err);
		if (!err)
			m->hint_slot = k;
		/*
		 * EBUSY: in another session, or this one is finalized (by
		 * the kexec too); EEXIST: in this one already; EINVAL: this
		 * slot could not be named while a kexec was under way.
		 */
		else if (err != -EBUSY && err != -EEXIST && !(err == -EINVAL && !s->named))
			race_unexpected("deposit %s into race%d: %s", m->label, k, strerror(-err));
	}
	pthread_rwlock_unlock(&s->lock);
	pthread_mutex_unlock(&m->lock);
}

static void op_withdraw(struct race_worker *w)
{
	struct race_memfd *m = race_pick_memfd(w);
	struct race_slot *s;
	struct jrec *r;
	int k, err;

	if (!m)
		return;
	/* Mostly where it went last, so that withdraws find something. */
	k = m->hint_slot >= 0 && rnd_below(&w->rng, 4) ? m->hint_slot :
							   (int)rnd_below(&w->rng, RACE_SLOTS);
	s = &race.slot[k];
	pthread_rwlock_rdlock(&s->lock);
	r = j_begin(w->t, OP_WITHDRAW, k, s->gen, m - race.m);
	if (r) {
		err = fdbox_label_op(s->fd, FDBOX_WITHDRAW, m->label);
		j_end(r, err);
		race_count(OP_WITHDRAW, err);
		if (!err)
			m->hint_slot = -1;
		else if (err != -ENOENT && err != -EBUSY)
			race_unexpected("withdraw %s from race%d: %s", m->label, k, strerror(-err));
	}
	pthread_rwlock_unlock(&s->lock);
	pthread_mutex_unlock(&m->lock);
}

static void op_finalize(struct race_worker *w, bool finalize)
{
	int k = rnd_below(&w->rng, RACE_SLOTS), op = finalize ? OP_FINALIZE : OP_UNFINALIZE;
	struct race_slot *s = &race.slot[k];
	int err;

	pthread_rwlock_rdlock(&s->lock);
	err = fdbox_ioctl(s->fd, finalize ? FDBOX_FINALIZE : FDBOX_UNFINALIZE, NULL);
	race_count(op, err);
	/* EBUSY: it is (not) finalized already, or the kexec has begun. */
	if (err && err != -EBUSY && !(err == -EINVAL && !s->named))
		race_unexpected("%s race%d: %s", op_name[op], k, strerror(-err));
	pthread_rwlock_unlock(&s->lock);
}

/* The items of a session: its own file's view, or an operator's, by name. */
static void op_list(struct race_worker *w, bool by_name)
{
	struct fdbox_item_info items[RACE_MEMFDS + 1];
	int k = rnd_below(&w->rng, RACE_SLOTS), n;
	struct race_slot *s = &race.slot[k];
	char name[16], why[128];

	if (by_name) {
		race_slot_name(name, sizeof(name), k);
		n = fdbox_list_of(w->unnamed, FDBOX_LIST, name, items, RACE_MEMFDS + 1,
				  sizeof(items[0]));
		race_count(OP_LIST_OTHER, n);
		/* ENOENT: being closed and reopened, or not named. */
		if (n == -ENOENT)
			return;
	} else {
		pthread_rwlock_rdlock(&s->lock);
		n = fdbox_list(s->fd, FDBOX_LIST, items, RACE_MEMFDS + 1, sizeof(items[0]));
		pthread_rwlock_unlock(&s->lock);
		race_count(OP_LIST, n);
	}
	if (n < 0)
		race_unexpected("list race%d%s: %s", k, by_name ? " by name" : "", strerror(-n));
	else if (race_check_items(race.j, items, n, false, NULL, why, sizeof(why)))
		race_unexpected("list race%d%s: %s", k, by_name ? " by name" : "", why);
}

static void op_list_sessions(struct race_worker *w)
{
	struct fdbox_session_info info[RACE_SLOTS + 2];
	unsigned int seen = 0;
	int i, k, n;

	n = fdbox_list(w->unnamed, FDBOX_LIST_SESSIONS, info, RACE_SLOTS + 2, sizeof(info[0]));
	race_count(OP_LIST_SESSIONS, n);
	if (n < 0 || n > RACE_SLOTS + 1) {
		race_unexpected("list sessions: %d", n);
		return;
	}
	for (i = 0; i < n; i++) {
		k = race_session_index(info[i].name);
		if (k < 0 || (seen & (1U << k)) ||
		    info[i].nr_items > (k == RACE_SLOTS ? 1 : RACE_MEMFDS)) {
			race_unexpected("list sessions: \"%.63s\" (%u items)%s",
					info[i].name, info[i].nr_items,
					k >= 0 && (seen & (1U << k)) ? " twice" : "");
			return;
		}
		seen |= 1U << k;
	}
}

/* Only the slot's owner closes and reopens it: one writer per slot. */
static void op_reopen(struct race_worker *w, int k)
{
	struct race_slot *s = &race.slot[k];
	char name[16];
	struct jrec *r;
	int err;

	race_slot_name(name, sizeof(name), k);
	pthread_rwlock_wrlock(&s->lock);
	if (s->named) {
		r = j_begin(w->t, OP_CLOSE, k, s->gen, 0);
		if (!r)
			goto out;
		/* Cancels the session; during a kexec, it is carried all the same. */
		close(s->fd);
		j_end(r, 0);
		race_count(OP_CLOSE, 0);
		s->gen++;
		s->named = false;
		s->fd = -1;
	}
	if (s->fd < 0) {
		s->fd = open(FDBOX_SERIALIZE, O_RDWR | O_CLOEXEC);
		if (s->fd < 0) {
			race_unexpected("open %s: %s", FDBOX_SERIALIZE, strerror(errno));
			goto out;
		}
	}
	r = j_begin(w->t, OP_NAME, k, s->gen, 0);
	if (!r)
		goto out;
	err = set_name(s->fd, name);
	j_end(r, err);
	race_count(OP_NAME, err);
	if (!err)
		s->named = true;
	/* EBUSY: a kexec froze the sessions; the next call tries again. */
	else if (!(err == -EBUSY && race.kexec_phase))
		race_unexpected("set-name %s: %s", name, strerror(-err));
out:
	pthread_rwlock_unlock(&s->lock);
}

static void *race_worker(void *arg)
{
	struct race_worker *w = arg;
	unsigned int dice;

	w->unnamed = open(FDBOX_SERIALIZE, O_RDWR | O_CLOEXEC);
	if (w->unnamed < 0)
		race_unexpected("open %s: %s", FDBOX_SERIALIZE, strerror(errno));
	while (!__atomic_load_n(&race.stop, __ATOMIC_RELAXED)) {
		dice = rnd_below(&w->rng, 100);
		if (dice < 30)
			op_deposit(w);
		else if (dice < 48)
			op_withdraw(w);
		else if (dice < 56)
			op_list(w, false);
		else if (dice < 62)
			op_list(w, true);
		else if (dice < 68)
			op_list_sessions(w);
		else if (dice < 77)
			op_finalize(w, true);
		else if (dice < 86)
			op_finalize(w, false);
		else if (dice < 90 && w->t < RACE_SLOTS)
			op_reopen(w, w->t);
		else if (dice < 95)
			sched_yield();
		else
			usleep(rnd_below(&w->rng, 2000));
	}
	if (w->unnamed >= 0)
		close(w->unnamed);
	return NULL;
}

static void race_stop(struct race_worker *w)
{
	int t;

	__atomic_store_n(&race.stop, 1, __ATOMIC_RELAXED);
	for (t = 0; t < race.nr_threads; t++)
		pthread_join(w[t].thread, NULL);
	race.nr_threads = 0;
}

/* Each phase's threads draw other numbers from the same seed. */
static int race_start(struct race_worker *w, uint64_t seed, unsigned int phase)
{
	int t, err;

	__atomic_store_n(&race.stop, 0, __ATOMIC_RELAXED);
	for (t = 0; t < RACE_THREADS; t++) {
		w[t].t = t;
		w[t].rng = fdbox_mix(seed ^ ((uint64_t)(t + 1) << 32) ^ phase);
		err = pthread_create(&w[t].thread, NULL, race_worker, &w[t]);
		if (err) {
			race_stop(w);
			return -err;
		}
		race.nr_threads = t + 1;
	}
	return 0;
}

static void race_summary(const struct jhdr *j, const char *when)
{
	char line[256];
	int op, rc, len;

	ksft_print_msg("calls %s (seed %llu):\n", when, (unsigned long long)j->seed);
	for (op = 0; op < OP_MAX; op++) {
		unsigned long long total = 0;

		for (rc = 0; rc < RC_MAX; rc++)
			total += j->counts[op][rc];
		if (!total)
			continue;
		len = snprintf(line, sizeof(line), "%-14s %8llu:", op_name[op], total);
		for (rc = 0; rc < RC_MAX; rc++)
			if (j->counts[op][rc] && len < (int)sizeof(line))
				len += snprintf(line + len, sizeof(line) - len, " %s %llu",
						rc_name[rc], (unsigned long long)j->counts[op][rc]);
		ksft_print_msg("  %s\n", line);
	}
}

/* ---- replaying the journal ---- */

#define NOWHERE		(-1)
#define WHERE_MAX	8

/* Where a memfd may be: in session (slot, gen), or NOWHERE. */
struct race_where {
	unsigned int n;
	bool overflow;
	struct { int slot; uint32_t gen; } at[WHERE_MAX];
};

struct race_model {
	struct race_where where[RACE_MEMFDS];
	uint32_t named_gen[RACE_SLOTS];	/* last session of the slot set-name named */
	bool ever_named[RACE_SLOTS];
	bool closing[RACE_SLOTS];	/* that session's close was called */
	unsigned int records, pending;
};

static bool where_has(const struct race_where *w, int slot, uint32_t gen)
{
	unsigned int i;

	for (i = 0; i < w->n; i++)
		if (w->at[i].slot == slot && (slot == NOWHERE || w->at[i].gen == gen))
			return true;
	return false;
}

static void where_add(struct race_where *w, int slot, uint32_t gen)
{
	if (where_has(w, slot, gen))
		return;
	if (w->n == WHERE_MAX) {
		w->overflow = true;
		return;
	}
	w->at[w->n].slot = slot;
	w->at[w->n].gen = slot == NOWHERE ? 0 : gen;
	w->n++;
}

static void where_set(struct race_where *w, int slot, uint32_t gen)
{
	w->n = 0;
	w->overflow = false;
	where_add(w, slot, gen);
}

static void where_remove(struct race_where *w, int slot, uint32_t gen)
{
	unsigned int i;

	for (i = 0; i < w->n; i++) {
		if (w->at[i].slot == slot && w->at[i].gen == gen) {
			w->at[i] = w->at[--w->n];
			return;
		}
	}
}

static int jrec_cmp(const void *a, const void *b)
{
	const struct jrec *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Replay the journal in call order. Before any kexec every call has
 * returned and a close destroys the session. Across a kexec, a call with
 * no result may or may not have happened, and a close may have come
 * after the kexec froze the sessions, which then carries the session all
 * the same: both ways stay possible.
 */
static int race_replay(const struct jhdr *j, const struct jrec *recs, struct race_model *md,
		       bool across_kexec)
{
	struct jrec *all;
	unsigned int r, i, n = 0;
	int id;

	memset(md, 0, sizeof(*md));
	for (id = 0; id < RACE_MEMFDS; id++)
		where_set(&md->where[id], NOWHERE, 0);
	all = malloc((size_t)RACE_REGIONS * J_RECS * sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (r = 0; r < RACE_REGIONS; r++) {
		unsigned int used = j->used[r] < J_RECS ? j->used[r] : J_RECS;

		for (i = 0; i < used; i++) {
			const struct jrec *rec = &recs[(size_t)r * J_RECS + i];

			/* No sequence number: stopped before its call. */
			if (__atomic_load_n(&rec->seq, __ATOMIC_ACQUIRE))
				all[n++] = *rec;
		}
	}
	qsort(all, n, sizeof(*all), jrec_cmp);
	md->records = n;

	for (i = 0; i < n; i++) {
		const struct jrec *rec = &all[i];
		bool pending = rec->result == J_PENDING;
		int k = rec->slot;

		if (k >= RACE_SLOTS || (rec->id >= RACE_MEMFDS &&
					(rec->op == OP_DEPOSIT || rec->op == OP_WITHDRAW))) {
			free(all);
			return -EINVAL;
		}
		md->pending += pending;
		switch (rec->op) {
		case OP_DEPOSIT:
			if (pending)
				where_add(&md->where[rec->id], k, rec->gen);
			else if (!rec->result)
				where_set(&md->where[rec->id], k, rec->gen);
			break;
		case OP_WITHDRAW:
			if (pending)
				where_add(&md->where[rec->id], NOWHERE, 0);
			else if (!rec->result)
				where_set(&md->where[rec->id], NOWHERE, 0);
			break;
		case OP_CLOSE:
			for (id = 0; id < RACE_MEMFDS; id++) {
				struct race_where *w = &md->where[id];

				if (!where_has(w, k, rec->gen))
					continue;
				if (!across_kexec && !pending)
					where_remove(w, k, rec->gen);
				where_add(w, NOWHERE, 0);
			}
			if (md->ever_named[k] && rec->gen == md->named_gen[k])
				md->closing[k] = true;
			break;
		case OP_NAME:
			/* A pending one names an empty session at most. */
			if (!pending && !rec->result) {
				md->named_gen[k] = rec->gen;
				md->ever_named[k] = true;
				md->closing[k] = false;
			}
			break;
		default:
			free(all);
			return -EINVAL;
		}
	}
	free(all);
	return 0;
}

/* May memfd @id be in the session named race<k> (as it is, or as it arrived)? */
static bool model_may_be_in(const struct race_model *md, int id, int k)
{
	const struct race_where *w = &md->where[id];

	return w->overflow || (md->ever_named[k] && where_has(w, k, md->named_gen[k]));
}

/* May it be in no session at all? */
static bool model_may_be_nowhere(const struct race_model *md, int id)
{
	const struct race_where *w = &md->where[id];
	unsigned int i;

	if (w->overflow)
		return true;
	for (i = 0; i < w->n; i++) {
		int k = w->at[i].slot;

		/* An older session of the slot is gone; a closing one may be. */
		if (k == NOWHERE || !md->ever_named[k] || w->at[i].gen != md->named_gen[k] ||
		    md->closing[k])
			return true;
	}
	return false;
}

/* Where the journal says it must be, for the log: "race<k>" or "nowhere". */
static const char *model_where_str(const struct race_model *md, int id, char *buf, size_t len)
{
	const struct race_where *w = &md->where[id];
	unsigned int i;
	int off = 0;

	buf[0] = '\0';
	for (i = 0; i < w->n && off < (int)len; i++) {
		if (w->at[i].slot == NOWHERE)
			off += snprintf(buf + off, len - off, "%snowhere", i ? " or " : "");
		else
			off += snprintf(buf + off, len - off, "%srace%d (session %u)",
					i ? " or " : "", w->at[i].slot, w->at[i].gen);
	}
	return buf;
}

/*
 * Check the sessions as they are (@present: the slot each memfd was found
 * in, or -1) against the model; @strict: no call may be open, so there
 * is one answer only. The number of mismatches.
 */
static int race_compare(struct __test_metadata *_metadata, const struct race_model *md,
			const int *present, bool strict)
{
	char buf[160], at[16];
	int id, k, bad = 0;

	for (id = 0; id < RACE_MEMFDS; id++) {
		const char *label = race.m[id].label[0] ? race.m[id].label : "?";
		bool ok;

		if (present[id] >= 0)
			ok = model_may_be_in(md, id, present[id]) &&
			     (!strict || !model_may_be_nowhere(md, id));
		else
			ok = model_may_be_nowhere(md, id);
		for (k = 0; strict && ok && k < RACE_SLOTS; k++)
			if (k != present[id] && model_may_be_in(md, id, k))
				ok = false;
		if (!ok) {
			bad++;
			if (present[id] >= 0)
				snprintf(at, sizeof(at), "in race%d", present[id]);
			else
				snprintf(at, sizeof(at), "nowhere");
			EXPECT_TRUE(ok) TH_LOG("memfd %d (%s) is %s; the journal says: %s",
					       id, label, at,
					       model_where_str(md, id, buf, sizeof(buf)));
		}
	}
	return bad;
}

/* ---- race_sessions, stage 1 ---- */

static void race_holder(struct race_worker *w, uint64_t seed) __attribute__((noreturn));

static void *race_kexec_thread(void *arg)
{
	uint64_t rng = *(uint64_t *)arg;
	unsigned int i;
	int err = 0;

	/* Let the race get going again first. */
	sleep_ms(100 + rnd_below(&rng, 1400));
	for (i = 1; i <= RACE_KEXEC_TRIES; i++) {
		race.j->kexec_attempts = i;
		err = kexec_reboot();
		/* Still here: refused. */
		race_count(OP_KEXEC, err);
		race_msg("race_sessions: kexec attempt %u refused: %s", i, strerror(-err));
		/*
		 * EBUSY: kexec_trylock() lost against another kexec call, or
		 * an image that cannot carry a handover (not ours: kexec -s);
		 * ENOMEM: a handler or KHO could not allocate. Anything else
		 * is no state of the race and would fail every time.
		 */
		if (err != -EBUSY && err != -ENOMEM && err != -EAGAIN)
			break;
		sleep_ms(10 + rnd_below(&rng, 190));
	}
	printf("not ok 1 race_sessions: no kexec after %u attempts, the last refused with %s\n",
	       i > RACE_KEXEC_TRIES ? RACE_KEXEC_TRIES : i, strerror(-err));
	fflush(stdout);
	return NULL;
}

/*
 * The holder: keeps the sessions, and when init's kexec step sends
 * SIGUSR1 (blocked since before the fork), races again with one more
 * thread calling the kexec. Never returns: the kexec, or exit 1.
 */
static void race_holder(struct race_worker *w, uint64_t seed)
{
	uint64_t krng = fdbox_mix(seed ^ 0x6b65786563ULL);
	pthread_t kexec;
	sigset_t usr1;
	int tty, null;

	/* Out of the test's process group and output pipe, which end now. */
	setsid();
	null = open("/dev/null", O_RDWR);
	tty = open("/dev/ttyS1", O_WRONLY | O_NOCTTY);
	if (tty < 0)
		tty = null;
	dup2(null, 0);
	dup2(tty, 1);
	dup2(tty, 2);

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	while (sigwaitinfo(&usr1, NULL) < 0)
		if (errno != EINTR)
			_exit(1);
	race_msg("race_sessions: holder %d races again, and a thread kexecs", getpid());
	race.kexec_phase = true;
	race.j->kexec_phase = 1;
	if (race_start(w, seed, 2) || pthread_create(&kexec, NULL, race_kexec_thread, &krng)) {
		printf("not ok 1 race_sessions: cannot start the holder's threads\n");
		fflush(stdout);
		_exit(1);
	}
	pthread_join(kexec, NULL);
	race_stop(w);
	race_summary(race.j, "in the holder, no kexec");
	_exit(1);
}

THP_OFF_FIXTURE(race_sessions_stage1);

TEST_F_TIMEOUT(race_sessions_stage1, race_then_kexec, 300)
{
	struct fdbox_item_info items[RACE_MEMFDS + 1];
	struct race_worker w[RACE_THREADS];
	int present[RACE_MEMFDS], ids[RACE_MEMFDS + 1];
	uint64_t seed = stress_seed(), rng = seed;
	struct race_model *md;
	char name[16], why[128], args[48];
	int i, k, n, jfd, js, err;
	struct jrec *r;
	sigset_t usr1;
	void *jmap;
	pid_t pid;
	FILE *f;

	/* Before any session exists: fdbox-next forks a shell. */
	snprintf(args, sizeof(args), "fdbox.seed=%llu", (unsigned long long)seed);
	ASSERT_EQ(0, fdbox_next_load(args));

	/*
	 * The journal: every page written now, since once the kexec has
	 * finalized its session a store into a hole would get SIGBUS.
	 */
	jfd = fdbox_memfd(JOURNAL_NAME, MFD_CLOEXEC, J_BYTES, &jmap);
	ASSERT_LE(0, jfd);
	memset(jmap, 0, J_BYTES);
	race.j = jmap;
	race.recs = (struct jrec *)((char *)jmap + J_HDR_BYTES);
	race.j->magic = J_MAGIC;
	race.j->seed = seed;
	race.j->nr_memfds = RACE_MEMFDS;
	race.j->nr_slots = RACE_SLOTS;
	race.j->nr_regions = RACE_REGIONS;
	race.j->region_recs = J_RECS;

	for (i = 0; i < RACE_MEMFDS; i++) {
		struct race_memfd *m = &race.m[i];
		unsigned int pages = RACE_MIN_PAGES +
				     rnd_below(&rng, RACE_MAX_PAGES - RACE_MIN_PAGES + 1);
		size_t size = (size_t)pages * PAGE;
		void *map;

		race.j->pages[i] = pages;
		race_label(m->label, sizeof(m->label), i, pages);
		m->fd = fdbox_memfd(m->label, MFD_CLOEXEC, size, &map);
		ASSERT_LE(0, m->fd);
		fdbox_fill(map, 0, size, race_pattern(seed, i));
		munmap(map, size);
		m->hint_slot = -1;
		ASSERT_EQ(0, pthread_mutex_init(&m->lock, NULL));
	}
	js = fdbox_session(JOURNAL_NAME);
	ASSERT_LE(0, js);
	ASSERT_EQ(0, fdbox_deposit(js, jfd, "journal"));

	for (k = 0; k < RACE_SLOTS; k++) {
		struct race_slot *s = &race.slot[k];
		pthread_rwlockattr_t attr;

		/* glibc's rwlocks favour readers: the owner could wait forever. */
		ASSERT_EQ(0, pthread_rwlockattr_init(&attr));
		ASSERT_EQ(0, pthread_rwlockattr_setkind_np(&attr,
				PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP));
		ASSERT_EQ(0, pthread_rwlock_init(&s->lock, &attr));
		pthread_rwlockattr_destroy(&attr);
		race_slot_name(name, sizeof(name), k);
		r = j_begin(RACE_MAIN, OP_NAME, k, 0, 0);
		ASSERT_NE(NULL, r);
		s->fd = fdbox_session(name);
		j_end(r, s->fd < 0 ? s->fd : 0);
		ASSERT_LE(0, s->fd);
		s->named = true;
	}

	/* The warm-up: the race, without a kexec. */
	ksft_print_msg("warm-up: %d threads, %d sessions, %d memfds, %d ms\n",
		       RACE_THREADS, RACE_SLOTS, RACE_MEMFDS, RACE_WARMUP_MS);
	err = race_start(w, seed, 1);
	ASSERT_EQ(0, err) TH_LOG("pthread_create: %s", strerror(-err));
	sleep_ms(RACE_WARMUP_MS);
	race_stop(w);
	race_summary(race.j, "in the warm-up");
	ASSERT_EQ(0, race.j->unexpected) TH_LOG("calls answered against the rules");
	EXPECT_LT(0, race.j->counts[OP_DEPOSIT][RC_OK]);
	EXPECT_LT(0, race.j->counts[OP_WITHDRAW][RC_OK]);

	/* Every call has returned: the journal must say exactly what is where. */
	md = calloc(1, sizeof(*md));
	ASSERT_NE(NULL, md);
	ASSERT_EQ(0, race_replay(race.j, race.recs, md, false));
	EXPECT_EQ(0, md->pending);
	for (i = 0; i < RACE_MEMFDS; i++)
		present[i] = -1;
	for (k = 0; k < RACE_SLOTS; k++) {
		n = fdbox_list(race.slot[k].fd, FDBOX_LIST, items, RACE_MEMFDS + 1,
			       sizeof(items[0]));
		ASSERT_LE(0, n);
		ASSERT_EQ(0, race_check_items(race.j, items, n, false, ids, why, sizeof(why)))
			TH_LOG("race%d: %s", k, why);
		for (i = 0; i < n; i++) {
			EXPECT_EQ(-1, present[ids[i]])
				TH_LOG("%s in race%d and race%d", items[i].label,
				       present[ids[i]], k);
			present[ids[i]] = k;
		}
	}
	ASSERT_EQ(0, race_compare(_metadata, md, present, true));
	ksft_print_msg("journal: %u calls recorded, and they match the sessions\n", md->records);
	free(md);

	/*
	 * The kexec comes from a thread of a holder, while the race goes
	 * on there: init must first see this stage end (and scan for
	 * leaks), so the holder waits for init's kexec step, which is
	 * /run/fdbox-kexec, to send it SIGUSR1; that script fails the run
	 * if the holder gives up.
	 */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, &usr1, NULL));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		race_holder(w, seed);
	f = fopen(KEXEC_SCRIPT, "w");
	ASSERT_NE(NULL, f) TH_LOG("%s: %s", KEXEC_SCRIPT, strerror(errno));
	fprintf(f,
		"# race_sessions: holder %d races again, one of its threads kexecs.\n"
		"pid=%d\n"
		"kill -USR1 $pid || exit 1\n"
		"i=0\n"
		"while [ $i -lt 300 ] && [ -d /proc/$pid ] &&\n"
		"      ! grep -q zombie /proc/$pid/status 2>/dev/null; do\n"
		"\tsleep 1\n"
		"\ti=$((i + 1))\n"
		"done\n"
		"echo \"not ok 1 race_sessions: holder $pid did not kexec\"\n"
		"exit 1\n", pid, pid);
	ASSERT_EQ(0, fclose(f));
	ksft_print_msg("holder %d keeps the sessions; init's kexec step starts its race\n", pid);
}

/* ---- race_sessions, stage 2 ---- */

FDBOX_STAGE_FIXTURE(race_sessions_stage2);

TEST_F_TIMEOUT(race_sessions_stage2, carried_state_consistent, 300)
{
	struct fdbox_session_info sessions[RACE_SLOTS + 4];
	struct fdbox_item_info items[RACE_MEMFDS + 1];
	int present[RACE_MEMFDS], ids[RACE_MEMFDS + 1];
	bool listed[RACE_SLOTS + 1] = { false };
	unsigned long long bytes = 0;
	long preserved, restored, released;
	char name[16], want[32], why[128];
	int d, jd, jfd, n, i, k, s, m, nr_items = 0;
	struct race_model *md;
	struct jhdr *j;
	struct stat st;
	void *jmap;

	d = open(FDBOX_DESERIALIZE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, d);
	n = fdbox_list(d, FDBOX_LIST_SESSIONS, sessions, ARRAY_SIZE(sessions),
		       sizeof(sessions[0]));
	ASSERT_LE(0, n);
	ASSERT_GE(RACE_SLOTS + 1, n) TH_LOG("%d incoming sessions", n);
	for (i = 0; i < n; i++) {
		k = race_session_index(sessions[i].name);
		ASSERT_LE(0, k) TH_LOG("incoming session \"%.63s\" is none of ours",
				       sessions[i].name);
		ASSERT_FALSE(listed[k]) TH_LOG("session %s twice", sessions[i].name);
		listed[k] = true;
	}

	/* The journal first: it says what may have arrived where. */
	ASSERT_TRUE(listed[RACE_SLOTS]) TH_LOG("the journal did not arrive");
	jd = fdbox_attach(JOURNAL_NAME);
	ASSERT_LE(0, jd);
	jfd = fdbox_retrieve(jd, "journal", 0);
	ASSERT_LE(0, jfd);
	ASSERT_EQ(0, fstat(jfd, &st));
	ASSERT_EQ(J_BYTES, st.st_size);
	jmap = mmap(NULL, J_BYTES, PROT_READ, MAP_SHARED, jfd, 0);
	ASSERT_NE(MAP_FAILED, jmap);
	j = jmap;
	race.j = j;	/* race_check_items() reads the sizes there */
	ASSERT_EQ(J_MAGIC, j->magic);
	ASSERT_EQ(RACE_MEMFDS, j->nr_memfds);
	ASSERT_EQ(RACE_SLOTS, j->nr_slots);
	ASSERT_EQ(RACE_REGIONS, j->nr_regions);
	ASSERT_EQ(J_RECS, j->region_recs);
	ASSERT_EQ(0, fdbox_cmdline_get("fdbox.seed", want, sizeof(want)));
	snprintf(name, sizeof(name), "%llu", (unsigned long long)j->seed);
	EXPECT_STREQ(want, name) TH_LOG("the journal is not this run's");
	for (i = 0; i < RACE_MEMFDS; i++) {
		race_label(race.m[i].label, sizeof(race.m[i].label), i, j->pages[i]);
		ASSERT_LE(RACE_MIN_PAGES, j->pages[i]);
		ASSERT_GE(RACE_MAX_PAGES, j->pages[i]);
	}
	EXPECT_EQ(1, j->kexec_phase) TH_LOG("the kexec came before the holder raced");
	race_summary(j, "up to the kexec, warm-up included");
	ksft_print_msg("the kexec succeeded at attempt %u\n", j->kexec_attempts);
	EXPECT_EQ(0, j->unexpected) TH_LOG("calls answered against the rules before the kexec");

	md = calloc(1, sizeof(*md));
	ASSERT_NE(NULL, md);
	ASSERT_EQ(0, race_replay(j, (const struct jrec *)((char *)jmap + J_HDR_BYTES), md, true));
	ksft_print_msg("journal: %u calls, %u of them cut short by the kexec\n",
		       md->records, md->pending);

	/* A session open and named at the kexec is carried. */
	for (k = 0; k < RACE_SLOTS; k++) {
		EXPECT_TRUE(listed[k] || !md->ever_named[k] || md->closing[k])
			TH_LOG("race%d was open at the kexec and did not arrive", k);
	}

	for (i = 0; i < RACE_MEMFDS; i++)
		present[i] = -1;
	for (k = 0; k < RACE_SLOTS; k++) {
		if (!listed[k])
			continue;
		race_slot_name(name, sizeof(name), k);
		s = fdbox_attach(name);
		ASSERT_LE(0, s) TH_LOG("attach %s", name);
		n = fdbox_list(s, FDBOX_LIST, items, RACE_MEMFDS + 1, sizeof(items[0]));
		ASSERT_LE(0, n);
		ASSERT_EQ(0, race_check_items(j, items, n, true, ids, why, sizeof(why)))
			TH_LOG("%s: %s", name, why);
		for (i = 0; i < n; i++) {
			unsigned int id = ids[i];
			size_t size = (size_t)j->pages[id] * PAGE;

			EXPECT_EQ(-1, present[id])
				TH_LOG("%s in race%d and race%d", items[i].label, present[id], k);
			present[id] = k;
			/* Byte for byte what stage 1 wrote (the label is race.m[id]'s). */
			m = retrieve_checked(_metadata, s, race.m[id].label, size,
					     race_pattern(j->seed, id));
			EXPECT_LE(0, m) TH_LOG("retrieve %s from %s: %s", race.m[id].label, name,
					       strerror(-m));
			if (m >= 0)
				close(m);
			nr_items++;
			bytes += size;
		}
		close(s);
	}
	ksft_print_msg("arrived: %d race sessions, %d memfds, %llu KiB, all intact\n",
		       (int)listed[0] + listed[1] + listed[2] + listed[3], nr_items, bytes >> 10);
	EXPECT_EQ(0, race_compare(_metadata, md, present, false));
	free(md);

	munmap(jmap, J_BYTES);
	close(jfd);
	close(jd);

	/* Everything retrieved and closed: no session, no memory left with KHO. */
	EXPECT_EQ(0, fdbox_list(d, FDBOX_LIST_SESSIONS, sessions, ARRAY_SIZE(sessions),
				sizeof(sessions[0])));
	close(d);
	EXPECT_EQ(1, fdbox_stat(KHO_IN, "present"));
	preserved = fdbox_stat(KHO_IN, "preserved_bytes");
	restored = fdbox_stat(KHO_IN, "restored_bytes");
	released = fdbox_stat(KHO_IN, "released_bytes");
	EXPECT_EQ(preserved, restored + released)
		TH_LOG("KHO received %ld bytes, gave %ld back to files, released %ld",
		       preserved, restored, released);
	EXPECT_EQ(0, released) TH_LOG("%ld bytes could not be restored", released);
}

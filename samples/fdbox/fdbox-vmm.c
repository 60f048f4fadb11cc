// SPDX-License-Identifier: GPL-2.0
/*
 * fdbox-vmm: a sample VMM that keeps its guest's RAM across a kexec.
 *
 * Guest RAM is a memfd. A simulated guest (a thread) keeps changing it,
 * and keeps in RAM itself a checksum of all of RAM, so that the state
 * can be checked byte for byte at any instant. The VMM deposits the RAM
 * in an fdbox session and keeps the guest running until the kexec, which
 * stops it wherever it is. After the kexec, "fdbox-vmm --restore"
 * retrieves the RAM by label, checks it, and resumes the guest.
 *
 *   fdbox-vmm [--size MIB] [--session NAME] [--label LABEL]     start
 *   fdbox-vmm --restore [--session NAME] [--label LABEL] [--run SECONDS]
 *
 * Start prints "ready" once the RAM is deposited, then runs until killed
 * (or the kexec); SIGUSR1 finalizes the session ahead of the kexec.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/fdbox.h>

#define PAGE		4096UL
#define RAM_MAGIC	0x4644424f58564d4dULL	/* "FDBOXVMM" */
#define NO_PENDING	UINT64_MAX

/*
 * Page 0 of guest RAM. The guest changes one 8-byte word at a time and
 * journals it, so that a stop at any instant leaves a checkable state:
 * with no write pending, sum is the checksum of every word of pages 1..;
 * with one pending, pending_sum is the checksum before it, and the word
 * holds either its old or its new value.
 */
struct ram_header {
	uint64_t magic;
	uint64_t words;		/* words after the header page */
	uint64_t steps;		/* writes done */
	uint64_t sum;
	uint64_t pending;	/* index of the word being written, or NO_PENDING */
	uint64_t pending_old;
	uint64_t pending_new;
	uint64_t pending_sum;
	uint64_t pending_step;
};

struct vm {
	size_t size;
	void *ram;
	struct ram_header *hdr;
	uint64_t *words;
	atomic_bool stop;
};

static atomic_bool finalize_now;

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* What word i contributes to the checksum: depends on where it is. */
static uint64_t term(uint64_t i, uint64_t w)
{
	return mix(i ^ mix(w));
}

/* Make the compiler emit stores in program order; x86 keeps that order. */
#define ORDERED() atomic_signal_fence(memory_order_seq_cst)

static void *guest(void *arg)
{
	struct vm *vm = arg;
	struct ram_header *h = vm->hdr;

	while (!atomic_load(&vm->stop)) {
		uint64_t s = h->steps;
		uint64_t i = mix(s) % h->words;
		uint64_t old = vm->words[i], new = mix(s ^ old);

		h->pending_old = old;
		h->pending_new = new;
		h->pending_sum = h->sum;
		h->pending_step = s;
		ORDERED();
		h->pending = i;
		ORDERED();
		vm->words[i] = new;
		ORDERED();
		h->sum += term(i, new) - term(i, old);
		h->steps = s + 1;
		ORDERED();
		h->pending = NO_PENDING;
	}
	return NULL;
}

/* Check every word of RAM against the checksum; 0 if it holds. */
static int verify(struct vm *vm, uint64_t *steps)
{
	struct ram_header *h = vm->hdr;
	uint64_t i, sum = 0, want = h->sum;

	if (h->magic != RAM_MAGIC || h->words != (vm->size - PAGE) / 8) {
		fprintf(stderr, "fdbox-vmm: guest RAM has no valid header\n");
		return -1;
	}
	for (i = 0; i < h->words; i++)
		sum += term(i, vm->words[i]);
	/* Stopped mid-write: what the sum must be, old word or new. */
	if (h->pending != NO_PENDING) {
		want = h->pending_sum;
		if (h->pending < h->words && vm->words[h->pending] == h->pending_new)
			want += term(h->pending, h->pending_new) -
				term(h->pending, h->pending_old);
	}
	*steps = h->steps;
	if (sum != want) {
		fprintf(stderr, "fdbox-vmm: guest RAM fails its checksum after %llu steps (pending %lld)\n",
			(unsigned long long)h->steps, (long long)h->pending);
		return -1;
	}
	return 0;
}

/*
 * Before resuming a guest stopped mid-write: undo that write, so that
 * the guest does it again from a state with nothing pending.
 */
static void recover(struct vm *vm)
{
	struct ram_header *h = vm->hdr;

	if (h->pending == NO_PENDING)
		return;
	vm->words[h->pending] = h->pending_old;
	h->sum = h->pending_sum;
	h->steps = h->pending_step;
	h->pending = NO_PENDING;
}

static void map_ram(struct vm *vm, int fd)
{
	vm->ram = mmap(NULL, vm->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (vm->ram == MAP_FAILED) {
		perror("fdbox-vmm: mmap guest RAM");
		exit(1);
	}
	vm->hdr = vm->ram;
	vm->words = (uint64_t *)((char *)vm->ram + PAGE);
}

static void run_guest(struct vm *vm, pthread_t *t)
{
	atomic_store(&vm->stop, false);
	if (pthread_create(t, NULL, guest, vm)) {
		fprintf(stderr, "fdbox-vmm: cannot start the guest\n");
		exit(1);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int start(struct vm *vm, const char *session, const char *label)
{
	struct fdbox_set_name name = { .size = sizeof(name) };
	struct fdbox_deposit dep = { .size = sizeof(dep) };
	uint64_t i, steps;
	pthread_t t;
	double t0;
	int fd, s;

	/* 1. Guest RAM: a memfd, filled as a guest would, and a guest running. */
	fd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, vm->size) < 0) {
		perror("fdbox-vmm: guest RAM");
		return 1;
	}
	map_ram(vm, fd);
	vm->hdr->magic = RAM_MAGIC;
	vm->hdr->words = (vm->size - PAGE) / 8;
	vm->hdr->pending = NO_PENDING;
	for (i = 0; i < vm->hdr->words; i++) {
		vm->words[i] = mix(i);
		vm->hdr->sum += term(i, vm->words[i]);
	}
	run_guest(vm, &t);

	/* 2. A session named after this VM; the RAM goes in, the guest runs on. */
	s = open("/dev/kho/serialize", O_RDWR | O_CLOEXEC);
	if (s < 0) {
		perror("fdbox-vmm: /dev/kho/serialize");
		return 1;
	}
	snprintf(name.name, sizeof(name.name), "%s", session);
	if (ioctl(s, FDBOX_SET_NAME, &name) < 0) {
		perror("fdbox-vmm: FDBOX_SET_NAME");
		return 1;
	}
	dep.fd = fd;
	snprintf(dep.label, sizeof(dep.label), "%s", label);
	t0 = now();
	if (ioctl(s, FDBOX_DEPOSIT, &dep) < 0) {
		perror("fdbox-vmm: FDBOX_DEPOSIT");
		return 1;
	}
	printf("ready: %zu MiB of guest RAM in session %s as %s, deposit %.3f s\n",
	       vm->size >> 20, session, label, now() - t0);
	fflush(stdout);

	/*
	 * 3. Keep the guest running; the kexec stops it, and the kernel
	 * finalizes the session then if we have not (SIGUSR1 finalizes it
	 * now, to take that work out of the kexec). Killed instead, we
	 * verify and exit: closing the session gives everything back.
	 */
	while (!atomic_load(&vm->stop)) {
		pause();
		if (atomic_exchange(&finalize_now, false)) {
			t0 = now();
			if (ioctl(s, FDBOX_FINALIZE) < 0) {
				perror("fdbox-vmm: FDBOX_FINALIZE");
				return 1;
			}
			printf("finalized: %.3f s\n", now() - t0);
			fflush(stdout);
		}
	}
	pthread_join(t, NULL);
	return verify(vm, &steps) ? 1 : 0;
}

static int restore(struct vm *vm, const char *session, const char *label, int run)
{
	struct fdbox_attach att = { .size = sizeof(att) };
	struct fdbox_retrieve ret = { .size = sizeof(ret) };
	uint64_t before, after;
	struct stat st;
	pthread_t t;
	double t0, t1, t2;
	int d;

	/* 1. Attach to our session and take the RAM back, by label. */
	t0 = now();
	d = open("/dev/kho/deserialize", O_RDWR | O_CLOEXEC);
	if (d < 0) {
		perror("fdbox-vmm: /dev/kho/deserialize");
		return 1;
	}
	snprintf(att.name, sizeof(att.name), "%s", session);
	if (ioctl(d, FDBOX_ATTACH, &att) < 0) {
		perror("fdbox-vmm: FDBOX_ATTACH");
		return 1;
	}
	snprintf(ret.label, sizeof(ret.label), "%s", label);
	if (ioctl(d, FDBOX_RETRIEVE, &ret) < 0) {
		perror("fdbox-vmm: FDBOX_RETRIEVE");
		return 1;
	}
	/* Anything we did not retrieve is released when d is closed. */
	close(d);
	if (fstat(ret.fd, &st) < 0) {
		perror("fdbox-vmm: fstat");
		return 1;
	}
	vm->size = st.st_size;
	map_ram(vm, ret.fd);
	t1 = now();

	/* 2. The guest's state, byte for byte, as the kexec left it. */
	if (verify(vm, &before))
		return 1;
	t2 = now();
	printf("restored %zu MiB: retrieve %.3f s, verify %.3f s, guest at step %llu\n",
	       vm->size >> 20, t1 - t0, t2 - t1, (unsigned long long)before);

	/* 3. Resume the guest, then check it again. */
	recover(vm);
	run_guest(vm, &t);
	sleep(run);
	atomic_store(&vm->stop, true);
	pthread_join(t, NULL);
	if (verify(vm, &after))
		return 1;
	printf("guest resumed: %llu more steps in %d s, state consistent\n",
	       (unsigned long long)(after - before), run);
	return after > before ? 0 : 1;
}

static struct vm the_vm;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		atomic_store(&finalize_now, true);
	else
		atomic_store(&the_vm.stop, true);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "size",	required_argument,	NULL, 's' },
		{ "session",	required_argument,	NULL, 'n' },
		{ "label",	required_argument,	NULL, 'l' },
		{ "restore",	no_argument,		NULL, 'r' },
		{ "run",	required_argument,	NULL, 't' },
		{ 0 }
	};
	const char *session = "fdbox-vmm", *label = "guest-ram";
	int opt, run = 2;
	bool do_restore = false;

	the_vm.size = 512UL << 20;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0) {
		switch (opt) {
		case 's':
			the_vm.size = strtoul(optarg, NULL, 0) << 20;
			break;
		case 'n':
			session = optarg;
			break;
		case 'l':
			label = optarg;
			break;
		case 'r':
			do_restore = true;
			break;
		case 't':
			run = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [--size MIB] [--session NAME] [--label LABEL]\n"
				"       %s --restore [--session NAME] [--label LABEL] [--run SECONDS]\n",
				argv[0], argv[0]);
			return 2;
		}
	}
	if (the_vm.size < 2 * PAGE) {
		fprintf(stderr, "fdbox-vmm: --size must be at least 1 MiB\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);
	signal(SIGINT, on_signal);
	return do_restore ? restore(&the_vm, session, label, run) :
			    start(&the_vm, session, label);
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The bench's carriers: what takes a memfd across the kexec. fdbox_bench
 * links bench_fdbox.c; make bench PEER=luo builds luo_bench, the same
 * program with bench_luo.c, against the peer kernel's headers.
 */
#ifndef FDBOX_BENCH_H
#define FDBOX_BENCH_H

#include <stdbool.h>

struct step {
	int nr;
	char mode[16];		/* floor, copy, vmm[-*], or CARRIER[-*] */
	unsigned long mib;
	int rep;
	bool profile;		/* profile the phases instead of timing them */
};

/* The carrier's name, as plan modes spell it ("fdbox", "luo"). */
extern const char carrier_name[];
/* Can it carry a vfio device too (mode CARRIER-vfio)? */
extern const bool carrier_keeps_devices;

/* Before the kexec: hand @memfd to the carrier, timing each step. */
void carrier_out(const struct step *s, int memfd);
/* After it: the memfd back (an fd), timed as "retrieve". */
int carrier_in(const struct step *s);

/* The vmm modes: a running VM, timed by its own clock (bench_vmm.c). */
bool is_vmm(const struct step *s);
void vmm_start_step(const struct step *s);
void vmm_finish_step(const struct step *s);

void report(const struct step *s, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
double now(void);

/* ftrace's function profiler around one phase (bench_profile.c). */
void profile_start(void);
void profile_stop(const struct step *s, const char *phase);
void die(const char *what) __attribute__((noreturn));

#endif /* FDBOX_BENCH_H */

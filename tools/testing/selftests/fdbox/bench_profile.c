// SPDX-License-Identifier: GPL-2.0
/*
 * The bench's profiler: ftrace's function profiler around one phase of a
 * step (plan lines with "profile" after REP). Each function's hits and
 * time, children included, summed over CPUs, are reported as lines
 * "# profile: STEP MODE MIB PHASE RANK FUNCTION HITS MICROSECONDS".
 *
 * The profiler hooks every kernel function, so a profiled phase runs
 * several times slower than it does in a timed step: its numbers say
 * where the time goes, not how much there is. Profiled steps are not
 * timed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "bench.h"

#define TRACEFS		"/sys/kernel/tracing"
#define PROFILE_ON	TRACEFS "/function_profile_enabled"
#define TOP		40
#define MAX_FUNCS	4096

struct func {
	char name[64];
	unsigned long hits;
	double us;
};

static struct func funcs[MAX_FUNCS];
static int nr_funcs;

static void write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		die(path);
	close(fd);
}

void profile_start(void)
{
	struct stat st;

	if (stat(PROFILE_ON, &st) && mount("tracefs", TRACEFS, "tracefs", 0, NULL))
		die("mount " TRACEFS);
	/* Enabling the profiler clears what it counted before. */
	write_file(PROFILE_ON, "0");
	write_file(PROFILE_ON, "1");
}

/* Add one CPU's trace_stat file to funcs[]. */
static void add_cpu(FILE *f)
{
	char line[256], name[64], unit[8];
	unsigned long hits;
	double t;
	int i;

	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " %63s %lu %lf %7s", name, &hits, &t, unit) != 4)
			continue;	/* the header lines */
		if (!strcmp(unit, "ms"))
			t *= 1e3;
		else if (!strcmp(unit, "s"))
			t *= 1e6;
		for (i = 0; i < nr_funcs && strcmp(funcs[i].name, name); i++)
			;
		if (i == nr_funcs) {
			if (nr_funcs == MAX_FUNCS)
				continue;
			strcpy(funcs[nr_funcs++].name, name);
		}
		funcs[i].hits += hits;
		funcs[i].us += t;
	}
}

static int by_time(const void *a, const void *b)
{
	const struct func *fa = a, *fb = b;

	return fa->us < fb->us ? 1 : fa->us > fb->us ? -1 : 0;
}

void profile_stop(const struct step *s, const char *phase)
{
	char path[96];
	FILE *f;
	int cpu, i;

	write_file(PROFILE_ON, "0");
	nr_funcs = 0;
	memset(funcs, 0, sizeof(funcs));
	for (cpu = 0;; cpu++) {
		snprintf(path, sizeof(path), TRACEFS "/trace_stat/function%d", cpu);
		f = fopen(path, "r");
		if (!f)
			break;
		add_cpu(f);
		fclose(f);
	}
	if (!cpu)
		die(TRACEFS "/trace_stat");
	qsort(funcs, nr_funcs, sizeof(*funcs), by_time);
	for (i = 0; i < nr_funcs && i < TOP; i++)
		printf("# profile: %d %s %lu %s %d %s %lu %.0f\n", s->nr, s->mode,
		       s->mib, phase, i + 1, funcs[i].name, funcs[i].hits, funcs[i].us);
	fflush(stdout);
}

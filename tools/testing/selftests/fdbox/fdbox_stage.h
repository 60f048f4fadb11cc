/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Multi-stage kexec tests on the kselftest harness.
 *
 * A test binary is run once per stage of a VM run (vm-run.sh), with
 * "--stage N" (or FDBOX_STAGE=N in the environment). The tests of stage N
 * are the TEST_F()s of FIXTURE(stageN); the other stages' tests are
 * filtered out. A binary holding several scenarios names them: with
 * "--case NAME" the tests of stage N are those of FIXTURE(NAME_stageN),
 * and with "--case NAME --any-stage" those of FIXTURE(NAME), for chains
 * whose stages run the same tests (fdbox_stage tells which stage it is).
 * State for a later stage travels on the next kernel's command line
 * (fdbox_next_load()) or through the handover itself.
 */
#ifndef FDBOX_STAGE_H
#define FDBOX_STAGE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kselftest_harness.h"

static int fdbox_stage;

/* Empty fixtures for stage N: tests share nothing but the stage number. */
#define FDBOX_STAGE_FIXTURE(name)				\
	FIXTURE(name) {};					\
	FIXTURE_SETUP(name) {}					\
	FIXTURE_TEARDOWN(name) {}

/* Read a whole small text file into buf, without the trailing newline. */
static inline int fdbox_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (!fgets(buf, len, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* The value of "name=value" on the running kernel's command line. */
static inline int fdbox_cmdline_get(const char *name, char *buf, size_t len)
{
	char cmdline[4096], *tok, *save;
	size_t n = strlen(name);

	if (fdbox_read_line("/proc/cmdline", cmdline, sizeof(cmdline)))
		return -1;
	for (tok = strtok_r(cmdline, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		if (!strncmp(tok, name, n) && tok[n] == '=') {
			snprintf(buf, len, "%s", tok + n + 1);
			return 0;
		}
	}
	return -1;
}

/*
 * Load the next stage with kexec -s (the guest's fdbox-next), passing
 * extra "name=value" arguments to that stage's command line.
 */
static inline int fdbox_next_load(const char *extra_args)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "fdbox-next %s", extra_args ? extra_args : "");
	return system(cmd);
}

static bool fdbox_fixture_exists(const char *fixture)
{
	struct __fixture_metadata *f;

	for (f = __fixture_list; f; f = f->next)
		if (!strcmp(f->name, fixture) && f->tests)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	const char *stage = getenv("FDBOX_STAGE"), *name = NULL;
	char *args[argc + 3];
	char fixture[64];
	int i, n = 0, any = 0;

	args[n++] = argv[0];
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--stage") && i + 1 < argc)
			stage = argv[++i];
		else if (!strcmp(argv[i], "--case") && i + 1 < argc)
			name = argv[++i];
		else if (!strcmp(argv[i], "--any-stage"))
			any = 1;
		else
			args[n++] = argv[i];
	}
	if (!stage || atoi(stage) < 1) {
		fprintf(stderr, "%s: give --stage N (or FDBOX_STAGE=N)\n", argv[0]);
		return KSFT_FAIL;
	}
	fdbox_stage = atoi(stage);
	if (name && any)
		snprintf(fixture, sizeof(fixture), "%s", name);
	else
		snprintf(fixture, sizeof(fixture), "%s%sstage%s", name ?: "",
			 name ? "_" : "", stage);
	/* A case name with no such fixture would run nothing and pass. */
	if (name && !fdbox_fixture_exists(fixture)) {
		fprintf(stderr, "%s: no tests for --case %s at stage %d (fixture %s)\n",
			argv[0], name, fdbox_stage, fixture);
		return KSFT_FAIL;
	}
	/* Filters must come before other options for getopt(). */
	memmove(&args[3], &args[1], (n - 1) * sizeof(*args));
	args[1] = "-f";
	args[2] = fixture;
	n += 2;
	args[n] = NULL;
	return test_harness_run(n, args);
}

#endif /* FDBOX_STAGE_H */

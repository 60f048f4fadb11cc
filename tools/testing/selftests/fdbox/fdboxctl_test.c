// SPDX-License-Identifier: GPL-2.0
/*
 * fdboxctl_test: the operator CLI before and after a real kexec. Every
 * command's text and JSON output (checked to be valid JSON), and its exit
 * status on errors: 0 success, 1 failure, 2 bad usage.
 *
 * Stage 1 holds a session "ctl" with one memfd, and loads the next kernel
 * with "fdboxctl kexec"; init performs the kexec. Stage 2 looks at what
 * arrived, and discards it with fdboxctl.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <grp.h>
#include <sys/wait.h>

#include "fdbox_stage.h"
#include "fdbox_lib.h"

struct run {
	int status;		/* exit status, or -1 */
	char out[65536];	/* stdout and stderr */
};

/* Run a shell command line; its exit status and output. */
static void run(struct run *r, const char *fmt, ...)
{
	char cmd[1024];
	size_t n = 0;
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	p = popen(cmd, "r");
	r->out[0] = 0;
	if (!p) {
		r->status = -1;
		return;
	}
	while (n < sizeof(r->out) - 1 && fgets(r->out + n, sizeof(r->out) - n, p))
		n += strlen(r->out + n);
	st = pclose(p);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The exit status of a shell command run as uid and gid 1000. */
static int run_unprivileged(const char *cmd)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(1000) || setuid(1000))
			_exit(4);
		execl("/bin/sh", "sh", "-c", cmd, NULL);
		_exit(5);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- a strict JSON checker: one value, then only white space ---- */

static const char *json_value(const char *s);

static const char *json_ws(const char *s)
{
	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	return s;
}

static const char *json_string(const char *s)
{
	if (*s++ != '"')
		return NULL;
	while (*s && *s != '"') {
		if ((unsigned char)*s < 0x20)
			return NULL;
		if (*s == '\\') {
			s++;
			if (*s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!isxdigit((unsigned char)s[i]))
						return NULL;
				s += 4;
			} else if (!strchr("\"\\/bfnrt", *s) || !*s) {
				return NULL;
			}
		}
		s++;
	}
	return *s == '"' ? s + 1 : NULL;
}

static const char *json_number(const char *s)
{
	const char *start;

	if (*s == '-')
		s++;
	start = s;
	while (isdigit((unsigned char)*s))
		s++;
	if (s == start || (*start == '0' && s - start > 1))
		return NULL;
	if (*s == '.') {
		start = ++s;
		while (isdigit((unsigned char)*s))
			s++;
		if (s == start)
			return NULL;
	}
	return s;
}

static const char *json_list(const char *s, char close, bool object)
{
	s = json_ws(s + 1);
	if (*s == close)
		return s + 1;
	for (;;) {
		if (object) {
			s = json_string(json_ws(s));
			if (!s)
				return NULL;
			s = json_ws(s);
			if (*s++ != ':')
				return NULL;
		}
		s = json_value(s);
		if (!s)
			return NULL;
		s = json_ws(s);
		if (*s == close)
			return s + 1;
		if (*s++ != ',')
			return NULL;
	}
}

static const char *json_value(const char *s)
{
	s = json_ws(s);
	switch (*s) {
	case '{': return json_list(s, '}', true);
	case '[': return json_list(s, ']', false);
	case '"': return json_string(s);
	case 't': return strncmp(s, "true", 4) ? NULL : s + 4;
	case 'f': return strncmp(s, "false", 5) ? NULL : s + 5;
	case 'n': return strncmp(s, "null", 4) ? NULL : s + 4;
	default: return json_number(s);
	}
}

static bool json_valid(const char *s)
{
	s = json_value(s);
	return s && !*json_ws(s);
}

/* A 4 MiB memfd of the test pattern. */
static int pattern_memfd_for_ctl(void)
{
	void *map;
	int fd = fdbox_memfd("ctl", MFD_CLOEXEC, 4 << 20, &map);

	if (fd >= 0) {
		fdbox_fill(map, 0, 4 << 20, 1);
		munmap(map, 4 << 20);
	}
	return fd;
}

/* The JSON checker itself rejects what it must. */
FDBOX_STAGE_FIXTURE(fdboxctl_stage1);
FDBOX_STAGE_FIXTURE(fdboxctl_stage2);

TEST_F(fdboxctl_stage1, json_checker)
{
	EXPECT_TRUE(json_valid("{\"a\": [1, -2.5, true, null, \"x\\n\"], \"b\": {}}"));
	EXPECT_FALSE(json_valid("{\"a\": 1,}"));
	EXPECT_FALSE(json_valid("{\"a\" 1}"));
	EXPECT_FALSE(json_valid("[1] [2]"));
	EXPECT_FALSE(json_valid("\"tab\there\""));
	EXPECT_FALSE(json_valid("01"));
	EXPECT_FALSE(json_valid(""));
}

#define EXPECT_JSON(r) EXPECT_TRUE(json_valid((r)->out)) TH_LOG("not JSON: %s", (r)->out)
#define EXPECT_OUT(r, s) EXPECT_NE(NULL, strstr((r)->out, s)) \
	TH_LOG("no '%s' in: %s", s, (r)->out)

TEST_F(fdboxctl_stage1, errors)
{
	struct run r;

	run(&r, "fdboxctl bogus");
	EXPECT_EQ(2, r.status);
	EXPECT_OUT(&r, "unknown command 'bogus'");
	run(&r, "fdboxctl -j bogus");
	EXPECT_EQ(2, r.status);
	EXPECT_JSON(&r);
	EXPECT_OUT(&r, "\"error\"");
	run(&r, "fdboxctl kexec");
	EXPECT_EQ(2, r.status);
	EXPECT_OUT(&r, "--kernel");
	run(&r, "fdboxctl kexec --kernel /nonexistent");
	EXPECT_EQ(1, r.status);
	EXPECT_OUT(&r, "cannot open kernel /nonexistent");
	run(&r, "fdboxctl list out nosuch");
	EXPECT_EQ(1, r.status);
	EXPECT_OUT(&r, "no outgoing session named 'nosuch'");
	run(&r, "fdboxctl discard nosuch");
	EXPECT_EQ(1, r.status);
	EXPECT_OUT(&r, "no incoming session 'nosuch'");
	run(&r, "fdboxctl dump --in");
	EXPECT_EQ(1, r.status);
	EXPECT_OUT(&r, "no handover was received");
	run(&r, "fdboxctl dump --sideways");
	EXPECT_EQ(2, r.status);
	/* Not root: exit 1, and the cause is named. */
	EXPECT_EQ(1, run_unprivileged("fdboxctl list out 2>&1 | grep -q 'needs root'"
				       " && exit 1 || exit 3"));
}

TEST_F(fdboxctl_stage1, before_the_kexec)
{
	char args[512], cmd[1024];
	struct run r;
	int s, m;
	FILE *p;

	m = pattern_memfd_for_ctl();
	ASSERT_LE(0, m);
	s = fdbox_session("ctl");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, m, "ram"));

	run(&r, "fdboxctl status");
	EXPECT_EQ(0, r.status);
	EXPECT_OUT(&r, "KHO: active");
	EXPECT_OUT(&r, "handover received: no");
	EXPECT_OUT(&r, "ctl");
	run(&r, "fdboxctl -j status");
	EXPECT_EQ(0, r.status);
	EXPECT_JSON(&r);
	EXPECT_OUT(&r, "\"kho_active\":true");
	EXPECT_OUT(&r, "\"name\":\"ctl\"");
	run(&r, "fdboxctl -p list");
	EXPECT_EQ(0, r.status);
	EXPECT_JSON(&r);
	run(&r, "fdboxctl list ctl");
	EXPECT_EQ(0, r.status);
	EXPECT_OUT(&r, "ram");
	EXPECT_OUT(&r, "memfd");
	EXPECT_OUT(&r, "deposited");
	run(&r, "fdboxctl -j list out ctl");
	EXPECT_EQ(0, r.status);
	EXPECT_JSON(&r);
	EXPECT_OUT(&r, "\"size\":4194304");
	run(&r, "fdboxctl -j dump --out");
	EXPECT_EQ(0, r.status);
	EXPECT_JSON(&r);
	EXPECT_OUT(&r, "preserved-extents");

	/* Load the next stage with fdboxctl; init runs the kexec. */
	p = popen("fdbox-next --pack", "r");
	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, fgets(args, sizeof(args), p));
	pclose(p);
	args[strcspn(args, "\n")] = 0;
	snprintf(cmd, sizeof(cmd), "fdboxctl -j kexec --require-finalized "
		 "--kernel /boot/bzImage --initrd /run/fdbox-next.cpio --append '%s'",
		 args);
	/* Not finalized yet: --require-finalized refuses, naming it. */
	run(&r, "%s", cmd);
	EXPECT_EQ(1, r.status);
	EXPECT_JSON(&r);
	EXPECT_OUT(&r, "session 'ctl' is not finalized");
	ASSERT_EQ(0, ioctl(s, FDBOX_FINALIZE));
	run(&r, "%s", cmd);
	EXPECT_EQ(0, r.status);
	EXPECT_JSON(&r);
	EXPECT_OUT(&r, "\"finalized_sessions\":1");
	EXPECT_OUT(&r, "\"sessions\":1");
	EXPECT_OUT(&r, "\"items\":1");
	EXPECT_OUT(&r, "\"bytes\":4194304");
	ASSERT_GT(fdbox_hold_forever(), 0);
}

TEST_F(fdboxctl_stage2, after_the_kexec)
{
	struct run r;

	run(&r, "fdboxctl status");
	EXPECT_EQ(0, r.status);
	EXPECT_OUT(&r, "handover received: yes");
	run(&r, "fdboxctl -j status");
	EXPECT_JSON(&r);
	EXPECT_OUT(&r, "\"handover_received\":true");
	run(&r, "fdboxctl -j list ctl");
	EXPECT_EQ(0, r.status);
	EXPECT_JSON(&r);
	EXPECT_OUT(&r, "\"state\":\"incoming\"");
	run(&r, "fdboxctl dump");
	EXPECT_EQ(0, r.status);
	EXPECT_OUT(&r, "fdbox {");
	EXPECT_OUT(&r, "compatible: \"fdbox,memfd-v1\"");
	EXPECT_OUT(&r, "label: \"ram\"");
	run(&r, "fdboxctl -p dump --in");
	EXPECT_EQ(0, r.status);
	EXPECT_JSON(&r);
	EXPECT_OUT(&r, "\"memfd-name\": \"ctl\"");
	/* Runs in the FDT, or blocks of them: the folios decide. */
	EXPECT_TRUE(strstr(r.out, "\"memfd-runs\"") || strstr(r.out, "\"memfd-blocks\""));

	run(&r, "fdboxctl discard ctl nosuch");
	EXPECT_EQ(1, r.status);
	run(&r, "fdboxctl -j discard ctl ram");
	EXPECT_EQ(0, r.status);
	EXPECT_JSON(&r);
	EXPECT_EQ(4194304, fdbox_stat("/sys/kernel/debug/kho/in/stats", "released_bytes"));
	run(&r, "fdboxctl discard ctl");
	EXPECT_EQ(0, r.status);
	run(&r, "fdboxctl discard ctl");
	EXPECT_EQ(1, r.status);
	run(&r, "fdboxctl -j list in");
	EXPECT_EQ(0, r.status);
	EXPECT_JSON(&r);
	EXPECT_STREQ("[]\n", r.out);
}

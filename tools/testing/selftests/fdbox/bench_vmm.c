// SPDX-License-Identifier: GPL-2.0
/*
 * The bench's vmm modes: the live update of a running VM, the sample VMM
 * (samples/fdbox/fdbox-vmm) with MIB of guest RAM, as the VM's own clock
 * sees it.
 *
 *   vmm          guest RAM on 4 KiB pages
 *   vmm-thp      on transparent huge pages
 *   vmm-hugetlb  on 2 MiB hugetlb pages
 *
 * Before the kexec the VMM starts its guest (KVM when /dev/kvm works, else
 * a thread), which touches all its RAM once (after a guest of its own
 * touched a fresh memfd of the same size and kind), deposits the RAM and
 * finalizes the session ahead; the guest runs on until the kexec stops
 * it. After it, "fdbox-vmm --restore --blackout" resumes the guest at once
 * and prints the host TSC at the guest's last step before the kexec, at
 * its own start, with the RAM retrieved, with the VM rebuilt, and at the
 * guest's first stamp after it; the guest then touches all its RAM once
 * more. The VMM checks the RAM against the guest's checksum when it stops.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "bench.h"

#define VMM		"fdbox-vmm"
#define VMM_LOG		"/run/bench-vmm.log"
#define VMM_SESSION	"bench-vmm"

bool is_vmm(const struct step *s)
{
	return !strcmp(s->mode, "vmm") || !strcmp(s->mode, "vmm-thp") ||
	       !strcmp(s->mode, "vmm-hugetlb");
}

/* The log line starting with @prefix, into @line; 0 if there is none yet. */
static int log_line(const char *prefix, char *line, size_t len)
{
	FILE *f = fopen(VMM_LOG, "r");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, len, f))
		found = !strncmp(line, prefix, strlen(prefix));
	fclose(f);
	return found;
}

/* Print the VMM's log to stderr. */
static void show_log(void)
{
	FILE *f = fopen(VMM_LOG, "r");
	char line[256];

	while (f && fgets(line, sizeof(line), f))
		fputs(line, stderr);
	if (f)
		fclose(f);
}

/*
 * Wait up to @timeout seconds for the VMM's line starting with @prefix;
 * -1 if the VMM died or never said it.
 */
static int wait_line(pid_t vmm, const char *prefix, double timeout,
		     char *line, size_t len)
{
	double t0 = now();

	while (!log_line(prefix, line, len)) {
		if (waitpid(vmm, NULL, WNOHANG) == vmm || now() - t0 > timeout) {
			fprintf(stderr, "fdbox_bench: no '%s' from fdbox-vmm in %.0f s; its log:\n",
				prefix, now() - t0);
			show_log();
			return -1;
		}
		usleep(20000);
	}
	return 0;
}

/* Start the VMM; it outlives us, running until the kexec stops it. */
static pid_t spawn_vmm(const struct step *s)
{
	char size[24];
	const char *argv[] = {
		VMM, "--size", size, "--session", VMM_SESSION, "--label", "ram",
		"--touch", NULL, NULL,
	};
	pid_t vmm;
	int fd;

	snprintf(size, sizeof(size), "%lu", s->mib);
	if (!strcmp(s->mode, "vmm-hugetlb"))
		argv[8] = "--hugetlb=2M";
	unlink(VMM_LOG);
	vmm = fork();
	if (vmm < 0)
		die("fork");
	if (!vmm) {
		setsid();
		fd = open(VMM_LOG, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			_exit(127);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execvp(VMM, (char **)argv);
		_exit(127);
	}
	return vmm;
}

void vmm_start_step(const struct step *s)
{
	double deposit, finalize;
	char line[256];
	int attempt;
	pid_t vmm;

	/*
	 * The nested KVM guest (AMD SVM under QEMU TCG) has been seen to
	 * triple-fault at its very start, once in a few dozen starts: the
	 * start, not the update, is tried a second time, and counted.
	 */
	for (attempt = 0; ; attempt++) {
		vmm = spawn_vmm(s);
		/* The guest touches all its RAM first: minutes under TCG. */
		if (!wait_line(vmm, "ready", 900, line, sizeof(line)))
			break;
		if (attempt)
			exit(1);
		/* Dead already, or hung: either way gone before the retry. */
		kill(vmm, SIGKILL);
		waitpid(vmm, NULL, 0);
	}
	report(s, "vmm_start_retries", "%d", attempt);
	if (sscanf(strstr(line, "deposit ") ?: "", "deposit %lf", &deposit) != 1)
		die("fdbox-vmm's ready line");
	report(s, "guest", "%s", strstr(line, "KVM guest") ? "kvm" : "thread");
	report(s, "deposit_s", "%.6f", deposit);
	kill(vmm, SIGUSR1);
	/* Finalize takes well under a second; minutes mean it is stuck. */
	if (wait_line(vmm, "finalized", 120, line, sizeof(line)))
		exit(1);
	if (sscanf(line, "finalized: %lf", &finalize) != 1)
		die("fdbox-vmm's finalized line");
	report(s, "finalize_s", "%.6f", finalize);
}

void vmm_finish_step(const struct step *s)
{
	unsigned long long last, main, retrieved, rebuilt, entry, touched, touch_before;
	unsigned long long touch_fresh;
	char line[512];
	double retrieve;
	int status, ok = 0, guest_fault = 0;
	FILE *p;

	p = popen(VMM " --restore --session " VMM_SESSION " --label ram --run 1 --touch --blackout 2>&1",
		  "r");
	if (!p)
		die("popen " VMM);
	while (fgets(line, sizeof(line), p)) {
		fputs(line, stderr);
		if (strstr(line, "guest stopped unexpectedly"))
			guest_fault = 1;
		if (sscanf(line, "restored %*u MiB: retrieve %lf", &retrieve) == 1)
			report(s, "retrieve_s", "%.6f", retrieve);
		if (sscanf(line, "blackout: last %llu main %llu retrieved %llu rebuilt %llu entry %llu touched %llu touch_before %llu touch_fresh %llu",
			   &last, &main, &retrieved, &rebuilt, &entry, &touched,
			   &touch_before, &touch_fresh) == 8) {
			report(s, "guest_last_tsc", "%llu", last);
			report(s, "vmm_main_tsc", "%llu", main);
			report(s, "vmm_retrieved_tsc", "%llu", retrieved);
			report(s, "vmm_rebuilt_tsc", "%llu", rebuilt);
			report(s, "guest_entry_tsc", "%llu", entry);
			report(s, "touch_after_ticks", "%llu", touched - entry);
			report(s, "touch_before_ticks", "%llu", touch_before);
			report(s, "touch_fresh_ticks", "%llu", touch_fresh);
			ok = 1;
		}
	}
	status = pclose(p);
	report(s, "intact", "%d", ok && status == 0);
	if (ok && !status)
		return;
	fprintf(stderr, "fdbox_bench: step %d: fdbox-vmm --restore failed\n", s->nr);
	/*
	 * The nested KVM guest under TCG has been seen to triple-fault,
	 * once in a few dozen runs: such a step is reported, not fatal, so
	 * that it does not end a run of hundreds (the report lists it and
	 * keeps it out of its medians). Anything else, RAM found wrong
	 * first of all, ends the run.
	 */
	if (!guest_fault)
		exit(1);
}

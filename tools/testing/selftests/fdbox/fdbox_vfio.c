// SPDX-License-Identifier: GPL-2.0
/*
 * fdbox_vfio: vfio-pci devices kept running across kexec (no-IOMMU mode).
 * The VM runs with vfio.enable_unsafe_noiommu_mode=1 and QEMU's "edu"
 * device (a DMA engine) or an e1000e (whose registers a reset clears).
 *
 * roundtrip    (two stages) edu DMAs pattern A into a page of a memfd;
 *              memfd and device are deposited (the device depending on
 *              the memfd). A holder process starts one more DMA, with an
 *              interrupt at its end, and calls kexec at once, while the
 *              DMA runs. Stage 2 retrieves both: the in-flight DMA's bytes
 *              are in the preserved page and nothing else of the memfd
 *              changed, the pages are the same frames, the device keeps
 *              its registers and bus mastering, the interrupt raised in
 *              the blackout waits in the device and reaches userspace once
 *              it asks for it, and a new DMA works at once. The memory
 *              cannot be migrated to the other NUMA node (the VM has
 *              two) from its retrieve, before the device's, until the
 *              device's close; after that it can.
 * no_reset     (two stages) an e1000e behind a root port (so that a bus
 *              reset works): a mark in RDBAL survives from deposit to
 *              retrieve, and the kernel entered no PCI reset function on
 *              the way (ftrace, from the new kernel's boot); a reset
 *              clears the mark, before and after.
 * unclaimed    (two stages) an edu nobody retrieves: retrieve without
 *              CAP_SYS_RAWIO fails and leaves it; FINISH gives it back:
 *              bus mastering off, a log line, and the group path opens it.
 * bad_input    errnos of deposit: group and container fds, a device open
 *              twice, a second open before finalize; dependencies: unknown
 *              label, itself, too many, bad pointer, no flag, and a
 *              depended-on item cannot be withdrawn; a vfio device that is
 *              not PCI (the mtty sample's mediated device): ENODEV.
 * behind_iommu a VM with QEMU's intel-iommu: edu's group has an IOMMU, and
 *              its device is refused with EOPNOTSUPP (translation is for
 *              iommufd to carry). Nothing is kept, the device still works.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/mempolicy.h>
#include <linux/reboot.h>

#include "fdbox_stage.h"
#include "fdbox_lib.h"
#include "fdbox_vfio_lib.h"

#define PG		4096
#define TRACING		"/sys/kernel/debug/tracing"

/* QEMU's e1000e: the receive descriptor base, cleared by a reset. */
#define E1000E_VENDOR	0x8086
#define E1000E_DEVICE	0x10d3
#define E1000E_RDBAL	0x2800
#define RDBAL_MARK	0xfdb0c000u

#define LIVE		0x5a5a1234u
#define FACT_N		10
#define FACT_VAL	3628800u

#define SEED_A		0xa11ceULL
#define SEED_B		0xb0bULL
#define SEED_C		0xca9a7ULL	/* canary around the in-flight DMA */
#define SEED_D		0xd0d0ULL	/* canary of the stage-2 target */
#define STATUS_MAGIC	0xfdb0f11e5ULL

/* Pages of the memfd the device writes into. */
enum { P_A, P_DMA1, P_INFLIGHT, P_DMA2, P_STATUS, P_B, NR_PAGES };

/* Is there a kernel log line containing @needle? */
static bool kmsg_has(const char *needle)
{
	return fdbox_kmsg_last(needle, NULL, 0);
}

/* Calls of the PCI reset functions traced since the trace was cleared. */
static long reset_calls(void)
{
	char line[512];
	long n = 0;
	FILE *f = fopen(TRACING "/trace", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (line[0] != '#' && strstr(line, "reset"))
			n++;
	fclose(f);
	return n;
}

/*
 * Every function through which the PCI core resets a device: a function
 * reset of any method, a bus or slot reset, a secondary bus reset.
 */
#define RESET_FUNCS "__pci_reset_function_locked,pci_reset_bus,pci_bridge_secondary_bus_reset,pcie_flr"

static int trace_resets(void)
{
	char funcs[] = RESET_FUNCS, *f, *save;
	int err;

	err = write_str(TRACING "/tracing_on", "0");
	err = err ?: write_str(TRACING "/current_tracer", "nop");
	err = err ?: write_str(TRACING "/set_ftrace_filter", "");
	for (f = strtok_r(funcs, ",", &save); !err && f; f = strtok_r(NULL, ",", &save)) {
		char path[] = TRACING "/set_ftrace_filter";
		int fd = open(path, O_WRONLY | O_APPEND);

		if (fd < 0)
			return -errno;
		err = write(fd, f, strlen(f)) < 0 ? -errno : 0;
		close(fd);
	}
	err = err ?: write_str(TRACING "/current_tracer", "function");
	err = err ?: write_str(TRACING "/trace", "");
	return err ?: write_str(TRACING "/tracing_on", "1");
}

/*
 * Ask for INTx through an eventfd: 1 if an interrupt arrives within 2 s
 * (then acknowledged in edu), 0 if not, -errno. INTx off again after.
 */
static int intx_delivered(struct vdev *v)
{
	char buf[sizeof(struct vfio_irq_set) + sizeof(int)];
	struct vfio_irq_set *irq = (void *)buf;
	struct pollfd pfd;
	uint64_t val;
	int efd, got;

	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return -errno;
	*irq = (struct vfio_irq_set) {
		.argsz = sizeof(buf), .index = VFIO_PCI_INTX_IRQ_INDEX, .count = 1,
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
	};
	memcpy(irq->data, &efd, sizeof(efd));
	if (ioctl(v->fd, VFIO_DEVICE_SET_IRQS, irq)) {
		got = -errno;
		close(efd);
		return got;
	}
	pfd = (struct pollfd){ .fd = efd, .events = POLLIN };
	got = poll(&pfd, 1, 2000) == 1 && read(efd, &val, 8) == 8;
	if (!got)
		fprintf(stderr, "# no interrupt: command %04x status %04x edu irq status %x\n",
			cfg_read16(v, PCI_COMMAND), cfg_read16(v, PCI_STATUS),
			r32(v, EDU_IRQ_STATUS));
	w32(v, EDU_IRQ_ACK, r32(v, EDU_IRQ_STATUS));
	irq->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	irq->count = 0;
	irq->argsz = sizeof(*irq);
	ioctl(v->fd, VFIO_DEVICE_SET_IRQS, irq);
	close(efd);
	return got;
}

/* What the holder writes into P_STATUS just before it calls kexec. */
struct holder_status {
	uint64_t magic;
	uint64_t cmd_at_kexec;	/* edu's DMA command register: still running? */
	int64_t kexec_errno;	/* if reboot() came back */
};

/* ---- roundtrip ---- */

/* The NUMA node of the page at @p, or -errno. */
static int node_of(void *p)
{
	int status = -1;

	if (syscall(SYS_move_pages, 0, 1, &p, NULL, &status, 0))
		return -errno;
	return status;
}

/* Ask the kernel to migrate the page at @p to @node; where it is then. */
static int migrate_to(void *p, int node)
{
	int status = -1;

	syscall(SYS_move_pages, 0, 1, &p, &node, &status, MPOL_MF_MOVE);
	return node_of(p);
}

FDBOX_STAGE_FIXTURE(roundtrip_stage1);
FDBOX_STAGE_FIXTURE(roundtrip_stage2);

/*
 * The holder: keeps the session, the memfd and the device open, and on
 * SIGUSR1 starts a DMA of pattern B into P_INFLIGHT and calls kexec
 * while it runs.
 */
static pid_t start_holder(struct vdev *v, uint8_t *mem, const uint64_t *phys)
{
	struct holder_status *st = (void *)(mem + P_STATUS * PG);
	sigset_t set;
	pid_t pid;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	pid = fork();
	if (pid)
		return pid;
	/* Detached from the stage's output, which must reach its end. */
	setsid();
	sig = open("/dev/null", O_RDWR);
	dup2(sig, 0);
	dup2(sig, 1);
	dup2(sig, 2);
	sigwait(&set, &sig);
	if (edu_load(v, phys[P_B]))
		_exit(1);
	st->magic = STATUS_MAGIC;
	edu_dma_start(v, EDU_BUF, phys[P_INFLIGHT], EDU_DMA_TO_RAM | EDU_DMA_IRQ);
	st->cmd_at_kexec = *(volatile uint64_t *)(v->bar0 + EDU_DMA_CMD);
	syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
		LINUX_REBOOT_CMD_KEXEC, NULL);
	st->kexec_errno = errno;
	_exit(2);
}

TEST_F(roundtrip_stage1, deposit_and_kexec_during_dma)
{
	uint64_t phys[NR_PAGES];
	struct vdev v;
	char args[128], run[64];
	uint8_t *mem;
	int s, m, i;
	pid_t holder;
	FILE *f;

	ASSERT_EQ(0, setup_device(&v, EDU_VENDOR, EDU_DEVICE));
	EXPECT_EQ(0x010000ed, r32(&v, EDU_ID));
	w32(&v, EDU_LIVENESS, LIVE);
	EXPECT_EQ(~LIVE, r32(&v, EDU_LIVENESS));
	w32(&v, EDU_FACTORIAL, FACT_N);
	ASSERT_EQ(0, edu_wait(&v, EDU_STATUS, 1));
	EXPECT_EQ(FACT_VAL, r32(&v, EDU_FACTORIAL));
	ASSERT_EQ(0, cfg_write16(&v, PCI_COMMAND, cfg_read16(&v, PCI_COMMAND) |
				 PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY));

	m = fdbox_memfd("guest-ram", MFD_CLOEXEC, NR_PAGES * PG, (void **)&mem);
	ASSERT_LE(0, m);
	fdbox_fill(mem + P_A * PG, 0, PG, SEED_A);
	fdbox_fill(mem + P_DMA1 * PG, 0, PG, SEED_C);
	fdbox_fill(mem + P_INFLIGHT * PG, 0, PG, SEED_C);
	fdbox_fill(mem + P_DMA2 * PG, 0, PG, SEED_D);
	memset(mem + P_STATUS * PG, 0, PG);
	fdbox_fill(mem + P_B * PG, 0, PG, SEED_B);

	s = fdbox_session("vfio");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, m, "mem"));
	/* Deposited memory stays where it is: DMA to these addresses. */
	for (i = 0; i < NR_PAGES; i++) {
		phys[i] = phys_of(mem + i * PG);
		ASSERT_NE(0, phys[i]);
		ASSERT_GT(1ULL << 32, phys[i]);
	}
	ASSERT_EQ(0, edu_load(&v, phys[P_A]));
	/* A DMA with its interrupt at the end, as before any kexec. */
	edu_dma_start(&v, EDU_BUF, phys[P_DMA1], EDU_DMA_TO_RAM | EDU_DMA_IRQ);
	ASSERT_EQ(0, edu_wait(&v, EDU_DMA_CMD, EDU_DMA_RUN));
	ASSERT_EQ(-1, fdbox_check(mem + P_DMA1 * PG, 0, EDU_LEN, SEED_A));
	EXPECT_EQ(1, intx_delivered(&v));
	ASSERT_EQ(0, deposit_depending(s, v.fd, "dev", "mem"));
	EXPECT_TRUE(kmsg_has("deposited: kept running across the next kexec"));

	snprintf(args, sizeof(args), "fdbox_vfio.phys=%llx",
		 (unsigned long long)phys[P_A]);
	ASSERT_EQ(0, fdbox_next_load(args));
	holder = start_holder(&v, mem, phys);
	ASSERT_LT(0, holder);
	/* The stage ends; init then sends the signal that starts the kexec. */
	f = fopen("/run/fdbox-kexec", "w");
	ASSERT_NE(NULL, f);
	snprintf(run, sizeof(run), "kill -USR1 %d\nsleep 30\n", holder);
	fputs(run, f);
	fclose(f);
	close_vdev(&v);
	close(m);
	close(s);
}

TEST_F(roundtrip_stage2, device_running_and_data_landed)
{
	const struct holder_status *st;
	struct vdev v = { .container = -1, .group = -1, .fd = -1 };
	char expect[32];
	uint64_t phys;
	uint8_t *mem;
	int d, m, node;

	ASSERT_EQ(0, find_pci(EDU_VENDOR, EDU_DEVICE, v.bdf, sizeof(v.bdf)));
	EXPECT_TRUE(kmsg_has("kept running by the previous kernel: for vfio-pci, not reset"));
	/* Bus mastering stayed on from the old kernel until now. */
	EXPECT_TRUE(sysfs_command(v.bdf) & PCI_COMMAND_MASTER);

	d = fdbox_attach("vfio");
	ASSERT_LE(0, d);
	/*
	 * The memory first, while the device DMAs into it: a memfd others
	 * depend on keeps its pages in place until the finish.
	 */
	m = fdbox_retrieve(d, "mem", 0);
	ASSERT_LE(0, m) TH_LOG("retrieve mem: %s", strerror(-m));
	mem = mmap(NULL, NR_PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_EQ(0, fdbox_cmdline_get("fdbox_vfio.phys", expect, sizeof(expect)));
	EXPECT_EQ(strtoull(expect, NULL, 16), phys_of(mem)) TH_LOG("not the same frames");
	node = node_of(mem);
	ASSERT_LE(0, node) TH_LOG("move_pages: %s", strerror(-node));
	EXPECT_EQ(node, migrate_to(mem, !node)) TH_LOG("migrated before the device's retrieve");
	EXPECT_EQ(strtoull(expect, NULL, 16), phys_of(mem));

	v.fd = fdbox_retrieve(d, "dev", 0);
	ASSERT_LE(0, v.fd) TH_LOG("retrieve dev: %s", strerror(-v.fd));
	ASSERT_EQ(0, fdbox_finish(d));
	EXPECT_TRUE(kmsg_has("retrieved: running since the previous kernel, not reset"));

	/* The DMA started just before the kexec landed, and only there. */
	st = (void *)(mem + P_STATUS * PG);
	EXPECT_EQ(STATUS_MAGIC, st->magic);
	EXPECT_TRUE(st->cmd_at_kexec & EDU_DMA_RUN) TH_LOG("the DMA was over before the kexec");
	EXPECT_EQ(0, st->kexec_errno);
	EXPECT_EQ(-1, fdbox_check(mem + P_INFLIGHT * PG, 0, EDU_LEN, SEED_B));
	EXPECT_EQ(-1, fdbox_check(mem + P_INFLIGHT * PG, EDU_LEN, PG - EDU_LEN, SEED_C));
	EXPECT_EQ(-1, fdbox_check(mem + P_A * PG, 0, PG, SEED_A));
	EXPECT_EQ(-1, fdbox_check(mem + P_DMA1 * PG, 0, EDU_LEN, SEED_A));
	EXPECT_EQ(-1, fdbox_check(mem + P_DMA1 * PG, EDU_LEN, PG - EDU_LEN, SEED_C));
	EXPECT_EQ(-1, fdbox_check(mem + P_DMA2 * PG, 0, PG, SEED_D));
	EXPECT_EQ(-1, fdbox_check(mem + P_B * PG, 0, PG, SEED_B));

	/* The device file works at once, and the device kept its state. */
	ASSERT_EQ(0, map_device(&v));
	EXPECT_EQ(0x010000ed, r32(&v, EDU_ID));
	EXPECT_EQ(~LIVE, r32(&v, EDU_LIVENESS));
	EXPECT_EQ(FACT_VAL, r32(&v, EDU_FACTORIAL));
	EXPECT_TRUE(cfg_read16(&v, PCI_COMMAND) & PCI_COMMAND_MASTER);

	/*
	 * The interrupt raised at the end of the in-flight DMA: still
	 * pending in the device, delivered once userspace asks for INTx.
	 */
	EXPECT_TRUE(r32(&v, EDU_IRQ_STATUS) & EDU_IRQ_DMA);
	EXPECT_EQ(1, intx_delivered(&v)) TH_LOG("the blackout's interrupt was not delivered");
	EXPECT_EQ(0, r32(&v, EDU_IRQ_STATUS) & EDU_IRQ_DMA);

	/* A new DMA, with nothing set up but the retrieved files. */
	ASSERT_EQ(0, edu_load(&v, phys_of(mem + P_A * PG)));
	ASSERT_EQ(0, edu_store(&v, phys_of(mem + P_DMA2 * PG)));
	EXPECT_EQ(-1, fdbox_check(mem + P_DMA2 * PG, 0, EDU_LEN, SEED_A));
	EXPECT_EQ(-1, fdbox_check(mem + P_DMA2 * PG, EDU_LEN, PG - EDU_LEN, SEED_D));

	/* Finished, the device's own hold keeps its memory put. */
	node = node_of(mem + P_DMA2 * PG);
	ASSERT_LE(0, node) TH_LOG("move_pages: %s", strerror(-node));
	phys = phys_of(mem + P_DMA2 * PG);
	EXPECT_EQ(node, migrate_to(mem + P_DMA2 * PG, !node))
		TH_LOG("a page the device DMAs into was migrated");
	EXPECT_EQ(phys, phys_of(mem + P_DMA2 * PG));

	close_vdev(&v);
	EXPECT_TRUE(kmsg_has("closed: released"));
	/* Quiet now, the device no longer holds the memory. */
	EXPECT_EQ(!node, migrate_to(mem + P_DMA2 * PG, !node))
		TH_LOG("still held after the device's close");
	EXPECT_EQ(-1, fdbox_check(mem + P_DMA2 * PG, 0, EDU_LEN, SEED_A));

	munmap(mem, NR_PAGES * PG);
	close(m);
	close(d);
}

/* ---- no_reset ---- */

FDBOX_STAGE_FIXTURE(no_reset_stage1);
FDBOX_STAGE_FIXTURE(no_reset_stage2);

TEST_F(no_reset_stage1, deposit_marked)
{
	char path[PATH_MAX], methods[128];
	struct vdev v;
	int s;

	ASSERT_EQ(0, setup_device(&v, E1000E_VENDOR, E1000E_DEVICE));
	snprintf(path, sizeof(path), PCI_DEVS "/%s/reset_method", v.bdf);
	ASSERT_EQ(0, fdbox_read_line(path, methods, sizeof(methods)));
	TH_LOG("%s reset methods: %s", v.bdf, methods);
	/* QEMU's e1000e keeps its registers over a PM reset: use the bus. */
	ASSERT_EQ(0, write_str(path, "bus"));

	/* The mark is a register that a reset clears, and resets are seen. */
	ASSERT_EQ(0, trace_resets());
	w32(&v, E1000E_RDBAL, RDBAL_MARK);
	ASSERT_EQ(RDBAL_MARK, r32(&v, E1000E_RDBAL));
	ASSERT_EQ(0, ioctl(v.fd, VFIO_DEVICE_RESET));
	EXPECT_EQ(0, r32(&v, E1000E_RDBAL)) TH_LOG("a reset does not clear the mark");
	EXPECT_LT(0, reset_calls()) TH_LOG("the trace did not see a reset");

	w32(&v, E1000E_RDBAL, RDBAL_MARK);
	ASSERT_EQ(0, cfg_write16(&v, PCI_COMMAND, cfg_read16(&v, PCI_COMMAND) |
				 PCI_COMMAND_MASTER));
	s = fdbox_session("nic");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, write_str(TRACING "/trace", ""));
	ASSERT_EQ(0, fdbox_deposit(s, v.fd, "nic"));
	ASSERT_EQ(0, fdbox_ioctl(s, FDBOX_FINALIZE, NULL));
	EXPECT_EQ(0, reset_calls());
	EXPECT_EQ(RDBAL_MARK, r32(&v, E1000E_RDBAL));
	ASSERT_LT(0, fdbox_hold_forever());
	/* The next kernel traces the reset functions from its boot. */
	ASSERT_EQ(0, fdbox_next_load("ftrace=function ftrace_filter=" RESET_FUNCS));
	close_vdev(&v);
	close(s);
}

TEST_F(no_reset_stage2, mark_kept)
{
	struct vdev v = { .container = -1, .group = -1, .fd = -1 };
	char path[PATH_MAX], methods[128];
	int d;

	ASSERT_EQ(0, find_pci(E1000E_VENDOR, E1000E_DEVICE, v.bdf, sizeof(v.bdf)));
	snprintf(path, sizeof(path), PCI_DEVS "/%s/reset_method", v.bdf);
	ASSERT_EQ(0, fdbox_read_line(path, methods, sizeof(methods)));
	TH_LOG("%s reset methods: %s", v.bdf, methods);
	d = fdbox_attach("nic");
	ASSERT_LE(0, d);
	v.fd = fdbox_retrieve(d, "nic", 0);
	ASSERT_LE(0, v.fd) TH_LOG("retrieve: %s", strerror(-v.fd));
	ASSERT_EQ(0, fdbox_finish(d));
	/* From this kernel's boot to the retrieve: no reset entered at all. */
	EXPECT_EQ(0, reset_calls());
	ASSERT_EQ(0, map_device(&v));
	EXPECT_EQ(RDBAL_MARK, r32(&v, E1000E_RDBAL)) TH_LOG("the device was reset");
	EXPECT_TRUE(cfg_read16(&v, PCI_COMMAND) & PCI_COMMAND_MASTER);

	/* The trace and the mark see a reset. */
	ASSERT_EQ(0, write_str(path, "bus"));
	ASSERT_EQ(0, ioctl(v.fd, VFIO_DEVICE_RESET));
	EXPECT_LT(0, reset_calls());
	EXPECT_EQ(0, r32(&v, E1000E_RDBAL));
	close_vdev(&v);
	close(d);
}

/* ---- unclaimed ---- */

FDBOX_STAGE_FIXTURE(unclaimed_stage1);
FDBOX_STAGE_FIXTURE(unclaimed_stage2);

TEST_F(unclaimed_stage1, deposit)
{
	struct vdev v;
	int s;

	ASSERT_EQ(0, setup_device(&v, EDU_VENDOR, EDU_DEVICE));
	w32(&v, EDU_LIVENESS, LIVE);
	ASSERT_EQ(0, cfg_write16(&v, PCI_COMMAND, cfg_read16(&v, PCI_COMMAND) |
				 PCI_COMMAND_MASTER));
	s = fdbox_session("left");
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fdbox_deposit(s, v.fd, "dev"));
	ASSERT_LT(0, fdbox_hold_forever());
	ASSERT_EQ(0, fdbox_next_load(NULL));
	close_vdev(&v);
	close(s);
}

/* In a child without CAP_SYS_RAWIO: the errno of retrieving @label. */
static int retrieve_without_rawio(const char *session, const char *label)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	int status, d, fd;
	pid_t pid = fork();

	if (pid == 0) {
		if (syscall(SYS_capget, &hdr, data))
			_exit(100);
		data[CAP_SYS_RAWIO / 32].effective &= ~(1u << (CAP_SYS_RAWIO % 32));
		if (syscall(SYS_capset, &hdr, data))
			_exit(101);
		d = fdbox_attach(session);
		if (d < 0)
			_exit(102);
		fd = fdbox_retrieve(d, label, 0);
		_exit(fd >= 0 ? 0 : -fd);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

TEST_F(unclaimed_stage2, released)
{
	struct fdbox_item_info items[2];
	struct vdev v = { .container = -1, .group = -1, .fd = -1 };
	int d, n, fd;

	ASSERT_EQ(0, find_pci(EDU_VENDOR, EDU_DEVICE, v.bdf, sizeof(v.bdf)));
	EXPECT_TRUE(sysfs_command(v.bdf) & PCI_COMMAND_MASTER);
	EXPECT_EQ(EPERM, retrieve_without_rawio("left", "dev"));

	d = fdbox_attach("left");
	ASSERT_LE(0, d);
	n = fdbox_list(d, FDBOX_LIST, items, 2, sizeof(items[0]));
	ASSERT_EQ(1, n);
	EXPECT_EQ(FDBOX_STATE_INCOMING, items[0].state);
	EXPECT_STREQ("fdbox,vfio-pci-v1", items[0].compatible);
	EXPECT_TRUE(sysfs_command(v.bdf) & PCI_COMMAND_MASTER);
	ASSERT_EQ(0, fdbox_finish(d));
	close(d);

	/* Given back: quiet, logged, and an ordinary vfio-pci device again. */
	EXPECT_FALSE(sysfs_command(v.bdf) & PCI_COMMAND_MASTER);
	EXPECT_TRUE(kmsg_has("carried, discarded: bus mastering off"));
	ASSERT_EQ(0, open_group(&v));
	fd = open_device(&v);
	EXPECT_LE(0, fd);
	v.fd = fd;
	close_vdev(&v);
}

/* ---- bad_input ---- */

FDBOX_STAGE_FIXTURE(bad_input_stage1);

TEST_F(bad_input_stage1, errnos)
{
	char deps[17][FDBOX_NAME_MAX] = { { 0 } };
	struct fdbox_deposit arg;
	struct vdev v;
	int s, m, m2, second, i;

	ASSERT_EQ(0, setup_device(&v, EDU_VENDOR, EDU_DEVICE));
	s = fdbox_session("bad");
	ASSERT_LE(0, s);

	/* Not a device file; the device open twice. */
	EXPECT_EQ(-EINVAL, fdbox_deposit(s, v.group, "group"));
	EXPECT_EQ(-EOPNOTSUPP, fdbox_deposit(s, v.container, "container"));
	second = open_device(&v);
	ASSERT_LE(0, second);
	EXPECT_EQ(-EBUSY, fdbox_deposit(s, v.fd, "dev"));
	EXPECT_EQ(-EBUSY, fdbox_deposit(s, second, "dev"));
	close(second);
	ASSERT_EQ(0, fdbox_deposit(s, v.fd, "dev"));
	EXPECT_EQ(-EBUSY, fdbox_deposit(s, v.fd, "again"));

	/* Opened again after the deposit: finalize refuses, then agrees. */
	second = open_device(&v);
	ASSERT_LE(0, second);
	EXPECT_EQ(-EBUSY, fdbox_ioctl(s, FDBOX_FINALIZE, NULL));
	close(second);
	EXPECT_EQ(0, fdbox_ioctl(s, FDBOX_FINALIZE, NULL));
	EXPECT_EQ(0, fdbox_ioctl(s, FDBOX_UNFINALIZE, NULL));

	/* Dependencies. */
	m = fdbox_memfd("ram", MFD_CLOEXEC, PG, NULL);
	m2 = fdbox_memfd("ram2", MFD_CLOEXEC, PG, NULL);
	ASSERT_LE(0, m);
	ASSERT_LE(0, m2);
	EXPECT_EQ(-ENOLINK, deposit_depending(s, m, "m", "nowhere"));
	EXPECT_EQ(-ENOLINK, deposit_depending(s, m, "m", "m"));
	ASSERT_EQ(0, deposit_depending(s, m, "m", "dev"));

	memset(&arg, 0, sizeof(arg));
	arg.size = sizeof(arg);
	arg.fd = m2;
	strcpy(arg.label, "m2");
	for (i = 0; i < 17; i++)
		strcpy(deps[i], "m");
	arg.depends = (uintptr_t)deps;
	arg.nr_depends = 1;
	EXPECT_EQ(-EINVAL, fdbox_ioctl(s, FDBOX_DEPOSIT, &arg)) TH_LOG("no flag");
	arg.flags = FDBOX_DEPOSIT_DEPENDS;
	arg.nr_depends = 0;
	EXPECT_EQ(-EINVAL, fdbox_ioctl(s, FDBOX_DEPOSIT, &arg));
	arg.nr_depends = 17;
	EXPECT_EQ(-E2BIG, fdbox_ioctl(s, FDBOX_DEPOSIT, &arg));
	arg.nr_depends = 2;
	arg.depends = 8;
	EXPECT_EQ(-EFAULT, fdbox_ioctl(s, FDBOX_DEPOSIT, &arg));
	arg.depends = (uintptr_t)deps;
	arg.reserved2 = 1;
	EXPECT_EQ(-EINVAL, fdbox_ioctl(s, FDBOX_DEPOSIT, &arg));
	arg.reserved2 = 0;
	deps[1][0] = '\0';
	EXPECT_EQ(-EINVAL, fdbox_ioctl(s, FDBOX_DEPOSIT, &arg)) TH_LOG("empty label");
	strcpy(deps[1], "dev");
	/* 16 links, duplicates among them, are fine. */
	for (i = 2; i < 16; i++)
		strcpy(deps[i], "m");
	arg.nr_depends = 16;
	EXPECT_EQ(0, fdbox_ioctl(s, FDBOX_DEPOSIT, &arg));

	/* What others depend on stays until they go. */
	EXPECT_EQ(-EBUSY, fdbox_label_op(s, FDBOX_WITHDRAW, "dev"));
	EXPECT_EQ(-EBUSY, fdbox_label_op(s, FDBOX_WITHDRAW, "m"));
	EXPECT_EQ(0, fdbox_label_op(s, FDBOX_WITHDRAW, "m2"));
	EXPECT_EQ(0, fdbox_label_op(s, FDBOX_WITHDRAW, "m"));
	EXPECT_EQ(0, fdbox_label_op(s, FDBOX_WITHDRAW, "dev"));
	EXPECT_TRUE(kmsg_has("withdrawn: no longer kept across kexec"));

	/* Closing the session gives up the device: it deposits again. */
	ASSERT_EQ(0, fdbox_deposit(s, v.fd, "dev"));
	close(s);
	s = fdbox_session("bad2");
	ASSERT_LE(0, s);
	EXPECT_EQ(0, fdbox_deposit(s, v.fd, "dev"));
	close(s);
	close(m);
	close(m2);
	close_vdev(&v);
}

/*
 * A vfio device that is not PCI: the mtty sample's mediated device (an
 * emulated serial card behind an emulated IOMMU group).
 */
#define MTTY_TYPE	"/sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1"
#define MTTY_UUID	"83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
#define MDEV_DEVS	"/sys/bus/mdev/devices"

TEST_F(bad_input_stage1, not_pci)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vdev v = { .bar0 = NULL };
	int s, m;

	ASSERT_EQ(0, write_str(MTTY_TYPE "/create", MTTY_UUID));
	strcpy(v.bdf, MTTY_UUID);
	ASSERT_EQ(0, open_group_of(&v, MDEV_DEVS "/" MTTY_UUID));
	v.fd = open_device(&v);
	ASSERT_LE(0, v.fd);
	s = fdbox_session("mdev");
	ASSERT_LE(0, s);

	EXPECT_EQ(-ENODEV, fdbox_deposit(s, v.fd, "mtty"));

	/* Nothing kept: the label is free, the device file still works. */
	m = fdbox_memfd("ram", MFD_CLOEXEC, PG, NULL);
	ASSERT_LE(0, m);
	EXPECT_EQ(0, fdbox_deposit(s, m, "mtty"));
	/* It speaks vfio-pci's ABI, yet no PCI device is behind it. */
	EXPECT_EQ(0, ioctl(v.fd, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_TRUE(info.flags & VFIO_DEVICE_FLAGS_PCI);
	close(s);
	close(m);
	close_vdev(&v);
	EXPECT_EQ(0, write_str(MDEV_DEVS "/" MTTY_UUID "/remove", "1"));
}

/* ---- behind_iommu ---- */

FDBOX_STAGE_FIXTURE(behind_iommu_stage1);

TEST_F(behind_iommu_stage1, refused)
{
	char dir[PATH_MAX], group[64];
	struct vdev v;
	int s, m;

	ASSERT_EQ(0, setup_device(&v, EDU_VENDOR, EDU_DEVICE));
	snprintf(dir, sizeof(dir), PCI_DEVS "/%s", v.bdf);
	ASSERT_EQ(0, group_path(dir, group, sizeof(group)))
		TH_LOG("edu is in a no-IOMMU group: is intel_iommu=on?");
	s = fdbox_session("iommu");
	ASSERT_LE(0, s);

	EXPECT_EQ(-EOPNOTSUPP, fdbox_deposit(s, v.fd, "dev"));

	/* Nothing kept: the label is free, the device still answers. */
	m = fdbox_memfd("ram", MFD_CLOEXEC, PG, NULL);
	ASSERT_LE(0, m);
	EXPECT_EQ(0, fdbox_deposit(s, m, "dev"));
	w32(&v, EDU_LIVENESS, 0x5a5a0f0f);
	EXPECT_EQ(~0x5a5a0f0fu, r32(&v, EDU_LIVENESS));
	close(s);
	close(m);
	close_vdev(&v);
}

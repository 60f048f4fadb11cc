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
 *              it asks for it, and a new DMA works at once.
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
 *              depended-on item cannot be withdrawn.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/pci_regs.h>
#include <linux/reboot.h>
#include <linux/vfio.h>

#include "fdbox_stage.h"
#include "fdbox_lib.h"

#define PG		4096
#define PCI_DEVS	"/sys/bus/pci/devices"
#define TRACING		"/sys/kernel/debug/tracing"

/* QEMU's edu device (hw/misc/edu.c). */
#define EDU_VENDOR	0x1234
#define EDU_DEVICE	0x11e8
#define EDU_ID		0x00
#define EDU_LIVENESS	0x04	/* reads back the complement */
#define EDU_FACTORIAL	0x08
#define EDU_STATUS	0x20	/* bit 0: computing */
#define EDU_IRQ_STATUS	0x24
#define EDU_IRQ_ACK	0x64
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_COUNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_DMA_RUN	0x1
#define EDU_DMA_TO_RAM	0x2
#define EDU_DMA_IRQ	0x4
#define EDU_IRQ_DMA	0x100
#define EDU_BUF		0x40000	/* the device's DMA buffer */
#define EDU_LEN		2048	/* edu aborts QEMU on a 4096-byte transfer */

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

struct vdev {
	char bdf[16];
	int container, group, fd;
	volatile uint8_t *bar0;
	size_t bar0_size;
	off_t config;
};

/* ---- PCI and vfio plumbing ---- */

/* Write @s to @path, truncating it (which clears tracefs files). */
static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC), n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

static long read_hex(const char *dir, const char *name)
{
	char path[512], buf[32];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (fdbox_read_line(path, buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 16);
}

/* The BDF of the first device with these ids, in @bdf; 0 or -ENODEV. */
static int find_pci(unsigned int vendor, unsigned int device, char *bdf, size_t len)
{
	char dir[384];
	struct dirent *e;
	DIR *d = opendir(PCI_DEVS);
	int err = -ENODEV;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strlen(e->d_name) >= len)
			continue;
		snprintf(dir, sizeof(dir), PCI_DEVS "/%s", e->d_name);
		if (read_hex(dir, "vendor") == vendor && read_hex(dir, "device") == device) {
			memcpy(bdf, e->d_name, strlen(e->d_name) + 1);
			err = 0;
			break;
		}
	}
	closedir(d);
	return err;
}

/* The name of the driver @bdf is bound to, or "" */
static void driver_of(const char *bdf, char *buf, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), PCI_DEVS "/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	snprintf(buf, len, "%s", n > 0 ? strrchr(link, '/') + 1 : "");
}

static int bind_vfio_pci(const char *bdf)
{
	char path[PATH_MAX], drv[64];

	driver_of(bdf, drv, sizeof(drv));
	if (!strcmp(drv, "vfio-pci"))
		return 0;
	if (drv[0]) {
		snprintf(path, sizeof(path), PCI_DEVS "/%s/driver/unbind", bdf);
		write_str(path, bdf);
	}
	snprintf(path, sizeof(path), PCI_DEVS "/%s/driver_override", bdf);
	if (write_str(path, "vfio-pci"))
		return -errno;
	write_str("/sys/bus/pci/drivers_probe", bdf);
	driver_of(bdf, drv, sizeof(drv));
	return strcmp(drv, "vfio-pci") ? -ENODEV : 0;
}

/* The no-IOMMU group device of @bdf, in @buf. */
static int group_path(const char *bdf, char *buf, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), PCI_DEVS "/%s/iommu_group", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return -ENOENT;
	link[n] = '\0';
	snprintf(buf, len, "/dev/vfio/noiommu-%s", strrchr(link, '/') + 1);
	return 0;
}

/* Open the group and a no-IOMMU container of @v->bdf; 0 or -errno. */
static int open_group(struct vdev *v)
{
	char path[64];
	int err;

	v->container = v->group = v->fd = -1;
	err = group_path(v->bdf, path, sizeof(path));
	if (err)
		return err;
	v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	v->group = open(path, O_RDWR | O_CLOEXEC);
	if (v->container < 0 || v->group < 0)
		return -errno;
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container) ||
	    ioctl(v->container, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU))
		return -errno;
	return 0;
}

static int open_device(struct vdev *v)
{
	int fd = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, v->bdf);

	return fd < 0 ? -errno : fd;
}

static int region(int fd, unsigned int index, struct vfio_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	return ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ri) ? -errno : 0;
}

/* Find config space and map BAR0 of the device file @v->fd. */
static int map_device(struct vdev *v)
{
	struct vfio_region_info ri;
	void *p;
	int err;

	err = region(v->fd, VFIO_PCI_CONFIG_REGION_INDEX, &ri);
	if (err)
		return err;
	v->config = ri.offset;
	err = region(v->fd, VFIO_PCI_BAR0_REGION_INDEX, &ri);
	if (err)
		return err;
	if (!(ri.flags & VFIO_REGION_INFO_FLAG_MMAP))
		return -EOPNOTSUPP;
	p = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, ri.offset);
	if (p == MAP_FAILED)
		return -errno;
	v->bar0 = p;
	v->bar0_size = ri.size;
	return 0;
}

static void close_vdev(struct vdev *v)
{
	if (v->bar0)
		munmap((void *)v->bar0, v->bar0_size);
	v->bar0 = NULL;
	if (v->fd >= 0)
		close(v->fd);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
	v->fd = v->group = v->container = -1;
}

static uint16_t cfg_read16(struct vdev *v, unsigned int reg)
{
	uint16_t val = 0xffff;

	if (pread(v->fd, &val, 2, v->config + reg) != 2)
		return 0xffff;
	return val;
}

static int cfg_write16(struct vdev *v, unsigned int reg, uint16_t val)
{
	return pwrite(v->fd, &val, 2, v->config + reg) == 2 ? 0 : -errno;
}

/* The command register as the PCI core reads it (sysfs), not through vfio. */
static int sysfs_command(const char *bdf)
{
	char path[PATH_MAX];
	uint16_t cmd;
	int fd, n;

	snprintf(path, sizeof(path), PCI_DEVS "/%s/config", bdf);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = pread(fd, &cmd, 2, PCI_COMMAND);
	close(fd);
	return n == 2 ? cmd : -EIO;
}

static uint32_t r32(struct vdev *v, unsigned int off)
{
	return *(volatile uint32_t *)(v->bar0 + off);
}

static void w32(struct vdev *v, unsigned int off, uint32_t val)
{
	*(volatile uint32_t *)(v->bar0 + off) = val;
}

static void w64(struct vdev *v, unsigned int off, uint64_t val)
{
	*(volatile uint64_t *)(v->bar0 + off) = val;
}

/* Wait for @mask of register @off to clear, up to 5 s; 0 or -ETIMEDOUT. */
static int edu_wait(struct vdev *v, unsigned int off, uint32_t mask)
{
	int i;

	for (i = 0; i < 5000; i++) {
		if (!(r32(v, off) & mask))
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

static void edu_dma_start(struct vdev *v, uint64_t src, uint64_t dst, uint32_t cmd)
{
	w64(v, EDU_DMA_SRC, src);
	w64(v, EDU_DMA_DST, dst);
	w64(v, EDU_DMA_COUNT, EDU_LEN);
	w64(v, EDU_DMA_CMD, cmd | EDU_DMA_RUN);
}

/* Copy EDU_LEN bytes from physical @src into the device's buffer. */
static int edu_load(struct vdev *v, uint64_t src)
{
	edu_dma_start(v, src, EDU_BUF, 0);
	return edu_wait(v, EDU_DMA_CMD, EDU_DMA_RUN);
}

/* Copy the device's buffer to physical @dst. */
static int edu_store(struct vdev *v, uint64_t dst)
{
	edu_dma_start(v, EDU_BUF, dst, EDU_DMA_TO_RAM);
	return edu_wait(v, EDU_DMA_CMD, EDU_DMA_RUN);
}

/* The physical address of the page at @p (resident, pinned), or 0. */
static uint64_t phys_of(const volatile void *p)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;

	if (fd < 0)
		return 0;
	(void)*(const volatile char *)p;
	if (pread(fd, &e, 8, (uintptr_t)p / PG * 8) != 8)
		e = 0;
	close(fd);
	if (!(e >> 63))
		return 0;
	return (e & ((1ULL << 55) - 1)) * PG;
}

/* Is there a kernel log line containing @needle? */
static bool kmsg_has(const char *needle)
{
	char line[1024];
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	bool found = false;
	ssize_t n;

	if (fd < 0)
		return false;
	while ((n = read(fd, line, sizeof(line) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;
		line[n] = '\0';
		if (strstr(line, needle))
			found = true;
	}
	close(fd);
	return found;
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

/* Open @vendor:@device through vfio-pci's group path, BAR0 mapped. */
static int setup_device(struct vdev *v, unsigned int vendor, unsigned int device)
{
	int err;

	memset(v, 0, sizeof(*v));
	v->container = v->group = v->fd = -1;
	err = find_pci(vendor, device, v->bdf, sizeof(v->bdf));
	err = err ?: bind_vfio_pci(v->bdf);
	err = err ?: open_group(v);
	if (err)
		return err;
	v->fd = open_device(v);
	if (v->fd < 0)
		return v->fd;
	return map_device(v);
}

static int deposit_depending(int s, int fd, const char *label, const char *dep)
{
	char deps[1][FDBOX_NAME_MAX] = { { 0 } };
	struct fdbox_deposit arg = {
		.size = sizeof(arg), .fd = fd, .flags = FDBOX_DEPOSIT_DEPENDS,
		.depends = (uintptr_t)deps, .nr_depends = 1,
	};

	snprintf(arg.label, sizeof(arg.label), "%s", label);
	snprintf(deps[0], sizeof(deps[0]), "%s", dep);
	return fdbox_ioctl(s, FDBOX_DEPOSIT, &arg);
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
	uint8_t *mem;
	int d, m;

	ASSERT_EQ(0, find_pci(EDU_VENDOR, EDU_DEVICE, v.bdf, sizeof(v.bdf)));
	EXPECT_TRUE(kmsg_has("kept running by the previous kernel: for vfio-pci, not reset"));
	/* Bus mastering stayed on from the old kernel until now. */
	EXPECT_TRUE(sysfs_command(v.bdf) & PCI_COMMAND_MASTER);

	d = fdbox_attach("vfio");
	ASSERT_LE(0, d);
	/* The device first: its dependency, the memfd, is rebuilt for it. */
	v.fd = fdbox_retrieve(d, "dev", 0);
	ASSERT_LE(0, v.fd) TH_LOG("retrieve dev: %s", strerror(-v.fd));
	m = fdbox_retrieve(d, "mem", 0);
	ASSERT_LE(0, m) TH_LOG("retrieve mem: %s", strerror(-m));
	ASSERT_EQ(0, fdbox_finish(d));
	EXPECT_TRUE(kmsg_has("retrieved: running since the previous kernel, not reset"));

	mem = mmap(NULL, NR_PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_EQ(0, fdbox_cmdline_get("fdbox_vfio.phys", expect, sizeof(expect)));
	EXPECT_EQ(strtoull(expect, NULL, 16), phys_of(mem)) TH_LOG("not the same frames");

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

	munmap(mem, NR_PAGES * PG);
	close(m);
	close_vdev(&v);
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

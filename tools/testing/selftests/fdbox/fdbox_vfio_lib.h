/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vfio for the fdbox selftests: find a PCI device, give it to vfio-pci,
 * open it through its group (no-IOMMU in most tests), map BAR0, and drive QEMU's edu
 * device (hw/misc/edu.c), a DMA engine.
 */
#ifndef FDBOX_VFIO_LIB_H
#define FDBOX_VFIO_LIB_H

#include <dirent.h>
#include <limits.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "fdbox_lib.h"

#define PCI_DEVS	"/sys/bus/pci/devices"
#define VFIO_PG		4096

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

struct vdev {
	char bdf[40];		/* or a mediated device's UUID */
	int container, group, fd;
	volatile uint8_t *bar0;
	size_t bar0_size;
	off_t config;
};

/* Write @s to @path, truncating it (which clears tracefs files). */
static inline int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC), n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

/* A sysfs attribute of @dir in hex ("0x1234"), or -1. */
static inline long read_hex(const char *dir, const char *name)
{
	char path[512];
	long val = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lx", &val) != 1)
		val = -1;
	fclose(f);
	return val;
}

/* The BDF of the first device with these ids, in @bdf; 0 or -ENODEV. */
static inline int find_pci(unsigned int vendor, unsigned int device, char *bdf, size_t len)
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
static inline void driver_of(const char *bdf, char *buf, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), PCI_DEVS "/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	snprintf(buf, len, "%s", n > 0 ? strrchr(link, '/') + 1 : "");
}

static inline int bind_vfio_pci(const char *bdf)
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

/*
 * The group device of the device at sysfs directory @dir, in @buf:
 * /dev/vfio/noiommu-N for a no-IOMMU group, /dev/vfio/N for a group with an
 * IOMMU (real or, for mediated devices, emulated). Returns 1 for no-IOMMU,
 * 0 otherwise, -errno on error.
 */
static inline int group_path(const char *dir, char *buf, size_t len)
{
	char path[PATH_MAX + 16], link[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/iommu_group", dir);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return -ENOENT;
	link[n] = '\0';
	snprintf(buf, len, "/dev/vfio/noiommu-%s", strrchr(link, '/') + 1);
	if (!access(buf, F_OK))
		return 1;
	snprintf(buf, len, "/dev/vfio/%s", strrchr(link, '/') + 1);
	return 0;
}

/*
 * Open the group of the device at sysfs directory @dir and a container
 * for it: no-IOMMU, or type1 where the group has an IOMMU. 0 or -errno.
 */
static inline int open_group_of(struct vdev *v, const char *dir)
{
	char path[64];
	int noiommu;

	v->container = v->group = v->fd = -1;
	noiommu = group_path(dir, path, sizeof(path));
	if (noiommu < 0)
		return noiommu;
	v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	v->group = open(path, O_RDWR | O_CLOEXEC);
	if (v->container < 0 || v->group < 0)
		return -errno;
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container) ||
	    ioctl(v->container, VFIO_SET_IOMMU,
		  noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU))
		return -errno;
	return 0;
}

static inline int open_group(struct vdev *v)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), PCI_DEVS "/%s", v->bdf);
	return open_group_of(v, dir);
}

static inline int open_device(struct vdev *v)
{
	int fd = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, v->bdf);

	return fd < 0 ? -errno : fd;
}

static inline int region(int fd, unsigned int index, struct vfio_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	return ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ri) ? -errno : 0;
}

/* Find config space and map BAR0 of the device file @v->fd. */
static inline int map_device(struct vdev *v)
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

static inline void close_vdev(struct vdev *v)
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

static inline uint16_t cfg_read16(struct vdev *v, unsigned int reg)
{
	uint16_t val = 0xffff;

	if (pread(v->fd, &val, 2, v->config + reg) != 2)
		return 0xffff;
	return val;
}

static inline int cfg_write16(struct vdev *v, unsigned int reg, uint16_t val)
{
	return pwrite(v->fd, &val, 2, v->config + reg) == 2 ? 0 : -errno;
}

/* The command register as the PCI core reads it (sysfs), not through vfio. */
static inline int sysfs_command(const char *bdf)
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

static inline uint32_t r32(struct vdev *v, unsigned int off)
{
	return *(volatile uint32_t *)(v->bar0 + off);
}

static inline void w32(struct vdev *v, unsigned int off, uint32_t val)
{
	*(volatile uint32_t *)(v->bar0 + off) = val;
}

static inline void w64(struct vdev *v, unsigned int off, uint64_t val)
{
	*(volatile uint64_t *)(v->bar0 + off) = val;
}

/* Wait for @mask of register @off to clear, up to 5 s; 0 or -ETIMEDOUT. */
static inline int edu_wait(struct vdev *v, unsigned int off, uint32_t mask)
{
	int i;

	for (i = 0; i < 5000; i++) {
		if (!(r32(v, off) & mask))
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

static inline void edu_dma_start(struct vdev *v, uint64_t src, uint64_t dst, uint32_t cmd)
{
	w64(v, EDU_DMA_SRC, src);
	w64(v, EDU_DMA_DST, dst);
	w64(v, EDU_DMA_COUNT, EDU_LEN);
	w64(v, EDU_DMA_CMD, cmd | EDU_DMA_RUN);
}

/* Copy EDU_LEN bytes from physical @src into the device's buffer. */
static inline int edu_load(struct vdev *v, uint64_t src)
{
	edu_dma_start(v, src, EDU_BUF, 0);
	return edu_wait(v, EDU_DMA_CMD, EDU_DMA_RUN);
}

/* Copy the device's buffer to physical @dst. */
static inline int edu_store(struct vdev *v, uint64_t dst)
{
	edu_dma_start(v, EDU_BUF, dst, EDU_DMA_TO_RAM);
	return edu_wait(v, EDU_DMA_CMD, EDU_DMA_RUN);
}

/* The physical address of the page at @p (resident, pinned), or 0. */
static inline uint64_t phys_of(const volatile void *p)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;

	if (fd < 0)
		return 0;
	(void)*(const volatile char *)p;
	if (pread(fd, &e, 8, (uintptr_t)p / VFIO_PG * 8) != 8)
		e = 0;
	close(fd);
	if (!(e >> 63))
		return 0;
	return (e & ((1ULL << 55) - 1)) * VFIO_PG;
}

/* Open @vendor:@device through vfio-pci's group path, BAR0 mapped. */
static inline int setup_device(struct vdev *v, unsigned int vendor, unsigned int device)
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

static inline int deposit_depending(int s, int fd, const char *label, const char *dep)
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

#endif /* FDBOX_VFIO_LIB_H */

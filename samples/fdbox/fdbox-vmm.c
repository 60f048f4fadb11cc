// SPDX-License-Identifier: GPL-2.0
/*
 * fdbox-vmm: a sample VMM that keeps its guest's RAM across a kexec.
 *
 * Guest RAM is a memfd. The guest keeps changing it, and keeps in RAM
 * itself a checksum of all of RAM, so that the state can be checked byte
 * for byte at any instant. The guest is a real KVM guest when /dev/kvm
 * can be used (a vCPU in 64-bit mode runs guest_main() below), otherwise
 * a thread running the same loop. The VMM deposits the RAM in an fdbox
 * session and keeps the guest running until the kexec, which stops it
 * wherever it is. After the kexec, "fdbox-vmm --restore" retrieves the
 * RAM by label, checks it, and resumes the guest.
 *
 *   fdbox-vmm [--size MIB] [--session NAME] [--label LABEL] [--guest G]
 *             [--hugetlb[=2M|1G]] [--vfio] [--touch]
 *   fdbox-vmm --restore [--session NAME] [--label LABEL] [--run SECONDS]
 *             [--guest G] [--vfio] [--touch] [--blackout]
 *
 * G is kvm, thread or auto (the default: kvm if /dev/kvm opens).
 * --hugetlb backs guest RAM with huge pages (2 MiB by default) from the
 * hugetlb pool, as large hosts do; --size must be a multiple of their size.
 * The restored RAM is on the same huge pages.
 *
 * --vfio (both ways) adds a device: QEMU's edu, a DMA engine, through
 * vfio-pci in no-IOMMU mode (vfio.enable_unsafe_noiommu_mode=1). The
 * guest cannot reach it; the VMM drives it on the guest's behalf, copying
 * data between pages at the end of guest RAM through the device, over and
 * over, and checks every copy. The device is deposited too, depending on
 * the RAM, and after the kexec it is retrieved as it is, not reset: the
 * last copy before the kexec must be in RAM, and new ones must work.
 *
 * The guest stamps its clock (the TSC) at every step; a KVM guest's clock
 * goes on across the update (the VMM carries its TSC offset). --touch
 * makes the guest touch every page of its RAM once when it starts; at
 * the first start, a guest of its own first touches a memfd of the same
 * size and kind that nobody wrote yet, to compare with. With
 * --blackout, the restore resumes the guest without checking the RAM
 * first (it is checked when the guest stops) and prints a line
 * "blackout: ..." of host TSC stamps, from the guest's last step before
 * the kexec to its first after it (make bench's vmm modes).
 *
 * Start prints "ready" once the RAM is deposited, then runs until killed
 * (or the kexec); SIGUSR1 finalizes the session ahead of the kexec.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
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
#include <linux/kvm.h>
#include <linux/memfd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#define PAGE		4096UL
#define RAM_MAGIC	0x4644424f58564d4dULL	/* "FDBOXVMM" */
#define NO_PENDING	UINT64_MAX

/*
 * --vfio: the last pages of guest RAM are the device's, not the guest's:
 * a source and two targets, used in turn, so that the target of the last
 * complete copy is never the one a copy cut by the kexec was writing.
 */
enum { DMA_SRC, DMA_DST0, DMA_DST1, DMA_PAGES };

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
	/* --vfio only; the guest does not use these. */
	uint64_t dma_pages;	/* pages after the guest's words */
	uint64_t dma_done;	/* copies checked; the last is in its target */
	uint64_t dma_failed;	/* the copy that went wrong, or 0 */
	uint64_t dma_phys[DMA_PAGES];	/* as the device sees them */
	/*
	 * The guest's clock, its TSC: stamped at entry, after it touched
	 * every page once (when touch is set), and after every step. A KVM
	 * guest's TSC is the host's plus tsc_offset, which the VMM carries
	 * into the rebuilt VM, so the guest's clock runs on across the update.
	 */
	uint64_t touch;
	uint64_t tsc_offset;
	uint64_t tsc_entry;
	uint64_t tsc_touched;
	uint64_t tsc_last;
	/* --touch: the first touch of a fresh memfd, in TSC ticks. */
	uint64_t touch_fresh;
};

struct vm {
	size_t size;
	void *ram;
	struct ram_header *hdr;
	uint64_t *words;
	atomic_bool stop;
	bool use_kvm;
	bool restored;		/* the guest's clock goes on from its header */
	bool touch;		/* --touch */
	bool blackout;		/* --blackout */
	uint64_t tsc_rebuilt;	/* the VM was ready to run */
	pthread_t thread;
	/* KVM only */
	int vm_fd, vcpu_fd;
	struct kvm_run *run;
	int run_size;
	void *firmware;
	/* --vfio only */
	bool vfio;
	char bdf[16];
	int dev_fd;
	off_t config, bar0;	/* regions, at these offsets of dev_fd */
	char *dma;
	atomic_bool dma_stop;
	pthread_t dma_thread;
};

static atomic_bool finalize_now, quit;

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

static __always_inline uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* What word i contributes to the checksum: depends on where it is. */
static __always_inline uint64_t term(uint64_t i, uint64_t w)
{
	return mix(i ^ mix(w));
}

/* Make the compiler emit stores in program order; x86 keeps that order. */
#define ORDERED() atomic_signal_fence(memory_order_seq_cst)

static __always_inline uint64_t guest_rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/*
 * The guest's first moments: stamp its clock, and touch every page of
 * its RAM once (a write of what is there) if asked to, as a guest that
 * uses all its memory would. Neither changes the checksum.
 */
static __always_inline void guest_enter(struct ram_header *h, uint64_t *words)
{
	volatile uint64_t *w = words;
	uint64_t i;

	h->tsc_entry = guest_rdtsc();
	if (!h->touch)
		return;
	for (i = 0; i < h->words; i += PAGE / 8)
		w[i] = w[i];
	h->tsc_touched = guest_rdtsc();
}

/* One step of the guest: change one word, journaled. */
static __always_inline void guest_step(struct ram_header *h, uint64_t *words)
{
	uint64_t s = h->steps;
	uint64_t i = mix(s) % h->words;
	uint64_t old = words[i], new = mix(s ^ old);

	h->pending_old = old;
	h->pending_new = new;
	h->pending_sum = h->sum;
	h->pending_step = s;
	ORDERED();
	h->pending = i;
	ORDERED();
	words[i] = new;
	ORDERED();
	h->sum += term(i, new) - term(i, old);
	h->steps = s + 1;
	ORDERED();
	h->pending = NO_PENDING;
	h->tsc_last = guest_rdtsc();
}

/*
 * The whole program of the KVM guest. It sits in a section of its own,
 * which the VMM copies into guest memory (the linker brackets it with
 * __start_/__stop_guest_code), so it may use nothing outside itself:
 * no calls, no data, no stack protector.
 */
__attribute__((section("guest_code"), used, noinline, no_stack_protector))
static void guest_main(struct ram_header *h, uint64_t *words)
{
	guest_enter(h, words);
	for (;;)
		guest_step(h, words);
}

extern const char __start_guest_code[], __stop_guest_code[];

/* The guest as a thread, when there is no KVM. */
static void *guest_thread(void *arg)
{
	struct vm *vm = arg;

	guest_enter(vm->hdr, vm->words);
	while (!atomic_load(&vm->stop))
		guest_step(vm->hdr, vm->words);
	return NULL;
}

/* Is page 0 a header for RAM of this size? 0 if it is. */
static int check_header(struct vm *vm)
{
	struct ram_header *h = vm->hdr;

	if (h->magic != RAM_MAGIC || h->dma_pages > DMA_PAGES ||
	    h->words != (vm->size - (1 + h->dma_pages) * PAGE) / 8 ||
	    (h->pending != NO_PENDING && h->pending >= h->words)) {
		fprintf(stderr, "fdbox-vmm: guest RAM has no valid header\n");
		return -1;
	}
	return 0;
}

/* Check every word of RAM against the checksum; 0 if it holds. */
static int verify(struct vm *vm, uint64_t *steps)
{
	struct ram_header *h = vm->hdr;
	uint64_t i, sum = 0, want = h->sum;

	if (check_header(vm))
		return -1;
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
		fprintf(stderr,
			"fdbox-vmm: guest RAM fails its checksum after %llu steps (pending %lld)\n",
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
	vm->dma = (char *)vm->ram + vm->size - DMA_PAGES * PAGE;	/* --vfio only */
}

/*
 * Guest physical memory of the KVM guest: a small "firmware" slot at 0
 * that the VMM rebuilds on every start (page tables, the code, a stack),
 * and the RAM, the memfd, at 1 GiB. Only the RAM is carried across.
 */
#define FW_SIZE		(2UL << 20)
#define FW_PML4		0x1000UL
#define FW_PDPT		0x2000UL
#define FW_PD		0x3000UL	/* one page per GiB mapped */
#define FW_CODE		0x80000UL
#define FW_STACK_TOP	FW_SIZE
#define RAM_GPA		(1UL << 30)
#define GiB		(1UL << 30)

#define PTE_P		0x1ULL
#define PTE_RW		0x2ULL
#define PTE_PS		0x80ULL		/* a 2 MiB page in a PD */

/* A vCPU in 64-bit mode, identity-mapped with 2 MiB pages, at guest_main(). */
static int kvm_setup_vcpu(struct vm *vm, int kvm)
{
	size_t code_len = __stop_guest_code - __start_guest_code;
	unsigned long nr_pd = (RAM_GPA + vm->size + GiB - 1) / GiB, i;
	struct kvm_segment cs = {
		.limit = 0xffffffff, .selector = 0x8, .type = 11, .present = 1,
		.s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment ds = {
		.limit = 0xffffffff, .selector = 0x10, .type = 3, .present = 1,
		.s = 1, .db = 1, .g = 1,
	};
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[128];
	} cpuid = { .c.nent = 128 };
	char *fw = vm->firmware;
	uint64_t *pml4 = (uint64_t *)(fw + FW_PML4);
	uint64_t *pdpt = (uint64_t *)(fw + FW_PDPT);
	uint64_t *pd = (uint64_t *)(fw + FW_PD);
	struct kvm_sregs sregs;
	struct kvm_regs regs = {
		.rip = FW_CODE, .rsp = FW_STACK_TOP, .rflags = 0x2,
		.rdi = RAM_GPA, .rsi = RAM_GPA + PAGE,	/* guest_main(h, words) */
	};

	if (FW_PD + nr_pd * PAGE > FW_CODE || nr_pd > 512 ||
	    FW_CODE + code_len > FW_STACK_TOP - PAGE) {
		fprintf(stderr, "fdbox-vmm: guest RAM too large for the KVM guest's page tables\n");
		return -1;
	}
	pml4[0] = FW_PDPT | PTE_P | PTE_RW;
	for (i = 0; i < nr_pd; i++)
		pdpt[i] = (FW_PD + i * PAGE) | PTE_P | PTE_RW;
	for (i = 0; i < nr_pd * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
	memcpy(fw + FW_CODE, __start_guest_code, code_len);

	/* Long mode needs CPUID to say LM: give the guest what KVM offers. */
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0 ||
	    ioctl(vm->vcpu_fd, KVM_SET_CPUID2, &cpuid) < 0 ||
	    ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
		perror("fdbox-vmm: KVM vCPU set-up");
		return -1;
	}
	sregs.cs = cs;
	sregs.ds = ds;
	sregs.es = ds;
	sregs.fs = ds;
	sregs.gs = ds;
	sregs.ss = ds;
	sregs.cr3 = FW_PML4;
	sregs.cr4 = 0x620;		/* OSXMMEXCPT OSFXSR PAE: SSE allowed */
	sregs.cr0 = 0x80050033;		/* PG AM WP NE ET MP PE */
	sregs.efer = 0x500;		/* LMA LME */
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0) {
		perror("fdbox-vmm: KVM vCPU registers");
		return -1;
	}
	return 0;
}

/* A VM with the firmware slot and the RAM slot, and one vCPU. */
static int kvm_create(struct vm *vm, int kvm)
{
	struct kvm_userspace_memory_region fw = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = FW_SIZE,
	};
	struct kvm_userspace_memory_region ram = {
		.slot = 1, .guest_phys_addr = RAM_GPA, .memory_size = vm->size,
		.userspace_addr = (uintptr_t)vm->ram,
	};

	vm->firmware = mmap(NULL, FW_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vm->firmware == MAP_FAILED) {
		perror("fdbox-vmm: guest firmware");
		return -1;
	}
	fw.userspace_addr = (uintptr_t)vm->firmware;
	vm->vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0 ||
	    ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &fw) < 0 ||
	    ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &ram) < 0) {
		perror("fdbox-vmm: KVM VM");
		return -1;
	}
	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	vm->run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_fd < 0 || vm->run_size < 0) {
		perror("fdbox-vmm: KVM vCPU");
		return -1;
	}
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		perror("fdbox-vmm: mmap kvm_run");
		return -1;
	}
	return kvm_setup_vcpu(vm, kvm);
}

/*
 * The vCPU thread. guest_main() never exits on its own, so any exit but
 * a signal (KVM_RUN fails with EINTR, see guest_stop()) is a failure.
 */
static void *vcpu_thread(void *arg)
{
	struct vm *vm = arg;

	for (;;) {
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR && atomic_load(&vm->stop))
				return NULL;
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("fdbox-vmm: KVM_RUN");
			exit(1);
		}
		fprintf(stderr, "fdbox-vmm: the KVM guest stopped unexpectedly (exit reason %u)\n",
			vm->run->exit_reason);
		exit(1);
	}
}

static void on_kick(int sig)
{
}

/* Signals for the VMM go to the main thread, not to the others. */
static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	sigdelset(&all, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		fprintf(stderr, "fdbox-vmm: cannot start a thread\n");
		exit(1);
	}
}

/*
 * The KVM guest's TSC is the host's plus an offset KVM picks at vCPU
 * creation. A new guest records it; a restored one gets its old one back.
 * Without KVM_VCPU_TSC_OFFSET (before Linux 5.16) the guest's clock
 * restarts: fine for the guest here, not for --blackout.
 */
static int kvm_carry_tsc(struct vm *vm)
{
	struct kvm_device_attr attr = {
		.group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
		.addr = (uintptr_t)&vm->hdr->tsc_offset,
	};

	if (ioctl(vm->vcpu_fd, KVM_HAS_DEVICE_ATTR, &attr) < 0) {
		fprintf(stderr, "fdbox-vmm: KVM cannot carry the guest's TSC offset%s\n",
			vm->blackout ? "" : ": its clock restarts");
		vm->hdr->tsc_offset = 0;
		return vm->blackout ? -1 : 0;
	}
	if (ioctl(vm->vcpu_fd, vm->restored ? KVM_SET_DEVICE_ATTR : KVM_GET_DEVICE_ATTR,
		  &attr) < 0) {
		perror("fdbox-vmm: KVM_VCPU_TSC_OFFSET");
		return -1;
	}
	return 0;
}

/* Start the guest: KVM if asked for (or, in auto mode, if available). */
static void guest_start(struct vm *vm, const char *mode)
{
	int kvm = -1;

	if (strcmp(mode, "thread")) {
		kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		if (kvm < 0 && !strcmp(mode, "kvm")) {
			perror("fdbox-vmm: /dev/kvm");
			exit(1);
		}
	}
	vm->use_kvm = kvm >= 0;
	if (vm->use_kvm) {
		if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION ||
		    kvm_create(vm, kvm) || kvm_carry_tsc(vm))
			exit(1);
		close(kvm);
		signal(SIGUSR2, on_kick);
	} else {
		vm->hdr->tsc_offset = 0;	/* a thread reads the host's TSC */
	}
	vm->tsc_rebuilt = guest_rdtsc();
	atomic_store(&vm->stop, false);
	start_thread(&vm->thread, vm->use_kvm ? vcpu_thread : guest_thread, vm);
}

/* Stop the guest wherever it is, as the kexec would. */
static void guest_stop(struct vm *vm)
{
	atomic_store(&vm->stop, true);
	if (vm->use_kvm) {
		/* Out of KVM_RUN now, or at its next entry. */
		vm->run->immediate_exit = 1;
		pthread_kill(vm->thread, SIGUSR2);
	}
	pthread_join(vm->thread, NULL);
}

/* Free a stopped guest's VM, and the mapping of its RAM. */
static void guest_destroy(struct vm *vm)
{
	if (vm->use_kvm) {
		munmap(vm->run, vm->run_size);
		close(vm->vcpu_fd);
		close(vm->vm_fd);
		munmap(vm->firmware, FW_SIZE);
	}
	munmap(vm->ram, vm->size);
}

static const char *guest_kind(struct vm *vm)
{
	return vm->use_kvm ? "KVM guest" : "thread guest";
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * --vfio: QEMU's edu device (hw/misc/edu.c), a DMA engine with a buffer
 * of its own. A copy is a DMA from RAM into that buffer, then one back.
 */
#define EDU_VENDOR	0x1234
#define EDU_DEVICE	0x11e8
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_COUNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_DMA_RUN	0x1
#define EDU_DMA_TO_RAM	0x2
#define EDU_BUF		0x40000
#define EDU_LEN		2048	/* edu aborts QEMU on a 4096-byte transfer */
#define EDU_DMA_MASK	0xffffffffULL	/* QEMU's -device edu,dma_mask= */
#define PCI_DEVS	"/sys/bus/pci/devices"
#define EDU_LABEL	"edu"

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -1;
	if (write(fd, s, strlen(s)) < 0)
		err = -1;
	close(fd);
	return err;
}

static long sysfs_hex(const char *bdf, const char *name)
{
	char path[PATH_MAX], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), PCI_DEVS "/%s/%s", bdf, name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strtol(buf, NULL, 16);
}

/* The edu device's address, in vm->bdf. */
static int edu_find(struct vm *vm)
{
	DIR *d = opendir(PCI_DEVS);
	struct dirent *e;
	int err = -1;

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof(vm->bdf))
			continue;
		if (sysfs_hex(e->d_name, "vendor") == EDU_VENDOR &&
		    sysfs_hex(e->d_name, "device") == EDU_DEVICE) {
			snprintf(vm->bdf, sizeof(vm->bdf), "%s", e->d_name);
			err = 0;
			break;
		}
	}
	if (d)
		closedir(d);
	if (err)
		fprintf(stderr, "fdbox-vmm: no edu device (QEMU -device edu)\n");
	return err;
}

/* Hand the device to vfio-pci, and open it through its no-IOMMU group. */
static int vfio_open(struct vm *vm)
{
	char path[PATH_MAX], link[PATH_MAX];
	int container, group;
	ssize_t n;

	snprintf(path, sizeof(path), PCI_DEVS "/%s/driver", vm->bdf);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	if (!strstr(link, "/vfio-pci")) {
		snprintf(path, sizeof(path), PCI_DEVS "/%s/driver/unbind", vm->bdf);
		if (n > 0)
			write_str(path, vm->bdf);
		snprintf(path, sizeof(path), PCI_DEVS "/%s/driver_override", vm->bdf);
		if (write_str(path, "vfio-pci") ||
		    write_str("/sys/bus/pci/drivers_probe", vm->bdf)) {
			perror("fdbox-vmm: binding edu to vfio-pci");
			return -1;
		}
	}
	snprintf(path, sizeof(path), PCI_DEVS "/%s/iommu_group", vm->bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0) {
		fprintf(stderr, "fdbox-vmm: %s has no IOMMU group (no-IOMMU mode off?)\n",
			vm->bdf);
		return -1;
	}
	link[n] = '\0';
	snprintf(path, sizeof(path), "/dev/vfio/noiommu-%s", strrchr(link, '/') + 1);
	/* Group and container stay open: the device is theirs until the kexec. */
	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	group = open(path, O_RDWR | O_CLOEXEC);
	if (container < 0 || group < 0 ||
	    ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) ||
	    ioctl(container, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU)) {
		perror("fdbox-vmm: vfio no-IOMMU group");
		return -1;
	}
	vm->dev_fd = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, vm->bdf);
	if (vm->dev_fd < 0) {
		perror("fdbox-vmm: VFIO_GROUP_GET_DEVICE_FD");
		return -1;
	}
	return 0;
}

/*
 * Where config space and BAR0 are in the device file, fresh or retrieved.
 * Registers are read and written through the file (no mmap): each access
 * one system call, which edu's DMA, 100 ms each, does not notice.
 */
static int vfio_regions(struct vm *vm)
{
	struct vfio_region_info ri = {
		.argsz = sizeof(ri), .index = VFIO_PCI_CONFIG_REGION_INDEX,
	};

	if (ioctl(vm->dev_fd, VFIO_DEVICE_GET_REGION_INFO, &ri)) {
		perror("fdbox-vmm: edu config space");
		return -1;
	}
	vm->config = ri.offset;
	ri.index = VFIO_PCI_BAR0_REGION_INDEX;
	if (ioctl(vm->dev_fd, VFIO_DEVICE_GET_REGION_INFO, &ri)) {
		perror("fdbox-vmm: edu BAR0");
		return -1;
	}
	vm->bar0 = ri.offset;
	return 0;
}

static uint16_t pci_command(struct vm *vm)
{
	uint16_t cmd = 0;

	if (pread(vm->dev_fd, &cmd, 2, vm->config + PCI_COMMAND) != 2)
		return 0;
	return cmd;
}

/* edu's registers are 32 bits wide to a 4-byte access; DMA is below 4 GiB. */
static uint32_t edu_read(struct vm *vm, unsigned int reg)
{
	uint32_t val = ~0U;

	if (pread(vm->dev_fd, &val, 4, vm->bar0 + reg) != 4)
		return ~0U;
	return val;
}

static int edu_write(struct vm *vm, unsigned int reg, uint32_t val)
{
	return pwrite(vm->dev_fd, &val, 4, vm->bar0 + reg) == 4 ? 0 : -1;
}

/* Wait up to 5 s for the DMA under way, if any; 0 once there is none. */
static int edu_idle(struct vm *vm)
{
	int i;

	for (i = 0; i < 5000; i++) {
		if (!(edu_read(vm, EDU_DMA_CMD) & EDU_DMA_RUN))
			return 0;
		usleep(1000);
	}
	return -1;
}

/* One DMA of EDU_LEN bytes, to its end. edu ignores writes while one runs. */
static int edu_dma(struct vm *vm, uint32_t src, uint32_t dst, uint32_t cmd)
{
	if (edu_write(vm, EDU_DMA_SRC, src) || edu_write(vm, EDU_DMA_DST, dst) ||
	    edu_write(vm, EDU_DMA_COUNT, EDU_LEN) ||
	    edu_write(vm, EDU_DMA_CMD, cmd | EDU_DMA_RUN))
		return -1;
	return edu_idle(vm);
}

/*
 * The physical addresses of the DMA pages, or 0s; the deposit pinned
 * them, and in no-IOMMU mode that is what the device must be given.
 */
static void dma_phys(struct vm *vm, uint64_t phys[DMA_PAGES])
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), i;
	uint64_t e;

	/* pagemap knows only pages mapped here. */
	madvise(vm->dma, DMA_PAGES * PAGE, MADV_POPULATE_WRITE);
	for (i = 0; i < DMA_PAGES; i++) {
		e = 0;
		if (fd < 0 || pread(fd, &e, 8, (uintptr_t)(vm->dma + i * PAGE) / PAGE * 8) != 8 ||
		    !(e >> 63))
			e = 0;
		phys[i] = (e & ((1ULL << 55) - 1)) * PAGE;
	}
	if (fd >= 0)
		close(fd);
}

static uint64_t *dma_page(struct vm *vm, int i)
{
	return (uint64_t *)(vm->dma + i * PAGE);
}

/* What copy @n carries: different for every copy and every word. */
static uint64_t dma_word(uint64_t n, uint64_t i)
{
	return mix(n * (EDU_LEN / 8) + i);
}

/* 0 if copy @n is in @p. */
static int dma_check(const uint64_t *p, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < EDU_LEN / 8; i++)
		if (p[i] != dma_word(n, i))
			return -1;
	return 0;
}

/*
 * Copy @n: its data into the source page, into the device, and back into
 * target n % 2, which is cleared first, so that only a DMA that lands can
 * make it right. The other target keeps copy n - 1 meanwhile.
 */
static int dma_copy(struct vm *vm, uint64_t n)
{
	struct ram_header *h = vm->hdr;
	uint64_t *src = dma_page(vm, DMA_SRC);
	int dst = DMA_DST0 + n % 2;
	uint64_t i;

	for (i = 0; i < EDU_LEN / 8; i++)
		src[i] = dma_word(n, i);
	memset(dma_page(vm, dst), 0, PAGE);
	/* The device reads memory, not this CPU's store buffer or registers. */
	atomic_thread_fence(memory_order_seq_cst);
	if (edu_dma(vm, h->dma_phys[DMA_SRC], EDU_BUF, 0) ||
	    edu_dma(vm, EDU_BUF, h->dma_phys[dst], EDU_DMA_TO_RAM)) {
		fprintf(stderr, "fdbox-vmm: edu DMA of copy %llu did not end\n",
			(unsigned long long)n);
		return -1;
	}
	atomic_thread_fence(memory_order_seq_cst);
	if (dma_check(dma_page(vm, dst), n)) {
		fprintf(stderr, "fdbox-vmm: copy %llu through edu is wrong (PCI command %#x)\n",
			(unsigned long long)n, pci_command(vm));
		return -1;
	}
	h->dma_done = n;
	return 0;
}

/* The VMM's work for the guest: copies through the device, until stopped. */
static void *dma_thread(void *arg)
{
	struct vm *vm = arg;

	while (!atomic_load(&vm->dma_stop)) {
		if (dma_copy(vm, vm->hdr->dma_done + 1)) {
			/* In RAM, for the next kernel to report. */
			vm->hdr->dma_failed = vm->hdr->dma_done + 1;
			break;
		}
	}
	return NULL;
}

static void dma_start(struct vm *vm)
{
	atomic_store(&vm->dma_stop, false);
	start_thread(&vm->dma_thread, dma_thread, vm);
}

/* Stop copying; 0 if every copy was right. */
static int dma_stop(struct vm *vm)
{
	atomic_store(&vm->dma_stop, true);
	pthread_join(vm->dma_thread, NULL);
	return vm->hdr->dma_failed ? -1 : 0;
}

/*
 * Before the deposit: the device, bus master, and its pages in RAM, whose
 * physical addresses are valid DMA addresses (no IOMMU) now that the
 * deposit pinned them. One copy proves it all before the device goes in.
 */
static int vfio_setup(struct vm *vm)
{
	struct ram_header *h = vm->hdr;
	uint16_t cmd;
	int i;

	if (edu_find(vm) || vfio_open(vm) || vfio_regions(vm))
		return -1;
	cmd = pci_command(vm) | PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY;
	if (pwrite(vm->dev_fd, &cmd, 2, vm->config + PCI_COMMAND) != 2) {
		perror("fdbox-vmm: edu bus master");
		return -1;
	}
	dma_phys(vm, h->dma_phys);
	for (i = 0; i < DMA_PAGES; i++) {
		if (!h->dma_phys[i] || h->dma_phys[i] + PAGE - 1 > EDU_DMA_MASK) {
			fprintf(stderr, "fdbox-vmm: guest RAM page at %#llx: not for edu's DMA\n",
				(unsigned long long)h->dma_phys[i]);
			return -1;
		}
	}
	return dma_copy(vm, 1);
}

/* The device retrieved: the frames, the last copy, bus mastering as left. */
static int vfio_check(struct vm *vm)
{
	struct ram_header *h = vm->hdr;
	uint64_t phys[DMA_PAGES];
	uint16_t cmd;

	if (h->dma_pages != DMA_PAGES) {
		fprintf(stderr, "fdbox-vmm: guest RAM has no DMA pages: not started with --vfio\n");
		return -1;
	}
	if (h->dma_failed) {
		fprintf(stderr, "fdbox-vmm: copy %llu through edu failed before the kexec\n",
			(unsigned long long)h->dma_failed);
		return -1;
	}
	dma_phys(vm, phys);
	if (memcmp(phys, h->dma_phys, sizeof(phys))) {
		fprintf(stderr, "fdbox-vmm: the DMA pages are not the same frames\n");
		return -1;
	}
	if (dma_check(dma_page(vm, DMA_DST0 + h->dma_done % 2), h->dma_done)) {
		fprintf(stderr, "fdbox-vmm: copy %llu, the last before the kexec, is not in RAM\n",
			(unsigned long long)h->dma_done);
		return -1;
	}
	if (vfio_regions(vm))
		return -1;
	cmd = pci_command(vm);
	if (!(cmd & PCI_COMMAND_MASTER)) {
		fprintf(stderr, "fdbox-vmm: edu lost bus mastering (PCI command %#x): reset?\n",
			cmd);
		return -1;
	}
	/* A copy cut by the kexec may still have a DMA to finish. */
	if (edu_idle(vm)) {
		fprintf(stderr, "fdbox-vmm: edu is stuck in a DMA\n");
		return -1;
	}
	printf("vfio: copy %llu, the last before the update, intact (PCI command %#x)\n",
	       (unsigned long long)h->dma_done, cmd);
	return 0;
}

/* The device goes into session @s after the RAM it writes into, @ram. */
static int vfio_deposit(struct vm *vm, int s, const char *ram)
{
	char deps[1][FDBOX_NAME_MAX] = { { 0 } };
	struct fdbox_deposit dep = {
		.size = sizeof(dep), .flags = FDBOX_DEPOSIT_DEPENDS,
		.fd = vm->dev_fd, .label = EDU_LABEL,
		.depends = (uintptr_t)deps, .nr_depends = 1,
	};

	snprintf(deps[0], sizeof(deps[0]), "%s", ram);
	if (ioctl(s, FDBOX_DEPOSIT, &dep) < 0) {
		perror("fdbox-vmm: FDBOX_DEPOSIT of edu");
		return -1;
	}
	return 0;
}

/* The host's TSC when this program started. */
static uint64_t main_tsc;

/* Wait until the guest ran: its entry stamp, and its touch if asked. */
static int wait_guest(struct vm *vm)
{
	volatile struct ram_header *h = vm->hdr;
	double t0 = now();

	while (!h->tsc_entry || (vm->touch && !h->tsc_touched)) {
		if (now() - t0 > 600) {
			fprintf(stderr, "fdbox-vmm: the guest did not run within 600 s\n");
			return -1;
		}
		usleep(1000);
	}
	return 0;
}

/*
 * --blackout: when the guest ran again, all on the host's TSC: its last
 * stamp before the kexec, this program's start, the RAM retrieved, the
 * VM rebuilt, the guest's first stamp, and its touch of all its RAM
 * (against the touch before the update, in TSC ticks).
 */
static int blackout_report(struct vm *vm, uint64_t last, uint64_t retrieved,
			   uint64_t touch_before)
{
	struct ram_header *h = vm->hdr;

	if (wait_guest(vm))
		return -1;
	printf("blackout: last %llu main %llu retrieved %llu rebuilt %llu entry %llu touched %llu touch_before %llu touch_fresh %llu\n",
	       (unsigned long long)last, (unsigned long long)main_tsc,
	       (unsigned long long)retrieved, (unsigned long long)vm->tsc_rebuilt,
	       (unsigned long long)(h->tsc_entry - h->tsc_offset),
	       (unsigned long long)(vm->touch ? h->tsc_touched - h->tsc_offset : 0),
	       (unsigned long long)touch_before,
	       (unsigned long long)h->touch_fresh);
	fflush(stdout);
	return 0;
}

/*
 * --touch: the first touch of fresh memory, in TSC ticks, for the touch
 * after the update to be held against. A memfd like the guest's RAM,
 * written by nobody (but its header page), under a guest of its own,
 * both gone before the guest's RAM is made: a hugetlb pool sized for
 * one RAM serves both.
 */
static uint64_t touch_fresh(size_t size, const char *mode, unsigned int memfd_flags)
{
	struct vm fresh = { .size = size, .touch = true };
	uint64_t ticks;
	int fd;

	fd = memfd_create("guest-ram-fresh", MFD_CLOEXEC | memfd_flags);
	if (fd < 0 || ftruncate(fd, size) < 0) {
		perror("fdbox-vmm: fresh memfd");
		exit(1);
	}
	map_ram(&fresh, fd);
	close(fd);
	fresh.hdr->words = (size - PAGE) / 8;
	fresh.hdr->pending = NO_PENDING;
	fresh.hdr->touch = 1;
	guest_start(&fresh, mode);
	if (wait_guest(&fresh))
		exit(1);
	ticks = fresh.hdr->tsc_touched - fresh.hdr->tsc_entry;
	guest_stop(&fresh);
	guest_destroy(&fresh);
	return ticks;
}

static int start(struct vm *vm, const char *session, const char *label,
		 const char *mode, unsigned int memfd_flags)
{
	uint64_t fresh_ticks = 0;
	struct fdbox_set_name name = { .size = sizeof(name) };
	struct fdbox_deposit dep = { .size = sizeof(dep) };
	sigset_t wake, waiting;
	uint64_t i, steps;
	double t0;
	int fd, s;

	if (vm->touch)
		fresh_ticks = touch_fresh(vm->size, mode, memfd_flags);

	/* 1. Guest RAM: a memfd, filled as a guest would, and a guest running. */
	fd = memfd_create("guest-ram", MFD_CLOEXEC | memfd_flags);
	if (fd < 0 || ftruncate(fd, vm->size) < 0) {
		perror("fdbox-vmm: guest RAM");
		return 1;
	}
	map_ram(vm, fd);
	vm->hdr->magic = RAM_MAGIC;
	vm->hdr->dma_pages = vm->vfio ? DMA_PAGES : 0;
	vm->hdr->words = (vm->size - (1 + vm->hdr->dma_pages) * PAGE) / 8;
	vm->hdr->pending = NO_PENDING;
	vm->hdr->touch = vm->touch;
	vm->hdr->touch_fresh = fresh_ticks;
	for (i = 0; i < vm->hdr->words; i++) {
		vm->words[i] = mix(i);
		vm->hdr->sum += term(i, vm->words[i]);
	}
	/* In the memfd before the deposit, which pins what is there. */
	if (vm->vfio)
		memset(vm->dma, 0, DMA_PAGES * PAGE);
	guest_start(vm, mode);
	/* A guest at work on all its RAM, as the update will find it. */
	if (vm->touch && wait_guest(vm))
		return 1;

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
	/* The device, working for the guest, goes in too, and works on. */
	if (vm->vfio) {
		if (vfio_setup(vm) || vfio_deposit(vm, s, label))
			return 1;
		dma_start(vm);
		printf("vfio: edu %s deposited as %s, depending on %s; copies through it go on\n",
		       vm->bdf, EDU_LABEL, label);
	}
	/*
	 * Whoever reads "ready" may signal at once: blocked until
	 * sigsuspend(), no signal is lost between a check and the wait.
	 */
	sigemptyset(&wake);
	sigaddset(&wake, SIGUSR1);
	sigaddset(&wake, SIGTERM);
	sigaddset(&wake, SIGINT);
	pthread_sigmask(SIG_BLOCK, &wake, &waiting);
	printf("ready: %zu MiB of guest RAM%s in session %s as %s, deposit %.3f s, %s running\n",
	       vm->size >> 20, memfd_flags ? " on huge pages" : "", session, label,
	       now() - t0, guest_kind(vm));
	fflush(stdout);

	/*
	 * 3. Keep the guest running; the kexec stops it, and the kernel
	 * finalizes the session then if we have not (SIGUSR1 finalizes it
	 * now, to take that work out of the kexec). Killed instead, we
	 * verify and exit: closing the session gives everything back.
	 */
	while (!atomic_load(&quit)) {
		if (!atomic_load(&finalize_now))
			sigsuspend(&waiting);
		if (atomic_exchange(&finalize_now, false)) {
			if (vm->vfio)
				printf("vfio: %llu copies through edu verified%s\n",
				       (unsigned long long)vm->hdr->dma_done,
				       vm->hdr->dma_failed ? ", then one FAILED" : "");
			t0 = now();
			if (ioctl(s, FDBOX_FINALIZE) < 0) {
				perror("fdbox-vmm: FDBOX_FINALIZE");
				return 1;
			}
			printf("finalized: %.3f s\n", now() - t0);
			fflush(stdout);
		}
	}
	pthread_sigmask(SIG_SETMASK, &waiting, NULL);
	if (vm->vfio && dma_stop(vm))
		return 1;
	guest_stop(vm);
	return verify(vm, &steps) ? 1 : 0;
}

static int restore(struct vm *vm, const char *session, const char *label,
		   int run, const char *mode)
{
	struct fdbox_attach att = { .size = sizeof(att) };
	struct fdbox_retrieve ret = { .size = sizeof(ret) };
	uint64_t before, after, dma_before = 0;
	uint64_t last, touch_before, retrieved;
	struct stat st;
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
	/*
	 * The device as it runs: no group or container, no reset. Its
	 * retrieve builds the RAM it depends on, which stays in place.
	 */
	if (vm->vfio) {
		struct fdbox_retrieve dev = { .size = sizeof(dev), .label = EDU_LABEL };

		if (ioctl(d, FDBOX_RETRIEVE, &dev) < 0) {
			perror("fdbox-vmm: FDBOX_RETRIEVE of edu");
			return 1;
		}
		vm->dev_fd = dev.fd;
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
	retrieved = guest_rdtsc();

	/*
	 * 2. The guest's state, byte for byte, as the kexec left it. With
	 * --blackout the guest resumes at once, as a VMM's would: the RAM
	 * is checked when it stops again, against the checksum it carried.
	 */
	if (vm->blackout) {
		if (check_header(vm))
			return 1;
		before = vm->hdr->steps;
		t2 = t1;
	} else if (verify(vm, &before)) {
		return 1;
	} else {
		t2 = now();
	}
	printf("restored %zu MiB: retrieve %.3f s, verify %.3f s, guest at step %llu\n",
	       vm->size >> 20, t1 - t0, t2 - t1, (unsigned long long)before);
	if (vm->vfio) {
		if (vfio_check(vm))
			return 1;
		dma_before = vm->hdr->dma_done;
	}

	/* 3. Resume the guest and the device's work, then check both again. */
	last = vm->hdr->tsc_last - vm->hdr->tsc_offset;
	touch_before = vm->hdr->touch ? vm->hdr->tsc_touched - vm->hdr->tsc_entry : 0;
	recover(vm);
	vm->hdr->touch = vm->touch;
	vm->hdr->tsc_entry = 0;
	vm->hdr->tsc_touched = 0;
	vm->restored = true;
	guest_start(vm, mode);
	if (vm->vfio)
		dma_start(vm);
	if (vm->blackout && blackout_report(vm, last, retrieved, touch_before))
		return 1;
	sleep(run);
	if (vm->vfio && dma_stop(vm))
		return 1;
	guest_stop(vm);
	if (verify(vm, &after))
		return 1;
	printf("%s resumed: %llu more steps in %d s, state consistent\n",
	       guest_kind(vm), (unsigned long long)(after - before), run);
	if (vm->vfio) {
		if (vm->hdr->dma_done == dma_before) {
			fprintf(stderr, "fdbox-vmm: no copy through edu after the update\n");
			return 1;
		}
		printf("vfio: %llu copies verified after the update, device not reset\n",
		       (unsigned long long)(vm->hdr->dma_done - dma_before));
	}
	return after > before ? 0 : 1;
}

static struct vm the_vm;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		atomic_store(&finalize_now, true);
	else
		atomic_store(&quit, true);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "size",	required_argument,	NULL, 's' },
		{ "session",	required_argument,	NULL, 'n' },
		{ "label",	required_argument,	NULL, 'l' },
		{ "restore",	no_argument,		NULL, 'r' },
		{ "run",	required_argument,	NULL, 't' },
		{ "guest",	required_argument,	NULL, 'g' },
		{ "hugetlb",	optional_argument,	NULL, 'h' },
		{ "vfio",	no_argument,		NULL, 'v' },
		{ "touch",	no_argument,		NULL, 'T' },
		{ "blackout",	no_argument,		NULL, 'b' },
		{ 0 }
	};
	unsigned int memfd_flags = 0;
	size_t hpage = PAGE;
	const char *session = "fdbox-vmm", *label = "guest-ram", *mode = "auto";
	int opt, run = 2;
	bool do_restore = false;

	main_tsc = guest_rdtsc();
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
		case 'g':
			mode = optarg;
			break;
		case 'v':
			the_vm.vfio = true;
			break;
		case 'T':
			the_vm.touch = true;
			break;
		case 'b':
			the_vm.blackout = true;
			break;
		case 'h':
			if (!optarg || !strcmp(optarg, "2M")) {
				memfd_flags = MFD_HUGETLB | MFD_HUGE_2MB;
				hpage = 2UL << 20;
			} else if (!strcmp(optarg, "1G")) {
				memfd_flags = MFD_HUGETLB | MFD_HUGE_1GB;
				hpage = 1UL << 30;
			} else {
				fprintf(stderr, "fdbox-vmm: --hugetlb takes 2M or 1G\n");
				return 2;
			}
			break;
		default:
			fprintf(stderr,
				"usage: %s [--size MIB] [--session NAME] [--label LABEL] [--guest G]\n"
				"          [--hugetlb[=2M|1G]] [--vfio] [--touch]\n"
				"       %s --restore [--session NAME] [--label LABEL] [--run SECONDS] [--guest G]\n"
				"          [--vfio] [--touch] [--blackout]\n"
				"G is kvm, thread or auto (kvm if /dev/kvm opens)\n",
				argv[0], argv[0]);
			return 2;
		}
	}
	if (strcmp(mode, "kvm") && strcmp(mode, "thread") && strcmp(mode, "auto")) {
		fprintf(stderr, "fdbox-vmm: --guest must be kvm, thread or auto\n");
		return 2;
	}
	if (the_vm.blackout && !do_restore) {
		fprintf(stderr, "fdbox-vmm: --blackout is for --restore\n");
		return 2;
	}
	if (the_vm.size < 2 * PAGE) {
		fprintf(stderr, "fdbox-vmm: --size must be at least 1 MiB\n");
		return 2;
	}
	if (the_vm.size % hpage) {
		fprintf(stderr, "fdbox-vmm: --size must be a multiple of the huge page size\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);
	signal(SIGINT, on_signal);
	return do_restore ? restore(&the_vm, session, label, run, mode) :
			    start(&the_vm, session, label, mode, memfd_flags);
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * fdbox: carry vfio-pci devices across kexec, kept running.
 */

/**
 * DOC: vfio-pci devices kept across kexec
 *
 * A vfio-pci device file opened in no-IOMMU mode can be deposited in an
 * fdbox session. The device is not stopped, reset or reprogrammed on the
 * way: DMA it was given goes on through the kexec into memory that the
 * session preserves (a memfd deposited with it), and the next kernel hands
 * the device file back as the previous kernel left the device.
 *
 * Deposit: the file must be a vfio-pci device of a no-IOMMU group, open
 * once. The device gets PCI_DEV_FLAGS_KEXEC_KEEP, so that the kexec's
 * shutdown leaves bus mastering on. Its file, held by the session, keeps
 * it bound to vfio-pci. Freeze checks again that nobody else opened it
 * and takes a snapshot of its config space.
 *
 * Kexec: the global participant "fdbox,vfio-pci-devices-v1" lists every
 * carried device. The next kernel reads that list before PCI enumeration
 * (postcore_initcall_sync) and, from a PCI bus notifier, gives each listed
 * device the keep flag and a driver_override of "vfio-pci" as PCI finds
 * it, so that no other driver binds it; vfio-pci's open skips its reset
 * for a kept device.
 *
 * Retrieve opens the device without container (the no-IOMMU container did
 * nothing for DMA) and clears the keep flag: from then on the device is an
 * ordinary vfio device, reset when its last user closes it. Discard, or
 * an item nobody retrieved by the next reboot, hands the device back to
 * the host: bus mastering off, and a reset.
 *
 * Without an IOMMU the device DMAs to physical addresses, so the memory
 * it was given must not move while it runs. Before the kexec the deposit
 * of that memory holds it. In the next kernel fdbox keeps each folio of
 * a memfd others depend on from its restore to the session's finish, and
 * retrieve holds every folio of the memory files the device depends on
 * until the device file's last close has turned bus mastering off
 * (vfio_fdbox_device_closed()): compaction and NUMA migration never get
 * a page the device may write into.
 *
 * Locking: vfio_fdbox_lock protects the lists of devices and of held
 * memory. fdbox calls the handler with a session or the incoming sessions
 * locked; the PCI notifier runs in device_add(); the last close of a
 * device file holds its group's and device set's locks. vfio_fdbox_lock
 * nests inside all of them, and nothing is taken under it.
 */

#define pr_fmt(fmt) "fdbox-vfio: " fmt

#include <linux/capability.h>
#include <linux/fdbox.h>
#include <linux/fdbox_abi.h>
#include <linux/file.h>
#include <linux/hugetlb.h>
#include <linux/init.h>
#include <linux/libfdt.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/pagemap.h>
#include <linux/pci.h>
#include <linux/reboot.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/vfio_pci_core.h>

#include "vfio.h"

#define VFIO_FDBOX_MODE		"noiommu"

/* An outgoing device: deposited, from preserve to unpreserve. */
struct vfio_fdbox_dev {
	struct list_head list;
	struct pci_dev *pdev;
	struct vfio_device *device;
	bool frozen;
	u8 config[FDBOX_VFIO_CONFIG_SIZE];
};

/*
 * The memory a retrieved device may DMA into: the folios of its memory
 * files at retrieve, one reference each, until the device file's last
 * close.
 */
struct vfio_fdbox_held {
	struct list_head list;
	struct vfio_device *device;
	unsigned long nr;
	struct xarray folios;	/* 0 .. nr - 1 -> folio */
};

static DEFINE_MUTEX(vfio_fdbox_lock);
static LIST_HEAD(vfio_fdbox_out);	/* struct vfio_fdbox_dev */
static LIST_HEAD(vfio_fdbox_in_held);	/* struct vfio_fdbox_held */
static u32 *vfio_fdbox_kept;		/* incoming: BDFs not retrieved yet */
static unsigned int vfio_fdbox_nr_kept;

static u32 vfio_fdbox_bdf(struct pci_dev *pdev)
{
	return pci_domain_nr(pdev->bus) << 16 | pdev->bus->number << 8 | pdev->devfn;
}

static struct pci_dev *vfio_fdbox_get_pdev(u32 bdf)
{
	return pci_get_domain_bus_and_slot(bdf >> 16, (bdf >> 8) & 0xff, bdf & 0xff);
}

static bool vfio_fdbox_is_vfio_pci(struct pci_dev *pdev)
{
	return pdev->driver && !strcmp(pdev->driver->name, "vfio-pci");
}

/* Is @bdf carried in and not retrieved yet? Caller holds vfio_fdbox_lock. */
static int vfio_fdbox_kept_index(u32 bdf)
{
	unsigned int i;

	for (i = 0; i < vfio_fdbox_nr_kept; i++) {
		if (vfio_fdbox_kept[i] == bdf)
			return i;
	}
	return -ENOENT;
}

static void vfio_fdbox_forget_kept(u32 bdf)
{
	int i;

	mutex_lock(&vfio_fdbox_lock);
	i = vfio_fdbox_kept_index(bdf);
	if (i >= 0)
		vfio_fdbox_kept[i] = vfio_fdbox_kept[--vfio_fdbox_nr_kept];
	mutex_unlock(&vfio_fdbox_lock);
}

/* ---- the participant: the list of carried devices ---- */

static int vfio_fdbox_devices_preserve(void **priv)
{
	*priv = NULL;	/* the list is built at describe */
	return 0;
}

static void vfio_fdbox_devices_unpreserve(void *priv)
{
}

static int vfio_fdbox_fdt_err(int err)
{
	if (!err)
		return 0;
	return err == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
}

static int vfio_fdbox_devices_describe(void *priv, void *fdt)
{
	struct vfio_fdbox_dev *d;
	unsigned int n = 0;
	fdt32_t *bdfs;
	int err;

	mutex_lock(&vfio_fdbox_lock);
	list_for_each_entry(d, &vfio_fdbox_out, list)
		n++;
	bdfs = kcalloc(max(n, 1U), sizeof(*bdfs), GFP_KERNEL);
	if (!bdfs) {
		mutex_unlock(&vfio_fdbox_lock);
		return -ENOMEM;
	}
	n = 0;
	list_for_each_entry(d, &vfio_fdbox_out, list)
		bdfs[n++] = cpu_to_fdt32(vfio_fdbox_bdf(d->pdev));
	mutex_unlock(&vfio_fdbox_lock);
	err = fdt_property(fdt, "vfio-devices", bdfs, n * sizeof(*bdfs));
	kfree(bdfs);
	return vfio_fdbox_fdt_err(err);
}

/* Incoming: every item using it is finished or discarded. */
static void vfio_fdbox_devices_finish(const void *fdt, int node)
{
	unsigned int i;

	mutex_lock(&vfio_fdbox_lock);
	/* Not retrieved, not discarded: left to the reboot notifier. */
	for (i = 0; i < vfio_fdbox_nr_kept; i++)
		pr_warn("device %04x:%02x:%02x.%x: still kept\n",
			vfio_fdbox_kept[i] >> 16, (vfio_fdbox_kept[i] >> 8) & 0xff,
			PCI_SLOT(vfio_fdbox_kept[i] & 0xff), PCI_FUNC(vfio_fdbox_kept[i] & 0xff));
	mutex_unlock(&vfio_fdbox_lock);
}

static struct fdbox_participant vfio_fdbox_devices = {
	.compatible	= FDBOX_VFIO_DEVICES_COMPATIBLE,
	.preserve	= vfio_fdbox_devices_preserve,
	.unpreserve	= vfio_fdbox_devices_unpreserve,
	.describe	= vfio_fdbox_devices_describe,
	.finish		= vfio_fdbox_devices_finish,
};

/* ---- the handler: outgoing ---- */

static bool vfio_fdbox_can_preserve(struct file *file)
{
	/* Group files too, to refuse them with a reason. */
	return vfio_device_from_file(file) || vfio_group_from_file(file);
}

static unsigned int vfio_fdbox_open_count(struct vfio_device *device)
{
	unsigned int n;

	mutex_lock(&device->dev_set->lock);
	n = device->open_count;
	mutex_unlock(&device->dev_set->lock);
	return n;
}

static int vfio_fdbox_preserve(struct fdbox_item *item)
{
	struct vfio_device *device = vfio_device_from_file(item->file);
	struct vfio_fdbox_dev *d;
	struct pci_dev *pdev;
	int err;

	if (!device)
		return -EINVAL;		/* a group: deposit its device's fd */
	if (!dev_is_pci(device->dev))
		return -ENODEV;
	pdev = to_pci_dev(device->dev);
	if (!vfio_fdbox_is_vfio_pci(pdev))
		return -ENODEV;
	if (!vfio_device_is_noiommu(device))
		return -EOPNOTSUPP;	/* translation is iommufd's to carry */
	if (vfio_fdbox_open_count(device) != 1)
		return -EBUSY;

	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	err = fdbox_item_use(item, &vfio_fdbox_devices);
	if (err) {
		kfree(d);
		return err;
	}
	d->pdev = pci_dev_get(pdev);
	d->device = device;
	mutex_lock(&vfio_fdbox_lock);
	pdev->dev_flags |= PCI_DEV_FLAGS_KEXEC_KEEP;
	list_add_tail(&d->list, &vfio_fdbox_out);
	mutex_unlock(&vfio_fdbox_lock);
	item->priv = d;
	pci_info(pdev, "deposited: kept running across the next kexec\n");
	return 0;
}

static void vfio_fdbox_unpreserve(struct fdbox_item *item)
{
	struct vfio_fdbox_dev *d = item->priv;

	mutex_lock(&vfio_fdbox_lock);
	d->pdev->dev_flags &= ~PCI_DEV_FLAGS_KEXEC_KEEP;
	list_del(&d->list);
	mutex_unlock(&vfio_fdbox_lock);
	pci_info(d->pdev, "withdrawn: no longer kept across kexec\n");
	pci_dev_put(d->pdev);
	kfree(d);
}

static int vfio_fdbox_freeze(struct fdbox_item *item)
{
	struct vfio_fdbox_dev *d = item->priv;
	unsigned int i;

	if (vfio_fdbox_open_count(d->device) != 1)
		return -EBUSY;
	for (i = 0; i < FDBOX_VFIO_CONFIG_SIZE; i += 4)
		pci_read_config_dword(d->pdev, i, (u32 *)&d->config[i]);
	mutex_lock(&vfio_fdbox_lock);
	WRITE_ONCE(d->frozen, true);
	mutex_unlock(&vfio_fdbox_lock);
	return 0;
}

static void vfio_fdbox_thaw(struct fdbox_item *item)
{
	struct vfio_fdbox_dev *d = item->priv;

	mutex_lock(&vfio_fdbox_lock);
	WRITE_ONCE(d->frozen, false);
	mutex_unlock(&vfio_fdbox_lock);
}

static int vfio_fdbox_describe(struct fdbox_item *item, void *fdt)
{
	struct vfio_fdbox_dev *d = item->priv;
	struct pci_dev *pdev = d->pdev;
	int err;

	err = fdt_property_u32(fdt, "vfio-bdf", vfio_fdbox_bdf(pdev));
	if (!err)
		err = fdt_property_u32(fdt, "vfio-id", pdev->vendor << 16 | pdev->device);
	if (!err)
		err = fdt_property_string(fdt, "vfio-mode", VFIO_FDBOX_MODE);
	if (!err)
		err = fdt_property(fdt, "vfio-config", d->config, sizeof(d->config));
	return vfio_fdbox_fdt_err(err);
}

static void vfio_fdbox_info(struct fdbox_item *item, struct fdbox_sizes *sizes)
{
	struct vfio_fdbox_dev *d = item->priv;

	/* Nothing of the device is in memory: its state stays in the device. */
	sizes->size = 0;
	sizes->preserved = 0;
	/* The config snapshot, taken at freeze. */
	sizes->metadata = d && READ_ONCE(d->frozen) ? FDBOX_VFIO_CONFIG_SIZE : 0;
}

/* ---- the handler: incoming ---- */

/* The device an item node names, checked; a reference, or an ERR_PTR(). */
static struct pci_dev *vfio_fdbox_item_pdev(struct fdbox_item *item)
{
	const fdt32_t *bdf, *id;
	const char *mode;
	struct pci_dev *pdev;
	int len;

	bdf = fdt_getprop(item->fdt, item->node, "vfio-bdf", &len);
	if (!bdf || len != sizeof(*bdf))
		return ERR_PTR(-EINVAL);
	id = fdt_getprop(item->fdt, item->node, "vfio-id", &len);
	if (!id || len != sizeof(*id))
		return ERR_PTR(-EINVAL);
	mode = fdt_getprop(item->fdt, item->node, "vfio-mode", &len);
	if (!mode || len != sizeof(VFIO_FDBOX_MODE) || memcmp(mode, VFIO_FDBOX_MODE, len))
		return ERR_PTR(-EINVAL);
	pdev = vfio_fdbox_get_pdev(fdt32_to_cpu(*bdf));
	if (!pdev)
		return ERR_PTR(-ENODEV);
	if ((pdev->vendor << 16 | pdev->device) != fdt32_to_cpu(*id)) {
		pci_warn(pdev, "not the carried device (id %08x)\n", fdt32_to_cpu(*id));
		pci_dev_put(pdev);
		return ERR_PTR(-ENODEV);
	}
	return pdev;
}

static bool vfio_fdbox_is_memory_file(struct file *file)
{
	return shmem_file(file) || is_file_hugepages(file);
}

static void vfio_fdbox_release_held(struct vfio_fdbox_held *held)
{
	struct folio *folio;
	unsigned long i;

	xa_for_each(&held->folios, i, folio) {
		folio_put(folio);
		cond_resched();
	}
	xa_destroy(&held->folios);
	kfree(held);
}

/* Add the folios @mapping has now to @held. */
static int vfio_fdbox_hold_mapping(struct vfio_fdbox_held *held,
				   struct address_space *mapping)
{
	struct folio_batch fbatch;
	pgoff_t index = 0;
	unsigned int i;
	int err = 0;

	folio_batch_init(&fbatch);
	while (filemap_get_folios(mapping, &index, ULONG_MAX, &fbatch)) {
		/* The batch's references become the held ones. */
		for (i = 0; i < folio_batch_count(&fbatch); i++) {
			struct folio *folio = fbatch.folios[i];

			if (!err)
				err = xa_err(xa_store(&held->folios, held->nr, folio,
						      GFP_KERNEL));
			if (err)
				folio_put(folio);
			else
				held->nr++;
		}
		folio_batch_reinit(&fbatch);
		if (err)
			return err;
		cond_resched();
	}
	return 0;
}

/*
 * Hold every folio of the memory files @item depends on, for @device:
 * a no-IOMMU device DMAs to their physical addresses, which must stay
 * valid. Folios a file gains later are the caller's to keep in place.
 * Return: the held folios, on the list; or an ERR_PTR().
 */
static struct vfio_fdbox_held *vfio_fdbox_hold_memory(struct fdbox_item *item,
						      struct vfio_device *device)
{
	struct vfio_fdbox_held *held;
	struct file *dep;
	unsigned int i;
	int err = 0;

	held = kzalloc(sizeof(*held), GFP_KERNEL);
	if (!held)
		return ERR_PTR(-ENOMEM);
	held->device = device;
	xa_init(&held->folios);
	for (i = 0; !err && (dep = fdbox_item_dependency(item, i)); i++) {
		if (vfio_fdbox_is_memory_file(dep))
			err = vfio_fdbox_hold_mapping(held, dep->f_mapping);
	}
	if (err) {
		vfio_fdbox_release_held(held);
		return ERR_PTR(err);
	}
	mutex_lock(&vfio_fdbox_lock);
	list_add(&held->list, &vfio_fdbox_in_held);
	mutex_unlock(&vfio_fdbox_lock);
	return held;
}

/* Take @device's held memory off the list; NULL if it has none. */
static struct vfio_fdbox_held *vfio_fdbox_unlist_held(struct vfio_device *device)
{
	struct vfio_fdbox_held *held;

	mutex_lock(&vfio_fdbox_lock);
	list_for_each_entry(held, &vfio_fdbox_in_held, list) {
		if (held->device == device) {
			list_del(&held->list);
			mutex_unlock(&vfio_fdbox_lock);
			return held;
		}
	}
	mutex_unlock(&vfio_fdbox_lock);
	return NULL;
}

/**
 * vfio_fdbox_device_closed - a device file's last close: let its memory go
 * @device: the device, quiet now (vfio-pci turned bus mastering off)
 *
 * Releases what retrieve held for @device, if it was carried; nothing
 * else.
 *
 * Context: process context; may sleep.
 */
void vfio_fdbox_device_closed(struct vfio_device *device)
{
	struct vfio_fdbox_held *held = vfio_fdbox_unlist_held(device);

	if (!held)
		return;
	if (dev_is_pci(device->dev))
		pci_info(to_pci_dev(device->dev), "closed: released %lu folios held for its DMA\n",
			 held->nr);
	vfio_fdbox_release_held(held);
}

static struct file *vfio_fdbox_retrieve(struct fdbox_item *item, bool *untouched)
{
	struct vfio_pci_core_device *vdev = NULL;
	struct vfio_fdbox_held *held;
	unsigned long nr_held;
	struct pci_dev *pdev;
	struct file *file;

	/* Every failure leaves the device as it is, for a retry or discard. */
	*untouched = true;
	if (!capable(CAP_SYS_RAWIO))
		return ERR_PTR(-EPERM);		/* as for a no-IOMMU container */
	pdev = vfio_fdbox_item_pdev(item);
	if (IS_ERR(pdev))
		return ERR_CAST(pdev);

	device_lock(&pdev->dev);
	if (vfio_fdbox_is_vfio_pci(pdev)) {
		vdev = dev_get_drvdata(&pdev->dev);
		if (!vfio_device_try_get_registration(&vdev->vdev))
			vdev = NULL;
	}
	device_unlock(&pdev->dev);
	if (!vdev) {
		pci_warn(pdev, "carried, but not bound to vfio-pci (is vfio.enable_unsafe_noiommu_mode=1 set?)\n");
		pci_dev_put(pdev);
		return ERR_PTR(-ENODEV);
	}
	/* Held before the open, since its last close lets go of it. */
	held = vfio_fdbox_hold_memory(item, &vdev->vdev);
	if (IS_ERR(held)) {
		vfio_device_put_registration(&vdev->vdev);
		pci_dev_put(pdev);
		return ERR_CAST(held);
	}
	nr_held = held->nr;
	file = vfio_device_open_noiommu_file(&vdev->vdev);
	if (IS_ERR(file)) {
		/* Unless the open's own error path released it already. */
		held = vfio_fdbox_unlist_held(&vdev->vdev);
		if (held)
			vfio_fdbox_release_held(held);
		vfio_device_put_registration(&vdev->vdev);
		pci_dev_put(pdev);
		return file;
	}
	/* Opened without reset; from now on an ordinary vfio device. */
	pdev->dev_flags &= ~PCI_DEV_FLAGS_KEXEC_KEEP;
	vfio_fdbox_forget_kept(vfio_fdbox_bdf(pdev));
	pci_info(pdev, "retrieved: running since the previous kernel, not reset; %lu folios held while it is open\n",
		 nr_held);
	pci_dev_put(pdev);
	return file;
}

/* Give a carried device back to the host, quiet. */
static void vfio_fdbox_release_device(struct pci_dev *pdev, const char *why)
{
	pdev->dev_flags &= ~PCI_DEV_FLAGS_KEXEC_KEEP;
	pci_clear_master(pdev);
	if (!pci_reset_function(pdev))
		pci_info(pdev, "carried, %s: bus mastering off and reset\n", why);
	else
		pci_info(pdev, "carried, %s: bus mastering off (no reset method)\n", why);
}

static void vfio_fdbox_discard(struct fdbox_item *item)
{
	struct pci_dev *pdev = vfio_fdbox_item_pdev(item);

	if (IS_ERR(pdev)) {
		pr_warn("a discarded device item names no device here (%ld)\n",
			PTR_ERR(pdev));
		return;
	}
	vfio_fdbox_forget_kept(vfio_fdbox_bdf(pdev));
	vfio_fdbox_release_device(pdev, "discarded");
	pci_dev_put(pdev);
}

static struct fdbox_handler vfio_fdbox_handler = {
	.compatible	= FDBOX_VFIO_PCI_COMPATIBLE,
	.can_preserve	= vfio_fdbox_can_preserve,
	.preserve	= vfio_fdbox_preserve,
	.unpreserve	= vfio_fdbox_unpreserve,
	.freeze		= vfio_fdbox_freeze,
	.thaw		= vfio_fdbox_thaw,
	.describe	= vfio_fdbox_describe,
	.info		= vfio_fdbox_info,
	.retrieve	= vfio_fdbox_retrieve,
	.discard	= vfio_fdbox_discard,
};

/* ---- early in the next kernel: claim carried devices as PCI finds them ---- */

static int vfio_fdbox_pci_notify(struct notifier_block *nb, unsigned long action,
				 void *data)
{
	struct pci_dev *pdev = to_pci_dev(data);
	bool kept;

	if (action != BUS_NOTIFY_ADD_DEVICE)
		return NOTIFY_DONE;
	mutex_lock(&vfio_fdbox_lock);
	kept = vfio_fdbox_kept_index(vfio_fdbox_bdf(pdev)) >= 0;
	mutex_unlock(&vfio_fdbox_lock);
	if (!kept)
		return NOTIFY_DONE;

	/* Before any driver can match: only vfio-pci may take it. */
	if (device_set_driver_override(&pdev->dev, "vfio-pci")) {
		pci_err(pdev, "kept running by the previous kernel, but cannot be given to vfio-pci\n");
		return NOTIFY_DONE;
	}
	pdev->dev_flags |= PCI_DEV_FLAGS_KEXEC_KEEP;
	pci_info(pdev, "kept running by the previous kernel: for vfio-pci, not reset\n");
	return NOTIFY_OK;
}

static struct notifier_block vfio_fdbox_pci_nb = {
	.notifier_call = vfio_fdbox_pci_notify,
};

/* At reboot or kexec: a kept device that is not carried must stop. */
static int vfio_fdbox_reboot(struct notifier_block *nb, unsigned long action,
			     void *data)
{
	struct vfio_fdbox_dev *d;
	unsigned int i;

	mutex_lock(&vfio_fdbox_lock);
	for (i = 0; i < vfio_fdbox_nr_kept; i++) {
		struct pci_dev *pdev = vfio_fdbox_get_pdev(vfio_fdbox_kept[i]);

		if (pdev) {
			pdev->dev_flags &= ~PCI_DEV_FLAGS_KEXEC_KEEP;
			pci_info(pdev, "carried, never retrieved: bus mastering off at shutdown\n");
			pci_dev_put(pdev);
		}
	}
	vfio_fdbox_nr_kept = 0;
	/* A kexec carries frozen sessions only. */
	list_for_each_entry(d, &vfio_fdbox_out, list) {
		if (!d->frozen)
			d->pdev->dev_flags &= ~PCI_DEV_FLAGS_KEXEC_KEEP;
	}
	mutex_unlock(&vfio_fdbox_lock);
	return NOTIFY_DONE;
}

static struct notifier_block vfio_fdbox_reboot_nb = {
	.notifier_call = vfio_fdbox_reboot,
};

/* Read the list of carried devices before PCI enumerates them. */
static void __init vfio_fdbox_read_kept(void)
{
	const fdt32_t *bdfs;
	const void *fdt;
	int node, len;
	unsigned int i;

	node = fdbox_participant_find(FDBOX_VFIO_DEVICES_COMPATIBLE, &fdt);
	if (node < 0)
		return;
	bdfs = fdt_getprop(fdt, node, "vfio-devices", &len);
	if (!bdfs || len <= 0 || len % sizeof(*bdfs)) {
		pr_warn("the list of carried devices is unreadable; none kept\n");
		return;
	}
	vfio_fdbox_kept = kmalloc(len, GFP_KERNEL);
	if (!vfio_fdbox_kept)
		return;
	for (i = 0; i < len / sizeof(*bdfs); i++)
		vfio_fdbox_kept[i] = fdt32_to_cpu(bdfs[i]);
	vfio_fdbox_nr_kept = len / sizeof(*bdfs);
	pr_info("%u devices carried from the previous kernel\n", vfio_fdbox_nr_kept);
}

static int __init vfio_fdbox_init(void)
{
	int err;

	err = fdbox_register_participant(&vfio_fdbox_devices);
	if (!err)
		err = fdbox_register_handler(&vfio_fdbox_handler);
	if (err) {
		pr_err("cannot register: %d\n", err);
		return err;
	}
	vfio_fdbox_read_kept();
	register_reboot_notifier(&vfio_fdbox_reboot_nb);
	return bus_register_notifier(&pci_bus_type, &vfio_fdbox_pci_nb);
}

/* After the PCI bus type exists, before ACPI enumerates devices. */
postcore_initcall_sync(vfio_fdbox_init);

// SPDX-License-Identifier: GPL-2.0-only
/*
 * fdbox: participants, state carried across kexec without a file of its own.
 */

/**
 * DOC: Participants
 *
 * Some state belongs to no file but must live as long as files that need
 * it: an IOMMU unit's translation tables while a device and its iommufd
 * are carried, interrupt remapping entries, a test's page. A driver
 * registers a struct fdbox_participant; an item's handler declares at
 * preserve that the item uses it (fdbox_item_use()).
 *
 * Outgoing, the first use preserves the participant's state and the last
 * one going away unpreserves it. A participant is global (one instance)
 * or session-scoped (one per session). At the kexec each instance writes
 * a node of its own: global ones under the tree's root, session-scoped
 * ones under their session, named "p0", "p1", ... with the participant's
 * compatible string; each item node lists the compatible strings it uses
 * in "uses".
 *
 * Incoming, each participant node counts the items that use it. It is
 * there from the first lookup on, which a driver may do early in boot
 * (fdbox_participant_find()); when the last item using it is finished or
 * discarded, the participant's finish callback releases the state. A
 * participant nobody registered in the new kernel is reported, and its
 * memory stays reserved until the next kexec.
 *
 * Locking: fdbox_parts_lock protects the registry and the outgoing
 * instances; it nests inside a session's lock. The incoming participants
 * are protected by the caller's lock (incoming.c's fdbox_in_lock).
 */

#define pr_fmt(fmt) "fdbox: " fmt

#include <linux/libfdt.h>
#include <linux/mutex.h>
#include <linux/slab.h>

#include "internal.h"

static DEFINE_MUTEX(fdbox_parts_lock);
static LIST_HEAD(fdbox_parts);		/* registered participants */
static LIST_HEAD(fdbox_uses);		/* outgoing instances */

/* An outgoing instance of a participant. */
struct fdbox_use {
	struct list_head list;
	struct fdbox_participant *p;
	const void *scope;		/* its session, or NULL: global */
	void *priv;
	unsigned int users;
};

/**
 * fdbox_register_participant - make a participant known to fdbox
 * @p: the participant; it must stay valid for the life of the kernel
 *
 * In the outgoing kernel, handlers pass it to fdbox_item_use(); in the
 * incoming one, registering it is what gets its finish callback called.
 *
 * Return: 0, or -EEXIST if one with the same compatible string is
 * registered already.
 */
int fdbox_register_participant(struct fdbox_participant *p)
{
	struct fdbox_participant *pos;
	int err = 0;

	mutex_lock(&fdbox_parts_lock);
	list_for_each_entry(pos, &fdbox_parts, list) {
		if (!strcmp(pos->compatible, p->compatible))
			err = -EEXIST;
	}
	if (!err)
		list_add_tail(&p->list, &fdbox_parts);
	mutex_unlock(&fdbox_parts_lock);
	return err;
}
EXPORT_SYMBOL_GPL(fdbox_register_participant);

static struct fdbox_participant *fdbox_part_registered(const char *compatible)
{
	struct fdbox_participant *p, *found = NULL;

	mutex_lock(&fdbox_parts_lock);
	list_for_each_entry(p, &fdbox_parts, list) {
		if (!strcmp(p->compatible, compatible)) {
			found = p;
			break;
		}
	}
	mutex_unlock(&fdbox_parts_lock);
	return found;
}

/*
 * Take a use of @p for an item of session @scope: the instance of its
 * scope, preserved by this call if it is the first use.
 */
struct fdbox_use *fdbox_use_get(struct fdbox_participant *p, const void *scope)
{
	struct fdbox_use *use;
	int err;

	if (!p->session_scoped)
		scope = NULL;
	mutex_lock(&fdbox_parts_lock);
	list_for_each_entry(use, &fdbox_uses, list) {
		if (use->p == p && use->scope == scope) {
			use->users++;
			goto out;
		}
	}
	use = kzalloc(sizeof(*use), GFP_KERNEL);
	if (!use) {
		use = ERR_PTR(-ENOMEM);
		goto out;
	}
	use->p = p;
	use->scope = scope;
	use->users = 1;
	err = p->preserve ? p->preserve(&use->priv) : 0;
	if (err) {
		kfree(use);
		use = ERR_PTR(err);
		goto out;
	}
	list_add_tail(&use->list, &fdbox_uses);
out:
	mutex_unlock(&fdbox_parts_lock);
	return use;
}

/* Drop a use; the last one unpreserves the instance. */
void fdbox_use_put(struct fdbox_use *use)
{
	mutex_lock(&fdbox_parts_lock);
	if (!--use->users) {
		list_del(&use->list);
		if (use->p->unpreserve)
			use->p->unpreserve(use->priv);
		kfree(use);
	}
	mutex_unlock(&fdbox_parts_lock);
}

const char *fdbox_use_compatible(const struct fdbox_use *use)
{
	return use->p->compatible;
}

/* At the kexec: a node per instance of @scope (NULL: the global ones). */
int fdbox_uses_describe(void *fdt, const void *scope)
{
	struct fdbox_use *use;
	unsigned int n = 0;
	char name[16];
	int err = 0;

	mutex_lock(&fdbox_parts_lock);
	list_for_each_entry(use, &fdbox_uses, list) {
		if (use->scope != scope)
			continue;
		snprintf(name, sizeof(name), "p%u", n++);
		err = fdbox_fdt_err(fdt_begin_node(fdt, name) ?:
				    fdt_property_string(fdt, "compatible",
							use->p->compatible));
		if (!err && use->p->describe)
			err = use->p->describe(use->priv, fdt);
		err = err ?: fdbox_fdt_err(fdt_end_node(fdt));
		if (err)
			break;
	}
	mutex_unlock(&fdbox_parts_lock);
	return err;
}

/* ---- incoming ---- */

/* Read the "pN" children of @parent: the participants of @scope. */
int fdbox_in_parts_parse(struct list_head *parts, const void *fdt, int parent,
			 const void *scope)
{
	int node, len;

	fdt_for_each_subnode(node, fdt, parent) {
		const char *name = fdt_get_name(fdt, node, NULL);
		struct fdbox_in_part *part;

		if (!name || name[0] != 'p')
			continue;
		part = kzalloc(sizeof(*part), GFP_KERNEL);
		if (!part)
			return -ENOMEM;
		part->compatible = fdt_getprop(fdt, node, "compatible", &len);
		if (!part->compatible || len < 2 || part->compatible[len - 1] ||
		    fdbox_in_part_find(parts, part->compatible, scope)) {
			kfree(part);
			pr_err("incoming sessions refused (a participant without a valid, unique compatible)\n");
			return -EINVAL;
		}
		part->fdt = fdt;
		part->node = node;
		part->scope = scope;
		list_add_tail(&part->list, parts);
	}
	return 0;
}

struct fdbox_in_part *fdbox_in_part_find(struct list_head *parts,
					 const char *compatible, const void *scope)
{
	struct fdbox_in_part *part;

	list_for_each_entry(part, parts, list) {
		if (part->scope == scope && !strcmp(part->compatible, compatible))
			return part;
	}
	return NULL;
}

/* The last item using @part is done: let its driver release it. */
void fdbox_in_part_put(struct fdbox_in_part *part)
{
	struct fdbox_participant *p;

	if (--part->users)
		return;
	p = fdbox_part_registered(part->compatible);
	if (p && p->finish)
		p->finish(part->fdt, part->node);
	else
		pr_warn("participant %s: no driver here to release it; its memory stays reserved until the next kexec\n",
			part->compatible);
	list_del(&part->list);
	kfree(part);
}

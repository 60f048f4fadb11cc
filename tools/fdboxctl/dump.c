// SPDX-License-Identifier: GPL-2.0
/*
 * fdboxctl dump [--in | --out]: the handover FDT (from KHO's debugfs),
 * as a tree, with KHO's memory map and fdbox's nodes decoded. fdbox's
 * sessions (format 2) are in a tree of their own, outside KHO's FDT:
 * for --in it is read from fdbox's debugfs and shown under "fdbox".
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libfdt.h>

#include "main.h"

/* Little-endian records, as include/linux/kho_abi.h and fdbox_abi.h define. */
struct le_pair {
	uint64_t a, b;
};

static void *read_file(const char *path, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	FILE *f = fopen(path, "r");
	size_t got;

	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			char *bigger = realloc(buf, cap *= 2);

			if (!bigger) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = bigger;
		}
	}
	fclose(f);
	*len = n;
	return buf;
}

/* --in: the incoming sessions' tree, or NULL (format 1, or all finished). */
static void *in_tree;

static bool is_string(const char *name)
{
	return !strcmp(name, "compatible") || !strcmp(name, "name") ||
	       !strcmp(name, "label") || !strcmp(name, "memfd-name");
}

static bool is_u64(const char *name)
{
	return !strcmp(name, "size") || !strcmp(name, "preserved") ||
	       !strcmp(name, "metadata");
}

static bool is_u32(const char *name)
{
	return !strcmp(name, "memfd-seals") || !strcmp(name, "memfd-mode");
}

/* Arrays of 16-byte little-endian records: "what" names the fields. */
static void show_pairs(const char *name, const void *val, int len, int indent)
{
	const struct le_pair *p = val;
	int i, n = len / 16;
	bool order_in_a = strcmp(name, "scratch") && strcmp(name, "memfd-blocks");
	bool runs = !strcmp(name, "memfd-runs");

	if (json_output) {
		jsonw_name(json_wtr, name);
		jsonw_start_array(json_wtr);
	} else {
		printf("%*s%s: %d records\n", indent, "", name, n);
	}
	for (i = 0; i < n; i++) {
		uint64_t a = le64toh(p[i].a), b = le64toh(p[i].b);
		/*
		 * Low bits: the order; for memfd runs also 0x40, "going down",
		 * and bits 7-11, its chunk shift.
		 */
		uint64_t addr = order_in_a ? a & ~(runs ? 0xfffULL : 0x3fULL) : a;
		unsigned int order = order_in_a ? a & 0x3f : 0;
		bool down = runs && (a & 0x40);
		unsigned int chunk = 1U << ((a >> 7) & 0x1f);

		if (json_output) {
			jsonw_start_object(json_wtr);
			jsonw_uint_field(json_wtr, "phys", addr);
			if (order_in_a)
				jsonw_uint_field(json_wtr, "order", order);
			if (runs) {
				jsonw_uint_field(json_wtr, "index", b & ((1ULL << 40) - 1));
				jsonw_uint_field(json_wtr, "folios", (b >> 40) + 1);
				jsonw_bool_field(json_wtr, "down", down);
				if (down)
					jsonw_uint_field(json_wtr, "chunk", chunk);
			} else if (!strcmp(name, "memfd-blocks")) {
				jsonw_uint_field(json_wtr, "runs", b & 0xffffffff);
			} else {
				jsonw_uint_field(json_wtr, "size", b);
			}
			jsonw_end_object(json_wtr);
			continue;
		}
		if (i == 16 && n > 20) {
			printf("%*s  ... %d more\n", indent, "", n - 16);
			i = n - 4;
		}
		if (runs)
			printf("%*s  phys 0x%llx order %u index %llu folios %llu%s%.0u\n",
			       indent, "", (unsigned long long)addr, order,
			       (unsigned long long)(b & ((1ULL << 40) - 1)),
			       (unsigned long long)(b >> 40) + 1,
			       down ? (chunk > 1 ? " down, chunks of " : " down") : "",
			       down && chunk > 1 ? chunk : 0);
		else if (!strcmp(name, "memfd-blocks"))
			printf("%*s  block 0x%llx runs %llu\n", indent, "",
			       (unsigned long long)addr, (unsigned long long)(b & 0xffffffff));
		else
			printf("%*s  0x%llx order %u size 0x%llx\n", indent, "",
			       (unsigned long long)addr, order, (unsigned long long)b);
	}
	if (json_output)
		jsonw_end_array(json_wtr);
}

static void show_prop(const char *name, const void *val, int len, int indent)
{
	if (is_string(name) && len > 0 && ((const char *)val)[len - 1] == 0) {
		if (json_output)
			jsonw_string_field(json_wtr, name, val);
		else
			printf("%*s%s: \"%s\"\n", indent, "", name, (const char *)val);
	} else if (is_u64(name) && len == 8) {
		uint64_t v = fdt64_to_cpu(*(const fdt64_t *)val);

		if (json_output)
			jsonw_uint_field(json_wtr, name, v);
		else
			printf("%*s%s: %llu\n", indent, "", name, (unsigned long long)v);
	} else if (is_u32(name) && len == 4) {
		uint32_t v = fdt32_to_cpu(*(const fdt32_t *)val);

		if (json_output)
			jsonw_uint_field(json_wtr, name, v);
		else
			printf("%*s%s: 0x%x\n", indent, "", name, v);
	} else if (len % 16 == 0 && (!strcmp(name, "preserved-extents") ||
		   !strcmp(name, "scratch") || !strcmp(name, "memfd-runs") ||
		   !strcmp(name, "memfd-blocks"))) {
		show_pairs(name, val, len, indent);
	} else if (json_output) {
		jsonw_uint_field(json_wtr, name, len);	/* opaque: its size */
	} else {
		printf("%*s%s: <%d bytes>\n", indent, "", name, len);
	}
}

static void show_node(const void *fdt, int node, int indent)
{
	const char *name = fdt_get_name(fdt, node, NULL);
	int prop, child;

	if (json_output) {
		jsonw_name(json_wtr, *name ? name : "/");
		jsonw_start_object(json_wtr);
	} else {
		printf("%*s%s {\n", indent, "", *name ? name : "/");
	}
	fdt_for_each_property_offset(prop, fdt, node) {
		const char *pname;
		const void *val;
		int len;

		val = fdt_getprop_by_offset(fdt, prop, &pname, &len);
		if (val)
			show_prop(pname, val, len, indent + 4);
	}
	fdt_for_each_subnode(child, fdt, node)
		show_node(fdt, child, indent + 4);
	if (in_tree && fdt != in_tree && !strcmp(name, "fdbox") &&
	    fdt_getprop(fdt, node, "tree", NULL)) {
		fdt_for_each_subnode(child, in_tree, 0)
			show_node(in_tree, child, indent + 4);
	}
	if (json_output)
		jsonw_end_object(json_wtr);
	else
		printf("%*s}\n", indent, "");
}

int do_dump(int argc, char **argv)
{
	bool in = true;
	const char *path;
	size_t len = 0;
	void *fdt;
	int err;

	if (argc == 1 && !strcmp(argv[0], "--out"))
		in = false;
	else if (argc > 1 || (argc == 1 && strcmp(argv[0], "--in")))
		return usage_err("dump takes --in or --out");
	path = in ? KHO_DEBUGFS "/in/fdt" : KHO_DEBUGFS "/out/fdt";
	fdt = read_file(path, &len);
	if (!fdt && in && errno == ENOENT && !access(KHO_DEBUGFS, F_OK)) {
		p_err("no handover was received in this boot");
		return EXIT_ERROR;
	}
	if (!fdt) {
		p_err("cannot read %s: %s (is debugfs mounted, and KHO on?)", path,
		      strerror(errno));
		return EXIT_ERROR;
	}
	if (!len) {
		p_err(in ? "no handover was received in this boot" :
			   "nothing is preserved yet");
		free(fdt);
		return EXIT_ERROR;
	}
	err = fdt_check_full(fdt, len);
	if (err) {
		p_err("%s is not a valid FDT: %s", path, fdt_strerror(err));
		free(fdt);
		return EXIT_ERROR;
	}
	if (in) {
		size_t tlen = 0;

		in_tree = read_file(FDBOX_IN_TREE, &tlen);
		if (in_tree && (!tlen || fdt_check_full(in_tree, tlen))) {
			free(in_tree);
			in_tree = NULL;
		}
	}
	if (json_output)
		jsonw_start_object(json_wtr);
	show_node(fdt, 0, 0);
	if (json_output)
		jsonw_end_object(json_wtr);
	free(in_tree);
	free(fdt);
	return EXIT_OK;
}

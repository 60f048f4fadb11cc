// SPDX-License-Identifier: GPL-2.0
/*
 * A small streaming JSON writer. It keeps a stack of "first element yet?"
 * flags, one per open object or array, to place commas; pretty mode
 * indents by four spaces.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "json_writer.h"

#define JSONW_DEPTH 32

struct json_writer {
	FILE *f;
	bool pretty;
	unsigned int depth;
	bool first[JSONW_DEPTH];
	bool after_name;	/* a value follows "name": without comma */
};

struct json_writer *jsonw_new(FILE *f, bool pretty)
{
	struct json_writer *w = calloc(1, sizeof(*w));

	if (w) {
		w->f = f;
		w->pretty = pretty;
		w->first[0] = true;
	}
	return w;
}

void jsonw_destroy(struct json_writer **w)
{
	if (!*w)
		return;
	fputc('\n', (*w)->f);
	fflush((*w)->f);
	free(*w);
	*w = NULL;
}

static void jsonw_indent(struct json_writer *w)
{
	unsigned int i;

	if (!w->pretty)
		return;
	fputc('\n', w->f);
	for (i = 0; i < w->depth; i++)
		fputs("    ", w->f);
}

/* Separator before an element of the current container. */
static void jsonw_sep(struct json_writer *w)
{
	if (w->after_name) {
		w->after_name = false;
		return;
	}
	if (!w->first[w->depth])
		fputc(',', w->f);
	if (w->depth)
		jsonw_indent(w);
	w->first[w->depth] = false;
}

static void jsonw_quoted(struct json_writer *w, const char *s)
{
	fputc('"', w->f);
	for (; *s; s++) {
		unsigned char c = *s;

		switch (c) {
		case '"':
			fputs("\\\"", w->f);
			break;
		case '\\':
			fputs("\\\\", w->f);
			break;
		case '\n':
			fputs("\\n", w->f);
			break;
		case '\t':
			fputs("\\t", w->f);
			break;
		default:
			if (c < 0x20)
				fprintf(w->f, "\\u%04x", c);
			else
				fputc(c, w->f);
		}
	}
	fputc('"', w->f);
}

void jsonw_name(struct json_writer *w, const char *name)
{
	jsonw_sep(w);
	jsonw_quoted(w, name);
	fputs(w->pretty ? ": " : ":", w->f);
	w->after_name = true;
}

static void jsonw_open(struct json_writer *w, char c)
{
	jsonw_sep(w);
	fputc(c, w->f);
	if (w->depth + 1 < JSONW_DEPTH)
		w->depth++;
	w->first[w->depth] = true;
}

static void jsonw_close(struct json_writer *w, char c)
{
	bool empty = w->first[w->depth];

	if (w->depth)
		w->depth--;
	if (!empty)
		jsonw_indent(w);
	fputc(c, w->f);
}

void jsonw_start_object(struct json_writer *w) { jsonw_open(w, '{'); }
void jsonw_end_object(struct json_writer *w) { jsonw_close(w, '}'); }
void jsonw_start_array(struct json_writer *w) { jsonw_open(w, '['); }
void jsonw_end_array(struct json_writer *w) { jsonw_close(w, ']'); }

void jsonw_string(struct json_writer *w, const char *s)
{
	jsonw_sep(w);
	jsonw_quoted(w, s);
}

void jsonw_uint(struct json_writer *w, uint64_t v)
{
	jsonw_sep(w);
	fprintf(w->f, "%" PRIu64, v);
}

void jsonw_int(struct json_writer *w, int64_t v)
{
	jsonw_sep(w);
	fprintf(w->f, "%" PRId64, v);
}

void jsonw_bool(struct json_writer *w, bool v)
{
	jsonw_sep(w);
	fputs(v ? "true" : "false", w->f);
}

void jsonw_null(struct json_writer *w)
{
	jsonw_sep(w);
	fputs("null", w->f);
}

void jsonw_string_field(struct json_writer *w, const char *name, const char *s)
{
	jsonw_name(w, name);
	jsonw_string(w, s);
}

void jsonw_uint_field(struct json_writer *w, const char *name, uint64_t v)
{
	jsonw_name(w, name);
	jsonw_uint(w, v);
}

void jsonw_int_field(struct json_writer *w, const char *name, int64_t v)
{
	jsonw_name(w, name);
	jsonw_int(w, v);
}

void jsonw_bool_field(struct json_writer *w, const char *name, bool v)
{
	jsonw_name(w, name);
	jsonw_bool(w, v);
}

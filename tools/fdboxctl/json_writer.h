/* SPDX-License-Identifier: GPL-2.0 */
/* A small streaming JSON writer: one for every command of fdboxctl. */
#ifndef FDBOXCTL_JSON_WRITER_H
#define FDBOXCTL_JSON_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct json_writer;

struct json_writer *jsonw_new(FILE *f, bool pretty);
void jsonw_destroy(struct json_writer **w);
void jsonw_name(struct json_writer *w, const char *name);
void jsonw_start_object(struct json_writer *w);
void jsonw_end_object(struct json_writer *w);
void jsonw_start_array(struct json_writer *w);
void jsonw_end_array(struct json_writer *w);
void jsonw_string(struct json_writer *w, const char *s);
void jsonw_uint(struct json_writer *w, uint64_t v);
void jsonw_int(struct json_writer *w, int64_t v);
void jsonw_bool(struct json_writer *w, bool v);
void jsonw_null(struct json_writer *w);

/* "name": value in one call. */
void jsonw_string_field(struct json_writer *w, const char *name, const char *s);
void jsonw_uint_field(struct json_writer *w, const char *name, uint64_t v);
void jsonw_int_field(struct json_writer *w, const char *name, int64_t v);
void jsonw_bool_field(struct json_writer *w, const char *name, bool v);

#endif

/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fdbox tracepoints: the start and end of each step of a live update, so
 * that the time of a deposit, a finalize, the kexec-time freeze and a
 * retrieve can be read off a trace.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM fdbox

#if !defined(_TRACE_FDBOX_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_FDBOX_H

#include <linux/tracepoint.h>

DECLARE_EVENT_CLASS(fdbox_item_start,
		    TP_PROTO(const char *session, const char *label),
		    TP_ARGS(session, label),
		    TP_STRUCT__entry(__string(session, session)
				     __string(label, label)),
		    TP_fast_assign(__assign_str(session);
				   __assign_str(label);),
		    TP_printk("session=%s label=%s", __get_str(session), __get_str(label))
);

DECLARE_EVENT_CLASS(fdbox_item_end,
		    TP_PROTO(const char *session, const char *label, int err),
		    TP_ARGS(session, label, err),
		    TP_STRUCT__entry(__string(session, session)
				     __string(label, label)
				     __field(int, err)),
		    TP_fast_assign(__assign_str(session);
				   __assign_str(label);
				   __entry->err = err;),
		    TP_printk("session=%s label=%s err=%d", __get_str(session),
			      __get_str(label), __entry->err)
);

DEFINE_EVENT(fdbox_item_start, fdbox_deposit_start,
	     TP_PROTO(const char *session, const char *label),
	     TP_ARGS(session, label));

DEFINE_EVENT(fdbox_item_end, fdbox_deposit_end,
	     TP_PROTO(const char *session, const char *label, int err),
	     TP_ARGS(session, label, err));

DEFINE_EVENT(fdbox_item_start, fdbox_retrieve_start,
	     TP_PROTO(const char *session, const char *label),
	     TP_ARGS(session, label));

DEFINE_EVENT(fdbox_item_end, fdbox_retrieve_end,
	     TP_PROTO(const char *session, const char *label, int err),
	     TP_ARGS(session, label, err));

TRACE_EVENT(fdbox_finalize_start,
	    TP_PROTO(const char *session, unsigned int nr_items),
	    TP_ARGS(session, nr_items),
	    TP_STRUCT__entry(__string(session, session)
			     __field(unsigned int, nr_items)),
	    TP_fast_assign(__assign_str(session);
			   __entry->nr_items = nr_items;),
	    TP_printk("session=%s items=%u", __get_str(session), __entry->nr_items)
);

TRACE_EVENT(fdbox_finalize_end,
	    TP_PROTO(const char *session, int err),
	    TP_ARGS(session, err),
	    TP_STRUCT__entry(__string(session, session)
			     __field(int, err)),
	    TP_fast_assign(__assign_str(session);
			   __entry->err = err;),
	    TP_printk("session=%s err=%d", __get_str(session), __entry->err)
);

/* The kexec-time freeze of every session and the build of the FDT. */
TRACE_EVENT(fdbox_handover_start,
	    TP_PROTO(unsigned int nr_sessions),
	    TP_ARGS(nr_sessions),
	    TP_STRUCT__entry(__field(unsigned int, nr_sessions)),
	    TP_fast_assign(__entry->nr_sessions = nr_sessions;),
	    TP_printk("sessions=%u", __entry->nr_sessions)
);

TRACE_EVENT(fdbox_handover_end,
	    TP_PROTO(unsigned int nr_items, int err),
	    TP_ARGS(nr_items, err),
	    TP_STRUCT__entry(__field(unsigned int, nr_items)
			     __field(int, err)),
	    TP_fast_assign(__entry->nr_items = nr_items;
			   __entry->err = err;),
	    TP_printk("items=%u err=%d", __entry->nr_items, __entry->err)
);

/* A retrieved memfd taking its folios back (fs/fdbox/memfd_fill.c). */
TRACE_EVENT(fdbox_fill_start,
	    TP_PROTO(unsigned long ino, unsigned long nr_folios),
	    TP_ARGS(ino, nr_folios),
	    TP_STRUCT__entry(__field(unsigned long, ino)
			     __field(unsigned long, nr_folios)),
	    TP_fast_assign(__entry->ino = ino;
			   __entry->nr_folios = nr_folios;),
	    TP_printk("ino=%lu folios=%lu", __entry->ino, __entry->nr_folios)
);

TRACE_EVENT(fdbox_fill_end,
	    TP_PROTO(unsigned long ino, unsigned long on_demand, unsigned long lost),
	    TP_ARGS(ino, on_demand, lost),
	    TP_STRUCT__entry(__field(unsigned long, ino)
			     __field(unsigned long, on_demand)
			     __field(unsigned long, lost)),
	    TP_fast_assign(__entry->ino = ino;
			   __entry->on_demand = on_demand;
			   __entry->lost = lost;),
	    TP_printk("ino=%lu on_demand=%lu lost=%lu", __entry->ino,
		      __entry->on_demand, __entry->lost)
);

#endif /* _TRACE_FDBOX_H */

/* This part must be outside protection */
#include <trace/define_trace.h>

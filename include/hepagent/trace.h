/* The console trace (-A): each matched SIP message printed readably, with a
 * header line (time, transport, addresses, size), the text with real line
 * breaks, color per Call-ID on a terminal; or one line per message
 * (--summary); and a per-call summary at exit. Nothing from the wire reaches
 * the terminal unescaped: control bytes and invalid UTF-8 are shown as \xNN,
 * so no escape sequence can be injected. */
#ifndef HEPAGENT_TRACE_H
#define HEPAGENT_TRACE_H

#include <stdint.h>
#include <stdio.h>

#include "hepagent/packet.h"
#include "hepagent/qos.h"
#include "hepagent/rtcp.h"
#include "hepagent/sip.h"

typedef struct trace_options {
    int color;           /* ANSI colors */
    int summary;         /* one line per message */
    int call_summary;    /* per-call summary at exit */
    const char *call_id; /* only this Call-ID */
    const char *method;  /* only this method (responses: their CSeq method) */
    const char *from;    /* only messages whose From contains this (case-insensitive) */
    const char *to;      /* likewise To */
} trace_options_t;

typedef struct trace trace_t;

trace_t *trace_new(const trace_options_t *opts, FILE *out);
void trace_free(trace_t *t);

/* Whether the trace filters (--call-id, --method, --from, --to) let the
 * message through. */
int trace_wants(const trace_t *t, const sip_msg_t *sip);
/* Prints one message. */
void trace_message(trace_t *t, const packet_t *pkt, unsigned transport, const uint8_t *data,
                   size_t len, const sip_msg_t *sip, uint64_t ts_sec, uint32_t ts_usec);
/* One line under its call for an RTCP packet, and for a QoS report (whose
 * MOS the call summary keeps per direction). Only calls the trace showed a
 * message of get them, so the console filters apply. */
void trace_rtcp(trace_t *t, const packet_t *pkt, ha_bytes_t call_id, const rtcp_info_t *info);
void trace_qos(trace_t *t, const qos_report_t *r);
/* The per-call summary. */
void trace_print_calls(trace_t *t);

/* Writes len bytes of wire text to out, escaped for a terminal: printable
 * ASCII and valid UTF-8 above U+009F as they are, CRLF and LF as line
 * breaks, tab as is, everything else as \xNN. Exposed for the tests. */
void trace_escape(FILE *out, const uint8_t *data, size_t len);

#endif

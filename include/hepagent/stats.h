/* Counters for everything that happens to a frame or a message. Bad input is
 * counted here, by reason, instead of being logged. Every module reports its
 * counters through one visitor, so the same values feed the "name value"
 * text of --stats and SIGUSR1 and any other rendering (metrics, JSON). */
#ifndef HEPAGENT_STATS_H
#define HEPAGENT_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "hepagent/decode.h"

#define STATS_COUNTERS(X)                                                                          \
    X(frames, "frames read from all capture sources")                                              \
    X(frame_bytes, "bytes of those frames as captured")                                            \
    X(sip_messages, "SIP messages found")                                                          \
    X(sip_not_sip, "UDP/TCP payloads that are not SIP")                                            \
    X(sip_invalid, "SIP start lines without Call-ID or CSeq, not sent")                            \
    X(sip_keepalives, "CRLF keep-alives skipped")                                                  \
    X(sip_truncated, "SIP messages cut by the snaplen, not sent")                                  \
    X(rules_sent, "messages matched by a send rule")                                               \
    X(rules_dropped, "messages matched by a drop rule")                                            \
    X(rules_unmatched, "messages no rule matched")                                                 \
    X(hep_too_big, "messages whose HEP packet would exceed 65507 bytes")                           \
    X(hep_packets, "HEP packets handed to the collectors")

typedef struct stats {
#define STATS_FIELD(name, help) uint64_t name;
    STATS_COUNTERS(STATS_FIELD)
#undef STATS_FIELD
    uint64_t decode[DECODE_RESULT_COUNT];
} stats_t;

/* A counter only grows; a gauge is a level (queue depth, memory, table size). */
typedef enum { STATS_COUNTER = 0, STATS_GAUGE } stats_kind_t;

/* One reported value. name is dotted, group first ("tcp.streams_evicted",
 * "collector.sent"); label/instance name the instance of a group that has
 * several ("collector" = "udp://10.0.0.5:9060"), both NULL otherwise. */
typedef struct stats_value {
    const char *name;
    const char *label;
    const char *instance;
    stats_kind_t kind;
    uint64_t value;
    const char *help;
} stats_value_t;

typedef struct stats_visitor {
    void (*visit)(void *ctx, const stats_value_t *v);
    void *ctx;
} stats_visitor_t;

static inline void stats_emit(const stats_visitor_t *v, const char *name, const char *label,
                              const char *instance, stats_kind_t kind, uint64_t value,
                              const char *help)
{
    stats_value_t sv = {name, label, instance, kind, value, help};
    v->visit(v->ctx, &sv);
}

/* The global counters, then decode results by reason. */
void stats_visit(const stats_t *stats, const stats_visitor_t *v);

/* The text form: "prefix name value\n", an instance in brackets after the
 * group ("collector[udp://10.0.0.5:9060].sent 12"). */
typedef struct stats_text {
    FILE *out;
    const char *prefix;
} stats_text_t;
void stats_text_visit(void *ctx, const stats_value_t *v);

#endif

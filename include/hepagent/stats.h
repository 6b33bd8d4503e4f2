/* Counters for everything that happens to a frame or a message. Bad input is
 * counted here, by reason, instead of being logged. Printed with --stats at
 * exit and on SIGUSR1, one "name value" line each. */
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

/* Writes each counter as "prefix name value\n"; decode results by reason
 * (only those seen, except "ok"). */
void stats_print(const stats_t *stats, FILE *out, const char *prefix);

#endif

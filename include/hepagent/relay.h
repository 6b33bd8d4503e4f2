/* The relay: HEP received from SIP servers and other agents goes through
 * the same rules, de-duplication, redaction, console and delivery as
 * captured SIP. Its SIP is matched like captured SIP (ports, hosts,
 * transport and method from the HEP chunks and the payload), everything by
 * rules[].inputs and rules[].proto_types; what a rule sends is rewritten as
 * it says and leaves with every chunk hepagent does not know intact.
 *
 * Loops: each relay adds its id (random, per process) to hepagent's relay
 * path chunk (vendor 0x4841, see hepin.h) of what it relays, and drops what
 * already carries its id, or the ids of HEPIN_MAX_HOPS relays. Captured
 * packets carry no path, so a loop A -> B -> A of a packet A captured ends
 * when it reaches B the second time. */
#ifndef HEPAGENT_RELAY_H
#define HEPAGENT_RELAY_H

#include <stdint.h>

#include "hepagent/config.h"
#include "hepagent/dedup.h"
#include "hepagent/hepin.h"
#include "hepagent/input.h"
#include "hepagent/pipeline.h"
#include "hepagent/redact.h"
#include "hepagent/sender.h"
#include "hepagent/stats.h"

#define RELAY_COUNTERS(X)                                                                          \
    X(received, "packets from the inputs that passed every check")                                 \
    X(loops, "packets this relay had relayed before: dropped")                                     \
    X(too_many_hops, "packets already relayed by 16 relays: dropped as a loop")                    \
    X(sip_unparsed, "packets of protocol type 1 whose payload is not SIP with Call-ID and CSeq")   \
    X(inflate_failed, "compressed payloads (0x0010) that do not inflate")                          \
    X(unmatched, "packets no rule matched")                                                        \
    X(dropped, "packets matched by a drop rule")                                                   \
    X(duplicates, "packets seen within the dedup window: not sent")                                \
    X(redact_failed, "packets of a redacting rule that could not be redacted: not sent")           \
    X(too_big, "packets too big once rewritten: not sent")                                         \
    X(sent, "packets handed to the collectors")

typedef struct relay_stats {
#define RELAY_FIELD(name, help) uint64_t name;
    RELAY_COUNTERS(RELAY_FIELD)
#undef RELAY_FIELD
} relay_stats_t;

typedef struct relay {
    const config_t *cfg;          /* the running config; swapped on reload */
    sender_t *sender;             /* NULL: console only */
    pipeline_t *console;          /* -A, -w, --count: shared with the capture */
    dedup_t *dedup;               /* NULL: off */
    redact_stats_t *redact_stats; /* shared with the capture */
    uint32_t id;                  /* this relay in relay paths; never 0 */
    relay_stats_t st;
    uint8_t inflated[HEP_MAX_PACKET];
    uint8_t redacted[HEP_MAX_PACKET];
    uint8_t out[HEP_MAX_PACKET];
} relay_t;

/* Sets up r (fields above filled by the caller afterwards) with a fresh id. */
void relay_init(relay_t *r, const config_t *cfg, sender_t *sender);
/* The input callback. */
void relay_packet(void *ctx, const input_t *in, const hepin_packet_t *p);
void relay_visit_stats(const relay_t *r, const stats_visitor_t *v);

#endif

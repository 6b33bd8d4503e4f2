/* De-duplication: the same SIP message seen twice within a short window
 * (on two interfaces, two mirror ports, or relayed by two sources) is sent
 * once, while a real retransmission, the same bytes later than the window
 * (SIP over UDP retransmits after 500 ms at the earliest), is still sent.
 *
 * A message is its HEP protocol type, IP protocol, addresses, ports and
 * payload bytes (not the VLAN: two mirror ports may tag differently),
 * reduced to a keyed 64-bit hash. Times are capture times (the HEP
 * timestamp of what is relayed), so a file replay dedups as the live
 * capture did, and copies may come in either order. The table is fixed:
 * buckets of eight slots; an entry older than the window is free again, and
 * when a bucket holds only live entries the oldest goes (counted). */
#ifndef HEPAGENT_DEDUP_H
#define HEPAGENT_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/common.h"
#include "hepagent/stats.h"

typedef struct dedup_options {
    uint32_t window_ms;   /* 0: de-duplication off */
    uint32_t max_entries; /* 0: DEDUP_DEFAULT_ENTRIES */
} dedup_options_t;

enum { DEDUP_DEFAULT_WINDOW_MS = 50, DEDUP_DEFAULT_ENTRIES = 65536, DEDUP_SLOTS = 8 };

#define DEDUP_COUNTERS(X)                                                                          \
    X(checked, "messages looked up")                                                               \
    X(duplicates, "messages seen again within window_ms: not sent")                                \
    X(retransmissions, "messages seen again later than window_ms: sent")                           \
    X(evicted_live, "entries still inside the window pushed out by a full bucket")

typedef struct dedup_stats {
#define DEDUP_FIELD(name, help) uint64_t name;
    DEDUP_COUNTERS(DEDUP_FIELD)
#undef DEDUP_FIELD
} dedup_stats_t;

/* What identifies a message. */
typedef struct dedup_key {
    uint8_t proto_type;
    uint8_t ip_proto;
    uint8_t ip_version;
    const uint8_t *src_addr, *dst_addr; /* 4 or 16 bytes */
    uint16_t src_port, dst_port;
    ha_bytes_t payload;
} dedup_key_t;

typedef struct dedup dedup_t;

dedup_t *dedup_new(const dedup_options_t *o);
void dedup_free(dedup_t *d);
/* A reload: a new window applies at once; a new size empties the table. */
int dedup_reconfigure(dedup_t *d, const dedup_options_t *o);

/* 1 when the message was seen within the window (do not send it), 0
 * otherwise; either way it is remembered at ts. */
int dedup_seen(dedup_t *d, const dedup_key_t *k, uint64_t ts_sec, uint32_t ts_usec);

const dedup_stats_t *dedup_stats(const dedup_t *d);
size_t dedup_memory(const dedup_t *d);
void dedup_visit_stats(const dedup_t *d, const stats_visitor_t *v);

#endif

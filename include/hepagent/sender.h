/* Delivery of HEP packets to the collectors: one bounded queue per collector,
 * UDP sent in batches with sendmmsg, TCP written with writev and reconnected
 * with exponential backoff. All I/O is non-blocking on the libuv loop; the
 * capture path only ever copies into a queue. */
#ifndef HEPAGENT_SENDER_H
#define HEPAGENT_SENDER_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "hepagent/config.h"
#include "hepagent/hep.h"
#include "hepagent/stats.h"

typedef struct sender sender_t;

enum {
    SENDER_QUEUE_BYTES = 8 << 20, /* per collector */
    SENDER_QUEUE_PACKETS = 65536, /* per collector */
    SENDER_BATCH = 64,            /* datagrams per sendmmsg */
    SENDER_CONNECT_TIMEOUT_MS = 5000,
    SENDER_BACKOFF_MIN_MS = 100,
    SENDER_BACKOFF_MAX_MS = 30000,
};

int sender_create(uv_loop_t *loop, const config_t *cfg, stats_t *stats, sender_t **out, char *err,
                  size_t errlen);
/* Applies a reloaded config: collectors with an unchanged URL and options keep
 * their connection and queue; new ones start, removed ones are closed. */
int sender_reconfigure(sender_t *s, const config_t *cfg, char *err, size_t errlen);

/* Encodes msg (compressed for the collectors that asked for it) and queues it
 * for every collector. Returns 0, or HA_ETOOBIG (counted) when it exceeds the
 * UDP limit. */
int sender_submit(sender_t *s, const hep_msg_t *msg);

/* Packets queued in all collectors. */
size_t sender_pending(const sender_t *s);
/* Whether any collector's queue is more than half full while the collector
 * is connected: file sources pause reading on it instead of dropping. */
int sender_backlogged(const sender_t *s);
/* Counts what is still queued as dropped at shutdown; returns that number. */
uint64_t sender_abandon(sender_t *s);
/* Closes everything; the loop must run once more to release handles. */
void sender_destroy(sender_t *s);

void sender_print_stats(const sender_t *s, FILE *out, const char *prefix);

#endif

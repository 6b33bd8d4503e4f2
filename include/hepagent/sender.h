/* Delivery of HEP packets to the collectors. Each collector has a bounded
 * queue (packets and bytes), optionally overflowing to an on-disk spool;
 * UDP datagrams leave in sendmmsg batches, TCP and TLS bytes in coalesced
 * writes, reconnected with exponential backoff and jitter. TCP bytes stay
 * queued until the collector's TCP acknowledged them, so a broken
 * connection resends what did not arrive. Modes: every collector (all),
 * the first healthy one (failover), or one per Call-ID (hash); in the last
 * two, what a collector that turns unhealthy holds is handed over to the
 * ones that take its traffic. The capture path only ever copies into a
 * queue. */
#ifndef HEPAGENT_SENDER_H
#define HEPAGENT_SENDER_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "hepagent/config.h"
#include "hepagent/hep.h"
#include "hepagent/pcapout.h"
#include "hepagent/stats.h"

typedef struct sender sender_t;

enum {
    SENDER_BATCH = 64,               /* datagrams per sendmmsg */
    SENDER_HOUSEKEEPING_MS = 50,     /* acknowledgement and spool checks */
    SENDER_STALL_MS = 5000,          /* a collector that takes nothing this long is unhealthy */
    SENDER_CLOGGED_MS = 200,         /* so is one with a full queue and a closed window */
    SENDER_TLS_VERDICT_MIN_MS = 500, /* least wait for a TLS 1.3 verdict on our certificate */
    SENDER_DRAIN_RETRY_MS = 100,     /* draining: the longest wait between reconnects */
    SENDER_DRAIN_LAST_MS = 100,      /* draining: the last reconnect, before the deadline */
    SENDER_DRAIN_CONNECT_MS = 1000,  /* draining: connect and TLS handshake timeout */
};

int sender_create(uv_loop_t *loop, const config_t *cfg, stats_t *stats, sender_t **out, char *err,
                  size_t errlen);
/* Applies a reloaded config: collectors whose settings did not change keep
 * their connection and queue; new ones start, removed ones are closed. */
int sender_reconfigure(sender_t *s, const config_t *cfg, char *err, size_t errlen);
/* Checks collector settings that need files (TLS certificates, spool
 * directory) without starting anything, for --check. */
int sender_check(const config_t *cfg, char *err, size_t errlen);

/* Encodes msg (compressed for the collectors that asked for it) and queues
 * it as the delivery mode says. Returns 0, or HA_ETOOBIG (counted). */
int sender_submit(sender_t *s, const hep_msg_t *msg);

/* A packet already encoded (relayed): queued as it is, except for the
 * collectors that compress, which get the payload chunk at payload_off
 * (0x000f; 0: leave it) as 0x0010. correlation_id picks the collector in
 * hash mode. Returns 0, or HA_ETOOBIG (counted). */
typedef struct sender_raw {
    const uint8_t *pkt;
    size_t len;
    size_t payload_off;
    ha_bytes_t correlation_id;
} sender_raw_t;
int sender_submit_raw(sender_t *s, const sender_raw_t *raw);

/* --hep-pcap: every HEP packet queued is also written there, as a UDP frame
 * to its collector (to 127.0.0.1:9060 when there is none). */
void sender_set_hep_pcap(sender_t *s, pcap_out_t *out);

/* The agent stops at deadline_ms (loop time) and gives the queues until
 * then: reconnects come at least every SENDER_DRAIN_RETRY_MS and once more
 * SENDER_DRAIN_LAST_MS before the deadline, so a collector that comes up
 * inside the window is used. */
void sender_drain(sender_t *s, uint64_t deadline_ms);
/* Packets (and spools) that can still be delivered before shutdown. */
size_t sender_pending(sender_t *s);
/* Whether a connected collector's queue is more than half full: file
 * sources pause reading on it instead of dropping. */
int sender_backlogged(const sender_t *s);
/* What a stop left undelivered. */
typedef struct sender_leftover {
    uint64_t dropped;     /* packets lost (each collector's dropped_shutdown) */
    uint64_t spooled;     /* packets of this run the spools keep */
    uint64_t spool_bytes; /* what the spools keep for the next start, those included */
} sender_leftover_t;
/* At shutdown: spools what is left where a spool is configured, counts the
 * rest as dropped. */
void sender_abandon(sender_t *s, sender_leftover_t *left);
/* Closes everything; the loop must run once more to release handles. */
void sender_destroy(sender_t *s);

void sender_visit_stats(const sender_t *s, const stats_visitor_t *v);

#endif

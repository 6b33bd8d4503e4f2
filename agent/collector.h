/* One collector as the sender sees it (internal to sender.c, collector.c
 * and collector_queue.c): its queue, optional spool, and the state machine
 * of its connection (connect, TLS handshake, reconnect with backoff,
 * writes, acknowledgements, spool replay). Which collector gets a packet is
 * the sender's business; a collector only delivers what it was given. */
#ifndef HEPAGENT_AGENT_COLLECTOR_H
#define HEPAGENT_AGENT_COLLECTOR_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "hepagent/config.h"
#include "hepagent/hep.h"
#include "hepagent/queue.h"
#include "hepagent/spool.h"
#include "hepagent/stats.h"
#include "hepagent/tls.h"

#define COLLECTOR_COUNTERS(X)                                                                      \
    X(queued, "packets accepted for this collector")                                               \
    X(sent, "packets delivered (UDP: accepted by the kernel; TCP, TLS: acknowledged)")             \
    X(sent_bytes, "bytes of those packets")                                                        \
    X(dropped_queue_full, "packets dropped because the queue (and spool) was full")                \
    X(dropped_shutdown, "packets still queued when the agent stopped, not spooled")                \
    X(dropped_removed, "packets queued when a reload removed the collector")                       \
    X(send_errors, "packets the kernel refused (dropped)")                                         \
    X(unreachable, "ICMP port unreachable reports (UDP)")                                          \
    X(connects, "connections established (TCP, TLS)")                                              \
    X(reconnects, "connections established again after an earlier one (TCP, TLS)")                 \
    X(disconnects, "connections lost or attempts failed (TCP, TLS)")                               \
    X(tls_failures, "TLS handshakes that failed (certificate, protocol)")                          \
    X(retransmitted, "packets sent again after a connection broke before acknowledging them")      \
    X(spooled, "packets written to the spool")                                                     \
    X(replayed, "packets read back from the spool")                                                \
    X(spool_corrupt, "damaged spool records skipped")                                              \
    X(spool_dropped, "packets dropped because the spool was full or failed")                       \
    X(spool_evicted, "spooled packets lost with the oldest spool file (drop: oldest)")             \
    X(spooled_at_shutdown, "queued packets put in the spool at shutdown")                          \
    X(handed_over, "queued packets (unsent or unacknowledged) handed to the collectors that took " \
                   "over when this one turned unhealthy (failover, hash)")                         \
    X(reply_bytes, "bytes the collector sent back (ignored)")

typedef struct {
#define COLLECTOR_FIELD(name, help) uint64_t name;
    COLLECTOR_COUNTERS(COLLECTOR_FIELD)
#undef COLLECTOR_FIELD
} collector_stats_t;

typedef enum {
    COLLECTOR_IDLE,       /* waiting for the backoff timer */
    COLLECTOR_RESOLVING,  /* getaddrinfo in flight */
    COLLECTOR_CONNECTING, /* TCP connect in flight */
    COLLECTOR_HANDSHAKE,  /* TLS handshake in flight */
    COLLECTOR_UP,
    COLLECTOR_DRAINING, /* the collector closed its side: wait for its ACKs, then close */
} collector_state_t;

/* One socket and its poll handle; freed in the close callback, so a new
 * connection never reuses a handle libuv still holds. */
typedef struct {
    uv_poll_t poll;
    int fd;
    int events;
} collector_conn_t;

/* What the collectors of one sender share; the sender owns it. */
typedef struct {
    uv_loop_t *loop;
    delivery_config_t delivery;
    uint8_t *scratch; /* HEP_MAX_PACKET bytes, free between submits */
    int draining;     /* the agent is stopping: no wait may pass drain_deadline_ms */
    uint64_t drain_deadline_ms;
    uint64_t drain_stall_ms; /* draining: half the window */
} collector_env_t;

typedef struct collector {
    collector_env_t *env;
    collector_config_t cfg;
    collector_state_t state;
    collector_conn_t *conn;
    uv_timer_t timer;
    uv_getaddrinfo_t *resolve;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    queue_t queue;
    size_t written; /* stream: bytes from the queue's front handed to the kernel (TLS: to
                       tls_write, plaintext) */
    int blocked;    /* the last write would block: wait for POLLOUT */
    int tls_want;   /* TLS_WANT_* of the last TLS call */
    tls_ctx_t *tls_ctx;
    tls_conn_t *tls;
    spool_t *spool;
    uint32_t url_hash; /* for hash mode: the collector's identity, not its position */
    uint32_t backoff_ms;
    uint32_t stall_backoff_ms; /* how long a stalled collector is left alone; 0: not stalled */
    uint64_t up_since_ms;
    uint64_t last_progress_ms;
    int stalled; /* its queue filled up, nothing acknowledged: unhealthy */
    int healthy; /* as the sender last judged it: 1, 0, or 2 starting */
    uint64_t last_unreachable_ms;
    uint64_t handshake_start_ms;
    int awaiting_verdict; /* TLS 1.3: handshake done, the collector is judging our certificate */
    int was_up;           /* for logging state changes once, not every retry */
    int closing;
    int handles_open;
    collector_stats_t st;
} collector_t;

/* Checks the files a collector needs (TLS certificates, spool directory)
 * and opens them; both out-pointers are NULL where not configured. */
int collector_setup_files(const collector_config_t *cfg, const delivery_config_t *d,
                          tls_ctx_t **tls, spool_t **spool, char *err, size_t errlen);
/* A collector with its queue and files, already connecting. */
collector_t *collector_new(collector_env_t *env, const collector_config_t *cfg, char *err,
                           size_t errlen);
/* Closes it; it is freed once libuv released its handles. */
void collector_close(collector_t *col);

/* Takes a packet: into the queue, the spool, or dropped (counted). */
void collector_enqueue(collector_t *col, const uint8_t *pkt, size_t len);
/* Writes what the connection takes now (replaying from the spool first). */
void collector_flush(collector_t *col);
/* The housekeeping tick: acknowledgements, the spool, a closing peer. */
void collector_tick(collector_t *col);
/* Connected, reachable, and taking what waits. */
int collector_healthy(const collector_t *col, uint64_t now);
/* In its first connection attempt: what was queued for it waits for it. */
int collector_starting(const collector_t *col);
/* Whether a packet of len bytes finds no room because the collector stopped
 * reading: its queue is full, what the socket holds waits for its window
 * (nothing of ours is on the wire), and nothing was acknowledged for
 * SENDER_CLOGGED_MS. Marks it stalled: unhealthy until it acknowledges
 * something or reconnects. */
int collector_clogged(collector_t *col, size_t len, uint64_t now);
/* Nothing of ours is on the wire to it (or nothing was acknowledged for
 * SENDER_STALL_MS, half the window while draining): what it holds can go
 * elsewhere without arriving twice. */
int collector_settled(const collector_t *col, uint64_t now);
/* Before its queue is handed over: what its TCP acknowledged leaves as
 * sent; a connection that may still hold the rest is reset, so the kernel
 * drops those bytes; a stalled collector comes back after a hold-down. */
void collector_release(collector_t *col);
/* The agent began to stop (env->draining was just set): shortens the waits
 * that would pass the deadline. */
void collector_drain(collector_t *col);
/* Packets it can still deliver before shutdown. */
size_t collector_pending(collector_t *col);
/* At shutdown: spools what is left where a spool is configured, counts the
 * rest as dropped; returns the number dropped. *kept: the packets of this
 * run the spool keeps, those included. */
uint64_t collector_abandon(collector_t *col, uint64_t *kept);
void collector_visit_stats(const collector_t *col, const stats_visitor_t *v);

/* ---- between collector.c (the connection) and collector_queue.c (what
 * waits for it and how it leaves); not for the sender ---- */

static inline int collector_stream(const collector_t *col)
{
    return col->cfg.transport != COLLECTOR_UDP;
}
/* The connection broke or an attempt failed: closes it, makes what was
 * written and not acknowledged go again, and schedules a retry. */
void collector_fail(collector_t *col, const char *what, const char *why);
void collector_fail_errno(collector_t *col, const char *what, int err);
/* Polls the socket for what the state and a blocked write wait for. */
void collector_update_events(collector_t *col);
/* Pops the packets the collector's TCP acknowledged (counted as sent). */
void collector_reclaim(collector_t *col);
/* What was written and not acknowledged counts as unwritten again
 * (retransmitted when it goes). */
void collector_rewind(collector_t *col);

#endif

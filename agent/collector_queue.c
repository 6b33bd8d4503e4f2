/* What waits for a collector and how it leaves: the bounded queue, the
 * spool it overflows to and that is replayed into it, the writes that empty
 * it (sendmmsg batches for UDP, coalesced writes for TCP and TLS), and what
 * a stop does with what is left. What the kernel does not take stays
 * queued. For TCP and TLS, packets leave the queue only once the
 * collector's TCP acknowledged them (the socket's unacknowledged count,
 * SIOCOUTQ, which tls.c maps back to plaintext), so after a broken
 * connection the unacknowledged packets go again, whole, in order. */
#include "collector.h"
#include "hepagent/log.h"
#include "hepagent/sender.h"

#include <errno.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static void collector_replay(collector_t *col);

/* ---- delivered bytes -------------------------------------------------- */

/* Pops the packets the collector's TCP acknowledged. For TLS, tls.c tells
 * which plaintext the acknowledged ciphertext holds, whole records only. */
void collector_reclaim(collector_t *col)
{
    if (!collector_stream(col) || col->written == 0) return;
    size_t unacked = 0;
    if (col->conn) {
        int outq = 0;
        if (ioctl(col->conn->fd, SIOCOUTQ, &outq) == 0 && outq > 0) unacked = (size_t)outq;
    }
    if (col->cfg.transport == COLLECTOR_TLS)
        unacked = col->tls ? tls_unacknowledged(col->tls, unacked) : col->written;
    size_t acked = col->written > unacked ? col->written - unacked : 0;
    size_t len;
    uint64_t sent = col->st.sent;
    while (acked > 0 && queue_front(&col->queue, &len) && len <= acked) {
        acked -= len;
        col->written -= len;
        col->st.sent++;
        col->st.sent_bytes += len;
        queue_pop(&col->queue);
    }
    if (col->st.sent == sent) return;
    uint64_t now = uv_now(col->env->loop);
    col->last_progress_ms = now;
    col->stalled = 0;
    /* reading for a while on this connection: a next stall is a new one */
    if (now - col->up_since_ms >= SENDER_STALL_MS) col->stall_backoff_ms = 0;
}

/* Packets written but not known to have arrived go again on the next
 * connection, from the first one's start. They are counted by walking the
 * queue's two runs of back-to-back packets (more than a batch may wait). */
void collector_rewind(collector_t *col)
{
    if (col->written == 0) return;
    struct iovec iov[2];
    size_t n = queue_peek_bytes(&col->queue, 0, iov), covered = 0;
    for (size_t i = 0; i < n && covered < col->written; i++) {
        const uint8_t *run = iov[i].iov_base;
        for (size_t off = 0; off < iov[i].iov_len && covered < col->written;) {
            size_t len = queue_packet_len(run + off);
            off += len;
            covered += len;
            col->st.retransmitted++;
        }
    }
    col->written = 0;
}

/* ---- sending ---------------------------------------------------------- */

static void collector_flush_udp(collector_t *col)
{
    struct iovec iov[SENDER_BATCH];
    struct mmsghdr msgs[SENDER_BATCH];
    int refused_retries = 0;
    uint64_t now = uv_now(col->env->loop);
    while (col->queue.count > 0) {
        size_t n = queue_peek_packets(&col->queue, iov, SENDER_BATCH);
        memset(msgs, 0, sizeof(struct mmsghdr) * n);
        for (size_t i = 0; i < n; i++) {
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int r = sendmmsg(col->conn->fd, msgs, (unsigned)n, MSG_DONTWAIT);
        if (r > 0) {
            for (int i = 0; i < r; i++) {
                col->st.sent++;
                col->st.sent_bytes += iov[i].iov_len;
                queue_pop(&col->queue);
            }
            col->last_progress_ms = now;
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
            col->blocked = 1;
            return;
        }
        if (errno == ECONNREFUSED && refused_retries++ < 4) {
            /* an earlier datagram drew an ICMP port unreachable; reading the
             * error clears it and this batch can go */
            if (col->st.unreachable++ == 0 || col->was_up)
                log_warn("collector %s: port unreachable (is the collector running?)",
                         col->cfg.url);
            col->was_up = 0;
            col->last_unreachable_ms = now;
            continue;
        }
        col->st.send_errors++;
        queue_pop(&col->queue);
    }
    col->was_up = 1;
}

static void collector_flush_stream(collector_t *col)
{
    struct iovec iov[2];
    char err[256];
    for (;;) {
        size_t n = queue_peek_bytes(&col->queue, col->written, iov);
        if (n == 0) break;
        ssize_t r;
        if (col->tls) {
            r = tls_write(col->tls, iov[0].iov_base, iov[0].iov_len, &col->tls_want, err,
                          sizeof(err));
            if (r == 0) {
                col->blocked = 1;
                break;
            }
            if (r < 0) {
                collector_fail(col, "write", err);
                return;
            }
        } else {
            r = writev(col->conn->fd, iov, (int)n);
            if (r < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    col->tls_want = 0;
                    col->blocked = 1;
                    break;
                }
                collector_fail_errno(col, "write", errno);
                return;
            }
        }
        col->written += (size_t)r;
    }
    collector_reclaim(col);
}

void collector_flush(collector_t *col)
{
    if (col->state != COLLECTOR_UP || !col->conn || col->blocked) return;
    /* The spool refills the queue at every chance to write: on the
     * housekeeping tick alone (half the queue per 50 ms) a small queue
     * replays slower than new traffic arrives, and the spool never drains. */
    collector_replay(col);
    if (col->cfg.transport == COLLECTOR_UDP)
        collector_flush_udp(col);
    else
        collector_flush_stream(col);
    if (col->state == COLLECTOR_UP) collector_update_events(col);
}

/* ---- queueing and the spool ------------------------------------------- */

/* Pops the oldest packet to make room; 0 when the front has been written
 * (its fate is the collector's TCP's now: it is neither dropped nor
 * delivered until acknowledged, and half of one cannot be taken back). */
static int collector_drop_front(collector_t *col)
{
    size_t len;
    if (col->written > 0 || !queue_front(&col->queue, &len)) return 0;
    col->st.dropped_queue_full++;
    queue_pop(&col->queue);
    return 1;
}

/* When the spool is full, "drop oldest" evicts its oldest file (counted
 * by the spool), "drop newest" refuses this packet. */
static void collector_spool(collector_t *col, const uint8_t *pkt, size_t len)
{
    if (spool_append(col->spool, pkt, len, col->cfg.drop_oldest) == HA_OK)
        col->st.spooled++;
    else
        col->st.spool_dropped++;
    col->st.spool_evicted = spool_stats(col->spool)->evicted;
}

void collector_enqueue(collector_t *col, const uint8_t *pkt, size_t len)
{
    col->st.queued++;
    /* A stall is measured from when something waits: a collector that was
     * idle longer than SENDER_STALL_MS is not stalled by its first packet. */
    if (col->queue.count == 0) col->last_progress_ms = uv_now(col->env->loop);
    /* once packets wait in the spool, new ones queue behind them */
    if (col->spool && !spool_empty(col->spool)) {
        collector_spool(col, pkt, len);
        return;
    }
    if (queue_fits(&col->queue, len)) {
        queue_push(&col->queue, pkt, len);
        return;
    }
    if (col->spool) {
        collector_spool(col, pkt, len);
        return;
    }
    if (col->cfg.drop_oldest)
        while (!queue_fits(&col->queue, len) && collector_drop_front(col)) {
        }
    if (queue_push(&col->queue, pkt, len) != HA_OK) col->st.dropped_queue_full++;
}

/* Moves spooled packets back into a connected collector's queue while it
 * is less than half full, oldest first. */
static void collector_replay(collector_t *col)
{
    if (!col->spool || col->state != COLLECTOR_UP) return;
    uint8_t *buf = col->env->scratch;
    size_t len;
    while (col->queue.bytes < col->queue.cap / 2 && col->queue.count < col->queue.max_count / 2 &&
           !spool_empty(col->spool)) {
        if (!spool_read(col->spool, buf, HEP_MAX_PACKET, &len)) break;
        if (queue_push(&col->queue, buf, len) != HA_OK) {
            /* half empty is not always room: the free bytes may lie in two
             * runs too short for a big packet; it waits in the spool */
            spool_unread(col->spool, len);
            break;
        }
        col->st.replayed++;
    }
    col->st.spool_corrupt = spool_stats(col->spool)->corrupt;
}

size_t collector_pending(collector_t *col)
{
    /* asked every few ms while stopping: acknowledgements count at once,
     * not at the next housekeeping tick */
    collector_reclaim(col);
    size_t n = col->queue.count;
    /* spooled packets too: a collector that comes up before the deadline
     * replays them */
    if (col->spool && !spool_empty(col->spool)) n++;
    if (col->state == COLLECTOR_DRAINING) n++;
    return n;
}

uint64_t collector_abandon(collector_t *col, uint64_t *kept)
{
    collector_reclaim(col);
    *kept = col->spool ? spool_own_packets(col->spool) : 0;
    if (col->spool && col->queue.count) {
        /* the queue is older than the spool: it goes in front */
        size_t n = col->queue.count;
        const uint8_t **pkts = calloc(n, sizeof(*pkts));
        size_t *lens = calloc(n, sizeof(*lens));
        struct iovec *iov = calloc(n, sizeof(*iov));
        if (pkts && lens && iov) {
            n = queue_peek_packets(&col->queue, iov, n);
            for (size_t k = 0; k < n; k++) {
                pkts[k] = iov[k].iov_base;
                lens[k] = iov[k].iov_len;
            }
            if (spool_prepend(col->spool, pkts, lens, n) == HA_OK) {
                col->st.spooled_at_shutdown += n;
                *kept += n;
                while (col->queue.count)
                    queue_pop(&col->queue);
            }
        }
        free(pkts);
        free(lens);
        free(iov);
    }
    uint64_t dropped = col->queue.count;
    col->st.dropped_shutdown += dropped;
    while (col->queue.count)
        queue_pop(&col->queue);
    col->written = 0;
    return dropped;
}

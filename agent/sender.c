/* The sender: which collector gets a packet (every one, the first healthy
 * one, or one per Call-ID), encoding it (compressed where asked), and the
 * loop hooks that flush the collectors' queues. Each collector's connection,
 * queue and spool are collector.c's. */
#include "hepagent/sender.h"
#include "collector.h"
#include "hepagent/compress.h"
#include "hepagent/log.h"
#include "hepagent/pcapout.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct sender {
    uv_loop_t *loop;
    stats_t *stats;
    collector_env_t env; /* the delivery settings and scratch the collectors share */
    collector_t **items;
    size_t count;
    uv_prepare_t flush;
    uv_timer_t housekeeping;
    compressor_t compressor;
    uint8_t plain[HEP_MAX_PACKET];
    uint8_t packed[HEP_MAX_PACKET];
    uint8_t zbuf[HEP_MAX_PACKET];
    uint8_t inflated[HEP_MAX_PACKET]; /* a handed-over payload, for a collector without zlib */
    int dirty;
    int closed_handles;
    pcap_out_t *hep_pcap;
};

static uint32_t sender_hash(const uint8_t *p, size_t n, uint32_t h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    return h;
}

/* ---- encoding, per collector ---------------------------------------- */

/* One packet for the collectors: a message to encode, or (relayed) bytes
 * already encoded, each form made once and only when a collector needs it. */
typedef struct {
    const hep_msg_t *msg;
    const sender_raw_t *raw;
    ha_bytes_t payload; /* what a compressing collector compresses; empty: nothing */
    int plain_len, packed_len;
} sender_item_t;

static int sender_compress(sender_t *s, const sender_item_t *it)
{
    int z =
        compressor_run(&s->compressor, it->payload.ptr, it->payload.len, s->zbuf, sizeof(s->zbuf));
    ha_bytes_t packed_payload = {s->zbuf, z > 0 ? (size_t)z : 0};
    if (it->raw)
        return z > 0 ? hep_swap_payload(it->raw->pkt, it->raw->len, it->raw->payload_off,
                                        HEP_CHUNK_PAYLOAD_ZLIB, packed_payload, s->packed,
                                        HEP_MAX_UDP)
                     : HA_ETOOBIG;
    hep_msg_t packed = *it->msg;
    if (z > 0) {
        packed.payload = packed_payload;
        packed.payload_compressed = 1;
    }
    return hep_encode(&packed, s->packed, sizeof(s->packed), HEP_MAX_UDP);
}

static int sender_encode(sender_t *s, sender_item_t *it, const collector_t *col,
                         const uint8_t **pkt)
{
    if (col && col->cfg.compress && it->payload.len &&
        it->payload.len >= col->cfg.compress_min_bytes) {
        if (it->packed_len < 0) it->packed_len = sender_compress(s, it);
        *pkt = s->packed;
        if (it->packed_len > 0 || !it->raw) return it->packed_len;
        /* a relayed payload that does not compress goes as it came */
    }
    if (it->raw) {
        *pkt = it->raw->pkt;
        return it->raw->len <= HEP_MAX_UDP ? (int)it->raw->len : HA_ETOOBIG;
    }
    if (it->plain_len < 0)
        it->plain_len = hep_encode(it->msg, s->plain, sizeof(s->plain), HEP_MAX_UDP);
    *pkt = s->plain;
    return it->plain_len;
}

/* ---- failover and hash: who takes a packet ----------------------------- */

/* For a Call-ID, the first healthy collector (failover) or the one the
 * rendezvous hash ranks highest (hash), among the healthy ones or, with
 * any_health, among all; NULL when there is none. Rendezvous hashing moves
 * only a collector's own calls when it goes down, and they return with it. */
static collector_t *sender_rank(const sender_t *s, ha_bytes_t call_id, int any_health)
{
    collector_t *best = NULL;
    uint32_t best_score = 0;
    for (size_t i = 0; i < s->count; i++) {
        collector_t *col = s->items[i];
        if (!any_health && col->healthy != 1) continue;
        if (s->env.delivery.mode == DELIVERY_FAILOVER) return col;
        uint32_t score = sender_hash(call_id.ptr, call_id.len, col->url_hash);
        if (!best || score > best_score) {
            best = col;
            best_score = score;
        }
    }
    return best;
}

/* The one collector a message goes to: a healthy one, else (none is) the
 * one it would go to if all were, where it waits. */
static collector_t *sender_pick(const sender_t *s, ha_bytes_t call_id)
{
    collector_t *col = sender_rank(s, call_id, 0);
    return col ? col : sender_rank(s, call_id, 1);
}

static int sender_same_encoding(const collector_t *a, const collector_t *b)
{
    return a->cfg.compress == b->cfg.compress &&
           (!a->cfg.compress || a->cfg.compress_min_bytes == b->cfg.compress_min_bytes);
}

/* Where the payload chunk of one of our packets is (0: none), its type,
 * and its correlation id (empty when it has none). */
static size_t sender_chunks(const uint8_t *pkt, size_t len, uint16_t *payload_type,
                            ha_bytes_t *call_id)
{
    size_t payload_off = 0;
    *call_id = (ha_bytes_t){0};
    if (len < HEP_HEADER_LEN) return 0;
    for (size_t off = HEP_HEADER_LEN; len - off >= HEP_CHUNK_HEADER_LEN;) {
        size_t n = be16(pkt + off + 4);
        if (n < HEP_CHUNK_HEADER_LEN || n > len - off) break;
        uint16_t vendor = be16(pkt + off), type = be16(pkt + off + 2);
        if (vendor == 0 && (type == HEP_CHUNK_PAYLOAD || type == HEP_CHUNK_PAYLOAD_ZLIB)) {
            payload_off = off;
            *payload_type = type;
        } else if (vendor == 0 && type == HEP_CHUNK_CORRELATION_ID) {
            *call_id = (ha_bytes_t){pkt + off + HEP_CHUNK_HEADER_LEN, n - HEP_CHUNK_HEADER_LEN};
        }
        off += n;
    }
    return payload_off;
}

/* One packet queued for `from` goes to the collector that takes its Call-ID
 * now (read from the packet's correlation chunk), encoded as that one wants
 * it: made plain again (inflated) and then compressed or not as `to` says,
 * its other chunks, relayed ones included, as they were. */
static void sender_pass(sender_t *s, const collector_t *from, const uint8_t *pkt, size_t len)
{
    uint16_t type = 0;
    ha_bytes_t call_id;
    size_t off = sender_chunks(pkt, len, &type, &call_id);
    collector_t *to = sender_rank(s, call_id, 0);
    if (!off || sender_same_encoding(from, to)) {
        collector_enqueue(to, pkt, len);
        return;
    }
    sender_raw_t raw = {pkt, len, off, call_id};
    if (type == HEP_CHUNK_PAYLOAD_ZLIB) {
        const uint8_t *c = pkt + off;
        int n = compress_inflate(c + HEP_CHUNK_HEADER_LEN, be16(c + 4) - HEP_CHUNK_HEADER_LEN,
                                 s->inflated, sizeof(s->inflated));
        if (n < 0) { /* not from our compressor: as it is */
            collector_enqueue(to, pkt, len);
            return;
        }
        int m = hep_swap_payload(pkt, len, off, HEP_CHUNK_PAYLOAD,
                                 (ha_bytes_t){s->inflated, (size_t)n}, s->plain, HEP_MAX_UDP);
        if (m < 0) { /* fits only compressed, and `to` may not take that */
            s->stats->hep_too_big++;
            return;
        }
        raw.pkt = s->plain;
        raw.len = (size_t)m;
    }
    const uint8_t *c = raw.pkt + off;
    sender_item_t it = {.raw = &raw,
                        .payload = {c + HEP_CHUNK_HEADER_LEN, be16(c + 4) - HEP_CHUNK_HEADER_LEN},
                        .plain_len = -1,
                        .packed_len = -1};
    const uint8_t *out;
    int n = sender_encode(s, &it, to, &out);
    if (n < 0)
        s->stats->hep_too_big++;
    else
        collector_enqueue(to, out, (size_t)n);
}

/* What `from` holds, unsent or unacknowledged, goes to the collectors that
 * take over, oldest first, before any new packet reaches them: in order,
 * and once (collector_release resets a connection that could still deliver
 * some of it). Its spool stays: on disk, kept across restarts, replayed to
 * it when it is back. */
static void sender_handover(sender_t *s, collector_t *from)
{
    collector_release(from);
    size_t n = 0, len;
    const uint8_t *pkt;
    while ((pkt = queue_front(&from->queue, &len))) {
        sender_pass(s, from, pkt, len);
        queue_pop(&from->queue);
        n++;
    }
    if (n == 0) return;
    from->st.handed_over += n;
    s->dirty = 1;
    log_info("collector %s: %zu queued packets handed over", from->cfg.url, n);
}

/* Judges every collector again; when one turned unhealthy or a healthy one
 * appeared, the unhealthy ones' queues are handed over. One whose packets
 * may still be on the wire stays healthy, and takes new ones, until they
 * have landed or are lost: handed over earlier they could arrive twice, new
 * ones sent elsewhere meanwhile would overtake them. One in its first
 * connection attempt keeps what was queued for it. */
static void sender_update_health(sender_t *s)
{
    if (s->env.delivery.mode == DELIVERY_ALL) return;
    uint64_t now = uv_now(s->loop);
    int changed = 0, takers = 0;
    for (size_t i = 0; i < s->count; i++) {
        collector_t *col = s->items[i];
        int healthy = collector_starting(col) ? 2 : collector_healthy(col, now);
        if (!healthy && col->healthy == 1 && col->queue.count && !collector_settled(col, now))
            healthy = 1;
        changed |= healthy != col->healthy;
        col->healthy = healthy;
        takers += healthy == 1;
    }
    if (!changed || !takers) return;
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i]->healthy == 0 && s->items[i]->queue.count) sender_handover(s, s->items[i]);
}

/* The collector of a packet in failover and hash modes. One whose queue
 * has no room because it stopped reading does not get it (dropped or
 * spooled) while another can take over. */
static collector_t *sender_choose(sender_t *s, sender_item_t *it, ha_bytes_t call_id)
{
    sender_update_health(s);
    collector_t *col = sender_pick(s, call_id);
    const uint8_t *pkt;
    int len = sender_encode(s, it, col, &pkt);
    if (len < 0 || col->healthy != 1) return col;
    int others = 0;
    for (size_t i = 0; i < s->count; i++)
        others += s->items[i] != col && s->items[i]->healthy == 1;
    if (others && collector_clogged(col, (size_t)len, uv_now(s->loop))) {
        sender_update_health(s);
        col = sender_pick(s, call_id);
        it->plain_len = it->packed_len = -1; /* the handover encoded in the same buffers */
    }
    return col;
}

void sender_set_hep_pcap(sender_t *s, pcap_out_t *out)
{
    s->hep_pcap = out;
}

/* --hep-pcap: the packet as a UDP frame to the collector's address. */
static void sender_record(sender_t *s, const collector_t *col, const uint8_t *pkt, size_t len)
{
    uint8_t addr[16] = {127, 0, 0, 1};
    int version = 4;
    uint16_t port = 9060;
    if (col && col->addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&col->addr;
        memcpy(addr, &a->sin6_addr, 16);
        version = 6;
        port = col->cfg.port;
    } else if (col && col->addr.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&col->addr;
        memcpy(addr, &a->sin_addr, 4);
        port = col->cfg.port;
    } else if (col) {
        port = col->cfg.port;
    }
    pcap_out_write_hep(s->hep_pcap, pkt, len, version, addr, port);
}

static int sender_queue(sender_t *s, sender_item_t *it, ha_bytes_t call_id)
{
    if (s->count == 0) {
        if (!s->hep_pcap) return HA_OK;
        const uint8_t *pkt;
        int n = sender_encode(s, it, NULL, &pkt);
        if (n < 0) {
            s->stats->hep_too_big++;
            return HA_ETOOBIG;
        }
        sender_record(s, NULL, pkt, (size_t)n);
        s->stats->hep_packets++;
        return HA_OK;
    }
    int sent_any = 0;
    collector_t *only = s->env.delivery.mode == DELIVERY_ALL ? NULL : sender_choose(s, it, call_id);
    for (size_t i = 0; i < s->count; i++) {
        collector_t *col = s->items[i];
        if (only && col != only) continue;
        const uint8_t *pkt;
        int len = sender_encode(s, it, col, &pkt);
        if (len < 0) continue; /* too big even compressed, for this collector */
        collector_enqueue(col, pkt, (size_t)len);
        if (s->hep_pcap) sender_record(s, col, pkt, (size_t)len);
        sent_any = 1;
    }
    if (!sent_any) {
        s->stats->hep_too_big++;
        return HA_ETOOBIG;
    }
    s->stats->hep_packets++;
    s->dirty = 1;
    return HA_OK;
}

int sender_submit(sender_t *s, const hep_msg_t *msg)
{
    sender_item_t it = {.msg = msg, .payload = msg->payload, .plain_len = -1, .packed_len = -1};
    return sender_queue(s, &it, msg->correlation_id);
}

int sender_submit_raw(sender_t *s, const sender_raw_t *raw)
{
    sender_item_t it = {.raw = raw, .plain_len = -1, .packed_len = -1};
    if (raw->payload_off) {
        const uint8_t *c = raw->pkt + raw->payload_off;
        it.payload = (ha_bytes_t){c + HEP_CHUNK_HEADER_LEN, be16(c + 4) - HEP_CHUNK_HEADER_LEN};
    }
    return sender_queue(s, &it, raw->correlation_id);
}

/* ---- loop hooks ------------------------------------------------------- */

static void sender_flush_cb(uv_prepare_t *h)
{
    sender_t *s = h->data;
    if (!s->dirty) return;
    s->dirty = 0;
    for (size_t i = 0; i < s->count; i++) {
        collector_t *col = s->items[i];
        collector_flush(col);
        if (col->spool) spool_sync(col->spool);
    }
}

static void sender_housekeeping_cb(uv_timer_t *t)
{
    sender_t *s = t->data;
    for (size_t i = 0; i < s->count; i++)
        collector_tick(s->items[i]);
    sender_update_health(s); /* a stall shows with time, without new packets */
}

/* ---- construction ----------------------------------------------------- */

int sender_check(const config_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->collector_count; i++) {
        tls_ctx_t *tls;
        spool_t *spool;
        int rc =
            collector_setup_files(&cfg->collectors[i], &cfg->delivery, &tls, &spool, err, errlen);
        if (rc != HA_OK) return rc;
        tls_ctx_free(tls);
        spool_close(spool);
    }
    return HA_OK;
}

/* Index of the running collector with exactly these settings, or SIZE_MAX. */
static size_t sender_find(const sender_t *s, const collector_config_t *cfg)
{
    for (size_t k = 0; k < s->count; k++)
        if (s->items[k] && config_collector_equal(&s->items[k]->cfg, cfg)) return k;
    return SIZE_MAX;
}

int sender_reconfigure(sender_t *s, const config_t *cfg, char *err, size_t errlen)
{
    size_t n = cfg->collector_count;
    collector_t **items = calloc(n ? n : 1, sizeof(*items));
    size_t *from = calloc(n ? n : 1, sizeof(*from));
    if (!items || !from) {
        free(items);
        free(from);
        snprintf(err, errlen, "out of memory");
        return HA_ENOMEM;
    }
    /* keep the unchanged ones: their queue, spool and connection survive */
    for (size_t i = 0; i < n; i++) {
        from[i] = sender_find(s, &cfg->collectors[i]);
        if (from[i] != SIZE_MAX) {
            items[i] = s->items[from[i]];
            s->items[from[i]] = NULL;
        }
    }
    delivery_config_t old_delivery = s->env.delivery;
    s->env.delivery = cfg->delivery;
    for (size_t i = 0; i < n; i++) {
        if (items[i]) continue;
        items[i] = collector_new(&s->env, &cfg->collectors[i], err, errlen);
        if (items[i]) {
            const char *url = items[i]->cfg.url;
            items[i]->url_hash = sender_hash((const uint8_t *)url, strlen(url), 2166136261u);
            continue;
        }
        /* undo: the kept ones go back, the new ones close */
        for (size_t k = 0; k < n; k++) {
            if (!items[k]) continue;
            if (from[k] != SIZE_MAX)
                s->items[from[k]] = items[k];
            else
                collector_close(items[k]);
        }
        s->env.delivery = old_delivery;
        free(items);
        free(from);
        return HA_EINVAL;
    }
    free(from);
    for (size_t k = 0; k < s->count; k++) {
        collector_t *gone = s->items[k];
        if (!gone) continue;
        gone->st.dropped_removed += gone->queue.count;
        log_info("collector %s: removed by reload (%zu queued packets dropped)", gone->cfg.url,
                 gone->queue.count);
        collector_close(gone);
    }
    free(s->items);
    s->items = items;
    s->count = n;
    return HA_OK;
}

int sender_create(uv_loop_t *loop, const config_t *cfg, stats_t *stats, sender_t **out, char *err,
                  size_t errlen)
{
    sender_t *s = calloc(1, sizeof(*s));
    if (!s || compressor_init(&s->compressor) != HA_OK) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return HA_ENOMEM;
    }
    s->loop = loop;
    s->stats = stats;
    s->env.loop = loop;
    s->env.delivery = cfg->delivery;
    s->env.scratch = s->zbuf; /* free between submits */
    uv_prepare_init(loop, &s->flush);
    s->flush.data = s;
    uv_prepare_start(&s->flush, sender_flush_cb);
    uv_timer_init(loop, &s->housekeeping);
    s->housekeeping.data = s;
    uv_timer_start(&s->housekeeping, sender_housekeeping_cb, SENDER_HOUSEKEEPING_MS,
                   SENDER_HOUSEKEEPING_MS);
    int rc = sender_reconfigure(s, cfg, err, errlen);
    if (rc != HA_OK) {
        sender_destroy(s);
        return rc;
    }
    *out = s;
    return HA_OK;
}

void sender_drain(sender_t *s, uint64_t deadline_ms)
{
    uint64_t now = uv_now(s->loop);
    s->env.draining = 1;
    s->env.drain_deadline_ms = deadline_ms;
    s->env.drain_stall_ms = deadline_ms > now ? (deadline_ms - now) / 2 : 0;
    for (size_t i = 0; i < s->count; i++)
        collector_drain(s->items[i]);
}

size_t sender_pending(sender_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->count; i++)
        n += collector_pending(s->items[i]);
    return n;
}

int sender_backlogged(const sender_t *s)
{
    uint64_t now = uv_now(s->loop);
    for (size_t i = 0; i < s->count; i++) {
        const collector_t *col = s->items[i];
        /* a collector that takes nothing does not hold the files back */
        if (collector_healthy(col, now) &&
            (col->queue.bytes > col->queue.cap / 2 || col->queue.count > col->queue.max_count / 2))
            return 1;
    }
    return 0;
}

void sender_abandon(sender_t *s, sender_leftover_t *left)
{
    *left = (sender_leftover_t){0};
    for (size_t i = 0; i < s->count; i++) {
        collector_t *col = s->items[i];
        uint64_t kept;
        left->dropped += collector_abandon(col, &kept);
        left->spooled += kept;
        if (col->spool) left->spool_bytes += spool_bytes(col->spool);
    }
}

static void sender_handle_closed(uv_handle_t *h)
{
    sender_t *s = h->data;
    if (++s->closed_handles == 2) free(s);
}

void sender_destroy(sender_t *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i]) collector_close(s->items[i]);
    free(s->items);
    s->items = NULL;
    s->count = 0;
    compressor_free(&s->compressor);
    uv_prepare_stop(&s->flush);
    uv_timer_stop(&s->housekeeping);
    uv_close((uv_handle_t *)&s->flush, sender_handle_closed);
    uv_close((uv_handle_t *)&s->housekeeping, sender_handle_closed);
}

void sender_visit_stats(const sender_t *s, const stats_visitor_t *v)
{
    for (size_t i = 0; i < s->count; i++)
        collector_visit_stats(s->items[i], v);
}

/* TCP reassembly; see tcpstream.h for the policy. The in-order bytes of a
 * direction go to its framer (tcpframe.c), or, once the framer recognised
 * TLS and TLS decryption is on, to the TLS layer (tlsdecrypt.c), which
 * frames the plaintext alike. */
#include "hepagent/tcpstream.h"
#include "hepagent/lru.h"
#include "hepagent/tlsdecrypt.h"

#include <stdlib.h>
#include <string.h>

#define OLDEST(t) LRU_ENTRY((t)->lru.head, stream_t, lru)

typedef struct seg {
    struct seg *next;
    uint32_t seq;
    uint32_t len;
    uint64_t sec;
    uint32_t usec;
    uint8_t data[];
} seg_t;

typedef struct stream {
    struct stream *hash_next;
    lru_node_t lru;
    uint32_t bucket;
    flow_key_t key;
    uint64_t last_ms;
    uint8_t closed;   /* FIN or RST seen: kept to recognise retransmissions */
    uint8_t seen_syn; /* the stream's start was seen */
    uint32_t next_seq;
    seg_t *ooo;
    size_t ooo_bytes;
    tcpframe_t frame;
    tlsdec_half_t *tls; /* a TLS direction being decrypted */
} stream_t;

struct tcpstream {
    tcpstream_options_t opts;
    tcpstream_stats_t stats;
    tcpframe_owner_t frame; /* the framers' limits, counters, output and memory */
    tlsdec_t *tls;          /* NULL: TLS streams are recognised and ignored */
    stream_t **buckets;
    uint32_t nbuckets;
    lru_list_t lru; /* head: least recently used */
    size_t count;
    size_t memory; /* streams and held segments; the framers count their own */
};

static int stream_reserve_frame(tcpframe_owner_t *owner, tcpframe_t *keep, size_t extra);

tcpstream_t *tcpstream_new(const tcpstream_options_t *opts, tcpstream_emit_fn emit, void *ctx)
{
    tcpstream_t *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->opts = *opts;
    t->frame.max_message = opts->max_stream_bytes;
    t->frame.emit = emit;
    t->frame.ctx = ctx;
    t->frame.reserve = stream_reserve_frame;
    t->nbuckets = 1024;
    while (t->nbuckets < opts->max_streams / 2 && t->nbuckets < (1u << 20))
        t->nbuckets *= 2;
    t->buckets = calloc(t->nbuckets, sizeof(stream_t *));
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    return t;
}

void tcpstream_set_tls(tcpstream_t *t, tlsdec_t *tls)
{
    t->tls = tls;
}

/* ---- table ------------------------------------------------------------ */

/* Releases what a stream holds, keeping the stream itself. */
static void stream_clear(tcpstream_t *t, stream_t *s)
{
    for (seg_t *g = s->ooo; g;) {
        seg_t *next = g->next;
        t->memory -= sizeof(*g) + g->len;
        free(g);
        g = next;
    }
    s->ooo = NULL;
    s->ooo_bytes = 0;
    tcpframe_clear(&t->frame, &s->frame);
    if (s->tls) tlsdec_close(t->tls, s->tls);
    s->tls = NULL;
}

/* Data that will never be framed: the message in progress is lost. */
static int stream_mid_message(const stream_t *s)
{
    return tcpframe_mid_message(&s->frame) || s->ooo != NULL;
}

static void stream_destroy(tcpstream_t *t, stream_t *s)
{
    stream_t **slot = &t->buckets[s->bucket];
    while (*slot && *slot != s)
        slot = &(*slot)->hash_next;
    if (*slot) *slot = s->hash_next;
    lru_unlink(&t->lru, &s->lru);
    if (!s->closed && stream_mid_message(s)) t->frame.stats.incomplete_at_close++;
    stream_clear(t, s);
    t->memory -= sizeof(*s);
    t->count--;
    free(s);
}

static void stream_expire(tcpstream_t *t, uint64_t now_ms)
{
    while (t->lru.head && OLDEST(t)->last_ms + t->opts.timeout_ms < now_ms) {
        t->stats.streams_expired++;
        stream_destroy(t, OLDEST(t));
    }
}

static stream_t *stream_lookup(tcpstream_t *t, const packet_t *pkt, uint32_t *bucket)
{
    *bucket = flow_hash(pkt) & (t->nbuckets - 1);
    for (stream_t *s = t->buckets[*bucket]; s; s = s->hash_next)
        if (flow_key_match(&s->key, pkt)) return s;
    return NULL;
}

static stream_t *stream_create(tcpstream_t *t, const packet_t *pkt, uint32_t bucket)
{
    while (t->count >= t->opts.max_streams && t->lru.head) {
        t->stats.streams_evicted++;
        stream_destroy(t, OLDEST(t));
    }
    stream_t *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->bucket = bucket;
    flow_key_set(&s->key, pkt);
    s->hash_next = t->buckets[bucket];
    t->buckets[bucket] = s;
    lru_append(&t->lru, &s->lru);
    t->count++;
    t->memory += sizeof(*s);
    t->stats.streams++;
    return s;
}

/* Makes room for `extra` more bytes in memory, evicting other streams, the
 * least recently used first. Returns 0 when it cannot. */
static int stream_reserve_memory(tcpstream_t *t, stream_t *keep, size_t extra)
{
    while (t->memory + t->frame.memory + extra > t->opts.memcap) {
        stream_t *victim = OLDEST(t);
        if (victim == keep) victim = LRU_ENTRY(victim->lru.next, stream_t, lru);
        if (!victim) return 0;
        t->stats.streams_evicted++;
        stream_destroy(t, victim);
    }
    return 1;
}

static int stream_reserve_frame(tcpframe_owner_t *owner, tcpframe_t *keep, size_t extra)
{
    tcpstream_t *t = (tcpstream_t *)(void *)((char *)owner - offsetof(tcpstream_t, frame));
    stream_t *s = (stream_t *)(void *)((char *)keep - offsetof(stream_t, frame));
    return stream_reserve_memory(t, s, extra);
}

/* In-order bytes of the stream: to the framer, or to the TLS layer once
 * the framer has seen a TLS record start. */
static void stream_deliver(tcpstream_t *t, stream_t *s, const packet_t *pkt, const uint8_t *data,
                           size_t len, uint64_t sec, uint32_t usec)
{
    s->next_seq += (uint32_t)len;
    if (s->closed) return;
    if (s->tls) {
        tlsdec_data(t->tls, s->tls, pkt, data, len, sec, usec);
        return;
    }
    size_t rest = tcpframe_data(&t->frame, &s->frame, pkt, data, len, sec, usec);
    if (rest == 0 || !t->tls) return;
    s->tls = tlsdec_open(t->tls, pkt);
    if (!s->tls) {
        tcpframe_ignore(&s->frame);
        return;
    }
    tlsdec_data(t->tls, s->tls, pkt, data + len - rest, rest, sec, usec);
}

/* Delivers the held segments that the stream has now reached. */
static void stream_drain_ooo(tcpstream_t *t, stream_t *s, const packet_t *pkt)
{
    while (s->ooo && (int32_t)(s->ooo->seq - s->next_seq) <= 0) {
        seg_t *g = s->ooo;
        s->ooo = g->next;
        s->ooo_bytes -= g->len;
        uint32_t already = s->next_seq - g->seq;
        if (already < g->len) {
            if (already) t->stats.overlaps++;
            stream_deliver(t, s, pkt, g->data + already, g->len - already, g->sec, g->usec);
        } else {
            t->stats.retransmissions++;
        }
        t->memory -= sizeof(*g) + g->len;
        free(g);
    }
}

/* The data before the held segments will not come: continue after the hole. */
static void stream_skip_hole(tcpstream_t *t, stream_t *s, const packet_t *pkt)
{
    t->stats.gaps++;
    if (s->frame.len && stream_mid_message(s)) t->frame.stats.incomplete_at_close++;
    if (s->tls)
        tlsdec_gap(t->tls, s->tls);
    else
        tcpframe_gap(&t->frame, &s->frame);
    if (s->ooo) s->next_seq = s->ooo->seq;
    stream_drain_ooo(t, s, pkt);
}

/* Holds the bytes of [seq, seq + len) that no held segment has yet, with the
 * capture time of this segment: held segments never overlap, so the bytes
 * (and time) that arrived first are the ones delivered. Returns how many
 * bytes were new. */
static size_t stream_hold(tcpstream_t *t, stream_t *s, const packet_t *pkt, uint32_t seq,
                          const uint8_t *data, size_t len)
{
    size_t stored = 0;
    seg_t **at = &s->ooo;
    while (len > 0) {
        while (*at && (int32_t)((*at)->seq + (*at)->len - seq) <= 0)
            at = &(*at)->next;
        if (*at && (int32_t)((*at)->seq - seq) <= 0) { /* held already: skip it */
            size_t covered = (*at)->seq + (*at)->len - seq;
            if (covered >= len) break;
            seq += (uint32_t)covered;
            data += covered;
            len -= covered;
            continue;
        }
        size_t piece = len; /* new bytes, up to the next held segment */
        if (*at && (*at)->seq - seq < piece) piece = (*at)->seq - seq;
        if (!stream_reserve_memory(t, s, sizeof(seg_t) + piece)) {
            t->stats.streams_evicted++;
            break;
        }
        seg_t *g = malloc(sizeof(*g) + piece);
        if (!g) break;
        g->seq = seq;
        g->len = (uint32_t)piece;
        g->sec = pkt->ts_sec;
        g->usec = pkt->ts_usec;
        memcpy(g->data, data, piece);
        g->next = *at;
        *at = g;
        at = &g->next;
        s->ooo_bytes += piece;
        t->memory += sizeof(*g) + piece;
        stored += piece;
        seq += (uint32_t)piece;
        data += piece;
        len -= piece;
    }
    return stored;
}

/* A segment's ACK covers bytes of the other direction that the capture never
 * had: the receiver got them, so the capture lost them (a kernel drop, a
 * mirror port's overflow) and they will not come again. The other direction
 * then continues after its hole at once, instead of holding every later
 * message until the stream limit or its timeout. */
static void stream_check_peer_ack(tcpstream_t *t, const packet_t *pkt)
{
    packet_t rev = *pkt; /* the other direction, as its own packets carry it */
    memcpy(rev.src_addr, pkt->dst_addr, sizeof(rev.src_addr));
    memcpy(rev.dst_addr, pkt->src_addr, sizeof(rev.dst_addr));
    rev.src_port = pkt->dst_port;
    rev.dst_port = pkt->src_port;
    rev.payload = NULL;
    rev.payload_len = 0;
    uint32_t bucket;
    stream_t *r = stream_lookup(t, &rev, &bucket);
    if (!r || !r->ooo || r->closed) return;
    if ((int32_t)(pkt->tcp_ack - r->next_seq) <= 0) return;
    stream_skip_hole(t, r, &rev);
}

static void stream_reset(tcpstream_t *t, stream_t *s, uint32_t next_seq, int syn)
{
    stream_clear(t, s);
    tcpframe_init(&s->frame, syn);
    s->closed = 0;
    s->seen_syn = (uint8_t)syn;
    s->next_seq = next_seq;
}

void tcpstream_segment(tcpstream_t *t, const packet_t *pkt)
{
    uint8_t flags = pkt->tcp_flags;
    const uint8_t *data = pkt->payload;
    size_t len = pkt->payload_len;
    uint32_t seq = pkt->tcp_seq;
    if ((flags & TCP_FLAG_ACK) && t->count > 0) stream_check_peer_ack(t, pkt);
    if (len == 0 && !(flags & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST))) return;
    t->stats.segments++;
    uint64_t now_ms = pkt->ts_sec * 1000 + pkt->ts_usec / 1000;
    stream_expire(t, now_ms);

    uint32_t bucket;
    stream_t *s = stream_lookup(t, pkt, &bucket);
    if (!s) {
        if (len == 0 && !(flags & TCP_FLAG_SYN)) return; /* a FIN or RST for nothing we know */
        s = stream_create(t, pkt, bucket);
        if (!s) return;
        if (flags & TCP_FLAG_SYN) {
            stream_reset(t, s, seq + 1, 1);
        } else {
            stream_reset(t, s, seq, 0); /* from the middle: resync on the first bytes */
        }
    } else {
        lru_touch(&t->lru, &s->lru);
        if (flags & TCP_FLAG_SYN) {
            if (!(s->seen_syn && s->next_seq == seq + 1 && !s->closed))
                stream_reset(t, s, seq + 1, 1); /* a new connection on the same ports */
        } else if (s->closed && len > 0 && (int32_t)(seq - s->next_seq) >= 0) {
            stream_reset(t, s, seq, 0); /* its SYN was not captured */
        }
    }
    s->last_ms = now_ms;
    if (flags & TCP_FLAG_SYN) seq++; /* the SYN takes one sequence number */

    if (len > 0 && !s->closed) {
        int32_t d = (int32_t)(seq - s->next_seq);
        if (d > 0) {
            if ((uint32_t)d > t->opts.max_stream_bytes) { /* too far ahead to wait for */
                s->next_seq = seq;
                stream_skip_hole(t, s, pkt);
                stream_deliver(t, s, pkt, data, len, pkt->ts_sec, pkt->ts_usec);
            } else {
                size_t stored = stream_hold(t, s, pkt, seq, data, len);
                if (stored == 0) {
                    t->stats.retransmissions++;
                } else {
                    t->stats.out_of_order++;
                    if (stored < len) t->stats.overlaps++;
                }
                if (s->ooo_bytes + s->frame.len > t->opts.max_stream_bytes)
                    stream_skip_hole(t, s, pkt);
            }
        } else if ((int64_t)d + (int64_t)len <= 0) {
            t->stats.retransmissions++;
        } else {
            size_t already = (size_t)(-(int64_t)d);
            const uint8_t *fresh = data + already;
            size_t fresh_len = len - already;
            /* bytes that a held segment brought first stay that segment's */
            size_t now = fresh_len;
            if (s->ooo && s->ooo->seq - s->next_seq < now) now = s->ooo->seq - s->next_seq;
            if (d < 0 || now < fresh_len) t->stats.overlaps++;
            uint32_t rest_seq = s->next_seq + (uint32_t)now;
            stream_deliver(t, s, pkt, fresh, now, pkt->ts_sec, pkt->ts_usec);
            if (now < fresh_len) stream_hold(t, s, pkt, rest_seq, fresh + now, fresh_len - now);
            stream_drain_ooo(t, s, pkt);
        }
    }
    if ((flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) && !s->closed) {
        /* FIN is final only once everything before it arrived */
        if ((flags & TCP_FLAG_RST) || (int32_t)(seq + (uint32_t)len - s->next_seq) <= 0) {
            if (stream_mid_message(s)) t->frame.stats.incomplete_at_close++;
            stream_clear(t, s);
            s->closed = 1;
            if (flags & TCP_FLAG_FIN) s->next_seq++;
        }
    }
}

const tcpstream_stats_t *tcpstream_stats(const tcpstream_t *t)
{
    return &t->stats;
}
const tcpframe_stats_t *tcpstream_frame_stats(const tcpstream_t *t)
{
    return &t->frame.stats;
}
size_t tcpstream_memory(const tcpstream_t *t)
{
    return t->memory + t->frame.memory;
}
size_t tcpstream_count(const tcpstream_t *t)
{
    return t->count;
}

void tcpstream_free(tcpstream_t *t)
{
    if (!t) return;
    while (t->lru.head) {
        stream_t *s = OLDEST(t);
        s->closed = 1; /* not counted as incomplete: the agent is stopping */
        stream_destroy(t, s);
    }
    free(t->buckets);
    free(t);
}

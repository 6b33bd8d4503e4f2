/* TCP reassembly and SIP/WebSocket framing; see tcpstream.h for the policy.
 * Segments that arrive in order and hold whole messages are framed straight
 * from the packet, without a copy; only a message's unfinished tail is kept
 * in the stream's buffer, with the capture time of each kept segment so a
 * message carries the time of its first byte. */
#include "hepagent/tcpstream.h"
#include "hepagent/lru.h"
#include "hepagent/rules.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    MODE_START,  /* first bytes of a stream: SIP, WebSocket upgrade, TLS or other */
    MODE_SIP,    /* SIP messages framed by Content-Length */
    MODE_WS,     /* WebSocket frames after an HTTP upgrade */
    MODE_TLS,    /* encrypted: ignored */
    MODE_IGNORE, /* not SIP: ignored */
    MODE_CLOSED, /* FIN or RST seen: kept to recognise retransmissions */
};

enum {
    MAX_MARKS = 32,
    HTTP_HEADER_MAX = 16384, /* an upgrade request or response larger than this is not one */
    WS_PROBE_BYTES = 512,    /* of a frame's payload, searched for a SIP start line */
};

#define OLDEST(t) LRU_ENTRY((t)->lru.head, stream_t, lru)

typedef struct seg {
    struct seg *next;
    uint32_t seq;
    uint32_t len;
    uint64_t sec;
    uint32_t usec;
    uint8_t data[];
} seg_t;

typedef struct {
    size_t off; /* offset in the stream buffer where this segment's bytes start */
    uint64_t sec;
    uint32_t usec;
} mark_t;

typedef struct stream {
    struct stream *hash_next;
    lru_node_t lru;
    uint32_t bucket;
    flow_key_t key;
    uint64_t last_ms;
    uint8_t mode;
    uint8_t resync;   /* looking for the next SIP start line */
    uint8_t seen_syn; /* the stream's start was seen */
    uint32_t next_seq;
    size_t skip; /* bytes still to discard (a message over the size limit) */
    size_t need; /* bytes the message being framed needs, 0 if unknown */
    uint8_t *buf;
    size_t len, cap;
    mark_t marks[MAX_MARKS];
    unsigned nmarks;
    seg_t *ooo;
    size_t ooo_bytes;
    /* WebSocket message being assembled from frames */
    uint8_t *ws;
    size_t ws_len, ws_cap;
    uint8_t ws_in_msg;
    uint64_t ws_sec;
    uint32_t ws_usec;
} stream_t;

struct tcpstream {
    tcpstream_options_t opts;
    tcpstream_stats_t stats;
    tcpstream_emit_fn emit;
    void *ctx;
    stream_t **buckets;
    uint32_t nbuckets;
    lru_list_t lru; /* head: least recently used */
    size_t count;
    size_t memory;
};

/* What the framer reads: the current segment or the stream buffer. */
typedef struct {
    const uint8_t *p;
    size_t n;
    const mark_t *marks; /* NULL: every byte has the time (sec, usec) */
    unsigned nmarks;
    uint64_t sec;
    uint32_t usec;
} view_t;

tcpstream_t *tcpstream_new(const tcpstream_options_t *opts, tcpstream_emit_fn emit, void *ctx)
{
    tcpstream_t *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->opts = *opts;
    t->emit = emit;
    t->ctx = ctx;
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
    t->memory -= s->cap + s->ws_cap;
    free(s->buf);
    free(s->ws);
    s->buf = s->ws = NULL;
    s->len = s->cap = s->ws_len = s->ws_cap = 0;
    s->nmarks = 0;
    s->need = s->skip = 0;
    s->ws_in_msg = 0;
}

/* Data that will never be framed: the message in progress is lost. */
static int stream_mid_message(const stream_t *s)
{
    for (size_t i = 0; i < s->len; i++)
        if (s->buf[i] != '\r' && s->buf[i] != '\n') return 1;
    return s->ws_in_msg || s->ooo != NULL;
}

static void stream_destroy(tcpstream_t *t, stream_t *s)
{
    stream_t **slot = &t->buckets[s->bucket];
    while (*slot && *slot != s)
        slot = &(*slot)->hash_next;
    if (*slot) *slot = s->hash_next;
    lru_unlink(&t->lru, &s->lru);
    if (s->mode != MODE_CLOSED && stream_mid_message(s)) t->stats.incomplete_at_close++;
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
    while (t->memory + extra > t->opts.memcap) {
        stream_t *victim = OLDEST(t);
        if (victim == keep) victim = LRU_ENTRY(victim->lru.next, stream_t, lru);
        if (!victim) return 0;
        t->stats.streams_evicted++;
        stream_destroy(t, victim);
    }
    return 1;
}

/* ---- buffers ---------------------------------------------------------- */

static int buffer_grow(tcpstream_t *t, stream_t *s, uint8_t **buf, size_t *cap, size_t want)
{
    if (want <= *cap) return 1;
    size_t next = *cap ? *cap : 512;
    while (next < want)
        next *= 2;
    if (!stream_reserve_memory(t, s, next - *cap)) return 0;
    uint8_t *grown = realloc(*buf, next);
    if (!grown) return 0;
    t->memory += next - *cap;
    *buf = grown;
    *cap = next;
    return 1;
}

static void stream_add_mark(stream_t *s, size_t off, uint64_t sec, uint32_t usec)
{
    if (s->nmarks == MAX_MARKS) {
        /* keep the first (the current message's start); merge the second away */
        memmove(&s->marks[1], &s->marks[2], sizeof(mark_t) * (MAX_MARKS - 2));
        s->nmarks--;
    }
    s->marks[s->nmarks++] = (mark_t){off, sec, usec};
}

/* Keeps bytes in the stream buffer; on failure the stream resynchronises. */
static int stream_keep(tcpstream_t *t, stream_t *s, const uint8_t *data, size_t len, uint64_t sec,
                       uint32_t usec)
{
    if (s->len + len > (size_t)t->opts.max_stream_bytes + 65536 ||
        !buffer_grow(t, s, &s->buf, &s->cap, s->len + len)) {
        t->stats.message_too_big++;
        s->len = 0;
        s->nmarks = 0;
        s->need = 0;
        s->resync = 1;
        t->stats.resyncs++;
        return 0;
    }
    memcpy(s->buf + s->len, data, len);
    stream_add_mark(s, s->len, sec, usec);
    s->len += len;
    return 1;
}

/* Drops the first `used` bytes of the buffer and rebases the marks. */
static void stream_consume(tcpstream_t *t, stream_t *s, size_t used)
{
    if (used == 0) return;
    memmove(s->buf, s->buf + used, s->len - used);
    s->len -= used;
    unsigned k = 0;
    for (unsigned i = 0; i < s->nmarks; i++) {
        size_t end = i + 1 < s->nmarks ? s->marks[i + 1].off : SIZE_MAX;
        if (end <= used) continue; /* entirely consumed */
        mark_t m = s->marks[i];
        m.off = m.off > used ? m.off - used : 0;
        s->marks[k++] = m;
    }
    s->nmarks = s->len ? k : 0;
    /* give large buffers back once they are empty */
    if (s->len == 0 && s->cap > 16384) {
        t->memory -= s->cap;
        free(s->buf);
        s->buf = NULL;
        s->cap = 0;
    }
}

static void view_time(const view_t *v, size_t off, uint64_t *sec, uint32_t *usec)
{
    *sec = v->sec;
    *usec = v->usec;
    if (!v->marks) return;
    for (unsigned i = 0; i < v->nmarks && v->marks[i].off <= off; i++) {
        *sec = v->marks[i].sec;
        *usec = v->marks[i].usec;
    }
}

/* ---- framing ---------------------------------------------------------- */

/* Offset just past the end of the line containing off (or n). */
static size_t next_line(const view_t *v, size_t off)
{
    const uint8_t *nl = memchr(v->p + off, '\n', v->n - off);
    return nl ? (size_t)(nl - v->p) + 1 : v->n;
}

static void stream_desync(tcpstream_t *t, stream_t *s)
{
    s->resync = 1;
    s->need = 0;
    t->stats.resyncs++;
}

/* Whether p starts a WebSocket text or binary frame whose payload, unmasked,
 * starts with a SIP start line. That is how SIP over WebSocket is recognised
 * without its HTTP upgrade: a stream seen from the middle (hepagent started
 * while WebRTC clients stay connected for hours), or after a hole. */
static int ws_frame_starts_sip(const uint8_t *p, size_t avail)
{
    if (avail < 2 || (p[0] & 0x70) != 0) return 0;
    int opcode = p[0] & 0x0f;
    if (opcode != 1 && opcode != 2) return 0;
    uint64_t len = p[1] & 0x7f;
    size_t header = 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + ((p[1] & 0x80) ? 4 : 0);
    if (avail <= header) return 0;
    if (len == 126)
        len = be16(p + 2);
    else if (len == 127)
        len = ((uint64_t)be32(p + 2) << 32) | be32(p + 6);
    const uint8_t *mask = (p[1] & 0x80) ? p + header - 4 : NULL;
    size_t n = HA_MIN(avail - header, (size_t)WS_PROBE_BYTES);
    if (len < n) n = (size_t)len;
    uint8_t start[WS_PROBE_BYTES];
    for (size_t i = 0; i < n; i++)
        start[i] = mask ? p[header + i] ^ mask[i & 3] : p[header + i];
    return sip_probe_start_line(start, n) == SIP_OK;
}

/* Resync: find a line start where a SIP start line begins (or may begin, if
 * the data ends first), or a WebSocket frame carrying SIP right here (where a
 * segment starts). Returns the new offset; sets *wait when the data ran out
 * in the middle of a candidate line. */
static size_t frame_resync(tcpstream_t *t, stream_t *s, const view_t *v, size_t o, int *wait)
{
    size_t start = o;
    if (ws_frame_starts_sip(v->p + o, v->n - o)) {
        t->stats.ws_resyncs++;
        s->resync = 0;
        s->mode = MODE_WS;
        return o;
    }
    for (size_t pos = o; pos < v->n; pos = next_line(v, pos)) {
        sip_result_t r = sip_probe_start_line(v->p + pos, v->n - pos);
        if (r == SIP_NOT_SIP) continue;
        t->stats.skipped_bytes += pos - start;
        if (r == SIP_OK) {
            s->resync = 0;
            s->mode = MODE_SIP;
        } else {
            *wait = 1;
        }
        return pos;
    }
    t->stats.skipped_bytes += v->n - start;
    return v->n;
}

static size_t skip_crlf(tcpstream_t *t, const view_t *v, size_t o)
{
    size_t start = o;
    while (o < v->n && (v->p[o] == '\r' || v->p[o] == '\n'))
        o++;
    if (o > start && o < v->n) t->stats.keepalives++;
    return o;
}

static size_t frame_sip(tcpstream_t *t, stream_t *s, const packet_t *pkt, const view_t *v, size_t o,
                        int *wait)
{
    o = skip_crlf(t, v, o);
    if (o == v->n) return o;
    size_t avail = v->n - o;
    if (s->need && avail < s->need) {
        *wait = 1;
        return o;
    }
    sip_msg_t sip;
    sip_result_t r = sip_parse(v->p + o, avail, &sip);
    if (r == SIP_NOT_SIP) {
        stream_desync(t, s);
        return next_line(v, o);
    }
    if (r == SIP_INCOMPLETE) {
        if (avail >= SIP_MAX_HEADER_BYTES || avail >= t->opts.max_stream_bytes) {
            t->stats.message_too_big++;
            stream_desync(t, s);
            return next_line(v, o);
        }
        *wait = 1;
        return o;
    }
    if (sip.content_length == -2) {
        t->stats.bad_content_length++;
        stream_desync(t, s);
        return next_line(v, o);
    }
    size_t total = sip.header_len + (size_t)(sip.content_length > 0 ? sip.content_length : 0);
    if (total > t->opts.max_stream_bytes) {
        /* discard exactly this message, then carry on framing */
        t->stats.message_too_big++;
        size_t now = HA_MIN(total, avail);
        s->skip = total - now;
        s->need = 0;
        return o + now;
    }
    if (avail < total) {
        s->need = total;
        *wait = 1;
        return o;
    }
    uint64_t sec;
    uint32_t usec;
    view_time(v, o, &sec, &usec);
    s->need = 0;
    t->stats.messages++;
    t->emit(t->ctx, pkt, RULE_TRANSPORT_TCP, v->p + o, total, &sip, sec, usec);
    return o + total;
}

/* Case-insensitive search for a header line "name: ...value..." in an HTTP
 * header block. */
static int http_header_has(const uint8_t *p, size_t n, const char *name, const char *value)
{
    size_t name_len = strlen(name), value_len = strlen(value);
    for (size_t pos = 0; pos < n;) {
        const uint8_t *nl = memchr(p + pos, '\n', n - pos);
        size_t end = nl ? (size_t)(nl - p) : n;
        if (end - pos > name_len && strncasecmp((const char *)p + pos, name, name_len) == 0 &&
            p[pos + name_len] == ':') {
            for (size_t i = pos + name_len; i + value_len <= end; i++)
                if (strncasecmp((const char *)p + i, value, value_len) == 0) return 1;
        }
        pos = end + 1;
    }
    return 0;
}

/* The first bytes of a stream: SIP, an HTTP upgrade to WebSocket, TLS, or
 * something else to ignore. */
static size_t frame_start(tcpstream_t *t, stream_t *s, const view_t *v, size_t o, int *wait)
{
    o = skip_crlf(t, v, o);
    if (o == v->n) return o;
    const uint8_t *p = v->p + o;
    size_t avail = v->n - o;
    sip_result_t r = sip_probe_start_line(p, avail);
    if (r == SIP_OK) {
        s->mode = MODE_SIP;
        return o;
    }
    if (p[0] == 0x16 && (avail < 2 || p[1] == 0x03)) {
        t->stats.tls_streams++;
        s->mode = MODE_TLS;
        return v->n;
    }
    int request = avail >= 4 ? memcmp(p, "GET ", 4) == 0 : memcmp(p, "GET ", avail) == 0;
    int response = avail >= 7 ? memcmp(p, "HTTP/1.", 7) == 0 : memcmp(p, "HTTP/1.", avail) == 0;
    if (request || response) {
        const uint8_t *end = memmem(p, avail, "\r\n\r\n", 4);
        if (!end) {
            if (avail < HTTP_HEADER_MAX) {
                *wait = 1;
                return o;
            }
        } else {
            size_t header = (size_t)(end - p) + 4;
            int upgrade = http_header_has(p, header, "Upgrade", "websocket") &&
                          (request || (header > 12 && memcmp(p + 9, "101", 3) == 0));
            if (upgrade) {
                if (request) t->stats.ws_streams++;
                s->mode = MODE_WS;
                return o + header;
            }
        }
    } else if (r == SIP_INCOMPLETE) {
        *wait = 1;
        return o;
    }
    if (!s->seen_syn) { /* seen from the middle: look for the next start line */
        s->mode = MODE_SIP;
        stream_desync(t, s);
        return o;
    }
    t->stats.not_sip_streams++;
    s->mode = MODE_IGNORE;
    return v->n;
}

static void ws_message_done(tcpstream_t *t, stream_t *s, const packet_t *pkt)
{
    s->ws_in_msg = 0;
    sip_msg_t sip;
    sip_result_t r = sip_parse(s->ws, s->ws_len, &sip);
    if (r == SIP_NOT_SIP || !sip_has_mandatory(&sip)) {
        t->stats.ws_not_sip++;
        return;
    }
    t->stats.ws_messages++;
    t->emit(t->ctx, pkt, RULE_TRANSPORT_WS, s->ws, s->ws_len, &sip, s->ws_sec, s->ws_usec);
}

/* One WebSocket frame (RFC 6455 section 5.2). */
static size_t frame_ws(tcpstream_t *t, stream_t *s, const packet_t *pkt, const view_t *v, size_t o,
                       int *wait)
{
    const uint8_t *p = v->p + o;
    size_t avail = v->n - o;
    if (avail < 2) {
        *wait = 1;
        return o;
    }
    int fin = p[0] >> 7, opcode = p[0] & 0x0f, compressed = (p[0] & 0x40) != 0;
    int masked = p[1] >> 7;
    uint64_t len = p[1] & 0x7f;
    size_t header = 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + (masked ? 4 : 0);
    if (avail < header) {
        *wait = 1;
        return o;
    }
    if (len == 126)
        len = be16(p + 2);
    else if (len == 127)
        len = ((uint64_t)be32(p + 2) << 32) | be32(p + 6);
    if (len > t->opts.max_stream_bytes || (p[0] & 0x30) != 0) {
        t->stats.ws_errors++;
        s->mode = MODE_IGNORE;
        return v->n;
    }
    if (avail < header + len) {
        s->need = header + (size_t)len;
        *wait = 1;
        return o;
    }
    s->need = 0;
    const uint8_t *mask = masked ? p + header - 4 : NULL;
    const uint8_t *payload = p + header;
    if (opcode >= 8) return o + header + (size_t)len; /* close, ping, pong */
    if (opcode == 1 || opcode == 2) {
        if (s->ws_in_msg) t->stats.ws_errors++; /* unfinished message replaced */
        s->ws_in_msg = 1;
        s->ws_len = 0;
        view_time(v, o, &s->ws_sec, &s->ws_usec);
    } else if (opcode != 0 || !s->ws_in_msg) {
        t->stats.ws_errors++;
        return o + header + (size_t)len;
    }
    if (compressed) { /* permessage-deflate: not decoded */
        t->stats.ws_errors++;
        s->ws_in_msg = 0;
        return o + header + (size_t)len;
    }
    if (s->ws_len + len > t->opts.max_stream_bytes ||
        !buffer_grow(t, s, &s->ws, &s->ws_cap, s->ws_len + (size_t)len)) {
        t->stats.ws_errors++;
        s->ws_in_msg = 0;
        return o + header + (size_t)len;
    }
    for (size_t i = 0; i < len; i++)
        s->ws[s->ws_len + i] = mask ? payload[i] ^ mask[i & 3] : payload[i];
    s->ws_len += (size_t)len;
    if (fin) ws_message_done(t, s, pkt);
    return o + header + (size_t)len;
}

/* Frames as much of v as possible; returns the bytes consumed. */
static size_t stream_frame(tcpstream_t *t, stream_t *s, const packet_t *pkt, const view_t *v)
{
    size_t o = 0;
    int wait = 0;
    while (o < v->n && !wait) {
        if (s->skip) {
            size_t d = HA_MIN(s->skip, v->n - o);
            s->skip -= d;
            o += d;
            continue;
        }
        if (s->resync) {
            o = frame_resync(t, s, v, o, &wait);
            continue;
        }
        switch (s->mode) {
        case MODE_START:
            o = frame_start(t, s, v, o, &wait);
            break;
        case MODE_SIP:
            o = frame_sip(t, s, pkt, v, o, &wait);
            break;
        case MODE_WS:
            o = frame_ws(t, s, pkt, v, o, &wait);
            break;
        default:
            return v->n;
        }
    }
    return o;
}

/* In-order bytes of the stream. */
static void stream_deliver(tcpstream_t *t, stream_t *s, const packet_t *pkt, const uint8_t *data,
                           size_t len, uint64_t sec, uint32_t usec)
{
    s->next_seq += (uint32_t)len;
    if (s->mode == MODE_TLS || s->mode == MODE_IGNORE || s->mode == MODE_CLOSED) return;
    if (s->len == 0) {
        view_t v = {data, len, NULL, 0, sec, usec};
        size_t used = stream_frame(t, s, pkt, &v);
        if (used < len && s->mode != MODE_TLS && s->mode != MODE_IGNORE)
            stream_keep(t, s, data + used, len - used, sec, usec);
        return;
    }
    if (!stream_keep(t, s, data, len, sec, usec)) {
        /* the message in progress was dropped: frame this segment alone */
        view_t v = {data, len, NULL, 0, sec, usec};
        size_t used = stream_frame(t, s, pkt, &v);
        if (used < len) stream_keep(t, s, data + used, len - used, sec, usec);
        return;
    }
    view_t v = {s->buf, s->len, s->marks, s->nmarks, sec, usec};
    size_t used = stream_frame(t, s, pkt, &v);
    if (s->mode == MODE_TLS || s->mode == MODE_IGNORE) used = s->len;
    stream_consume(t, s, used);
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
    if (stream_mid_message(s) && s->len) t->stats.incomplete_at_close++;
    s->len = 0;
    s->nmarks = 0;
    s->need = 0;
    s->skip = 0;
    if (s->mode == MODE_WS) {
        /* framing resumes at a segment that starts a frame carrying SIP */
        s->ws_in_msg = 0;
        s->mode = MODE_SIP;
        stream_desync(t, s);
    } else if (s->mode == MODE_SIP || s->mode == MODE_START) {
        s->mode = MODE_SIP;
        stream_desync(t, s);
    }
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
    if (!r || !r->ooo || r->mode == MODE_CLOSED) return;
    if ((int32_t)(pkt->tcp_ack - r->next_seq) <= 0) return;
    stream_skip_hole(t, r, &rev);
}

static void stream_reset(tcpstream_t *t, stream_t *s, uint32_t next_seq, int syn)
{
    stream_clear(t, s);
    s->mode = MODE_START;
    s->resync = 0;
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
            if (!(s->seen_syn && s->next_seq == seq + 1 && s->mode != MODE_CLOSED))
                stream_reset(t, s, seq + 1, 1); /* a new connection on the same ports */
        } else if (s->mode == MODE_CLOSED && len > 0 && (int32_t)(seq - s->next_seq) >= 0) {
            stream_reset(t, s, seq, 0); /* its SYN was not captured */
        }
    }
    s->last_ms = now_ms;
    if (flags & TCP_FLAG_SYN) seq++; /* the SYN takes one sequence number */

    if (len > 0 && s->mode != MODE_CLOSED) {
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
                if (s->ooo_bytes + s->len > t->opts.max_stream_bytes) stream_skip_hole(t, s, pkt);
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
    if ((flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) && s->mode != MODE_CLOSED) {
        /* FIN is final only once everything before it arrived */
        if ((flags & TCP_FLAG_RST) || (int32_t)(seq + (uint32_t)len - s->next_seq) <= 0) {
            if (stream_mid_message(s)) t->stats.incomplete_at_close++;
            stream_clear(t, s);
            s->mode = MODE_CLOSED;
            if (flags & TCP_FLAG_FIN) s->next_seq++;
        }
    }
}

const tcpstream_stats_t *tcpstream_stats(const tcpstream_t *t)
{
    return &t->stats;
}
size_t tcpstream_memory(const tcpstream_t *t)
{
    return t->memory;
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
        s->mode = MODE_CLOSED; /* not counted as incomplete: the agent is stopping */
        stream_destroy(t, s);
    }
    free(t->buckets);
    free(t);
}

/* The QoS table: RTP streams keyed by flow (addresses, ports, VLAN) + SSRC in
 * a hash with an LRU list for expiry and eviction, a second hash by Call-ID
 * for ending a call's streams. Entries live in one array of max_streams
 * slots (reserved at start, its pages touched only as slots are first
 * used) and are recycled through a free list: nothing is allocated after
 * start. The LRU links sit in a dense array of their own, so moving a
 * stream to the tail on every packet touches small neighbouring entries,
 * not three other streams' cache lines. Reports are rendered into one
 * buffer the table owns. The arithmetic lives in rtpstat.c. */
#include "hepagent/qos.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hepagent/common.h"
#include "hepagent/lru.h"
#include "hepagent/rtpstat.h"

enum {
    EVICT_QUIET_MS = 2000, /* a full table ends a stream this quiet to make room */
};

#define OLDEST(t) node_stream((t), (t)->lru.head)

typedef struct stream {
    struct stream *hash_next; /* flow bucket chain, or the free list */
    struct stream *call_next; /* call bucket chain */
    uint32_t bucket, call_bucket;
    uint32_t call_hash;
    flow_key_t key;
    uint32_t ssrc;
    uint8_t payload_type; /* the stream's codec (not CN or telephone-event) */
    uint8_t codec_known;
    uint8_t video;
    uint32_t clock_rate;
    uint64_t packets_reported; /* packets at the last report */
    uint32_t tag;              /* qos_rtp's, from the latest packet */
    rtpstat_t st;
    uint16_t call_id_len;
    char codec[QOS_CODEC_MAX];
    uint8_t call_id[QOS_CALL_ID_MAX];
} stream_t;

struct qos_table {
    qos_options_t opts;
    qos_stats_t stats;
    qos_report_fn report;
    void *ctx;
    stream_t **buckets;
    stream_t **call_buckets;
    uint32_t nbuckets; /* both hashes, a power of two */
    lru_list_t lru;    /* head: least recently heard */
    stream_t *slab;    /* max_streams slots */
    lru_node_t *nodes; /* the LRU link of slab[i] is nodes[i] */
    stream_t *free_list;
    size_t count, allocated; /* slots in use, slots ever used */
    uint64_t now_us;         /* the capture clock: latest time seen */
    uint64_t next_interval_us;
    char json[QOS_JSON_MAX];
};

void qos_options_default(qos_options_t *o)
{
    o->max_streams = QOS_DEFAULT_MAX_STREAMS;
    o->stream_timeout_ms = QOS_DEFAULT_STREAM_TIMEOUT_MS;
    o->interval_s = QOS_DEFAULT_INTERVAL_S;
    o->delay_ms = QOS_DEFAULT_DELAY_MS;
}

static stream_t *node_stream(const qos_table_t *t, lru_node_t *n)
{
    return n ? &t->slab[n - t->nodes] : NULL;
}

static lru_node_t *stream_node(const qos_table_t *t, const stream_t *s)
{
    return &t->nodes[s - t->slab];
}

qos_table_t *qos_new(const qos_options_t *o, qos_report_fn fn, void *ctx)
{
    qos_table_t *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    if (o)
        t->opts = *o;
    else
        qos_options_default(&t->opts);
    if (t->opts.max_streams == 0) t->opts.max_streams = 1;
    t->report = fn;
    t->ctx = ctx;
    t->nbuckets = 256;
    while (t->nbuckets < t->opts.max_streams && t->nbuckets < (1u << 20))
        t->nbuckets *= 2;
    t->buckets = calloc(t->nbuckets, sizeof(stream_t *));
    t->call_buckets = calloc(t->nbuckets, sizeof(stream_t *));
    t->slab = calloc(t->opts.max_streams, sizeof(stream_t));
    t->nodes = calloc(t->opts.max_streams, sizeof(lru_node_t));
    if (!t->buckets || !t->call_buckets || !t->slab || !t->nodes) {
        qos_free(t);
        return NULL;
    }
    return t;
}

void qos_free(qos_table_t *t)
{
    if (!t) return;
    free(t->slab);
    free(t->nodes);
    free(t->buckets);
    free(t->call_buckets);
    free(t);
}

/* ---- the E-model ------------------------------------------------------ */

typedef struct {
    const char *codec;
    double ie;  /* equipment impairment */
    double bpl; /* packet-loss robustness */
} codec_impairment_t;

/* ITU-T G.113 Appendix I where it lists the codec; the others are scored
 * on the narrowband scale with the values stated in README. */
static const codec_impairment_t IMPAIRMENTS[] = {
    {"PCMU", 0, 25.1},  {"PCMA", 0, 25.1},  {"G711", 0, 25.1},   {"G722", 0, 25.1},
    {"opus", 0, 25.1},  {"G729", 11, 19.0}, {"G723", 15, 16.1},  {"GSM", 20, 10.0},
    {"iLBC", 11, 32.0}, {"AMR", 5, 10.0},   {"speex", 11, 19.0},
};

static const codec_impairment_t DEFAULT_IMPAIRMENT = {"", 0, 25.1};

static const codec_impairment_t *impairment_of(const char *codec)
{
    if (codec)
        for (size_t i = 0; i < HA_ARRAY_LEN(IMPAIRMENTS); i++)
            if (strncasecmp(codec, IMPAIRMENTS[i].codec, strlen(IMPAIRMENTS[i].codec)) == 0)
                return &IMPAIRMENTS[i];
    return &DEFAULT_IMPAIRMENT;
}

double qos_r_factor(const char *codec, double loss_pct, double delay_ms)
{
    const codec_impairment_t *c = impairment_of(codec);
    if (loss_pct < 0) loss_pct = 0;
    if (loss_pct > 100) loss_pct = 100;
    if (delay_ms < 0) delay_ms = 0;
    /* G.107 with the default R0 - Is = 93.2, A = 0, random loss (BurstR 1) */
    double ie_eff = c->ie + (95 - c->ie) * loss_pct / (loss_pct + c->bpl);
    double id = 0.024 * delay_ms + (delay_ms > 177.3 ? 0.11 * (delay_ms - 177.3) : 0);
    double r = 93.2 - id - ie_eff;
    return r < 0 ? 0 : r;
}

double qos_mos(double r)
{
    if (r <= 0) return 1.0;
    if (r >= 100) return 4.5;
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
}

/* ---- reports ---------------------------------------------------------- */

static const char *const REASONS[] = {"interval", "call_end", "flow_end",
                                      "timeout",  "evicted",  "stop"};

static void numbers_of(const qos_table_t *t, const stream_t *s, qos_numbers_t *n)
{
    const rtpstat_t *st = &s->st;
    memset(n, 0, sizeof(*n));
    n->ssrc = s->ssrc;
    n->payload_type = s->payload_type;
    n->clock_rate = s->clock_rate;
    n->packets = st->packets;
    n->expected = rtpstat_expected(st);
    n->lost = rtpstat_lost(st);
    n->rfc3550_expected = rtp_seq_expected(&st->rfc);
    n->rfc3550_lost = rtp_seq_lost(&st->rfc);
    n->restarts = st->rfc.restarts;
    n->duplicates = st->duplicates;
    n->out_of_order = st->out_of_order;
    n->seq_errors = st->seq_errors;
    n->loss_pct = n->expected > 0 ? 100.0 * (double)n->lost / (double)n->expected : 0;
    n->delta_max_ms = st->delta_max_ms;
    n->jitter_mean_ms = st->jitter_mean_ms;
    n->jitter_max_ms = st->jitter_max_ms;
    n->jitter_ms = st->jitter_ms;
    if (!s->video) {
        /* the E-model takes the loss RFC 3550 counts (never negative), and a
         * jitter buffer twice the mean jitter on top of the configured delay */
        double lost = n->rfc3550_lost > 0 ? (double)n->rfc3550_lost : 0;
        double pct = n->rfc3550_expected ? 100.0 * lost / (double)n->rfc3550_expected : 0;
        n->r_factor = qos_r_factor(s->codec, pct, t->opts.delay_ms + 2 * st->jitter_mean_ms);
        n->mos = qos_mos(n->r_factor);
    }
}

static void addr_text(uint8_t version, const uint8_t *a, char *out, size_t cap)
{
    if (!inet_ntop(version == 6 ? AF_INET6 : AF_INET, a, out, (socklen_t)cap))
        snprintf(out, cap, "?");
}

/* The codec name is ours or the caller's: printable ASCII without quotes or
 * backslashes is all a JSON string needs escaped here. */
static size_t render_json(qos_table_t *t, const stream_t *s, const qos_numbers_t *n, int final,
                          qos_reason_t why)
{
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
    addr_text(s->key.version, s->key.src, src, sizeof(src));
    addr_text(s->key.version, s->key.dst, dst, sizeof(dst));
    char mos[32], r[32];
    if (s->video) {
        snprintf(mos, sizeof(mos), "null");
        snprintf(r, sizeof(r), "null");
    } else {
        snprintf(mos, sizeof(mos), "%.2f", n->mos);
        snprintf(r, sizeof(r), "%.2f", n->r_factor);
    }
    int len = snprintf(
        t->json, sizeof(t->json),
        "{\"ssrc\":%u,\"payload_type\":%u,\"codec\":\"%s\",\"clock_rate\":%u,"
        "\"src_ip\":\"%s\",\"src_port\":%u,\"dst_ip\":\"%s\",\"dst_port\":%u,"
        "\"start\":%llu.%06llu,\"end\":%llu.%06llu,\"packets\":%llu,\"expected\":%lld,"
        "\"lost\":%lld,\"loss_pct\":%.2f,\"duplicates\":%llu,\"out_of_order\":%llu,"
        "\"seq_errors\":%llu,\"rfc3550_expected\":%llu,\"rfc3550_lost\":%lld,\"restarts\":%u,"
        "\"delta_max_ms\":%.3f,\"jitter_ms\":%.3f,\"jitter_mean_ms\":%.3f,"
        "\"jitter_max_ms\":%.3f,\"r_factor\":%s,\"mos\":%s,\"final\":%s,\"reason\":\"%s\"}",
        n->ssrc, n->payload_type, s->codec, n->clock_rate, src, s->key.sport, dst, s->key.dport,
        (unsigned long long)(s->st.first_us / 1000000),
        (unsigned long long)(s->st.first_us % 1000000),
        (unsigned long long)(s->st.last_us / 1000000),
        (unsigned long long)(s->st.last_us % 1000000), (unsigned long long)n->packets,
        (long long)n->expected, (long long)n->lost, n->loss_pct, (unsigned long long)n->duplicates,
        (unsigned long long)n->out_of_order, (unsigned long long)n->seq_errors,
        (unsigned long long)n->rfc3550_expected, (long long)n->rfc3550_lost, n->restarts,
        n->delta_max_ms, n->jitter_ms, n->jitter_mean_ms, n->jitter_max_ms, r, mos,
        final ? "true" : "false", REASONS[why]);
    if (len < 0) return 0;
    return (size_t)len < sizeof(t->json) ? (size_t)len : sizeof(t->json) - 1;
}

static void report(qos_table_t *t, stream_t *s, int final, qos_reason_t why, uint64_t at_us)
{
    qos_numbers_t n;
    numbers_of(t, s, &n);
    qos_report_t r;
    memset(&r, 0, sizeof(r));
    r.ip_version = s->key.version;
    memcpy(r.src_addr, s->key.src, 16);
    memcpy(r.dst_addr, s->key.dst, 16);
    r.src_port = s->key.sport;
    r.dst_port = s->key.dport;
    r.vlan = s->key.vlan;
    r.call_id = s->call_id;
    r.call_id_len = s->call_id_len;
    r.tag = s->tag;
    r.final = final;
    r.reason = why;
    r.ts_sec = at_us / 1000000;
    r.ts_usec = (uint32_t)(at_us % 1000000);
    r.json_len = render_json(t, s, &n, final, why);
    r.json = t->json;
    r.codec = s->codec;
    r.mos = n.mos;
    r.numbers = &n;
    s->packets_reported = s->st.packets;
    t->stats.reports++;
    if (final) t->stats.reports_final++;
    if (t->report) t->report(t->ctx, &r);
}

/* ---- table ------------------------------------------------------------ */

static uint32_t call_hash(const uint8_t *id, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ id[i]) * 16777619u;
    return h;
}

static void unlink_chain(stream_t **slot, stream_t *s, int call_chain)
{
    while (*slot && *slot != s)
        slot = call_chain ? &(*slot)->call_next : &(*slot)->hash_next;
    if (*slot) *slot = call_chain ? s->call_next : s->hash_next;
}

/* Final report, then the entry goes back to the free list. */
static void stream_end(qos_table_t *t, stream_t *s, qos_reason_t why, uint64_t at_us)
{
    report(t, s, 1, why, at_us);
    unlink_chain(&t->buckets[s->bucket], s, 0);
    unlink_chain(&t->call_buckets[s->call_bucket], s, 1);
    lru_unlink(&t->lru, stream_node(t, s));
    t->count--;
    s->hash_next = t->free_list;
    t->free_list = s;
}

static uint64_t timeout_us(const qos_table_t *t)
{
    return (uint64_t)t->opts.stream_timeout_ms * 1000;
}

static void expire(qos_table_t *t, uint64_t now_us)
{
    while (t->lru.head && OLDEST(t)->st.last_us + timeout_us(t) < now_us) {
        stream_t *s = OLDEST(t);
        t->stats.streams_expired++;
        /* the report is dated when the stream went quiet */
        stream_end(t, s, QOS_REASON_TIMEOUT, s->st.last_us);
    }
}

static void interim_reports(qos_table_t *t, uint64_t now_us)
{
    for (lru_node_t *n = t->lru.head; n; n = n->next) {
        stream_t *s = node_stream(t, n);
        if (s->st.packets != s->packets_reported) report(t, s, 0, QOS_REASON_INTERVAL, now_us);
    }
}

static void clock_moved(qos_table_t *t, uint64_t now_us)
{
    if (now_us <= t->now_us) return;
    t->now_us = now_us;
    expire(t, now_us); /* looks at the least recently heard stream only */
    if (t->opts.interval_s) {
        uint64_t every = (uint64_t)t->opts.interval_s * 1000000;
        if (t->next_interval_us == 0) {
            t->next_interval_us = now_us - now_us % every + every;
        } else if (now_us >= t->next_interval_us) {
            interim_reports(t, now_us);
            t->next_interval_us = now_us - now_us % every + every;
        }
    }
}

static int key_match(const stream_t *s, const packet_t *pkt, uint32_t ssrc)
{
    return s->ssrc == ssrc && flow_key_match(&s->key, pkt);
}

/* A slot for a new stream: a recycled entry, a new one while under the
 * bound, or the quietest stream's when it has been quiet long enough. */
static stream_t *stream_slot(qos_table_t *t, uint64_t now_us)
{
    if (t->count >= t->opts.max_streams) {
        stream_t *old = OLDEST(t);
        if (!old || old->st.last_us + (uint64_t)EVICT_QUIET_MS * 1000 > now_us) {
            t->stats.streams_refused++;
            return NULL;
        }
        t->stats.streams_evicted++;
        stream_end(t, old, QOS_REASON_EVICTED, now_us);
    }
    stream_t *s = t->free_list;
    if (s) {
        t->free_list = s->hash_next;
        return s;
    }
    return &t->slab[t->allocated++]; /* count < max_streams: a slot is left */
}

static void set_codec(stream_t *s, uint8_t pt, uint32_t clock_rate, const char *codec)
{
    const rtp_payload_type_t *st = rtp_static_payload_type(pt);
    if (!codec && st) codec = st->codec;
    if (!clock_rate && st) clock_rate = st->clock_rate;
    s->payload_type = pt;
    s->clock_rate = clock_rate;
    s->video = (st && st->video) || clock_rate == 90000;
    if (codec)
        snprintf(s->codec, sizeof(s->codec), "%s", codec);
    else
        snprintf(s->codec, sizeof(s->codec), "PT%u", pt);
    /* keep the JSON string plain */
    for (char *c = s->codec; *c; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\') *c = '_';
}

static int is_event(const char *codec)
{
    return codec && strncasecmp(codec, "telephone-event", 15) == 0;
}

/* A payload type that says nothing about the voice: comfort noise, DTMF. */
static int is_side_payload(uint8_t pt, const char *codec)
{
    return pt == RTPSTAT_PT_CN || pt == RTPSTAT_PT_CN_OLD || is_event(codec);
}

static stream_t *stream_create(qos_table_t *t, const packet_t *pkt, const rtp_header_t *h,
                               uint32_t bucket, const uint8_t *call_id, size_t call_id_len,
                               uint64_t now_us)
{
    stream_t *s = stream_slot(t, now_us);
    if (!s) return NULL;
    memset(s, 0, offsetof(stream_t, codec));
    flow_key_set(&s->key, pkt);
    s->ssrc = h->ssrc;
    if (call_id_len > QOS_CALL_ID_MAX) {
        t->stats.call_id_too_long++;
        call_id_len = QOS_CALL_ID_MAX;
    }
    if (call_id_len) memcpy(s->call_id, call_id, call_id_len);
    s->call_id_len = (uint16_t)call_id_len;
    s->call_hash = call_hash(s->call_id, call_id_len);
    s->bucket = bucket;
    s->hash_next = t->buckets[bucket];
    t->buckets[bucket] = s;
    s->call_bucket = s->call_hash & (t->nbuckets - 1);
    s->call_next = t->call_buckets[s->call_bucket];
    t->call_buckets[s->call_bucket] = s;
    lru_append(&t->lru, stream_node(t, s));
    t->count++;
    t->stats.streams++;
    return s;
}

/* The clock rate jitter is measured with for this packet, as Wireshark
 * picks it: the static table below 96 (CN's old type 19 included),
 * telephone-event never, a dynamic type by its rtpmap. */
static uint32_t jitter_clock(uint8_t pt, uint32_t clock_rate, const char *codec)
{
    if (pt < RTP_PT_DYNAMIC_FIRST) {
        if (pt == RTPSTAT_PT_CN_OLD) return 8000;
        const rtp_payload_type_t *st = rtp_static_payload_type(pt);
        return st ? st->clock_rate : clock_rate;
    }
    return is_event(codec) ? 0 : clock_rate;
}

void qos_rtp(qos_table_t *t, const packet_t *pkt, const rtp_header_t *h, const uint8_t *call_id,
             size_t call_id_len, uint32_t clock_rate, const char *codec, uint32_t tag)
{
    uint64_t now_us = pkt->ts_sec * 1000000 + pkt->ts_usec;
    clock_moved(t, now_us);
    t->stats.packets++;
    uint32_t bucket = flow_hash(pkt) & (t->nbuckets - 1);
    stream_t *s = t->buckets[bucket];
    while (s && !key_match(s, pkt, h->ssrc))
        s = s->hash_next;
    if (!s) {
        s = stream_create(t, pkt, h, bucket, call_id, call_id_len, now_us);
        if (!s) return;
        s->tag = tag;
        set_codec(s, h->payload_type, clock_rate, codec);
        s->codec_known = !is_side_payload(h->payload_type, s->codec);
        rtpstat_start(&s->st, now_us, h->seq, h->timestamp, h->payload_type);
        if (!jitter_clock(h->payload_type, clock_rate, codec)) t->stats.no_clock_rate++;
        return;
    }
    s->tag = tag;
    lru_node_t *node = stream_node(t, s);
    if (t->lru.tail != node) lru_touch(&t->lru, node);
    if (now_us < s->st.last_us) t->stats.clock_went_back++;
    if (!s->codec_known && !is_side_payload(h->payload_type, codec)) {
        set_codec(s, h->payload_type, clock_rate, codec);
        s->codec_known = 1;
    }
    rtpstat_add(&s->st, now_us, h->seq, h->timestamp, h->payload_type, h->marker,
                jitter_clock(h->payload_type, clock_rate, codec));
}

void qos_not_rtp(qos_table_t *t, rtp_result_t why)
{
    if ((unsigned)why < RTP_RESULT_COUNT) t->stats.not_rtp[why]++;
}

void qos_end_call(qos_table_t *t, const uint8_t *call_id, size_t call_id_len, uint64_t ts_sec,
                  uint32_t ts_usec)
{
    if (call_id_len > QOS_CALL_ID_MAX) call_id_len = QOS_CALL_ID_MAX;
    uint64_t at = ts_sec * 1000000 + ts_usec;
    uint32_t h = call_hash(call_id, call_id_len);
    stream_t **slot = &t->call_buckets[h & (t->nbuckets - 1)];
    for (stream_t *s = *slot, *next; s; s = next) {
        next = s->call_next;
        if (s->call_hash == h && s->call_id_len == call_id_len &&
            memcmp(s->call_id, call_id, call_id_len) == 0) {
            t->stats.streams_ended++;
            stream_end(t, s, QOS_REASON_CALL_END, at);
        }
    }
    clock_moved(t, at);
}

void qos_end_flow(qos_table_t *t, uint8_t version, const uint8_t *src_addr, uint16_t src_port,
                  const uint8_t *dst_addr, uint16_t dst_port, uint16_t vlan, uint64_t ts_sec,
                  uint32_t ts_usec)
{
    packet_t p;
    memset(&p, 0, sizeof(p));
    p.ip_version = version;
    memcpy(p.src_addr, src_addr, 16);
    memcpy(p.dst_addr, dst_addr, 16);
    p.src_port = src_port;
    p.dst_port = dst_port;
    if (vlan) {
        p.vlan_ids[0] = vlan;
        p.vlan_count = 1;
    }
    uint64_t at = ts_sec * 1000000 + ts_usec;
    for (stream_t *s = t->buckets[flow_hash(&p) & (t->nbuckets - 1)], *next; s; s = next) {
        next = s->hash_next;
        if (flow_key_match(&s->key, &p)) {
            t->stats.streams_ended++;
            stream_end(t, s, QOS_REASON_FLOW_END, at);
        }
    }
    clock_moved(t, at);
}

void qos_tick(qos_table_t *t, uint64_t ts_sec, uint32_t ts_usec)
{
    clock_moved(t, ts_sec * 1000000 + ts_usec);
}

void qos_finish(qos_table_t *t)
{
    while (t->lru.head) {
        stream_t *s = OLDEST(t);
        t->stats.streams_ended++;
        stream_end(t, s, QOS_REASON_STOP, s->st.last_us);
    }
}

const qos_stats_t *qos_get_stats(const qos_table_t *t)
{
    return &t->stats;
}

size_t qos_memory(const qos_table_t *t)
{
    return sizeof(*t) + 2 * (size_t)t->nbuckets * sizeof(stream_t *) +
           t->allocated * (sizeof(stream_t) + sizeof(lru_node_t));
}

size_t qos_count(const qos_table_t *t)
{
    return t->count;
}

void qos_visit_stats(const qos_table_t *t, const stats_visitor_t *v)
{
#define QOS_VISIT(name, help)                                                                      \
    stats_emit(v, "qos." #name, NULL, NULL, STATS_COUNTER, t->stats.name, help);
    QOS_COUNTERS(QOS_VISIT)
#undef QOS_VISIT
    static const char *const names[] = {
#define RTP_NAME(name, help) "qos.not_rtp_" #name,
        RTP_RESULTS(RTP_NAME)
#undef RTP_NAME
    };
    static const char *const helps[] = {
#define RTP_HELP(name, help) help,
        RTP_RESULTS(RTP_HELP)
#undef RTP_HELP
    };
    for (unsigned i = 1; i < RTP_RESULT_COUNT; i++)
        stats_emit(v, names[i], NULL, NULL, STATS_COUNTER, t->stats.not_rtp[i], helps[i]);
    stats_emit(v, "qos.streams_now", NULL, NULL, STATS_GAUGE, t->count, "RTP streams measured now");
    stats_emit(v, "qos.memory_bytes", NULL, NULL, STATS_GAUGE, qos_memory(t),
               "bytes held by the QoS table");
}

/* SCTP DATA chunk handling. Duplicate detection keeps, per direction, the
 * highest TSN seen and a 64-bit window below it; INIT and INIT ACK reset a
 * direction to the initial TSN they announce. Fragments are joined in TSN
 * order, which is how a sender emits them; a fragment that comes before its
 * turn (the one before it was lost on the way to the capture and comes again
 * as a retransmission) waits in a short list until the gap is filled. */
#include "hepagent/sctp.h"
#include "hepagent/common.h"
#include "hepagent/lru.h"

#include <stdlib.h>
#include <string.h>

enum {
    SCTP_CHUNK_DATA = 0,
    SCTP_CHUNK_INIT = 1,
    SCTP_CHUNK_INIT_ACK = 2,
    SCTP_CHUNK_IDATA = 64,
    SCTP_FLAG_END = 0x01,
    SCTP_FLAG_BEGIN = 0x02,
    SCTP_FLAG_UNORDERED = 0x04,
    SCTP_BUCKETS = 1024,
    SCTP_MAX_EARLY = 16, /* fragments waiting for the ones before them, per direction */
};

/* A fragment that arrived before its turn. */
typedef struct early_frag {
    struct early_frag *next; /* arrival order */
    uint32_t tsn;
    uint16_t sid;
    uint8_t flags;
    uint64_t sec;
    uint32_t usec;
    size_t len;
    uint8_t data[];
} early_frag_t;

#define OLDEST(s) LRU_ENTRY((s)->lru.head, assoc_t, lru)

typedef struct assoc {
    struct assoc *hash_next;
    lru_node_t lru;
    uint32_t bucket;
    flow_key_t key;
    uint64_t last_ms;
    int have_tsn;
    uint32_t max_tsn;
    uint64_t seen; /* bit i: TSN max_tsn - i was seen */
    /* one fragmented message at a time per direction: senders finish one
     * before the next on the same stream, and SIP rarely needs fragments */
    uint8_t *frag;
    size_t frag_len, frag_cap;
    int in_frag;
    uint32_t frag_next_tsn;
    uint16_t frag_sid;
    uint64_t frag_sec;
    uint32_t frag_usec;
    early_frag_t *early;
    unsigned nearly;
} assoc_t;

struct sctp {
    sctp_options_t opts;
    sctp_stats_t stats;
    sctp_emit_fn emit;
    void *ctx;
    assoc_t *buckets[SCTP_BUCKETS];
    lru_list_t lru; /* head: least recently used */
    size_t count;
    size_t memory;
};

sctp_t *sctp_new(const sctp_options_t *opts, sctp_emit_fn emit, void *ctx)
{
    sctp_t *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->opts = *opts;
    s->emit = emit;
    s->ctx = ctx;
    return s;
}

static void assoc_early_free(sctp_t *s, assoc_t *a, early_frag_t **at)
{
    early_frag_t *f = *at;
    *at = f->next;
    a->nearly--;
    s->memory -= sizeof(*f) + f->len;
    free(f);
}

static void assoc_early_clear(sctp_t *s, assoc_t *a)
{
    while (a->early)
        assoc_early_free(s, a, &a->early);
}

static void assoc_destroy(sctp_t *s, assoc_t *a)
{
    assoc_early_clear(s, a);
    assoc_t **slot = &s->buckets[a->bucket];
    while (*slot && *slot != a)
        slot = &(*slot)->hash_next;
    if (*slot) *slot = a->hash_next;
    lru_unlink(&s->lru, &a->lru);
    s->memory -= sizeof(*a) + a->frag_cap;
    s->count--;
    free(a->frag);
    free(a);
}

static assoc_t *assoc_get(sctp_t *s, const packet_t *pkt, uint64_t now_ms)
{
    while (s->lru.head && OLDEST(s)->last_ms + s->opts.timeout_ms < now_ms) {
        s->stats.expired++;
        assoc_destroy(s, OLDEST(s));
    }
    uint32_t bucket = flow_hash(pkt) % SCTP_BUCKETS;
    for (assoc_t *a = s->buckets[bucket]; a; a = a->hash_next) {
        if (flow_key_match(&a->key, pkt)) {
            lru_touch(&s->lru, &a->lru);
            a->last_ms = now_ms;
            return a;
        }
    }
    while ((s->count >= s->opts.max_associations || s->memory + sizeof(assoc_t) > s->opts.memcap) &&
           s->lru.head) {
        s->stats.evicted++;
        assoc_destroy(s, OLDEST(s));
    }
    assoc_t *a = calloc(1, sizeof(*a));
    if (!a) return NULL;
    a->bucket = bucket;
    flow_key_set(&a->key, pkt);
    a->last_ms = now_ms;
    a->hash_next = s->buckets[bucket];
    s->buckets[bucket] = a;
    lru_append(&s->lru, &a->lru);
    s->count++;
    s->memory += sizeof(*a);
    return a;
}

/* Records tsn; returns 1 when it was seen before. */
static int assoc_seen(assoc_t *a, uint32_t tsn)
{
    if (!a->have_tsn) {
        a->have_tsn = 1;
        a->max_tsn = tsn;
        a->seen = 1;
        return 0;
    }
    int32_t d = (int32_t)(tsn - a->max_tsn);
    if (d > 0) {
        a->seen = d >= 64 ? 0 : a->seen << d;
        a->seen |= 1;
        a->max_tsn = tsn;
        return 0;
    }
    if (-d >= 64) return 1; /* older than the window: a late retransmission */
    uint64_t bit = (uint64_t)1 << -d;
    if (a->seen & bit) return 1;
    a->seen |= bit;
    return 0;
}

static void assoc_frag_drop(sctp_t *s, assoc_t *a)
{
    a->in_frag = 0;
    a->frag_len = 0;
    if (a->frag_cap > 65536) {
        s->memory -= a->frag_cap;
        free(a->frag);
        a->frag = NULL;
        a->frag_cap = 0;
    }
}

static int assoc_frag_append(sctp_t *s, assoc_t *a, const uint8_t *d, size_t n)
{
    size_t want = a->frag_len + n;
    if (want > s->opts.max_message_bytes) {
        s->stats.too_big++;
        return 0;
    }
    if (want > a->frag_cap) {
        size_t cap = a->frag_cap ? a->frag_cap : 4096;
        while (cap < want)
            cap *= 2;
        if (s->memory + cap - a->frag_cap > s->opts.memcap) {
            s->stats.too_big++;
            return 0;
        }
        uint8_t *grown = realloc(a->frag, cap);
        if (!grown) return 0;
        s->memory += cap - a->frag_cap;
        a->frag = grown;
        a->frag_cap = cap;
    }
    if (n == 0) return 1; /* an empty DATA chunk: nothing to join (frag may be NULL) */
    memcpy(a->frag + a->frag_len, d, n);
    a->frag_len += n;
    return 1;
}

/* Keeps a fragment that is not the next one of the message being joined. */
static void assoc_early_add(sctp_t *s, assoc_t *a, uint32_t tsn, uint16_t sid, uint8_t flags,
                            const packet_t *pkt, const uint8_t *d, size_t n)
{
    if (a->nearly >= SCTP_MAX_EARLY) { /* the oldest will not be used any more */
        s->stats.fragments_lost++;
        assoc_early_free(s, a, &a->early);
    }
    if (n > s->opts.max_message_bytes || s->memory + sizeof(early_frag_t) + n > s->opts.memcap) {
        s->stats.fragments_lost++;
        return;
    }
    early_frag_t *f = malloc(sizeof(*f) + n);
    if (!f) return;
    *f = (early_frag_t){NULL, tsn, sid, flags, pkt->ts_sec, pkt->ts_usec, n};
    memcpy(f->data, d, n);
    early_frag_t **at = &a->early;
    while (*at)
        at = &(*at)->next;
    *at = f;
    a->nearly++;
    s->memory += sizeof(*f) + n;
}

/* Adds the next fragment to the message being joined; hands the message on
 * at its last one. */
static void assoc_frag_next(sctp_t *s, assoc_t *a, const packet_t *pkt, int end, const uint8_t *d,
                            size_t n)
{
    a->frag_next_tsn++;
    if (!assoc_frag_append(s, a, d, n)) {
        assoc_frag_drop(s, a);
        return;
    }
    if (end) {
        s->stats.messages++;
        s->stats.reassembled++;
        s->emit(s->ctx, pkt, a->frag, a->frag_len, a->frag_sec, a->frag_usec);
        assoc_frag_drop(s, a);
    }
}

/* Takes the fragments that came before their turn, as far as they follow. */
static void assoc_frag_pull(sctp_t *s, assoc_t *a, const packet_t *pkt)
{
    while (a->in_frag) {
        early_frag_t **at = &a->early;
        while (*at && (*at)->tsn != a->frag_next_tsn)
            at = &(*at)->next;
        if (!*at) return;
        early_frag_t *f = *at;
        if (f->sid != a->frag_sid || (f->flags & SCTP_FLAG_BEGIN)) {
            s->stats.fragments_lost++;
            assoc_frag_drop(s, a);
            return;
        }
        *at = f->next; /* unlinked, freed after use */
        a->nearly--;
        s->memory -= sizeof(*f) + f->len;
        assoc_frag_next(s, a, pkt, f->flags & SCTP_FLAG_END, f->data, f->len);
        free(f);
    }
}

/* A message's first fragment: the start of the next message to join. A
 * message in progress is given up; waiting fragments older than this one
 * belonged to messages given up. */
static void assoc_frag_begin(sctp_t *s, assoc_t *a, const packet_t *pkt, uint32_t tsn, uint16_t sid,
                             uint64_t sec, uint32_t usec, const uint8_t *d, size_t n)
{
    if (a->in_frag) s->stats.fragments_lost++;
    assoc_frag_drop(s, a);
    for (early_frag_t **at = &a->early; *at;) {
        if ((int32_t)((*at)->tsn - tsn) < 0)
            assoc_early_free(s, a, at);
        else
            at = &(*at)->next;
    }
    a->in_frag = 1;
    a->frag_sid = sid;
    a->frag_next_tsn = tsn + 1;
    a->frag_sec = sec;
    a->frag_usec = usec;
    if (!assoc_frag_append(s, a, d, n)) {
        assoc_frag_drop(s, a);
        return;
    }
    assoc_frag_pull(s, a, pkt);
}

static void sctp_data(sctp_t *s, assoc_t *a, const packet_t *pkt, uint8_t flags,
                      const uint8_t *chunk, size_t clen)
{
    s->stats.data_chunks++;
    uint32_t tsn = be32(chunk + 4);
    uint16_t sid = be16(chunk + 8);
    const uint8_t *data = chunk + 16;
    size_t n = clen - 16;
    if (assoc_seen(a, tsn)) {
        s->stats.duplicates++;
        return;
    }
    int begin = flags & SCTP_FLAG_BEGIN, end = flags & SCTP_FLAG_END;
    if (begin && end) {
        if (n > s->opts.max_message_bytes) {
            s->stats.too_big++;
            return;
        }
        s->stats.messages++;
        s->emit(s->ctx, pkt, data, n, pkt->ts_sec, pkt->ts_usec);
        return;
    }
    if (begin) {
        assoc_frag_begin(s, a, pkt, tsn, sid, pkt->ts_sec, pkt->ts_usec, data, n);
        return;
    }
    if (!a->in_frag || tsn != a->frag_next_tsn) {
        /* before its turn: the fragments before it may still come */
        assoc_early_add(s, a, tsn, sid, flags, pkt, data, n);
        return;
    }
    if (sid != a->frag_sid) {
        s->stats.fragments_lost++;
        assoc_frag_drop(s, a);
        return;
    }
    assoc_frag_next(s, a, pkt, end, data, n);
    assoc_frag_pull(s, a, pkt);
}

void sctp_packet(sctp_t *s, const packet_t *pkt)
{
    s->stats.packets++;
    uint64_t now_ms = pkt->ts_sec * 1000 + pkt->ts_usec / 1000;
    const uint8_t *p = pkt->payload;
    size_t len = pkt->payload_len, off = 0;
    assoc_t *a = NULL;
    while (off + 4 <= len) {
        uint8_t type = p[off], flags = p[off + 1];
        size_t clen = be16(p + off + 2);
        if (clen < 4 || clen > len - off) {
            s->stats.bad_chunks++;
            return;
        }
        const uint8_t *chunk = p + off;
        switch (type) {
        case SCTP_CHUNK_DATA:
            if (clen < 16) {
                s->stats.bad_chunks++;
                break;
            }
            if (!a && !(a = assoc_get(s, pkt, now_ms))) return;
            sctp_data(s, a, pkt, flags, chunk, clen);
            break;
        case SCTP_CHUNK_INIT:
        case SCTP_CHUNK_INIT_ACK:
            /* the sender's initial TSN: a new association in this direction */
            if (clen >= 20) {
                if (!a && !(a = assoc_get(s, pkt, now_ms))) return;
                assoc_frag_drop(s, a);
                assoc_early_clear(s, a);
                a->have_tsn = 1;
                a->max_tsn = be32(chunk + 16) - 1;
                a->seen = 0;
            }
            break;
        case SCTP_CHUNK_IDATA:
            s->stats.unsupported_chunks++;
            break;
        default:
            break;
        }
        off += (clen + 3) & ~(size_t)3;
    }
}

const sctp_stats_t *sctp_stats(const sctp_t *s)
{
    return &s->stats;
}
size_t sctp_memory(const sctp_t *s)
{
    return s->memory;
}

void sctp_free(sctp_t *s)
{
    if (!s) return;
    while (s->lru.head)
        assoc_destroy(s, OLDEST(s));
    free(s);
}

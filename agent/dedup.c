/* The de-duplication table: see dedup.h. One hash per message over its
 * identity, then a scan of one bucket's eight slots. */
#include "hepagent/dedup.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

typedef struct {
    uint64_t hash;
    uint64_t ts_us; /* 0: empty */
} dedup_slot_t;

struct dedup {
    uint64_t window_us;
    size_t bucket_mask;
    uint32_t max_entries;
    uint64_t seed; /* so nobody can aim collisions at the table */
    dedup_slot_t *slots;
    dedup_stats_t st;
};

static size_t dedup_buckets(uint32_t entries)
{
    size_t n = 1;
    while (n * DEDUP_SLOTS < entries)
        n <<= 1;
    return n;
}

static int dedup_alloc(dedup_t *d, uint32_t entries)
{
    size_t buckets = dedup_buckets(entries ? entries : DEDUP_DEFAULT_ENTRIES);
    dedup_slot_t *slots = calloc(buckets * DEDUP_SLOTS, sizeof(*slots));
    if (!slots) return HA_ENOMEM;
    free(d->slots);
    d->slots = slots;
    d->bucket_mask = buckets - 1;
    d->max_entries = entries;
    return HA_OK;
}

dedup_t *dedup_new(const dedup_options_t *o)
{
    dedup_t *d = calloc(1, sizeof(*d));
    if (!d) return NULL;
    if (getrandom(&d->seed, sizeof(d->seed), GRND_NONBLOCK) != sizeof(d->seed))
        d->seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15u;
    d->window_us = (uint64_t)o->window_ms * 1000;
    if (dedup_alloc(d, o->max_entries) != HA_OK) {
        free(d);
        return NULL;
    }
    return d;
}

void dedup_free(dedup_t *d)
{
    if (!d) return;
    free(d->slots);
    free(d);
}

int dedup_reconfigure(dedup_t *d, const dedup_options_t *o)
{
    d->window_us = (uint64_t)o->window_ms * 1000;
    if (o->max_entries == d->max_entries) return HA_OK;
    return dedup_alloc(d, o->max_entries);
}

static uint64_t dedup_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 33;
    return h;
}

static uint64_t dedup_bytes(uint64_t h, const uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0x9e3779b97f4a7c15u;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, n);
    h = (h ^ tail ^ ((uint64_t)n << 56)) * 0x9e3779b97f4a7c15u;
    return h;
}

static uint64_t dedup_hash(const dedup_t *d, const dedup_key_t *k)
{
    size_t alen = k->ip_version == 6 ? 16 : 4;
    uint8_t head[4 + 32 + 4];
    head[0] = k->proto_type;
    head[1] = k->ip_proto;
    head[2] = k->ip_version;
    head[3] = 0;
    memcpy(head + 4, k->src_addr, alen);
    memcpy(head + 4 + alen, k->dst_addr, alen);
    put_be16(head + 4 + 2 * alen, k->src_port);
    put_be16(head + 6 + 2 * alen, k->dst_port);
    uint64_t h = dedup_bytes(d->seed, head, 8 + 2 * alen);
    return dedup_mix(dedup_bytes(h, k->payload.ptr, k->payload.len));
}

static uint64_t dedup_distance(uint64_t a, uint64_t b)
{
    return a > b ? a - b : b - a;
}

int dedup_seen(dedup_t *d, const dedup_key_t *k, uint64_t ts_sec, uint32_t ts_usec)
{
    if (!d->window_us) return 0;
    d->st.checked++;
    uint64_t ts = ts_sec * 1000000 + ts_usec + 1; /* never 0, the empty mark */
    uint64_t h = dedup_hash(d, k);
    dedup_slot_t *b = &d->slots[(h & d->bucket_mask) * DEDUP_SLOTS];
    dedup_slot_t *free_slot = NULL, *oldest = &b[0];
    for (int i = 0; i < DEDUP_SLOTS; i++) {
        dedup_slot_t *s = &b[i];
        if (s->ts_us && s->hash == h) {
            if (dedup_distance(ts, s->ts_us) <= d->window_us) {
                d->st.duplicates++;
                return 1;
            }
            /* a retransmission: the window starts again from it */
            d->st.retransmissions++;
            s->ts_us = ts;
            return 0;
        }
        if (!s->ts_us || dedup_distance(ts, s->ts_us) > d->window_us) {
            if (!free_slot) free_slot = s;
        } else if (s->ts_us < oldest->ts_us) {
            oldest = s;
        }
    }
    if (!free_slot) {
        d->st.evicted_live++;
        free_slot = oldest;
    }
    free_slot->hash = h;
    free_slot->ts_us = ts;
    return 0;
}

const dedup_stats_t *dedup_stats(const dedup_t *d)
{
    return &d->st;
}

size_t dedup_memory(const dedup_t *d)
{
    return (d->bucket_mask + 1) * DEDUP_SLOTS * sizeof(dedup_slot_t);
}

void dedup_visit_stats(const dedup_t *d, const stats_visitor_t *v)
{
#define DEDUP_VISIT(name, help)                                                                    \
    stats_emit(v, "dedup." #name, NULL, NULL, STATS_COUNTER, d->st.name, help);
    DEDUP_COUNTERS(DEDUP_VISIT)
#undef DEDUP_VISIT
    stats_emit(v, "dedup.memory_bytes", NULL, NULL, STATS_GAUGE, dedup_memory(d),
               "bytes of the de-duplication table");
}

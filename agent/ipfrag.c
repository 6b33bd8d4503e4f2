/* Fragment reassembly. A datagram's fragments are kept as received, in a
 * list; completion is checked by sorting them by offset. IPv4 overlaps are
 * resolved by copying the fragments in reverse arrival order, so the bytes
 * that arrived first win. The table is a hash with an LRU list that serves
 * both the timeout and eviction when a limit is reached. */
#include "hepagent/ipfrag.h"
#include "hepagent/lru.h"

#include <stdlib.h>
#include <string.h>

typedef struct frag {
    struct frag *next; /* arrival order */
    uint32_t offset;
    uint32_t len;
    uint8_t data[];
} frag_t;

typedef struct datagram {
    struct datagram *hash_next;
    lru_node_t lru;
    uint8_t version, proto;
    uint16_t vlan;
    uint32_t bucket;
    uint32_t id;
    uint8_t src[16], dst[16];
    uint64_t last_ms;
    uint64_t first_sec; /* capture time of the offset-0 fragment */
    uint32_t first_usec;
    int have_first;
    int32_t total; /* -1 until the last fragment arrives */
    frag_t *frags, *frags_tail;
    uint32_t frag_count;
    size_t bytes;
} datagram_t;

enum { IPFRAG_BUCKETS = 4096 };
#define OLDEST(f) LRU_ENTRY((f)->lru.head, datagram_t, lru)

struct ipfrag {
    ipfrag_options_t opts;
    ipfrag_stats_t stats;
    datagram_t *buckets[IPFRAG_BUCKETS];
    lru_list_t lru; /* head: least recently used */
    size_t count;
    size_t memory;
    uint8_t out[65536];
};

ipfrag_t *ipfrag_new(const ipfrag_options_t *opts)
{
    ipfrag_t *f = calloc(1, sizeof(*f));
    if (!f) return NULL;
    f->opts = *opts;
    return f;
}

static uint32_t ipfrag_hash(const packet_t *pkt)
{
    uint32_t h = 2166136261u; /* FNV-1a over the key */
    const uint8_t *parts[] = {pkt->src_addr, pkt->dst_addr};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 16; i++)
            h = (h ^ parts[k][i]) * 16777619u;
    h = (h ^ pkt->frag_id) * 16777619u;
    h = (h ^ pkt->frag_proto) * 16777619u;
    return h % IPFRAG_BUCKETS;
}

static int ipfrag_match(const datagram_t *d, const packet_t *pkt)
{
    return d->id == pkt->frag_id && d->version == pkt->ip_version && d->proto == pkt->frag_proto &&
           d->vlan == packet_vlan(pkt) && memcmp(d->src, pkt->src_addr, 16) == 0 &&
           memcmp(d->dst, pkt->dst_addr, 16) == 0;
}

static void ipfrag_drop(ipfrag_t *f, datagram_t *d)
{
    datagram_t **slot = &f->buckets[d->bucket];
    while (*slot && *slot != d)
        slot = &(*slot)->hash_next;
    if (*slot) *slot = d->hash_next;
    lru_unlink(&f->lru, &d->lru);
    for (frag_t *fr = d->frags; fr;) {
        frag_t *next = fr->next;
        free(fr);
        fr = next;
    }
    f->memory -= d->bytes + sizeof(*d);
    f->count--;
    free(d);
}

static void ipfrag_expire(ipfrag_t *f, uint64_t now_ms)
{
    while (f->lru.head && OLDEST(f)->last_ms + f->opts.timeout_ms < now_ms) {
        f->stats.timeouts++;
        ipfrag_drop(f, OLDEST(f));
    }
}

/* Sorts the fragments by offset (insertion sort: at most 128 of them) and
 * says whether they cover [0, total). */
static int ipfrag_complete(const datagram_t *d, frag_t **sorted)
{
    if (d->total < 0) return 0;
    uint32_t n = 0;
    for (frag_t *fr = d->frags; fr; fr = fr->next) {
        uint32_t i = n++;
        while (i > 0 && sorted[i - 1]->offset > fr->offset) {
            sorted[i] = sorted[i - 1];
            i--;
        }
        sorted[i] = fr;
    }
    uint32_t covered = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (sorted[i]->offset > covered) return 0;
        uint32_t end = sorted[i]->offset + sorted[i]->len;
        if (end > covered) covered = end;
    }
    return covered >= (uint32_t)d->total;
}

/* An exact copy of a held fragment (same offset, length and bytes): networks,
 * mirror ports and "any" captures duplicate packets. RFC 5722 section 4 lets
 * a receiver drop such a copy rather than the datagram, and Linux does. */
static int ipfrag_is_copy(const datagram_t *d, uint32_t offset, uint32_t len, const uint8_t *data)
{
    for (const frag_t *fr = d->frags; fr; fr = fr->next)
        if (fr->offset == offset && fr->len == len && memcmp(fr->data, data, len) == 0) return 1;
    return 0;
}

static int ipfrag_overlaps(const datagram_t *d, uint32_t offset, uint32_t len)
{
    for (const frag_t *fr = d->frags; fr; fr = fr->next)
        if (offset < fr->offset + fr->len && fr->offset < offset + len) return 1;
    return 0;
}

int ipfrag_add(ipfrag_t *f, const packet_t *pkt, ha_bytes_t *out, uint64_t *ts_sec,
               uint32_t *ts_usec)
{
    uint64_t now_ms = pkt->ts_sec * 1000 + pkt->ts_usec / 1000;
    f->stats.fragments++;
    ipfrag_expire(f, now_ms);

    uint32_t offset = pkt->frag_offset, len = pkt->frag_len;
    if (offset + len > 65535) {
        f->stats.too_big++;
        return 0;
    }
    uint32_t bucket = ipfrag_hash(pkt);
    datagram_t *d = f->buckets[bucket];
    while (d && !ipfrag_match(d, pkt))
        d = d->hash_next;
    if (!d) {
        while (f->count >= f->opts.max_datagrams && f->lru.head) {
            f->stats.evicted++;
            ipfrag_drop(f, OLDEST(f));
        }
        d = calloc(1, sizeof(*d));
        if (!d) return 0;
        d->version = pkt->ip_version;
        d->proto = pkt->frag_proto;
        d->vlan = packet_vlan(pkt);
        d->id = pkt->frag_id;
        memcpy(d->src, pkt->src_addr, 16);
        memcpy(d->dst, pkt->dst_addr, 16);
        d->total = -1;
        d->bucket = bucket;
        d->hash_next = f->buckets[bucket];
        f->buckets[bucket] = d;
        lru_append(&f->lru, &d->lru);
        f->count++;
        f->memory += sizeof(*d);
    } else {
        lru_touch(&f->lru, &d->lru);
    }
    d->last_ms = now_ms;

    if (d->frag_count >= IPFRAG_MAX_FRAGMENTS) {
        f->stats.too_big++;
        ipfrag_drop(f, d);
        return 0;
    }
    if (!pkt->frag_more) {
        int32_t total = (int32_t)(offset + len);
        if (d->total >= 0 && d->total != total) {
            f->stats.inconsistent++;
            ipfrag_drop(f, d);
            return 0;
        }
        d->total = total;
    }
    if (len > 0 && ipfrag_is_copy(d, offset, len, pkt->frag_data)) {
        f->stats.duplicates++;
        return 0;
    }
    if (len > 0 && ipfrag_overlaps(d, offset, len)) {
        if (d->version == 6) {
            f->stats.overlap_dropped++;
            ipfrag_drop(f, d);
            return 0;
        }
        f->stats.overlaps++;
    }
    /* make room within the memory cap, oldest datagrams first */
    while (f->memory + sizeof(frag_t) + len > f->opts.memcap && f->lru.head && OLDEST(f) != d) {
        f->stats.evicted++;
        ipfrag_drop(f, OLDEST(f));
    }
    if (f->memory + sizeof(frag_t) + len > f->opts.memcap) {
        f->stats.evicted++;
        ipfrag_drop(f, d);
        return 0;
    }
    frag_t *fr = malloc(sizeof(*fr) + len);
    if (!fr) return 0;
    fr->next = NULL;
    fr->offset = offset;
    fr->len = len;
    memcpy(fr->data, pkt->frag_data, len);
    if (d->frags_tail)
        d->frags_tail->next = fr;
    else
        d->frags = fr;
    d->frags_tail = fr;
    d->frag_count++;
    d->bytes += sizeof(*fr) + len;
    f->memory += sizeof(*fr) + len;
    if (offset == 0 && !d->have_first) {
        d->have_first = 1;
        d->first_sec = pkt->ts_sec;
        d->first_usec = pkt->ts_usec;
    }

    frag_t *sorted[IPFRAG_MAX_FRAGMENTS];
    if (!ipfrag_complete(d, sorted)) return 0;
    /* copy in reverse arrival order: for IPv4 overlaps the first data wins */
    frag_t *order[IPFRAG_MAX_FRAGMENTS];
    uint32_t n = 0;
    for (frag_t *p = d->frags; p; p = p->next)
        order[n++] = p;
    while (n-- > 0) {
        frag_t *p = order[n];
        if (p->offset >= (uint32_t)d->total) continue;
        uint32_t copy = HA_MIN(p->len, (uint32_t)d->total - p->offset);
        memcpy(f->out + p->offset, p->data, copy);
    }
    *out = (ha_bytes_t){f->out, (size_t)d->total};
    *ts_sec = d->first_sec;
    *ts_usec = d->first_usec;
    f->stats.reassembled++;
    ipfrag_drop(f, d);
    return 1;
}

const ipfrag_stats_t *ipfrag_stats(const ipfrag_t *f)
{
    return &f->stats;
}
size_t ipfrag_memory(const ipfrag_t *f)
{
    return f->memory;
}
size_t ipfrag_count(const ipfrag_t *f)
{
    return f->count;
}

void ipfrag_free(ipfrag_t *f)
{
    if (!f) return;
    while (f->lru.head)
        ipfrag_drop(f, OLDEST(f));
    free(f);
}

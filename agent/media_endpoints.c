/* The media table's endpoints: one chained hash by address and port that
 * every UDP packet is looked up in, endpoints that several calls announced
 * told apart by the packet's other end, and the RTP flows seen at each, whose
 * QoS streams end grace_ms after their endpoint goes away. */
#include "media_internal.h"

#include <stdlib.h>
#include <string.h>

/* MurmurHash3's finaliser: every input bit moves every output bit, so
 * neighbouring ports and addresses spread over the buckets. */
static uint32_t media_mix(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 16);
}

static uint32_t media_ep_hash(uint8_t version, const uint8_t *addr, uint16_t port)
{
    uint32_t h = port | (uint32_t)version << 16;
    for (size_t i = 0; i < (version == 6 ? 16u : 4u); i += 4) {
        uint32_t w;
        memcpy(&w, addr + i, 4);
        h = media_mix(h ^ w);
    }
    return h;
}

static int media_ep_is(const media_endpoint_t *e, uint32_t h, uint8_t version, const uint8_t *addr,
                       uint16_t port)
{
    return e->hash == h && e->port == port && e->version == version &&
           memcmp(e->addr, addr, version == 6 ? 16 : 4) == 0;
}

/* Whether one of the call's endpoints is addr:port. */
static int media_call_owns(const media_call_t *c, uint8_t version, const uint8_t *addr,
                           uint16_t port)
{
    for (const media_stream_t *s = c->streams; s; s = s->next) {
        const media_endpoint_t *x[2] = {&s->rtp, &s->rtcp};
        for (int k = 0; k < 2; k++)
            if (x[k]->version == version && x[k]->port == port &&
                memcmp(x[k]->addr, addr, version == 6 ? 16 : 4) == 0)
                return 1;
    }
    return 0;
}

/* The endpoint addr:port of a packet whose other end is other:other_port.
 * Usually one call announced it; when several did (a media server that
 * reuses one port, an old call that never said BYE), the call that also
 * announced the other end wins, else the latest announcement. */
media_endpoint_t *media_ep_find(const media_t *m, uint8_t version, const uint8_t *addr,
                                uint16_t port, const uint8_t *other, uint16_t other_port)
{
    uint32_t h = media_ep_hash(version, addr, port);
    media_endpoint_t *first = m->buckets[h & (m->nbuckets - 1)];
    while (first && !media_ep_is(first, h, version, addr, port))
        first = first->next;
    if (!first || !first->shared) return first; /* the common case: one owner */
    media_endpoint_t *best = NULL;
    int best_owns = 0;
    for (media_endpoint_t *e = first; e; e = e->next) {
        if (!media_ep_is(e, h, version, addr, port)) continue;
        int owns = other && media_call_owns(e->stream->call, version, other, other_port);
        if (!best || owns > best_owns || (owns == best_owns && e->seq > best->seq)) {
            best = e;
            best_owns = owns;
        }
    }
    return best;
}

/* Doubles a chained table when it holds more entries than buckets. */
static void media_grow_endpoints(media_t *m)
{
    if (m->endpoints < m->nbuckets) return;
    uint32_t n = m->nbuckets * 2;
    media_endpoint_t **b = calloc(n, sizeof(*b));
    if (!b) return; /* longer chains, still correct */
    for (uint32_t i = 0; i < m->nbuckets; i++) {
        for (media_endpoint_t *e = m->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

/* ---- endpoints ---------------------------------------------------------- */

static int media_flow_has(const flow_key_t *k, int src, const media_endpoint_t *e)
{
    return k->version == e->version && (src ? k->sport : k->dport) == e->port &&
           memcmp(src ? k->src : k->dst, e->addr, e->version == 6 ? 16 : 4) == 0;
}

void media_flow_end(media_t *m, const flow_key_t *k)
{
    if (!m->qos) return;
    qos_end_flow(m->qos, k->version, k->src, k->sport, k->dst, k->dport, k->vlan,
                 m->now_us / 1000000, (uint32_t)(m->now_us % 1000000));
}

static void media_flow_pending(media_t *m, media_call_t *c, const flow_key_t *k)
{
    if (!m->qos) return;
    if (!m->pending) m->pending = malloc(MEDIA_MAX_PENDING * sizeof(*m->pending));
    if (!m->pending || m->npending == MEDIA_MAX_PENDING || m->opts.grace_ms == 0) {
        m->stats.flows_ended++;
        media_flow_end(m, k);
        return;
    }
    media_pending_t *p = &m->pending[m->npending++];
    p->call = c;
    p->key = *k;
    p->due_us = m->now_us + (uint64_t)m->opts.grace_ms * 1000;
    media_due(m, p->due_us);
}

/* Flows to e go (RTP a party sends from e goes on until it stops: the SDP
 * only says where a party receives). They were seen at e itself, or at the
 * sender's endpoint when only that one is known (NAT). */
static void media_end_flows(media_t *m, media_endpoint_t *e)
{
    media_call_t *c = e->stream->call;
    const flow_key_t *ends[1 + 2 * SDP_MAX_MEDIA * MEDIA_MAX_PARTIES];
    size_t n = 0;
    if (e->has_in) ends[n++] = &e->flow_in;
    e->has_in = 0;
    for (media_stream_t *s = c->streams; s; s = s->next) {
        media_endpoint_t *x[2] = {&s->rtp, &s->rtcp};
        for (int k = 0; k < 2; k++) {
            if (x[k]->has_out && media_flow_has(&x[k]->flow_out, 0, e) && n < HA_ARRAY_LEN(ends)) {
                ends[n++] = &x[k]->flow_out;
                x[k]->has_out = 0;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        media_flow_pending(m, c, ends[i]);
}

/* An endpoint of the call is announced (again): flows to it waiting for
 * their end go on, seen at it again. */
static void media_flows_resume(media_t *m, media_endpoint_t *e)
{
    for (size_t i = 0; i < m->npending;) {
        media_pending_t *p = &m->pending[i];
        if (p->call == e->stream->call && media_flow_has(&p->key, 0, e)) {
            if (!e->has_in) {
                e->flow_in = p->key;
                e->has_in = 1;
            }
            *p = m->pending[--m->npending];
        } else {
            i++;
        }
    }
}

/* Takes e out of the table; what becomes of the QoS streams of flows to it
 * is when's. */
void media_ep_remove(media_t *m, media_endpoint_t *e, media_flows_t when)
{
    if (!e->version) return;
    media_endpoint_t **slot = &m->buckets[e->hash & (m->nbuckets - 1)];
    while (*slot && *slot != e)
        slot = &(*slot)->next;
    if (*slot) *slot = e->next;
    if (e->shared) { /* the last other owner is alone again */
        media_endpoint_t *other = NULL;
        int others = 0;
        for (media_endpoint_t *x = m->buckets[e->hash & (m->nbuckets - 1)]; x; x = x->next)
            if (media_ep_is(x, e->hash, e->version, e->addr, e->port)) other = x, others++;
        if (others == 1) other->shared = 0;
    }
    if (when == MEDIA_FLOWS_LATER) media_end_flows(m, e);
    e->version = 0;
    e->shared = 0;
    e->next = NULL;
    m->endpoints--;
}

/* Puts e (address and port set) in the table, beside any other call's
 * endpoint of the same address and port (media_ep_find tells them apart). */
void media_ep_insert(media_t *m, media_endpoint_t *e)
{
    e->hash = media_ep_hash(e->version, e->addr, e->port);
    e->shared = 0;
    for (media_endpoint_t *x = m->buckets[e->hash & (m->nbuckets - 1)]; x; x = x->next) {
        if (media_ep_is(x, e->hash, e->version, e->addr, e->port)) {
            x->shared = e->shared = 1;
        }
    }
    if (e->shared) m->stats.endpoints_shared++;
    e->seq = ++m->announced;
    e->has_in = e->has_out = 0;
    if (m->npending) media_flows_resume(m, e);
    uint32_t b = e->hash & (m->nbuckets - 1);
    e->next = m->buckets[b];
    m->buckets[b] = e;
    m->endpoints++;
    media_grow_endpoints(m);
}

void media_ep_set(media_endpoint_t *e, const sdp_addr_t *a, uint16_t port)
{
    memset(e->addr, 0, sizeof(e->addr));
    memcpy(e->addr, a->addr, a->version == 6 ? 16 : 4);
    e->version = a->version;
    e->port = port;
}

int media_ep_same(const media_endpoint_t *e, const sdp_addr_t *a, uint16_t port)
{
    return e->version == a->version && e->port == port &&
           memcmp(e->addr, a->addr, a->version == 6 ? 16 : 4) == 0;
}

/* TLS sessions between TCP reassembly and SIP framing; see tlsdecrypt.h.
 * A connection (tls_conn_t) holds both directions (halves, read by
 * tlsrecord.c); it lives while tcpstream holds one of them, and after that
 * only while records wait for a key. This file keeps the table, the
 * waiting (bounded, in capture order across both directions), the giving
 * up, and the counters. */
#include "hepagent/common.h"
#include "hepagent/tlssession.h"

#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- memory ----------------------------------------------------------- */

static int reserve(tlsdec_t *d, size_t extra)
{
    if (d->memory + d->frame.memory + extra <= d->memcap) return 1;
    d->stats.memory_full++;
    return 0;
}

static int frame_reserve(tcpframe_owner_t *owner, tcpframe_t *keep, size_t extra)
{
    (void)keep;
    tlsdec_t *d = (tlsdec_t *)(void *)((char *)owner - offsetof(tlsdec_t, frame));
    return reserve(d, extra);
}

/* Grows *buf to hold want bytes; 0 when the memory bound refuses. */
int tlsdec_grow(tlsdec_t *d, uint8_t **buf, size_t *cap, size_t want)
{
    if (want <= *cap) return 1;
    if (!reserve(d, want - *cap)) return 0;
    uint8_t *p = realloc(*buf, want);
    if (!p) return 0;
    d->memory += want - *cap;
    *buf = p;
    *cap = want;
    return 1;
}

/* ---- tables ----------------------------------------------------------- */

tlsdec_t *tlsdec_new(const tls_decrypt_options_t *opts, keylog_t *keys,
                     const tcpstream_options_t *tcp, tcpframe_emit_fn emit, void *ctx)
{
    tlsdec_t *d = calloc(1, sizeof(*d));
    if (!d) return NULL;
    d->opts = *opts;
    d->opts.keylog_files = NULL; /* the sources are the caller's business */
    d->opts.keylog_file_count = 0;
    d->opts.keylog_listen = NULL;
    d->keys = keys;
    d->memcap = tcp->memcap;
    d->frame.max_message = tcp->max_stream_bytes;
    /* a connection has two stream directions */
    d->nbuckets = 256;
    while (d->nbuckets < tcp->max_streams / 4 && d->nbuckets < (1u << 20))
        d->nbuckets *= 2;
    d->frame.secure = 1;
    d->frame.emit = emit;
    d->frame.ctx = ctx;
    d->frame.reserve = frame_reserve;
    d->crypto = tls_crypto_new();
    d->buckets = calloc(d->nbuckets, sizeof(*d->buckets));
    d->random_buckets = calloc(d->nbuckets, sizeof(*d->random_buckets));
    if (!d->crypto || !d->buckets || !d->random_buckets ||
        RAND_bytes((unsigned char *)&d->seed, sizeof(d->seed)) != 1) {
        tlsdec_free(d);
        return NULL;
    }
    return d;
}

/* Either direction of a flow lands in the same bucket. */
static uint32_t flow_bucket(const tlsdec_t *d, const packet_t *pkt)
{
    uint32_t a = 2166136261u, b = 2166136261u;
    for (int i = 0; i < 16; i++) {
        a = (a ^ pkt->src_addr[i]) * 16777619u;
        b = (b ^ pkt->dst_addr[i]) * 16777619u;
    }
    a = (a ^ pkt->src_port) * 16777619u;
    b = (b ^ pkt->dst_port) * 16777619u;
    return (a + b) & (d->nbuckets - 1);
}

static uint32_t random_bucket(const tlsdec_t *d, const uint8_t *random)
{
    uint64_t h = 14695981039346656037ull ^ d->seed;
    for (int i = 0; i < TLS_RANDOM_LEN; i++)
        h = (h ^ random[i]) * 1099511628211ull;
    return (uint32_t)(h ^ (h >> 32)) & (d->nbuckets - 1);
}

/* Whether pkt goes the other way of the flow k. */
static int flow_key_reverse(const flow_key_t *k, const packet_t *pkt)
{
    return k->sport == pkt->dst_port && k->dport == pkt->src_port &&
           k->version == pkt->ip_version && k->vlan == packet_vlan(pkt) &&
           memcmp(k->src, pkt->dst_addr, 16) == 0 && memcmp(k->dst, pkt->src_addr, 16) == 0;
}

void tlsdec_index_random(tlsdec_t *d, tls_conn_t *c)
{
    c->random_bucket = random_bucket(d, c->client_random);
    c->random_next = d->random_buckets[c->random_bucket];
    d->random_buckets[c->random_bucket] = c;
    c->random_hashed = 1;
}

static void unhash(tlsdec_t *d, tls_conn_t *c)
{
    if (c->hashed) {
        tls_conn_t **slot = &d->buckets[c->bucket];
        while (*slot && *slot != c)
            slot = &(*slot)->hash_next;
        if (*slot) *slot = c->hash_next;
        c->hashed = 0;
    }
    if (c->random_hashed) {
        tls_conn_t **slot = &d->random_buckets[c->random_bucket];
        while (*slot && *slot != c)
            slot = &(*slot)->random_next;
        if (*slot) *slot = c->random_next;
        c->random_hashed = 0;
    }
}

static void wait_unlink(tlsdec_t *d, tls_conn_t *c)
{
    if (!c->waiting) return;
    lru_unlink(&d->waiting, &c->wait);
    c->waiting = 0;
}

static size_t pending_drop(tlsdec_t *d, tlsdec_half_t *h)
{
    size_t n = h->pending_count;
    for (pending_rec_t *p = h->pending; p;) {
        pending_rec_t *next = p->next;
        d->pending_bytes -= sizeof(*p) + p->len;
        free(p);
        p = next;
    }
    h->pending = NULL;
    h->pending_tail = &h->pending;
    h->pending_count = 0;
    return n;
}

static void half_release(tlsdec_t *d, tlsdec_half_t *h)
{
    if (tcpframe_mid_message(&h->frame)) d->frame.stats.incomplete_at_close++;
    tcpframe_clear(&d->frame, &h->frame);
    d->memory -= h->rec_cap;
    free(h->rec);
    h->rec = NULL;
    h->rec_cap = h->rec_len = 0;
    tlsrec_hello_free(d, h);
    d->stats.records_without_key += pending_drop(d, h);
    tls_cipher_clear(&h->cipher);
    OPENSSL_cleanse(h->secret, sizeof(h->secret));
}

static void conn_free(tlsdec_t *d, tls_conn_t *c)
{
    /* a handshake cut short, and not given up for a reason counted already */
    if (!c->have_server_hello && c->half[0].state == HALF_LIVE) d->stats.handshakes_incomplete++;
    unhash(d, c);
    wait_unlink(d, c);
    lru_unlink(&d->all, &c->all);
    for (int i = 0; i < 2; i++)
        half_release(d, &c->half[i]);
    /* the session ended: its secrets go too */
    if (c->have_client_hello) keylog_forget(d->keys, c->client_random);
    d->memory -= sizeof(*c);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

/* Frees the connection once nothing refers to it and nothing waits. */
static void conn_maybe_free(tlsdec_t *d, tls_conn_t *c)
{
    if (c->half[0].attached || c->half[1].attached || c->waiting) return;
    conn_free(d, c);
}

static void half_init(tlsdec_half_t *h, tls_conn_t *c, const packet_t *pkt)
{
    h->conn = c;
    h->attached = h->used = 1;
    h->pkt = *pkt;
    h->pkt.frame = h->pkt.payload = h->pkt.l3_start = h->pkt.frag_data = NULL;
    h->pkt.payload_len = 0;
    h->pending_tail = &h->pending;
    tcpframe_init(&h->frame, 1);
}

tlsdec_half_t *tlsdec_open(tlsdec_t *d, const packet_t *pkt)
{
    uint32_t bucket = flow_bucket(d, pkt);
    for (tls_conn_t *c = d->buckets[bucket]; c; c = c->hash_next) {
        int same = flow_key_match(&c->key, pkt), reverse = !same && flow_key_reverse(&c->key, pkt);
        if (!same && !reverse) continue;
        if (reverse && !c->half[1].used) { /* its side and state are set already */
            half_init(&c->half[1], c, pkt);
            c->half[1].pkt.ts_sec = c->half[0].pkt.ts_sec; /* when the connection began */
            c->half[1].pkt.ts_usec = c->half[0].pkt.ts_usec;
            return &c->half[1];
        }
        unhash(d, c); /* an earlier connection on the same ports: a new one starts */
        break;
    }
    if (d->memory + sizeof(tls_conn_t) > d->memcap) {
        d->stats.memory_full++;
        return NULL;
    }
    tls_conn_t *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    d->memory += sizeof(*c);
    flow_key_set(&c->key, pkt);
    c->bucket = bucket;
    c->hash_next = d->buckets[bucket];
    d->buckets[bucket] = c;
    c->hashed = 1;
    lru_append(&d->all, &c->all);
    c->half[1].pending_tail = &c->half[1].pending;
    half_init(&c->half[0], c, pkt);
    return &c->half[0];
}

/* ---- giving up -------------------------------------------------------- */

/* The half is decrypted no further; its waiting records are counted. */
static void half_stop(tlsdec_t *d, tlsdec_half_t *h, half_state_t why)
{
    if (h->state == HALF_LOST || h->state == why) return;
    d->stats.records_skipped += pending_drop(d, h);
    if (h->state == HALF_LIVE || why == HALF_LOST) h->state = (uint8_t)why;
    tls_cipher_clear(&h->cipher);
    OPENSSL_cleanse(h->secret, sizeof(h->secret));
    tlsrec_hello_free(d, h);
}

void tlsdec_stop(tlsdec_t *d, tls_conn_t *c)
{
    half_stop(d, &c->half[0], HALF_STOPPED);
    half_stop(d, &c->half[1], HALF_STOPPED);
    wait_unlink(d, c);
}

static void conn_replay(tlsdec_t *d, tls_conn_t *c);

/* The connection waits for its key no longer: its waiting records are read
 * again, what needs no key is followed, the rest counted as without key,
 * and so is every later record that needs a key. */
static void conn_give_up_waiting(tlsdec_t *d, tls_conn_t *c, give_up_t why)
{
    if (!c->gave_up && why == GIVE_UP_EXPIRED) d->stats.pending_expired++;
    if (!c->gave_up && why == GIVE_UP_OVERFLOW) d->stats.pending_overflow++;
    c->gave_up = 1;
    conn_replay(d, c);
}

static void expire_waiting(tlsdec_t *d, uint64_t now_ms)
{
    while (d->waiting.head) {
        tls_conn_t *c = LRU_ENTRY(d->waiting.head, tls_conn_t, wait);
        if (c->wait_since_ms + d->opts.pending_ms >= now_ms) break;
        conn_give_up_waiting(d, c, GIVE_UP_EXPIRED);
        conn_maybe_free(d, c);
    }
}

/* Keeps a record until its key comes. */
int tlsdec_wait(tlsdec_t *d, tlsdec_half_t *h, const uint8_t *rec, size_t len, uint64_t sec,
                uint32_t usec)
{
    tls_conn_t *c = h->conn;
    size_t need = sizeof(pending_rec_t) + len;
    if (d->pending_bytes + need > (size_t)d->opts.pending_kb * 1024) {
        conn_give_up_waiting(d, c, GIVE_UP_OVERFLOW);
        return 1;
    }
    pending_rec_t *p = malloc(need);
    if (!p) return 0; /* lost: counted nowhere better */
    p->next = NULL;
    p->sec = sec;
    p->usec = usec;
    p->len = (uint32_t)len;
    memcpy(p->data, rec, len);
    *h->pending_tail = p;
    h->pending_tail = &p->next;
    h->pending_count++;
    d->pending_bytes += need;
    if (!c->waiting) {
        c->waiting = 1;
        c->waited = 1;
        c->wait_since_ms = sec * 1000 + usec / 1000;
        lru_append(&d->waiting, &c->wait);
    }
    return 0;
}

void tlsdec_data(tlsdec_t *d, tlsdec_half_t *h, const packet_t *pkt, const uint8_t *data,
                 size_t len, uint64_t sec, uint32_t usec)
{
    (void)pkt;
    d->now_ms = sec * 1000 + usec / 1000;
    d->wall_ms = monotonic_ms();
    if (d->waiting.head) expire_waiting(d, d->now_ms);
    tlsrec_bytes(d, h, data, len, sec, usec);
}

void tlsdec_gap(tlsdec_t *d, tlsdec_half_t *h)
{
    /* records before the hole (waiting for their key, say) are still
     * decrypted; nothing after it can be: record boundaries and sequence
     * numbers are lost */
    d->stats.gaps++;
    h->gap = 1;
    h->hdr_len = h->rec_len = h->skip = 0;
}

void tlsdec_close(tlsdec_t *d, tlsdec_half_t *h)
{
    tls_conn_t *c = h->conn;
    h->attached = 0;
    /* records still waiting keep the connection until their key comes or
     * pending_ms passes: a short connection often ends before its key is
     * logged */
    conn_maybe_free(d, c);
}

/* ---- keys arriving ---------------------------------------------------- */

static pending_rec_t *take_pending(tlsdec_t *d, tlsdec_half_t *h)
{
    pending_rec_t *p = h->pending;
    for (pending_rec_t *q = p; q; q = q->next)
        d->pending_bytes -= sizeof(*q) + q->len;
    h->pending = NULL;
    h->pending_tail = &h->pending;
    h->pending_count = 0;
    return p;
}

static int earlier(const pending_rec_t *a, const pending_rec_t *b)
{
    return a->sec < b->sec || (a->sec == b->sec && a->usec <= b->usec);
}

/* Reads the waiting records of both directions again, in capture order. */
static void conn_replay(tlsdec_t *d, tls_conn_t *c)
{
    wait_unlink(d, c);
    pending_rec_t *a = take_pending(d, &c->half[0]), *b = take_pending(d, &c->half[1]);
    while (a || b) {
        int first = a && (!b || earlier(a, b));
        pending_rec_t *p = first ? a : b;
        tlsdec_half_t *h = first ? &c->half[0] : &c->half[1];
        if (first)
            a = a->next;
        else
            b = b->next;
        tlsrec_record(d, h, p->data, p->len, p->sec, p->usec);
        free(p);
    }
}

/* A key came: the waiting records are decrypted. */
static void conn_resume(tlsdec_t *d, tls_conn_t *c)
{
    conn_replay(d, c);
    if (c->keys_found && !c->late_counted) {
        c->late_counted = 1;
        d->stats.sessions_key_late++;
    }
    conn_maybe_free(d, c);
}

void tlsdec_key_arrived(tlsdec_t *d, const uint8_t random[KEYLOG_RANDOM_LEN])
{
    uint64_t now = d->now_ms + (monotonic_ms() - d->wall_ms);
    tls_conn_t *c = d->random_buckets[random_bucket(d, random)];
    while (c) {
        tls_conn_t *next = c->random_next;
        if (c->waiting && memcmp(c->client_random, random, TLS_RANDOM_LEN) == 0) {
            if (c->wait_since_ms + d->opts.pending_ms < now) {
                conn_give_up_waiting(d, c, GIVE_UP_EXPIRED);
                conn_maybe_free(d, c);
            } else {
                conn_resume(d, c);
            }
        }
        c = next;
    }
}

void tlsdec_end(tlsdec_t *d)
{
    while (d->waiting.head) {
        tls_conn_t *c = LRU_ENTRY(d->waiting.head, tls_conn_t, wait);
        conn_give_up_waiting(d, c, GIVE_UP_END);
        conn_maybe_free(d, c);
    }
}

void tlsdec_tick(tlsdec_t *d, uint64_t now_ms)
{
    if (d->waiting.head) expire_waiting(d, now_ms);
}

/* ---- the rest --------------------------------------------------------- */

void tlsdec_free(tlsdec_t *d)
{
    if (!d) return;
    while (d->all.head)
        conn_free(d, LRU_ENTRY(d->all.head, tls_conn_t, all));
    tls_crypto_free(d->crypto);
    free(d->buckets);
    free(d->random_buckets);
    free(d);
}

const tlsdec_stats_t *tlsdec_stats(const tlsdec_t *d)
{
    return &d->stats;
}

const tcpframe_stats_t *tlsdec_frame_stats(const tlsdec_t *d)
{
    return &d->frame.stats;
}

size_t tlsdec_pending_bytes(const tlsdec_t *d)
{
    return d->pending_bytes;
}

size_t tlsdec_memory(const tlsdec_t *d)
{
    return d->memory + d->frame.memory + d->pending_bytes;
}

void tlsdec_visit_stats(const tlsdec_t *d, const stats_visitor_t *v)
{
#define TLSDEC_VISIT(name, help)                                                                   \
    stats_emit(v, "tls." #name, NULL, NULL, STATS_COUNTER, d->stats.name, help);
    TLSDEC_COUNTERS(TLSDEC_VISIT)
#undef TLSDEC_VISIT
#define TLSDEC_FRAME_VISIT(name, help)                                                             \
    stats_emit(v, "tls." #name, NULL, NULL, STATS_COUNTER, d->frame.stats.name, help);
    TCPFRAME_COUNTERS(TLSDEC_FRAME_VISIT)
#undef TLSDEC_FRAME_VISIT
    stats_emit(v, "tls.pending_bytes", NULL, NULL, STATS_GAUGE, d->pending_bytes,
               "bytes of records waiting for their key");
    stats_emit(v, "tls.memory_bytes", NULL, NULL, STATS_GAUGE, tlsdec_memory(d),
               "bytes held by TLS sessions, their buffers and waiting records");
}

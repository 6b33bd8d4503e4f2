/* The media table: calls by Call-ID, each with up to four parties (the
 * From tag of its requests, the To tags of the answers) whose SDP announced
 * streams; each stream's RTP and RTCP endpoints sit in one hash by address
 * and port (media_endpoints.c) that every UDP packet is looked up in. Calls
 * wait in an idle list (touched at most every 0.1 s per call, so a packet
 * costs no list surgery) or, once BYE, CANCEL or a final error arrived, in an
 * ending list until their grace time is up. */
#include "media_internal.h"
#include "hepagent/rtp.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void media_options_default(media_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->max_streams = MEDIA_DEFAULT_MAX_STREAMS;
    o->stream_timeout_ms = MEDIA_DEFAULT_STREAM_TIMEOUT_MS;
    o->grace_ms = MEDIA_DEFAULT_GRACE_MS;
    o->rtp_snap = MEDIA_DEFAULT_RTP_SNAP;
}

static void media_qos_report(void *ctx, const qos_report_t *r)
{
    media_t *m = ctx;
    if (m->sink.qos) m->sink.qos(m->sink.ctx, r);
}

media_t *media_new(const media_options_t *o, const media_sink_t *sink)
{
    media_t *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    m->opts = *o;
    if (m->opts.max_streams == 0) m->opts.max_streams = 1;
    if (sink) m->sink = *sink;
    m->nbuckets = m->ncall_buckets = MEDIA_MIN_BUCKETS;
    m->next_due_us = UINT64_MAX;
    m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
    m->call_buckets = calloc(m->ncall_buckets, sizeof(*m->call_buckets));
    if (o->qos) {
        qos_options_t q;
        qos_options_default(&q);
        q.max_streams = m->opts.max_streams;
        q.stream_timeout_ms = m->opts.stream_timeout_ms;
        q.interval_s = m->opts.qos_interval_s;
        m->qos = qos_new(&q, media_qos_report, m);
    }
    if (!m->buckets || !m->call_buckets || (o->qos && !m->qos)) {
        media_free(m);
        return NULL;
    }
    return m;
}

/* ---- hashing ------------------------------------------------------------ */

static uint32_t media_call_hash(const uint8_t *id, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ id[i]) * 16777619u;
    return h;
}

static void media_grow_calls(media_t *m)
{
    if (m->calls < m->ncall_buckets) return;
    uint32_t n = m->ncall_buckets * 2;
    media_call_t **b = calloc(n, sizeof(*b));
    if (!b) return;
    for (uint32_t i = 0; i < m->ncall_buckets; i++) {
        for (media_call_t *c = m->call_buckets[i], *next; c; c = next) {
            next = c->next;
            c->next = b[c->hash & (n - 1)];
            b[c->hash & (n - 1)] = c;
        }
    }
    free(m->call_buckets);
    m->call_buckets = b;
    m->ncall_buckets = n;
}

/* ---- streams ------------------------------------------------------------ */

static void media_stream_free(media_t *m, media_stream_t *s, media_flows_t when)
{
    media_ep_remove(m, &s->rtp, when);
    media_ep_remove(m, &s->rtcp, when);
    media_call_t *c = s->call;
    media_stream_t **slot = &c->streams;
    while (*slot && *slot != s)
        slot = &(*slot)->next;
    if (*slot) *slot = s->next;
    c->stream_count--;
    m->streams--;
    m->bytes -= sizeof(*s) + s->rtpmap_count * sizeof(sdp_rtpmap_t);
    free(s->rtpmap);
    free(s);
}

static void media_stream_rtpmap(media_t *m, media_stream_t *s, const sdp_media_t *sm)
{
    if (sm->rtpmap_count != s->rtpmap_count) {
        sdp_rtpmap_t *r = NULL;
        if (sm->rtpmap_count) {
            r = realloc(s->rtpmap, sm->rtpmap_count * sizeof(*r));
            if (!r) return; /* keeps the old map */
        } else {
            free(s->rtpmap);
        }
        m->bytes = m->bytes - s->rtpmap_count * sizeof(*r) + sm->rtpmap_count * sizeof(*r);
        s->rtpmap = r;
        s->rtpmap_count = sm->rtpmap_count;
    }
    if (sm->rtpmap_count) memcpy(s->rtpmap, sm->rtpmap, sm->rtpmap_count * sizeof(sdp_rtpmap_t));
    s->srtp = sm->srtp;
}

/* Where RTCP of sm arrives, when not on the RTP port. */
static int media_rtcp_apart(const sdp_media_t *sm)
{
    return sm->rtcp_port && sm->rtcp_addr.version &&
           !(sm->rtcp_port == sm->port && sm->rtcp_addr.version == sm->addr.version &&
             memcmp(sm->rtcp_addr.addr, sm->addr.addr, 16) == 0);
}

/* (Re)keys the stream's endpoints to what sm announces. */
static void media_stream_place(media_t *m, media_stream_t *s, const sdp_media_t *sm)
{
    media_ep_set(&s->rtp, &sm->addr, sm->port);
    media_ep_insert(m, &s->rtp);
    if (media_rtcp_apart(sm)) {
        media_ep_set(&s->rtcp, &sm->rtcp_addr, sm->rtcp_port);
        media_ep_insert(m, &s->rtcp);
    }
}

static media_stream_t *media_stream_of(const media_call_t *c, int party, int index)
{
    for (media_stream_t *s = c->streams; s; s = s->next)
        if (s->party == party && s->index == index) return s;
    return NULL;
}

/* One m= line of a party's SDP. */
static void media_stream_apply(media_t *m, media_call_t *c, int party, int index,
                               const sdp_media_t *sm)
{
    media_stream_t *s = media_stream_of(c, party, index);
    if (!sm->rtp || !sm->port || sm->hold || !sm->addr.version) {
        if (sm->rtp && sm->port && !sm->hold && !sm->addr.version) m->stats.streams_unaddressed++;
        if (s) {
            m->stats.streams_ended++;
            media_stream_free(m, s, MEDIA_FLOWS_LATER);
        }
        return;
    }
    if (s) {
        int apart = media_rtcp_apart(sm);
        int same =
            media_ep_same(&s->rtp, &sm->addr, sm->port) &&
            (apart ? media_ep_same(&s->rtcp, &sm->rtcp_addr, sm->rtcp_port) : s->rtcp.version == 0);
        if (!same) {
            m->stats.streams_moved++;
            media_ep_remove(m, &s->rtp, MEDIA_FLOWS_LATER);
            media_ep_remove(m, &s->rtcp, MEDIA_FLOWS_LATER);
            media_stream_place(m, s, sm);
        }
        media_stream_rtpmap(m, s, sm);
        return;
    }
    if (m->streams >= m->opts.max_streams) {
        m->stats.streams_refused++;
        return;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        m->stats.streams_refused++;
        return;
    }
    s->call = c;
    s->party = (uint8_t)party;
    s->index = (uint8_t)index;
    s->rtp.stream = s->rtcp.stream = s;
    s->next = c->streams;
    c->streams = s;
    c->stream_count++;
    m->streams++;
    m->stats.streams++;
    m->bytes += sizeof(*s);
    media_stream_place(m, s, sm);
    media_stream_rtpmap(m, s, sm);
}

/* ---- calls -------------------------------------------------------------- */

static media_call_t *media_call_find(const media_t *m, ha_bytes_t id)
{
    uint32_t h = media_call_hash(id.ptr, id.len);
    for (media_call_t *c = m->call_buckets[h & (m->ncall_buckets - 1)]; c; c = c->next)
        if (c->hash == h && c->call_id_len == id.len && memcmp(c->call_id, id.ptr, id.len) == 0)
            return c;
    return NULL;
}

static media_call_t *media_call_new(media_t *m, ha_bytes_t id)
{
    media_call_t *c = calloc(1, sizeof(*c) + id.len);
    if (!c) return NULL;
    memcpy(c->call_id, id.ptr, id.len);
    c->call_id_len = (uint16_t)id.len;
    c->hash = media_call_hash(id.ptr, id.len);
    c->last_us = c->touched_us = m->now_us;
    uint32_t b = c->hash & (m->ncall_buckets - 1);
    c->next = m->call_buckets[b];
    m->call_buckets[b] = c;
    lru_append(&m->idle, &c->lru);
    media_due(m, c->last_us + media_timeout_us(m) + 1);
    m->calls++;
    m->bytes += sizeof(*c) + id.len;
    m->stats.calls++;
    media_grow_calls(m);
    return c;
}

/* The call is over: its QoS streams report for the last time, its
 * endpoints leave the table. */
static void media_call_free(media_t *m, media_call_t *c)
{
    if (m->qos)
        qos_end_call(m->qos, c->call_id, c->call_id_len, m->now_us / 1000000,
                     (uint32_t)(m->now_us % 1000000));
    while (c->streams)
        media_stream_free(m, c->streams, MEDIA_FLOWS_KEEP);
    for (size_t i = 0; i < m->npending;) { /* qos_end_call ended them */
        if (m->pending[i].call == c) {
            m->pending[i] = m->pending[--m->npending];
        } else {
            i++;
        }
    }
    media_call_t **slot = &m->call_buckets[c->hash & (m->ncall_buckets - 1)];
    while (*slot && *slot != c)
        slot = &(*slot)->next;
    if (*slot) *slot = c->next;
    lru_unlink(c->end ? &m->ending : &m->idle, &c->lru);
    m->calls--;
    m->bytes -= sizeof(*c) + c->call_id_len;
    if (c->offer) {
        m->offers--;
        m->bytes -= sizeof(*c->offer);
        free(c->offer);
    }
    free(c);
}

static void media_call_end(media_t *m, media_call_t *c, media_end_t why)
{
    if (c->end) return; /* the first reason stands */
    c->end = (uint8_t)why;
    c->end_us = m->now_us + (uint64_t)m->opts.grace_ms * 1000;
    lru_unlink(&m->idle, &c->lru);
    lru_append(&m->ending, &c->lru);
    media_due(m, c->end_us);
}

/* A new INVITE after a rejection (a redirect, a retry with other SDP) takes
 * the call back. */
static void media_call_revive(media_t *m, media_call_t *c)
{
    if (c->end != MEDIA_END_REJECTED) return;
    lru_unlink(&m->ending, &c->lru);
    c->end = MEDIA_END_NONE;
    c->touched_us = m->now_us;
    lru_append(&m->idle, &c->lru);
    media_due(m, c->last_us + media_timeout_us(m) + 1);
}

/* The party of a tag (added on first sight), -1 when all slots are taken.
 * Tags are kept as 64-bit FNV-1a hashes: a collision between two tags of
 * one call is not a practical concern. */
static int media_party(media_call_t *c, ha_bytes_t tag)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < tag.len; i++)
        h = (h ^ tag.ptr[i]) * 1099511628211ull;
    for (int p = 0; p < c->parties; p++)
        if (c->tags[p] == h) return p;
    if (c->parties == MEDIA_MAX_PARTIES) return -1;
    c->tags[c->parties] = h;
    return c->parties++;
}

/* The tag parameter of a From or To value, after the URI. */
static ha_bytes_t media_tag(ha_bytes_t v)
{
    const uint8_t *p = v.ptr;
    size_t n = v.len;
    if (n == 0) return (ha_bytes_t){NULL, 0}; /* no From/To header */
    const uint8_t *gt = memchr(p, '>', n);
    if (gt) {
        n -= (size_t)(gt + 1 - p);
        p = gt + 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] != ';') continue;
        size_t j = i + 1;
        while (j < n && (p[j] == ' ' || p[j] == '\t'))
            j++;
        if (j + 3 > n || strncasecmp((const char *)p + j, "tag", 3) != 0) continue;
        j += 3;
        while (j < n && (p[j] == ' ' || p[j] == '\t'))
            j++;
        if (j >= n || p[j] != '=') continue;
        j++;
        while (j < n && (p[j] == ' ' || p[j] == '\t'))
            j++;
        size_t start = j;
        while (j < n && !memchr(";, \t\r\n", p[j], 6))
            j++;
        return (ha_bytes_t){p + start, j - start};
    }
    return (ha_bytes_t){NULL, 0};
}

/* ---- the clock ---------------------------------------------------------- */

/* The earliest capture time something can fall due: a pending flow end, the
 * first ending call, the idle list's head. The head of the idle list is the
 * call touched longest ago; the calls behind it were heard at most
 * MEDIA_TOUCH_US before their own touch, so an idle call ends at most that
 * late (exactly on time when it is the head). */
static uint64_t media_next_due(const media_t *m)
{
    uint64_t due = UINT64_MAX;
    for (size_t i = 0; i < m->npending; i++)
        due = HA_MIN(due, m->pending[i].due_us);
    const media_call_t *c = LRU_ENTRY(m->ending.head, media_call_t, lru);
    if (c) due = HA_MIN(due, c->end_us);
    c = LRU_ENTRY(m->idle.head, media_call_t, lru);
    if (c) due = HA_MIN(due, c->last_us + media_timeout_us(m) + 1);
    return due;
}

/* The capture clock moves (never back); what fell due happens. One compare
 * per packet while nothing is due. */
static void media_clock(media_t *m, uint64_t now_us)
{
    if (now_us > m->now_us) m->now_us = now_us;
    now_us = m->now_us;
    if (now_us < m->next_due_us) return;
    for (size_t i = 0; i < m->npending;) {
        if (m->pending[i].due_us <= now_us) {
            m->stats.flows_ended++;
            media_flow_end(m, &m->pending[i].key);
            m->pending[i] = m->pending[--m->npending];
        } else {
            i++;
        }
    }
    media_call_t *c;
    while ((c = LRU_ENTRY(m->ending.head, media_call_t, lru)) && c->end_us <= now_us) {
        if (c->end == MEDIA_END_BYE) m->stats.calls_bye++;
        if (c->end == MEDIA_END_CANCEL) m->stats.calls_cancel++;
        if (c->end == MEDIA_END_REJECTED) m->stats.calls_rejected++;
        media_call_free(m, c);
    }
    uint64_t timeout = media_timeout_us(m);
    while ((c = LRU_ENTRY(m->idle.head, media_call_t, lru)) && c->last_us + timeout < now_us) {
        m->stats.calls_expired++;
        media_call_free(m, c);
    }
    m->next_due_us = media_next_due(m);
}

void media_tick(media_t *m, uint64_t ts_sec, uint32_t ts_usec)
{
    media_clock(m, ts_sec * 1000000 + ts_usec);
    if (m->qos) qos_tick(m->qos, ts_sec, ts_usec);
}

static void media_heard(media_t *m, media_call_t *c)
{
    c->last_us = m->now_us;
    if (!c->end && c->last_us >= c->touched_us + MEDIA_TOUCH_US) {
        c->touched_us = c->last_us;
        lru_touch(&m->idle, &c->lru);
    }
}

/* ---- SIP ---------------------------------------------------------------- */

static int media_offer_answer_method(ha_bytes_t method)
{
    return sip_token_equals(method, "INVITE") || sip_token_equals(method, "ACK") ||
           sip_token_equals(method, "UPDATE") || sip_token_equals(method, "PRACK");
}

/* One party's SDP: each m= line updates its stream; streams of m= lines
 * the SDP no longer has end. */
static void media_apply(media_t *m, media_call_t *c, int party, const sdp_t *sdp)
{
    for (int i = 0; i < SDP_MAX_MEDIA; i++) {
        if (i < sdp->media_count) {
            media_stream_apply(m, c, party, i, &sdp->media[i]);
        } else {
            media_stream_t *s = media_stream_of(c, party, i);
            if (!s) continue;
            m->stats.streams_ended++; /* the m= line is gone */
            media_stream_free(m, s, MEDIA_FLOWS_LATER);
        }
    }
}

/* Keeps a re-offer until its answer (the newest offer of the call wins).
 * 0 when MEDIA_MAX_OFFERS are held or there is no memory: then it applies
 * at once, as an accepted one would. */
static int media_offer_hold(media_t *m, media_call_t *c, uint8_t party, const sip_msg_t *sip,
                            const sdp_t *sdp)
{
    if (!c->offer) {
        if (m->offers >= MEDIA_MAX_OFFERS || !(c->offer = malloc(sizeof(*c->offer)))) return 0;
        m->offers++;
        m->bytes += sizeof(*c->offer);
    }
    c->offer->cseq = sip->cseq_number;
    c->offer->party = party;
    c->offer->update = sip_token_equals(sip->method, "UPDATE");
    c->offer->sdp = *sdp;
    m->stats.offers_deferred++;
    return 1;
}

/* The SDP of a message that may carry an offer or an answer. */
static void media_learn(media_t *m, media_call_t **call, const uint8_t *data, size_t len,
                        const sip_msg_t *sip)
{
    ha_bytes_t method = sip->is_request ? sip->method : sip->cseq_method;
    if (!media_offer_answer_method(method) || (!sip->is_request && sip->status >= 300)) return;
    ha_bytes_t body;
    if (sdp_find_body(data, len, sip, &body) != SDP_OK) return;
    sdp_t sdp;
    sdp_result_t r = sdp_parse(body.ptr, body.len, &sdp);
    if (r != SDP_OK) {
        m->stats.sdp[r]++;
        return;
    }
    m->stats.sdp_read++;
    media_call_t *c = *call;
    if (!c) {
        int any = 0;
        for (int i = 0; i < sdp.media_count; i++)
            any |= sdp.media[i].rtp && sdp.media[i].port && !sdp.media[i].hold;
        if (!any) return;
        if (sip->call_id.len > MEDIA_CALL_ID_MAX) {
            m->stats.call_id_too_long++;
            return;
        }
        c = *call = media_call_new(m, sip->call_id);
        if (!c) return;
    }
    if (sip->is_request && sip_token_equals(method, "INVITE")) media_call_revive(m, c);
    int party = media_party(c, media_tag(sip->is_request ? sip->from : sip->to));
    if (party < 0) {
        m->stats.parties_refused++;
        return;
    }
    if (c->established && sip->is_request &&
        (sip_token_equals(method, "INVITE") || sip_token_equals(method, "UPDATE")) &&
        media_offer_hold(m, c, (uint8_t)party, sip, &sdp))
        return;
    media_apply(m, c, party, &sdp);
}

/* Settles the call's re-offer with a message of its transaction: a 2xx
 * applies it (before the answer it carries), a final error drops it, and an
 * ACK of the same CSeq applies it when the 2xx was not captured. */
static void media_offer_settle(media_t *m, media_call_t *c, const sip_msg_t *sip)
{
    media_offer_t *o = c->offer;
    if (!o || sip->cseq_number != o->cseq) return;
    if (sip->is_request) {
        if (o->update || !sip_token_equals(sip->method, "ACK")) return;
    } else {
        if (!sip_token_equals(sip->cseq_method, o->update ? "UPDATE" : "INVITE")) return;
        if (sip->status < 200) return;
    }
    c->offer = NULL;
    m->offers--;
    m->bytes -= sizeof(*o);
    if (!sip->is_request && sip->status >= 300)
        m->stats.offers_rejected++;
    else
        media_apply(m, c, o->party, &o->sdp);
    free(o);
}

void media_sip(media_t *m, const uint8_t *data, size_t len, const sip_msg_t *sip, uint64_t ts_sec,
               uint32_t ts_usec, uint32_t tag)
{
    media_tick(m, ts_sec, ts_usec);
    if (!sip->call_id.len) return;
    media_call_t *c = media_call_find(m, sip->call_id);
    if (c) media_offer_settle(m, c, sip);
    media_learn(m, &c, data, len, sip);
    if (!c) return;
    c->tag = tag;
    media_heard(m, c);
    if (sip->is_request) {
        if (sip_token_equals(sip->method, "BYE")) media_call_end(m, c, MEDIA_END_BYE);
        if (sip_token_equals(sip->method, "CANCEL")) media_call_end(m, c, MEDIA_END_CANCEL);
    } else if (sip_token_equals(sip->cseq_method, "INVITE")) {
        if (sip->status >= 200 && sip->status < 300) c->established = 1;
        /* a challenge is answered by the same call with credentials */
        if (sip->status >= 300 && !c->established && sip->status != 401 && sip->status != 407)
            media_call_end(m, c, MEDIA_END_REJECTED);
    }
    if (c->stream_count == 0 && !c->end) media_call_free(m, c); /* nothing left to track */
}

/* ---- packets ------------------------------------------------------------ */

/* The clock rate and codec of a payload type: the stream's rtpmap, else
 * the same m= line of the other parties (the answer may name what the
 * offer left to the static table). */
static const sdp_rtpmap_t *media_rtpmap(const media_stream_t *s, uint8_t pt)
{
    for (uint8_t i = 0; i < s->rtpmap_count; i++)
        if (s->rtpmap[i].payload_type == pt) return &s->rtpmap[i];
    for (const media_stream_t *o = s->call->streams; o; o = o->next) {
        if (o == s || o->index != s->index) continue;
        for (uint8_t i = 0; i < o->rtpmap_count; i++)
            if (o->rtpmap[i].payload_type == pt) return &o->rtpmap[i];
    }
    return NULL;
}

static void media_rtcp(media_t *m, const packet_t *pkt, const media_stream_t *s)
{
    const media_call_t *c = s->call;
    m->stats.rtcp_packets++;
    if (!m->opts.rtcp) return;
    if (s->srtp) {
        m->stats.rtcp_encrypted++;
        return;
    }
    if (pkt->truncated) {
        m->stats.rtcp[RTCP_RESULT_truncated]++;
        return;
    }
    size_t n;
    rtcp_info_t info;
    rtcp_result_t r =
        rtcp_to_json(pkt->payload, pkt->payload_len, m->json, sizeof(m->json), &n, &info);
    m->stats.rtcp[r]++;
    if (r == RTCP_RESULT_ok && m->sink.rtcp)
        m->sink.rtcp(m->sink.ctx, pkt, (ha_bytes_t){c->call_id, c->call_id_len}, c->tag, m->json, n,
                     &info);
}

int media_packet(media_t *m, const packet_t *pkt)
{
    media_clock(m, pkt->ts_sec * 1000000 + pkt->ts_usec);
    if (!m->endpoints || pkt->payload_len == 0) return 0;
    int to = 1;
    media_endpoint_t *e = media_ep_find(m, pkt->ip_version, pkt->dst_addr, pkt->dst_port,
                                        pkt->src_addr, pkt->src_port);
    if (!e) {
        e = media_ep_find(m, pkt->ip_version, pkt->src_addr, pkt->src_port, pkt->dst_addr,
                          pkt->dst_port);
        if (!e) return 0;
        to = 0;
    }
    media_stream_t *s = e->stream;
    media_call_t *c = s->call;
    media_heard(m, c);
    if (rtp_is_rtcp(pkt->payload, pkt->payload_len)) {
        media_rtcp(m, pkt, s);
        return 1;
    }
    rtp_header_t h;
    rtp_result_t r = rtp_parse(pkt->payload, pkt->payload_len, pkt->truncated, &h);
    if (r != RTP_ok) {
        m->stats.not_rtp++;
        if (m->qos) qos_not_rtp(m->qos, r);
        return 0;
    }
    m->stats.rtp_packets++;
    if (!m->qos) return 1;
    if (to ? !e->has_in || !flow_key_match(&e->flow_in, pkt)
           : !e->has_out || !flow_key_match(&e->flow_out, pkt)) {
        flow_key_set(to ? &e->flow_in : &e->flow_out, pkt);
        if (to)
            e->has_in = 1;
        else
            e->has_out = 1;
    }
    const sdp_rtpmap_t *map = media_rtpmap(s, h.payload_type);
    qos_rtp(m->qos, pkt, &h, c->call_id, c->call_id_len, map ? map->clock_rate : 0,
            map ? map->codec : NULL, c->tag);
    return 1;
}

/* ---- the rest ----------------------------------------------------------- */

void media_finish(media_t *m)
{
    if (m->qos) qos_finish(m->qos);
}

void media_free(media_t *m)
{
    if (!m) return;
    media_call_t *c;
    while ((c = LRU_ENTRY(m->idle.head, media_call_t, lru)))
        media_call_free(m, c);
    while ((c = LRU_ENTRY(m->ending.head, media_call_t, lru)))
        media_call_free(m, c);
    qos_free(m->qos);
    free(m->pending);
    free(m->buckets);
    free(m->call_buckets);
    free(m);
}

const media_stats_t *media_get_stats(const media_t *m)
{
    return &m->stats;
}

size_t media_memory(const media_t *m)
{
    return sizeof(*m) + m->nbuckets * sizeof(*m->buckets) +
           m->ncall_buckets * sizeof(*m->call_buckets) + m->bytes +
           (m->qos ? qos_memory(m->qos) : 0);
}

size_t media_calls(const media_t *m)
{
    return m->calls;
}

size_t media_streams(const media_t *m)
{
    return m->streams;
}

void media_visit_stats(const media_t *m, const stats_visitor_t *v)
{
#define MEDIA_VISIT(name, help)                                                                    \
    stats_emit(v, "media." #name, NULL, NULL, STATS_COUNTER, m->stats.name, help);
    MEDIA_COUNTERS(MEDIA_VISIT)
#undef MEDIA_VISIT
    static const char *const sdp_names[SDP_RESULT_COUNT] = {
        NULL,
        NULL,
        "media.sdp_bad_version",
        "media.sdp_bad_line",
        "media.sdp_bad_media",
        "media.sdp_bad_address",
    };
    for (int r = SDP_BAD_VERSION; r < SDP_RESULT_COUNT; r++)
        stats_emit(v, sdp_names[r], NULL, NULL, STATS_COUNTER, m->stats.sdp[r],
                   "SDP bodies that could not be read, by reason");
    static const char *const rtcp_names[RTCP_RESULT_COUNT] = {
#define RTCP_NAME(name, help) "rtcp." #name,
        RTCP_RESULTS(RTCP_NAME)
#undef RTCP_NAME
    };
    for (int r = 0; r < RTCP_RESULT_COUNT; r++)
        stats_emit(v, rtcp_names[r], NULL, NULL, STATS_COUNTER, m->stats.rtcp[r],
                   rtcp_result_help((rtcp_result_t)r));
    stats_emit(v, "media.calls_now", NULL, NULL, STATS_GAUGE, m->calls, "calls tracked now");
    stats_emit(v, "media.streams_now", NULL, NULL, STATS_GAUGE, m->streams,
               "announced streams tracked now");
    stats_emit(v, "media.memory_bytes", NULL, NULL, STATS_GAUGE, media_memory(m),
               "bytes held by the media table (QoS table included)");
    if (m->qos) qos_visit_stats(m->qos, v);
}

/* The media table: offer and answer, NAT, re-INVITE moving a port, hold,
 * streams that end, rtcp-mux, forks, the ways a call ends (BYE, CANCEL,
 * rejection, idle), the bound, and memory with 100k announced streams that
 * never send. */
#include "test_util.h"

#include <arpa/inet.h>

#include "hepagent/media.h"

typedef struct {
    int rtcp;
    char rtcp_call_id[64];
    char rtcp_json[512];
    rtcp_info_t rtcp_info;
    uint16_t rtcp_src_port, rtcp_dst_port;
    int reports, finals;
    uint64_t final_packets; /* summed over the final reports */
    qos_report_t last;
    qos_numbers_t last_numbers;
    char last_call_id[64];
    uint32_t rtcp_tag;
    char last_json[2048];
} sink_t;

static void on_rtcp(void *ctx, const packet_t *pkt, ha_bytes_t call_id, uint32_t tag,
                    const char *json, size_t json_len, const rtcp_info_t *info)
{
    sink_t *s = ctx;
    s->rtcp++;
    s->rtcp_tag = tag;
    snprintf(s->rtcp_call_id, sizeof(s->rtcp_call_id), "%.*s", (int)call_id.len,
             (const char *)call_id.ptr);
    snprintf(s->rtcp_json, sizeof(s->rtcp_json), "%.*s", (int)json_len, json);
    s->rtcp_info = *info;
    s->rtcp_src_port = pkt->src_port;
    s->rtcp_dst_port = pkt->dst_port;
}

static void on_qos(void *ctx, const qos_report_t *r)
{
    sink_t *s = ctx;
    s->reports++;
    if (r->final) {
        s->finals++;
        s->final_packets += r->numbers->packets;
    }
    s->last = *r;
    s->last_numbers = *r->numbers;
    s->last.numbers = &s->last_numbers;
    snprintf(s->last_call_id, sizeof(s->last_call_id), "%.*s", (int)r->call_id_len,
             (const char *)r->call_id);
    snprintf(s->last_json, sizeof(s->last_json), "%.*s", (int)r->json_len, r->json);
}

typedef struct {
    media_t *m;
    sink_t sink;
} fixture_t;

static media_t *make(sink_t *sink, uint32_t max_streams)
{
    media_options_t o;
    media_options_default(&o);
    o.rtcp = o.qos = 1;
    o.max_streams = max_streams;
    o.grace_ms = 2000;
    o.stream_timeout_ms = 10000;
    media_sink_t k = {on_rtcp, on_qos, sink};
    media_t *m = media_new(&o, &k);
    assert_non_null(m);
    return m;
}

static uint64_t now_sec = 1700000000;
static uint32_t sip_tag = 7; /* what sip() gives media_sip */

/* A SIP message with an optional SDP body offering one audio stream at
 * addr:port (and the extra SDP lines given). */
static void sip(media_t *m, const char *start, const char *call_id, const char *from_tag,
                const char *to_tag, const char *cseq, const char *sdp, uint64_t at_us)
{
    char msg[4096];
    int n = snprintf(msg, sizeof(msg),
                     "%s\r\nVia: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bK1\r\n"
                     "From: <sip:a@x>;tag=%s\r\nTo: <sip:b@y>%s%s\r\nCall-ID: %s\r\nCSeq: %s\r\n",
                     start, from_tag, to_tag ? ";tag=" : "", to_tag ? to_tag : "", call_id, cseq);
    if (sdp)
        n += snprintf(msg + n, sizeof(msg) - (size_t)n,
                      "Content-Type: application/sdp\r\nContent-Length: %zu\r\n\r\n%s", strlen(sdp),
                      sdp);
    else
        n += snprintf(msg + n, sizeof(msg) - (size_t)n, "Content-Length: 0\r\n\r\n");
    sip_msg_t parsed;
    assert_int_equal(sip_parse((const uint8_t *)msg, (size_t)n, &parsed), SIP_OK);
    media_sip(m, (const uint8_t *)msg, (size_t)n, &parsed, now_sec + at_us / 1000000,
              (uint32_t)(at_us % 1000000), sip_tag);
}

static char *audio_sdp(char *buf, size_t cap, const char *ip, unsigned port, const char *extra)
{
    snprintf(buf, cap,
             "v=0\r\no=- 1 1 IN IP%c %s\r\ns=-\r\nc=IN IP%c %s\r\nt=0 0\r\n"
             "m=audio %u RTP/AVP 0 96\r\na=rtpmap:96 opus/48000/2\r\n%s",
             strchr(ip, ':') ? '6' : '4', ip, strchr(ip, ':') ? '6' : '4', ip, port, extra);
    return buf;
}

static uint8_t payload_buf[256];

/* A UDP packet from src to dst carrying payload (copied). */
static packet_t udp(const char *src, uint16_t sport, const char *dst, uint16_t dport,
                    const uint8_t *payload, size_t len, uint64_t sec, uint32_t usec)
{
    packet_t p;
    memset(&p, 0, sizeof(p));
    int v6 = strchr(src, ':') != NULL;
    p.ip_version = v6 ? 6 : 4;
    p.l4_proto = 17;
    inet_pton(v6 ? AF_INET6 : AF_INET, src, p.src_addr);
    inet_pton(v6 ? AF_INET6 : AF_INET, dst, p.dst_addr);
    p.src_port = sport;
    p.dst_port = dport;
    memcpy(payload_buf, payload, len);
    p.payload = payload_buf;
    p.payload_len = (uint32_t)len;
    p.ts_sec = sec;
    p.ts_usec = usec;
    return p;
}

static int rtp(media_t *m, const char *src, uint16_t sport, const char *dst, uint16_t dport,
               uint8_t pt, uint16_t seq, uint32_t ssrc, uint64_t sec, uint32_t usec)
{
    uint8_t b[172] = {0x80, pt};
    b[2] = (uint8_t)(seq >> 8);
    b[3] = (uint8_t)seq;
    uint32_t ts = seq * 160u;
    b[4] = (uint8_t)(ts >> 24), b[5] = (uint8_t)(ts >> 16), b[6] = (uint8_t)(ts >> 8),
    b[7] = (uint8_t)ts;
    b[8] = (uint8_t)(ssrc >> 24), b[9] = (uint8_t)(ssrc >> 16), b[10] = (uint8_t)(ssrc >> 8),
    b[11] = (uint8_t)ssrc;
    packet_t p = udp(src, sport, dst, dport, b, sizeof(b), sec, usec);
    return media_packet(m, &p);
}

static int rtcp_rr(media_t *m, const char *src, uint16_t sport, const char *dst, uint16_t dport,
                   uint32_t ssrc, uint64_t sec)
{
    uint8_t b[8] = {
        0x80,         201, 0, 1, (uint8_t)(ssrc >> 24), (uint8_t)(ssrc >> 16), (uint8_t)(ssrc >> 8),
        (uint8_t)ssrc};
    packet_t p = udp(src, sport, dst, dport, b, sizeof(b), sec, 0);
    return media_packet(m, &p);
}

/* 50 packets of 20 ms each way. */
static void talk(media_t *m, const char *a, uint16_t ap, const char *b, uint16_t bp,
                 uint64_t start_sec)
{
    for (uint16_t i = 0; i < 50; i++) {
        uint64_t us = (uint64_t)i * 20000;
        assert_int_equal(
            rtp(m, a, ap, b, bp, 0, i, 0xa, start_sec + us / 1000000, (uint32_t)(us % 1000000)), 1);
        assert_int_equal(
            rtp(m, b, bp, a, ap, 0, i, 0xb, start_sec + us / 1000000, (uint32_t)(us % 1000000)), 1);
    }
}

static void test_call_bye(void **state)
{
    (void)state;
    sink_t k = {0};
    media_t *m = make(&k, 100);
    char sa[512], sb[512];
    sip(m, "INVITE sip:b@y SIP/2.0", "call-1", "ta", NULL, "1 INVITE",
        audio_sdp(sa, sizeof(sa), "10.0.0.1", 4000, ""), 0);
    sip(m, "SIP/2.0 180 Ringing", "call-1", "ta", "tb", "1 INVITE", NULL, 1000);
    sip_tag = 8; /* the call's media carry its latest SIP message's tag */
    sip(m, "SIP/2.0 200 OK", "call-1", "ta", "tb", "1 INVITE",
        audio_sdp(sb, sizeof(sb), "10.0.0.2", 5000, ""), 2000);
    sip_tag = 7;
    assert_int_equal(media_calls(m), 1);
    assert_int_equal(media_streams(m), 2);
    talk(m, "10.0.0.1", 4000, "10.0.0.2", 5000, now_sec + 1);
    /* RTCP on port + 1, both ways */
    assert_int_equal(rtcp_rr(m, "10.0.0.1", 4001, "10.0.0.2", 5001, 0xa, now_sec + 2), 1);
    assert_int_equal(k.rtcp, 1);
    assert_string_equal(k.rtcp_call_id, "call-1");
    assert_int_equal(k.rtcp_src_port, 4001);
    assert_int_equal(k.rtcp_tag, 8);
    assert_string_equal(k.rtcp_json, "{\"ssrc\":10,\"type\":201,\"report_count\":0,"
                                     "\"report_blocks\":[]}");
    /* a packet of nobody's */
    assert_int_equal(rtp(m, "10.0.0.7", 4000, "10.0.0.8", 5000, 0, 1, 1, now_sec + 2, 0), 0);
    sip(m, "BYE sip:a@x SIP/2.0", "call-1", "tb", "ta", "2 BYE", NULL, 2500000);
    /* media within the grace time still counts; the call ends after it */
    assert_int_equal(rtp(m, "10.0.0.1", 4000, "10.0.0.2", 5000, 0, 50, 0xa, now_sec + 4, 0), 1);
    media_tick(m, now_sec + 4, 400000);
    assert_int_equal(k.finals, 0);
    media_tick(m, now_sec + 4, 600000);
    assert_int_equal(k.finals, 2);
    assert_int_equal(k.last.reason, QOS_REASON_CALL_END);
    assert_string_equal(k.last_call_id, "call-1");
    /* 4000->5000 heard last after the BYE (its tag), 5000->4000 before it */
    assert_int_equal(k.last.tag, k.last.src_port == 4000 ? 7 : 8);
    assert_int_equal(k.final_packets, 101); /* 51 one way (one in the grace time), 50 back */
    assert_int_equal(k.last_numbers.lost, 0);
    assert_string_equal(k.last.codec, "PCMU");
    assert_int_equal(media_calls(m), 0);
    assert_int_equal(media_streams(m), 0);
    assert_int_equal(media_get_stats(m)->calls_bye, 1);
    assert_int_equal(rtp(m, "10.0.0.1", 4000, "10.0.0.2", 5000, 0, 51, 0xa, now_sec + 5, 0), 0);
    media_free(m);
}

static void test_nat_and_codec_from_rtpmap(void **state)
{
    (void)state;
    sink_t k = {0};
    media_t *m = make(&k, 100);
    char sa[512], sb[512];
    /* the caller is behind NAT: its SDP names a private address */
    sip(m, "INVITE sip:b@y SIP/2.0", "nat", "ta", NULL, "1 INVITE",
        audio_sdp(sa, sizeof(sa), "192.168.1.10", 4000, ""), 0);
    sip(m, "SIP/2.0 200 OK", "nat", "ta", "tb", "1 INVITE",
        audio_sdp(sb, sizeof(sb), "203.0.113.5", 6000, ""), 0);
    /* to the public side by its destination, back by its source */
    assert_int_equal(rtp(m, "198.51.100.7", 34567, "203.0.113.5", 6000, 96, 1, 7, now_sec, 0), 1);
    assert_int_equal(rtp(m, "203.0.113.5", 6000, "198.51.100.7", 34567, 96, 1, 8, now_sec, 0), 1);
    media_finish(m);
    assert_int_equal(k.finals, 2);
    assert_string_equal(k.last.codec, "opus");
    assert_int_equal(k.last_numbers.clock_rate, 48000);
    assert_int_equal(k.last.reason, QOS_REASON_STOP);
    media_free(m);
}

/* A re-INVITE moves the callee's port once its 200 OK accepts it, the
 * caller holds with 0.0.0.0 and resumes within the grace time, then holds
 * for longer. Flows to an endpoint that went away end grace_ms (2 s here)
 * later: swept at the edge. */
static void test_reinvite_moves_port_and_hold(void **state)
{
    (void)state;
    sink_t k = {0};
    media_t *m = make(&k, 100);
    char sa[512], sb[512];
    sip(m, "INVITE sip:b@y SIP/2.0", "move", "ta", NULL, "1 INVITE",
        audio_sdp(sa, sizeof(sa), "10.0.0.1", 4000, ""), 0);
    sip(m, "SIP/2.0 200 OK", "move", "ta", "tb", "1 INVITE",
        audio_sdp(sb, sizeof(sb), "10.0.0.2", 5000, ""), 0);
    talk(m, "10.0.0.1", 4000, "10.0.0.2", 5000, now_sec + 1);
    /* at 2 s the callee re-INVITEs with a new port: it moves at the 200 OK */
    sip(m, "INVITE sip:a@x SIP/2.0", "move", "tb", "ta", "2 INVITE",
        audio_sdp(sb, sizeof(sb), "10.0.0.2", 5002, ""), 2000000);
    assert_int_equal(media_get_stats(m)->streams_moved, 0);
    assert_int_equal(media_get_stats(m)->offers_deferred, 1);
    sip(m, "SIP/2.0 200 OK", "move", "tb", "ta", "2 INVITE",
        audio_sdp(sa, sizeof(sa), "10.0.0.1", 4000, ""), 2000000);
    assert_int_equal(media_get_stats(m)->streams_moved, 1);
    /* a packet still in flight to the old port counts in its stream */
    assert_int_equal(rtp(m, "10.0.0.1", 4000, "10.0.0.2", 5000, 0, 50, 0xa, now_sec + 2, 10000), 1);
    media_tick(m, now_sec + 3, 999999);
    assert_int_equal(k.finals, 0);
    media_tick(m, now_sec + 4, 0);
    assert_int_equal(k.finals, 1);
    assert_int_equal(k.last.reason, QOS_REASON_FLOW_END);
    assert_int_equal(k.last_numbers.packets, 51);
    assert_int_equal(k.last.dst_port, 5000);
    assert_int_equal(media_get_stats(m)->flows_ended, 1);
    assert_int_equal(rtp(m, "10.0.0.1", 4000, "10.0.0.2", 5002, 0, 51, 0xa, now_sec + 4, 100000),
                     1);
    /* a port nobody announces */
    assert_int_equal(rtp(m, "10.0.0.9", 1, "10.0.0.3", 5000, 0, 1, 1, now_sec + 4, 200000), 0);

    /* at 5 s the caller holds with 0.0.0.0: the flow to it would end at 7 s,
     * but it resumes at 6 s and the stream goes on */
    sip(m, "INVITE sip:b@y SIP/2.0", "move", "ta", "tb", "3 INVITE",
        audio_sdp(sa, sizeof(sa), "0.0.0.0", 4000, "a=sendonly\r\n"), 5000000);
    sip(m, "SIP/2.0 200 OK", "move", "ta", "tb", "3 INVITE",
        audio_sdp(sb, sizeof(sb), "10.0.0.2", 5002, "a=recvonly\r\n"), 5000000);
    assert_int_equal(media_get_stats(m)->streams_ended, 1);
    assert_int_equal(media_streams(m), 1);
    sip(m, "INVITE sip:b@y SIP/2.0", "move", "ta", "tb", "4 INVITE",
        audio_sdp(sa, sizeof(sa), "10.0.0.1", 4000, ""), 6000000);
    sip(m, "SIP/2.0 200 OK", "move", "ta", "tb", "4 INVITE",
        audio_sdp(sb, sizeof(sb), "10.0.0.2", 5002, ""), 6000000);
    assert_int_equal(media_streams(m), 2);
    media_tick(m, now_sec + 7, 500000);
    assert_int_equal(k.finals, 1);

    /* at 8 s it holds again and stays: at 10 s the flow to it ends */
    sip(m, "INVITE sip:b@y SIP/2.0", "move", "ta", "tb", "5 INVITE",
        audio_sdp(sa, sizeof(sa), "0.0.0.0", 4000, "a=sendonly\r\n"), 8000000);
    sip(m, "SIP/2.0 200 OK", "move", "ta", "tb", "5 INVITE",
        audio_sdp(sb, sizeof(sb), "10.0.0.2", 5002, "a=recvonly\r\n"), 8000000);
    media_tick(m, now_sec + 9, 999999);
    assert_int_equal(k.finals, 1);
    media_tick(m, now_sec + 10, 0);
    assert_int_equal(k.finals, 2);
    assert_int_equal(k.last.dst_port, 4000);
    assert_int_equal(k.last.reason, QOS_REASON_FLOW_END);

    /* an UPDATE with port 0 ends the callee's stream too, once accepted:
     * nothing is left, the call ends and its last stream with it */
    sip(m, "UPDATE sip:a@x SIP/2.0", "move", "tb", "ta", "6 UPDATE",
        audio_sdp(sb, sizeof(sb), "10.0.0.2", 0, ""), 10500000);
    assert_int_equal(media_streams(m), 1);
    sip(m, "SIP/2.0 200 OK", "move", "tb", "ta", "6 UPDATE", NULL, 10500000);
    assert_int_equal(media_streams(m), 0);
    assert_int_equal(media_calls(m), 0);
    assert_int_equal(k.finals, 3);
    assert_int_equal(k.last.reason, QOS_REASON_CALL_END);
    assert_int_equal(k.last.dst_port, 5002);
    media_free(m);
}

/* A re-offer that a final error answers (488, 491) changes nothing: the
 * media keep flowing where they were and their streams go on whole. One
 * whose 2xx was not captured takes effect at its ACK. */
static void test_reoffer_rejected(void **state)
{
    (void)state;
    sink_t k = {0};
    media_t *m = make(&k, 100);
    char sa[512], sb[512];
    sip(m, "INVITE sip:b@y SIP/2.0", "rej", "ta", NULL, "1 INVITE",
        audio_sdp(sa, sizeof(sa), "10.0.0.1", 4000, ""), 0);
    sip(m, "SIP/2.0 200 OK", "rej", "ta", "tb", "1 INVITE",
        audio_sdp(sb, sizeof(sb), "10.0.0.2", 5000, ""), 0);
    talk(m, "10.0.0.1", 4000, "10.0.0.2", 5000, now_sec + 1);
    /* the callee offers a new port; the caller refuses it */
    sip(m, "INVITE sip:a@x SIP/2.0", "rej", "tb", "ta", "2 INVITE",
        audio_sdp(sb, sizeof(sb), "10.0.0.2", 5002, ""), 2000000);
    sip(m, "SIP/2.0 100 Trying", "rej", "tb", "ta", "2 INVITE", NULL, 2000000);
    assert_int_equal(rtp(m, "10.0.0.1", 4000, "10.0.0.2", 5000, 0, 50, 0xa, now_sec + 2, 10000), 1);
    sip(m, "SIP/2.0 488 Not Acceptable Here", "rej", "tb", "ta", "2 INVITE", NULL, 2020000);
    sip(m, "ACK sip:a@x SIP/2.0", "rej", "tb", "ta", "2 ACK", NULL, 2021000);
    const media_stats_t *st = media_get_stats(m);
    assert_int_equal(st->offers_deferred, 1);
    assert_int_equal(st->offers_rejected, 1);
    assert_int_equal(st->streams_moved, 0);
    assert_int_equal(st->calls_rejected, 0); /* an established call goes on */
    /* the media stay where they were, long past the grace time */
    for (uint16_t i = 0; i < 5; i++)
        assert_int_equal(
            rtp(m, "10.0.0.1", 4000, "10.0.0.2", 5000, 0, 51 + i, 0xa, now_sec + 3 + i, 0), 1);
    assert_int_equal(k.finals, 0);
    assert_int_equal(st->flows_ended, 0);

    /* a glare: the UPDATE is refused with 491, then the caller's own
     * re-INVITE is accepted; the newest offer is the one that counts */
    sip(m, "UPDATE sip:a@x SIP/2.0", "rej", "tb", "ta", "3 UPDATE",
        audio_sdp(sb, sizeof(sb), "10.0.0.2", 5004, ""), 9000000);
    sip(m, "SIP/2.0 491 Request Pending", "rej", "tb", "ta", "3 UPDATE", NULL, 9000000);
    assert_int_equal(st->offers_rejected, 2);
    /* the callee's INVITE whose 200 OK the capture missed: its ACK applies it */
    sip(m, "INVITE sip:a@x SIP/2.0", "rej", "tb", "ta", "4 INVITE",
        audio_sdp(sb, sizeof(sb), "10.0.0.2", 5006, ""), 9500000);
    assert_int_equal(st->streams_moved, 0);
    sip(m, "ACK sip:a@x SIP/2.0", "rej", "tb", "ta", "4 ACK", NULL, 9600000);
    assert_int_equal(st->streams_moved, 1);
    assert_int_equal(rtp(m, "10.0.0.1", 4000, "10.0.0.2", 5006, 0, 57, 0xa, now_sec + 10, 0), 1);
    media_finish(m);
    /* 4000->5000 (56 packets), 5000->4000, 4000->5006 */
    assert_int_equal(k.finals, 3);
    media_free(m);
}

/* Re-offers held at once are bounded: beyond MEDIA_MAX_OFFERS (4096) they
 * apply when seen, as before the answer was awaited. */
static void test_reoffer_bound(void **state)
{
    (void)state;
    sink_t k = {0};
    media_t *m = make(&k, 10000);
    char sa[512], sb[512], id[32];
    const unsigned calls = 4100;
    for (unsigned i = 0; i < calls; i++) {
        snprintf(id, sizeof(id), "bound-%u", i);
        char a[16], b[16];
        snprintf(a, sizeof(a), "10.1.%u.%u", i / 250, i % 250 + 1);
        snprintf(b, sizeof(b), "10.2.%u.%u", i / 250, i % 250 + 1);
        sip(m, "INVITE sip:b@y SIP/2.0", id, "ta", NULL, "1 INVITE",
            audio_sdp(sa, sizeof(sa), a, 4000, ""), 0);
        sip(m, "SIP/2.0 200 OK", id, "ta", "tb", "1 INVITE", audio_sdp(sb, sizeof(sb), b, 5000, ""),
            0);
        sip(m, "INVITE sip:a@x SIP/2.0", id, "tb", "ta", "2 INVITE",
            audio_sdp(sb, sizeof(sb), b, 5002, ""), 1000);
    }
    const media_stats_t *st = media_get_stats(m);
    assert_int_equal(st->offers_deferred, 4096);
    assert_int_equal(st->streams_moved, calls - 4096);
    media_free(m); /* ASan: the held offers are freed with their calls */
}

static void test_endings(void **state)
{
    (void)state;
    sink_t k = {0};
    media_t *m = make(&k, 100);
    char sa[512];
    /* CANCEL */
    sip(m, "INVITE sip:b@y SIP/2.0", "c1", "t", NULL, "1 INVITE",
        audio_sdp(sa, sizeof(sa), "10.0.1.1", 4000, ""), 0);
    sip(m, "CANCEL sip:b@y SIP/2.0", "c1", "t", NULL, "1 CANCEL", NULL, 0);
    /* a challenge does not end the call, a rejection does */
    sip(m, "INVITE sip:b@y SIP/2.0", "c2", "t", NULL, "1 INVITE",
        audio_sdp(sa, sizeof(sa), "10.0.1.2", 4000, ""), 0);
    sip(m, "SIP/2.0 407 Proxy Authentication Required", "c2", "t", "x", "1 INVITE", NULL, 0);
    sip(m, "SIP/2.0 486 Busy Here", "c2", "t", "x", "2 INVITE", NULL, 0);
    /* a rejected call that tries again is taken back */
    sip(m, "INVITE sip:b@y SIP/2.0", "c3", "t", NULL, "1 INVITE",
        audio_sdp(sa, sizeof(sa), "10.0.1.3", 4000, ""), 0);
    sip(m, "SIP/2.0 302 Moved", "c3", "t", "x", "1 INVITE", NULL, 0);
    sip(m, "INVITE sip:c@z SIP/2.0", "c3", "t", NULL, "2 INVITE",
        audio_sdp(sa, sizeof(sa), "10.0.1.3", 4000, ""), 0);
    /* an established call is not ended by an error to a re-INVITE */
    sip(m, "INVITE sip:b@y SIP/2.0", "c4", "t", NULL, "1 INVITE",
        audio_sdp(sa, sizeof(sa), "10.0.1.4", 4000, ""), 0);
    sip(m, "SIP/2.0 200 OK", "c4", "t", "x", "1 INVITE", NULL, 0);
    sip(m, "SIP/2.0 491 Request Pending", "c4", "t", "x", "2 INVITE", NULL, 0);
    assert_int_equal(media_calls(m), 4);
    /* the grace time: at its edge nothing has ended, just after it they have */
    media_tick(m, now_sec + 1, 900000);
    assert_int_equal(media_calls(m), 4);
    media_tick(m, now_sec + 2, 0);
    assert_int_equal(media_calls(m), 2);
    assert_int_equal(media_get_stats(m)->calls_cancel, 1);
    assert_int_equal(media_get_stats(m)->calls_rejected, 1);
    /* idle: c3 and c4 hear nothing for 10 s */
    assert_int_equal(rtp(m, "10.0.9.9", 9, "10.0.1.4", 4000, 0, 1, 1, now_sec + 5, 0), 1);
    media_tick(m, now_sec + 10, 100000);
    assert_int_equal(media_calls(m), 1); /* c3 expired at 10 s, c4 was heard at 5 s */
    media_tick(m, now_sec + 15, 0);
    assert_int_equal(media_calls(m), 1);
    media_tick(m, now_sec + 15, 200000);
    assert_int_equal(media_calls(m), 0);
    assert_int_equal(media_get_stats(m)->calls_expired, 2);
    assert_int_equal(k.finals, 1); /* c4's one stream */
    assert_int_equal(k.last.reason, QOS_REASON_CALL_END);
    media_free(m);
}

static void test_rtcp_mux_ipv6_and_attribute(void **state)
{
    (void)state;
    sink_t k = {0};
    media_t *m = make(&k, 100);
    char sa[512], sb[512];
    sip(m, "INVITE sip:b@y SIP/2.0", "v6", "ta", NULL, "1 INVITE",
        audio_sdp(sa, sizeof(sa), "2001:db8::1", 4000, "a=rtcp-mux\r\n"), 0);
    sip(m, "SIP/2.0 183 Session Progress", "v6", "ta", "tb", "1 INVITE",
        audio_sdp(sb, sizeof(sb), "2001:db8::2", 5000, "a=rtcp:7000 IN IP6 2001:db8::3\r\n"), 0);
    assert_int_equal(rtcp_rr(m, "2001:db8::2", 5000, "2001:db8::1", 4000, 3, now_sec), 1);
    assert_int_equal(rtcp_rr(m, "2001:db8::9", 5000, "2001:db8::3", 7000, 4, now_sec), 1);
    assert_int_equal(k.rtcp, 2);
    assert_string_equal(k.rtcp_call_id, "v6");
    assert_int_equal(k.rtcp_info.ssrc, 4);
    /* the answer's port + 1 is not RTCP's port: not tracked */
    assert_int_equal(rtcp_rr(m, "2001:db8::9", 1, "2001:db8::2", 5001, 5, now_sec), 0);
    assert_int_equal(rtp(m, "2001:db8::1", 4000, "2001:db8::2", 5000, 0, 1, 1, now_sec, 0), 1);
    /* neither RTP nor RTCP on a tracked port: left to the SIP path */
    uint8_t stun[20] = {0x00, 0x01};
    packet_t p = udp("2001:db8::1", 4000, "2001:db8::2", 5000, stun, sizeof(stun), now_sec, 0);
    assert_int_equal(media_packet(m, &p), 0);
    assert_int_equal(media_get_stats(m)->not_rtp, 1);
    media_free(m);
}

static void test_srtp_and_forks(void **state)
{
    (void)state;
    sink_t k = {0};
    media_t *m = make(&k, 100);
    char sa[512], sb[512];
    snprintf(sa, sizeof(sa),
             "v=0\r\nc=IN IP4 10.0.2.1\r\nm=audio 4000 RTP/SAVP 0\r\n"
             "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n");
    sip(m, "INVITE sip:b@y SIP/2.0", "fork", "ta", NULL, "1 INVITE", sa, 0);
    assert_int_equal(rtcp_rr(m, "10.0.2.9", 1, "10.0.2.1", 4001, 1, now_sec), 1);
    assert_int_equal(k.rtcp, 0);
    assert_int_equal(media_get_stats(m)->rtcp_encrypted, 1);
    /* four answering forks: three fit beside the caller */
    for (int i = 0; i < 4; i++) {
        char tag[8], ip[32];
        snprintf(tag, sizeof(tag), "f%d", i);
        snprintf(ip, sizeof(ip), "10.0.2.%d", 10 + i);
        sip(m, "SIP/2.0 183 Session Progress", "fork", "ta", tag, "1 INVITE",
            audio_sdp(sb, sizeof(sb), ip, 5000, ""), 0);
    }
    assert_int_equal(media_streams(m), 4);
    assert_int_equal(media_get_stats(m)->parties_refused, 1);
    assert_int_equal(rtp(m, "10.0.2.1", 4000, "10.0.2.12", 5000, 0, 1, 1, now_sec, 0), 1);
    assert_int_equal(rtp(m, "10.0.2.1", 4000, "10.0.2.13", 5000, 0, 1, 1, now_sec, 0), 1);
    media_free(m);
}

static void test_shared_endpoint_and_bound(void **state)
{
    (void)state;
    sink_t k = {0};
    media_t *m = make(&k, 3);
    char sa[512];
    char sb[512];
    sip(m, "INVITE sip:b@y SIP/2.0", "old", "t", NULL, "1 INVITE",
        audio_sdp(sa, sizeof(sa), "10.0.3.1", 4000, ""), 0);
    sip(m, "SIP/2.0 200 OK", "old", "t", "u", "1 INVITE",
        audio_sdp(sb, sizeof(sb), "10.0.3.2", 6000, ""), 0);
    /* a new call announces the same endpoint (a server reusing its port):
     * both keep it, the other end of a packet tells them apart */
    sip(m, "INVITE sip:b@y SIP/2.0", "new", "t", NULL, "1 INVITE",
        audio_sdp(sa, sizeof(sa), "10.0.3.1", 4000, ""), 0);
    assert_int_equal(media_get_stats(m)->endpoints_shared, 2); /* RTP and RTCP */
    assert_int_equal(rtcp_rr(m, "10.0.3.2", 6001, "10.0.3.1", 4001, 1, now_sec), 1);
    assert_string_equal(k.rtcp_call_id, "old");
    assert_int_equal(rtcp_rr(m, "10.0.3.1", 4001, "10.0.3.2", 6001, 1, now_sec), 1);
    assert_string_equal(k.rtcp_call_id, "old");
    /* an unknown other end: the later announcement */
    assert_int_equal(rtcp_rr(m, "10.0.3.9", 1, "10.0.3.1", 4001, 1, now_sec), 1);
    assert_string_equal(k.rtcp_call_id, "new");
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof(id), "b%d", i);
        sip(m, "INVITE sip:b@y SIP/2.0", id, "t", NULL, "1 INVITE",
            audio_sdp(sa, sizeof(sa), "10.0.4.1", 4000 + 2 * (unsigned)i, ""), 0);
    }
    assert_int_equal(media_streams(m), 3);
    assert_int_equal(media_get_stats(m)->streams_refused, 5);
    assert_int_equal(media_calls(m), 2); /* a call whose streams were all refused is not kept */
    media_free(m);
}

/* 100 000 calls each announcing a stream that never sends: the table holds
 * max_streams of them, refuses the rest (counted), and gives the memory
 * back when they time out. */
static void test_memory_bound(void **state)
{
    (void)state;
    sink_t k = {0};
    media_t *m = make(&k, 20000);
    size_t empty = media_memory(m);
    char sa[512];
    size_t peak = 0;
    for (unsigned i = 0; i < 100000; i++) {
        char id[32], ip[32];
        snprintf(id, sizeof(id), "never-%u@host", i);
        snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
        sip(m, "INVITE sip:b@y SIP/2.0", id, "t", NULL, "1 INVITE",
            audio_sdp(sa, sizeof(sa), ip, 4000, ""), i % 1000000);
        size_t now = media_memory(m);
        if (now > peak) peak = now;
    }
    assert_int_equal(media_streams(m), 20000);
    assert_int_equal(media_get_stats(m)->streams_refused, 80000);
    printf("media memory: %zu bytes empty, %zu with 20000 streams (%zu per stream)\n", empty, peak,
           (peak - empty) / 20000);
    /* bounded: a few hundred bytes per stream, nothing per refused one */
    assert_true(peak < empty + 20000 * 1024);
    media_tick(m, now_sec + 11, 0);
    assert_int_equal(media_streams(m), 0);
    assert_int_equal(media_calls(m), 0);
    assert_int_equal(media_get_stats(m)->calls_expired, 20000);
    /* the hash tables keep their size; everything else is given back */
    assert_true(media_memory(m) < empty + 20000 * 64);
    media_free(m);
}

static void test_rtcp_off_qos_off(void **state)
{
    (void)state;
    sink_t k = {0};
    media_options_t o;
    media_options_default(&o);
    assert_int_equal(o.max_streams, MEDIA_DEFAULT_MAX_STREAMS);
    assert_false(o.rtcp || o.qos);
    o.rtcp = 1;
    media_sink_t s = {on_rtcp, on_qos, &k};
    media_t *m = media_new(&o, &s);
    char sa[512];
    sip(m, "INVITE sip:b@y SIP/2.0", "q", "t", NULL, "1 INVITE",
        audio_sdp(sa, sizeof(sa), "10.0.5.1", 4000, ""), 0);
    assert_int_equal(rtp(m, "10.0.5.2", 1, "10.0.5.1", 4000, 0, 1, 1, now_sec, 0), 1);
    media_finish(m);
    assert_int_equal(k.reports, 0);
    assert_int_equal(media_get_stats(m)->rtp_packets, 1);
    media_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_bye),
        cmocka_unit_test(test_nat_and_codec_from_rtpmap),
        cmocka_unit_test(test_reinvite_moves_port_and_hold),
        cmocka_unit_test(test_reoffer_rejected),
        cmocka_unit_test(test_reoffer_bound),
        cmocka_unit_test(test_endings),
        cmocka_unit_test(test_rtcp_mux_ipv6_and_attribute),
        cmocka_unit_test(test_srtp_and_forks),
        cmocka_unit_test(test_shared_endpoint_and_bound),
        cmocka_unit_test(test_memory_bound),
        cmocka_unit_test(test_rtcp_off_qos_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

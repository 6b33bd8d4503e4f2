/* The reassemblers on their own: IP fragments (orders, overlaps, limits,
 * timeouts), TCP streams (order, retransmission, overlap, resync, framing,
 * WebSocket, TLS, limits, first-byte time) and SCTP (duplicates,
 * fragments). Packets are built as decoded views; no frame bytes needed. */
#include "test_util.h"

#include "hepagent/common.h"
#include "hepagent/ipfrag.h"
#include "hepagent/rules.h"
#include "hepagent/sctp.h"
#include "hepagent/tcpstream.h"

/* ---- collected output ---- */

typedef struct {
    char data[8][70000];
    size_t len[8];
    unsigned transport[8];
    uint64_t sec[8];
    uint32_t usec[8];
    int count;
} got_t;

static got_t got;

static void collect(const uint8_t *data, size_t len, unsigned transport, uint64_t sec,
                    uint32_t usec)
{
    assert_true(got.count < 8);
    assert_true(len < sizeof(got.data[0]));
    memcpy(got.data[got.count], data, len);
    got.data[got.count][len] = '\0';
    got.len[got.count] = len;
    got.transport[got.count] = transport;
    got.sec[got.count] = sec;
    got.usec[got.count] = usec;
    got.count++;
}

static void tcp_emit(void *ctx, const packet_t *pkt, unsigned transport, const uint8_t *data,
                     size_t len, const sip_msg_t *sip, uint64_t sec, uint32_t usec)
{
    (void)ctx;
    (void)pkt;
    assert_true(sip->header_len > 0 || transport == RULE_TRANSPORT_WS);
    collect(data, len, transport, sec, usec);
}

static void sctp_emit(void *ctx, const packet_t *pkt, const uint8_t *data, size_t len, uint64_t sec,
                      uint32_t usec)
{
    (void)ctx;
    (void)pkt;
    collect(data, len, RULE_TRANSPORT_SCTP, sec, usec);
}

static packet_t flow(uint8_t a, uint16_t sport, uint16_t dport, uint64_t sec)
{
    packet_t p;
    memset(&p, 0, sizeof(p));
    p.ip_version = 4;
    p.src_addr[0] = 10;
    p.src_addr[3] = a;
    p.dst_addr[0] = 10;
    p.dst_addr[3] = 200;
    p.src_port = sport;
    p.dst_port = dport;
    p.l4_proto = 6;
    p.ts_sec = sec;
    return p;
}

static const char MSG1[] = "INVITE sip:b@x SIP/2.0\r\nCall-ID: one\r\nCSeq: 1 INVITE\r\n"
                           "Content-Length: 10\r\n\r\n0123456789";
static const char MSG2[] = "SIP/2.0 200 OK\r\nCall-ID: two\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n";
static const char MSG3[] = "BYE sip:b@x SIP/2.0\r\ni: three\r\nCSeq: 2 BYE\r\n\r\n";

static tcpstream_options_t tcp_opts(void)
{
    return (tcpstream_options_t){
        .max_streams = 64, .max_stream_bytes = 65536, .memcap = 1 << 20, .timeout_ms = 60000};
}

/* Sends data[off..off+len) of a stream whose first byte has sequence isn+1. */
static void seg(tcpstream_t *t, packet_t base, uint32_t isn, const char *data, size_t off,
                size_t len, uint8_t flags, uint32_t usec)
{
    base.tcp_seq = isn + 1 + (uint32_t)off;
    base.tcp_flags = flags | TCP_FLAG_ACK;
    base.payload = (const uint8_t *)data + off;
    base.payload_len = (uint32_t)len;
    base.ts_usec = usec;
    tcpstream_segment(t, &base);
}

static void syn(tcpstream_t *t, packet_t base, uint32_t isn)
{
    base.tcp_seq = isn;
    base.tcp_flags = TCP_FLAG_SYN;
    tcpstream_segment(t, &base);
}

static void test_tcp_in_order_many_messages_one_segment(void **state)
{
    (void)state;
    memset(&got, 0, sizeof(got));
    tcpstream_options_t o = tcp_opts();
    tcpstream_t *t = tcpstream_new(&o, tcp_emit, NULL);
    packet_t f = flow(1, 40000, 5060, 100);
    syn(t, f, 1000);
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%s\r\n\r\n%s%s\r\n", MSG1, MSG2, MSG3);
    seg(t, f, 1000, buf, 0, (size_t)n, TCP_FLAG_PSH, 5);
    assert_int_equal(got.count, 3);
    assert_string_equal(got.data[0], MSG1);
    assert_string_equal(got.data[1], MSG2);
    assert_string_equal(got.data[2], MSG3);
    assert_int_equal(tcpstream_frame_stats(t)->keepalives, 1);
    tcpstream_free(t);
}

static void test_tcp_split_every_byte_and_first_byte_time(void **state)
{
    (void)state;
    memset(&got, 0, sizeof(got));
    tcpstream_options_t o = tcp_opts();
    tcpstream_t *t = tcpstream_new(&o, tcp_emit, NULL);
    packet_t f = flow(1, 40000, 5060, 100);
    syn(t, f, 4294967000u); /* sequence numbers wrap inside the message */
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%s%s", MSG1, MSG2);
    for (int i = 0; i < n; i++)
        seg(t, f, 4294967000u, buf, (size_t)i, 1, 0, (uint32_t)i);
    assert_int_equal(got.count, 2);
    assert_string_equal(got.data[0], MSG1);
    assert_string_equal(got.data[1], MSG2);
    assert_int_equal(got.usec[0], 0);
    assert_int_equal(got.usec[1], strlen(MSG1)); /* the time of its first byte */
    tcpstream_free(t);
}

static void test_tcp_out_of_order_retransmit_overlap(void **state)
{
    (void)state;
    memset(&got, 0, sizeof(got));
    tcpstream_options_t o = tcp_opts();
    tcpstream_t *t = tcpstream_new(&o, tcp_emit, NULL);
    packet_t f = flow(2, 40001, 5060, 100);
    syn(t, f, 0);
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%s%s%s", MSG1, MSG2, MSG3);
    /* pieces of 20 bytes sent backwards, then some again overlapping */
    for (int off = (n - 1) / 20 * 20; off >= 0; off -= 20)
        seg(t, f, 0, buf, (size_t)off, HA_MIN(20, (size_t)(n - off)), 0, (uint32_t)off);
    assert_int_equal(got.count, 3);
    assert_string_equal(got.data[0], MSG1);
    assert_string_equal(got.data[2], MSG3);
    assert_int_equal(got.usec[1], strlen(MSG1) / 20 * 20); /* segment holding its first byte */
    seg(t, f, 0, buf, 10, 30, 0, 0);                       /* all old */
    assert_true(tcpstream_stats(t)->out_of_order > 0);
    assert_int_equal(tcpstream_stats(t)->retransmissions, 1);
    /* an overlap carrying new bytes: only the new ones count */
    static const char more[] = "OPTIONS sip:x SIP/2.0\r\nCall-ID: four\r\nCSeq: 9 OPTIONS\r\n\r\n";
    char tail[512];
    int m = snprintf(tail, sizeof(tail), "%s%s", MSG3, more);
    f.tcp_seq = 1 + (uint32_t)(n - (int)strlen(MSG3));
    f.tcp_flags = TCP_FLAG_ACK;
    f.payload = (const uint8_t *)tail;
    f.payload_len = (uint32_t)m;
    tcpstream_segment(t, &f);
    assert_int_equal(got.count, 4);
    assert_string_equal(got.data[3], more);
    assert_int_equal(tcpstream_stats(t)->overlaps, 1);
    tcpstream_free(t);
}

/* A held (out-of-order) segment's bytes arrived before those of a later
 * in-order segment overlapping it: they are the ones delivered, with their
 * own capture time, and held segments overlapping each other keep the first
 * copy too. */
static void test_tcp_overlap_of_held_segment(void **state)
{
    (void)state;
    memset(&got, 0, sizeof(got));
    tcpstream_options_t o = tcp_opts();
    tcpstream_t *t = tcpstream_new(&o, tcp_emit, NULL);
    packet_t f = flow(4, 40003, 5060, 100);
    syn(t, f, 0);
    char buf[512], forged[512];
    size_t n1 = strlen(MSG1);
    int n = snprintf(buf, sizeof(buf), "%s%s%s", MSG1, MSG2, MSG3);
    memcpy(forged, buf, (size_t)n);
    memset(forged + n1 - 5, 'X', 40);    /* the end of MSG1 and the start of MSG2 */
    seg(t, f, 0, buf, 0, n1 - 20, 0, 1); /* in order */
    seg(t, f, 0, buf, n1 - 10, (size_t)n - (n1 - 10), 0, 2); /* held: MSG2's first byte */
    seg(t, f, 0, forged, n1 - 12, 30, 0, 3); /* held too: only its first 2 bytes are new */
    seg(t, f, 0, forged, n1 - 20, 4, 0, 4);  /* in order, a hole remains */
    assert_int_equal(got.count, 0);
    seg(t, f, 0, forged, n1 - 20, 30, 0, 5); /* fills it and overlaps both held */
    assert_int_equal(got.count, 3);
    assert_string_equal(got.data[0], MSG1);
    assert_int_equal(got.usec[0], 1);
    assert_string_equal(got.data[1], MSG2);
    assert_int_equal(got.usec[1], 2); /* its first byte came first in the held segment */
    assert_string_equal(got.data[2], MSG3);
    tcpstream_free(t);
}

static void test_tcp_overlap_keeps_first_data(void **state)
{
    (void)state;
    memset(&got, 0, sizeof(got));
    tcpstream_options_t o = tcp_opts();
    tcpstream_t *t = tcpstream_new(&o, tcp_emit, NULL);
    packet_t f = flow(3, 40002, 5060, 100);
    syn(t, f, 0);
    /* the held segment arrives first with the right bytes; a later copy of
     * the same range with other bytes must not replace them */
    seg(t, f, 0, MSG1, 30, strlen(MSG1) - 30, 0, 0);
    char forged[256];
    strcpy(forged, MSG1);
    memset(forged + 30, 'X', 10);
    f.tcp_seq = 1 + 30;
    f.payload = (const uint8_t *)forged + 30;
    f.payload_len = 10;
    tcpstream_segment(t, &f); /* same seq, shorter: a retransmission, ignored */
    seg(t, f, 0, MSG1, 0, 30, 0, 0);
    assert_int_equal(got.count, 1);
    assert_string_equal(got.data[0], MSG1);
    tcpstream_free(t);
}

static void test_tcp_midstream_resync(void **state)
{
    (void)state;
    memset(&got, 0, sizeof(got));
    tcpstream_options_t o = tcp_opts();
    tcpstream_t *t = tcpstream_new(&o, tcp_emit, NULL);
    packet_t f = flow(4, 40003, 5060, 100);
    char buf[1024];
    /* no SYN: the capture begins inside a body, and a body line that looks
     * like a header must not be taken for a message */
    int n = snprintf(buf, sizeof(buf), "ody\r\nCSeq: 1 X\r\n\r\n%s%s", MSG2, MSG3);
    f.tcp_seq = 5000;
    f.tcp_flags = TCP_FLAG_ACK;
    f.payload = (const uint8_t *)buf;
    f.payload_len = (uint32_t)n;
    tcpstream_segment(t, &f);
    assert_int_equal(got.count, 2);
    assert_string_equal(got.data[0], MSG2);
    assert_string_equal(got.data[1], MSG3);
    assert_true(tcpstream_frame_stats(t)->skipped_bytes > 0);
    tcpstream_free(t);
}

static void test_tcp_bad_content_length_and_too_big(void **state)
{
    (void)state;
    memset(&got, 0, sizeof(got));
    tcpstream_options_t o = tcp_opts();
    o.max_stream_bytes = 4096;
    tcpstream_t *t = tcpstream_new(&o, tcp_emit, NULL);
    packet_t f = flow(5, 40004, 5060, 100);
    syn(t, f, 0);
    static char buf[20000];
    int n = snprintf(buf, sizeof(buf),
                     "MESSAGE sip:a@b SIP/2.0\r\nCall-ID: big\r\nCSeq: 1 MESSAGE\r\n"
                     "Content-Length: 9000\r\n\r\n");
    memset(buf + n, 'a', 9000);
    n += 9000;
    n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s", MSG2);
    for (int off = 0; off < n; off += 1000)
        seg(t, f, 0, buf, (size_t)off, HA_MIN(1000, (size_t)(n - off)), 0, 0);
    /* the 9 KB message is over the 4 KB limit: skipped exactly, then framing
     * carries on with the next message */
    assert_int_equal(got.count, 1);
    assert_string_equal(got.data[0], MSG2);
    assert_int_equal(tcpstream_frame_stats(t)->message_too_big, 1);

    packet_t g = flow(6, 40005, 5060, 100);
    syn(t, g, 0);
    char bad[256];
    int m = snprintf(bad, sizeof(bad),
                     "BYE sip:a@b SIP/2.0\r\nCall-ID: c\r\nCSeq: 1 BYE\r\n"
                     "Content-Length: abc\r\n\r\n%s",
                     MSG3);
    seg(t, g, 0, bad, 0, (size_t)m, 0, 0);
    assert_int_equal(got.count, 2);
    assert_string_equal(got.data[1], MSG3);
    assert_int_equal(tcpstream_frame_stats(t)->bad_content_length, 1);
    tcpstream_free(t);
}

static void test_tcp_tls_and_other_protocols_ignored(void **state)
{
    (void)state;
    memset(&got, 0, sizeof(got));
    tcpstream_options_t o = tcp_opts();
    tcpstream_t *t = tcpstream_new(&o, tcp_emit, NULL);
    packet_t f = flow(7, 40006, 5061, 100);
    syn(t, f, 0);
    static const char hello[] = "\x16\x03\x01\x00\x30INVITE sip:x SIP/2.0\r\n";
    seg(t, f, 0, hello, 0, sizeof(hello) - 1, 0, 0);
    char later[256];
    int n = snprintf(later, sizeof(later), "%s", MSG3);
    seg(t, f, 0, later, sizeof(hello) - 1, (size_t)n, 0, 0);
    packet_t h = flow(8, 40007, 80, 100);
    syn(t, h, 0);
    static const char http[] = "POST / HTTP/1.1\r\nHost: x\r\n\r\n";
    seg(t, h, 0, http, 0, sizeof(http) - 1, 0, 0);
    assert_int_equal(got.count, 0);
    assert_int_equal(tcpstream_frame_stats(t)->tls_streams, 1);
    assert_int_equal(tcpstream_frame_stats(t)->not_sip_streams, 1);
    tcpstream_free(t);
}

/* A masked WebSocket frame */
static size_t ws_frame(uint8_t *out, int fin, int opcode, const char *payload, size_t n, int mask)
{
    size_t h = 0;
    out[h++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (n < 126) {
        out[h++] = (uint8_t)((mask ? 0x80 : 0) | n);
    } else {
        out[h++] = (uint8_t)((mask ? 0x80 : 0) | 126);
        put_be16(out + h, (uint16_t)n);
        h += 2;
    }
    static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    if (mask) {
        memcpy(out + h, key, 4);
        h += 4;
    }
    for (size_t i = 0; i < n; i++)
        out[h + i] = (uint8_t)payload[i] ^ (mask ? key[i & 3] : 0);
    return h + n;
}

static void test_websocket(void **state)
{
    (void)state;
    memset(&got, 0, sizeof(got));
    tcpstream_options_t o = tcp_opts();
    tcpstream_t *t = tcpstream_new(&o, tcp_emit, NULL);
    packet_t c = flow(9, 40008, 8080, 100);
    syn(t, c, 0);
    static uint8_t buf[4096];
    size_t n = (size_t)snprintf((char *)buf, sizeof(buf),
                                "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Protocol: sip\r\n\r\n");
    /* MSG1 in three fragments with a ping in between, then MSG2 whole */
    n += ws_frame(buf + n, 0, 1, MSG1, 20, 1);
    n += ws_frame(buf + n, 0, 0, MSG1 + 20, 30, 1);
    n += ws_frame(buf + n, 1, 9, "ping", 4, 1);
    n += ws_frame(buf + n, 1, 0, MSG1 + 50, strlen(MSG1) - 50, 1);
    n += ws_frame(buf + n, 1, 1, MSG2, strlen(MSG2), 1);
    /* delivered in 7-byte segments: frames cut anywhere */
    for (size_t off = 0; off < n; off += 7)
        seg(t, c, 0, (const char *)buf, off, HA_MIN((size_t)7, n - off), 0, (uint32_t)off);
    assert_int_equal(got.count, 2);
    assert_string_equal(got.data[0], MSG1);
    assert_int_equal(got.transport[0], RULE_TRANSPORT_WS);
    assert_string_equal(got.data[1], MSG2);
    assert_int_equal(tcpstream_frame_stats(t)->ws_streams, 1);

    /* the server side: unmasked frames after "101" */
    packet_t s = flow(200, 8080, 40008, 100);
    s.src_addr[3] = 200;
    s.dst_addr[3] = 9;
    syn(t, s, 77);
    n = (size_t)snprintf((char *)buf, sizeof(buf),
                         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\n\r\n");
    n += ws_frame(buf + n, 1, 1, MSG3, strlen(MSG3), 0);
    seg(t, s, 77, (const char *)buf, 0, n, 0, 0);
    assert_int_equal(got.count, 3);
    assert_string_equal(got.data[2], MSG3);
    tcpstream_free(t);
}

/* Bytes the capture lost: the receiver's ACK covers them, so the stream goes
 * on after the hole at once; before that ACK, it waits (they may be only out
 * of order). */
static void test_tcp_hole_acked_by_peer(void **state)
{
    (void)state;
    memset(&got, 0, sizeof(got));
    tcpstream_options_t o = tcp_opts();
    tcpstream_t *t = tcpstream_new(&o, tcp_emit, NULL);
    packet_t c = flow(11, 40010, 5060, 100), s = flow(200, 5060, 40010, 100);
    s.dst_addr[3] = 11;
    syn(t, c, 0);
    syn(t, s, 900);
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%s%s%s", MSG1, MSG2, MSG3);
    size_t n1 = strlen(MSG1);
    seg(t, c, 0, buf, 0, n1 + 10, 0, 1);
    seg(t, c, 0, buf, n1 + 30, (size_t)n - (n1 + 30), 0, 2); /* [n1+10, n1+30) lost */
    assert_int_equal(got.count, 1);
    packet_t ack = s;
    ack.tcp_seq = 901;
    ack.tcp_flags = TCP_FLAG_ACK;
    ack.tcp_ack = 1 + (uint32_t)n1 + 10; /* only what was seen: keep waiting */
    tcpstream_segment(t, &ack);
    assert_int_equal(got.count, 1);
    ack.tcp_ack = 1 + (uint32_t)n; /* the receiver has it all */
    tcpstream_segment(t, &ack);
    assert_int_equal(got.count, 2); /* MSG2 is lost, MSG3 goes */
    assert_string_equal(got.data[1], MSG3);
    assert_int_equal(got.usec[1], 2);
    assert_int_equal(tcpstream_stats(t)->gaps, 1);
    tcpstream_free(t);
}

/* WebSocket without its upgrade: a stream seen from the middle, and one that
 * lost bytes, find the framing again at a segment that starts a frame
 * carrying SIP. */
static void test_websocket_without_upgrade(void **state)
{
    (void)state;
    memset(&got, 0, sizeof(got));
    tcpstream_options_t o = tcp_opts();
    tcpstream_t *t = tcpstream_new(&o, tcp_emit, NULL);
    static uint8_t buf[4096];
    /* from the middle: a cut frame, then whole ones (masked) */
    packet_t c = flow(10, 40009, 8080, 100);
    size_t cut = ws_frame(buf, 1, 1, MSG1, strlen(MSG1), 1);
    size_t n = cut + ws_frame(buf + cut, 1, 1, MSG2, strlen(MSG2), 1);
    seg(t, c, 5000, (const char *)buf, 9, cut - 9, 0, 1);
    seg(t, c, 5000, (const char *)buf, cut, n - cut, 0, 2);
    assert_int_equal(got.count, 1);
    assert_string_equal(got.data[0], MSG2);
    assert_int_equal(got.transport[0], RULE_TRANSPORT_WS);
    assert_int_equal(tcpstream_frame_stats(t)->ws_resyncs, 1);
    /* after a hole too far ahead to wait for: the next frame (unmasked) */
    n = ws_frame(buf, 1, 1, MSG3, strlen(MSG3), 0);
    seg(t, c, 5000 + (uint32_t)o.max_stream_bytes * 2, (const char *)buf, 0, n, 0, 3);
    assert_int_equal(got.count, 2);
    assert_string_equal(got.data[1], MSG3);
    assert_int_equal(tcpstream_stats(t)->gaps, 1);
    assert_int_equal(tcpstream_frame_stats(t)->ws_resyncs, 2);
    tcpstream_free(t);
}

static void test_tcp_limits_bound_memory(void **state)
{
    (void)state;
    memset(&got, 0, sizeof(got));
    tcpstream_options_t o = tcp_opts();
    o.max_streams = 100;
    o.memcap = 256 * 1024;
    tcpstream_t *t = tcpstream_new(&o, tcp_emit, NULL);
    /* many streams each holding an unfinished message */
    for (uint32_t i = 0; i < 10000; i++) {
        packet_t f = flow((uint8_t)i, (uint16_t)(1024 + i), 5060, 100 + i / 100);
        f.dst_addr[2] = (uint8_t)(i >> 8);
        syn(t, f, i);
        seg(t, f, i, MSG1, 0, 40, 0, 0);
        assert_true(tcpstream_count(t) <= 100);
        assert_true(tcpstream_memory(t) <= o.memcap);
    }
    assert_true(tcpstream_stats(t)->streams_evicted >= 9900);
    tcpstream_free(t);
}

static void test_tcp_fin_then_retransmission(void **state)
{
    (void)state;
    memset(&got, 0, sizeof(got));
    tcpstream_options_t o = tcp_opts();
    tcpstream_t *t = tcpstream_new(&o, tcp_emit, NULL);
    packet_t f = flow(10, 40010, 5060, 100);
    syn(t, f, 0);
    seg(t, f, 0, MSG2, 0, strlen(MSG2), TCP_FLAG_FIN, 0);
    seg(t, f, 0, MSG2, 0, strlen(MSG2), TCP_FLAG_FIN, 0); /* retransmitted after close */
    assert_int_equal(got.count, 1);
    tcpstream_free(t);
}

/* ---- IP fragments ---- */

static packet_t frag(uint32_t id, uint32_t offset, const uint8_t *data, uint32_t len, int more,
                     int version, uint64_t sec)
{
    packet_t p;
    memset(&p, 0, sizeof(p));
    p.ip_version = (uint8_t)version;
    p.src_addr[0] = 1;
    p.dst_addr[0] = 2;
    p.frag_id = id;
    p.frag_offset = offset;
    p.frag_data = data;
    p.frag_len = len;
    p.frag_more = (uint8_t)more;
    p.frag_proto = 17;
    p.ts_sec = sec;
    p.ts_usec = offset;
    return p;
}

static void test_ipfrag_orders(void **state)
{
    (void)state;
    uint8_t data[3000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    ipfrag_options_t o = {16, 1 << 20, 30000};
    /* every order of four fragments */
    static const int orders[][4] = {{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 3, 1}};
    for (size_t k = 0; k < 4; k++) {
        ipfrag_t *f = ipfrag_new(&o);
        ha_bytes_t out = {0};
        uint64_t sec;
        uint32_t usec;
        int done = 0;
        for (int i = 0; i < 4; i++) {
            int part = orders[k][i];
            uint32_t off = (uint32_t)part * 800, len = part == 3 ? 600 : 800;
            packet_t p = frag(7, off, data + off, len, part != 3, 4, 10);
            int r = ipfrag_add(f, &p, &out, &sec, &usec);
            assert_int_equal(r, i == 3);
            done += r;
        }
        assert_int_equal(done, 1);
        assert_int_equal(out.len, sizeof(data));
        assert_memory_equal(out.ptr, data, sizeof(data));
        assert_int_equal(usec, 0); /* the time of the offset-0 fragment */
        assert_int_equal(ipfrag_count(f), 0);
        assert_int_equal(ipfrag_memory(f), 0);
        ipfrag_free(f);
    }
}

static void test_ipfrag_overlap_policies(void **state)
{
    (void)state;
    ipfrag_options_t o = {16, 1 << 20, 30000};
    uint8_t a[16], b[16];
    memset(a, 'A', sizeof(a));
    memset(b, 'B', sizeof(b));
    ipfrag_t *f = ipfrag_new(&o);
    ha_bytes_t out;
    uint64_t sec;
    uint32_t usec;
    /* IPv4: [0,16) A, then [8,24) B last: bytes 8..15 stay A */
    packet_t p1 = frag(1, 0, a, 16, 1, 4, 1), p2 = frag(1, 8, b, 16, 0, 4, 1);
    assert_int_equal(ipfrag_add(f, &p1, &out, &sec, &usec), 0);
    assert_int_equal(ipfrag_add(f, &p2, &out, &sec, &usec), 1);
    assert_int_equal(out.len, 24);
    assert_memory_equal(out.ptr, "AAAAAAAAAAAAAAAABBBBBBBB", 24);
    assert_int_equal(ipfrag_stats(f)->overlaps, 1);
    /* IPv6: an overlap drops the datagram (RFC 5722) */
    packet_t q1 = frag(2, 0, a, 16, 1, 6, 1), q2 = frag(2, 8, b, 16, 0, 6, 1);
    assert_int_equal(ipfrag_add(f, &q1, &out, &sec, &usec), 0);
    assert_int_equal(ipfrag_add(f, &q2, &out, &sec, &usec), 0);
    assert_int_equal(ipfrag_stats(f)->overlap_dropped, 1);
    assert_int_equal(ipfrag_count(f), 0);
    /* an exact copy is no overlap, in either version: ignored, datagram kept */
    for (int version = 4; version <= 6; version += 2) {
        packet_t r1 = frag(3, 0, a, 16, 1, version, 1), r2 = frag(3, 16, b, 16, 0, version, 1);
        assert_int_equal(ipfrag_add(f, &r1, &out, &sec, &usec), 0);
        assert_int_equal(ipfrag_add(f, &r1, &out, &sec, &usec), 0);
        assert_int_equal(ipfrag_add(f, &r2, &out, &sec, &usec), 1);
        assert_int_equal(out.len, 32);
        assert_memory_equal(out.ptr, "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB", 32);
    }
    assert_int_equal(ipfrag_stats(f)->duplicates, 2);
    assert_int_equal(ipfrag_stats(f)->overlaps, 1);
    assert_int_equal(ipfrag_stats(f)->overlap_dropped, 1);
    ipfrag_free(f);
}

static void test_ipfrag_bounds_and_timeout(void **state)
{
    (void)state;
    uint8_t data[1400] = {0};
    ipfrag_options_t o = {64, 64 * 1024, 1000};
    ipfrag_t *f = ipfrag_new(&o);
    ha_bytes_t out;
    uint64_t sec;
    uint32_t usec;
    /* a million first fragments that never complete */
    for (uint32_t i = 0; i < 1000000; i++) {
        packet_t p = frag(i, 0, data, sizeof(data), 1, 4, 1000 + i / 1000);
        ipfrag_add(f, &p, &out, &sec, &usec);
        assert_true(ipfrag_count(f) <= 64);
        assert_true(ipfrag_memory(f) <= 64 * 1024);
    }
    const ipfrag_stats_t *st = ipfrag_stats(f);
    assert_true(st->evicted + st->timeouts >= 1000000 - 64);
    /* what is left expires once the capture clock passes the timeout */
    packet_t late = frag(1, 0, data, 8, 1, 4, 5000);
    ipfrag_add(f, &late, &out, &sec, &usec);
    assert_int_equal(ipfrag_count(f), 1);
    assert_true(st->timeouts > 0);
    /* beyond 65535 bytes */
    packet_t big = frag(5, 65000, data, 1000, 0, 4, 3000);
    ipfrag_add(f, &big, &out, &sec, &usec);
    assert_int_equal(st->too_big, 1);
    ipfrag_free(f);
}

/* ---- SCTP ---- */

static size_t data_chunk(uint8_t *out, uint8_t flags, uint32_t tsn, const char *d, size_t n)
{
    out[0] = 0;
    out[1] = flags;
    put_be16(out + 2, (uint16_t)(16 + n));
    put_be32(out + 4, tsn);
    put_be16(out + 8, 1);
    put_be16(out + 10, 0);
    put_be32(out + 12, 0);
    memcpy(out + 16, d, n);
    size_t len = 16 + n;
    while (len % 4)
        out[len++] = 0;
    return len;
}

static void sctp_send(sctp_t *s, const uint8_t *chunks, size_t n)
{
    packet_t p = flow(1, 5060, 5060, 100);
    p.l4_proto = 132;
    p.payload = chunks;
    p.payload_len = (uint32_t)n;
    sctp_packet(s, &p);
}

static void test_sctp(void **state)
{
    (void)state;
    memset(&got, 0, sizeof(got));
    sctp_options_t o = {16, 65536, 1 << 20, 60000};
    sctp_t *s = sctp_new(&o, sctp_emit, NULL);
    uint8_t buf[4096];
    /* two whole messages in one packet */
    size_t n = data_chunk(buf, 3, 100, MSG1, strlen(MSG1));
    n += data_chunk(buf + n, 3, 101, MSG2, strlen(MSG2));
    sctp_send(s, buf, n);
    assert_int_equal(got.count, 2);
    assert_string_equal(got.data[1], MSG2);
    /* retransmission of TSN 101: not again */
    n = data_chunk(buf, 3, 101, MSG2, strlen(MSG2));
    sctp_send(s, buf, n);
    assert_int_equal(got.count, 2);
    assert_int_equal(sctp_stats(s)->duplicates, 1);
    /* MSG3 in three fragments, B / middle / E */
    size_t l = strlen(MSG3);
    n = data_chunk(buf, 2, 102, MSG3, 10);
    sctp_send(s, buf, n);
    n = data_chunk(buf, 0, 103, MSG3 + 10, 10);
    n += data_chunk(buf + n, 1, 104, MSG3 + 20, l - 20);
    sctp_send(s, buf, n);
    assert_int_equal(got.count, 3);
    assert_string_equal(got.data[2], MSG3);
    /* the middle fragment lost before the capture comes again after the last,
     * then the first fragment does: joined each time, with the first's time */
    size_t m = strlen(MSG1);
    for (int late = 0; late < 2; late++) {
        uint32_t tsn = 200 + 10 * (uint32_t)late;
        size_t k[3];
        k[0] = data_chunk(buf, 2, tsn, MSG1, 10);
        k[1] = data_chunk(buf + k[0], 0, tsn + 1, MSG1 + 10, 10);
        k[2] = data_chunk(buf + k[0] + k[1], 1, tsn + 2, MSG1 + 20, m - 20);
        static const int order[2][3] = {{0, 2, 1}, {1, 2, 0}};
        for (int i = 0; i < 3; i++) {
            int c = order[late][i];
            size_t at = c == 0 ? 0 : c == 1 ? k[0] : k[0] + k[1];
            packet_t p = flow(1, 5060, 5060, 100);
            p.l4_proto = 132;
            p.ts_usec = (uint32_t)(10 + c);
            p.payload = buf + at;
            p.payload_len = (uint32_t)k[c];
            sctp_packet(s, &p);
        }
        assert_int_equal(got.count, 4 + late);
        assert_string_equal(got.data[3 + late], MSG1);
        assert_int_equal(got.usec[3 + late], 10);
    }
    assert_int_equal(sctp_stats(s)->fragments_lost, 0);
    /* a chunk claiming more than the packet holds stops the walk */
    buf[2] = 0x7f;
    sctp_send(s, buf, n);
    assert_int_equal(sctp_stats(s)->bad_chunks, 1);
    sctp_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_in_order_many_messages_one_segment),
        cmocka_unit_test(test_tcp_split_every_byte_and_first_byte_time),
        cmocka_unit_test(test_tcp_out_of_order_retransmit_overlap),
        cmocka_unit_test(test_tcp_overlap_keeps_first_data),
        cmocka_unit_test(test_tcp_overlap_of_held_segment),
        cmocka_unit_test(test_tcp_midstream_resync),
        cmocka_unit_test(test_tcp_bad_content_length_and_too_big),
        cmocka_unit_test(test_tcp_tls_and_other_protocols_ignored),
        cmocka_unit_test(test_websocket),
        cmocka_unit_test(test_websocket_without_upgrade),
        cmocka_unit_test(test_tcp_hole_acked_by_peer),
        cmocka_unit_test(test_tcp_limits_bound_memory),
        cmocka_unit_test(test_tcp_fin_then_retransmission),
        cmocka_unit_test(test_ipfrag_orders),
        cmocka_unit_test(test_ipfrag_overlap_policies),
        cmocka_unit_test(test_ipfrag_bounds_and_timeout),
        cmocka_unit_test(test_sctp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

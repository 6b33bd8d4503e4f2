/* RTP header parsing, the RFC 3550 arithmetic (A.1 sequence validation, A.8
 * jitter by hand-computed vectors), Wireshark's loss counting, the E-model,
 * the static payload table, and the QoS table: bound, eviction, expiry
 * swept around the timeout, call and flow ends, interim reports, JSON. */
#include "test_util.h"

#include <json-c/json.h>
#include <math.h>

#include "hepagent/common.h"
#include "hepagent/qos.h"
#include "hepagent/rtp.h"
#include "hepagent/rtpstat.h"

/* cmocka 1.1 has no floating-point assertion */
#define assert_double_equal(a, b, eps)                                                             \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (eps))) fail_msg("%s = %.9f, want %.9f", #a, a_, b_);               \
    } while (0)

/* ---- rtp.c -------------------------------------------------------------- */

static size_t rtp_bytes(uint8_t *b, uint8_t first, uint8_t second, uint16_t seq, uint32_t ts,
                        uint32_t ssrc)
{
    b[0] = first;
    b[1] = second;
    put_be16(b + 2, seq);
    put_be32(b + 4, ts);
    put_be32(b + 8, ssrc);
    return 12;
}

static void test_rtp_parse_fields(void **state)
{
    (void)state;
    uint8_t b[64] = {0};
    /* V=2 P=1 X=1 CC=2, M=1 PT=8 */
    rtp_bytes(b, 0x80 | 0x20 | 0x10 | 2, 0x80 | 8, 0xBEEF, 0x01020304, 0xCAFEBABE);
    put_be32(b + 12, 1);
    put_be32(b + 16, 2);
    put_be16(b + 20, 0xBEDE);
    put_be16(b + 22, 1); /* one word of extension */
    put_be32(b + 24, 0x10AABBCC);
    memset(b + 28, 0x55, 10); /* payload */
    b[38] = 0;
    b[39] = 2; /* two bytes of padding */
    rtp_header_t h;
    assert_int_equal(rtp_parse(b, 40, 0, &h), RTP_ok);
    assert_int_equal(h.version, 2);
    assert_true(h.padding && h.extension && h.marker);
    assert_int_equal(h.csrc_count, 2);
    assert_int_equal(h.payload_type, 8);
    assert_int_equal(h.seq, 0xBEEF);
    assert_int_equal(h.timestamp, 0x01020304);
    assert_int_equal(h.ssrc, 0xCAFEBABE);
    assert_int_equal(h.extension_profile, 0xBEDE);
    assert_int_equal(h.extension_words, 1);
    assert_int_equal(h.header_len, 28);
    assert_int_equal(h.padding_len, 2);
    assert_int_equal(h.payload_len, 10);
    assert_ptr_equal(h.payload, b + 28);
    /* cut by the snaplen: the padding count is not there, not checked */
    assert_int_equal(rtp_parse(b, 30, 1, &h), RTP_ok);
    assert_int_equal(h.padding_len, 0);
    assert_int_equal(h.payload_len, 2);
}

static void test_rtp_parse_rejects(void **state)
{
    (void)state;
    uint8_t b[64] = {0};
    rtp_header_t h;
    rtp_bytes(b, 0x80, 0, 1, 2, 3);
    assert_int_equal(rtp_parse(b, 11, 0, &h), RTP_too_short);
    assert_int_equal(rtp_parse(b, 12, 0, &h), RTP_ok);
    b[0] = 0x40; /* version 1 */
    assert_int_equal(rtp_parse(b, 20, 0, &h), RTP_bad_version);
    b[0] = 0x80 | 3; /* three CSRCs need 24 bytes */
    assert_int_equal(rtp_parse(b, 23, 0, &h), RTP_csrc_truncated);
    assert_int_equal(rtp_parse(b, 24, 0, &h), RTP_ok);
    b[0] = 0x90; /* extension header needs 16, its 2 words 24 */
    assert_int_equal(rtp_parse(b, 15, 0, &h), RTP_extension_truncated);
    put_be16(b + 14, 2);
    assert_int_equal(rtp_parse(b, 23, 0, &h), RTP_extension_truncated);
    assert_int_equal(rtp_parse(b, 24, 0, &h), RTP_ok);
    b[0] = 0xA0; /* padding count 0, then larger than the payload */
    b[19] = 0;
    assert_int_equal(rtp_parse(b, 20, 0, &h), RTP_bad_padding);
    b[19] = 9;
    assert_int_equal(rtp_parse(b, 20, 0, &h), RTP_bad_padding);
    b[19] = 8; /* exactly the 8 bytes after the header */
    assert_int_equal(rtp_parse(b, 20, 0, &h), RTP_ok);
    assert_int_equal(h.payload_len, 0);
    assert_string_equal(rtp_result_name(RTP_bad_padding), "bad_padding");
}

static void test_rtp_is_rtcp(void **state)
{
    (void)state;
    uint8_t b[12] = {0x80, 200};
    rtp_header_t h;
    for (int type = 200; type <= 204; type++) { /* SR RR SDES BYE APP */
        b[1] = (uint8_t)type;
        assert_true(rtp_is_rtcp(b, 2));
        assert_int_equal(rtp_parse(b, 12, 0, &h), RTP_is_rtcp);
    }
    b[1] = 207; /* XR */
    assert_true(rtp_is_rtcp(b, 8));
    b[1] = 0x80 | 63; /* marker + PT 63: RTP (64..95 are RTCP's 192..223) */
    assert_false(rtp_is_rtcp(b, 8));
    b[1] = 0x80 | 96;
    assert_false(rtp_is_rtcp(b, 8));
    b[1] = 72; /* no marker: PT 72 as RTP */
    assert_false(rtp_is_rtcp(b, 8));
    b[0] = 0x40;
    b[1] = 200;
    assert_false(rtp_is_rtcp(b, 8)); /* version 1 */
    assert_false(rtp_is_rtcp(b, 1));
}

static void test_static_payload_types(void **state)
{
    (void)state;
    static const struct {
        uint8_t pt;
        const char *codec;
        uint32_t rate;
    } want[] = {{0, "PCMU", 8000},   {3, "GSM", 8000},    {4, "G723", 8000},  {8, "PCMA", 8000},
                {9, "G722", 8000},   {10, "L16", 44100},  {13, "CN", 8000},   {18, "G729", 8000},
                {26, "JPEG", 90000}, {31, "H261", 90000}, {34, "H263", 90000}};
    for (size_t i = 0; i < HA_ARRAY_LEN(want); i++) {
        const rtp_payload_type_t *t = rtp_static_payload_type(want[i].pt);
        assert_non_null(t);
        assert_string_equal(t->codec, want[i].codec);
        assert_int_equal(t->clock_rate, want[i].rate);
    }
    assert_int_equal(rtp_static_payload_type(34)->video, 1);
    assert_int_equal(rtp_static_payload_type(0)->video, 0);
    static const uint8_t none[] = {1, 2, 19, 20, 24, 27, 35, 72, 95, 96, 101, 127, 200};
    for (size_t i = 0; i < HA_ARRAY_LEN(none); i++)
        assert_null(rtp_static_payload_type(none[i]));
}

/* ---- RFC 3550 A.1 ------------------------------------------------------- */

static void test_a1_probation_and_wrap(void **state)
{
    (void)state;
    rtp_seq_t s;
    rtp_seq_start(&s, 65533);
    /* the first packet only starts probation; the second validates */
    assert_int_equal(rtp_seq_update(&s, 65533), 0);
    assert_int_equal(rtp_seq_update(&s, 65534), 1);
    assert_int_equal(s.base_seq, 65534);
    assert_int_equal(rtp_seq_update(&s, 65535), 1);
    assert_int_equal(rtp_seq_update(&s, 0), 1); /* wrap */
    assert_int_equal(s.cycles, 65536);
    assert_int_equal(rtp_seq_update(&s, 3), 1); /* 1 and 2 lost */
    assert_int_equal(rtp_seq_expected(&s), 65536 + 3 - 65534 + 1);
    assert_int_equal(rtp_seq_lost(&s), 2);
    /* a late packet counts as received and removes a loss */
    assert_int_equal(rtp_seq_update(&s, 1), 1);
    assert_int_equal(rtp_seq_lost(&s), 1);
    /* a probation broken by a jump starts over */
    rtp_seq_start(&s, 100);
    assert_int_equal(rtp_seq_update(&s, 100), 0);
    assert_int_equal(rtp_seq_update(&s, 500), 0);
    assert_int_equal(rtp_seq_update(&s, 501), 1);
    assert_int_equal(s.base_seq, 501);
}

static void test_a1_restart(void **state)
{
    (void)state;
    rtp_seq_t s;
    rtp_seq_start(&s, 1000);
    for (uint16_t q = 1000; q < 1050; q++)
        rtp_seq_update(&s, q);
    assert_int_equal(rtp_seq_lost(&s), 0);
    /* a jump beyond MAX_DROPOUT: dropped until the next one is sequential */
    assert_int_equal(rtp_seq_update(&s, 30000), 0);
    assert_int_equal(s.restarts, 0);
    assert_int_equal(rtp_seq_update(&s, 30001), 1);
    assert_int_equal(s.restarts, 1);
    for (uint16_t q = 30002; q < 30050; q++)
        rtp_seq_update(&s, q);
    /* 49 of the first session, 49 counted of the second (30000 was not) */
    assert_int_equal(rtp_seq_expected(&s), 49 + 49);
    assert_int_equal(rtp_seq_lost(&s), 0);
    /* misordered within MAX_MISORDER: a late packet, not a restart */
    assert_int_equal(rtp_seq_update(&s, 30040), 1);
    assert_int_equal(s.restarts, 1);
}

/* ---- Wireshark's stream analysis (the numbers tshark prints) ------------ */

typedef struct {
    uint16_t seq;
    uint32_t ts;
    double t_ms;
    uint8_t pt;
    int marker;
} pkt_t;

static void feed(rtpstat_t *s, const pkt_t *p, size_t n, uint32_t clock)
{
    rtpstat_start(s, (uint64_t)(p[0].t_ms * 1000), p[0].seq, p[0].ts, p[0].pt);
    for (size_t i = 1; i < n; i++)
        rtpstat_add(s, (uint64_t)(p[i].t_ms * 1000), p[i].seq, p[i].ts, p[i].pt, p[i].marker,
                    clock);
}

/* A.8 by hand: J(i) = J(i-1) + (|D(i-1,i)| - J(i-1)) / 16, in ms. */
static void test_a8_jitter_by_hand(void **state)
{
    (void)state;
    const pkt_t p[] = {{1, 0, 0, 0, 0},
                       {2, 160, 20, 0, 0},
                       {3, 320, 45, 0, 0},
                       {4, 480, 60, 0, 0},
                       {5, 640, 80, 0, 0}};
    rtpstat_t s;
    feed(&s, p, 4, 8000);
    /* D: 0, 5, 5 -> J: 0, 5/16, (15*5/16 + 5)/16 */
    double j2 = 5.0 / 16, j3 = (15 * j2 + 5) / 16;
    assert_double_equal(s.jitter_ms, j3, 1e-9);
    assert_double_equal(s.jitter_max_ms, j3, 1e-9);
    /* Wireshark's mean: packet i (1-based) weighs the mean by i-1 */
    double mean = ((0.0 * 1 + j2) / 2 * 2 + j3) / 3;
    assert_double_equal(s.jitter_mean_ms, mean, 1e-9);
    assert_double_equal(s.delta_max_ms, 25, 1e-9);
    rtpstat_add(&s, 80000, 5, 640, 0, 0, 8000);
    assert_double_equal(s.jitter_ms, (15 * j3 + 0) / 16, 1e-9);
    /* a 48 kHz clock: 960 ticks are 20 ms */
    const pkt_t o[] = {{7, 0, 0, 111, 0}, {8, 960, 30, 111, 0}};
    feed(&s, o, 2, 48000);
    assert_double_equal(s.jitter_ms, 10.0 / 16, 1e-9);
    /* no clock (telephone-event): no jitter, the delta still counts */
    feed(&s, o, 2, 0);
    assert_double_equal(s.jitter_ms, 0, 0);
    assert_double_equal(s.delta_max_ms, 30, 1e-9);
}

/* What `tshark -z rtp,streams` 4.0 prints for these (checked by hand with
 * tshark on captures of the same packets). */
static void test_wireshark_loss(void **state)
{
    (void)state;
    rtpstat_t s;
    /* a reordered last packet: expected runs to the last number, lost -1 */
    const pkt_t reorder[] = {{1, 160, 0, 0, 0},  {2, 320, 20, 0, 0},  {3, 480, 40, 0, 0},
                             {4, 640, 60, 0, 0}, {6, 960, 100, 0, 0}, {5, 800, 101, 0, 0}};
    feed(&s, reorder, 6, 8000);
    assert_int_equal(rtpstat_expected(&s), 5);
    assert_int_equal(rtpstat_lost(&s), -1);
    assert_int_equal(s.seq_errors, 2);
    assert_int_equal(s.out_of_order, 1);
    assert_int_equal(s.duplicates, 0);
    assert_double_equal(s.delta_max_ms, 40, 1e-9);
    /* A.1 validates the source on its second packet: 2..6 expected */
    assert_int_equal(rtp_seq_expected(&s.rfc), 5);
    assert_int_equal(rtp_seq_lost(&s.rfc), 0);
    /* a duplicate: lost -1, the duplicate seen as one */
    const pkt_t dup[] = {
        {1, 160, 0, 0, 0}, {2, 320, 20, 0, 0}, {2, 320, 40, 0, 0}, {3, 480, 60, 0, 0}};
    feed(&s, dup, 4, 8000);
    assert_int_equal(rtpstat_lost(&s), -1);
    assert_int_equal(s.duplicates, 1);
    /* a wrap with a loss just after it */
    const pkt_t wrap[] = {
        {65534, 0, 0, 0, 0}, {65535, 160, 20, 0, 0}, {1, 480, 60, 0, 0}, {2, 640, 80, 0, 0}};
    feed(&s, wrap, 4, 8000);
    assert_int_equal(s.seq_cycles, 1);
    assert_int_equal(rtpstat_expected(&s), 5);
    assert_int_equal(rtpstat_lost(&s), 1);
    /* a restart with the same SSRC: Wireshark counts the jump as lost,
     * RFC 3550 A.1 resynchronises */
    pkt_t jump[8];
    for (int i = 0; i < 8; i++)
        jump[i] =
            (pkt_t){(uint16_t)(i < 4 ? 100 + i : 20100 + i), (uint32_t)(160 * i), 20.0 * i, 0, 0};
    feed(&s, jump, 8, 8000);
    assert_int_equal(rtpstat_lost(&s), 20000);
    assert_int_equal(rtp_seq_lost(&s.rfc), 0);
    assert_int_equal(s.rfc.restarts, 1);
}

/* Marker, comfort noise and the packet after it are left out of max delta
 * and jitter; a timestamp behind the first one is not in time. */
static void test_wireshark_irregular_packets(void **state)
{
    (void)state;
    rtpstat_t s;
    const pkt_t p[] = {{1, 1000, 0, 0, 0},    {2, 1160, 20, 0, 0},  {3, 1320, 140, 0, 1},
                       {4, 1480, 160, 13, 0}, {5, 1640, 300, 0, 0}, {6, 1800, 320, 0, 0}};
    feed(&s, p, 6, 8000);
    assert_double_equal(s.delta_max_ms, 20, 1e-9); /* 120 (marker), 140 (after CN) skipped */
    assert_true(s.jitter_ms > 0);
    const pkt_t back[] = {
        {1, 1000, 0, 0, 0}, {2, 1160, 20, 0, 0}, {3, 500, 500, 0, 0}, {4, 1320, 520, 0, 0}};
    feed(&s, back, 4, 8000);
    /* packet 3 is behind the first timestamp: no delta, no jitter from it;
     * packet 4's delta runs from packet 2 */
    assert_double_equal(s.delta_max_ms, 500, 1e-9);
}

/* ---- E-model -------------------------------------------------------------- */

static void test_emodel(void **state)
{
    (void)state;
    assert_double_equal(qos_r_factor("PCMU", 0, 0), 93.2, 1e-9);
    assert_double_equal(qos_mos(93.2), 1 + 0.035 * 93.2 + 93.2 * 33.2 * 6.8 * 7e-6, 1e-9);
    assert_double_equal(qos_mos(93.2), 4.409, 1e-3);
    assert_double_equal(qos_r_factor("G729", 0, 0), 82.2, 1e-9);
    assert_double_equal(qos_mos(82.2), 4.104, 1e-3);
    /* 5 % random loss on G.711 with PLC: Ie_eff = 95 * 5 / (5 + 25.1) */
    assert_double_equal(qos_r_factor("PCMA", 5, 0), 93.2 - 95.0 * 5 / 30.1, 1e-9);
    /* delay: Id = 0.024 d + 0.11 (d - 177.3) above 177.3 ms */
    assert_double_equal(qos_r_factor("PCMU", 0, 100), 93.2 - 2.4, 1e-9);
    assert_double_equal(qos_r_factor("PCMU", 0, 200), 93.2 - 4.8 - 0.11 * 22.7, 1e-9);
    assert_double_equal(qos_r_factor("opus", 0, 0), 93.2, 1e-9);
    assert_double_equal(qos_r_factor("unknown-codec", 0, 0), 93.2, 1e-9);
    assert_double_equal(qos_r_factor("PCMU", 100, 0), 93.2 - 95.0 * 100 / 125.1, 1e-9);
    assert_double_equal(qos_mos(-5), 1.0, 0);
    assert_double_equal(qos_mos(120), 4.5, 0);
    assert_true(qos_mos(qos_r_factor("G729", 10, 150)) < qos_mos(qos_r_factor("G729", 1, 150)));
}

/* ---- the table -------------------------------------------------------------- */

typedef struct {
    int reports, finals;
    int reasons[8];
    char last_json[QOS_JSON_MAX];
    qos_report_t last;
    qos_numbers_t last_numbers;
    char last_call[QOS_CALL_ID_MAX + 1];
} sink_t;

static void on_report(void *ctx, const qos_report_t *r)
{
    sink_t *s = ctx;
    s->reports++;
    s->finals += r->final;
    s->reasons[r->reason]++;
    memcpy(s->last_json, r->json, r->json_len);
    s->last_json[r->json_len] = 0;
    s->last = *r;
    s->last_numbers = *r->numbers;
    memcpy(s->last_call, r->call_id, r->call_id_len);
    s->last_call[r->call_id_len] = 0;
}

static void flow(packet_t *p, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
    memset(p, 0, sizeof(*p));
    p->ip_version = 4;
    p->l4_proto = 17;
    put_be32(p->src_addr, src);
    put_be32(p->dst_addr, dst);
    p->src_port = sport;
    p->dst_port = dport;
}

static void send_rtp(qos_table_t *t, packet_t *p, uint64_t us, uint16_t seq, uint32_t ssrc,
                     const char *call)
{
    p->ts_sec = us / 1000000;
    p->ts_usec = (uint32_t)(us % 1000000);
    rtp_header_t h = {
        .version = 2, .payload_type = 0, .seq = seq, .timestamp = seq * 160u, .ssrc = ssrc};
    qos_rtp(t, p, &h, (const uint8_t *)call, call ? strlen(call) : 0, 0, NULL, 5);
}

static const uint64_t T0 = 1700000000ull * 1000000;

/* 100k streams of one packet each: the table never holds more than its
 * bound, its memory stays put, and what it refused is counted. */
static void test_bound(void **state)
{
    (void)state;
    sink_t sink = {0};
    qos_options_t o;
    qos_options_default(&o);
    o.max_streams = 1000;
    qos_table_t *t = qos_new(&o, on_report, &sink);
    packet_t p;
    size_t mem_at_bound = 0;
    for (uint32_t i = 0; i < 100000; i++) {
        flow(&p, 0x0a000000 + i, (uint16_t)(1024 + i % 60000), 0xc0000201, 4000);
        send_rtp(t, &p, T0 + i, 1, i, NULL); /* 1 us apart: nobody is quiet */
        assert_true(qos_count(t) <= 1000);
        if (i == 999) mem_at_bound = qos_memory(t);
    }
    assert_int_equal(qos_count(t), 1000);
    assert_int_equal(qos_memory(t), mem_at_bound);
    const qos_stats_t *st = qos_get_stats(t);
    assert_int_equal(st->streams, 1000);
    assert_int_equal(st->streams_refused, 99000);
    assert_int_equal(st->packets, 100000);
    /* once the old ones are quiet for 2 s, new streams evict them (with a
     * final report each) */
    flow(&p, 0x0b000001, 5000, 0xc0000201, 4000);
    send_rtp(t, &p, T0 + 3000000, 1, 7, NULL);
    assert_int_equal(st->streams_evicted, 1);
    assert_int_equal(sink.reasons[QOS_REASON_EVICTED], 1);
    assert_int_equal(qos_count(t), 1000);
    assert_int_equal(qos_memory(t), mem_at_bound);
    qos_finish(t);
    assert_int_equal(sink.finals, 1001);
    assert_int_equal(qos_count(t), 0);
    qos_free(t);
}

/* The idle timeout, swept around its edge: a stream ends when it has been
 * quiet for more than stream_timeout_ms of capture time, never before. */
static void test_timeout_sweep(void **state)
{
    (void)state;
    static const int64_t offsets_us[] = {-1000000, -1000, -1, 0, 1, 1000, 5000000};
    for (int rep = 0; rep < 3; rep++)
        for (size_t i = 0; i < HA_ARRAY_LEN(offsets_us); i++) {
            sink_t sink = {0};
            qos_options_t o;
            qos_options_default(&o);
            o.stream_timeout_ms = 2000 + 500 * (uint32_t)rep;
            qos_table_t *t = qos_new(&o, on_report, &sink);
            packet_t p;
            flow(&p, 0x0a000001, 4000, 0x0a000002, 5000);
            uint64_t last = T0 + 3 * 20000;
            for (int k = 0; k < 4; k++)
                send_rtp(t, &p, T0 + (uint64_t)k * 20000, (uint16_t)k, 9, "c1");
            uint64_t at = last + (uint64_t)o.stream_timeout_ms * 1000 + (uint64_t)offsets_us[i];
            qos_tick(t, at / 1000000, (uint32_t)(at % 1000000));
            int expired = offsets_us[i] > 0;
            assert_int_equal(sink.finals, expired);
            assert_int_equal(qos_count(t), !expired);
            if (expired) {
                assert_int_equal(sink.last.reason, QOS_REASON_TIMEOUT);
                /* dated when the stream went quiet */
                assert_int_equal(sink.last.ts_sec * 1000000 + sink.last.ts_usec, last);
            }
            qos_free(t);
        }
}

static void test_end_call_and_flow(void **state)
{
    (void)state;
    sink_t sink = {0};
    qos_table_t *t = qos_new(NULL, on_report, &sink);
    packet_t a, b, c;
    flow(&a, 0x0a000001, 4000, 0x0a000002, 5000);
    flow(&b, 0x0a000002, 5000, 0x0a000001, 4000);
    flow(&c, 0x0a000003, 6000, 0x0a000004, 7000);
    for (uint16_t k = 0; k < 10; k++) {
        send_rtp(t, &a, T0 + k * 20000u, k, 1, "call-one@h");
        send_rtp(t, &b, T0 + k * 20000u + 5, k, 2, "call-one@h");
        send_rtp(t, &c, T0 + k * 20000u + 9, k, 3, "call-two@h");
    }
    send_rtp(t, &a, T0 + 300000, 10, 4, "call-one@h"); /* second SSRC on a's flow */
    assert_int_equal(qos_count(t), 4);
    /* a moved port ends every SSRC of that one flow */
    qos_end_flow(t, 4, a.src_addr, 4000, a.dst_addr, 5000, 0, T0 / 1000000 + 1, 0);
    assert_int_equal(sink.finals, 2);
    assert_int_equal(sink.reasons[QOS_REASON_FLOW_END], 2);
    assert_int_equal(qos_count(t), 2);
    /* the call ends its remaining stream only */
    qos_end_call(t, (const uint8_t *)"call-one@h", 10, T0 / 1000000 + 2, 0);
    assert_int_equal(sink.finals, 3);
    assert_string_equal(sink.last_call, "call-one@h");
    assert_int_equal(sink.last.src_port, 5000);
    assert_int_equal(sink.last_numbers.packets, 10);
    assert_int_equal(qos_count(t), 1);
    qos_end_call(t, (const uint8_t *)"call-one@", 9, T0 / 1000000 + 2, 0); /* a prefix: no */
    assert_int_equal(qos_count(t), 1);
    qos_finish(t);
    assert_int_equal(sink.reasons[QOS_REASON_STOP], 1);
    assert_string_equal(sink.last_call, "call-two@h");
    qos_free(t);
}

/* Interim reports every interval while packets come, final at the end; the
 * JSON carries every key the issue names with the measured values. */
static void test_interim_and_json(void **state)
{
    (void)state;
    sink_t sink = {0};
    qos_options_t o;
    qos_options_default(&o);
    o.interval_s = 1;
    qos_table_t *t = qos_new(&o, on_report, &sink);
    packet_t p;
    flow(&p, 0xc0000201, 40000, 0xc6336414, 50000);
    for (uint16_t k = 0; k < 175; k++) /* 3.5 s at 20 ms, packet 100 lost */
        if (k != 100) send_rtp(t, &p, T0 + 500000 + k * 20000u, k, 0xABCDEF01, "cid");
    assert_int_equal(sink.reports, 3); /* at 1 s, 2 s and 3 s */
    assert_int_equal(sink.finals, 0);
    assert_int_equal(sink.reasons[QOS_REASON_INTERVAL], 3);
    qos_finish(t);
    assert_int_equal(sink.finals, 1);
    json_object *j = json_tokener_parse(sink.last_json);
    assert_non_null(j);
    static const char *const keys[] = {
        "ssrc",           "payload_type",  "codec",      "start",        "end",
        "packets",        "lost",          "duplicates", "out_of_order", "delta_max_ms",
        "jitter_mean_ms", "jitter_max_ms", "r_factor",   "mos",          "final",
        "clock_rate",     "expected",      "loss_pct",   "src_ip",       "dst_ip"};
    for (size_t i = 0; i < HA_ARRAY_LEN(keys); i++) {
        json_object *v;
        assert_true(json_object_object_get_ex(j, keys[i], &v));
    }
    json_object *v;
    json_object_object_get_ex(j, "ssrc", &v);
    assert_int_equal(json_object_get_int64(v), 0xABCDEF01);
    json_object_object_get_ex(j, "codec", &v);
    assert_string_equal(json_object_get_string(v), "PCMU");
    json_object_object_get_ex(j, "packets", &v);
    assert_int_equal(json_object_get_int(v), 174);
    json_object_object_get_ex(j, "lost", &v);
    assert_int_equal(json_object_get_int(v), 1);
    json_object_object_get_ex(j, "delta_max_ms", &v);
    assert_double_equal(json_object_get_double(v), 40.0, 1e-9);
    json_object_object_get_ex(j, "final", &v);
    assert_true(json_object_get_boolean(v));
    json_object_object_get_ex(j, "src_ip", &v);
    assert_string_equal(json_object_get_string(v), "192.0.2.1");
    json_object_object_get_ex(j, "start", &v);
    assert_double_equal(json_object_get_double(v), 1700000000.5, 1e-6);
    json_object_object_get_ex(j, "mos", &v);
    assert_true(json_object_get_double(v) > 4.0 && json_object_get_double(v) < 4.41);
    json_object_put(j);
    qos_free(t);
}

/* A Call-ID longer than the table keeps is cut and counted; a codec name
 * that would break the JSON string is made plain. */
static void test_long_call_id_and_codec(void **state)
{
    (void)state;
    sink_t sink = {0};
    qos_table_t *t = qos_new(NULL, on_report, &sink);
    packet_t p;
    flow(&p, 1, 2, 3, 4);
    char id[QOS_CALL_ID_MAX + 50];
    memset(id, 'x', sizeof(id) - 1);
    id[sizeof(id) - 1] = 0;
    rtp_header_t h = {.version = 2, .payload_type = 100, .seq = 1, .ssrc = 5};
    qos_rtp(t, &p, &h, (const uint8_t *)id, strlen(id), 16000, "we\"ird\\co\ndec", 9);
    qos_finish(t);
    assert_int_equal(qos_get_stats(t)->call_id_too_long, 1);
    assert_int_equal(sink.last.call_id_len, QOS_CALL_ID_MAX);
    assert_int_equal(sink.last.tag, 9); /* handed back as given */
    json_object *j = json_tokener_parse(sink.last_json);
    assert_non_null(j);
    json_object *v;
    json_object_object_get_ex(j, "codec", &v);
    assert_string_equal(json_object_get_string(v), "we_ird_co_dec");
    json_object_object_get_ex(j, "clock_rate", &v);
    assert_int_equal(json_object_get_int(v), 16000);
    json_object_put(j);
    qos_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rtp_parse_fields),
        cmocka_unit_test(test_rtp_parse_rejects),
        cmocka_unit_test(test_rtp_is_rtcp),
        cmocka_unit_test(test_static_payload_types),
        cmocka_unit_test(test_a1_probation_and_wrap),
        cmocka_unit_test(test_a1_restart),
        cmocka_unit_test(test_a8_jitter_by_hand),
        cmocka_unit_test(test_wireshark_loss),
        cmocka_unit_test(test_wireshark_irregular_packets),
        cmocka_unit_test(test_emodel),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_timeout_sweep),
        cmocka_unit_test(test_end_call_and_flow),
        cmocka_unit_test(test_interim_and_json),
        cmocka_unit_test(test_long_call_id_and_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

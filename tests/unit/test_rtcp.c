/* RTCP → JSON on hand-made compound packets: SR, RR, SDES, BYE, APP, XR
 * VoIP metrics, padding; each malformation counted by its reason; the
 * shared HEP vector d (RTCP as JSON) reproduced byte for byte. */
#include "test_util.h"

#include <json-c/json.h>

#include "hepagent/hep.h"
#include "hepagent/rtcp.h"

/* A packet under construction. */
typedef struct {
    uint8_t b[2048];
    size_t n;
} buf_t;

static void u8(buf_t *p, unsigned v)
{
    p->b[p->n++] = (uint8_t)v;
}
static void u16(buf_t *p, unsigned v)
{
    u8(p, v >> 8);
    u8(p, v);
}
static void u32(buf_t *p, uint32_t v)
{
    u16(p, v >> 16);
    u16(p, v & 0xffff);
}
/* An RTCP header; the length is fixed by end_packet. */
static size_t header(buf_t *p, unsigned count, unsigned type)
{
    size_t at = p->n;
    u8(p, 0x80 | count);
    u8(p, type);
    u16(p, 0);
    return at;
}
static void end_packet(buf_t *p, size_t at)
{
    unsigned words = (unsigned)((p->n - at) / 4 - 1);
    p->b[at + 2] = (uint8_t)(words >> 8);
    p->b[at + 3] = (uint8_t)words;
}
static void block(buf_t *p, uint32_t ssrc, unsigned fraction, uint32_t lost24, uint32_t seq,
                  uint32_t jitter, uint32_t lsr, uint32_t dlsr)
{
    u32(p, ssrc);
    u8(p, fraction);
    u8(p, lost24 >> 16);
    u16(p, lost24 & 0xffff);
    u32(p, seq);
    u32(p, jitter);
    u32(p, lsr);
    u32(p, dlsr);
}
static void sr(buf_t *p, unsigned blocks, uint32_t ssrc)
{
    size_t at = header(p, blocks, RTCP_SR);
    u32(p, ssrc);
    u32(p, 3909000000u);
    u32(p, 2147483648u);
    u32(p, 160000);
    u32(p, 500);
    u32(p, 80000);
    for (unsigned i = 0; i < blocks; i++)
        block(p, 2596069104u + i, 0, 0, 1500 + i, 12, 0, 0);
    end_packet(p, at);
}
static void sdes(buf_t *p, uint32_t ssrc, const char *cname)
{
    size_t at = header(p, 1, RTCP_SDES);
    u32(p, ssrc);
    u8(p, 1);
    u8(p, (unsigned)strlen(cname));
    for (const char *c = cname; *c; c++)
        u8(p, (uint8_t)*c);
    do
        u8(p, 0);
    while (p->n % 4);
    end_packet(p, at);
}
static void bye(buf_t *p, uint32_t ssrc)
{
    size_t at = header(p, 1, RTCP_BYE);
    u32(p, ssrc);
    end_packet(p, at);
}
static void voip_block(buf_t *p, uint32_t source)
{
    u8(p, RTCP_XR_VOIP_METRICS);
    u8(p, 0);
    u16(p, 8);
    u32(p, source);
    u8(p, 12);  /* loss rate */
    u8(p, 3);   /* discard rate */
    u8(p, 80);  /* burst density */
    u8(p, 2);   /* gap density */
    u16(p, 60); /* burst duration */
    u16(p, 4000);
    u16(p, 45);  /* round trip delay */
    u16(p, 30);  /* end system delay */
    u8(p, 0xf0); /* signal level -16 dBm */
    u8(p, 0xb5); /* noise level -75 dBm */
    u8(p, 127);  /* RERL unavailable */
    u8(p, 16);   /* Gmin */
    u8(p, 88);   /* R factor */
    u8(p, 127);  /* external R unavailable */
    u8(p, 41);   /* MOS-LQ 4.1 */
    u8(p, 39);   /* MOS-CQ 3.9 */
    u8(p, 0x80); /* RX config */
    u8(p, 0);    /* reserved */
    u16(p, 40);  /* JB nominal */
    u16(p, 80);  /* JB maximum */
    u16(p, 200); /* JB abs max */
}

static rtcp_result_t decode(const buf_t *p, char *json, size_t cap, rtcp_info_t *info)
{
    size_t n = 0;
    rtcp_result_t r = rtcp_to_json(p->b, p->n, json, cap, &n, info);
    if (r == RTCP_RESULT_ok) {
        assert_true(n > 0 && n < cap);
        json[n] = '\0';
        /* what is written is one valid JSON object */
        json_object *o = json_tokener_parse(json);
        if (!o || !json_object_is_type(o, json_type_object)) fail_msg("not JSON: %s", json);
        json_object_put(o);
    } else {
        assert_int_equal(n, 0);
    }
    return r;
}

/* The JSON of the shared HEP vector d, and the vector itself. */
static void test_sr_sdes_is_vector_d(void **state)
{
    (void)state;
    buf_t p = {.n = 0};
    sr(&p, 1, 305419896);
    sdes(&p, 305419896, "alice@10.0.0.1");
    char json[RTCP_JSON_MAX];
    rtcp_info_t info;
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_ok);
    assert_string_equal(json, "{\"sender_information\":{\"ntp_timestamp_sec\":3909000000,"
                              "\"ntp_timestamp_usec\":2147483648,\"rtp_timestamp\":160000,"
                              "\"packets\":500,\"octets\":80000},\"ssrc\":305419896,\"type\":200,"
                              "\"report_count\":1,\"report_blocks\":[{\"source_ssrc\":2596069104,"
                              "\"fraction_lost\":0,\"packets_lost\":0,\"highest_seq_no\":1500,"
                              "\"ia_jitter\":12,\"lsr\":0,\"dlsr\":0}],\"sdes_ssrc\":305419896}");
    assert_int_equal(info.type, RTCP_SR);
    assert_int_equal(info.ssrc, 305419896);
    assert_true(info.has_sender);
    assert_int_equal(info.sender_packets, 500);
    assert_int_equal(info.report_blocks, 1);
    assert_int_equal(info.jitter, 12);

    hep_msg_t m;
    memset(&m, 0, sizeof(m));
    m.ip_version = 4;
    m.ip_proto = 17;
    uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 0, 2};
    memcpy(m.src_addr, src, 4);
    memcpy(m.dst_addr, dst, 4);
    m.src_port = 40001;
    m.dst_port = 30001;
    m.ts_sec = 1700000002;
    m.proto_type = 5;
    m.capture_id = 2001;
    const char *corr = "4f7e1c2a-vec-c@10.0.0.1";
    m.correlation_id = (ha_bytes_t){(const uint8_t *)corr, strlen(corr)};
    m.payload = (ha_bytes_t){(const uint8_t *)json, strlen(json)};
    uint8_t out[2048];
    int n = hep_encode(&m, out, sizeof(out), HEP_MAX_UDP);
    size_t want_len;
    uint8_t *want = test_read_file(TEST_VECTORS_DIR "/d_rtcp_json.bin", &want_len);
    assert_int_equal(n, (int)want_len);
    assert_memory_equal(out, want, want_len);
    free(want);
}

static void test_rr_blocks_and_signed_loss(void **state)
{
    (void)state;
    buf_t p = {.n = 0};
    size_t at = header(&p, 2, RTCP_RR);
    u32(&p, 0x11223344);
    block(&p, 0xaabbccdd, 25, 0xffffff, 0x0001ffff, 160, 0x12345678, 65536); /* lost -1 */
    block(&p, 7, 255, 0x7fffff, 9, 0, 0, 0);
    end_packet(&p, at);
    sdes(&p, 0x11223344, "bob");
    bye(&p, 0x11223344);
    char json[RTCP_JSON_MAX];
    rtcp_info_t info;
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_ok);
    assert_string_equal(json,
                        "{\"ssrc\":287454020,\"type\":201,\"report_count\":2,\"report_blocks\":["
                        "{\"source_ssrc\":2864434397,\"fraction_lost\":25,\"packets_lost\":-1,"
                        "\"highest_seq_no\":131071,\"ia_jitter\":160,\"lsr\":305419896,"
                        "\"dlsr\":65536},{\"source_ssrc\":7,\"fraction_lost\":255,"
                        "\"packets_lost\":8388607,\"highest_seq_no\":9,\"ia_jitter\":0,"
                        "\"lsr\":0,\"dlsr\":0}],\"sdes_ssrc\":287454020}");
    assert_false(info.has_sender);
    assert_int_equal(info.packets_lost, -1);
    assert_int_equal(info.fraction_lost, 25);
}

static void test_empty_rr_and_two_reports(void **state)
{
    (void)state;
    char json[RTCP_JSON_MAX];
    rtcp_info_t info;
    buf_t p = {.n = 0};
    size_t at = header(&p, 0, RTCP_RR);
    u32(&p, 5);
    end_packet(&p, at);
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_ok);
    assert_string_equal(json, "{\"ssrc\":5,\"type\":201,\"report_count\":0,\"report_blocks\":[]}");

    /* an SR followed by an RR (more sources than one packet holds): all
     * blocks, the SR's sender */
    buf_t q = {.n = 0};
    sr(&q, 2, 9);
    at = header(&q, 1, RTCP_RR);
    u32(&q, 9);
    block(&q, 77, 1, 2, 3, 4, 5, 6);
    end_packet(&q, at);
    assert_int_equal(decode(&q, json, sizeof(json), &info), RTCP_RESULT_ok);
    assert_int_equal(info.report_blocks, 3);
    assert_non_null(strstr(json, "\"ssrc\":9,\"type\":200,\"report_count\":3,"));
    assert_non_null(strstr(json, "{\"source_ssrc\":77,\"fraction_lost\":1,\"packets_lost\":2,"));
}

static void test_xr_voip_metrics(void **state)
{
    (void)state;
    buf_t p = {.n = 0};
    size_t at = header(&p, 0, RTCP_XR);
    u32(&p, 0xcafe);
    /* a receiver reference time block first (RFC 3611 §4.4), then VoIP metrics */
    u8(&p, 4);
    u8(&p, 0);
    u16(&p, 2);
    u32(&p, 1);
    u32(&p, 2);
    voip_block(&p, 0xbeef);
    end_packet(&p, at);
    char json[RTCP_JSON_MAX];
    rtcp_info_t info;
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_ok);
    assert_string_equal(json,
                        "{\"ssrc\":51966,\"type\":207,\"report_count\":0,\"report_blocks\":[],"
                        "\"report_blocks_xr\":{\"type\":7,\"id\":48879,\"fraction_lost\":12,"
                        "\"fraction_discard\":3,\"burst_density\":80,\"gap_density\":2,"
                        "\"burst_duration\":60,\"gap_duration\":4000,\"round_trip_delay\":45,"
                        "\"end_system_delay\":30,\"signal_level\":-16,\"noise_level\":-75,"
                        "\"rerl\":127,\"gmin\":16,\"r_factor\":88,\"ext_r_factor\":127,"
                        "\"mos_lq\":4.1,\"mos_cq\":3.9,\"rx_config\":128,\"jb_nominal\":40,"
                        "\"jb_maximum\":80,\"jb_abs_max\":200}}");
    assert_true(info.has_voip);
    assert_int_equal(info.mos_lq, 41);

    /* after an RR, the RR leads and the XR adds its block */
    buf_t q = {.n = 0};
    at = header(&q, 0, RTCP_RR);
    u32(&q, 1);
    end_packet(&q, at);
    memcpy(q.b + q.n, p.b, p.n);
    q.n += p.n;
    assert_int_equal(decode(&q, json, sizeof(json), &info), RTCP_RESULT_ok);
    assert_non_null(strstr(json, "{\"ssrc\":1,\"type\":201,"));
    assert_non_null(strstr(json, "\"report_blocks_xr\":{\"type\":7,\"id\":48879,"));
}

static void test_nothing_to_report(void **state)
{
    (void)state;
    char json[RTCP_JSON_MAX];
    rtcp_info_t info;
    buf_t p = {.n = 0};
    sdes(&p, 1, "x");
    bye(&p, 1);
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_no_report);
    buf_t q = {.n = 0};
    size_t at = header(&q, 1, RTCP_APP);
    u32(&q, 1);
    u32(&q, 0x41424344); /* name */
    u32(&q, 0);
    end_packet(&q, at);
    at = header(&q, 1, RTCP_PSFB); /* picture loss indication */
    u32(&q, 1);
    u32(&q, 2);
    end_packet(&q, at);
    assert_int_equal(decode(&q, json, sizeof(json), &info), RTCP_RESULT_no_report);
    /* an XR without VoIP metrics has nothing Homer reads */
    buf_t x = {.n = 0};
    at = header(&x, 0, RTCP_XR);
    u32(&x, 1);
    end_packet(&x, at);
    assert_int_equal(decode(&x, json, sizeof(json), &info), RTCP_RESULT_no_report);
}

static void test_padding(void **state)
{
    (void)state;
    char json[RTCP_JSON_MAX];
    rtcp_info_t info;
    buf_t p = {.n = 0};
    sr(&p, 0, 3);
    size_t at = header(&p, 1, RTCP_SDES);
    u32(&p, 3);
    u8(&p, 1);
    u8(&p, 1);
    u8(&p, 'a');
    u8(&p, 0);
    u32(&p, 0); /* 4 bytes of padding, the last one saying 4 */
    p.b[p.n - 1] = 4;
    p.b[at] |= 0x20;
    end_packet(&p, at);
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_ok);
    assert_non_null(strstr(json, "\"sdes_ssrc\":3}"));
    /* a pad count of 0, or larger than the packet: malformed */
    p.b[p.n - 1] = 0;
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_bad_padding);
    p.b[p.n - 1] = 13;
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_bad_padding);
    /* padding on a packet that is not the last */
    p.b[p.n - 1] = 4;
    p.b[0] |= 0x20;
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_bad_padding);
}

static void test_malformed(void **state)
{
    (void)state;
    char json[RTCP_JSON_MAX];
    rtcp_info_t info;
    buf_t good = {.n = 0};
    sr(&good, 1, 1);
    sdes(&good, 1, "cname");
    size_t sdes_at = 52;

    buf_t p = good;
    p.n = 3;
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_too_short);
    p = good;
    p.b[sdes_at] = 0x41; /* version 1 */
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_bad_version);
    p = good;
    p.b[sdes_at + 1] = 100; /* not an RTCP type */
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_bad_type);
    p = good;
    p.n -= 4; /* the SDES length runs past the datagram */
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_bad_length);
    p = good;
    p.n += 2; /* two bytes left over */
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_bad_length);
    p = good;
    p.b[0] = 0x82; /* two report blocks announced, one there */
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_bad_report_count);
    p = good;
    p.b[3] = 5; /* SR shorter than its sender information (length 5 words) */
    p.b[0] = 0x80;
    p.n = 24;
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_too_short);
    p = good;
    p.b[sdes_at + 9] = 40; /* CNAME length past the packet */
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_bad_sdes);
    p = good;
    p.b[sdes_at] = 0x82; /* a second chunk that is not there */
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_bad_sdes);

    buf_t x = {.n = 0};
    size_t at = header(&x, 0, RTCP_XR);
    u32(&x, 1);
    voip_block(&x, 2);
    end_packet(&x, at);
    p = x;
    p.b[11] = 7; /* VoIP metrics of 32 bytes: wrong size */
    p.n -= 4;
    end_packet(&p, 0);
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_bad_xr);
    p = x;
    p.b[11] = 20; /* block length past the packet */
    assert_int_equal(decode(&p, json, sizeof(json), &info), RTCP_RESULT_bad_xr);
    buf_t b = {.n = 0};
    at = header(&b, 3, RTCP_BYE);
    u32(&b, 1);
    end_packet(&b, at);
    assert_int_equal(decode(&b, json, sizeof(json), &info), RTCP_RESULT_bad_report_count);

    /* the JSON does not fit: nothing is written */
    assert_int_equal(decode(&good, json, 64, &info), RTCP_RESULT_too_big);
    assert_string_equal(rtcp_result_name(RTCP_RESULT_bad_sdes), "bad_sdes");
}

/* Every prefix and every single-byte change of a rich compound: either a
 * clean reason or valid JSON (run under ASan). */
static void test_mutations(void **state)
{
    (void)state;
    buf_t p = {.n = 0};
    sr(&p, 2, 1);
    size_t ends[4] = {p.n};
    sdes(&p, 1, "someone@example.com");
    ends[1] = p.n;
    size_t at = header(&p, 0, RTCP_XR);
    u32(&p, 1);
    voip_block(&p, 2);
    end_packet(&p, at);
    ends[2] = p.n;
    bye(&p, 1);
    ends[3] = p.n;
    char json[RTCP_JSON_MAX];
    rtcp_info_t info;
    for (size_t n = 0; n <= p.n; n++) {
        buf_t q = p;
        q.n = n;
        rtcp_result_t r = decode(&q, json, sizeof(json), &info);
        assert_true(r < RTCP_RESULT_COUNT);
        /* a cut on a packet boundary is a shorter valid compound */
        int boundary = n == ends[0] || n == ends[1] || n == ends[2] || n == ends[3];
        assert_int_equal(r == RTCP_RESULT_ok, boundary);
    }
    for (size_t i = 0; i < p.n; i++) {
        for (unsigned v = 0; v < 256; v += 17) {
            buf_t q = p;
            q.b[i] = (uint8_t)v;
            (void)decode(&q, json, sizeof(json), &info);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sr_sdes_is_vector_d),
        cmocka_unit_test(test_rr_blocks_and_signed_loss),
        cmocka_unit_test(test_empty_rr_and_two_reports),
        cmocka_unit_test(test_xr_voip_metrics),
        cmocka_unit_test(test_nothing_to_report),
        cmocka_unit_test(test_padding),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

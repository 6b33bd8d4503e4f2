/* HEP encoding against the shared vectors (byte for byte), and the strict
 * decoder against the malformed inputs listed in hep3.md section 7. */
#include "test_util.h"

#include "hepagent/compress.h"
#include "hepagent/hep.h"

#include <arpa/inet.h>

static const char OPTIONS[] = "OPTIONS sip:192.168.1.20:5060 SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-vec-a1\r\n"
                              "Max-Forwards: 70\r\n"
                              "From: <sip:probe@192.168.1.10>;tag=vec-a\r\n"
                              "To: <sip:192.168.1.20:5060>\r\n"
                              "Call-ID: vec-a-1700000000@192.168.1.10\r\n"
                              "CSeq: 1 OPTIONS\r\n"
                              "Content-Length: 0\r\n\r\n";

static const char OPTIONS6[] = "OPTIONS sip:[2001:db8::20]:5060 SIP/2.0\r\n"
                               "Via: SIP/2.0/UDP [2001:db8::10]:5060;branch=z9hG4bK-vec-a1\r\n"
                               "Max-Forwards: 70\r\n"
                               "From: <sip:probe@[2001:db8::10]>;tag=vec-a\r\n"
                               "To: <sip:[2001:db8::20]:5060>\r\n"
                               "Call-ID: vec-a-1700000000@[2001:db8::10]\r\n"
                               "CSeq: 1 OPTIONS\r\n"
                               "Content-Length: 0\r\n\r\n";

static const char BYE[] = "BYE sip:bob@10.0.0.2:5060;transport=tcp SIP/2.0\r\n"
                          "Via: SIP/2.0/TCP 10.0.0.1:5061;branch=z9hG4bK-vec-c1\r\n"
                          "Max-Forwards: 70\r\n"
                          "From: <sip:alice@10.0.0.1>;tag=a1\r\n"
                          "To: <sip:bob@10.0.0.2>;tag=b2\r\n"
                          "Call-ID: 4f7e1c2a-vec-c@10.0.0.1\r\n"
                          "CSeq: 2 BYE\r\n"
                          "Content-Length: 0\r\n\r\n";

static const char RTCP_JSON[] =
    "{\"sender_information\":{\"ntp_timestamp_sec\":3909000000,\"ntp_timestamp_usec\":"
    "2147483648,\"rtp_timestamp\":160000,\"packets\":500,\"octets\":80000},\"ssrc\":305419896,"
    "\"type\":200,\"report_count\":1,\"report_blocks\":[{\"source_ssrc\":2596069104,"
    "\"fraction_lost\":0,\"packets_lost\":0,\"highest_seq_no\":1500,\"ia_jitter\":12,\"lsr\":0,"
    "\"dlsr\":0}],\"sdes_ssrc\":305419896}";

static ha_bytes_t str_bytes(const char *s)
{
    return (ha_bytes_t){(const uint8_t *)s, strlen(s)};
}

static void set_addr(hep_msg_t *m, const char *src, const char *dst)
{
    int v6 = strchr(src, ':') != NULL;
    m->ip_version = v6 ? 6 : 4;
    inet_pton(v6 ? AF_INET6 : AF_INET, src, m->src_addr);
    inet_pton(v6 ? AF_INET6 : AF_INET, dst, m->dst_addr);
}

static hep_msg_t vector_a(void)
{
    hep_msg_t m;
    memset(&m, 0, sizeof(m));
    set_addr(&m, "192.168.1.10", "192.168.1.20");
    m.ip_proto = 17;
    m.src_port = m.dst_port = 5060;
    m.ts_sec = 1700000000;
    m.ts_usec = 123456;
    m.proto_type = HEP_PROTO_TYPE_SIP;
    m.capture_id = 2001;
    m.correlation_id = str_bytes("vec-a-1700000000@192.168.1.10");
    m.payload = str_bytes(OPTIONS);
    return m;
}

static void check_vector(const hep_msg_t *m, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.bin", TEST_VECTORS_DIR, name);
    size_t want_len;
    uint8_t *want = test_read_file(path, &want_len);
    uint8_t out[HEP_MAX_PACKET];
    int n = hep_encode(m, out, sizeof(out), HEP_MAX_UDP);
    assert_int_equal(n, (int)want_len);
    assert_memory_equal(out, want, want_len);
    /* and the decoder reads back what was encoded */
    hep_decoded_t d;
    char err[128];
    assert_int_equal(hep_decode(out, (size_t)n, &d, err, sizeof(err)), HA_OK);
    assert_int_equal(d.msg.capture_id, m->capture_id);
    assert_int_equal(d.msg.payload.len, m->payload.len);
    assert_memory_equal(d.msg.payload.ptr, m->payload.ptr, m->payload.len);
    free(want);
}

static void test_vector_a_ipv4_udp(void **state)
{
    (void)state;
    hep_msg_t m = vector_a();
    check_vector(&m, "a_ipv4_udp_options");
}

static void test_vector_b_ipv6_udp(void **state)
{
    (void)state;
    hep_msg_t m = vector_a();
    set_addr(&m, "2001:db8::10", "2001:db8::20");
    m.correlation_id = str_bytes("vec-a-1700000000@[2001:db8::10]");
    m.payload = str_bytes(OPTIONS6);
    check_vector(&m, "b_ipv6_udp_options");
}

static void test_vector_c_tcp_auth_node(void **state)
{
    (void)state;
    hep_msg_t m;
    memset(&m, 0, sizeof(m));
    set_addr(&m, "10.0.0.1", "10.0.0.2");
    m.ip_proto = 6;
    m.src_port = 5061;
    m.dst_port = 5060;
    m.ts_sec = 1700000001;
    m.ts_usec = 500000;
    m.proto_type = HEP_PROTO_TYPE_SIP;
    m.capture_id = 2002;
    m.auth_key = str_bytes("s3cret");
    m.correlation_id = str_bytes("4f7e1c2a-vec-c@10.0.0.1");
    m.node_name = str_bytes("sbc-1");
    m.payload = str_bytes(BYE);
    check_vector(&m, "c_ipv4_tcp_bye_auth_node");
}

static void test_vector_d_rtcp_json(void **state)
{
    (void)state;
    hep_msg_t m;
    memset(&m, 0, sizeof(m));
    set_addr(&m, "10.0.0.1", "10.0.0.2");
    m.ip_proto = 17;
    m.src_port = 40001;
    m.dst_port = 30001;
    m.ts_sec = 1700000002;
    m.ts_usec = 0;
    m.proto_type = 5;
    m.capture_id = 2001;
    m.correlation_id = str_bytes("4f7e1c2a-vec-c@10.0.0.1");
    m.payload = str_bytes(RTCP_JSON);
    check_vector(&m, "d_rtcp_json");
}

/* Vector e depends on the zlib version: same chunks, payload compared after
 * inflating. */
static void test_vector_e_vlan_zlib(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/e_ipv4_udp_options_vlan_zlib.bin", TEST_VECTORS_DIR);
    size_t want_len;
    uint8_t *want = test_read_file(path, &want_len);

    compressor_t z;
    assert_int_equal(compressor_init(&z), HA_OK);
    uint8_t packed[4096];
    int zlen =
        compressor_run(&z, (const uint8_t *)OPTIONS, strlen(OPTIONS), packed, sizeof(packed));
    assert_true(zlen > 0);
    hep_msg_t m = vector_a();
    m.has_vlan = 1;
    m.vlan = 100;
    m.payload = (ha_bytes_t){packed, (size_t)zlen};
    m.payload_compressed = 1;
    uint8_t out[HEP_MAX_PACKET];
    int n = hep_encode(&m, out, sizeof(out), HEP_MAX_UDP);
    assert_true(n > 0);

    hep_decoded_t got, ref;
    char err[128];
    assert_int_equal(hep_decode(out, (size_t)n, &got, err, sizeof(err)), HA_OK);
    assert_int_equal(hep_decode(want, want_len, &ref, err, sizeof(err)), HA_OK);
    assert_int_equal(got.chunks_seen, ref.chunks_seen);
    assert_true(got.msg.has_vlan && got.msg.vlan == 100);
    assert_true(got.msg.payload_compressed);
    uint8_t a[4096], b[4096];
    int alen = compress_inflate(got.msg.payload.ptr, got.msg.payload.len, a, sizeof(a));
    int blen = compress_inflate(ref.msg.payload.ptr, ref.msg.payload.len, b, sizeof(b));
    assert_int_equal(alen, (int)strlen(OPTIONS));
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, (size_t)alen);
    /* everything before the payload chunk is identical byte for byte */
    size_t header = (size_t)n - (got.msg.payload.len + 6);
    assert_int_equal(header, want_len - (ref.msg.payload.len + 6));
    assert_memory_equal(out + 6, want + 6, header - 6);
    compressor_free(&z);
    free(want);
}

static void test_encode_too_big(void **state)
{
    (void)state;
    static uint8_t big[HEP_MAX_PACKET];
    memset(big, 'x', sizeof(big));
    hep_msg_t m = vector_a();
    static uint8_t out[HEP_MAX_PACKET];
    /* the largest payload that still fits a datagram, and one byte more */
    int n = hep_encode(&m, out, sizeof(out), HEP_MAX_UDP);
    size_t overhead = (size_t)n - strlen(OPTIONS);
    m.payload = (ha_bytes_t){big, HEP_MAX_UDP - overhead};
    assert_int_equal(hep_encode(&m, out, sizeof(out), HEP_MAX_UDP), HEP_MAX_UDP);
    m.payload.len++;
    assert_int_equal(hep_encode(&m, out, sizeof(out), HEP_MAX_UDP), HA_ETOOBIG);
}

/* ---- decoder on malformed input ---- */

static uint8_t *good_packet(size_t *len)
{
    static uint8_t out[HEP_MAX_PACKET];
    hep_msg_t m = vector_a();
    int n = hep_encode(&m, out, sizeof(out), HEP_MAX_UDP);
    *len = (size_t)n;
    return out;
}

static void expect_reject(const uint8_t *p, size_t len, const char *reason)
{
    hep_decoded_t d;
    char err[256] = "";
    assert_int_equal(hep_decode(p, len, &d, err, sizeof(err)), HA_EINVAL);
    if (!strstr(err, reason)) fail_msg("error \"%s\" does not mention \"%s\"", err, reason);
}

static void test_decode_malformed(void **state)
{
    (void)state;
    size_t len;
    uint8_t buf[HEP_MAX_PACKET];
    const uint8_t *good = good_packet(&len);
    memcpy(buf, good, len);

    uint8_t p[HEP_MAX_PACKET];
    memcpy(p, buf, len);
    p[0] = 'E'; /* EEP3 is not what we accept */
    expect_reject(p, len, "magic");
    expect_reject(buf, 5, "magic");

    memcpy(p, buf, len);
    put_be16(p + 4, (uint16_t)(len - 1)); /* total shorter than datagram */
    expect_reject(p, len, "does not match");
    put_be16(p + 4, (uint16_t)(len + 1)); /* longer */
    expect_reject(p, len, "does not match");

    /* chunk length below 6: the first chunk starts at offset 6 */
    memcpy(p, buf, len);
    put_be16(p + 10, 5);
    expect_reject(p, len, "< 6");
    /* a chunk running past the end */
    memcpy(p, buf, len);
    put_be16(p + 10, 0x7fff);
    expect_reject(p, len, "past the end");
    /* a fixed-size chunk of the wrong size: grow the IP family chunk to 2 bytes */
    uint8_t q[HEP_MAX_PACKET];
    memcpy(q, buf, 6);
    memcpy(q + 6, "\0\0\0\x01\0\x08\x02\x00", 8);
    memcpy(q + 14, buf + 13, len - 13);
    put_be16(q + 4, (uint16_t)(len + 1));
    expect_reject(q, len + 1, "bytes of data");
    /* chunk header cut at the end */
    memcpy(p, buf, len);
    memcpy(p + len, "\0\0\0", 3);
    put_be16(p + 4, (uint16_t)(len + 3));
    expect_reject(p, len + 3, "runs past the end");
}

static void test_decode_empty_payload_and_type_zero(void **state)
{
    (void)state;
    hep_msg_t m = vector_a();
    uint8_t out[1024];
    m.payload = (ha_bytes_t){(const uint8_t *)"", 0};
    int n = hep_encode(&m, out, sizeof(out), HEP_MAX_UDP);
    expect_reject(out, (size_t)n, "empty payload");
    m = vector_a();
    m.proto_type = 0;
    n = hep_encode(&m, out, sizeof(out), HEP_MAX_UDP);
    expect_reject(out, (size_t)n, "type 0");
}

static void test_decode_unknown_and_duplicate_chunks(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *good = good_packet(&len);
    uint8_t p[HEP_MAX_PACKET];
    /* vendor chunk (Kamailio, 0x0002) and unknown generic type 0x00ff: skipped;
     * a second capture id chunk: the last one wins */
    static const uint8_t extra[] = {0, 2, 0, 1, 0,    7, 9,  0, 0, 0,    0xff, 0,
                                    6, 0, 0, 0, 0x0c, 0, 10, 0, 0, 0x30, 0x39};
    memcpy(p, good, 6);
    memcpy(p + 6, extra, sizeof(extra));
    memcpy(p + 6 + sizeof(extra), good + 6, len - 6);
    size_t n = len + sizeof(extra);
    put_be16(p + 4, (uint16_t)n);
    hep_decoded_t d;
    char err[128];
    assert_int_equal(hep_decode(p, n, &d, err, sizeof(err)), HA_OK);
    assert_int_equal(d.unknown_chunks, 2);
    assert_int_equal(d.msg.capture_id, 2001); /* the original comes later, so it wins */

    memcpy(p, good, len);
    static const uint8_t dup[] = {0, 0, 0, 0x0c, 0, 10, 0, 0, 0x30, 0x39};
    memcpy(p + len, dup, sizeof(dup));
    n = len + sizeof(dup);
    put_be16(p + 4, (uint16_t)n);
    assert_int_equal(hep_decode(p, n, &d, err, sizeof(err)), HA_OK);
    assert_int_equal(d.msg.capture_id, 12345);
}

static void test_frame_length(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *good = good_packet(&len);
    assert_int_equal(hep_frame_length(good, 3), 0);
    assert_int_equal(hep_frame_length(good, 6), (int)len);
    assert_int_equal(hep_frame_length((const uint8_t *)"GET / HTTP/1.1", 14), HA_EINVAL);
    static const uint8_t short_total[] = {'H', 'E', 'P', '3', 0, 5};
    assert_int_equal(hep_frame_length(short_total, 6), HA_EINVAL);
}

/* Every prefix of a valid packet, declared as a whole datagram, is refused
 * cleanly; this also runs the parser over every cut point. */
static void test_decode_every_truncation(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *good = good_packet(&len);
    uint8_t p[HEP_MAX_PACKET];
    for (size_t cut = 0; cut < len; cut++) {
        memcpy(p, good, cut);
        if (cut >= 6) put_be16(p + 4, (uint16_t)cut);
        hep_decoded_t d;
        char err[128];
        assert_int_equal(hep_decode(p, cut, &d, err, sizeof(err)), HA_EINVAL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_a_ipv4_udp),
        cmocka_unit_test(test_vector_b_ipv6_udp),
        cmocka_unit_test(test_vector_c_tcp_auth_node),
        cmocka_unit_test(test_vector_d_rtcp_json),
        cmocka_unit_test(test_vector_e_vlan_zlib),
        cmocka_unit_test(test_encode_too_big),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_decode_empty_payload_and_type_zero),
        cmocka_unit_test(test_decode_unknown_and_duplicate_chunks),
        cmocka_unit_test(test_frame_length),
        cmocka_unit_test(test_decode_every_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Received HEP: the shared vectors pass and are written back byte for byte;
 * every file of the malformed corpus gets the reason its name says; every
 * cut and every flipped byte of a vector is refused or passes without a
 * crash; HEPv1/v2 become HEPv3; each rewrite gives a packet the strict
 * decoder accepts, with everything it did not touch unchanged. */
#include "test_util.h"

#include "hepagent/hepin.h"

#include <arpa/inet.h>
#include <dirent.h>

static const char *const VECTORS[] = {"a_ipv4_udp_options", "b_ipv6_udp_options",
                                      "c_ipv4_tcp_bye_auth_node", "d_rtcp_json",
                                      "e_ipv4_udp_options_vlan_zlib"};

static uint8_t conv[HEP_MAX_PACKET];

static uint8_t *read_vector(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.bin", TEST_VECTORS_DIR, name);
    return test_read_file(path, len);
}

static int bytes_eq(ha_bytes_t b, const char *s)
{
    return b.len == strlen(s) && memcmp(b.ptr, s, b.len) == 0;
}

static void test_vectors_pass_and_rewrite_unchanged(void **state)
{
    (void)state;
    for (size_t i = 0; i < HA_ARRAY_LEN(VECTORS); i++) {
        size_t len;
        uint8_t *buf = read_vector(VECTORS[i], &len);
        hepin_packet_t p;
        assert_int_equal(hepin_decode(buf, len, 0, 0, conv, &p), HEPIN_OK);
        assert_int_equal(p.version, 3);
        /* what hep_decode (the strict test decoder) reads, hepin reads too */
        hep_decoded_t d;
        char err[256];
        assert_int_equal(hep_decode(buf, len, &d, err, sizeof(err)), 0);
        assert_int_equal(p.msg.capture_id, d.msg.capture_id);
        assert_int_equal(p.msg.src_port, d.msg.src_port);
        assert_int_equal(p.msg.ts_usec, d.msg.ts_usec);
        assert_int_equal(p.msg.payload.len, d.msg.payload.len);
        assert_int_equal(p.msg.payload_compressed, d.msg.payload_compressed);
        assert_memory_equal(p.msg.src_addr, d.msg.src_addr, 16);
        /* an empty rewrite writes the same bytes */
        uint8_t out[HEP_MAX_PACKET];
        hepin_rewrite_t rw = {0};
        size_t poff;
        int n = hepin_rewrite(&p, &rw, out, sizeof(out), &poff);
        assert_int_equal(n, (int)len);
        assert_memory_equal(out, buf, len);
        assert_int_equal(poff, p.payload_off);
        free(buf);
    }
}

static void test_vector_c_fields(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = read_vector("c_ipv4_tcp_bye_auth_node", &len);
    hepin_packet_t p;
    assert_int_equal(hepin_decode(buf, len, 0, 0, conv, &p), HEPIN_OK);
    assert_int_equal(p.msg.ip_version, 4);
    assert_int_equal(p.msg.ip_proto, 6);
    assert_int_equal(p.msg.src_port, 5061);
    assert_int_equal(p.msg.capture_id, 2002);
    assert_true(bytes_eq(p.msg.auth_key, "s3cret"));
    assert_true(bytes_eq(p.msg.node_name, "sbc-1"));
    assert_true(bytes_eq(p.msg.correlation_id, "4f7e1c2a-vec-c@10.0.0.1"));
    assert_true(hepin_has(&p, HEP_CHUNK_AUTH_KEY));
    assert_false(hepin_has(&p, HEP_CHUNK_VLAN));
    assert_int_equal(p.vendor_chunks, 0);
    assert_int_equal(hepin_path_hops(&p), 0);
    free(buf);
}

/* Every file of tests/hepin/malformed: the reason is the name up to "__". */
static void test_malformed_corpus(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/hepin/malformed", TEST_SOURCE_DIR);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int files = 0, ok = 0;
    unsigned reasons_seen[HEPIN_RESULT_COUNT] = {0};
    while ((e = readdir(d))) {
        const char *sep = strstr(e->d_name, "__");
        if (!sep) continue;
        char path[1024], want[64];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        snprintf(want, sizeof(want), "%.*s", (int)(sep - e->d_name), e->d_name);
        size_t len;
        uint8_t *buf = test_read_file(path, &len);
        hepin_packet_t p;
        hepin_result_t r = hepin_decode(buf, len, 1700000001, 5, conv, &p);
        if (strcmp(hepin_result_name(r), want) != 0)
            fail_msg("%s: got %s, want %s", e->d_name, hepin_result_name(r), want);
        reasons_seen[r]++;
        if (r == HEPIN_OK) {
            /* whatever passes is written out as a packet the strict decoder takes */
            uint8_t out[HEP_MAX_PACKET];
            hepin_rewrite_t rw = {.relay_id = 7};
            size_t poff;
            int n = hepin_rewrite(&p, &rw, out, sizeof(out), &poff);
            assert_true(n > 0);
            hep_decoded_t dec;
            char err[256];
            if (hep_decode(out, (size_t)n, &dec, err, sizeof(err)) != 0)
                fail_msg("%s: rewritten packet refused: %s", e->d_name, err);
            ok++;
        }
        free(buf);
        files++;
    }
    closedir(d);
    assert_true(files >= 50);
    assert_true(ok >= 10);
    /* the corpus holds at least one input for every reason */
    for (int r = 0; r < HEPIN_RESULT_COUNT; r++)
        if (!reasons_seen[r]) fail_msg("no corpus file for %s", hepin_result_name(r));
}

/* Every prefix and every extension of a vector is refused: the total
 * length must equal the bytes received. */
static void test_every_cut_refused(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = read_vector("a_ipv4_udp_options", &len);
    hepin_packet_t p;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees any overread */
        memcpy(copy, buf, cut);
        hepin_result_t r = hepin_decode(copy, cut, 0, 0, conv, &p);
        assert_int_not_equal(r, HEPIN_OK);
        assert_true(r == HEPIN_too_short || r == HEPIN_length_mismatch);
        free(copy);
    }
    free(buf);
}

/* A flipped byte anywhere gives a verdict, and what still passes is
 * written out as a valid packet. */
static void test_every_byte_flipped(void **state)
{
    (void)state;
    for (size_t v = 0; v < HA_ARRAY_LEN(VECTORS); v++) {
        size_t len;
        uint8_t *buf = read_vector(VECTORS[v], &len);
        for (size_t i = 0; i < len; i++) {
            for (int bit = 0; bit < 8; bit++) {
                buf[i] ^= (uint8_t)(1 << bit);
                hepin_packet_t p;
                if (hepin_decode(buf, len, 0, 0, conv, &p) == HEPIN_OK) {
                    uint8_t out[HEP_MAX_PACKET];
                    hepin_rewrite_t rw = {.relay_id = 1, .set_capture_id = 1};
                    size_t poff;
                    int n = hepin_rewrite(&p, &rw, out, sizeof(out), &poff);
                    assert_true(n > 0);
                    hepin_packet_t again;
                    assert_int_equal(hepin_decode(out, (size_t)n, 0, 0, conv, &again), HEPIN_OK);
                }
                buf[i] ^= (uint8_t)(1 << bit);
            }
        }
        free(buf);
    }
}

static size_t build_v2(uint8_t *b, int version, const char *payload)
{
    size_t n = 0;
    b[n++] = (uint8_t)version;
    b[n++] = 16; /* captagent's header length; ignored */
    b[n++] = 2;
    b[n++] = 17;
    put_be16(b + n, 5060);
    put_be16(b + n + 2, 5062);
    n += 4;
    inet_pton(AF_INET, "192.0.2.1", b + n);
    inet_pton(AF_INET, "192.0.2.2", b + n + 4);
    n += 8;
    if (version == 2) {
        const uint8_t t[12] = {0x00, 0xf1, 0x53, 0x65, 0x90, 0xd0, 0x03, 0x00, 0xd2, 0x07, 0, 0};
        memcpy(b + n, t, 12); /* 1700000000 s, 250000 us, capture id 2002, little-endian */
        n += 12;
    }
    memcpy(b + n, payload, strlen(payload));
    return n + strlen(payload);
}

static const char V2_SIP[] = "OPTIONS sip:a@192.0.2.2 SIP/2.0\r\n"
                             "Call-ID: v2-call@192.0.2.1\r\n"
                             "CSeq: 1 OPTIONS\r\n\r\n";

static void test_hepv2_converted(void **state)
{
    (void)state;
    uint8_t in[512];
    size_t n = build_v2(in, 2, V2_SIP);
    hepin_packet_t p;
    assert_int_equal(hepin_decode(in, n, 9, 9, conv, &p), HEPIN_OK);
    assert_int_equal(p.version, 2);
    assert_ptr_equal(p.raw, conv);
    assert_int_equal(p.msg.ts_sec, 1700000000);
    assert_int_equal(p.msg.ts_usec, 250000);
    assert_int_equal(p.msg.capture_id, 2002);
    assert_int_equal(p.msg.src_port, 5060);
    assert_int_equal(p.msg.dst_port, 5062);
    assert_int_equal(p.msg.proto_type, HEP_PROTO_TYPE_SIP);
    assert_true(bytes_eq(p.msg.correlation_id, "v2-call@192.0.2.1"));
    assert_int_equal(p.msg.payload.len, strlen(V2_SIP));
    assert_memory_equal(p.msg.payload.ptr, V2_SIP, strlen(V2_SIP));
    uint8_t a[4];
    inet_pton(AF_INET, "192.0.2.2", a);
    assert_memory_equal(p.msg.dst_addr, a, 4);
    /* the conversion is a packet any HEPv3 decoder takes */
    hep_decoded_t d;
    char err[256];
    assert_int_equal(hep_decode(p.raw, p.raw_len, &d, err, sizeof(err)), 0);

    /* v1 has no time: the receive time stands in */
    n = build_v2(in, 1, V2_SIP);
    assert_int_equal(hepin_decode(in, n, 1700000123, 77, conv, &p), HEPIN_OK);
    assert_int_equal(p.version, 1);
    assert_int_equal(p.msg.ts_sec, 1700000123);
    assert_int_equal(p.msg.ts_usec, 77);
    assert_int_equal(p.msg.capture_id, 0);
}

static const char SIP_NO_CORR[] = "BYE sip:b@h SIP/2.0\r\nCall-ID: abc\r\nCSeq: 2 BYE\r\n\r\n";

/* A packet with a vendor chunk before and after the payload, no capture
 * id, no correlation id, an auth key. */
static size_t build_plain(uint8_t *out)
{
    hep_msg_t m;
    memset(&m, 0, sizeof(m));
    m.ip_version = 4;
    m.ip_proto = 17;
    m.src_port = 1;
    m.dst_port = 2;
    m.ts_sec = 3;
    m.proto_type = 1;
    m.auth_key = (ha_bytes_t){(const uint8_t *)"old", 3};
    m.payload = (ha_bytes_t){(const uint8_t *)SIP_NO_CORR, strlen(SIP_NO_CORR)};
    int n = hep_encode(&m, out, HEP_MAX_PACKET, HEP_MAX_PACKET);
    assert_true(n > 0);
    /* drop the capture id chunk (type 0x0c, 10 bytes) hep_encode always writes */
    size_t off = HEP_HEADER_LEN;
    while (be16(out + off + 2) != HEP_CHUNK_CAPTURE_ID)
        off += be16(out + off + 4);
    memmove(out + off, out + off + 10, (size_t)n - off - 10);
    n -= 10;
    /* a vendor chunk before the payload and one after it */
    size_t payload_at = HEP_HEADER_LEN;
    while (be16(out + payload_at + 2) != HEP_CHUNK_PAYLOAD)
        payload_at += be16(out + payload_at + 4);
    static const uint8_t v1[] = {0x00, 0x02, 0x00, 0x07, 0x00, 0x08, 'k', 'm'};
    static const uint8_t v2[] = {0x00, 0x03, 0x00, 0x01, 0x00, 0x07, 'o'};
    memmove(out + payload_at + sizeof(v1), out + payload_at, (size_t)n - payload_at);
    memcpy(out + payload_at, v1, sizeof(v1));
    n += (int)sizeof(v1);
    memcpy(out + n, v2, sizeof(v2));
    n += (int)sizeof(v2);
    put_be16(out + 4, (uint16_t)n);
    return (size_t)n;
}

static void check_valid(const uint8_t *out, int n, hepin_packet_t *p)
{
    assert_true(n > 0);
    assert_int_equal(be16(out + 4), n);
    assert_int_equal(hepin_decode(out, (size_t)n, 0, 0, conv, p), HEPIN_OK);
    hep_decoded_t d;
    char err[256];
    if (hep_decode(out, (size_t)n, &d, err, sizeof(err)) != 0) fail_msg("%s", err);
}

/* The vendor chunks survive, in order, byte for byte. */
static void check_vendor_chunks(const uint8_t *out, size_t n)
{
    static const uint8_t v1[] = {0x00, 0x02, 0x00, 0x07, 0x00, 0x08, 'k', 'm'};
    static const uint8_t v2[] = {0x00, 0x03, 0x00, 0x01, 0x00, 0x07, 'o'};
    const uint8_t *a = memmem(out, n, v1, sizeof(v1)), *b = memmem(out, n, v2, sizeof(v2));
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    assert_memory_equal(out + n - sizeof(v2), v2, sizeof(v2)); /* still last */
}

static void test_rewrites(void **state)
{
    (void)state;
    uint8_t in[1024], out[HEP_MAX_PACKET], conv2[HEP_MAX_PACKET];
    size_t n = build_plain(in);
    hepin_packet_t p, q;
    assert_int_equal(hepin_decode(in, n, 0, 0, conv2, &p), HEPIN_OK);
    assert_false(hepin_has(&p, HEP_CHUNK_CAPTURE_ID));
    assert_int_equal(p.vendor_chunks, 2);
    size_t poff;

    /* capture id added when absent, node name added, auth replaced,
     * correlation id added when missing, relay path started */
    hepin_rewrite_t rw = {.set_capture_id = 1,
                          .capture_id = 4242,
                          .node_name = {(const uint8_t *)"relay-1", 7},
                          .auth = HEPIN_AUTH_REPLACE,
                          .auth_key = {(const uint8_t *)"newkey", 6},
                          .correlation_id = {(const uint8_t *)"abc", 3},
                          .relay_id = 0x01020304};
    int m = hepin_rewrite(&p, &rw, out, sizeof(out), &poff);
    check_valid(out, m, &q);
    assert_int_equal(q.msg.capture_id, 4242);
    assert_true(bytes_eq(q.msg.node_name, "relay-1"));
    assert_true(bytes_eq(q.msg.auth_key, "newkey"));
    assert_true(bytes_eq(q.msg.correlation_id, "abc"));
    assert_int_equal(hepin_path_hops(&q), 1);
    assert_true(hepin_path_contains(&q, 0x01020304));
    assert_int_equal(q.payload_off, poff);
    assert_int_equal(be16(out + poff + 2), HEP_CHUNK_PAYLOAD);
    check_vendor_chunks(out, (size_t)m);
    /* the added chunks sit just before the payload: the correlation id is not last */
    assert_true(q.msg.correlation_id.ptr < out + poff);

    /* a second relay: its id appended, the existing capture id replaced, node
     * replaced, auth stripped; a correlation id present is not replaced */
    uint8_t out2[HEP_MAX_PACKET];
    hepin_rewrite_t rw2 = {.set_capture_id = 1,
                           .capture_id = 7,
                           .node_name = {(const uint8_t *)"r2", 2},
                           .auth = HEPIN_AUTH_STRIP,
                           .correlation_id = {(const uint8_t *)"zzz", 3},
                           .relay_id = 0x0a0b0c0d};
    hepin_packet_t r;
    int m2 = hepin_rewrite(&q, &rw2, out2, sizeof(out2), &poff);
    check_valid(out2, m2, &r);
    assert_int_equal(r.msg.capture_id, 7);
    assert_true(bytes_eq(r.msg.node_name, "r2"));
    assert_false(hepin_has(&r, HEP_CHUNK_AUTH_KEY));
    assert_true(bytes_eq(r.msg.correlation_id, "abc"));
    assert_int_equal(hepin_path_hops(&r), 2);
    assert_true(hepin_path_contains(&r, 0x01020304));
    assert_true(hepin_path_contains(&r, 0x0a0b0c0d));
    assert_false(hepin_path_contains(&r, 0x01020305));
    check_vendor_chunks(out2, (size_t)m2);
    assert_int_equal(m2, m + 4 - 2 - 10 - 5); /* +1 relay id, node 2 shorter, auth chunk gone */

    /* the payload replaced (redaction) */
    static const char SHORT[] = "BYE sip:x@h SIP/2.0\r\nCall-ID: abc\r\nCSeq: 2 BYE\r\n\r\n";
    ha_bytes_t np = {(const uint8_t *)SHORT, strlen(SHORT)};
    hepin_rewrite_t rw3 = {.payload = &np};
    m = hepin_rewrite(&p, &rw3, out, sizeof(out), &poff);
    check_valid(out, m, &q);
    assert_true(bytes_eq(q.msg.payload, SHORT));
    assert_int_equal(m, (int)n);
    check_vendor_chunks(out, (size_t)m);

    /* a redacted Call-ID replaces the correlation id where there is one */
    hepin_rewrite_t rw4 = {.correlation_new = {(const uint8_t *)"0123abcd", 8}};
    m = hepin_rewrite(&r, &rw4, out, sizeof(out), &poff); /* r lives in out2 */
    hepin_packet_t s2;
    check_valid(out, m, &s2);
    assert_true(bytes_eq(s2.msg.correlation_id, "0123abcd"));
    assert_int_equal(m, (int)r.raw_len + 5); /* "abc" became 8 characters */

    /* too big for cap */
    assert_int_equal(hepin_rewrite(&p, &rw, out, n - 1, &poff), HA_ETOOBIG);
}

/* What a compressing collector gets from a relayed packet: the payload
 * chunk swapped in place, everything around it unchanged. */
static void test_swap_payload(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = read_vector("c_ipv4_tcp_bye_auth_node", &len);
    hepin_packet_t p, q;
    assert_int_equal(hepin_decode(buf, len, 0, 0, conv, &p), HEPIN_OK);
    uint8_t out[HEP_MAX_PACKET], conv2[HEP_MAX_PACKET];
    ha_bytes_t z = {(const uint8_t *)"zz", 2};
    int n = hep_swap_payload(buf, len, p.payload_off, HEP_CHUNK_PAYLOAD_ZLIB, z, out, sizeof(out));
    assert_int_equal(n, (int)(len - p.msg.payload.len + 2));
    assert_int_equal(hepin_decode(out, (size_t)n, 0, 0, conv2, &q), HEPIN_OK);
    assert_true(q.msg.payload_compressed);
    assert_true(bytes_eq(q.msg.payload, "zz"));
    assert_memory_equal(out + 6, buf + 6, p.payload_off - 6);
    assert_int_equal(
        hep_swap_payload(buf, len, p.payload_off, HEP_CHUNK_PAYLOAD_ZLIB, z, out, (size_t)n - 1),
        HA_ETOOBIG);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_pass_and_rewrite_unchanged),
        cmocka_unit_test(test_vector_c_fields),
        cmocka_unit_test(test_malformed_corpus),
        cmocka_unit_test(test_every_cut_refused),
        cmocka_unit_test(test_every_byte_flipped),
        cmocka_unit_test(test_hepv2_converted),
        cmocka_unit_test(test_rewrites),
        cmocka_unit_test(test_swap_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

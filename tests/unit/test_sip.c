/* SIP recognition on valid, truncated and non-SIP payloads. */
#include "test_util.h"

#include "hepagent/sip.h"

static const char INVITE[] = "INVITE sip:bob@example.com SIP/2.0\r\n"
                             "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
                             "From: Alice <sip:alice@example.com>;tag=1\r\n"
                             "To: Bob <sip:bob@example.com>\r\n"
                             "Call-ID: abc123@10.0.0.1\r\n"
                             "CSeq: 314159 INVITE\r\n"
                             "Content-Type: application/sdp\r\n"
                             "Content-Length: 4\r\n"
                             "\r\n"
                             "v=0\n";

static const char RESPONSE[] = "SIP/2.0 180 Ringing\r\n"
                               "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
                               "call-id:   xyz@host   \r\n"
                               "cseq: 7   BYE\r\n"
                               "l: 0\r\n\r\n";

static sip_result_t parse(const char *s, sip_msg_t *m)
{
    return sip_parse((const uint8_t *)s, strlen(s), m);
}

static void assert_bytes(ha_bytes_t b, const char *want)
{
    if (b.len != strlen(want) || memcmp(b.ptr, want, b.len) != 0)
        fail_msg("got \"%.*s\", want \"%s\"", (int)b.len, (const char *)b.ptr, want);
}

static void test_request(void **state)
{
    (void)state;
    sip_msg_t m;
    assert_int_equal(parse(INVITE, &m), SIP_OK);
    assert_true(m.is_request);
    assert_bytes(m.method, "INVITE");
    assert_bytes(m.uri, "sip:bob@example.com");
    assert_bytes(m.call_id, "abc123@10.0.0.1");
    assert_int_equal(m.cseq_number, 314159);
    assert_bytes(m.cseq_method, "INVITE");
    assert_int_equal(m.content_length, 4);
    assert_int_equal(m.header_len, strlen(INVITE) - 4);
    assert_bytes(m.from, "Alice <sip:alice@example.com>;tag=1");
    assert_true(sip_has_mandatory(&m));
}

static void test_response_compact_and_case(void **state)
{
    (void)state;
    sip_msg_t m;
    assert_int_equal(parse(RESPONSE, &m), SIP_OK);
    assert_false(m.is_request);
    assert_int_equal(m.status, 180);
    assert_bytes(m.reason, "Ringing");
    assert_bytes(m.call_id, "xyz@host");
    assert_bytes(m.cseq_method, "BYE");
    assert_int_equal(m.cseq_number, 7);
    assert_int_equal(m.content_length, 0);
    const char *compact = "MESSAGE sip:a@b SIP/2.0\r\ni: c1\r\nCSeq: 1 MESSAGE\r\nl:  12 \r\n"
                          "t: <sip:a@b>\r\nf: <sip:c@d>;tag=9\r\n\r\nhello world!";
    assert_int_equal(parse(compact, &m), SIP_OK);
    assert_bytes(m.call_id, "c1");
    assert_int_equal(m.content_length, 12);
    assert_bytes(m.to, "<sip:a@b>");
    assert_bytes(m.from, "<sip:c@d>;tag=9");
}

static void test_lf_only_and_folding(void **state)
{
    (void)state;
    sip_msg_t m;
    const char *lf = "OPTIONS sip:x@y SIP/2.0\nCall-ID:\n  folded@host\nCSeq: 2 OPTIONS\n\n";
    assert_int_equal(parse(lf, &m), SIP_OK);
    assert_bytes(m.call_id, "folded@host");
    assert_int_equal(m.header_len, strlen(lf));
    assert_int_equal(m.content_length, -1);
    /* the version is case-insensitive; the status line may have an empty reason */
    assert_int_equal(parse("sip/2.0 200 \r\nCall-ID: a\r\nCSeq: 1 BYE\r\n\r\n", &m), SIP_OK);
    assert_int_equal(m.status, 200);
    assert_int_equal(parse("SIP/2.0 200\r\n\r\n", &m), SIP_OK);
}

/* Every prefix of a valid message is INCOMPLETE, never NOT_SIP (a stream
 * reader must wait for more), and never reads past its end (ASan checks). */
static void test_every_prefix_is_incomplete(void **state)
{
    (void)state;
    const char *msgs[] = {INVITE, RESPONSE};
    for (size_t k = 0; k < 2; k++) {
        size_t header = strstr(msgs[k], "\r\n\r\n") - msgs[k] + 4;
        for (size_t cut = 1; cut < header; cut++) {
            uint8_t *copy = malloc(cut);
            memcpy(copy, msgs[k], cut);
            sip_msg_t m;
            sip_result_t r = sip_parse(copy, cut, &m);
            if (r != SIP_INCOMPLETE) fail_msg("message %zu cut at %zu: result %d", k, cut, r);
            assert_int_not_equal(sip_probe_start_line(copy, cut), SIP_NOT_SIP);
            free(copy);
        }
    }
}

static void test_not_sip(void **state)
{
    (void)state;
    const char *cases[] = {
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n",
        "NOTIFY * HTTP/1.1\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\r\n",
        "SIP/2.0 099 Too Low\r\n\r\n",
        "SIP/2.0 700 Too High\r\n\r\n",
        "SIP/2.0 20x OK\r\n\r\n",
        "SIP/3.0 200 OK\r\n\r\n",
        "INVITE sip:a@b SIP/2.1\r\n\r\n",
        "INVITE  sip:a@b SIP/2.0\r\n\r\n",
        "INVITE nocolon SIP/2.0\r\n\r\n",
        "INVITE sip:a@b SIP/2.0 extra\r\n\r\n",
        "IN\x01VITE sip:a@b SIP/2.0\r\n\r\n",
        "\x80\x00\x12\x34rtp-ish",
        "SIP/2.0 200 OK\rX\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sip_msg_t m;
        if (parse(cases[i], &m) != SIP_NOT_SIP) fail_msg("case %zu accepted: %s", i, cases[i]);
    }
    /* a method longer than 32 characters is not a method */
    char longm[128];
    memset(longm, 'A', 40);
    strcpy(longm + 40, " sip:a@b SIP/2.0\r\n\r\n");
    sip_msg_t m;
    assert_int_equal(parse(longm, &m), SIP_NOT_SIP);
    /* nor is a start line longer than 8 KB */
    static char huge[SIP_MAX_START_LINE + 64];
    memcpy(huge, "INVITE sip:", 11);
    memset(huge + 11, 'a', SIP_MAX_START_LINE);
    strcpy(huge + 11 + SIP_MAX_START_LINE, " SIP/2.0\r\n\r\n");
    assert_int_equal(parse(huge, &m), SIP_NOT_SIP);
}

static void test_missing_mandatory(void **state)
{
    (void)state;
    sip_msg_t m;
    /* zeek's sip-junk-before-request: a token method, but no Call-ID/CSeq */
    assert_int_equal(parse("DBREGISTER sip:1.1.1.1:5060 SIP/2.0\r\nExpires: 3600\r\n\r\n", &m),
                     SIP_OK);
    assert_false(sip_has_mandatory(&m));
    assert_int_equal(parse("BYE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n", &m), SIP_OK);
    assert_false(sip_has_mandatory(&m));
}

static void test_content_length_values(void **state)
{
    (void)state;
    sip_msg_t m;
    assert_int_equal(parse("BYE sip:a@b SIP/2.0\r\nContent-Length: 12x\r\n\r\n", &m), SIP_OK);
    assert_int_equal(m.content_length, -2);
    assert_int_equal(parse("BYE sip:a@b SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n", &m),
                     SIP_OK);
    assert_int_equal(m.content_length, -2);
    /* the first Content-Length counts */
    assert_int_equal(parse("BYE sip:a@b SIP/2.0\r\nl: 3\r\nContent-Length: 9\r\n\r\n", &m), SIP_OK);
    assert_int_equal(m.content_length, 3);
}

static void test_keepalive(void **state)
{
    (void)state;
    assert_true(sip_is_keepalive((const uint8_t *)"\r\n\r\n", 4));
    assert_true(sip_is_keepalive((const uint8_t *)"\r\n", 2));
    assert_false(sip_is_keepalive((const uint8_t *)"\r\nX", 3));
    assert_false(sip_is_keepalive((const uint8_t *)"", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_response_compact_and_case),
        cmocka_unit_test(test_lf_only_and_folding),
        cmocka_unit_test(test_every_prefix_is_incomplete),
        cmocka_unit_test(test_not_sip),
        cmocka_unit_test(test_missing_mandatory),
        cmocka_unit_test(test_content_length_values),
        cmocka_unit_test(test_keepalive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

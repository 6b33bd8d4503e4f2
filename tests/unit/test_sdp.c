/* SDP reading: addresses at session and media level, several streams, RTCP
 * ports, directions, hold; finding the body in plain and multipart SIP. */
#include "test_util.h"

#include <arpa/inet.h>

#include "hepagent/sdp.h"

static sdp_result_t parse(const char *s, sdp_t *sdp)
{
    return sdp_parse((const uint8_t *)s, strlen(s), sdp);
}

static void assert_addr(const sdp_addr_t *a, const char *want)
{
    char text[INET6_ADDRSTRLEN];
    if (!want) {
        assert_int_equal(a->version, 0);
        return;
    }
    assert_true(a->version == 4 || a->version == 6);
    inet_ntop(a->version == 4 ? AF_INET : AF_INET6, a->addr, text, sizeof(text));
    assert_string_equal(text, want);
}

/* RFC 4566 §5's example with an RTP/AVP audio and a video stream */
static const char RFC4566[] = "v=0\r\n"
                              "o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n"
                              "s=SDP Seminar\r\n"
                              "c=IN IP4 224.2.17.12/127\r\n"
                              "t=2873397496 2873404696\r\n"
                              "a=recvonly\r\n"
                              "m=audio 49170 RTP/AVP 0\r\n"
                              "m=video 51372 RTP/AVP 99\r\n"
                              "a=rtpmap:99 h263-1998/90000\r\n";

static void test_rfc4566_example(void **state)
{
    (void)state;
    sdp_t s;
    assert_int_equal(parse(RFC4566, &s), SDP_OK);
    assert_int_equal(s.media_count, 2);
    const sdp_media_t *a = &s.media[0], *v = &s.media[1];
    assert_int_equal(a->type, SDP_MEDIA_AUDIO);
    assert_int_equal(a->port, 49170);
    assert_true(a->rtp);
    assert_false(a->srtp);
    assert_addr(&a->addr, "224.2.17.12"); /* the TTL is not part of the address */
    assert_int_equal(a->rtcp_port, 49171);
    assert_addr(&a->rtcp_addr, "224.2.17.12");
    assert_int_equal(a->direction, SDP_RECVONLY); /* from the session level */
    assert_int_equal(a->rtpmap_count, 0);
    assert_int_equal(v->type, SDP_MEDIA_VIDEO);
    assert_int_equal(v->port, 51372);
    assert_int_equal(v->rtpmap_count, 1);
    const sdp_rtpmap_t *r = sdp_media_rtpmap(v, 99);
    assert_non_null(r);
    assert_string_equal(r->codec, "h263-1998");
    assert_int_equal(r->clock_rate, 90000);
    assert_null(sdp_media_rtpmap(v, 0));
}

static void test_media_level_overrides(void **state)
{
    (void)state;
    sdp_t s;
    const char *text = "v=0\n"
                       "o=- 1 1 IN IP4 10.0.0.1\n"
                       "c=IN IP4 10.0.0.1\n"
                       "a=sendonly\n"
                       "m=audio 4000 RTP/AVP 0 101\n"
                       "c=IN IP6 2001:db8::5\n"
                       "a=rtpmap:101 telephone-event/8000\n"
                       "a=inactive\n"
                       "m=video 5000 RTP/AVPF 96\n"
                       "a=rtpmap:96 VP8/90000\n"
                       "m=audio 6000 RTP/SAVP 111\n"
                       "a=rtpmap:111 opus/48000/2\n"
                       "a=sendrecv\n";
    assert_int_equal(parse(text, &s), SDP_OK);
    assert_int_equal(s.media_count, 3);
    assert_addr(&s.media[0].addr, "2001:db8::5");
    assert_int_equal(s.media[0].direction, SDP_INACTIVE);
    assert_string_equal(sdp_media_rtpmap(&s.media[0], 101)->codec, "telephone-event");
    assert_addr(&s.media[1].addr, "10.0.0.1");
    assert_int_equal(s.media[1].direction, SDP_SENDONLY);
    assert_true(s.media[1].rtp);
    assert_int_equal(s.media[2].direction, SDP_SENDRECV);
    assert_true(s.media[2].srtp);
    const sdp_rtpmap_t *opus = sdp_media_rtpmap(&s.media[2], 111);
    assert_string_equal(opus->codec, "opus");
    assert_int_equal(opus->clock_rate, 48000);
}

static void test_rtcp_attributes(void **state)
{
    (void)state;
    sdp_t s;
    /* RFC 3605's examples, a=rtcp-mux (RFC 5761) and port + 1 */
    const char *text = "v=0\r\n"
                       "c=IN IP4 192.0.2.1\r\n"
                       "m=audio 49170 RTP/AVP 0\r\n"
                       "a=rtcp:53020\r\n"
                       "m=audio 49172 RTP/AVP 0\r\n"
                       "a=rtcp:53020 IN IP4 126.16.64.4\r\n"
                       "m=audio 49174 RTP/AVP 0\r\n"
                       "a=rtcp:53020 IN IP6 2001:2345:6789:ABCD:EF01:2345:6789:ABCD\r\n"
                       "m=audio 49176 RTP/AVP 0\r\n"
                       "a=rtcp-mux\r\n"
                       "m=audio 65535 RTP/AVP 0\r\n";
    assert_int_equal(parse(text, &s), SDP_OK);
    assert_int_equal(s.media_count, 5);
    assert_int_equal(s.media[0].rtcp_port, 53020);
    assert_addr(&s.media[0].rtcp_addr, "192.0.2.1");
    assert_int_equal(s.media[1].rtcp_port, 53020);
    assert_addr(&s.media[1].rtcp_addr, "126.16.64.4");
    assert_addr(&s.media[1].addr, "192.0.2.1");
    assert_addr(&s.media[2].rtcp_addr, "2001:2345:6789:abcd:ef01:2345:6789:abcd");
    assert_true(s.media[3].rtcp_mux);
    assert_int_equal(s.media[3].rtcp_port, 49176);
    assert_int_equal(s.media[4].rtcp_port, 0); /* port + 1 does not exist */
}

static void test_hold_and_ended_streams(void **state)
{
    (void)state;
    sdp_t s;
    const char *text = "v=0\r\n"
                       "c=IN IP4 0.0.0.0\r\n"
                       "m=audio 4000 RTP/AVP 0\r\n"
                       "m=video 0 RTP/AVP 31\r\n"
                       "c=IN IP4 10.1.1.1\r\n"
                       "m=audio 4002 RTP/AVP 0\r\n"
                       "c=IN IP6 ::\r\n"
                       "m=image 4004 udptl t38\r\n"
                       "c=IN IP4 10.1.1.1\r\n";
    assert_int_equal(parse(text, &s), SDP_OK);
    assert_int_equal(s.media_count, 4);
    assert_true(s.media[0].hold);
    assert_int_equal(s.media[1].port, 0);
    assert_int_equal(s.media[1].rtcp_port, 0);
    assert_false(s.media[1].hold);
    assert_true(s.media[2].hold);
    assert_int_equal(s.media[3].type, SDP_MEDIA_IMAGE);
    assert_false(s.media[3].rtp);
}

static void test_addresses_not_tracked(void **state)
{
    (void)state;
    sdp_t s;
    /* a host name, another network type, a bad literal: parsed, no address */
    const char *text = "v=0\r\n"
                       "m=audio 4000 RTP/AVP 0\r\n"
                       "c=IN IP4 media.example.com\r\n"
                       "m=audio 4002 RTP/AVP 0\r\n"
                       "c=ATM NSAP 47.0091.8100.0000.0060.3e64.fd01.0060.3e64.fd01.00\r\n"
                       "m=audio 4004 RTP/AVP 0\r\n"
                       "c=IN IP4 10.0.0.300\r\n"
                       "m=audio 4006 RTP/AVP 0\r\n";
    assert_int_equal(parse(text, &s), SDP_OK);
    for (int i = 0; i < 4; i++)
        assert_addr(&s.media[i].addr, NULL);
    assert_false(s.media[0].hold);
}

static void test_limits(void **state)
{
    (void)state;
    char text[8192] = "v=0\r\nc=IN IP4 10.0.0.1\r\n";
    for (int i = 0; i < SDP_MAX_MEDIA + 3; i++) {
        char line[64];
        snprintf(line, sizeof(line), "m=audio %d RTP/AVP 0\r\n", 10000 + 2 * i);
        strcat(text, line);
    }
    for (int i = 0; i < SDP_MAX_RTPMAP + 2; i++) {
        char line[64];
        snprintf(line, sizeof(line), "a=rtpmap:%d X%d/8000\r\n", 96 + i, i);
        strcat(text, line);
    }
    strcat(text, "a=rtpmap:200 bad/8000\r\na=rtpmap:97 nothing\r\n"
                 "a=rtpmap:98 ThisCodecNameIsMuchTooLongToKeep/8000\r\na=rtpmap:99 x/0\r\n");
    sdp_t s;
    assert_int_equal(parse(text, &s), SDP_OK);
    assert_int_equal(s.media_count, SDP_MAX_MEDIA);
    assert_int_equal(s.media_dropped, 3);
    assert_int_equal(s.media[SDP_MAX_MEDIA - 1].port, 10000 + 2 * (SDP_MAX_MEDIA - 1));
    /* the rtpmaps after the last kept m= line belong to a dropped one */
    assert_int_equal(s.media[SDP_MAX_MEDIA - 1].rtpmap_count, 0);

    char text2[4096] = "v=0\r\nm=audio 4000 RTP/AVP 0\r\n";
    for (int i = 0; i < SDP_MAX_RTPMAP + 2; i++) {
        char line[64];
        snprintf(line, sizeof(line), "a=rtpmap:%d X%d/8000\r\n", 96 + i, i);
        strcat(text2, line);
    }
    strcat(text2, "a=rtpmap:97 Again/16000\r\n");
    assert_int_equal(parse(text2, &s), SDP_OK);
    assert_int_equal(s.media[0].rtpmap_count, SDP_MAX_RTPMAP);
    assert_int_equal(s.rtpmap_dropped, 2);
    assert_string_equal(sdp_media_rtpmap(&s.media[0], 97)->codec, "Again"); /* repeat replaces */
    assert_int_equal(sdp_media_rtpmap(&s.media[0], 97)->clock_rate, 16000);
}

static void test_malformed(void **state)
{
    (void)state;
    sdp_t s;
    assert_int_equal(parse("", &s), SDP_BAD_VERSION);
    assert_int_equal(parse("v=1\r\n", &s), SDP_BAD_VERSION);
    assert_int_equal(parse("o=x\r\nv=0\r\n", &s), SDP_BAD_VERSION);
    assert_int_equal(parse("v=0\r\nthis is not sdp\r\n", &s), SDP_BAD_LINE);
    assert_int_equal(parse("v=0\r\nX=upper\r\n", &s), SDP_BAD_LINE);
    assert_int_equal(parse("v=0\r\nm=audio\r\n", &s), SDP_BAD_MEDIA);
    assert_int_equal(parse("v=0\r\nm=audio 70000 RTP/AVP 0\r\n", &s), SDP_BAD_MEDIA);
    assert_int_equal(parse("v=0\r\nm=audio -1 RTP/AVP 0\r\n", &s), SDP_BAD_MEDIA);
    assert_int_equal(parse("v=0\r\nc=IN IP4\r\n", &s), SDP_BAD_ADDRESS);
    assert_int_equal(parse("\r\n\r\nv=0\r\nm=audio 4000/2 RTP/AVP 0\r\n", &s), SDP_OK);
    assert_int_equal(s.media[0].port, 4000);
    assert_string_equal(sdp_result_name(SDP_BAD_LINE), "bad_line");
}

/* Every prefix of a valid body parses or fails cleanly (run under ASan). */
static void test_every_prefix(void **state)
{
    (void)state;
    size_t n = strlen(RFC4566);
    for (size_t i = 0; i <= n; i++) {
        uint8_t *copy = malloc(i ? i : 1);
        memcpy(copy, RFC4566, i);
        sdp_t s;
        sdp_result_t r = sdp_parse(copy, i, &s);
        assert_true(r < SDP_RESULT_COUNT && r != SDP_NO_BODY);
        free(copy);
    }
}

/* ---- bodies ------------------------------------------------------------- */

static sdp_result_t body_of(const char *msg, ha_bytes_t *body)
{
    sip_msg_t sip;
    if (sip_parse((const uint8_t *)msg, strlen(msg), &sip) != SIP_OK) fail_msg("not SIP");
    return sdp_find_body((const uint8_t *)msg, strlen(msg), &sip, body);
}

static void assert_body(ha_bytes_t b, const char *want)
{
    if (b.len != strlen(want) || memcmp(b.ptr, want, b.len) != 0)
        fail_msg("body \"%.*s\", want \"%s\"", (int)b.len, (const char *)b.ptr, want);
}

#define SDP_TEXT "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n"

static void test_body_plain(void **state)
{
    (void)state;
    ha_bytes_t b;
    assert_int_equal(body_of("INVITE sip:b@x SIP/2.0\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\n"
                             "Content-Type: application/sdp\r\nContent-Length: 48\r\n\r\n" SDP_TEXT,
                             &b),
                     SDP_OK);
    assert_body(b, SDP_TEXT);
    /* compact form, parameters, case, a Content-Length shorter than the bytes */
    assert_int_equal(body_of("SIP/2.0 200 OK\r\ni: 1\r\nCSeq: 1 INVITE\r\n"
                             "c: Application/SDP ; charset=utf-8\r\nl: 5\r\n\r\n" SDP_TEXT,
                             &b),
                     SDP_OK);
    assert_body(b, "v=0\r\n");
    /* folded header */
    assert_int_equal(body_of("ACK sip:b@x SIP/2.0\r\nCall-ID: 1\r\nCSeq: 1 ACK\r\n"
                             "Content-Type:\r\n application/sdp\r\n\r\n" SDP_TEXT,
                             &b),
                     SDP_OK);
    assert_body(b, SDP_TEXT);
    assert_int_equal(body_of("INVITE sip:b@x SIP/2.0\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\n"
                             "Content-Type: text/plain\r\n\r\n" SDP_TEXT,
                             &b),
                     SDP_NO_BODY);
    assert_int_equal(
        body_of("INVITE sip:b@x SIP/2.0\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\n\r\n" SDP_TEXT, &b),
        SDP_NO_BODY);
    assert_int_equal(body_of("INVITE sip:b@x SIP/2.0\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\n"
                             "Content-Type: application/sdp\r\nContent-Length: 0\r\n\r\n",
                             &b),
                     SDP_NO_BODY);
}

#define MULTIPART_INVITE(ct, body)                                                                 \
    "INVITE sip:b@x SIP/2.0\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\nContent-Type: " ct "\r\n\r\n" body

static void test_body_multipart(void **state)
{
    (void)state;
    ha_bytes_t b;
    /* RFC 3204 style: SDP and ISUP, quoted boundary, a preamble */
    assert_int_equal(body_of(MULTIPART_INVITE("multipart/mixed; boundary=\"unique-boundary-1\"",
                                              "preamble\r\n"
                                              "--unique-boundary-1\r\n"
                                              "Content-Type: application/ISUP;version=itu-t92+\r\n"
                                              "\r\n"
                                              "\x01\x02\x03--unique-boundary-1 not a delimiter\r\n"
                                              "--unique-boundary-1\r\n"
                                              "Content-Type: application/sdp\r\n"
                                              "\r\n" SDP_TEXT "\r\n"
                                              "--unique-boundary-1--\r\n"),
                             &b),
                     SDP_OK);
    assert_body(b, SDP_TEXT);
    /* nested: multipart/alternative inside multipart/mixed, LF line ends */
    assert_int_equal(body_of(MULTIPART_INVITE("multipart/mixed;boundary=outer",
                                              "--outer\n"
                                              "Content-Type: multipart/alternative; boundary=in\n"
                                              "\n"
                                              "--in\n"
                                              "Content-Type: text/plain\n\nhello\n"
                                              "--in\n"
                                              "Content-Type: application/sdp\n\nv=0\n"
                                              "--in--\n"
                                              "--outer--\n"),
                             &b),
                     SDP_OK);
    assert_body(b, "v=0");
    /* no SDP part; no boundary; an unterminated last part */
    assert_int_equal(
        body_of(MULTIPART_INVITE("multipart/mixed;boundary=b",
                                 "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n"),
                &b),
        SDP_NO_BODY);
    assert_int_equal(body_of(MULTIPART_INVITE("multipart/mixed", "--b\r\n\r\n"), &b), SDP_NO_BODY);
    assert_int_equal(
        body_of(MULTIPART_INVITE("multipart/mixed;boundary=b",
                                 "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n"),
                &b),
        SDP_NO_BODY);
}

static void test_body_every_prefix(void **state)
{
    (void)state;
    static const char msg[] =
        MULTIPART_INVITE("multipart/mixed; boundary=\"zz\"",
                         "--zz\r\nContent-Type: application/sdp\r\n\r\n" SDP_TEXT "\r\n--zz--\r\n");
    size_t n = strlen(msg);
    for (size_t i = 0; i <= n; i++) {
        uint8_t *copy = malloc(i ? i : 1);
        memcpy(copy, msg, i);
        sip_msg_t sip;
        if (sip_parse(copy, i, &sip) == SIP_OK) {
            ha_bytes_t b;
            if (sdp_find_body(copy, i, &sip, &b) == SDP_OK) {
                assert_true(b.ptr >= copy && b.ptr + b.len <= copy + i);
                assert_true(i == n || b.len <= strlen(SDP_TEXT));
            }
        }
        free(copy);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4566_example),
        cmocka_unit_test(test_media_level_overrides),
        cmocka_unit_test(test_rtcp_attributes),
        cmocka_unit_test(test_hold_and_ended_streams),
        cmocka_unit_test(test_addresses_not_tracked),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_body_plain),
        cmocka_unit_test(test_body_multipart),
        cmocka_unit_test(test_body_every_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The console trace: escaping of wire bytes (no terminal escape sequence can
 * get through), filters, the summary line and the per-call summary. */
#include "test_util.h"

#include "hepagent/rules.h"
#include "hepagent/trace.h"

static char *escaped(const char *in, size_t n)
{
    static char buf[4096];
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    trace_escape(f, (const uint8_t *)in, n);
    fclose(f);
    return buf;
}

static void test_escape(void **state)
{
    (void)state;
    assert_string_equal(escaped("a\r\nb\nc\td", 8), "a\nb\nc\td");
    /* ESC [ 2 J (clear screen), a bare CR, BEL, DEL, NUL */
    assert_string_equal(escaped("x\033[2Jy\rz\007\177\0", 11), "x\\x1b[2Jy\\x0dz\\x07\\x7f\\x00");
    /* C1 CSI as a single byte and as UTF-8 (U+009B) */
    assert_string_equal(escaped("\x9b"
                                "31m",
                                4),
                        "\\x9b31m");
    assert_string_equal(escaped("\xc2\x9b"
                                "31m",
                                5),
                        "\\xc2\\x9b31m");
    /* valid UTF-8 text passes; bidi overrides and invalid sequences do not */
    assert_string_equal(escaped("caf\xc3\xa9 \xe2\x82\xac", 9), "caf\xc3\xa9 \xe2\x82\xac");
    assert_string_equal(escaped("\xe2\x80\xae"
                                "abc",
                                6),
                        "\\xe2\\x80\\xaeabc");
    assert_string_equal(escaped("\xc3", 1), "\\xc3");
    assert_string_equal(escaped("\xc0\xaf", 2), "\\xc0\\xaf");          /* overlong */
    assert_string_equal(escaped("\xed\xa0\x80", 3), "\\xed\\xa0\\x80"); /* surrogate */
}

static packet_t pkt4(void)
{
    packet_t p;
    memset(&p, 0, sizeof(p));
    p.ip_version = 4;
    p.src_addr[0] = 10;
    p.src_addr[3] = 1;
    p.dst_addr[0] = 10;
    p.dst_addr[3] = 2;
    p.src_port = 5060;
    p.dst_port = 5062;
    return p;
}

static const char INVITE[] = "INVITE sip:bob@b SIP/2.0\r\nFrom: Alice <sip:alice@a>;tag=1\r\n"
                             "To: <sip:bob@b>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\r\n";
static const char OK200[] = "SIP/2.0 200 OK\r\nFrom: Alice <sip:alice@a>;tag=1\r\n"
                            "To: <sip:bob@b>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\r\n";
static const char EVIL[] = "MESSAGE sip:x@y SIP/2.0\r\nFrom: \033]0;pwned\007<sip:e@v>\r\n"
                           "Call-ID: \033[31mred\r\nCSeq: 1 MESSAGE\r\n\r\n";

static char *run(const trace_options_t *o, const char *const *msgs, size_t n)
{
    static char buf[16384];
    memset(buf, 0, sizeof(buf));
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    trace_t *t = trace_new(o, f);
    packet_t p = pkt4();
    for (size_t i = 0; i < n; i++) {
        sip_msg_t sip;
        sip_parse((const uint8_t *)msgs[i], strlen(msgs[i]), &sip);
        if (trace_wants(t, &sip))
            trace_message(t, &p, RULE_TRANSPORT_UDP, (const uint8_t *)msgs[i], strlen(msgs[i]),
                          &sip, 1700000000, 123456);
    }
    if (o->call_summary) trace_print_calls(t);
    trace_free(t);
    fclose(f);
    return buf;
}

static void test_full_and_summary(void **state)
{
    (void)state;
    trace_options_t o = {.call_summary = 1};
    const char *msgs[] = {INVITE, OK200};
    char *out = run(&o, msgs, 2);
    assert_non_null(strstr(out, "2023-11-14 22:13:20.123456 UDP 10.0.0.1:5060 -> 10.0.0.2:5062 "
                                "(107 bytes) INVITE\nINVITE sip:bob@b SIP/2.0\nFrom: Alice"));
    assert_non_null(strstr(out, "(103 bytes) 200 OK (INVITE)\n"));
    assert_non_null(strstr(out, "1 calls\n  c1  INVITE, 2 messages, 0s, final 200 (INVITE)\n"));
    trace_options_t s = {.summary = 1};
    out = run(&s, msgs, 2);
    assert_string_equal(out, "22:13:20.123456 UDP  10.0.0.1:5060 -> 10.0.0.2:5062 INVITE c1\n"
                             "22:13:20.123456 UDP  10.0.0.1:5060 -> 10.0.0.2:5062 200 OK "
                             "(INVITE) c1\n");
}

static void test_filters(void **state)
{
    (void)state;
    const char *msgs[] = {INVITE, OK200, EVIL};
    trace_options_t by_method = {.summary = 1, .method = "invite"};
    char *out = run(&by_method, msgs, 3);
    assert_non_null(strstr(out, "INVITE c1"));
    assert_non_null(strstr(out, "200 OK (INVITE) c1")); /* responses by their CSeq */
    assert_null(strstr(out, "MESSAGE"));
    trace_options_t by_from = {.summary = 1, .from = "ALICE"};
    out = run(&by_from, msgs, 3);
    assert_non_null(strstr(out, "c1"));
    assert_null(strstr(out, "MESSAGE"));
    trace_options_t by_to = {.summary = 1, .to = "tag=2"};
    out = run(&by_to, msgs, 3);
    assert_null(strstr(out, "INVITE c1\n"));
    assert_non_null(strstr(out, "200 OK"));
    trace_options_t by_id = {.summary = 1, .call_id = "nope"};
    assert_string_equal(run(&by_id, msgs, 3), "");
}

static void test_no_injection_even_with_color(void **state)
{
    (void)state;
    const char *msgs[] = {EVIL};
    trace_options_t o = {.color = 1, .call_summary = 1};
    char *out = run(&o, msgs, 1);
    /* our own color codes are ESC '[' digits 'm'; the wire's ESC ']' and
     * ESC "[31m" must appear escaped */
    assert_non_null(strstr(out, "\\x1b]0;pwned\\x07"));
    assert_non_null(strstr(out, "\\x1b[31mred"));
    for (const char *p = strchr(out, '\033'); p; p = strchr(p + 1, '\033')) {
        assert_int_equal(p[1], '[');
        const char *q = p + 2;
        while (*q >= '0' && *q <= '9')
            q++;
        assert_int_equal(*q, 'm');
    }
    assert_null(strchr(out, '\007'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_full_and_summary),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_no_injection_even_with_color),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

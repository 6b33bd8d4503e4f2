/* Rule matching: ports and ranges on either side, CIDR v4/v6, transports,
 * methods and exclusions, responses by their CSeq method, first match wins. */
#include "test_util.h"

#include "hepagent/config.h"
#include "hepagent/rules.h"

#include <arpa/inet.h>

static config_t *load(const char *rules)
{
    char doc[4096], err[512];
    snprintf(doc, sizeof(doc), "{\"rules\":%s,\"collectors\":[]}", rules);
    config_t *cfg = NULL;
    if (config_parse(doc, "t", &cfg, err, sizeof(err)) != HA_OK) fail_msg("%s", err);
    return cfg;
}

typedef struct {
    uint8_t src[16], dst[16];
    rules_input_t in;
} msg_t;

static msg_t msg(const char *src, uint16_t sport, const char *dst, uint16_t dport,
                 unsigned transport, const char *method)
{
    msg_t m;
    memset(&m, 0, sizeof(m));
    int v6 = strchr(src, ':') != NULL;
    inet_pton(v6 ? AF_INET6 : AF_INET, src, m.src);
    inet_pton(v6 ? AF_INET6 : AF_INET, dst, m.dst);
    m.in.ip_version = v6 ? 6 : 4;
    m.in.src_port = sport;
    m.in.dst_port = dport;
    m.in.transport = transport;
    m.in.method = (ha_bytes_t){(const uint8_t *)method, strlen(method)};
    return m;
}

static const char *match_name(const config_t *cfg, msg_t *m)
{
    m->in.src_addr = m->src;
    m->in.dst_addr = m->dst;
    const rule_t *r = rules_match(&cfg->rules, &m->in);
    return r ? r->name : "(none)";
}

#define EXPECT(cfg, m, name)                                                                       \
    do {                                                                                           \
        msg_t mm = (m);                                                                            \
        assert_string_equal(match_name(cfg, &mm), name);                                           \
    } while (0)

enum { U = RULE_TRANSPORT_UDP, T = RULE_TRANSPORT_TCP, S = RULE_TRANSPORT_SCTP };

static void test_ports_and_ranges(void **state)
{
    (void)state;
    config_t *cfg = load("[{\"name\":\"p\",\"ports\":[5060,\"5080-5090\"]}]");
    EXPECT(cfg, msg("1.1.1.1", 5060, "2.2.2.2", 40000, U, "INVITE"), "p");
    EXPECT(cfg, msg("1.1.1.1", 40000, "2.2.2.2", 5060, U, "INVITE"), "p"); /* either side */
    EXPECT(cfg, msg("1.1.1.1", 40000, "2.2.2.2", 5080, U, "INVITE"), "p");
    EXPECT(cfg, msg("1.1.1.1", 5090, "2.2.2.2", 40000, U, "INVITE"), "p");
    EXPECT(cfg, msg("1.1.1.1", 5091, "2.2.2.2", 5079, U, "INVITE"), "(none)");
    EXPECT(cfg, msg("1.1.1.1", 5061, "2.2.2.2", 5062, U, "INVITE"), "(none)");
    config_free(cfg);
}

static void test_cidr_v4_v6(void **state)
{
    (void)state;
    config_t *cfg = load("[{\"name\":\"h\",\"hosts\":[\"10.0.0.0/8\",\"2001:db8::/32\","
                         "\"192.0.2.7\",\"172.16.5.9/12\"]}]");
    EXPECT(cfg, msg("10.255.1.2", 1, "8.8.8.8", 2, U, "BYE"), "h");
    EXPECT(cfg, msg("8.8.8.8", 1, "10.0.0.1", 2, U, "BYE"), "h");
    EXPECT(cfg, msg("11.0.0.1", 1, "8.8.8.8", 2, U, "BYE"), "(none)");
    EXPECT(cfg, msg("192.0.2.7", 1, "8.8.8.8", 2, U, "BYE"), "h");
    EXPECT(cfg, msg("192.0.2.8", 1, "8.8.8.8", 2, U, "BYE"), "(none)");
    /* host bits in the rule are cleared: 172.16.5.9/12 is 172.16.0.0/12 */
    EXPECT(cfg, msg("172.31.255.255", 1, "8.8.8.8", 2, U, "BYE"), "h");
    EXPECT(cfg, msg("172.32.0.0", 1, "8.8.8.8", 2, U, "BYE"), "(none)");
    EXPECT(cfg, msg("2001:db8:ffff::1", 1, "2001:4860::1", 2, U, "BYE"), "h");
    EXPECT(cfg, msg("2001:db9::1", 1, "2001:4860::1", 2, U, "BYE"), "(none)");
    /* an IPv4-mapped address is not an IPv4 address for the rules */
    EXPECT(cfg, msg("::ffff:10.0.0.1", 1, "::1", 2, U, "BYE"), "(none)");
    config_free(cfg);
}

static void test_prefix_edges(void **state)
{
    (void)state;
    config_t *cfg = load("[{\"name\":\"all4\",\"hosts\":[\"0.0.0.0/0\"]},"
                         "{\"name\":\"odd6\",\"hosts\":[\"2001:db8:8000::/33\"]}]");
    EXPECT(cfg, msg("203.0.113.1", 1, "198.51.100.1", 2, U, "BYE"), "all4");
    EXPECT(cfg, msg("2001:db8:8000::1", 1, "::1", 2, U, "BYE"), "odd6");
    EXPECT(cfg, msg("2001:db8:7fff::1", 1, "::1", 2, U, "BYE"), "(none)");
    config_free(cfg);
}

static void test_transport(void **state)
{
    (void)state;
    config_t *cfg = load("[{\"name\":\"tcp\",\"transport\":[\"tcp\"]},"
                         "{\"name\":\"rest\",\"transport\":[\"udp\",\"sctp\"]}]");
    EXPECT(cfg, msg("1.1.1.1", 1, "2.2.2.2", 2, T, "INVITE"), "tcp");
    EXPECT(cfg, msg("1.1.1.1", 1, "2.2.2.2", 2, U, "INVITE"), "rest");
    EXPECT(cfg, msg("1.1.1.1", 1, "2.2.2.2", 2, S, "INVITE"), "rest");
    EXPECT(cfg, msg("1.1.1.1", 1, "2.2.2.2", 2, RULE_TRANSPORT_WS, "INVITE"), "(none)");
    config_free(cfg);
}

static void test_methods_and_first_match(void **state)
{
    (void)state;
    /* responses carry their CSeq method in the input, as the pipeline does */
    config_t *cfg = load("[{\"name\":\"no-options\",\"methods\":[\"OPTIONS\"],\"action\":\"drop\"},"
                         "{\"name\":\"calls\",\"methods\":[\"INVITE\",\"BYE\",\"ACK\"]},"
                         "{\"name\":\"but-register\",\"methods_exclude\":[\"REGISTER\"]}]");
    EXPECT(cfg, msg("1.1.1.1", 1, "2.2.2.2", 2, U, "OPTIONS"), "no-options");
    EXPECT(cfg, msg("1.1.1.1", 1, "2.2.2.2", 2, U, "INVITE"), "calls");
    EXPECT(cfg, msg("1.1.1.1", 1, "2.2.2.2", 2, U, "MESSAGE"), "but-register");
    EXPECT(cfg, msg("1.1.1.1", 1, "2.2.2.2", 2, U, "REGISTER"), "(none)");
    /* methods are case-sensitive tokens (RFC 3261 7.1) */
    EXPECT(cfg, msg("1.1.1.1", 1, "2.2.2.2", 2, U, "invite"), "but-register");
    EXPECT(cfg, msg("1.1.1.1", 1, "2.2.2.2", 2, U, "INVITEX"), "but-register");
    assert_int_equal(cfg->rules.items[0].action, RULE_DROP);
    assert_int_equal(cfg->rules.items[1].action, RULE_SEND);
    config_free(cfg);
}

static void test_all_fields_and_capture_id(void **state)
{
    (void)state;
    config_t *cfg = load("[{\"name\":\"x\",\"ports\":[5060],\"hosts\":[\"10.0.0.0/8\"],"
                         "\"transport\":[\"udp\"],\"methods\":[\"INVITE\"],\"capture_id\":99}]");
    EXPECT(cfg, msg("10.0.0.1", 5060, "8.8.8.8", 5060, U, "INVITE"), "x");
    EXPECT(cfg, msg("11.0.0.1", 5060, "8.8.8.8", 5060, U, "INVITE"), "(none)");
    EXPECT(cfg, msg("10.0.0.1", 5061, "8.8.8.8", 5061, U, "INVITE"), "(none)");
    EXPECT(cfg, msg("10.0.0.1", 5060, "8.8.8.8", 5060, T, "INVITE"), "(none)");
    EXPECT(cfg, msg("10.0.0.1", 5060, "8.8.8.8", 5060, U, "BYE"), "(none)");
    assert_true(cfg->rules.items[0].has_capture_id);
    assert_int_equal(cfg->rules.items[0].capture_id, 99);
    config_free(cfg);
}

static void test_parsers(void **state)
{
    (void)state;
    rule_cidr_t c;
    assert_int_equal(rules_parse_cidr("192.0.2.1", &c), HA_OK);
    assert_int_equal(c.prefix, 32);
    assert_int_equal(rules_parse_cidr("::/0", &c), HA_OK);
    assert_int_equal(c.prefix, 0);
    assert_int_equal(rules_parse_cidr("1.2.3.4/-1", &c), HA_EINVAL);
    assert_int_equal(rules_parse_cidr("1.2.3.4/1x", &c), HA_EINVAL);
    assert_int_equal(rules_parse_cidr("1.2.3/8", &c), HA_EINVAL);
    rule_port_range_t r;
    assert_int_equal(rules_parse_port_range("1-65535", &r), HA_OK);
    assert_int_equal(rules_parse_port_range("0", &r), HA_EINVAL);
    assert_int_equal(rules_parse_port_range("5060-", &r), HA_EINVAL);
    assert_int_equal(rules_parse_port_range("-5060", &r), HA_EINVAL);
    assert_int_equal(rules_parse_port_range("123456", &r), HA_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ports_and_ranges),
        cmocka_unit_test(test_cidr_v4_v6),
        cmocka_unit_test(test_prefix_edges),
        cmocka_unit_test(test_transport),
        cmocka_unit_test(test_methods_and_first_match),
        cmocka_unit_test(test_all_fields_and_capture_id),
        cmocka_unit_test(test_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

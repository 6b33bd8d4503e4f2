/* Config validation: one test per kind of error, each checking the message
 * names the JSON path and the reason; plus the embedded default and the
 * command-line overrides. */
#include "test_util.h"

#include "hepagent/config.h"
#include "hepagent/config_schema.h"

static const char *MINIMAL_RULES = "\"rules\":[{\"name\":\"sip\"}],"
                                   "\"collectors\":[{\"url\":\"udp://127.0.0.1:9060\"}]";

/* Parses doc and expects failure with exactly `want` as the message (or a
 * prefix of it when prefix is set). */
static void expect_error(const char *doc, const char *want, int prefix)
{
    config_t *cfg = NULL;
    char err[512] = "";
    int rc = config_parse(doc, "test.json", &cfg, err, sizeof(err));
    assert_int_equal(rc, HA_EINVAL);
    assert_null(cfg);
    if (prefix ? strncmp(err, want, strlen(want)) != 0 : strcmp(err, want) != 0)
        fail_msg("got:  %s\nwant: %s", err, want);
}

static config_t *expect_ok(const char *doc)
{
    config_t *cfg = NULL;
    char err[512] = "";
    if (config_parse(doc, "test.json", &cfg, err, sizeof(err)) != HA_OK)
        fail_msg("unexpected error: %s", err);
    return cfg;
}

/* Builds {"rules":[...RULE...],"collectors":[...]} around a rule body. */
static void expect_rule_error(const char *rule, const char *want)
{
    char doc[2048];
    snprintf(doc, sizeof(doc),
             "{\"rules\":[{\"name\":\"a\"},{\"name\":\"b\"},%s],"
             "\"collectors\":[{\"url\":\"udp://127.0.0.1:9060\"}]}",
             rule);
    expect_error(doc, want, 0);
}

static void test_syntax_error_has_position(void **state)
{
    (void)state;
    expect_error("{\n  \"rules\": [\n    {\"name\" \"x\"}\n  ]\n}", "config: test.json:3:", 1);
    expect_error("{\"rules\": [", "config: test.json:1:12: JSON syntax error: unexpected end", 1);
    expect_error("{} x", "config: test.json:1:4: JSON syntax error: text after the document", 0);
}

static void test_comments_are_allowed(void **state)
{
    (void)state;
    char doc[512];
    snprintf(doc, sizeof(doc), "/* head */ {%s // tail\n}", MINIMAL_RULES);
    config_free(expect_ok(doc));
}

static void test_unknown_key(void **state)
{
    (void)state;
    expect_error("{\"rulez\":[]}",
                 "config: (top): unknown key \"rulez\" (expected one of: agent, capture, "
                 "decode, reassembly, rules, collectors, delivery, stats, inputs, dedup, media, tls_decrypt)",
                 0);
    expect_rule_error("{\"name\":\"c\",\"port\":[5060]}",
                      "config: rules[2]: unknown key \"port\" (expected one of: name, ports, "
                      "hosts, transport, methods, methods_exclude, capture_id, inputs, "
                      "proto_types, action, node_name, auth_key, strip_auth_key, "
                      "add_correlation_id, redact)");
}

static void test_wrong_type(void **state)
{
    (void)state;
    char doc[512];
    snprintf(doc, sizeof(doc), "{\"agent\":{\"capture_id\":\"2001\"},%s}", MINIMAL_RULES);
    expect_error(doc, "config: agent.capture_id: must be an integer, not a string", 0);
    snprintf(doc, sizeof(doc), "{\"agent\":[],%s}", MINIMAL_RULES);
    expect_error(doc, "config: agent: must be an object, not an array", 0);
    expect_error("{\"rules\":{}}", "config: rules: must be an array, not an object", 0);
    expect_rule_error("{\"name\":\"c\",\"hosts\":[10]}",
                      "config: rules[2].hosts[0]: must be a string, not an integer");
    snprintf(doc, sizeof(doc), "{\"capture\":[{\"interface\":\"lo\",\"promisc\":1}],%s}",
             MINIMAL_RULES);
    expect_error(doc, "config: capture[0].promisc: must be true or false, not an integer", 0);
}

static void test_out_of_range(void **state)
{
    (void)state;
    char doc[512];
    snprintf(doc, sizeof(doc), "{\"agent\":{\"capture_id\":4294967296},%s}", MINIMAL_RULES);
    expect_error(doc, "config: agent.capture_id: 4294967296 is out of range (0..4294967295)", 0);
    snprintf(doc, sizeof(doc), "{\"agent\":{\"capture_id\":-1},%s}", MINIMAL_RULES);
    expect_error(doc, "config: agent.capture_id: -1 is out of range (0..4294967295)", 0);
    snprintf(doc, sizeof(doc), "{\"capture\":[{\"interface\":\"lo\",\"snaplen\":10}],%s}",
             MINIMAL_RULES);
    expect_error(doc, "config: capture[0].snaplen: 10 is out of range (64..262144)", 0);
    snprintf(doc, sizeof(doc), "{\"media\":{\"qos\":true,\"max_streams\":0},%s}", MINIMAL_RULES);
    expect_error(doc, "config: media.max_streams: 0 is out of range (1..10000000)", 0);
    snprintf(doc, sizeof(doc), "{\"media\":{\"stream_timeout_ms\":999},%s}", MINIMAL_RULES);
    expect_error(doc, "config: media.stream_timeout_ms: 999 is out of range (1000..86400000)", 0);
}

/* The media section: off by default (nothing tracked), its keys read. */
static void test_media_section(void **state)
{
    (void)state;
    char doc[512];
    snprintf(doc, sizeof(doc), "{%s}", MINIMAL_RULES);
    config_t *cfg = expect_ok(doc);
    assert_false(cfg->media.rtcp || cfg->media.qos);
    assert_int_equal(cfg->media.max_streams, MEDIA_DEFAULT_MAX_STREAMS);
    assert_int_equal(cfg->media.stream_timeout_ms, MEDIA_DEFAULT_STREAM_TIMEOUT_MS);
    assert_int_equal(cfg->media.grace_ms, MEDIA_DEFAULT_GRACE_MS);
    assert_int_equal(cfg->media.qos_interval_s, 0);
    config_free(cfg);
    snprintf(doc, sizeof(doc),
             "{\"media\":{\"rtcp\":true,\"qos\":true,\"qos_interval_s\":10,"
             "\"max_streams\":7,\"stream_timeout_ms\":60000,\"grace_ms\":0},%s}",
             MINIMAL_RULES);
    cfg = expect_ok(doc);
    assert_true(cfg->media.rtcp && cfg->media.qos);
    assert_int_equal(cfg->media.qos_interval_s, 10);
    assert_int_equal(cfg->media.max_streams, 7);
    assert_int_equal(cfg->media.stream_timeout_ms, 60000);
    assert_int_equal(cfg->media.grace_ms, 0);
    config_free(cfg);
    snprintf(doc, sizeof(doc), "{\"media\":{\"rtpc\":true},%s}", MINIMAL_RULES);
    expect_error(doc,
                 "config: media: unknown key \"rtpc\" (expected one of: rtcp, qos, "
                 "qos_interval_s, max_streams, stream_timeout_ms, grace_ms, rtp_snap)",
                 0);
}

static void test_bad_cidr(void **state)
{
    (void)state;
    expect_rule_error("{\"name\":\"c\",\"hosts\":[\"10.0.0.0/33\"]}",
                      "config: rules[2].hosts[0]: \"10.0.0.0/33\" is not an IP address or CIDR");
    expect_rule_error("{\"name\":\"c\",\"hosts\":[\"10.0.0.1\",\"2001:db8::/129\"]}",
                      "config: rules[2].hosts[1]: \"2001:db8::/129\" is not an IP address or "
                      "CIDR");
    expect_rule_error("{\"name\":\"c\",\"hosts\":[\"example.com\"]}",
                      "config: rules[2].hosts[0]: \"example.com\" is not an IP address or CIDR");
    expect_rule_error("{\"name\":\"c\",\"hosts\":[\"10.0.0.0/\"]}",
                      "config: rules[2].hosts[0]: \"10.0.0.0/\" is not an IP address or CIDR");
}

static void test_bad_port(void **state)
{
    (void)state;
    expect_rule_error("{\"name\":\"c\",\"ports\":[70000]}",
                      "config: rules[2].ports[0]: 70000 is out of range (1..65535)");
    expect_rule_error("{\"name\":\"c\",\"ports\":[5060,\"5090-5080\"]}",
                      "config: rules[2].ports[1]: \"5090-5080\" is not a port (1-65535) or range "
                      "\"low-high\"");
    expect_rule_error("{\"name\":\"c\",\"ports\":[\"sip\"]}",
                      "config: rules[2].ports[0]: \"sip\" is not a port (1-65535) or range "
                      "\"low-high\"");
    expect_rule_error("{\"name\":\"c\",\"ports\":[true]}",
                      "config: rules[2].ports[0]: must be a port number or a \"low-high\" string, "
                      "not a boolean");
}

static void test_empty_and_duplicate_name(void **state)
{
    (void)state;
    expect_rule_error("{\"name\":\"\"}", "config: rules[2].name: must not be empty");
    expect_rule_error("{\"name\":\"a\"}",
                      "config: rules[2].name: \"a\" is already the name of rules[0]");
    expect_rule_error("{\"ports\":[5060]}", "config: rules[2]: missing required key \"name\"");
}

static void test_bad_url(void **state)
{
    (void)state;
    const struct {
        const char *url, *why;
    } cases[] = {
        {"ftp://1.2.3.4:9060", "\"ftp://1.2.3.4:9060\" must start with udp://, tcp:// or tls://"},
        {"udp://1.2.3.4", "\"udp://1.2.3.4\" needs a host and a port, as udp://HOST:PORT"},
        {"udp://:9060", "\"udp://:9060\" needs a host and a port, as udp://HOST:PORT"},
        {"udp://1.2.3.4:0", "\"udp://1.2.3.4:0\": port must be 1-65535"},
        {"udp://1.2.3.4:65536", "\"udp://1.2.3.4:65536\": port must be 1-65535"},
        {"udp://::1:9060", "\"udp://::1:9060\": an IPv6 address is written [addr]:port"},
        {"tcp://[::1]9060", "\"tcp://[::1]9060\": an IPv6 address is written [addr]:port"},
        {"udp://a b:9060", "\"udp://a b:9060\": bad character in host"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char doc[512], want[512];
        snprintf(doc, sizeof(doc),
                 "{\"rules\":[{\"name\":\"a\"}],\"collectors\":[{\"url\":\"%s\"}]}", cases[i].url);
        snprintf(want, sizeof(want), "config: collectors[0].url: %s", cases[i].why);
        expect_error(doc, want, 0);
    }
    expect_error("{\"rules\":[{\"name\":\"a\"}],\"collectors\":[{\"url\":\"udp://h:1\"},"
                 "{\"url\":\"udp://h:1\"}]}",
                 "config: collectors[1].url: \"udp://h:1\" is already collectors[0]", 0);
    expect_error("{\"rules\":[{\"name\":\"a\"}],\"collectors\":[{\"compress\":true}]}",
                 "config: collectors[0]: missing required key \"url\"", 0);
}

static void test_missing_and_empty_lists(void **state)
{
    (void)state;
    expect_error("{\"collectors\":[]}", "config: (top): missing required key \"rules\"", 0);
    expect_error("{\"rules\":[{\"name\":\"a\"}]}",
                 "config: (top): missing required key \"collectors\"", 0);
    expect_error("{\"rules\":[],\"collectors\":[]}",
                 "config: rules: must hold at least one rule (without rules nothing is sent)", 0);
    expect_rule_error("{\"name\":\"c\",\"ports\":[]}",
                      "config: rules[2].ports: must not be empty (leave the key out to match "
                      "everything)");
}

static void test_bad_enums(void **state)
{
    (void)state;
    expect_rule_error("{\"name\":\"c\",\"transport\":[\"udp\",\"quic\"]}",
                      "config: rules[2].transport[1]: \"quic\" is not one of \"udp\", \"tcp\", "
                      "\"sctp\", \"ws\", \"tls\", \"wss\"");
    expect_rule_error("{\"name\":\"c\",\"methods\":[\"IN VITE\"]}",
                      "config: rules[2].methods[0]: \"IN VITE\" is not a SIP method name");
    expect_rule_error("{\"name\":\"c\",\"action\":\"forward\"}",
                      "config: rules[2].action: \"forward\" is not one of send, drop");
    char doc[512];
    snprintf(doc, sizeof(doc), "{\"agent\":{\"log_level\":\"loud\"},%s}", MINIMAL_RULES);
    expect_error(doc, "config: agent.log_level: \"loud\" is not one of error, warn, info, debug",
                 0);
}

static void test_reassembly_limits(void **state)
{
    (void)state;
    char doc[512];
    snprintf(doc, sizeof(doc), "{\"reassembly\":{\"tcp_stream_kb\":1024,\"tcp_memory_kb\":512},%s}",
             MINIMAL_RULES);
    expect_error(
        doc, "config: reassembly: tcp_memory_kb (512) must be at least tcp_stream_kb (1024)", 0);
    snprintf(doc, sizeof(doc), "{\"reassembly\":{\"ip_timeout_ms\":5},%s}", MINIMAL_RULES);
    expect_error(doc, "config: reassembly.ip_timeout_ms: 5 is out of range (100..600000)", 0);
    snprintf(doc, sizeof(doc), "{\"reassembly\":{\"tcp_streams\":10,\"ip_memory_kb\":128},%s}",
             MINIMAL_RULES);
    config_t *cfg = expect_ok(doc);
    assert_int_equal(cfg->tcp.max_streams, 10);
    assert_int_equal(cfg->ipfrag.memcap, 128 * 1024);
    config_free(cfg);
}

static void test_delivery_and_collector_options(void **state)
{
    (void)state;
    expect_error("{\"rules\":[{\"name\":\"a\"}],\"collectors\":[],"
                 "\"delivery\":{\"mode\":\"random\"}}",
                 "config: delivery.mode: \"random\" is not one of all, failover, hash", 0);
    expect_error("{\"rules\":[{\"name\":\"a\"}],\"collectors\":[],"
                 "\"delivery\":{\"reconnect_min_ms\":5000,\"reconnect_max_ms\":100}}",
                 "config: delivery: reconnect_min_ms (5000) is above reconnect_max_ms (100)", 0);
    expect_error("{\"rules\":[{\"name\":\"a\"}],\"collectors\":[{\"url\":\"udp://h:1\","
                 "\"tls\":{\"insecure\":true}}]}",
                 "config: collectors[0].tls: only for tls:// collectors (the url is udp://h:1)", 0);
    expect_error("{\"rules\":[{\"name\":\"a\"}],\"collectors\":[{\"url\":\"tls://h:1\","
                 "\"tls\":{\"insecure\":true,\"ca_file\":\"/x\"}}]}",
                 "config: collectors[0].tls: \"insecure\" verifies nothing: leave out "
                 "ca_file/ca_dir, or it",
                 0);
    expect_error("{\"rules\":[{\"name\":\"a\"}],\"collectors\":[{\"url\":\"tcp://h:1\","
                 "\"spool\":true}]}",
                 "config: collectors[0].spool: needs delivery.spool_dir", 0);
    expect_error("{\"rules\":[{\"name\":\"a\"}],\"collectors\":[{\"url\":\"tcp://h:1\","
                 "\"drop\":\"random\"}]}",
                 "config: collectors[0].drop: \"random\" is not one of oldest, newest", 0);
    config_t *cfg =
        expect_ok("{\"rules\":[{\"name\":\"a\"}],\"delivery\":{\"mode\":\"hash\",\"spool_dir\":"
                  "\"/tmp/s\",\"spool_mb\":10},\"collectors\":[{\"url\":\"tls://h.example:9061\","
                  "\"queue_kb\":128,\"queue_packets\":100,\"drop\":\"newest\",\"spool\":true,"
                  "\"compress\":true,\"compress_min_bytes\":1000,"
                  "\"tls\":{\"ca_file\":\"/ca.pem\",\"server_name\":\"homer\"}}]}");
    const collector_config_t *c = &cfg->collectors[0];
    assert_int_equal(cfg->delivery.mode, DELIVERY_HASH);
    assert_int_equal(cfg->delivery.spool_mb, 10);
    assert_int_equal(c->transport, COLLECTOR_TLS);
    assert_int_equal(c->queue_kb, 128);
    assert_int_equal(c->queue_packets, 100);
    assert_false(c->drop_oldest);
    assert_true(c->spool);
    assert_int_equal(c->compress_min_bytes, 1000);
    assert_string_equal(c->ca_file, "/ca.pem");
    assert_string_equal(c->server_name, "homer");
    collector_config_t copy;
    assert_int_equal(config_collector_copy(&copy, c), HA_OK);
    assert_true(config_collector_equal(&copy, c));
    copy.queue_kb++;
    assert_false(config_collector_equal(&copy, c));
    config_collector_free(&copy);
    config_free(cfg);
}

static void test_capture_source(void **state)
{
    (void)state;
    char doc[512];
    snprintf(doc, sizeof(doc), "{\"capture\":[{\"interface\":\"lo\",\"file\":\"x.pcap\"}],%s}",
             MINIMAL_RULES);
    expect_error(doc, "config: capture[0]: needs exactly one of \"interface\" and \"file\"", 0);
    snprintf(doc, sizeof(doc), "{\"capture\":[{\"bpf\":\"port 5060\"}],%s}", MINIMAL_RULES);
    expect_error(doc, "config: capture[0]: needs exactly one of \"interface\" and \"file\"", 0);
}

static void test_embedded_default(void **state)
{
    (void)state;
    config_t *cfg = expect_ok(config_default_json);
    assert_int_equal(cfg->capture_id, 2001);
    assert_int_equal(cfg->source_count, 1);
    assert_string_equal(cfg->sources[0].interface, "any");
    assert_null(cfg->sources[0].bpf);
    assert_int_equal(cfg->rules.count, 1);
    const rule_t *r = &cfg->rules.items[0];
    assert_string_equal(r->name, "sip");
    assert_int_equal(r->port_count, 1);
    assert_int_equal(r->ports[0].low, 5060);
    assert_int_equal(r->ports[0].high, 5090);
    assert_int_equal(r->transports, RULE_TRANSPORT_UDP | RULE_TRANSPORT_TCP | RULE_TRANSPORT_TLS);
    assert_int_equal(cfg->collector_count, 1);
    assert_string_equal(cfg->collectors[0].url, "udp://127.0.0.1:9060");
    assert_int_equal(cfg->collectors[0].transport, COLLECTOR_UDP);
    assert_int_equal(cfg->collectors[0].port, 9060);
    config_free(cfg);
}

static void test_conf_file_and_missing_file(void **state)
{
    (void)state;
    config_t *cfg = NULL;
    char err[512];
    assert_int_equal(
        config_load_file(TEST_SOURCE_DIR "/../conf/hepagent.json", &cfg, err, sizeof(err)), HA_OK);
    config_free(cfg);
    assert_int_equal(config_load_file("/nonexistent/h.json", &cfg, err, sizeof(err)), HA_EINVAL);
    assert_string_equal(err, "config: /nonexistent/h.json: cannot open: No such file or directory");
}

static void test_overrides(void **state)
{
    (void)state;
    config_t *cfg = expect_ok(config_default_json);
    const char *ifs[] = {"lo", NULL};
    const char *files[] = {"a.pcap", NULL};
    const char *cols[] = {"tcp://[::1]:9061", "udp://collector.example:9060", NULL};
    config_overrides_t ov = {.interfaces = ifs,
                             .files = files,
                             .collectors = cols,
                             .bpf = "udp",
                             .snaplen = 1500,
                             .has_capture_id = 1,
                             .capture_id = 7,
                             .node_name = "n1"};
    char err[512];
    assert_int_equal(config_apply_overrides(cfg, &ov, err, sizeof(err)), HA_OK);
    assert_int_equal(cfg->source_count, 2);
    assert_string_equal(cfg->sources[0].interface, "lo");
    assert_string_equal(cfg->sources[1].file, "a.pcap");
    assert_string_equal(cfg->sources[1].bpf, "udp");
    assert_int_equal(cfg->sources[1].snaplen, 1500);
    assert_int_equal(cfg->capture_id, 7);
    assert_string_equal(cfg->node_name, "n1");
    assert_int_equal(cfg->collector_count, 2);
    assert_string_equal(cfg->collectors[0].host, "::1");
    assert_int_equal(cfg->collectors[0].transport, COLLECTOR_TCP);
    assert_string_equal(cfg->collectors[1].host, "collector.example");
    const char *bad[] = {"udp://x", NULL};
    config_overrides_t ov2 = {.collectors = bad};
    assert_int_equal(config_apply_overrides(cfg, &ov2, err, sizeof(err)), HA_EINVAL);
    assert_string_equal(err, "--collector: \"udp://x\" needs a host and a port, as "
                             "udp://HOST:PORT");
    config_free(cfg);
}

/* A config without "capture" captures on "any", like the built-in default;
 * an empty list is refused, since it would capture nothing. */
static void test_no_capture_key(void **state)
{
    (void)state;
    char err[512];
    config_t *cfg;
    config_overrides_t ov = {0};
    char doc[512];
    snprintf(doc, sizeof(doc), "{%s}", MINIMAL_RULES);
    assert_int_equal(config_parse(doc, "t", &cfg, err, sizeof(err)), HA_OK);
    assert_int_equal(config_apply_overrides(cfg, &ov, err, sizeof(err)), HA_OK);
    assert_int_equal(cfg->source_count, 1);
    assert_string_equal(cfg->sources[0].interface, "any");
    assert_int_equal(cfg->sources[0].snaplen, 262144);
    assert_int_equal(cfg->sources[0].buffer_mb, 32);
    config_free(cfg);
    snprintf(doc, sizeof(doc), "{\"capture\":[],%s}", MINIMAL_RULES);
    expect_error(doc,
                 "config: capture: must hold at least one source (leave \"capture\" out to "
                 "capture on \"any\"; empty only with \"inputs\")",
                 0);
}

/* tls_decrypt: key log files, the listener's URL, the bounds; each error
 * names the key. */
static void test_tls_decrypt(void **state)
{
    (void)state;
    char doc[1024];
    snprintf(doc, sizeof(doc),
             "{%s,\"tls_decrypt\":{\"keylog_files\":[\"/run/kamailio/keys\",\"/tmp/b\"],"
             "\"keylog_listen\":\"udp://127.0.0.1:5099\",\"max_sessions\":7,"
             "\"pending_kb\":0,\"pending_ms\":250}}",
             MINIMAL_RULES);
    config_t *cfg = expect_ok(doc);
    const tls_decrypt_options_t *t = &cfg->tls_decrypt;
    assert_int_equal(t->keylog_file_count, 2);
    assert_string_equal(t->keylog_files[1], "/tmp/b");
    assert_string_equal(t->keylog_listen, "udp://127.0.0.1:5099");
    assert_int_equal(t->max_sessions, 7);
    assert_int_equal(t->pending_kb, 0);
    assert_int_equal(t->pending_ms, 250);
    config_free(cfg);
    snprintf(doc, sizeof(doc), "{%s}", MINIMAL_RULES);
    cfg = expect_ok(doc); /* off by default, with the documented bounds */
    assert_int_equal(cfg->tls_decrypt.keylog_file_count, 0);
    assert_null(cfg->tls_decrypt.keylog_listen);
    assert_int_equal(cfg->tls_decrypt.max_sessions, TLS_DECRYPT_DEFAULT_MAX_SESSIONS);
    assert_int_equal(cfg->tls_decrypt.pending_kb, TLS_DECRYPT_DEFAULT_PENDING_KB);
    assert_int_equal(cfg->tls_decrypt.pending_ms, TLS_DECRYPT_DEFAULT_PENDING_MS);
    config_free(cfg);
    static const struct {
        const char *body, *want;
    } bad[] = {
        {"\"keylog_listen\":\"tcp://127.0.0.1:5099\"",
         "config: tls_decrypt.keylog_listen: \"tcp://127.0.0.1:5099\" is not udp://HOST:PORT"},
        {"\"keylog_listen\":\"udp://kamailio:5099\"",
         "config: tls_decrypt.keylog_listen: \"udp://kamailio:5099\": \"kamailio\" is not an IP "
         "address"},
        {"\"keylog_files\":[]",
         "config: tls_decrypt.keylog_files: must not be empty (leave the key out to read no key "
         "log file)"},
        {"\"keylog_files\":[\"a\",7]", "config: tls_decrypt.keylog_files[1]: must be a file name, "
                                       "not 7"},
        {"\"pending_ms\":600001", "config: tls_decrypt.pending_ms: "},
        {"\"max_sessions\":0", "config: tls_decrypt.max_sessions: "},
    };
    for (size_t i = 0; i < HA_ARRAY_LEN(bad); i++) {
        snprintf(doc, sizeof(doc), "{%s,\"tls_decrypt\":{%s}}", MINIMAL_RULES, bad[i].body);
        expect_error(doc, bad[i].want, bad[i].want[strlen(bad[i].want) - 1] == ' ');
    }
}

/* conf/hepagent.json spells out the defaults: each value it writes must be
 * the schema's default, or the documented file and the code disagree. */
static void test_conf_file_says_the_defaults(void **state)
{
    (void)state;
    config_t *conf = NULL, *bare;
    char err[512];
    assert_int_equal(
        config_load_file(TEST_SOURCE_DIR "/../conf/hepagent.json", &conf, err, sizeof(err)), HA_OK);
    bare = expect_ok("{\"rules\":[{\"name\":\"sip\"}],"
                     "\"collectors\":[{\"url\":\"udp://127.0.0.1:9060\"}]}");
    for (size_t i = 0; i < config_schema.key_count; i++) {
        const cfg_key_t *k = &config_schema.keys[i];
        if (k->type != CFG_OBJECT) continue;
        if (!cfg_section_equal(k->section, conf, bare))
            fail_msg("conf/hepagent.json: \"%s\" differs from the schema's defaults", k->name);
    }
    assert_int_equal(conf->source_count, 1);
    assert_true(cfg_section_equal(&config_source_schema, &conf->sources[0], &bare->sources[0]));
    assert_true(config_collector_equal(&conf->collectors[0], &bare->collectors[0]));
    assert_int_equal(conf->rules.items[0].action, bare->rules.items[0].action);
    config_free(conf);
    config_free(bare);
}

/* agent.user/group and the stats section: read, and listen checked as an address. */
static void test_service_keys(void **state)
{
    (void)state;
    char doc[1024];
    snprintf(doc, sizeof(doc),
             "{\"agent\":{\"user\":\"hepagent\",\"group\":\"adm\"},"
             "\"stats\":{\"listen\":\"[::1]:9096\",\"interval_s\":30},%s}",
             MINIMAL_RULES);
    config_t *cfg = expect_ok(doc);
    assert_string_equal(cfg->user, "hepagent");
    assert_string_equal(cfg->group, "adm");
    assert_string_equal(cfg->stats.listen, "[::1]:9096");
    assert_int_equal(cfg->stats.interval_s, 30);
    config_free(cfg);
    cfg = expect_ok("{"
                    "\"rules\":[{\"name\":\"sip\"}],\"collectors\":[]}");
    assert_null(cfg->user);
    assert_null(cfg->stats.listen);
    assert_int_equal(cfg->stats.interval_s, 0);
    config_free(cfg);
    static const char *const bad[] = {
        "9096",           "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536",
        "localhost:9096", "[::1:9096", "::1:9096x"};
    for (size_t i = 0; i < HA_ARRAY_LEN(bad); i++) {
        snprintf(doc, sizeof(doc), "{\"stats\":{\"listen\":\"%s\"},%s}", bad[i], MINIMAL_RULES);
        char want[256];
        snprintf(want, sizeof(want), "config: stats.listen: \"%s\" is not ADDRESS:PORT", bad[i]);
        expect_error(doc, want, 1);
    }
    snprintf(doc, sizeof(doc), "{\"stats\":{\"interval_s\":86401},%s}", MINIMAL_RULES);
    expect_error(doc, "config: stats.interval_s: 86401 is out of range (0..86400)", 0);
}

/* The relay's keys: inputs, rule matching and rewrites, redaction, dedup. */
static void test_relay_keys(void **state)
{
    (void)state;
    char doc[2048];
    snprintf(doc, sizeof(doc),
             "{\"capture\":[],\"inputs\":[{\"url\":\"udp://0.0.0.0:9060\",\"name\":\"kam\","
             "\"allow\":[\"10.0.0.0/8\",\"::1\"],\"auth_key\":\"k\"},{\"url\":\"tcp://[::]:9061\","
             "\"max_connections\":10,\"idle_timeout_ms\":1000,\"frame_timeout_ms\":500}],"
             "\"dedup\":{\"window_ms\":50},\"rules\":[{\"name\":\"r\",\"inputs\":[\"kam\","
             "\"capture\"],\"proto_types\":[1,5,34],\"node_name\":\"n\",\"strip_auth_key\":true,"
             "\"add_correlation_id\":true,\"redact\":{\"mode\":\"mask\",\"keep_digits\":2,"
             "\"drop_headers\":[\"User-Agent\"],\"bodies\":{\"application/sdp\":\"blank\"}}},"
             "{\"name\":\"s\"}],\"collectors\":[]}");
    config_t *cfg = expect_ok(doc);
    assert_int_equal(cfg->source_count, 0);
    assert_int_equal(cfg->input_count, 2);
    assert_string_equal(cfg->inputs[0].host, "0.0.0.0");
    assert_int_equal(cfg->inputs[0].allow_count, 2);
    assert_int_equal(cfg->inputs[1].transport, INPUT_TCP);
    assert_string_equal(cfg->inputs[1].host, "::");
    assert_int_equal(cfg->inputs[1].max_connections, 10);
    assert_int_equal(cfg->inputs[0].recv_buffer_kb, INPUT_DEFAULT_RECV_BUFFER_KB);
    assert_int_equal(cfg->dedup.window_ms, 50);
    const rule_t *r = &cfg->rules.items[0];
    assert_int_equal(r->input_count, 2);
    assert_int_equal(r->proto_type_count, 3);
    assert_int_equal(r->proto_types[2], 34);
    assert_true(r->strip_auth_key && r->add_correlation_id);
    assert_non_null(r->redact);
    assert_null(cfg->rules.items[1].redact);
    config_free(cfg);

    snprintf(doc, sizeof(doc), "{\"inputs\":[{\"url\":\"http://x:1\"}],%s}", MINIMAL_RULES);
    expect_error(doc,
                 "config: inputs[0].url: \"http://x:1\": the scheme must be udp://, tcp:// or "
                 "tls://",
                 0);
    snprintf(doc, sizeof(doc), "{\"inputs\":[{\"url\":\"tls://0.0.0.0:9061\"}],%s}", MINIMAL_RULES);
    expect_error(doc, "config: inputs[0].tls: a tls:// input needs tls.cert_file", 1);
    snprintf(doc, sizeof(doc),
             "{\"inputs\":[{\"url\":\"udp://0.0.0.0:9061\",\"tls\":{\"cert_file\":\"c\"}}],%s}",
             MINIMAL_RULES);
    expect_error(doc, "config: inputs[0].tls: only for tls:// inputs", 1);
    snprintf(doc, sizeof(doc),
             "{\"inputs\":[{\"url\":\"udp://0.0.0.0:1\"},{\"url\":\"udp://0.0.0.0:1\"}],%s}",
             MINIMAL_RULES);
    expect_error(doc, "config: inputs[1].url: \"udp://0.0.0.0:1\" is already inputs[0]", 0);
    snprintf(doc, sizeof(doc),
             "{\"inputs\":[{\"url\":\"udp://0.0.0.0:1\",\"allow\":[\"10.0.0.0/33\"]}],%s}",
             MINIMAL_RULES);
    expect_error(doc, "config: inputs[0].allow[0]: \"10.0.0.0/33\" is not an IP address or CIDR",
                 0);
    snprintf(doc, sizeof(doc), "{\"dedup\":{\"window_ms\":60001},%s}", MINIMAL_RULES);
    expect_error(doc, "config: dedup.window_ms: 60001 is out of range (0..60000)", 0);
    expect_rule_error("{\"name\":\"c\",\"proto_types\":[0]}",
                      "config: rules[2].proto_types[0]: 0 is out of range (1..255)");
    expect_rule_error("{\"name\":\"c\",\"redact\":{\"key\":\"short\"}}",
                      "config: rules[2].redact: the hash mode needs a key of at least 16 bytes");
    expect_rule_error("{\"name\":\"c\",\"redact\":{\"mode\":\"mask\",\"bodies\":"
                      "{\"application/sdp\":\"hide\"}}}",
                      "config: rules[2].redact.bodies.application/sdp: must be \"keep\", "
                      "\"blank\" or \"drop\"");
    expect_rule_error("{\"name\":\"c\",\"redact\":{\"mode\":\"mask\",\"key_file\":"
                      "\"/nonexistent/k\"}}",
                      "config: rules[2].redact: key_file: cannot read /nonexistent/k");
    expect_rule_error("{\"name\":\"c\",\"inputs\":[]}",
                      "config: rules[2].inputs: must not be empty (leave the key out to match "
                      "everything)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax_error_has_position),
        cmocka_unit_test(test_comments_are_allowed),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_media_section),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_bad_cidr),
        cmocka_unit_test(test_bad_port),
        cmocka_unit_test(test_empty_and_duplicate_name),
        cmocka_unit_test(test_bad_url),
        cmocka_unit_test(test_missing_and_empty_lists),
        cmocka_unit_test(test_bad_enums),
        cmocka_unit_test(test_reassembly_limits),
        cmocka_unit_test(test_delivery_and_collector_options),
        cmocka_unit_test(test_tls_decrypt),
        cmocka_unit_test(test_capture_source),
        cmocka_unit_test(test_embedded_default),
        cmocka_unit_test(test_conf_file_and_missing_file),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_no_capture_key),
        cmocka_unit_test(test_relay_keys),
        cmocka_unit_test(test_conf_file_says_the_defaults),
        cmocka_unit_test(test_service_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

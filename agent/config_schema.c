/* The schema of hepagent.json: every key, its type, range, default and
 * meaning, in one table per object. Adding a key is adding a row (and a
 * field in config.h); the parser, the defaults, reload's comparison of
 * collectors, --help's reference, the man page and README's reference all
 * follow. Values that are more than a scalar (ports, CIDRs, URLs) have a
 * parse function here; checks across keys run after their object is read. */
#include "hepagent/config_schema.h"
#include "hepagent/sip.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define FIELD(type, member) offsetof(type, member), sizeof(((type *)0)->member)

/* ---- custom values -------------------------------------------------- */

static int cfg_rule_port(cfg_ctx_t *ctx, json_object *v, void *base)
{
    rule_t *rule = base;
    rule_port_range_t *range = &rule->ports[rule->port_count++];
    if (json_object_is_type(v, json_type_int)) {
        int64_t port;
        int rc = cfg_integer_value(ctx, v, 1, 65535, &port);
        if (rc != HA_OK) return rc;
        range->low = range->high = (uint16_t)port;
        return HA_OK;
    }
    if (json_object_is_type(v, json_type_string)) {
        if (rules_parse_port_range(json_object_get_string(v), range) != HA_OK)
            return cfg_fail(ctx, "\"%s\" is not a port (1-65535) or range \"low-high\"",
                            json_object_get_string(v));
        return HA_OK;
    }
    return cfg_fail(ctx, "must be a port number or a \"low-high\" string, not %s",
                    cfg_type_name(v));
}

static int cfg_rule_ports(cfg_ctx_t *ctx, json_object *v, void *base)
{
    rule_t *rule = base;
    if (json_object_is_type(v, json_type_array) &&
        !(rule->ports = calloc(json_object_array_length(v), sizeof(*rule->ports))))
        return HA_ENOMEM;
    return cfg_each(ctx, v, NULL, base, cfg_rule_port);
}

static int cfg_rule_host(cfg_ctx_t *ctx, json_object *v, void *base)
{
    rule_t *rule = base;
    if (!json_object_is_type(v, json_type_string))
        return cfg_fail(ctx, "must be a string, not %s", cfg_type_name(v));
    if (rules_parse_cidr(json_object_get_string(v), &rule->hosts[rule->host_count++]) != HA_OK)
        return cfg_fail(ctx, "\"%s\" is not an IP address or CIDR", json_object_get_string(v));
    return HA_OK;
}

static int cfg_rule_hosts(cfg_ctx_t *ctx, json_object *v, void *base)
{
    rule_t *rule = base;
    if (json_object_is_type(v, json_type_array) &&
        !(rule->hosts = calloc(json_object_array_length(v), sizeof(*rule->hosts))))
        return HA_ENOMEM;
    return cfg_each(ctx, v, NULL, base, cfg_rule_host);
}

static int cfg_rule_transport(cfg_ctx_t *ctx, json_object *v, void *base)
{
    rule_t *rule = base;
    unsigned bit;
    if (!json_object_is_type(v, json_type_string) ||
        rules_parse_transport(json_object_get_string(v), &bit) != HA_OK)
        return cfg_fail(ctx,
                        "%s is not one of \"udp\", \"tcp\", \"sctp\", \"ws\", \"tls\", \"wss\"",
                        json_object_to_json_string(v));
    rule->transports |= bit;
    return HA_OK;
}

static int cfg_rule_transports(cfg_ctx_t *ctx, json_object *v, void *base)
{
    ((rule_t *)base)->transports = 0;
    return cfg_each(ctx, v, NULL, base, cfg_rule_transport);
}

/* Methods are SIP tokens; they are compared case-sensitively on the wire (RFC
 * 3261 7.1) and so are stored as written, after checking they are tokens. */
static int cfg_method(cfg_ctx_t *ctx, json_object *v, char **list, size_t *count)
{
    if (!json_object_is_type(v, json_type_string))
        return cfg_fail(ctx, "must be a string, not %s", cfg_type_name(v));
    const char *m = json_object_get_string(v);
    size_t len = strlen(m);
    if (len == 0 || len > SIP_MAX_METHOD_LEN ||
        strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "abcdefghijklmnopqrstuvwxyz"
                  "0123456789-.!%*_+`'~") != len)
        return cfg_fail(ctx, "\"%s\" is not a SIP method name", m);
    return (list[(*count)++] = strdup(m)) ? HA_OK : HA_ENOMEM;
}

static int cfg_rule_method(cfg_ctx_t *ctx, json_object *v, void *base)
{
    rule_t *rule = base;
    return cfg_method(ctx, v, rule->methods, &rule->method_count);
}

static int cfg_rule_method_excluded(cfg_ctx_t *ctx, json_object *v, void *base)
{
    rule_t *rule = base;
    return cfg_method(ctx, v, rule->methods_exclude, &rule->method_exclude_count);
}

static int cfg_rule_methods(cfg_ctx_t *ctx, json_object *v, void *base)
{
    rule_t *rule = base;
    if (json_object_is_type(v, json_type_array) &&
        !(rule->methods = calloc(json_object_array_length(v), sizeof(char *))))
        return HA_ENOMEM;
    return cfg_each(ctx, v, NULL, base, cfg_rule_method);
}

static int cfg_rule_methods_exclude(cfg_ctx_t *ctx, json_object *v, void *base)
{
    rule_t *rule = base;
    if (json_object_is_type(v, json_type_array) &&
        !(rule->methods_exclude = calloc(json_object_array_length(v), sizeof(char *))))
        return HA_ENOMEM;
    return cfg_each(ctx, v, NULL, base, cfg_rule_method_excluded);
}

static void cfg_free_strings(char **list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        free(list[i]);
    free(list);
}

static void cfg_rule_ports_release(void *base)
{
    rule_t *r = base;
    free(r->ports);
    r->ports = NULL;
    r->port_count = 0;
}

static void cfg_rule_hosts_release(void *base)
{
    rule_t *r = base;
    free(r->hosts);
    r->hosts = NULL;
    r->host_count = 0;
}

static void cfg_rule_methods_release(void *base)
{
    rule_t *r = base;
    cfg_free_strings(r->methods, r->method_count);
    r->methods = NULL;
    r->method_count = 0;
}

static void cfg_rule_methods_exclude_release(void *base)
{
    rule_t *r = base;
    cfg_free_strings(r->methods_exclude, r->method_exclude_count);
    r->methods_exclude = NULL;
    r->method_exclude_count = 0;
}

static int cfg_rule_capture_id(cfg_ctx_t *ctx, json_object *v, void *base)
{
    rule_t *rule = base;
    int64_t id;
    int rc = cfg_integer_value(ctx, v, 0, UINT32_MAX, &id);
    if (rc != HA_OK) return rc;
    rule->capture_id = (uint32_t)id;
    rule->has_capture_id = 1;
    return HA_OK;
}

/* A list of strings (names, header names), each non-empty and short. */
static int cfg_string_item(cfg_ctx_t *ctx, json_object *v, char **list, size_t *count)
{
    if (!json_object_is_type(v, json_type_string))
        return cfg_fail(ctx, "must be a string, not %s", cfg_type_name(v));
    const char *str = json_object_get_string(v);
    if (!str[0] || strlen(str) > 255 || strlen(str) != (size_t)json_object_get_string_len(v))
        return cfg_fail(ctx, "must be 1 to 255 characters");
    return (list[(*count)++] = strdup(str)) ? HA_OK : HA_ENOMEM;
}

static char **cfg_string_list_alloc(json_object *v)
{
    return calloc(json_object_is_type(v, json_type_array) ? json_object_array_length(v) + 1 : 1,
                  sizeof(char *));
}

static int cfg_rule_input(cfg_ctx_t *ctx, json_object *v, void *base)
{
    rule_t *rule = base;
    return cfg_string_item(ctx, v, rule->inputs, &rule->input_count);
}

static int cfg_rule_inputs(cfg_ctx_t *ctx, json_object *v, void *base)
{
    rule_t *rule = base;
    if (!(rule->inputs = cfg_string_list_alloc(v))) return HA_ENOMEM;
    return cfg_each(ctx, v, NULL, base, cfg_rule_input);
}

static void cfg_rule_inputs_release(void *base)
{
    rule_t *r = base;
    cfg_free_strings(r->inputs, r->input_count);
    r->inputs = NULL;
    r->input_count = 0;
}

static int cfg_rule_proto_type(cfg_ctx_t *ctx, json_object *v, void *base)
{
    rule_t *rule = base;
    int64_t t;
    int rc = cfg_integer_value(ctx, v, 1, 255, &t);
    if (rc == HA_OK) rule->proto_types[rule->proto_type_count++] = (uint8_t)t;
    return rc;
}

static int cfg_rule_proto_types(cfg_ctx_t *ctx, json_object *v, void *base)
{
    rule_t *rule = base;
    if (json_object_is_type(v, json_type_array) &&
        !(rule->proto_types = calloc(json_object_array_length(v) + 1, 1)))
        return HA_ENOMEM;
    return cfg_each(ctx, v, NULL, base, cfg_rule_proto_type);
}

static void cfg_rule_proto_types_release(void *base)
{
    rule_t *r = base;
    free(r->proto_types);
    r->proto_types = NULL;
    r->proto_type_count = 0;
}

static int cfg_redact_header(cfg_ctx_t *ctx, json_object *v, void *base)
{
    redact_config_t *c = &((rule_t *)base)->redact_cfg;
    return cfg_string_item(ctx, v, c->headers, &c->header_count);
}

static int cfg_redact_headers(cfg_ctx_t *ctx, json_object *v, void *base)
{
    redact_config_t *c = &((rule_t *)base)->redact_cfg;
    if (!(c->headers = cfg_string_list_alloc(v))) return HA_ENOMEM;
    return cfg_each(ctx, v, NULL, base, cfg_redact_header);
}

static int cfg_redact_drop_header(cfg_ctx_t *ctx, json_object *v, void *base)
{
    redact_config_t *c = &((rule_t *)base)->redact_cfg;
    return cfg_string_item(ctx, v, c->drop_headers, &c->drop_count);
}

static int cfg_redact_drop_headers(cfg_ctx_t *ctx, json_object *v, void *base)
{
    redact_config_t *c = &((rule_t *)base)->redact_cfg;
    if (!(c->drop_headers = cfg_string_list_alloc(v))) return HA_ENOMEM;
    return cfg_each(ctx, v, NULL, base, cfg_redact_drop_header);
}

/* {"application/sdp": "blank", "*": "drop"}: first match wins, in order. */
static int cfg_redact_bodies(cfg_ctx_t *ctx, json_object *v, void *base)
{
    static const char *const actions[] = {"keep", "blank", "drop"};
    redact_config_t *c = &((rule_t *)base)->redact_cfg;
    if (!json_object_is_type(v, json_type_object))
        return cfg_fail(ctx,
                        "must be an object of content type: \"keep\", \"blank\" or "
                        "\"drop\", not %s",
                        cfg_type_name(v));
    c->bodies = calloc((size_t)json_object_object_length(v) + 1, sizeof(*c->bodies));
    if (!c->bodies) return HA_ENOMEM;
    json_object_object_foreach(v, type, action)
    {
        size_t saved = cfg_push_key(ctx, type);
        size_t a = 0;
        while (a < 3 && !(json_object_is_type(action, json_type_string) &&
                          strcmp(json_object_get_string(action), actions[a]) == 0))
            a++;
        if (a == 3) return cfg_fail(ctx, "must be \"keep\", \"blank\" or \"drop\"");
        if (!type[0] || strlen(type) > 255 || strchr(type, ';'))
            return cfg_fail(ctx, "is not a content type (type/subtype, type/*, or *)");
        char *t = strdup(type);
        if (!t) return HA_ENOMEM;
        c->bodies[c->body_count++] = (redact_body_rule_t){t, (redact_body_t)a};
        cfg_pop(ctx, saved);
    }
    return HA_OK;
}

static void cfg_redact_release(void *base)
{
    rule_t *r = base;
    redact_free(r->redact);
    r->redact = NULL;
    redact_config_free(&r->redact_cfg);
}

static int cfg_input_allow_one(cfg_ctx_t *ctx, json_object *v, void *base)
{
    input_config_t *in = base;
    if (!json_object_is_type(v, json_type_string))
        return cfg_fail(ctx, "must be a string, not %s", cfg_type_name(v));
    if (rules_parse_cidr(json_object_get_string(v), &in->allow[in->allow_count++]) != HA_OK)
        return cfg_fail(ctx, "\"%s\" is not an IP address or CIDR", json_object_get_string(v));
    return HA_OK;
}

static int cfg_input_allow(cfg_ctx_t *ctx, json_object *v, void *base)
{
    input_config_t *in = base;
    if (json_object_is_type(v, json_type_array) &&
        !(in->allow = calloc(json_object_array_length(v) + 1, sizeof(*in->allow))))
        return HA_ENOMEM;
    return cfg_each(ctx, v, NULL, base, cfg_input_allow_one);
}

static void cfg_input_allow_release(void *base)
{
    input_config_t *in = base;
    free(in->allow);
    in->allow = NULL;
    in->allow_count = 0;
}

static int cfg_keylog_file(cfg_ctx_t *ctx, json_object *v, void *base)
{
    tls_decrypt_options_t *t = &((config_t *)base)->tls_decrypt;
    if (!json_object_is_type(v, json_type_string) || !json_object_get_string(v)[0])
        return cfg_fail(ctx, "must be a file name, not %s", json_object_to_json_string(v));
    return (t->keylog_files[t->keylog_file_count++] = strdup(json_object_get_string(v)))
               ? HA_OK
               : HA_ENOMEM;
}

static int cfg_keylog_files(cfg_ctx_t *ctx, json_object *v, void *base)
{
    tls_decrypt_options_t *t = &((config_t *)base)->tls_decrypt;
    if (json_object_is_type(v, json_type_array) &&
        !(t->keylog_files = calloc(json_object_array_length(v) + 1, sizeof(char *))))
        return HA_ENOMEM;
    return cfg_each(ctx, v, NULL, base, cfg_keylog_file);
}

static void cfg_keylog_files_release(void *base)
{
    tls_decrypt_options_t *t = &((config_t *)base)->tls_decrypt;
    cfg_free_strings(t->keylog_files, t->keylog_file_count);
    t->keylog_files = NULL;
    t->keylog_file_count = 0;
}

/* ---- checks across keys --------------------------------------------- */

static int cfg_check_source(cfg_ctx_t *ctx, void *base)
{
    capture_source_t *src = base;
    if (!src->interface == !src->file)
        return cfg_fail(ctx, "needs exactly one of \"interface\" and \"file\"");
    if (src->bpf && src->bpf[0] == '\0') {
        free(src->bpf);
        src->bpf = NULL;
    }
    return HA_OK;
}

static int cfg_check_rule(cfg_ctx_t *ctx, void *base)
{
    const rule_t *rule = base;
    const rules_t *rules = &ctx->cfg->rules;
    for (const rule_t *r = rules->items; r < rule; r++) {
        if (strcmp(r->name, rule->name) == 0) {
            cfg_push_key(ctx, "name");
            return cfg_fail(ctx, "\"%s\" is already the name of rules[%zu]", rule->name,
                            (size_t)(r - rules->items));
        }
    }
    return HA_OK;
}

static int cfg_check_redact(cfg_ctx_t *ctx, void *base)
{
    rule_t *rule = base;
    redact_config_t *c = &rule->redact_cfg;
    c->present = 1;
    if (c->key && c->key_file) return cfg_fail(ctx, "give \"key\" or \"key_file\", not both");
    char why[200];
    rule->redact = redact_from_config(c, why, sizeof(why));
    if (!rule->redact) return cfg_fail(ctx, "%s", why);
    return HA_OK;
}

static int cfg_check_input(cfg_ctx_t *ctx, void *base)
{
    input_config_t *in = base;
    char why[200];
    if (input_config_url(in, why, sizeof(why)) != HA_OK) {
        cfg_push_key(ctx, "url");
        return cfg_fail(ctx, "%s", why);
    }
    const config_t *cfg = ctx->cfg;
    for (const input_config_t *o = cfg->inputs; o < in; o++) {
        if (strcmp(o->url, in->url) == 0) {
            cfg_push_key(ctx, "url");
            return cfg_fail(ctx, "\"%s\" is already inputs[%zu]", in->url,
                            (size_t)(o - cfg->inputs));
        }
        if (in->name && o->name && strcmp(o->name, in->name) == 0) {
            cfg_push_key(ctx, "name");
            return cfg_fail(ctx, "\"%s\" is already the name of inputs[%zu]", in->name,
                            (size_t)(o - cfg->inputs));
        }
    }
    int has_tls = in->cert_file || in->key_file || in->ca_file;
    if (has_tls != (in->transport == INPUT_TLS)) {
        cfg_push_key(ctx, "tls");
        return cfg_fail(ctx,
                        has_tls ? "only for tls:// inputs (the url is %s)"
                                : "a tls:// input needs tls.cert_file and tls.key_file (%s)",
                        in->url);
    }
    if (has_tls && (!in->cert_file || !in->key_file)) {
        cfg_push_key(ctx, "tls");
        return cfg_fail(ctx, "needs both \"cert_file\" and \"key_file\"");
    }
    return HA_OK;
}

static int cfg_check_collector(cfg_ctx_t *ctx, void *base)
{
    collector_config_t *c = base;
    char why[200];
    if (config_collector_url(c, why, sizeof(why)) != HA_OK) {
        cfg_push_key(ctx, "url");
        return cfg_fail(ctx, "%s", why);
    }
    const config_t *cfg = ctx->cfg;
    for (const collector_config_t *o = cfg->collectors; o < c; o++) {
        if (strcmp(o->url, c->url) == 0) {
            cfg_push_key(ctx, "url");
            return cfg_fail(ctx, "\"%s\" is already collectors[%zu]", c->url,
                            (size_t)(o - cfg->collectors));
        }
    }
    c->drop_oldest = c->drop == 0;
    int has_tls =
        c->ca_file || c->ca_dir || c->cert_file || c->key_file || c->server_name || c->insecure;
    if (has_tls && c->transport != COLLECTOR_TLS) {
        cfg_push_key(ctx, "tls");
        return cfg_fail(ctx, "only for tls:// collectors (the url is %s)", c->url);
    }
    if (c->key_file && !c->cert_file) {
        cfg_push_key(ctx, "tls");
        return cfg_fail(ctx, "\"key_file\" needs \"cert_file\"");
    }
    if (c->insecure && (c->ca_file || c->ca_dir)) {
        cfg_push_key(ctx, "tls");
        return cfg_fail(ctx, "\"insecure\" verifies nothing: leave out ca_file/ca_dir, or it");
    }
    return HA_OK;
}

static int cfg_check_reassembly(cfg_ctx_t *ctx, void *base)
{
    const config_t *cfg = base;
    if (cfg->tcp.memcap < cfg->tcp.max_stream_bytes)
        return cfg_fail(ctx, "tcp_memory_kb (%zu) must be at least tcp_stream_kb (%u)",
                        cfg->tcp.memcap / 1024, cfg->tcp.max_stream_bytes / 1024);
    return HA_OK;
}

static int cfg_check_delivery(cfg_ctx_t *ctx, void *base)
{
    const delivery_config_t *d = &((const config_t *)base)->delivery;
    if (d->reconnect_min_ms > d->reconnect_max_ms)
        return cfg_fail(ctx, "reconnect_min_ms (%u) is above reconnect_max_ms (%u)",
                        d->reconnect_min_ms, d->reconnect_max_ms);
    return HA_OK;
}

static int cfg_check_tls_decrypt(cfg_ctx_t *ctx, void *base)
{
    const tls_decrypt_options_t *t = &((const config_t *)base)->tls_decrypt;
    char why[HA_ERRLEN];
    if (t->keylog_listen && keylog_check_url(t->keylog_listen, why, sizeof(why)) != HA_OK) {
        cfg_push_key(ctx, "keylog_listen");
        return cfg_fail(ctx, "%s", why);
    }
    return HA_OK;
}

static int cfg_check_document(cfg_ctx_t *ctx, void *base)
{
    config_t *cfg = base;
    for (size_t i = 0; i < cfg->collector_count; i++) {
        if (cfg->collectors[i].spool && !cfg->delivery.spool_dir) {
            cfg_push_key(ctx, "collectors");
            cfg_push_index(ctx, i);
            cfg_push_key(ctx, "spool");
            return cfg_fail(ctx, "needs delivery.spool_dir");
        }
    }
    /* an empty list only for a relay that captures nothing */
    if (cfg->sources && cfg->source_count == 0 && cfg->input_count == 0) {
        cfg_push_key(ctx, "capture");
        return cfg_fail(ctx, "must hold at least one source (leave \"capture\" out to capture "
                             "on \"any\"; empty only with \"inputs\")");
    }
    /* no "capture" list: capture on every interface, as the built-in
     * default does ("every key is optional") */
    if (!cfg->sources) {
        cfg->sources = calloc(1, sizeof(*cfg->sources));
        if (!cfg->sources) return HA_ENOMEM;
        cfg_section_defaults(&config_source_schema, cfg->sources);
        cfg->source_count = 1;
        if (!(cfg->sources[0].interface = strdup("any"))) return HA_ENOMEM;
    }
    return HA_OK;
}

/* ---- the tables ----------------------------------------------------- */

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const delivery_modes[] = {"all", "failover", "hash", NULL};
static const char *const rule_actions[] = {"send", "drop", NULL};
static const char *const drop_choices[] = {"oldest", "newest", NULL};

static const cfg_key_t agent_keys[] = {
    {.name = "capture_id",
     .type = CFG_UINT,
     FIELD(config_t, capture_id),
     .max = UINT32_MAX,
     .def = 2001,
     .help = "HEP capture agent id (chunk 0x000c); rules may override it"},
    {.name = "node_name",
     .type = CFG_STRING,
     FIELD(config_t, node_name),
     .max = 255,
     .help = "HEP capture node name (chunk 0x0013); left out when absent"},
    {.name = "auth_key",
     .type = CFG_STRING,
     FIELD(config_t, auth_key),
     .max = 255,
     .flags = CFG_SECRET,
     .help = "HEP authentication key (chunk 0x000e); left out when absent"},
    {.name = "log_level",
     .type = CFG_ENUM,
     FIELD(config_t, log_level),
     .choices = log_levels,
     .def = LOG_INFO,
     .help = "log threshold (-v and -q override it, reloads included)"},
    {.name = "shutdown_timeout_ms",
     .type = CFG_UINT,
     FIELD(config_t, shutdown_timeout_ms),
     .max = 3600000,
     .def = 5000,
     .help = "how long queued packets may take to leave on SIGTERM or at the end of the files"},
    {.name = "user",
     .type = CFG_STRING,
     FIELD(config_t, user),
     .max = 255,
     .help = "after opening the capture handles and listening sockets, become this user and give "
             "up every capability (`-Z` replaces it); applies at start"},
    {.name = "group",
     .type = CFG_STRING,
     FIELD(config_t, group),
     .max = 255,
     .doc_default = "the user's group",
     .help = "the group to become with `user`; applies at start"},
};

static const cfg_key_t source_keys[] = {
    {.name = "interface",
     .type = CFG_STRING,
     FIELD(capture_source_t, interface),
     .max = 255,
     .help = "interface name (`any` for all); exactly one of `interface` and `file`"},
    {.name = "file",
     .type = CFG_STRING,
     FIELD(capture_source_t, file),
     .max = 4096,
     .help = "capture file (pcap or pcapng), read once; several are read merged by time"},
    {.name = "bpf",
     .type = CFG_STRING,
     FIELD(capture_source_t, bpf),
     .max = 4096,
     .flags = CFG_EMPTY_OK,
     .help = "BPF filter (tcpdump syntax); empty or absent: everything"},
    {.name = "snaplen",
     .type = CFG_UINT,
     FIELD(capture_source_t, snaplen),
     .min = 64,
     .max = 262144,
     .def = 262144,
     .help = "bytes captured per frame"},
    {.name = "promisc",
     .type = CFG_BOOL,
     FIELD(capture_source_t, promisc),
     .help = "promiscuous mode (not on `any`)"},
    {.name = "buffer_mb",
     .type = CFG_UINT,
     FIELD(capture_source_t, buffer_mb),
     .min = 1,
     .max = 4096,
     .def = 32,
     .help = "kernel capture buffer, MiB"},
};

const cfg_section_t config_source_schema = {source_keys, HA_ARRAY_LEN(source_keys),
                                            sizeof(capture_source_t), cfg_check_source};

static const cfg_key_t decode_keys[] = {
    {.name = "vxlan_port",
     .type = CFG_UINT,
     FIELD(config_t, decode.vxlan_port),
     .max = 65535,
     .def = DECODE_PORT_VXLAN,
     .help = "VXLAN UDP port (0: no VXLAN decoding)"},
    {.name = "max_depth",
     .type = CFG_UINT,
     FIELD(config_t, decode.max_depth),
     .min = 1,
     .max = 32,
     .def = DECODE_DEFAULT_MAX_DEPTH,
     .help = "encapsulation layers allowed (VLAN tags apart)"},
    {.name = "tunnels",
     .type = CFG_BOOL,
     FIELD(config_t, decode.decode_tunnels),
     .def = 1,
     .help = "look inside GRE, ERSPAN, VXLAN, GENEVE, GTP-U, IP-in-IP, MPLS"},
};
static const cfg_section_t decode_section = {decode_keys, HA_ARRAY_LEN(decode_keys), 0, NULL};

static const cfg_key_t reassembly_keys[] = {
    {.name = "ip_datagrams",
     .type = CFG_UINT,
     FIELD(config_t, ipfrag.max_datagrams),
     .min = 1,
     .max = 1000000,
     .def = IPFRAG_DEFAULT_DATAGRAMS,
     .help = "IP datagrams in reassembly at once"},
    {.name = "ip_memory_kb",
     .type = CFG_UINT,
     FIELD(config_t, ipfrag.memcap),
     .min = 64,
     .max = 4194304,
     .scale = 1024,
     .def = IPFRAG_DEFAULT_MEMCAP_KB,
     .help = "bytes all fragments may hold, KiB"},
    {.name = "ip_timeout_ms",
     .type = CFG_UINT,
     FIELD(config_t, ipfrag.timeout_ms),
     .min = 100,
     .max = 600000,
     .def = IPFRAG_DEFAULT_TIMEOUT_MS,
     .help = "an incomplete datagram is dropped after this (capture time)"},
    {.name = "tcp_streams",
     .type = CFG_UINT,
     FIELD(config_t, tcp.max_streams),
     .min = 1,
     .max = 10000000,
     .def = TCPSTREAM_DEFAULT_STREAMS,
     .help = "TCP stream directions tracked; the least recently used is evicted when full"},
    {.name = "tcp_stream_kb",
     .type = CFG_UINT,
     FIELD(config_t, tcp.max_stream_bytes),
     .min = 4,
     .max = 65536,
     .scale = 1024,
     .def = TCPSTREAM_DEFAULT_STREAM_KB,
     .help = "the largest SIP/WebSocket message a stream may hold, KiB"},
    {.name = "tcp_memory_kb",
     .type = CFG_UINT,
     FIELD(config_t, tcp.memcap),
     .min = 64,
     .max = 4194304,
     .scale = 1024,
     .def = TCPSTREAM_DEFAULT_MEMCAP_KB,
     .help = "bytes all streams may hold, KiB (at least tcp_stream_kb)"},
    {.name = "tcp_timeout_ms",
     .type = CFG_UINT,
     FIELD(config_t, tcp.timeout_ms),
     .min = 1000,
     .max = 86400000,
     .def = TCPSTREAM_DEFAULT_TIMEOUT_MS,
     .help = "idle streams are forgotten after this (capture time)"},
};
static const cfg_section_t reassembly_section = {reassembly_keys, HA_ARRAY_LEN(reassembly_keys), 0,
                                                 cfg_check_reassembly};

static const char *const redact_modes[] = {"hash", "mask", NULL};

static const cfg_key_t redact_keys[] = {
    {.name = "mode",
     .type = CFG_ENUM,
     FIELD(rule_t, redact_cfg.mode),
     .choices = redact_modes,
     .def = REDACT_HASH,
     .help = "`hash`: HMAC-SHA-256 of the user part as digits (same number, same pseudonym); "
             "`mask`: letters and digits to `x` but the last `keep_digits`"},
    {.name = "key",
     .type = CFG_STRING,
     FIELD(rule_t, redact_cfg.key),
     .max = 1024,
     .flags = CFG_SECRET,
     .help = "HMAC key, at least 16 characters (hash mode, `call_id`)"},
    {.name = "key_file",
     .type = CFG_STRING,
     FIELD(rule_t, redact_cfg.key_file),
     .max = 4096,
     .help = "file holding the HMAC key (a trailing newline is ignored), instead of `key`"},
    {.name = "hash_digits",
     .type = CFG_UINT,
     FIELD(rule_t, redact_cfg.hash_digits),
     .min = 8,
     .max = 19,
     .def = REDACT_DEFAULT_HASH_DIGITS,
     .help = "digits of a pseudonym (a leading `+` is kept)"},
    {.name = "keep_digits",
     .type = CFG_UINT,
     FIELD(rule_t, redact_cfg.keep_digits),
     .max = 32,
     .def = REDACT_DEFAULT_KEEP_DIGITS,
     .help = "mask mode: digits left visible at the end"},
    {.name = "headers",
     .type = CFG_CUSTOM,
     .parse = cfg_redact_headers,
     .if_empty = "must not be empty (leave the key out for the default list)",
     .doc_type = "list of header names",
     .doc_default = "`[\"Request-URI\", \"*\"]`: every header",
     .help = "whose URI user parts and display names are replaced; compact forms follow their "
             "full name; `Request-URI` is the start line's, `*` every header"},
    {.name = "drop_headers",
     .type = CFG_CUSTOM,
     .parse = cfg_redact_drop_headers,
     .doc_type = "list of header names",
     .help = "headers removed"},
    {.name = "bodies",
     .type = CFG_CUSTOM,
     .parse = cfg_redact_bodies,
     .doc_type = "object: content type to `keep` `blank` `drop`",
     .doc_default = "keep",
     .help = "`blank` empties the body (Content-Type stays), `drop` removes it with its "
             "Content-* headers; `type/*` and `*` match many; Content-Length is always right"},
    {.name = "call_id",
     .type = CFG_BOOL,
     FIELD(rule_t, redact_cfg.call_id),
     .help = "replace the Call-ID, and the correlation id, by their keyed hash (needs a key)"},
};
static const cfg_section_t redact_section = {redact_keys, HA_ARRAY_LEN(redact_keys), 0,
                                             cfg_check_redact};

static const cfg_key_t rule_keys[] = {
    {.name = "name",
     .type = CFG_STRING,
     FIELD(rule_t, name),
     .max = 64,
     .flags = CFG_REQUIRED,
     .help = "unique; shown in logs and counters"},
    {.name = "ports",
     .type = CFG_CUSTOM,
     .parse = cfg_rule_ports,
     .release = cfg_rule_ports_release,
     .if_empty = "must not be empty (leave the key out to match everything)",
     .doc_type = "list of ports or `\"low-high\"`",
     .help = "matches either side of the packet"},
    {.name = "hosts",
     .type = CFG_CUSTOM,
     .parse = cfg_rule_hosts,
     .release = cfg_rule_hosts_release,
     .if_empty = "must not be empty (leave the key out to match everything)",
     .doc_type = "list of IPv4/IPv6 addresses or CIDRs",
     .help = "matches either side"},
    {.name = "transport",
     .type = CFG_CUSTOM,
     FIELD(rule_t, transports),
     .def = RULE_TRANSPORT_ALL,
     .parse = cfg_rule_transports,
     .if_empty = "must not be empty (leave the key out to match everything)",
     .doc_type = "list of `udp` `tcp` `sctp` `ws` `tls` `wss`",
     .doc_default = "all",
     .help = "`ws` is SIP over WebSocket; `tls` and `wss` are SIP over TLS and secure "
             "WebSocket, decrypted (`tls_decrypt`)"},
    {.name = "methods",
     .type = CFG_CUSTOM,
     .parse = cfg_rule_methods,
     .release = cfg_rule_methods_release,
     .if_empty = "must not be empty (leave the key out to match everything)",
     .doc_type = "list of SIP methods",
     .help = "case-sensitive, as on the wire; a response matches by the method in its CSeq"},
    {.name = "methods_exclude",
     .type = CFG_CUSTOM,
     .parse = cfg_rule_methods_exclude,
     .release = cfg_rule_methods_exclude_release,
     .if_empty = "must not be empty (leave the key out to match everything)",
     .doc_type = "list of SIP methods",
     .help = "methods this rule does not match"},
    {.name = "capture_id",
     .type = CFG_CUSTOM,
     .parse = cfg_rule_capture_id,
     .doc_type = "u32",
     .doc_default = "`agent.capture_id`",
     .help = "overrides `agent.capture_id` for what this rule sends (its SIP and the RTCP and QoS of those calls)"},
    {.name = "inputs",
     .type = CFG_CUSTOM,
     .parse = cfg_rule_inputs,
     .release = cfg_rule_inputs_release,
     .if_empty = "must not be empty (leave the key out to match everything)",
     .doc_type = "list of input names or URLs",
     .help = "only packets received on these inputs (`inputs[].name` or `.url`); `\"capture\"` "
             "names captured packets"},
    {.name = "proto_types",
     .type = CFG_CUSTOM,
     .parse = cfg_rule_proto_types,
     .release = cfg_rule_proto_types_release,
     .if_empty = "must not be empty (leave the key out to match everything)",
     .doc_type = "list of 1-255",
     .help = "only these HEP protocol types (1 SIP, 5 RTCP, 34 QoS report, 100 log, ...); "
             "captured SIP is 1"},
    {.name = "action",
     .type = CFG_ENUM,
     FIELD(rule_t, action),
     .choices = rule_actions,
     .def = RULE_SEND,
     .help = "what happens to a message this rule matches"},
    {.name = "node_name",
     .type = CFG_STRING,
     FIELD(rule_t, node_name),
     .max = 255,
     .doc_default = "as received, or `agent.node_name`",
     .help = "node name (chunk 0x0013) of what this rule sends: replaced or added"},
    {.name = "auth_key",
     .type = CFG_STRING,
     FIELD(rule_t, auth_key),
     .max = 255,
     .flags = CFG_SECRET,
     .doc_default = "as received, or `agent.auth_key`",
     .help = "auth key (chunk 0x000e) of what this rule sends: replaced or added"},
    {.name = "strip_auth_key",
     .type = CFG_BOOL,
     FIELD(rule_t, strip_auth_key),
     .help = "send without an auth key"},
    {.name = "add_correlation_id",
     .type = CFG_BOOL,
     FIELD(rule_t, add_correlation_id),
     .help = "received SIP without a correlation id (chunk 0x0011) gets its Call-ID"},
    {.name = "redact",
     .type = CFG_OBJECT,
     .section = &redact_section,
     .doc_type = "object",
     .help = "privacy: what is replaced or removed before the message leaves by any way (HEP, "
             "`-w`, `--hep-pcap`, spool, `-A`)"},
    {.name = "redacted", .type = CFG_CUSTOM, .release = cfg_redact_release, .flags = CFG_HIDDEN},
};
static const cfg_section_t rule_section = {rule_keys, HA_ARRAY_LEN(rule_keys), sizeof(rule_t),
                                           cfg_check_rule};

static const cfg_key_t collector_tls_keys[] = {
    {.name = "ca_file",
     .type = CFG_STRING,
     FIELD(collector_config_t, ca_file),
     .max = 4096,
     .doc_default = "the system store",
     .help = "CA certificates (PEM) to verify the collector"},
    {.name = "ca_dir",
     .type = CFG_STRING,
     FIELD(collector_config_t, ca_dir),
     .max = 4096,
     .help = "hashed CA directory (`openssl rehash`)"},
    {.name = "cert_file",
     .type = CFG_STRING,
     FIELD(collector_config_t, cert_file),
     .max = 4096,
     .help = "client certificate (PEM) offered to the collector"},
    {.name = "key_file",
     .type = CFG_STRING,
     FIELD(collector_config_t, key_file),
     .max = 4096,
     .help = "the client certificate's key; needs `cert_file`"},
    {.name = "server_name",
     .type = CFG_STRING,
     FIELD(collector_config_t, server_name),
     .max = 255,
     .doc_default = "the URL's host",
     .help = "name to verify and to send as SNI (an IP address sends none)"},
    {.name = "insecure",
     .type = CFG_BOOL,
     FIELD(collector_config_t, insecure),
     .help = "no verification (logged as a warning); not with `ca_file`/`ca_dir`"},
};
static const cfg_section_t collector_tls_section = {collector_tls_keys,
                                                    HA_ARRAY_LEN(collector_tls_keys), 0, NULL};

static const cfg_key_t collector_keys[] = {
    {.name = "url",
     .type = CFG_STRING,
     FIELD(collector_config_t, url),
     .max = 1024,
     .flags = CFG_REQUIRED,
     .help = "`udp://HOST:PORT`, `tcp://HOST:PORT` or `tls://HOST:PORT` (IPv6 as "
             "`udp://[::1]:9060`); names are resolved when connecting"},
    {.name = "host", .type = CFG_STRING, FIELD(collector_config_t, host), .flags = CFG_HIDDEN},
    {.name = "compress",
     .type = CFG_BOOL,
     FIELD(collector_config_t, compress),
     .help = "payload zlib-compressed (chunk 0x0010); heplify-server, sngrep and hep-js cannot "
             "read it"},
    {.name = "compress_min_bytes",
     .type = CFG_UINT,
     FIELD(collector_config_t, compress_min_bytes),
     .max = 65535,
     .def = 256,
     .help = "shorter payloads go uncompressed"},
    {.name = "queue_kb",
     .type = CFG_UINT,
     FIELD(collector_config_t, queue_kb),
     .min = 64,
     .max = 4194304,
     .def = 8192,
     .help = "bound of the collector's queue, KiB"},
    {.name = "queue_packets",
     .type = CFG_UINT,
     FIELD(collector_config_t, queue_packets),
     .min = 1,
     .max = 100000000,
     .def = 65536,
     .help = "bound of the collector's queue, packets"},
    {.name = "drop",
     .type = CFG_ENUM,
     FIELD(collector_config_t, drop),
     .choices = drop_choices,
     .help = "what goes when the queue (and the spool) is full"},
    {.name = "spool",
     .type = CFG_BOOL,
     FIELD(collector_config_t, spool),
     .help = "overflow to `delivery.spool_dir` while the collector cannot take data"},
    {.name = "tls",
     .type = CFG_OBJECT,
     .section = &collector_tls_section,
     .doc_type = "object, `tls://` only",
     .help = "how the collector is verified"},
};
const cfg_section_t config_collector_schema = {collector_keys, HA_ARRAY_LEN(collector_keys),
                                               sizeof(collector_config_t), cfg_check_collector};

static const cfg_key_t delivery_keys[] = {
    {.name = "mode",
     .type = CFG_ENUM,
     FIELD(config_t, delivery.mode),
     .choices = delivery_modes,
     .def = DELIVERY_ALL,
     .help = "every collector; the first healthy one in order; one per Call-ID (rendezvous "
             "hashing over the healthy ones)"},
    {.name = "connect_timeout_ms",
     .type = CFG_UINT,
     FIELD(config_t, delivery.connect_timeout_ms),
     .min = 100,
     .max = 600000,
     .def = 5000,
     .help = "TCP/TLS connect and TLS handshake timeout"},
    {.name = "reconnect_min_ms",
     .type = CFG_UINT,
     FIELD(config_t, delivery.reconnect_min_ms),
     .min = 10,
     .max = 600000,
     .def = 100,
     .help = "first reconnect delay; doubles up to `reconnect_max_ms`, +-20% jitter"},
    {.name = "reconnect_max_ms",
     .type = CFG_UINT,
     FIELD(config_t, delivery.reconnect_max_ms),
     .min = 10,
     .max = 3600000,
     .def = 30000,
     .help = "longest reconnect delay"},
    {.name = "spool_dir",
     .type = CFG_STRING,
     FIELD(config_t, delivery.spool_dir),
     .max = 4096,
     .help = "spool root: one subdirectory per collector, CRC-checked segment files, replayed "
             "in order, kept across restarts"},
    {.name = "spool_mb",
     .type = CFG_UINT,
     FIELD(config_t, delivery.spool_mb),
     .min = 1,
     .max = 1048576,
     .def = 256,
     .help = "bound of each collector's spool, MiB"},
};
static const cfg_section_t delivery_section = {delivery_keys, HA_ARRAY_LEN(delivery_keys), 0,
                                               cfg_check_delivery};

static int cfg_check_stats(cfg_ctx_t *ctx, void *base)
{
    const metrics_options_t *m = &((const config_t *)base)->stats;
    struct sockaddr_storage addr;
    socklen_t len;
    char why[200];
    if (m->listen && metrics_parse_listen(m->listen, &addr, &len, why, sizeof(why)) != HA_OK) {
        cfg_push_key(ctx, "listen");
        return cfg_fail(ctx, "%s", why);
    }
    return HA_OK;
}

static const cfg_key_t stats_keys[] = {
    {.name = "listen",
     .type = CFG_STRING,
     FIELD(config_t, stats.listen),
     .max = 64,
     .doc_type = "`ADDRESS:PORT`",
     .doc_default = "none: no endpoint",
     .help = "serve every counter over HTTP: `/metrics` in the Prometheus text format, `/stats` "
             "as JSON (e.g. `127.0.0.1:9096`, `[::1]:9096`); opened before privileges are "
             "dropped, applies at start"},
    {.name = "interval_s",
     .type = CFG_UINT,
     FIELD(config_t, stats.interval_s),
     .max = 86400,
     .help = "log a one-line summary of the counters this often (0: never)"},
};
static const cfg_section_t stats_section = {stats_keys, HA_ARRAY_LEN(stats_keys), 0,
                                            cfg_check_stats};
static const cfg_key_t media_keys[] = {
    {.name = "rtcp",
     .type = CFG_BOOL,
     FIELD(config_t, media.rtcp),
     .help = "send each RTCP packet of a call the sent SIP announced as HEP type 5 (JSON), "
             "correlated to its Call-ID"},
    {.name = "qos",
     .type = CFG_BOOL,
     FIELD(config_t, media.qos),
     .help = "measure each RTP stream of such a call and send its quality report as HEP type "
             "0x22 (JSON)"},
    {.name = "qos_interval_s",
     .type = CFG_UINT,
     FIELD(config_t, media.qos_interval_s),
     .max = 86400,
     .def = 0,
     .help = "interim QoS reports every N seconds of capture time (0: a final report per "
             "stream only)"},
    {.name = "max_streams",
     .type = CFG_UINT,
     FIELD(config_t, media.max_streams),
     .min = 1,
     .max = 10000000,
     .def = MEDIA_DEFAULT_MAX_STREAMS,
     .help = "announced streams (one m= line of one party) and measured RTP streams tracked at "
             "once; what the bound refuses is counted"},
    {.name = "stream_timeout_ms",
     .type = CFG_UINT,
     FIELD(config_t, media.stream_timeout_ms),
     .min = 1000,
     .max = 86400000,
     .def = MEDIA_DEFAULT_STREAM_TIMEOUT_MS,
     .help = "a call without SIP or media this long ends, an RTP stream without packets this "
             "long ends (capture time)"},
    {.name = "grace_ms",
     .type = CFG_UINT,
     FIELD(config_t, media.grace_ms),
     .max = 600000,
     .def = MEDIA_DEFAULT_GRACE_MS,
     .help = "media after BYE, CANCEL, a final error, a moved port or a hold still counts for "
             "this long (capture time)"},
    {.name = "rtp_snap",
     .type = CFG_UINT,
     FIELD(config_t, media.rtp_snap),
     .max = 65535,
     .def = MEDIA_DEFAULT_RTP_SNAP,
     .help = "live capture with media on: the kernel filter keeps this many bytes of each RTP "
             "packet's UDP payload (its headers; RTCP, SIP and the rest stay whole); 0: whole "
             "packets (Ethernet and \"any\" only, README \"Media\")"},
};
static const cfg_section_t media_section = {media_keys, HA_ARRAY_LEN(media_keys), 0, NULL};

static const cfg_key_t tls_decrypt_keys[] = {
    {.name = "keylog_files",
     .type = CFG_CUSTOM,
     .parse = cfg_keylog_files,
     .release = cfg_keylog_files_release,
     .if_empty = "must not be empty (leave the key out to read no key log file)",
     .doc_type = "list of paths",
     .doc_default = "none",
     .help = "NSS key logs (`SSLKEYLOGFILE` format) read at start and followed as they grow "
             "(rotation and truncation too); `--tls-keylog` replaces this list"},
    {.name = "keylog_listen",
     .type = CFG_STRING,
     FIELD(config_t, tls_decrypt.keylog_listen),
     .max = 1024,
     .doc_default = "none",
     .help = "`udp://HOST:PORT` where key log lines come as datagrams (Kamailio's "
             "`keylog_peer`); keep it on loopback or a trusted network"},
    {.name = "max_sessions",
     .type = CFG_UINT,
     FIELD(config_t, tls_decrypt.max_sessions),
     .min = 1,
     .max = 10000000,
     .def = TLS_DECRYPT_DEFAULT_MAX_SESSIONS,
     .help = "sessions whose secrets are held; the oldest go first (a session's secrets are "
             "wiped when its connection ends)"},
    {.name = "pending_kb",
     .type = CFG_UINT,
     FIELD(config_t, tls_decrypt.pending_kb),
     .max = 4194304,
     .def = TLS_DECRYPT_DEFAULT_PENDING_KB,
     .help = "TLS records of all sessions waiting for their key, KiB"},
    {.name = "pending_ms",
     .type = CFG_UINT,
     FIELD(config_t, tls_decrypt.pending_ms),
     .max = 600000,
     .def = TLS_DECRYPT_DEFAULT_PENDING_MS,
     .help = "how long records may wait for their key (capture time); then they are counted "
             "as without key"},
};
static const cfg_section_t tls_decrypt_section = {tls_decrypt_keys, HA_ARRAY_LEN(tls_decrypt_keys),
                                                  0, cfg_check_tls_decrypt};

static const cfg_section_t agent_section = {agent_keys, HA_ARRAY_LEN(agent_keys), 0, NULL};

static const cfg_key_t input_tls_keys[] = {
    {.name = "cert_file",
     .type = CFG_STRING,
     FIELD(input_config_t, cert_file),
     .max = 4096,
     .help = "the listener's certificate chain (PEM)"},
    {.name = "key_file",
     .type = CFG_STRING,
     FIELD(input_config_t, key_file),
     .max = 4096,
     .help = "its key (PEM)"},
    {.name = "ca_file",
     .type = CFG_STRING,
     FIELD(input_config_t, ca_file),
     .max = 4096,
     .help = "when set, senders must present a certificate this CA signed"},
};
static const cfg_section_t input_tls_section = {input_tls_keys, HA_ARRAY_LEN(input_tls_keys), 0,
                                                NULL};

static const cfg_key_t input_keys[] = {
    {.name = "url",
     .type = CFG_STRING,
     FIELD(input_config_t, url),
     .max = 1024,
     .flags = CFG_REQUIRED,
     .help = "`udp://HOST:PORT`, `tcp://HOST:PORT` or `tls://HOST:PORT` to listen on (IPv6 as "
             "`tcp://[::]:9061`)"},
    {.name = "host", .type = CFG_STRING, FIELD(input_config_t, host), .flags = CFG_HIDDEN},
    {.name = "name",
     .type = CFG_STRING,
     FIELD(input_config_t, name),
     .max = 64,
     .doc_default = "the url",
     .help = "label in counters and `rules[].inputs`"},
    {.name = "allow",
     .type = CFG_CUSTOM,
     .parse = cfg_input_allow,
     .release = cfg_input_allow_release,
     .if_empty = "must not be empty (leave the key out to let everyone in)",
     .doc_type = "list of IPv4/IPv6 addresses or CIDRs",
     .doc_default = "everyone",
     .help = "senders let in; others are counted (`refused_address`) and dropped"},
    {.name = "auth_key",
     .type = CFG_STRING,
     FIELD(input_config_t, auth_key),
     .max = 255,
     .flags = CFG_SECRET,
     .help = "packets must carry this auth key (chunk 0x000e); others are counted (`bad_auth`)"},
    {.name = "max_connections",
     .type = CFG_UINT,
     FIELD(input_config_t, max_connections),
     .min = 1,
     .max = 65535,
     .def = INPUT_DEFAULT_MAX_CONNECTIONS,
     .help = "TCP/TLS connections at once; more are closed at once (counted)"},
    {.name = "idle_timeout_ms",
     .type = CFG_UINT,
     FIELD(input_config_t, idle_timeout_ms),
     .min = 100,
     .max = 86400000,
     .def = INPUT_DEFAULT_IDLE_TIMEOUT_MS,
     .help = "a connection silent this long is closed"},
    {.name = "frame_timeout_ms",
     .type = CFG_UINT,
     FIELD(input_config_t, frame_timeout_ms),
     .min = 100,
     .max = 600000,
     .def = INPUT_DEFAULT_FRAME_TIMEOUT_MS,
     .help = "a packet (or TLS handshake) begun must be complete within this, else the "
             "connection is closed (slow senders)"},
    {.name = "recv_buffer_kb",
     .type = CFG_UINT,
     FIELD(input_config_t, recv_buffer_kb),
     .min = 64,
     .max = 1048576,
     .def = INPUT_DEFAULT_RECV_BUFFER_KB,
     .help = "UDP socket receive buffer, KiB (beyond net.core.rmem_max only as root)"},
    {.name = "tls",
     .type = CFG_OBJECT,
     .section = &input_tls_section,
     .doc_type = "object, `tls://` only",
     .help = "the listener's certificate, and the CA of client certificates"},
};
static const cfg_section_t input_section = {input_keys, HA_ARRAY_LEN(input_keys),
                                            sizeof(input_config_t), cfg_check_input};

static const cfg_key_t dedup_keys[] = {
    {.name = "window_ms",
     .type = CFG_UINT,
     FIELD(config_t, dedup.window_ms),
     .max = 60000,
     .def = 0,
     .doc_default = "0 (off)",
     .help = "a SIP message seen again within this (capture time) is not sent again; 50 "
             "catches copies of two mirror ports and keeps SIP retransmissions (500 ms)"},
    {.name = "max_entries",
     .type = CFG_UINT,
     FIELD(config_t, dedup.max_entries),
     .min = 64,
     .max = 16777216,
     .def = DEDUP_DEFAULT_ENTRIES,
     .help = "messages remembered (16 bytes each); enough for 20 window lengths of traffic"},
};
static const cfg_section_t dedup_section = {dedup_keys, HA_ARRAY_LEN(dedup_keys), 0, NULL};

static const cfg_key_t document_keys[] = {
    {.name = "agent",
     .type = CFG_OBJECT,
     .section = &agent_section,
     .help = "the agent's identity and behaviour"},
    {.name = "capture",
     .type = CFG_LIST,
     .offset = offsetof(config_t, sources),
     .count_offset = offsetof(config_t, source_count),
     .section = &config_source_schema,
     .doc_type = "list (empty only with `inputs`)",
     .doc_default = "`[{\"interface\": \"any\"}]`",
     .help = "where to capture; `-i` and `-r` replace this list"},
    {.name = "decode",
     .type = CFG_OBJECT,
     .section = &decode_section,
     .help = "how frames are decoded"},
    {.name = "reassembly",
     .type = CFG_OBJECT,
     .section = &reassembly_section,
     .help = "bounds of the reassembly state; what a bound refuses is counted"},
    {.name = "rules",
     .type = CFG_LIST,
     .offset = offsetof(config_t, rules.items),
     .count_offset = offsetof(config_t, rules.count),
     .section = &rule_section,
     .flags = CFG_REQUIRED,
     .if_empty = "must hold at least one rule (without rules nothing is sent)",
     .help = "ordered; the first matching rule decides; no match: not sent"},
    {.name = "collectors",
     .type = CFG_LIST,
     .offset = offsetof(config_t, collectors),
     .count_offset = offsetof(config_t, collector_count),
     .section = &config_collector_schema,
     .flags = CFG_REQUIRED,
     .doc_type = "list, may be empty",
     .help = "where HEP goes, see `delivery.mode`; `-H` replaces this list"},
    {.name = "delivery",
     .type = CFG_OBJECT,
     .section = &delivery_section,
     .help = "how packets reach the collectors"},
    {.name = "stats",
     .type = CFG_OBJECT,
     .section = &stats_section,
     .help = "the counters for monitoring: metrics endpoint and summary line"},
    {.name = "inputs",
     .type = CFG_LIST,
     .offset = offsetof(config_t, inputs),
     .count_offset = offsetof(config_t, input_count),
     .section = &input_section,
     .doc_type = "list",
     .doc_default = "none",
     .help = "HEP listeners: what they receive goes through the rules as captured SIP does "
             "(the relay); `--listen` replaces this list"},
    {.name = "dedup",
     .type = CFG_OBJECT,
     .section = &dedup_section,
     .help = "sending a message seen twice (two interfaces, mirror ports, relaying sources) "
             "once"},
    {.name = "media",
     .type = CFG_OBJECT,
     .section = &media_section,
     .help = "RTCP and RTP quality of the calls the sent SIP announced (both off: SIP only)"},
    {.name = "tls_decrypt",
     .type = CFG_OBJECT,
     .section = &tls_decrypt_section,
     .help = "SIP over TLS decrypted with the sessions' secrets from key logs; on when a key "
             "log file or listener is given; taken at start"},
};

const cfg_section_t config_schema = {document_keys, HA_ARRAY_LEN(document_keys), sizeof(config_t),
                                     cfg_check_document};

/* The document itself, as the parser's entry point. */
const cfg_key_t config_document_key = {.name = "", .type = CFG_OBJECT, .section = &config_schema};

/* JSON configuration parsing and strict validation. Every error message names
 * the path in the document ("rules[2].hosts[0]") and why the value is wrong;
 * unknown keys are errors, so a typo never silently changes behaviour. */
#include "hepagent/config.h"
#include "hepagent/sip.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *err;
    size_t errlen;
    char path[256];
    size_t path_len;
} cfg_ctx_t;

static int cfg_fail(cfg_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int cfg_fail(cfg_ctx_t *ctx, const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(ctx->err, ctx->errlen, "config: %s: %s", ctx->path_len ? ctx->path : "(top)", why);
    return HA_EINVAL;
}

/* Path handling: push returns the previous length, pop restores it. */
static size_t cfg_push_key(cfg_ctx_t *ctx, const char *key)
{
    size_t saved = ctx->path_len;
    int n = snprintf(ctx->path + saved, sizeof(ctx->path) - saved, "%s%s", saved ? "." : "", key);
    if (n > 0) ctx->path_len = HA_MIN(saved + (size_t)n, sizeof(ctx->path) - 1);
    return saved;
}

static size_t cfg_push_index(cfg_ctx_t *ctx, size_t index)
{
    size_t saved = ctx->path_len;
    int n = snprintf(ctx->path + saved, sizeof(ctx->path) - saved, "[%zu]", index);
    if (n > 0) ctx->path_len = HA_MIN(saved + (size_t)n, sizeof(ctx->path) - 1);
    return saved;
}

static void cfg_pop(cfg_ctx_t *ctx, size_t saved)
{
    ctx->path_len = saved;
    ctx->path[saved] = '\0';
}

static const char *cfg_type_name(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "a boolean";
    case json_type_double:
        return "a fractional number";
    case json_type_int:
        return "an integer";
    case json_type_object:
        return "an object";
    case json_type_array:
        return "an array";
    case json_type_string:
        return "a string";
    }
    return "?";
}

/* Checks that v is an object whose keys are all in allowed (NULL-terminated). */
static int cfg_object(cfg_ctx_t *ctx, json_object *v, const char *const *allowed)
{
    if (!json_object_is_type(v, json_type_object))
        return cfg_fail(ctx, "must be an object, not %s", cfg_type_name(v));
    json_object_object_foreach(v, key, val)
    {
        (void)val;
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed[i]) {
            char list[160] = "";
            for (size_t k = 0; allowed[k]; k++) {
                size_t used = strlen(list);
                snprintf(list + used, sizeof(list) - used, "%s%s", k ? ", " : "", allowed[k]);
            }
            return cfg_fail(ctx, "unknown key \"%s\" (expected one of: %s)", key, list);
        }
    }
    return HA_OK;
}

/* Field getters: key absent leaves *out unchanged (the default) unless required. */
static int cfg_string(cfg_ctx_t *ctx, json_object *obj, const char *key, int required,
                      int allow_empty, size_t max_len, char **out)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v)) {
        if (required) return cfg_fail(ctx, "missing required key \"%s\"", key);
        return HA_OK;
    }
    size_t saved = cfg_push_key(ctx, key);
    if (!json_object_is_type(v, json_type_string))
        return cfg_fail(ctx, "must be a string, not %s", cfg_type_name(v));
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (strlen(s) != len) return cfg_fail(ctx, "must not contain NUL characters");
    if (!allow_empty && len == 0) return cfg_fail(ctx, "must not be empty");
    if (len > max_len) return cfg_fail(ctx, "is longer than %zu characters", max_len);
    cfg_pop(ctx, saved);
    free(*out);
    *out = strdup(s);
    return *out ? HA_OK : HA_ENOMEM;
}

static int cfg_integer_value(cfg_ctx_t *ctx, json_object *v, int64_t min, int64_t max, int64_t *out)
{
    if (!json_object_is_type(v, json_type_int))
        return cfg_fail(ctx, "must be an integer, not %s", cfg_type_name(v));
    errno = 0;
    int64_t n = json_object_get_int64(v);
    if (errno == ERANGE || n < min || n > max) {
        return cfg_fail(ctx, "%s is out of range (%lld..%lld)", json_object_to_json_string(v),
                        (long long)min, (long long)max);
    }
    *out = n;
    return HA_OK;
}

static int cfg_u32(cfg_ctx_t *ctx, json_object *obj, const char *key, int64_t min, int64_t max,
                   uint32_t *out)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v)) return HA_OK;
    size_t saved = cfg_push_key(ctx, key);
    int64_t n;
    int rc = cfg_integer_value(ctx, v, min, max, &n);
    if (rc != HA_OK) return rc;
    cfg_pop(ctx, saved);
    *out = (uint32_t)n;
    return HA_OK;
}

static int cfg_bool(cfg_ctx_t *ctx, json_object *obj, const char *key, int *out)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v)) return HA_OK;
    if (!json_object_is_type(v, json_type_boolean)) {
        size_t saved = cfg_push_key(ctx, key);
        (void)saved;
        return cfg_fail(ctx, "must be true or false, not %s", cfg_type_name(v));
    }
    *out = json_object_get_boolean(v);
    return HA_OK;
}

/* Gets an optional array; *out NULL when absent. Empty arrays are refused
 * when must_fill, because "[]" in a rule would silently match nothing. */
static int cfg_array(cfg_ctx_t *ctx, json_object *obj, const char *key, int must_fill,
                     json_object **out)
{
    json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(obj, key, &v)) return HA_OK;
    size_t saved = cfg_push_key(ctx, key);
    if (!json_object_is_type(v, json_type_array))
        return cfg_fail(ctx, "must be an array, not %s", cfg_type_name(v));
    if (must_fill && json_object_array_length(v) == 0)
        return cfg_fail(ctx, "must not be empty (leave the key out to match everything)");
    cfg_pop(ctx, saved);
    *out = v;
    return HA_OK;
}

/* ---- agent ---------------------------------------------------------- */

static int cfg_agent(cfg_ctx_t *ctx, json_object *v, config_t *cfg)
{
    static const char *const keys[] = {"capture_id", "node_name",           "auth_key",
                                       "log_level",  "shutdown_timeout_ms", NULL};
    int rc = cfg_object(ctx, v, keys);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "capture_id", 0, UINT32_MAX, &cfg->capture_id);
    if (rc == HA_OK) rc = cfg_string(ctx, v, "node_name", 0, 0, 255, &cfg->node_name);
    if (rc == HA_OK) rc = cfg_string(ctx, v, "auth_key", 0, 0, 255, &cfg->auth_key);
    if (rc == HA_OK)
        rc = cfg_u32(ctx, v, "shutdown_timeout_ms", 0, 3600000, &cfg->shutdown_timeout_ms);
    char *level = NULL;
    if (rc == HA_OK) rc = cfg_string(ctx, v, "log_level", 0, 0, 16, &level);
    if (rc == HA_OK && level && log_level_parse(level, &cfg->log_level) != HA_OK) {
        size_t saved = cfg_push_key(ctx, "log_level");
        (void)saved;
        rc = cfg_fail(ctx, "\"%s\" is not one of error, warn, info, debug", level);
    }
    free(level);
    return rc;
}

/* ---- capture -------------------------------------------------------- */

static int cfg_source(cfg_ctx_t *ctx, json_object *v, capture_source_t *src)
{
    static const char *const keys[] = {"interface", "file",      "bpf", "snaplen",
                                       "promisc",   "buffer_mb", NULL};
    int rc = cfg_object(ctx, v, keys);
    if (rc == HA_OK) rc = cfg_string(ctx, v, "interface", 0, 0, 255, &src->interface);
    if (rc == HA_OK) rc = cfg_string(ctx, v, "file", 0, 0, 4096, &src->file);
    if (rc == HA_OK) rc = cfg_string(ctx, v, "bpf", 0, 1, 4096, &src->bpf);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "snaplen", 64, 262144, &src->snaplen);
    if (rc == HA_OK) rc = cfg_bool(ctx, v, "promisc", &src->promisc);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "buffer_mb", 1, 4096, &src->buffer_mb);
    if (rc != HA_OK) return rc;
    if (!src->interface == !src->file)
        return cfg_fail(ctx, "needs exactly one of \"interface\" and \"file\"");
    if (src->bpf && src->bpf[0] == '\0') {
        free(src->bpf);
        src->bpf = NULL;
    }
    return HA_OK;
}

static void cfg_source_defaults(capture_source_t *src)
{
    memset(src, 0, sizeof(*src));
    src->snaplen = CONFIG_DEFAULT_SNAPLEN;
    src->buffer_mb = CONFIG_DEFAULT_BUFFER_MB;
}

static int cfg_capture(cfg_ctx_t *ctx, json_object *arr, config_t *cfg)
{
    size_t n = json_object_array_length(arr);
    cfg->sources = calloc(n ? n : 1, sizeof(*cfg->sources));
    if (!cfg->sources) return HA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t saved = cfg_push_index(ctx, i);
        capture_source_t *src = &cfg->sources[cfg->source_count++];
        cfg_source_defaults(src);
        int rc = cfg_source(ctx, json_object_array_get_idx(arr, i), src);
        if (rc != HA_OK) return rc;
        cfg_pop(ctx, saved);
    }
    return HA_OK;
}

/* ---- decode --------------------------------------------------------- */

static int cfg_decode(cfg_ctx_t *ctx, json_object *v, config_t *cfg)
{
    static const char *const keys[] = {"vxlan_port", "max_depth", "tunnels", NULL};
    uint32_t vxlan = cfg->decode.vxlan_port, depth = cfg->decode.max_depth;
    int tunnels = cfg->decode.decode_tunnels;
    int rc = cfg_object(ctx, v, keys);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "vxlan_port", 0, 65535, &vxlan);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "max_depth", 1, 32, &depth);
    if (rc == HA_OK) rc = cfg_bool(ctx, v, "tunnels", &tunnels);
    cfg->decode.vxlan_port = (uint16_t)vxlan;
    cfg->decode.max_depth = (uint8_t)depth;
    cfg->decode.decode_tunnels = (uint8_t)tunnels;
    return rc;
}

/* ---- reassembly ----------------------------------------------------- */

static int cfg_reassembly(cfg_ctx_t *ctx, json_object *v, config_t *cfg)
{
    static const char *const keys[] = {
        "ip_datagrams",  "ip_memory_kb",  "ip_timeout_ms",  "tcp_streams",
        "tcp_stream_kb", "tcp_memory_kb", "tcp_timeout_ms", NULL};
    uint32_t ip_kb = (uint32_t)(cfg->ipfrag.memcap / 1024);
    uint32_t tcp_kb = (uint32_t)(cfg->tcp.memcap / 1024);
    uint32_t stream_kb = cfg->tcp.max_stream_bytes / 1024;
    int rc = cfg_object(ctx, v, keys);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "ip_datagrams", 1, 1000000, &cfg->ipfrag.max_datagrams);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "ip_memory_kb", 64, 4194304, &ip_kb);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "ip_timeout_ms", 100, 600000, &cfg->ipfrag.timeout_ms);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "tcp_streams", 1, 10000000, &cfg->tcp.max_streams);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "tcp_stream_kb", 4, 65536, &stream_kb);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "tcp_memory_kb", 64, 4194304, &tcp_kb);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "tcp_timeout_ms", 1000, 86400000, &cfg->tcp.timeout_ms);
    if (rc != HA_OK) return rc;
    cfg->ipfrag.memcap = (size_t)ip_kb * 1024;
    cfg->tcp.memcap = (size_t)tcp_kb * 1024;
    cfg->tcp.max_stream_bytes = stream_kb * 1024;
    if (cfg->tcp.memcap < cfg->tcp.max_stream_bytes)
        return cfg_fail(ctx, "tcp_memory_kb (%u) must be at least tcp_stream_kb (%u)", tcp_kb,
                        stream_kb);
    return HA_OK;
}

/* ---- delivery ------------------------------------------------------- */

static int cfg_delivery(cfg_ctx_t *ctx, json_object *v, config_t *cfg)
{
    static const char *const keys[] = {"mode",
                                       "connect_timeout_ms",
                                       "reconnect_min_ms",
                                       "reconnect_max_ms",
                                       "spool_dir",
                                       "spool_mb",
                                       NULL};
    delivery_config_t *d = &cfg->delivery;
    char *mode = NULL;
    int rc = cfg_object(ctx, v, keys);
    if (rc == HA_OK) rc = cfg_string(ctx, v, "mode", 0, 0, 16, &mode);
    if (rc == HA_OK && mode) {
        if (strcmp(mode, "all") == 0)
            d->mode = DELIVERY_ALL;
        else if (strcmp(mode, "failover") == 0)
            d->mode = DELIVERY_FAILOVER;
        else if (strcmp(mode, "hash") == 0)
            d->mode = DELIVERY_HASH;
        else {
            cfg_push_key(ctx, "mode");
            rc = cfg_fail(ctx, "\"%s\" is not one of all, failover, hash", mode);
        }
    }
    free(mode);
    if (rc == HA_OK)
        rc = cfg_u32(ctx, v, "connect_timeout_ms", 100, 600000, &d->connect_timeout_ms);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "reconnect_min_ms", 10, 600000, &d->reconnect_min_ms);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "reconnect_max_ms", 10, 3600000, &d->reconnect_max_ms);
    if (rc == HA_OK) rc = cfg_string(ctx, v, "spool_dir", 0, 0, 4096, &d->spool_dir);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "spool_mb", 1, 1048576, &d->spool_mb);
    if (rc == HA_OK && d->reconnect_min_ms > d->reconnect_max_ms)
        rc = cfg_fail(ctx, "reconnect_min_ms (%u) is above reconnect_max_ms (%u)",
                      d->reconnect_min_ms, d->reconnect_max_ms);
    return rc;
}

/* ---- rules ---------------------------------------------------------- */

static int cfg_rule_ports(cfg_ctx_t *ctx, json_object *arr, rule_t *rule)
{
    size_t n = json_object_array_length(arr);
    rule->ports = calloc(n, sizeof(*rule->ports));
    if (!rule->ports) return HA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t saved = cfg_push_index(ctx, i);
        json_object *v = json_object_array_get_idx(arr, i);
        rule_port_range_t *range = &rule->ports[rule->port_count++];
        if (json_object_is_type(v, json_type_int)) {
            int64_t port;
            int rc = cfg_integer_value(ctx, v, 1, 65535, &port);
            if (rc != HA_OK) return rc;
            range->low = range->high = (uint16_t)port;
        } else if (json_object_is_type(v, json_type_string)) {
            if (rules_parse_port_range(json_object_get_string(v), range) != HA_OK)
                return cfg_fail(ctx, "\"%s\" is not a port (1-65535) or range \"low-high\"",
                                json_object_get_string(v));
        } else {
            return cfg_fail(ctx, "must be a port number or a \"low-high\" string, not %s",
                            cfg_type_name(v));
        }
        cfg_pop(ctx, saved);
    }
    return HA_OK;
}

static int cfg_rule_hosts(cfg_ctx_t *ctx, json_object *arr, rule_t *rule)
{
    size_t n = json_object_array_length(arr);
    rule->hosts = calloc(n, sizeof(*rule->hosts));
    if (!rule->hosts) return HA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t saved = cfg_push_index(ctx, i);
        json_object *v = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(v, json_type_string))
            return cfg_fail(ctx, "must be a string, not %s", cfg_type_name(v));
        if (rules_parse_cidr(json_object_get_string(v), &rule->hosts[rule->host_count++]) != HA_OK)
            return cfg_fail(ctx, "\"%s\" is not an IP address or CIDR", json_object_get_string(v));
        cfg_pop(ctx, saved);
    }
    return HA_OK;
}

static int cfg_rule_transports(cfg_ctx_t *ctx, json_object *arr, rule_t *rule)
{
    rule->transports = 0;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        size_t saved = cfg_push_index(ctx, i);
        json_object *v = json_object_array_get_idx(arr, i);
        unsigned bit;
        if (!json_object_is_type(v, json_type_string) ||
            rules_parse_transport(json_object_get_string(v), &bit) != HA_OK)
            return cfg_fail(ctx, "%s is not one of \"udp\", \"tcp\", \"sctp\", \"ws\"",
                            json_object_to_json_string(v));
        rule->transports |= bit;
        cfg_pop(ctx, saved);
    }
    return HA_OK;
}

/* Methods are SIP tokens; they are compared case-sensitively on the wire (RFC
 * 3261 7.1) and so are stored as written, after checking they are tokens. */
static int cfg_rule_methods(cfg_ctx_t *ctx, json_object *arr, char ***out, size_t *count)
{
    size_t n = json_object_array_length(arr);
    *out = calloc(n, sizeof(char *));
    if (!*out) return HA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t saved = cfg_push_index(ctx, i);
        json_object *v = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(v, json_type_string))
            return cfg_fail(ctx, "must be a string, not %s", cfg_type_name(v));
        const char *m = json_object_get_string(v);
        size_t len = strlen(m);
        if (len == 0 || len > SIP_MAX_METHOD_LEN ||
            strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "abcdefghijklmnopqrstuvwxyz"
                      "0123456789-.!%*_+`'~") != len)
            return cfg_fail(ctx, "\"%s\" is not a SIP method name", m);
        if (!((*out)[(*count)++] = strdup(m))) return HA_ENOMEM;
        cfg_pop(ctx, saved);
    }
    return HA_OK;
}

static int cfg_rule(cfg_ctx_t *ctx, json_object *v, rule_t *rule, const config_t *cfg)
{
    static const char *const keys[] = {"name",       "ports",   "hosts",
                                       "transport",  "methods", "methods_exclude",
                                       "capture_id", "action",  NULL};
    json_object *arr;
    int rc = cfg_object(ctx, v, keys);
    if (rc == HA_OK) rc = cfg_string(ctx, v, "name", 1, 0, 64, &rule->name);
    if (rc != HA_OK) return rc;
    for (size_t i = 0; i < cfg->rules.count - 1; i++) {
        if (strcmp(cfg->rules.items[i].name, rule->name) == 0) {
            size_t saved = cfg_push_key(ctx, "name");
            (void)saved;
            return cfg_fail(ctx, "\"%s\" is already the name of rules[%zu]", rule->name, i);
        }
    }
    struct {
        const char *key;
        int (*parse)(cfg_ctx_t *, json_object *, rule_t *);
    } lists[] = {
        {"ports", cfg_rule_ports},
        {"hosts", cfg_rule_hosts},
        {"transport", cfg_rule_transports},
    };
    for (size_t i = 0; i < HA_ARRAY_LEN(lists); i++) {
        if ((rc = cfg_array(ctx, v, lists[i].key, 1, &arr)) != HA_OK) return rc;
        if (!arr) continue;
        size_t saved = cfg_push_key(ctx, lists[i].key);
        if ((rc = lists[i].parse(ctx, arr, rule)) != HA_OK) return rc;
        cfg_pop(ctx, saved);
    }
    const struct {
        const char *key;
        char ***list;
        size_t *count;
    } methods[] = {
        {"methods", &rule->methods, &rule->method_count},
        {"methods_exclude", &rule->methods_exclude, &rule->method_exclude_count},
    };
    for (size_t i = 0; i < HA_ARRAY_LEN(methods); i++) {
        if ((rc = cfg_array(ctx, v, methods[i].key, 1, &arr)) != HA_OK) return rc;
        if (!arr) continue;
        size_t saved = cfg_push_key(ctx, methods[i].key);
        if ((rc = cfg_rule_methods(ctx, arr, methods[i].list, methods[i].count)) != HA_OK)
            return rc;
        cfg_pop(ctx, saved);
    }
    json_object *cid;
    if (json_object_object_get_ex(v, "capture_id", &cid)) {
        rule->has_capture_id = 1;
        if ((rc = cfg_u32(ctx, v, "capture_id", 0, UINT32_MAX, &rule->capture_id)) != HA_OK)
            return rc;
    }
    char *action = NULL;
    rc = cfg_string(ctx, v, "action", 0, 0, 16, &action);
    if (rc == HA_OK && action) {
        if (strcmp(action, "send") == 0) {
            rule->action = RULE_SEND;
        } else if (strcmp(action, "drop") == 0) {
            rule->action = RULE_DROP;
        } else {
            size_t saved = cfg_push_key(ctx, "action");
            (void)saved;
            rc = cfg_fail(ctx, "\"%s\" is not \"send\" or \"drop\"", action);
        }
    }
    free(action);
    return rc;
}

static int cfg_rules(cfg_ctx_t *ctx, json_object *arr, config_t *cfg)
{
    size_t n = json_object_array_length(arr);
    if (n == 0) return cfg_fail(ctx, "must hold at least one rule (without rules nothing is sent)");
    cfg->rules.items = calloc(n, sizeof(rule_t));
    if (!cfg->rules.items) return HA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t saved = cfg_push_index(ctx, i);
        rule_t *rule = &cfg->rules.items[cfg->rules.count++];
        rule->transports = RULE_TRANSPORT_ALL;
        int rc = cfg_rule(ctx, json_object_array_get_idx(arr, i), rule, cfg);
        if (rc != HA_OK) return rc;
        cfg_pop(ctx, saved);
    }
    return HA_OK;
}

/* ---- collectors ----------------------------------------------------- */

int config_parse_collector_url(const char *url, collector_config_t *c, char *why, size_t whylen)
{
    memset(c, 0, sizeof(*c));
    c->compress_min_bytes = CONFIG_DEFAULT_COMPRESS_MIN;
    c->queue_kb = CONFIG_DEFAULT_QUEUE_KB;
    c->queue_packets = CONFIG_DEFAULT_QUEUE_PACKETS;
    c->drop_oldest = 1;
    const char *rest;
    if (strncmp(url, "udp://", 6) == 0) {
        c->transport = COLLECTOR_UDP;
        rest = url + 6;
    } else if (strncmp(url, "tcp://", 6) == 0) {
        c->transport = COLLECTOR_TCP;
        rest = url + 6;
    } else if (strncmp(url, "tls://", 6) == 0) {
        c->transport = COLLECTOR_TLS;
        rest = url + 6;
    } else {
        snprintf(why, whylen, "\"%s\" must start with udp://, tcp:// or tls://", url);
        return HA_EINVAL;
    }
    const char *host = rest, *host_end, *colon;
    if (*rest == '[') {
        host = rest + 1;
        host_end = strchr(host, ']');
        if (!host_end || host_end[1] != ':') {
            snprintf(why, whylen, "\"%s\": an IPv6 address is written [addr]:port", url);
            return HA_EINVAL;
        }
        colon = host_end + 1;
    } else {
        colon = strrchr(rest, ':');
        host_end = colon;
        if (colon && memchr(rest, ':', (size_t)(colon - rest))) {
            snprintf(why, whylen, "\"%s\": an IPv6 address is written [addr]:port", url);
            return HA_EINVAL;
        }
    }
    if (!colon || host_end == host) {
        snprintf(why, whylen, "\"%s\" needs a host and a port, as udp://HOST:PORT", url);
        return HA_EINVAL;
    }
    for (const char *p = host; p < host_end; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == ':' || *p == '_' || *p == '%')) {
            snprintf(why, whylen, "\"%s\": bad character in host", url);
            return HA_EINVAL;
        }
    }
    rule_port_range_t port;
    if (strchr(colon + 1, '-') || rules_parse_port_range(colon + 1, &port) != HA_OK) {
        snprintf(why, whylen, "\"%s\": port must be 1-65535", url);
        return HA_EINVAL;
    }
    c->port = port.low;
    c->host = strndup(host, (size_t)(host_end - host));
    c->url = strdup(url);
    return (c->host && c->url) ? HA_OK : HA_ENOMEM;
}

void config_collector_free(collector_config_t *c)
{
    char **strings[] = {&c->url,       &c->host,     &c->ca_file,    &c->ca_dir,
                        &c->cert_file, &c->key_file, &c->server_name};
    for (size_t i = 0; i < HA_ARRAY_LEN(strings); i++) {
        free(*strings[i]);
        *strings[i] = NULL;
    }
}

static int cfg_str_equal(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int config_collector_equal(const collector_config_t *a, const collector_config_t *b)
{
    return cfg_str_equal(a->url, b->url) && a->compress == b->compress &&
           a->compress_min_bytes == b->compress_min_bytes && a->queue_kb == b->queue_kb &&
           a->queue_packets == b->queue_packets && a->drop_oldest == b->drop_oldest &&
           a->spool == b->spool && a->insecure == b->insecure &&
           cfg_str_equal(a->ca_file, b->ca_file) && cfg_str_equal(a->ca_dir, b->ca_dir) &&
           cfg_str_equal(a->cert_file, b->cert_file) && cfg_str_equal(a->key_file, b->key_file) &&
           cfg_str_equal(a->server_name, b->server_name);
}

int config_collector_copy(collector_config_t *dst, const collector_config_t *src)
{
    *dst = *src;
    char **strings[] = {&dst->url,       &dst->host,     &dst->ca_file,    &dst->ca_dir,
                        &dst->cert_file, &dst->key_file, &dst->server_name};
    int rc = HA_OK;
    for (size_t i = 0; i < HA_ARRAY_LEN(strings); i++)
        if (*strings[i] && !(*strings[i] = strdup(*strings[i]))) rc = HA_ENOMEM;
    if (rc != HA_OK) config_collector_free(dst);
    return rc;
}

static int cfg_collector_tls(cfg_ctx_t *ctx, json_object *v, collector_config_t *c)
{
    static const char *const keys[] = {"ca_file",     "ca_dir",   "cert_file", "key_file",
                                       "server_name", "insecure", NULL};
    int rc = cfg_object(ctx, v, keys);
    if (rc == HA_OK) rc = cfg_string(ctx, v, "ca_file", 0, 0, 4096, &c->ca_file);
    if (rc == HA_OK) rc = cfg_string(ctx, v, "ca_dir", 0, 0, 4096, &c->ca_dir);
    if (rc == HA_OK) rc = cfg_string(ctx, v, "cert_file", 0, 0, 4096, &c->cert_file);
    if (rc == HA_OK) rc = cfg_string(ctx, v, "key_file", 0, 0, 4096, &c->key_file);
    if (rc == HA_OK) rc = cfg_string(ctx, v, "server_name", 0, 0, 255, &c->server_name);
    if (rc == HA_OK) rc = cfg_bool(ctx, v, "insecure", &c->insecure);
    if (rc == HA_OK && c->key_file && !c->cert_file)
        rc = cfg_fail(ctx, "\"key_file\" needs \"cert_file\"");
    if (rc == HA_OK && c->insecure && (c->ca_file || c->ca_dir))
        rc = cfg_fail(ctx, "\"insecure\" verifies nothing: leave out ca_file/ca_dir, or it");
    return rc;
}

static int cfg_collector(cfg_ctx_t *ctx, json_object *v, collector_config_t *c)
{
    static const char *const keys[] = {"url",      "compress",      "compress_min_bytes",
                                       "queue_kb", "queue_packets", "drop",
                                       "spool",    "tls",           NULL};
    char *url = NULL, *drop = NULL;
    int rc = cfg_object(ctx, v, keys);
    if (rc == HA_OK) rc = cfg_string(ctx, v, "url", 1, 0, 1024, &url);
    if (rc != HA_OK) {
        free(url);
        return rc;
    }
    char why[200];
    if (config_parse_collector_url(url, c, why, sizeof(why)) != HA_OK) {
        free(url);
        cfg_push_key(ctx, "url");
        return cfg_fail(ctx, "%s", why);
    }
    free(url);
    rc = cfg_bool(ctx, v, "compress", &c->compress);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "compress_min_bytes", 0, 65535, &c->compress_min_bytes);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "queue_kb", 64, 4194304, &c->queue_kb);
    if (rc == HA_OK) rc = cfg_u32(ctx, v, "queue_packets", 1, 100000000, &c->queue_packets);
    if (rc == HA_OK) rc = cfg_bool(ctx, v, "spool", &c->spool);
    if (rc == HA_OK) rc = cfg_string(ctx, v, "drop", 0, 0, 16, &drop);
    if (rc == HA_OK && drop) {
        if (strcmp(drop, "oldest") == 0 || strcmp(drop, "newest") == 0) {
            c->drop_oldest = strcmp(drop, "oldest") == 0;
        } else {
            cfg_push_key(ctx, "drop");
            rc = cfg_fail(ctx, "\"%s\" is not \"oldest\" or \"newest\"", drop);
        }
    }
    free(drop);
    json_object *tls;
    if (rc == HA_OK && json_object_object_get_ex(v, "tls", &tls)) {
        size_t saved = cfg_push_key(ctx, "tls");
        if (c->transport != COLLECTOR_TLS)
            return cfg_fail(ctx, "only for tls:// collectors (the url is %s)", c->url);
        if ((rc = cfg_collector_tls(ctx, tls, c)) != HA_OK) return rc;
        cfg_pop(ctx, saved);
    }
    return rc;
}

static int cfg_collectors(cfg_ctx_t *ctx, json_object *arr, config_t *cfg)
{
    size_t n = json_object_array_length(arr);
    cfg->collectors = calloc(n ? n : 1, sizeof(*cfg->collectors));
    if (!cfg->collectors) return HA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t saved = cfg_push_index(ctx, i);
        collector_config_t *c = &cfg->collectors[cfg->collector_count];
        int rc = cfg_collector(ctx, json_object_array_get_idx(arr, i), c);
        if (rc != HA_OK) {
            config_collector_free(c);
            return rc;
        }
        cfg->collector_count++;
        for (size_t k = 0; k + 1 < cfg->collector_count; k++) {
            if (strcmp(cfg->collectors[k].url, c->url) == 0) {
                cfg_push_key(ctx, "url");
                return cfg_fail(ctx, "\"%s\" is already collectors[%zu]", c->url, k);
            }
        }
        cfg_pop(ctx, saved);
    }
    return HA_OK;
}

/* ---- document ------------------------------------------------------- */

static int cfg_document(cfg_ctx_t *ctx, json_object *root, config_t *cfg)
{
    static const char *const keys[] = {"agent", "capture",    "decode",   "reassembly",
                                       "rules", "collectors", "delivery", NULL};
    int rc = cfg_object(ctx, root, keys);
    if (rc != HA_OK) return rc;
    json_object *v;
    if (json_object_object_get_ex(root, "agent", &v)) {
        size_t saved = cfg_push_key(ctx, "agent");
        if ((rc = cfg_agent(ctx, v, cfg)) != HA_OK) return rc;
        cfg_pop(ctx, saved);
    }
    if (json_object_object_get_ex(root, "decode", &v)) {
        size_t saved = cfg_push_key(ctx, "decode");
        if ((rc = cfg_decode(ctx, v, cfg)) != HA_OK) return rc;
        cfg_pop(ctx, saved);
    }
    if (json_object_object_get_ex(root, "delivery", &v)) {
        size_t saved = cfg_push_key(ctx, "delivery");
        if ((rc = cfg_delivery(ctx, v, cfg)) != HA_OK) return rc;
        cfg_pop(ctx, saved);
    }
    if (json_object_object_get_ex(root, "reassembly", &v)) {
        size_t saved = cfg_push_key(ctx, "reassembly");
        if ((rc = cfg_reassembly(ctx, v, cfg)) != HA_OK) return rc;
        cfg_pop(ctx, saved);
    }
    const struct {
        const char *key;
        int (*parse)(cfg_ctx_t *, json_object *, config_t *);
    } lists[] = {{"capture", cfg_capture}, {"rules", cfg_rules}, {"collectors", cfg_collectors}};
    for (size_t i = 0; i < HA_ARRAY_LEN(lists); i++) {
        json_object *arr;
        if ((rc = cfg_array(ctx, root, lists[i].key, 0, &arr)) != HA_OK) return rc;
        if (!arr) {
            if (strcmp(lists[i].key, "capture") == 0) continue; /* -i/-r may supply it */
            return cfg_fail(ctx, "missing required key \"%s\"", lists[i].key);
        }
        size_t saved = cfg_push_key(ctx, lists[i].key);
        if ((rc = lists[i].parse(ctx, arr, cfg)) != HA_OK) return rc;
        cfg_pop(ctx, saved);
    }
    for (size_t i = 0; i < cfg->collector_count; i++) {
        if (cfg->collectors[i].spool && !cfg->delivery.spool_dir) {
            cfg_push_key(ctx, "collectors");
            cfg_push_index(ctx, i);
            cfg_push_key(ctx, "spool");
            return cfg_fail(ctx, "needs delivery.spool_dir");
        }
    }
    return HA_OK;
}

static config_t *cfg_new(const char *origin)
{
    config_t *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) return NULL;
    cfg->origin = strdup(origin);
    cfg->capture_id = CONFIG_DEFAULT_CAPTURE_ID;
    cfg->log_level = LOG_INFO;
    cfg->shutdown_timeout_ms = CONFIG_DEFAULT_SHUTDOWN_MS;
    decode_options_default(&cfg->decode);
    cfg->ipfrag =
        (ipfrag_options_t){IPFRAG_DEFAULT_DATAGRAMS, (size_t)IPFRAG_DEFAULT_MEMCAP_KB * 1024,
                           IPFRAG_DEFAULT_TIMEOUT_MS};
    cfg->tcp = (tcpstream_options_t){TCPSTREAM_DEFAULT_STREAMS, TCPSTREAM_DEFAULT_STREAM_KB * 1024,
                                     (size_t)TCPSTREAM_DEFAULT_MEMCAP_KB * 1024,
                                     TCPSTREAM_DEFAULT_TIMEOUT_MS};
    cfg->delivery = (delivery_config_t){DELIVERY_ALL,
                                        CONFIG_DEFAULT_CONNECT_TIMEOUT_MS,
                                        CONFIG_DEFAULT_RECONNECT_MIN_MS,
                                        CONFIG_DEFAULT_RECONNECT_MAX_MS,
                                        NULL,
                                        CONFIG_DEFAULT_SPOOL_MB};
    cfg->sctp = (sctp_options_t){SCTP_DEFAULT_ASSOCIATIONS, SCTP_DEFAULT_MESSAGE_KB * 1024,
                                 (size_t)SCTP_DEFAULT_MEMCAP_KB * 1024, SCTP_DEFAULT_TIMEOUT_MS};
    if (!cfg->origin) {
        free(cfg);
        return NULL;
    }
    return cfg;
}

/* Line and column of a byte offset, for JSON syntax errors. */
static void cfg_position(const char *json, size_t offset, unsigned *line, unsigned *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < offset && json[i]; i++) {
        if (json[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

int config_parse(const char *json, const char *origin, config_t **out, char *err, size_t errlen)
{
    *out = NULL;
    json_tokener *tok = json_tokener_new();
    if (!tok) return HA_ENOMEM;
    size_t len = strlen(json);
    json_object *root = json_tokener_parse_ex(tok, json, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    unsigned line, col;
    if (!root || jerr != json_tokener_success) {
        if (jerr == json_tokener_continue) end = len;
        cfg_position(json, end, &line, &col);
        snprintf(err, errlen, "config: %s:%u:%u: JSON syntax error: %s", origin, line, col,
                 jerr == json_tokener_continue ? "unexpected end of file"
                                               : json_tokener_error_desc(jerr));
        json_object_put(root);
        return HA_EINVAL;
    }
    /* only white space may follow the document */
    for (size_t i = end; i < len; i++) {
        if (json[i] != ' ' && json[i] != '\t' && json[i] != '\n' && json[i] != '\r') {
            cfg_position(json, i, &line, &col);
            snprintf(err, errlen, "config: %s:%u:%u: JSON syntax error: text after the document",
                     origin, line, col);
            json_object_put(root);
            return HA_EINVAL;
        }
    }
    config_t *cfg = cfg_new(origin);
    if (!cfg) {
        json_object_put(root);
        return HA_ENOMEM;
    }
    cfg_ctx_t ctx = {.err = err, .errlen = errlen};
    int rc = cfg_document(&ctx, root, cfg);
    json_object_put(root);
    if (rc != HA_OK) {
        if (rc == HA_ENOMEM) snprintf(err, errlen, "config: out of memory");
        config_free(cfg);
        return rc;
    }
    *out = cfg;
    return HA_OK;
}

int config_load_file(const char *path, config_t **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "config: %s: cannot open: %s", path, strerror(errno));
        return HA_EINVAL;
    }
    enum { CONFIG_MAX_BYTES = 1 << 20 };
    char *text = malloc(CONFIG_MAX_BYTES + 1);
    if (!text) {
        fclose(f);
        return HA_ENOMEM;
    }
    size_t n = fread(text, 1, CONFIG_MAX_BYTES + 1, f);
    int read_error = ferror(f);
    fclose(f);
    int rc = HA_EINVAL;
    if (read_error) {
        snprintf(err, errlen, "config: %s: cannot read: %s", path, strerror(errno));
    } else if (n > CONFIG_MAX_BYTES) {
        snprintf(err, errlen, "config: %s: larger than 1 MiB", path);
    } else if (memchr(text, '\0', n)) {
        snprintf(err, errlen, "config: %s: contains a NUL byte (not a text file)", path);
    } else {
        text[n] = '\0';
        rc = config_parse(text, path, out, err, errlen);
        /* name the file in path errors too, so the user knows which one */
        if (rc == HA_EINVAL && strncmp(err, "config: ", 8) == 0 &&
            strncmp(err + 8, path, strlen(path)) != 0) {
            size_t used = strlen(err);
            snprintf(err + used, errlen - used, " (in %s)", path);
        }
    }
    free(text);
    return rc;
}

const char *config_default_path(void)
{
    static const char path[] = HEPAGENT_SYSCONFDIR "/hepagent.json";
    return access(path, F_OK) == 0 ? path : NULL;
}

static void cfg_free_sources(config_t *cfg)
{
    for (size_t i = 0; i < cfg->source_count; i++) {
        free(cfg->sources[i].interface);
        free(cfg->sources[i].file);
        free(cfg->sources[i].bpf);
    }
    free(cfg->sources);
    cfg->sources = NULL;
    cfg->source_count = 0;
}

static int cfg_override_sources(config_t *cfg, const config_overrides_t *ov)
{
    size_t n = 0;
    for (size_t i = 0; ov->interfaces && ov->interfaces[i]; i++)
        n++;
    for (size_t i = 0; ov->files && ov->files[i]; i++)
        n++;
    if (n == 0) return HA_OK;
    /* keep the config's first source settings (bpf, buffer) as defaults */
    capture_source_t base;
    cfg_source_defaults(&base);
    if (cfg->source_count) base = cfg->sources[0];
    capture_source_t *sources = calloc(n, sizeof(*sources));
    if (!sources) return HA_ENOMEM;
    size_t k = 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *const *names = pass == 0 ? ov->interfaces : ov->files;
        for (size_t i = 0; names && names[i]; i++, k++) {
            sources[k].snaplen = base.snaplen;
            sources[k].promisc = base.promisc;
            sources[k].buffer_mb = base.buffer_mb;
            sources[k].bpf = base.bpf ? strdup(base.bpf) : NULL;
            if (pass == 0)
                sources[k].interface = strdup(names[i]);
            else
                sources[k].file = strdup(names[i]);
        }
    }
    cfg_free_sources(cfg);
    cfg->sources = sources;
    cfg->source_count = n;
    return HA_OK;
}

int config_apply_overrides(config_t *cfg, const config_overrides_t *ov, char *err, size_t errlen)
{
    int rc = cfg_override_sources(cfg, ov);
    if (rc != HA_OK) return rc;
    for (size_t i = 0; i < cfg->source_count; i++) {
        if (ov->bpf) {
            free(cfg->sources[i].bpf);
            cfg->sources[i].bpf = ov->bpf[0] ? strdup(ov->bpf) : NULL;
        }
        if (ov->snaplen) cfg->sources[i].snaplen = ov->snaplen;
    }
    if (ov->has_capture_id) cfg->capture_id = ov->capture_id;
    if (ov->node_name) {
        free(cfg->node_name);
        cfg->node_name = ov->node_name[0] ? strdup(ov->node_name) : NULL;
    }
    if (ov->collectors) {
        size_t n = 0;
        while (ov->collectors[n])
            n++;
        collector_config_t *list = calloc(n ? n : 1, sizeof(*list));
        if (!list) return HA_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            char why[200];
            if (config_parse_collector_url(ov->collectors[i], &list[i], why, sizeof(why)) !=
                HA_OK) {
                snprintf(err, errlen, "--collector: %s", why);
                for (size_t k = 0; k <= i; k++)
                    config_collector_free(&list[k]);
                free(list);
                return HA_EINVAL;
            }
            for (size_t k = 0; k < i; k++) {
                if (strcmp(list[k].url, list[i].url) == 0) {
                    snprintf(err, errlen, "--collector: \"%s\" given twice", list[i].url);
                    for (size_t j = 0; j <= i; j++)
                        config_collector_free(&list[j]);
                    free(list);
                    return HA_EINVAL;
                }
            }
            /* a collector the config also has keeps the config's settings */
            for (size_t k = 0; k < cfg->collector_count; k++) {
                if (strcmp(cfg->collectors[k].url, list[i].url) == 0) {
                    config_collector_free(&list[i]);
                    if (config_collector_copy(&list[i], &cfg->collectors[k]) != HA_OK) {
                        for (size_t j = 0; j < i; j++)
                            config_collector_free(&list[j]);
                        free(list);
                        return HA_ENOMEM;
                    }
                }
            }
        }
        for (size_t k = 0; k < cfg->collector_count; k++)
            config_collector_free(&cfg->collectors[k]);
        free(cfg->collectors);
        cfg->collectors = list;
        cfg->collector_count = n;
    }
    if (cfg->source_count == 0) {
        snprintf(err, errlen,
                 "config: capture: no capture source (give -i or -r, or a "
                 "\"capture\" list in the config)");
        return HA_EINVAL;
    }
    return HA_OK;
}

int config_load(const char *path, const config_overrides_t *ov, config_t **out, char *err,
                size_t errlen)
{
    int rc = path ? config_load_file(path, out, err, errlen)
                  : config_parse(config_default_json, "built-in default", out, err, errlen);
    if (rc != HA_OK) return rc;
    rc = config_apply_overrides(*out, ov, err, errlen);
    if (rc != HA_OK) {
        config_free(*out);
        *out = NULL;
    }
    return rc;
}

void config_free(config_t *cfg)
{
    if (!cfg) return;
    free(cfg->origin);
    free(cfg->node_name);
    free(cfg->auth_key);
    cfg_free_sources(cfg);
    rules_free(&cfg->rules);
    for (size_t i = 0; i < cfg->collector_count; i++)
        config_collector_free(&cfg->collectors[i]);
    free(cfg->collectors);
    free(cfg->delivery.spool_dir);
    free(cfg);
}

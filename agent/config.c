/* JSON configuration: the engine that reads a document along the schema
 * (config_schema.c), sets defaults from it, and frees, copies and compares
 * what it built. Validation is strict: unknown keys are errors, so a typo
 * never silently changes behaviour, and every error names the path in the
 * document ("rules[2].hosts[0]") and why the value is wrong. */
#include "hepagent/config.h"
#include "hepagent/config_schema.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cfg_fail(cfg_ctx_t *ctx, const char *fmt, ...)
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
size_t cfg_push_key(cfg_ctx_t *ctx, const char *key)
{
    size_t saved = ctx->path_len;
    int n = snprintf(ctx->path + saved, sizeof(ctx->path) - saved, "%s%s", saved ? "." : "", key);
    if (n > 0) ctx->path_len = HA_MIN(saved + (size_t)n, sizeof(ctx->path) - 1);
    return saved;
}

size_t cfg_push_index(cfg_ctx_t *ctx, size_t index)
{
    size_t saved = ctx->path_len;
    int n = snprintf(ctx->path + saved, sizeof(ctx->path) - saved, "[%zu]", index);
    if (n > 0) ctx->path_len = HA_MIN(saved + (size_t)n, sizeof(ctx->path) - 1);
    return saved;
}

void cfg_pop(cfg_ctx_t *ctx, size_t saved)
{
    ctx->path_len = saved;
    ctx->path[saved] = '\0';
}

const char *cfg_type_name(json_object *v)
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

int cfg_integer_value(cfg_ctx_t *ctx, json_object *v, int64_t min, int64_t max, int64_t *out)
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

int cfg_each(cfg_ctx_t *ctx, json_object *v, const char *if_empty, void *base,
             int (*parse_one)(cfg_ctx_t *ctx, json_object *item, void *base))
{
    if (!json_object_is_type(v, json_type_array))
        return cfg_fail(ctx, "must be an array, not %s", cfg_type_name(v));
    size_t n = json_object_array_length(v);
    if (n == 0 && if_empty) return cfg_fail(ctx, "%s", if_empty);
    for (size_t i = 0; i < n; i++) {
        size_t saved = cfg_push_index(ctx, i);
        int rc = parse_one(ctx, json_object_array_get_idx(v, i), base);
        if (rc != HA_OK) return rc;
        cfg_pop(ctx, saved);
    }
    return HA_OK;
}

/* ---- fields by width ------------------------------------------------ */

static void *cfg_field(void *base, const cfg_key_t *k)
{
    return (char *)base + k->offset;
}

static void cfg_store_uint(void *field, size_t size, uint64_t v)
{
    switch (size) {
    case 1:
        *(uint8_t *)field = (uint8_t)v;
        break;
    case 2:
        *(uint16_t *)field = (uint16_t)v;
        break;
    case 4:
        *(uint32_t *)field = (uint32_t)v;
        break;
    default:
        *(uint64_t *)field = v;
        break;
    }
}

static uint64_t cfg_scaled(const cfg_key_t *k, int64_t v)
{
    return (uint64_t)v * (k->scale ? k->scale : 1);
}

/* ---- reading one object along its section --------------------------- */

static int cfg_section_parse(cfg_ctx_t *ctx, const cfg_section_t *sec, json_object *obj,
                             void *base);

/* Every key of v must be one of sec's (nested objects included). */
static int cfg_known_keys(cfg_ctx_t *ctx, const cfg_section_t *sec, json_object *v)
{
    json_object_object_foreach(v, key, val)
    {
        (void)val;
        size_t i = 0;
        while (i < sec->key_count &&
               ((sec->keys[i].flags & CFG_HIDDEN) || strcmp(sec->keys[i].name, key) != 0))
            i++;
        if (i < sec->key_count) continue;
        char list[256] = "";
        for (size_t k = 0, shown = 0; k < sec->key_count; k++) {
            if (sec->keys[k].flags & CFG_HIDDEN) continue;
            size_t used = strlen(list);
            snprintf(list + used, sizeof(list) - used, "%s%s", shown++ ? ", " : "",
                     sec->keys[k].name);
        }
        return cfg_fail(ctx, "unknown key \"%s\" (expected one of: %s)", key, list);
    }
    return HA_OK;
}

static int cfg_string_value(cfg_ctx_t *ctx, const cfg_key_t *k, json_object *v, char **out)
{
    if (!json_object_is_type(v, json_type_string))
        return cfg_fail(ctx, "must be a string, not %s", cfg_type_name(v));
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (strlen(s) != len) return cfg_fail(ctx, "must not contain NUL characters");
    if (!(k->flags & CFG_EMPTY_OK) && len == 0) return cfg_fail(ctx, "must not be empty");
    if (len > (size_t)k->max)
        return cfg_fail(ctx, "is longer than %lld characters", (long long)k->max);
    free(*out);
    *out = strdup(s);
    return *out ? HA_OK : HA_ENOMEM;
}

static int cfg_enum_value(cfg_ctx_t *ctx, const cfg_key_t *k, json_object *v, int *out)
{
    if (!json_object_is_type(v, json_type_string))
        return cfg_fail(ctx, "must be a string, not %s", cfg_type_name(v));
    const char *s = json_object_get_string(v);
    char list[160] = "";
    for (int i = 0; k->choices[i]; i++) {
        if (strcmp(k->choices[i], s) == 0) {
            *out = i;
            return HA_OK;
        }
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", k->choices[i]);
    }
    if (k->flags & CFG_SECRET) return cfg_fail(ctx, "is not one of %s", list);
    return cfg_fail(ctx, "\"%.64s\" is not one of %s", s, list);
}

static int cfg_list_value(cfg_ctx_t *ctx, const cfg_key_t *k, json_object *v, void *base)
{
    if (!json_object_is_type(v, json_type_array))
        return cfg_fail(ctx, "must be an array, not %s", cfg_type_name(v));
    size_t n = json_object_array_length(v);
    if (n == 0 && k->if_empty) return cfg_fail(ctx, "%s", k->if_empty);
    const cfg_section_t *sec = k->section;
    char *items = calloc(n ? n : 1, sec->size);
    if (!items) return HA_ENOMEM;
    *(void **)cfg_field(base, k) = items;
    size_t *count = (size_t *)((char *)base + k->count_offset);
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        size_t saved = cfg_push_index(ctx, i);
        void *item = items + i * sec->size;
        cfg_section_defaults(sec, item);
        (*count)++; /* counted before parsing: a failed element is freed with the rest */
        int rc = cfg_section_parse(ctx, sec, json_object_array_get_idx(v, i), item);
        if (rc != HA_OK) return rc;
        cfg_pop(ctx, saved);
    }
    return HA_OK;
}

static int cfg_key_parse(cfg_ctx_t *ctx, const cfg_key_t *k, json_object *v, void *base)
{
    void *field = cfg_field(base, k);
    int64_t n;
    int rc;
    switch (k->type) {
    case CFG_BOOL:
        if (!json_object_is_type(v, json_type_boolean))
            return cfg_fail(ctx, "must be true or false, not %s", cfg_type_name(v));
        cfg_store_uint(field, k->size, (uint64_t)json_object_get_boolean(v));
        return HA_OK;
    case CFG_UINT:
        if ((rc = cfg_integer_value(ctx, v, k->min, k->max, &n)) != HA_OK) return rc;
        cfg_store_uint(field, k->size, cfg_scaled(k, n));
        return HA_OK;
    case CFG_STRING:
        return cfg_string_value(ctx, k, v, (char **)field);
    case CFG_ENUM:
        return cfg_enum_value(ctx, k, v, (int *)field);
    case CFG_OBJECT:
        return cfg_section_parse(ctx, k->section, v, base);
    case CFG_LIST:
        return cfg_list_value(ctx, k, v, base);
    case CFG_CUSTOM:
        if (k->if_empty && json_object_is_type(v, json_type_array) &&
            json_object_array_length(v) == 0)
            return cfg_fail(ctx, "%s", k->if_empty);
        return k->parse(ctx, v, base);
    }
    return HA_EINVAL;
}

static int cfg_section_parse(cfg_ctx_t *ctx, const cfg_section_t *sec, json_object *obj, void *base)
{
    if (!json_object_is_type(obj, json_type_object))
        return cfg_fail(ctx, "must be an object, not %s", cfg_type_name(obj));
    int rc = cfg_known_keys(ctx, sec, obj);
    if (rc != HA_OK) return rc;
    for (size_t i = 0; i < sec->key_count; i++) {
        const cfg_key_t *k = &sec->keys[i];
        if (k->flags & CFG_HIDDEN) continue;
        json_object *v;
        if (!json_object_object_get_ex(obj, k->name, &v)) {
            if (k->flags & CFG_REQUIRED)
                return cfg_fail(ctx, "missing required key \"%s\"", k->name);
            continue;
        }
        size_t saved = cfg_push_key(ctx, k->name);
        if ((rc = cfg_key_parse(ctx, k, v, base)) != HA_OK) return rc;
        cfg_pop(ctx, saved);
    }
    return sec->check ? sec->check(ctx, base) : HA_OK;
}

/* ---- defaults, free, copy, compare ---------------------------------- */

void cfg_section_defaults(const cfg_section_t *sec, void *base)
{
    for (size_t i = 0; i < sec->key_count; i++) {
        const cfg_key_t *k = &sec->keys[i];
        switch (k->type) {
        case CFG_BOOL:
        case CFG_UINT:
            cfg_store_uint(cfg_field(base, k), k->size, cfg_scaled(k, k->def));
            break;
        case CFG_ENUM:
            *(int *)cfg_field(base, k) = (int)k->def;
            break;
        case CFG_CUSTOM:
            if (k->size) cfg_store_uint(cfg_field(base, k), k->size, (uint64_t)k->def);
            break;
        case CFG_OBJECT:
            cfg_section_defaults(k->section, base);
            break;
        case CFG_STRING:
        case CFG_LIST:
            break;
        }
    }
}

void cfg_section_free(const cfg_section_t *sec, void *base)
{
    for (size_t i = 0; i < sec->key_count; i++) {
        const cfg_key_t *k = &sec->keys[i];
        void *field = cfg_field(base, k);
        switch (k->type) {
        case CFG_STRING:
            free(*(char **)field);
            *(char **)field = NULL;
            break;
        case CFG_OBJECT:
            cfg_section_free(k->section, base);
            break;
        case CFG_LIST: {
            char *items = *(char **)field;
            size_t *count = (size_t *)((char *)base + k->count_offset);
            for (size_t e = 0; items && e < *count; e++)
                cfg_section_free(k->section, items + e * k->section->size);
            free(items);
            *(char **)field = NULL;
            *count = 0;
            break;
        }
        case CFG_CUSTOM:
            if (k->release) k->release(base);
            break;
        default:
            break;
        }
    }
}

/* Only sections of scalars, strings and nested objects can be copied and
 * compared (a collector): lists and custom values are not. */
static int cfg_section_dup_strings(const cfg_section_t *sec, void *base)
{
    int rc = HA_OK;
    for (size_t i = 0; i < sec->key_count; i++) {
        const cfg_key_t *k = &sec->keys[i];
        char **s = cfg_field(base, k);
        if (k->type == CFG_STRING && *s && !(*s = strdup(*s))) rc = HA_ENOMEM;
        if (k->type == CFG_OBJECT && cfg_section_dup_strings(k->section, base) != HA_OK)
            rc = HA_ENOMEM;
    }
    return rc;
}

int cfg_section_copy(const cfg_section_t *sec, void *dst, const void *src)
{
    memcpy(dst, src, sec->size);
    int rc = cfg_section_dup_strings(sec, dst);
    if (rc != HA_OK) cfg_section_free(sec, dst);
    return rc;
}

int cfg_section_equal(const cfg_section_t *sec, const void *a, const void *b)
{
    for (size_t i = 0; i < sec->key_count; i++) {
        const cfg_key_t *k = &sec->keys[i];
        const void *x = (const char *)a + k->offset, *y = (const char *)b + k->offset;
        switch (k->type) {
        case CFG_STRING: {
            const char *s = *(char *const *)x, *t = *(char *const *)y;
            if (!s != !t || (s && strcmp(s, t) != 0)) return 0;
            break;
        }
        case CFG_BOOL:
        case CFG_UINT:
            if (memcmp(x, y, k->size) != 0) return 0;
            break;
        case CFG_ENUM:
            if (*(const int *)x != *(const int *)y) return 0;
            break;
        case CFG_OBJECT:
            if (!cfg_section_equal(k->section, a, b)) return 0;
            break;
        default:
            break;
        }
    }
    return 1;
}

int config_collector_copy(collector_config_t *dst, const collector_config_t *src)
{
    return cfg_section_copy(&config_collector_schema, dst, src);
}

void config_collector_free(collector_config_t *c)
{
    cfg_section_free(&config_collector_schema, c);
}

int config_collector_equal(const collector_config_t *a, const collector_config_t *b)
{
    return cfg_section_equal(&config_collector_schema, a, b);
}

/* ---- collector URLs ------------------------------------------------ */

int config_parse_collector_url(const char *url, collector_config_t *c, char *why, size_t whylen)
{
    memset(c, 0, sizeof(*c));
    cfg_section_defaults(&config_collector_schema, c);
    if (!(c->url = strdup(url))) return HA_ENOMEM;
    int rc = config_collector_url(c, why, whylen);
    if (rc != HA_OK) config_collector_free(c);
    return rc;
}

int config_collector_url(collector_config_t *c, char *why, size_t whylen)
{
    const char *url = c->url;
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
    free(c->host);
    c->host = strndup(host, (size_t)(host_end - host));
    return c->host ? HA_OK : HA_ENOMEM;
}

/* ---- documents -------------------------------------------------------- */

static config_t *cfg_new(const char *origin)
{
    config_t *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) return NULL;
    cfg->origin = strdup(origin);
    if (!cfg->origin) {
        free(cfg);
        return NULL;
    }
    cfg_section_defaults(&config_schema, cfg);
    /* SCTP's limits have no keys yet */
    cfg->sctp = (sctp_options_t){SCTP_DEFAULT_ASSOCIATIONS, SCTP_DEFAULT_MESSAGE_KB * 1024,
                                 (size_t)SCTP_DEFAULT_MEMCAP_KB * 1024, SCTP_DEFAULT_TIMEOUT_MS};
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
    cfg_ctx_t ctx = {.err = err, .errlen = errlen, .cfg = cfg};
    int rc = cfg_key_parse(&ctx, &config_document_key, root, cfg);
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
    cfg_section_defaults(&config_source_schema, &base);
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
    for (size_t i = 0; i < cfg->source_count; i++)
        cfg_section_free(&config_source_schema, &cfg->sources[i]);
    free(cfg->sources);
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
    cfg_section_free(&config_schema, cfg);
    free(cfg);
}

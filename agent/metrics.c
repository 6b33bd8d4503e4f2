/* The metrics endpoint (see metrics.h). Renderings are built from one pass of
 * the stats visitor; Prometheus wants every sample of a family together
 * under one # HELP / # TYPE, so the values are collected, sorted by name and
 * written family by family. A scrape allocates; the packet path never sees
 * any of this. */
#include "hepagent/metrics.h"
#include "hepagent/common.h"
#include "hepagent/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- collecting the values ------------------------------------------------ */

typedef struct metric_value {
    char *name;   /* "hepagent_collector_sent_total" */
    char *dotted; /* "collector.sent", for the JSON form */
    char *label;  /* with instance, or both NULL */
    char *instance;
    const char *help; /* the visitors' help texts are string literals */
    stats_kind_t kind;
    uint64_t value;
    size_t order; /* visit order: keeps a family's samples as visited */
} metric_value_t;

typedef struct metric_set {
    metric_value_t *items;
    size_t count, cap;
    int failed;
} metric_set_t;

/* Prometheus names: [a-zA-Z_:][a-zA-Z0-9_:]*; anything else becomes '_'. */
static void metric_name(char *out, size_t outlen, const char *dotted, stats_kind_t kind)
{
    int n = snprintf(out, outlen, "hepagent_%s%s", dotted, kind == STATS_COUNTER ? "_total" : "");
    if (n < 0) out[0] = '\0';
    for (char *c = out + strlen("hepagent_"); *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == ':'))
            *c = '_';
}

static void metric_value_free(metric_value_t *m)
{
    free(m->name);
    free(m->dotted);
    free(m->label);
    free(m->instance);
}

static void metric_set_visit(void *ctx, const stats_value_t *v)
{
    metric_set_t *set = ctx;
    if (set->failed) return;
    if (set->count == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 256;
        metric_value_t *grown = realloc(set->items, cap * sizeof(*grown));
        if (!grown) {
            set->failed = 1;
            return;
        }
        set->items = grown;
        set->cap = cap;
    }
    char name[256];
    metric_name(name, sizeof(name), v->name, v->kind);
    int labelled = v->label && v->instance;
    metric_value_t *m = &set->items[set->count];
    *m = (metric_value_t){.name = strdup(name),
                          .dotted = strdup(v->name),
                          .label = labelled ? strdup(v->label) : NULL,
                          .instance = labelled ? strdup(v->instance) : NULL,
                          .help = v->help ? v->help : "",
                          .kind = v->kind,
                          .value = v->value,
                          .order = set->count};
    if (!m->name || !m->dotted || (labelled && (!m->label || !m->instance))) {
        metric_value_free(m);
        set->failed = 1;
        return;
    }
    set->count++;
}

static void metric_set_free(metric_set_t *set)
{
    for (size_t i = 0; i < set->count; i++)
        metric_value_free(&set->items[i]);
    free(set->items);
    memset(set, 0, sizeof(*set));
}

static int metric_set_collect(metric_set_t *set, metrics_visit_fn visit, void *ctx)
{
    memset(set, 0, sizeof(*set));
    stats_visitor_t v = {metric_set_visit, set};
    visit(ctx, &v);
    if (set->failed) {
        metric_set_free(set);
        return HA_ENOMEM;
    }
    return HA_OK;
}

static int metric_cmp(const void *a, const void *b)
{
    const metric_value_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* ---- text ------------------------------------------------------------------ */

typedef struct text_buf {
    char *p;
    size_t len, cap;
    int failed;
} text_buf_t;

static void buf_reserve(text_buf_t *b, size_t more)
{
    if (b->failed || b->len + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *grown = realloc(b->p, cap);
    if (!grown) {
        b->failed = 1;
        return;
    }
    b->p = grown;
    b->cap = cap;
}

static void buf_printf(text_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_printf(text_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    buf_reserve(b, (size_t)n);
    if (b->failed) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Escapes for the exposition format: HELP escapes \ and newline, label
 * values also the double quote. */
static void buf_escaped(text_buf_t *b, const char *s, int quote)
{
    buf_reserve(b, strlen(s) * 2);
    if (b->failed) return;
    for (; *s; s++) {
        if (*s == '\\' || *s == '\n' || (quote && *s == '"')) {
            b->p[b->len++] = '\\';
            b->p[b->len++] = *s == '\n' ? 'n' : *s;
        } else {
            b->p[b->len++] = *s;
        }
    }
    b->p[b->len] = '\0';
}

static void buf_label_name(text_buf_t *b, const char *s)
{
    char name[64];
    snprintf(name, sizeof(name), "%s", s);
    for (char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_'))
            *c = '_';
    buf_printf(b, "%s", name);
}

char *metrics_render_prometheus(metrics_visit_fn visit, void *ctx, size_t *len)
{
    metric_set_t set;
    if (metric_set_collect(&set, visit, ctx) != HA_OK) return NULL;
    qsort(set.items, set.count, sizeof(*set.items), metric_cmp);
    text_buf_t b = {0};
    for (size_t i = 0; i < set.count; i++) {
        const metric_value_t *m = &set.items[i];
        if (i == 0 || strcmp(m->name, set.items[i - 1].name) != 0) {
            buf_printf(&b, "# HELP %s ", m->name);
            buf_escaped(&b, m->help, 0);
            buf_printf(&b, "\n# TYPE %s %s\n", m->name,
                       m->kind == STATS_COUNTER ? "counter" : "gauge");
        }
        buf_printf(&b, "%s", m->name);
        if (m->label) {
            buf_printf(&b, "{");
            buf_label_name(&b, m->label);
            buf_printf(&b, "=\"");
            buf_escaped(&b, m->instance, 1);
            buf_printf(&b, "\"}");
        }
        buf_printf(&b, " %" PRIu64 "\n", m->value);
    }
    metric_set_free(&set);
    if (b.failed || !b.p) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

/* ---- JSON -------------------------------------------------------------------- */

/* The object at key in parent, made if missing; NULL if key holds a number. */
static json_object *json_child(json_object *parent, const char *key)
{
    json_object *child;
    if (json_object_object_get_ex(parent, key, &child))
        return json_object_is_type(child, json_type_object) ? child : NULL;
    child = json_object_new_object();
    if (child) json_object_object_add(parent, key, child);
    return child;
}

/* {"frames": 12, "tcp": {"streams": 3}, "collector": {"udp://...": {"sent": 5}}} */
char *metrics_render_json(metrics_visit_fn visit, void *ctx, size_t *len)
{
    metric_set_t set;
    if (metric_set_collect(&set, visit, ctx) != HA_OK) return NULL;
    json_object *root = json_object_new_object();
    for (size_t i = 0; root && i < set.count; i++) {
        const metric_value_t *m = &set.items[i];
        char group[128];
        const char *dot = strchr(m->dotted, '.');
        json_object *parent = root;
        const char *leaf = m->dotted;
        if (dot) {
            snprintf(group, sizeof(group), "%.*s", (int)(dot - m->dotted), m->dotted);
            parent = json_child(root, group);
            if (parent && m->instance) parent = json_child(parent, m->instance);
            leaf = dot + 1;
        }
        if (!parent) parent = root, leaf = m->dotted; /* a name clash: keep the value flat */
        json_object_object_add(parent, leaf, json_object_new_uint64(m->value));
    }
    metric_set_free(&set);
    if (!root) return NULL;
    char *text = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
    if (text) *len = strlen(text);
    return text;
}

/* ---- the summary line ----------------------------------------------------- */

typedef struct summary {
    uint64_t frames, sip, sent, dropped, queued, kernel_dropped;
} summary_t;

static void summary_visit(void *ctx, const stats_value_t *v)
{
    summary_t *s = ctx;
    if (strcmp(v->name, "frames") == 0)
        s->frames = v->value;
    else if (strcmp(v->name, "sip_messages") == 0)
        s->sip = v->value;
    else if (strcmp(v->name, "collector.sent") == 0)
        s->sent += v->value;
    else if (strncmp(v->name, "collector.dropped_", 18) == 0 ||
             strcmp(v->name, "collector.spool_dropped") == 0)
        s->dropped += v->value;
    else if (strcmp(v->name, "collector.queue_packets") == 0)
        s->queued += v->value;
    else if (strcmp(v->name, "interface.kernel_dropped") == 0)
        s->kernel_dropped += v->value;
}

void metrics_summary(metrics_visit_fn visit, void *ctx, char *out, size_t outlen)
{
    summary_t s = {0};
    stats_visitor_t v = {summary_visit, &s};
    visit(ctx, &v);
    snprintf(out, outlen,
             "frames %" PRIu64 ", SIP %" PRIu64 ", sent %" PRIu64 ", dropped %" PRIu64
             ", queued %" PRIu64 ", kernel drops %" PRIu64,
             s.frames, s.sip, s.sent, s.dropped, s.queued, s.kernel_dropped);
}

/* ---- HTTP ---------------------------------------------------------------------- */

typedef struct metrics_conn {
    int fd; /* -1: free slot */
    uint64_t started_ms;
} metrics_conn_t;

struct metrics {
    uv_loop_t *loop;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;    /* MHD's epoll descriptor */
    uv_timer_t wakeup; /* MHD's next timeout */
    uv_timer_t sweep;  /* the per-connection deadline */
    int closing_handles;
    metrics_visit_fn visit;
    void *ctx;
    metrics_conn_t conns[METRICS_MAX_CONNECTIONS];
    uint64_t open_connections, accepted, requests, deadline_closed;
};

int metrics_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len, char *err,
                         size_t errlen)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    memset(addr, 0, sizeof(*addr));
    if (!colon || colon == text) goto bad;
    size_t host_len = (size_t)(colon - text);
    if (text[0] == '[') {
        if (host_len < 3 || text[host_len - 1] != ']') goto bad;
        text++;
        host_len -= 2;
    }
    if (host_len >= sizeof(host)) goto bad;
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || *end || !colon[1] || port == 0 || port > 65535) goto bad;
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof(*v4);
        return HA_OK;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*v6);
        return HA_OK;
    }
bad:
    snprintf(err, errlen, "\"%s\" is not ADDRESS:PORT (127.0.0.1:9096, [::1]:9096, 0.0.0.0:9096)",
             text);
    return HA_EINVAL;
}

static enum MHD_Result metrics_reply(struct MHD_Connection *conn, unsigned status, char *body,
                                     size_t len, const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result metrics_request(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_size, void **req_ctx)
{
    metrics_t *m = cls;
    static int headers_seen;
    (void)version, (void)upload_data;
    if (!*req_ctx) { /* headers are in; the body (if any) comes next */
        *req_ctx = &headers_seen;
        return MHD_YES;
    }
    if (*upload_size) { /* no request here has a body: ignore it */
        *upload_size = 0;
        return MHD_YES;
    }
    int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0, head = strcmp(method, "HEAD") == 0;
    char *body = NULL;
    size_t len = 0;
    const char *type = "text/plain; charset=utf-8";
    unsigned status = MHD_HTTP_OK;
    if (!get && !head) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        body = strdup("only GET\n");
    } else if (strcmp(url, "/metrics") == 0) {
        body = metrics_render_prometheus(m->visit, m->ctx, &len);
        type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (strcmp(url, "/stats") == 0) {
        body = metrics_render_json(m->visit, m->ctx, &len);
        type = "application/json";
    } else if (strcmp(url, "/") == 0) {
        body = strdup("hepagent: /metrics (Prometheus), /stats (JSON)\n");
    } else {
        status = MHD_HTTP_NOT_FOUND;
        body = strdup("not found: /metrics or /stats\n");
    }
    if (!body) return MHD_NO; /* out of memory: MHD closes the connection */
    m->requests++;
    if (!len) len = strlen(body);
    return metrics_reply(conn, status, body, len, type);
}

/* Connections are tracked so the deadline can end them: shutdown() makes MHD
 * read the end of the stream and close the connection itself (the descriptor
 * stays MHD's, so it is never reused under its feet). */
static void metrics_notify(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                           enum MHD_ConnectionNotificationCode code)
{
    metrics_t *m = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        for (size_t i = 0; info && i < METRICS_MAX_CONNECTIONS; i++) {
            if (m->conns[i].fd >= 0) continue;
            m->conns[i].fd = info->connect_fd;
            m->conns[i].started_ms = uv_now(m->loop);
            *socket_ctx = &m->conns[i];
            m->open_connections++;
            m->accepted++;
            return;
        }
    } else if (*socket_ctx) {
        metrics_conn_t *c = *socket_ctx;
        c->fd = -1;
        *socket_ctx = NULL;
        m->open_connections--;
    }
}

__attribute__((format(printf, 2, 0))) static void metrics_log(void *cls, const char *fmt,
                                                              va_list ap)
{
    (void)cls;
    char line[256];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("metrics: %s", line); /* clients can cause these: never above debug */
}

static void metrics_run(metrics_t *m);

static void metrics_on_wakeup(uv_timer_t *t)
{
    metrics_run(t->data);
}

static void metrics_on_poll(uv_poll_t *p, int status, int events)
{
    (void)status, (void)events;
    metrics_run(p->data);
}

static void metrics_run(metrics_t *m)
{
    MHD_run(m->mhd);
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(m->mhd, &ms) == MHD_YES)
        uv_timer_start(&m->wakeup, metrics_on_wakeup, ms, 0);
    else
        uv_timer_stop(&m->wakeup);
}

static void metrics_on_sweep(uv_timer_t *t)
{
    metrics_t *m = t->data;
    uint64_t now = uv_now(m->loop);
    int ended = 0;
    for (size_t i = 0; i < METRICS_MAX_CONNECTIONS; i++) {
        if (m->conns[i].fd < 0 || now - m->conns[i].started_ms < METRICS_DEADLINE_MS) continue;
        shutdown(m->conns[i].fd, SHUT_RDWR);
        m->conns[i].started_ms = now; /* once: MHD closes it on its next run */
        m->deadline_closed++;
        ended = 1;
    }
    if (ended) metrics_run(m);
}

int metrics_start(uv_loop_t *loop, const char *listen, metrics_visit_fn visit, void *ctx,
                  metrics_t **out, char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    socklen_t addr_len;
    *out = NULL;
    if (metrics_parse_listen(listen, &addr, &addr_len, err, errlen) != HA_OK) return HA_EINVAL;
    metrics_t *m = calloc(1, sizeof(*m));
    if (!m) return HA_ENOMEM;
    m->loop = loop;
    m->visit = visit;
    m->ctx = ctx;
    for (size_t i = 0; i < METRICS_MAX_CONNECTIONS; i++)
        m->conns[i].fd = -1;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_SUPPRESS_DATE_NO_CLOCK;
    if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    errno = 0;
    m->mhd = MHD_start_daemon(flags, 0, NULL, NULL, metrics_request, m, MHD_OPTION_SOCK_ADDR,
                              (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT,
                              (unsigned)METRICS_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                              (unsigned)METRICS_MAX_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned)METRICS_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                              (size_t)METRICS_MEMORY_LIMIT, MHD_OPTION_LISTEN_BACKLOG_SIZE, 16u,
                              MHD_OPTION_NOTIFY_CONNECTION, metrics_notify, m,
                              MHD_OPTION_EXTERNAL_LOGGER, metrics_log, m, MHD_OPTION_END);
    if (!m->mhd) {
        snprintf(err, errlen, "cannot listen on %s: %s", listen,
                 errno ? strerror(errno) : "libmicrohttpd refused");
        free(m);
        return HA_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info || uv_poll_init(loop, &m->poll, info->epoll_fd) != 0) {
        snprintf(err, errlen, "cannot watch the metrics listener on %s", listen);
        MHD_stop_daemon(m->mhd);
        free(m);
        return HA_EIO;
    }
    m->poll.data = m;
    uv_timer_init(loop, &m->wakeup);
    m->wakeup.data = m;
    uv_timer_init(loop, &m->sweep);
    m->sweep.data = m;
    uv_poll_start(&m->poll, UV_READABLE, metrics_on_poll);
    uv_timer_start(&m->sweep, metrics_on_sweep, 1000, 1000);
    *out = m;
    return HA_OK;
}

void metrics_visit_stats(const metrics_t *m, const stats_visitor_t *v)
{
    stats_emit(v, "metrics.connections", NULL, NULL, STATS_GAUGE, m->open_connections,
               "HTTP connections to the metrics endpoint open now");
    stats_emit(v, "metrics.accepted", NULL, NULL, STATS_COUNTER, m->accepted,
               "HTTP connections accepted (beyond the limits they are refused)");
    stats_emit(v, "metrics.requests", NULL, NULL, STATS_COUNTER, m->requests,
               "HTTP requests answered");
    stats_emit(v, "metrics.deadline_closed", NULL, NULL, STATS_COUNTER, m->deadline_closed,
               "connections ended because they lasted longer than the deadline");
}

static void metrics_on_closed(uv_handle_t *h)
{
    metrics_t *m = h->data;
    if (--m->closing_handles == 0) {
        MHD_stop_daemon(m->mhd); /* after the poll handle let go of its descriptor */
        free(m);
    }
}

void metrics_close(metrics_t *m)
{
    if (!m) return;
    m->closing_handles = 3;
    uv_close((uv_handle_t *)&m->poll, metrics_on_closed);
    uv_close((uv_handle_t *)&m->wakeup, metrics_on_closed);
    uv_close((uv_handle_t *)&m->sweep, metrics_on_closed);
}

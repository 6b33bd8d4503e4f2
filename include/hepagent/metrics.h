/* The counters for monitoring: every value of the stats visitor served over
 * HTTP as Prometheus text (/metrics) and JSON (/stats), and a one-line summary
 * for the log and systemd's STATUS=. The HTTP side is libmicrohttpd on its
 * own epoll descriptor, watched by a libuv poll handle and run from the
 * loop: no thread, bounded connections, a deadline for each. */
#ifndef HEPAGENT_METRICS_H
#define HEPAGENT_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "hepagent/stats.h"

/* The config's "stats" section (--metrics and --stats-interval replace it). */
typedef struct metrics_options {
    char *listen;        /* "127.0.0.1:9096", "[::1]:9096"; NULL: no endpoint */
    uint32_t interval_s; /* > 0: log a one-line summary this often */
} metrics_options_t;

enum {
    METRICS_MAX_CONNECTIONS = 64, /* at once, in all */
    METRICS_MAX_PER_IP = 4,       /* at once, from one client address */
    METRICS_IDLE_TIMEOUT_S = 5,   /* a connection that sends nothing for this long is closed */
    METRICS_DEADLINE_MS = 10000,  /* and any connection after this long, busy or not */
    METRICS_MEMORY_LIMIT = 16384, /* request headers of one connection */
};

/* Produces every value: main.c's visit_all_stats. */
typedef void (*metrics_visit_fn)(void *ctx, const stats_visitor_t *v);

typedef struct metrics metrics_t;

/* Parses "HOST:PORT" / "[V6]:PORT" (numeric addresses). */
int metrics_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len, char *err,
                         size_t errlen);

/* Starts listening on o->listen (before privileges are dropped, like any
 * listening socket). */
int metrics_start(uv_loop_t *loop, const char *listen, metrics_visit_fn visit, void *ctx,
                  metrics_t **out, char *err, size_t errlen);
/* Closes the listener and every connection; frees m once libuv is done. */
void metrics_close(metrics_t *m);
/* The endpoint's own counters: connections open, requests answered,
 * connections ended by the deadline. */
void metrics_visit_stats(const metrics_t *m, const stats_visitor_t *v);

/* The renderings, each a malloc'd NUL-terminated text (NULL: out of memory). */
char *metrics_render_prometheus(metrics_visit_fn visit, void *ctx, size_t *len);
char *metrics_render_json(metrics_visit_fn visit, void *ctx, size_t *len);
/* "frames 1200, SIP 300, sent 300, dropped 0, queued 0, kernel drops 0" */
void metrics_summary(metrics_visit_fn visit, void *ctx, char *out, size_t outlen);

#endif

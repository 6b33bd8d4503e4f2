/* Collectors and their queues. Each collector owns a non-blocking socket
 * watched by a uv_poll handle: UDP datagrams leave in sendmmsg batches, TCP
 * bytes with writev, and what the kernel does not take stays queued. A TCP
 * packet cut by a broken connection is sent again whole on the next one. */
#include "hepagent/sender.h"
#include "hepagent/compress.h"
#include "hepagent/log.h"
#include "hepagent/queue.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define COLLECTOR_COUNTERS(X)                                                                      \
    X(queued, "packets queued")                                                                    \
    X(sent, "packets the kernel accepted")                                                         \
    X(sent_bytes, "bytes the kernel accepted")                                                     \
    X(dropped_queue_full, "packets dropped because the queue was full")                            \
    X(dropped_shutdown, "packets still queued when the agent stopped")                             \
    X(dropped_removed, "packets queued when a reload removed the collector")                       \
    X(send_errors, "packets the kernel refused (dropped)")                                         \
    X(unreachable, "ICMP port unreachable reports (UDP)")                                          \
    X(connects, "connections established (TCP)")                                                   \
    X(disconnects, "connections lost or failed (TCP)")                                             \
    X(reply_bytes, "bytes the collector sent back (ignored)")

typedef struct {
#define COLLECTOR_FIELD(name, help) uint64_t name;
    COLLECTOR_COUNTERS(COLLECTOR_FIELD)
#undef COLLECTOR_FIELD
} collector_stats_t;

typedef enum {
    COLLECTOR_IDLE,       /* waiting for the backoff timer */
    COLLECTOR_RESOLVING,  /* getaddrinfo in flight */
    COLLECTOR_CONNECTING, /* TCP connect in flight */
    COLLECTOR_UP,
} collector_state_t;

typedef struct collector collector_t;

/* One socket and its poll handle; freed in the close callback, so a new
 * connection never reuses a handle libuv still holds. */
typedef struct {
    uv_poll_t poll;
    int fd;
    int events;
} collector_conn_t;

struct collector {
    sender_t *sender;
    collector_config_t cfg;
    collector_state_t state;
    collector_conn_t *conn;
    uv_timer_t timer;
    uv_getaddrinfo_t *resolve;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    queue_t queue;
    size_t head_written; /* TCP: bytes of the front packet already written */
    uint32_t backoff_ms;
    int was_up; /* for logging state changes once, not every retry */
    int closing;
    int handles_open;
    collector_stats_t st;
};

struct sender {
    uv_loop_t *loop;
    stats_t *stats;
    collector_t **items;
    size_t count;
    uv_prepare_t flush;
    compressor_t compressor;
    uint8_t plain[HEP_MAX_PACKET];
    uint8_t packed[HEP_MAX_PACKET];
    uint8_t zbuf[HEP_MAX_PACKET];
    int dirty;
};

static void collector_connect(collector_t *col);
static void collector_flush(collector_t *col);

/* ---- lifecycle helpers ------------------------------------------------ */

static void collector_free_if_closed(collector_t *col)
{
    if (!col->closing || col->handles_open > 0 || col->resolve) return;
    queue_free(&col->queue);
    free(col->cfg.url);
    free(col->cfg.host);
    free(col);
}

static void collector_handle_closed(uv_handle_t *h)
{
    collector_t *col = h->data;
    col->handles_open--;
    collector_free_if_closed(col);
}

static void collector_conn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void collector_close_conn(collector_t *col)
{
    collector_conn_t *conn = col->conn;
    if (!conn) return;
    col->conn = NULL;
    uv_poll_stop(&conn->poll);
    close(conn->fd);
    conn->poll.data = conn;
    uv_close((uv_handle_t *)&conn->poll, collector_conn_closed);
}

static void collector_set_events(collector_t *col, int events);

static void collector_poll_cb(uv_poll_t *h, int status, int events);

static int collector_open_conn(collector_t *col, int fd)
{
    collector_conn_t *conn = calloc(1, sizeof(*conn));
    if (!conn) return HA_ENOMEM;
    conn->fd = fd;
    if (uv_poll_init(col->sender->loop, &conn->poll, fd) != 0) {
        free(conn);
        return HA_EIO;
    }
    conn->poll.data = col;
    col->conn = conn;
    return HA_OK;
}

static void collector_set_events(collector_t *col, int events)
{
    collector_conn_t *conn = col->conn;
    if (!conn || conn->events == events) return;
    conn->events = events;
    if (events)
        uv_poll_start(&conn->poll, events, collector_poll_cb);
    else
        uv_poll_stop(&conn->poll);
}

/* ---- connection management -------------------------------------------- */

static void collector_retry_cb(uv_timer_t *t)
{
    collector_t *col = t->data;
    if (col->state == COLLECTOR_CONNECTING) { /* connect timed out */
        collector_close_conn(col);
        col->state = COLLECTOR_IDLE;
        col->st.disconnects++;
        if (col->was_up || col->st.connects == 0)
            log_warn("collector %s: connect timed out", col->cfg.url);
        col->was_up = 0;
    }
    if (col->state == COLLECTOR_IDLE) collector_connect(col);
}

/* Schedules the next attempt: exponential backoff with +-20% jitter so that
 * many agents do not reconnect to a restarted collector in lockstep. */
static void collector_schedule_retry(collector_t *col)
{
    uint32_t base = col->backoff_ms ? col->backoff_ms : SENDER_BACKOFF_MIN_MS;
    uint32_t jitter = base / 5;
    uint32_t delay = base - jitter + (uint32_t)(random() % (2 * jitter + 1));
    col->backoff_ms = HA_MIN(base * 2, (uint32_t)SENDER_BACKOFF_MAX_MS);
    col->state = COLLECTOR_IDLE;
    uv_timer_start(&col->timer, collector_retry_cb, delay, 0);
}

static void collector_fail(collector_t *col, const char *what, int err)
{
    if (col->was_up || col->st.disconnects == 0)
        log_warn("collector %s: %s: %s (retrying)", col->cfg.url, what, strerror(err));
    else
        log_debug("collector %s: %s: %s", col->cfg.url, what, strerror(err));
    col->was_up = 0;
    col->st.disconnects++;
    collector_close_conn(col);
    col->head_written = 0; /* the cut packet goes again, whole, on the next connection */
    uv_timer_stop(&col->timer);
    collector_schedule_retry(col);
}

static void collector_up(collector_t *col)
{
    uv_timer_stop(&col->timer);
    col->state = COLLECTOR_UP;
    col->backoff_ms = 0;
    col->head_written = 0;
    if (col->cfg.transport == COLLECTOR_TCP) {
        col->st.connects++;
        log_info("collector %s: connected", col->cfg.url);
    }
    col->was_up = 1;
    collector_set_events(col, col->cfg.transport == COLLECTOR_TCP ? UV_READABLE : 0);
    collector_flush(col);
}

static void collector_connect(collector_t *col)
{
    int tcp = col->cfg.transport == COLLECTOR_TCP;
    int fd = socket(col->addr.ss_family,
                    (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        collector_fail(col, "socket", errno);
        return;
    }
    if (tcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    } else {
        int size = 4 << 20; /* room for bursts; the kernel caps it at wmem_max */
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    }
    if (collector_open_conn(col, fd) != HA_OK) {
        close(fd);
        collector_fail(col, "poll", ENOMEM);
        return;
    }
    if (connect(fd, (struct sockaddr *)&col->addr, col->addr_len) == 0) {
        collector_up(col);
        return;
    }
    if (errno != EINPROGRESS) {
        collector_fail(col, "connect", errno);
        return;
    }
    col->state = COLLECTOR_CONNECTING;
    collector_set_events(col, UV_WRITABLE);
    uv_timer_start(&col->timer, collector_retry_cb, SENDER_CONNECT_TIMEOUT_MS, 0);
}

static void collector_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    collector_t *col = req->data;
    free(req);
    col->resolve = NULL;
    if (col->closing) {
        uv_freeaddrinfo(res);
        collector_free_if_closed(col);
        return;
    }
    if (status != 0 || !res) {
        if (col->was_up || col->st.disconnects == 0)
            log_warn("collector %s: cannot resolve %s: %s (retrying)", col->cfg.url, col->cfg.host,
                     uv_strerror(status));
        col->st.disconnects++;
        col->was_up = 0;
        uv_freeaddrinfo(res);
        collector_schedule_retry(col);
        return;
    }
    memcpy(&col->addr, res->ai_addr, res->ai_addrlen);
    col->addr_len = res->ai_addrlen;
    uv_freeaddrinfo(res);
    collector_connect(col);
}

/* Numeric addresses are used at once; names are resolved on the loop. */
static void collector_start(collector_t *col)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)&col->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&col->addr;
    memset(&col->addr, 0, sizeof(col->addr));
    if (inet_pton(AF_INET, col->cfg.host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(col->cfg.port);
        col->addr_len = sizeof(*v4);
        collector_connect(col);
        return;
    }
    if (inet_pton(AF_INET6, col->cfg.host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(col->cfg.port);
        col->addr_len = sizeof(*v6);
        collector_connect(col);
        return;
    }
    uv_getaddrinfo_t *req = calloc(1, sizeof(*req));
    if (!req) {
        collector_schedule_retry(col);
        return;
    }
    req->data = col;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)col->cfg.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype =
                                 col->cfg.transport == COLLECTOR_TCP ? SOCK_STREAM : SOCK_DGRAM};
    col->state = COLLECTOR_RESOLVING;
    col->resolve = req;
    int rc =
        uv_getaddrinfo(col->sender->loop, req, collector_resolved, col->cfg.host, port, &hints);
    if (rc != 0) {
        free(req);
        col->resolve = NULL;
        collector_schedule_retry(col);
    }
}

/* ---- sending ---------------------------------------------------------- */

static void collector_flush_udp(collector_t *col)
{
    struct iovec iov[SENDER_BATCH];
    struct mmsghdr msgs[SENDER_BATCH];
    int refused_retries = 0;
    while (col->queue.count > 0) {
        size_t n = queue_peek_packets(&col->queue, iov, SENDER_BATCH);
        memset(msgs, 0, sizeof(struct mmsghdr) * n);
        for (size_t i = 0; i < n; i++) {
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int r = sendmmsg(col->conn->fd, msgs, (unsigned)n, MSG_DONTWAIT);
        if (r > 0) {
            for (int i = 0; i < r; i++) {
                col->st.sent++;
                col->st.sent_bytes += iov[i].iov_len;
                queue_pop(&col->queue);
            }
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
            collector_set_events(col, UV_WRITABLE);
            return;
        }
        if (errno == ECONNREFUSED && refused_retries++ < 4) {
            /* A previous datagram drew an ICMP port unreachable; reading the
             * error clears it and the batch can go. */
            if (col->st.unreachable++ == 0 || col->was_up)
                log_warn("collector %s: port unreachable (is the collector running?)",
                         col->cfg.url);
            col->was_up = 0;
            continue;
        }
        col->st.send_errors++;
        queue_pop(&col->queue);
    }
    col->was_up = 1;
    collector_set_events(col, 0);
}

static void collector_flush_tcp(collector_t *col)
{
    struct iovec iov[2];
    for (;;) {
        size_t n = queue_peek_bytes(&col->queue, col->head_written, iov);
        if (n == 0) break;
        ssize_t r = writev(col->conn->fd, iov, (int)n);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                collector_set_events(col, UV_READABLE | UV_WRITABLE);
                return;
            }
            collector_fail(col, "write", errno);
            return;
        }
        size_t written = (size_t)r;
        while (written > 0) {
            size_t len;
            queue_front(&col->queue, &len);
            size_t rest = len - col->head_written;
            if (written < rest) {
                col->head_written += written;
                break;
            }
            written -= rest;
            col->head_written = 0;
            col->st.sent++;
            col->st.sent_bytes += len;
            queue_pop(&col->queue);
        }
    }
    collector_set_events(col, UV_READABLE);
}

static void collector_flush(collector_t *col)
{
    if (col->state != COLLECTOR_UP || !col->conn || col->queue.count == 0) return;
    if (col->cfg.transport == COLLECTOR_UDP)
        collector_flush_udp(col);
    else
        collector_flush_tcp(col);
}

/* Collectors never have anything to say in HEP; what they send is read and
 * dropped so that their replies cannot fill our receive buffer. */
static void collector_read(collector_t *col)
{
    uint8_t scratch[4096];
    for (;;) {
        ssize_t r = recv(col->conn->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
        if (r > 0) {
            col->st.reply_bytes += (uint64_t)r;
            continue;
        }
        if (r == 0) {
            collector_fail(col, "connection closed by collector", ECONNRESET);
            return;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) collector_fail(col, "read", errno);
        return;
    }
}

static void collector_poll_cb(uv_poll_t *h, int status, int events)
{
    collector_t *col = h->data;
    if (status < 0) {
        collector_fail(col, "poll", -status);
        return;
    }
    if (col->state == COLLECTOR_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(col->conn->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err)
            collector_fail(col, "connect", err);
        else
            collector_up(col);
        return;
    }
    if ((events & UV_READABLE) && col->cfg.transport == COLLECTOR_TCP) {
        collector_read(col);
        if (col->state != COLLECTOR_UP) return;
    }
    if (events & UV_WRITABLE) {
        collector_set_events(col, col->cfg.transport == COLLECTOR_TCP ? UV_READABLE : 0);
        collector_flush(col);
    }
}

static void sender_flush_cb(uv_prepare_t *h)
{
    sender_t *s = h->data;
    if (!s->dirty) return;
    s->dirty = 0;
    for (size_t i = 0; i < s->count; i++) {
        collector_t *col = s->items[i];
        /* a collector waiting for POLLOUT is flushed by its poll callback */
        if (col->conn && (col->conn->events & UV_WRITABLE)) continue;
        collector_flush(col);
    }
}

/* ---- queueing --------------------------------------------------------- */

static void collector_enqueue(collector_t *col, const uint8_t *pkt, size_t len)
{
    /* Drop the oldest to make room: fresh messages matter more to someone
     * debugging a live problem. A TCP packet already half written cannot be
     * dropped without corrupting the stream, so then the new one goes. */
    while (!queue_fits(&col->queue, len) && col->queue.count > 0 && col->head_written == 0) {
        queue_pop(&col->queue);
        col->st.dropped_queue_full++;
    }
    if (queue_push(&col->queue, pkt, len) != HA_OK) {
        col->st.dropped_queue_full++;
        return;
    }
    col->st.queued++;
}

int sender_submit(sender_t *s, const hep_msg_t *msg)
{
    int plain_len = -1, packed_len = -1;
    for (size_t i = 0; i < s->count; i++) {
        collector_t *col = s->items[i];
        if (col->cfg.compress) {
            if (packed_len < 0) {
                int z = compressor_run(&s->compressor, msg->payload.ptr, msg->payload.len, s->zbuf,
                                       sizeof(s->zbuf));
                hep_msg_t packed = *msg;
                if (z > 0) {
                    packed.payload = (ha_bytes_t){s->zbuf, (size_t)z};
                    packed.payload_compressed = 1;
                }
                packed_len = hep_encode(&packed, s->packed, sizeof(s->packed), HEP_MAX_UDP);
                if (packed_len < 0) {
                    s->stats->hep_too_big++;
                    return HA_ETOOBIG;
                }
            }
            collector_enqueue(col, s->packed, (size_t)packed_len);
        } else {
            if (plain_len < 0) {
                plain_len = hep_encode(msg, s->plain, sizeof(s->plain), HEP_MAX_UDP);
                if (plain_len < 0) {
                    s->stats->hep_too_big++;
                    return HA_ETOOBIG;
                }
            }
            collector_enqueue(col, s->plain, (size_t)plain_len);
        }
    }
    s->stats->hep_packets++;
    s->dirty = 1;
    return HA_OK;
}

/* ---- construction ----------------------------------------------------- */

static collector_t *collector_new(sender_t *s, const collector_config_t *cfg)
{
    collector_t *col = calloc(1, sizeof(*col));
    if (!col) return NULL;
    col->sender = s;
    col->cfg = *cfg;
    col->cfg.url = strdup(cfg->url);
    col->cfg.host = strdup(cfg->host);
    if (!col->cfg.url || !col->cfg.host ||
        queue_init(&col->queue, SENDER_QUEUE_BYTES, SENDER_QUEUE_PACKETS) != HA_OK) {
        free(col->cfg.url);
        free(col->cfg.host);
        free(col);
        return NULL;
    }
    uv_timer_init(s->loop, &col->timer);
    col->timer.data = col;
    col->handles_open = 1;
    collector_start(col);
    return col;
}

static void collector_close(collector_t *col)
{
    col->closing = 1;
    collector_close_conn(col);
    uv_timer_stop(&col->timer);
    uv_close((uv_handle_t *)&col->timer, collector_handle_closed);
    if (col->resolve) uv_cancel((uv_req_t *)col->resolve);
}

static int collector_same(const collector_config_t *a, const collector_config_t *b)
{
    return strcmp(a->url, b->url) == 0 && a->compress == b->compress;
}

static collector_t *sender_find(const sender_t *s, const collector_config_t *cfg)
{
    for (size_t k = 0; k < s->count; k++)
        if (s->items[k] && collector_same(&s->items[k]->cfg, cfg)) return s->items[k];
    return NULL;
}

int sender_reconfigure(sender_t *s, const config_t *cfg, char *err, size_t errlen)
{
    size_t n = cfg->collector_count;
    collector_t **items = calloc(n ? n : 1, sizeof(*items));
    if (!items) {
        snprintf(err, errlen, "out of memory");
        return HA_ENOMEM;
    }
    /* first create what is new, so a failure leaves the running set alone */
    for (size_t i = 0; i < n; i++) {
        if (sender_find(s, &cfg->collectors[i])) continue;
        items[i] = collector_new(s, &cfg->collectors[i]);
        if (!items[i]) {
            snprintf(err, errlen, "collector %s: out of memory", cfg->collectors[i].url);
            for (size_t k = 0; k < i; k++)
                if (items[k]) collector_close(items[k]);
            free(items);
            return HA_ENOMEM;
        }
    }
    /* then keep the unchanged ones: their queue and connection survive */
    for (size_t i = 0; i < n; i++) {
        if (items[i]) continue;
        for (size_t k = 0; k < s->count; k++) {
            if (s->items[k] && collector_same(&s->items[k]->cfg, &cfg->collectors[i])) {
                items[i] = s->items[k];
                s->items[k] = NULL;
                break;
            }
        }
    }
    for (size_t k = 0; k < s->count; k++) {
        collector_t *gone = s->items[k];
        if (!gone) continue;
        gone->st.dropped_removed += gone->queue.count;
        log_info("collector %s: removed by reload (%zu queued packets dropped)", gone->cfg.url,
                 gone->queue.count);
        collector_close(gone);
    }
    free(s->items);
    s->items = items;
    s->count = n;
    return HA_OK;
}

int sender_create(uv_loop_t *loop, const config_t *cfg, stats_t *stats, sender_t **out, char *err,
                  size_t errlen)
{
    sender_t *s = calloc(1, sizeof(*s));
    if (!s || compressor_init(&s->compressor) != HA_OK) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return HA_ENOMEM;
    }
    s->loop = loop;
    s->stats = stats;
    uv_prepare_init(loop, &s->flush);
    s->flush.data = s;
    uv_prepare_start(&s->flush, sender_flush_cb);
    int rc = sender_reconfigure(s, cfg, err, errlen);
    if (rc != HA_OK) {
        sender_destroy(s);
        return rc;
    }
    *out = s;
    return HA_OK;
}

size_t sender_pending(const sender_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->count; i++)
        n += s->items[i]->queue.count;
    return n;
}

int sender_backlogged(const sender_t *s)
{
    for (size_t i = 0; i < s->count; i++) {
        const collector_t *col = s->items[i];
        if (col->state == COLLECTOR_UP &&
            (col->queue.bytes > col->queue.cap / 2 || col->queue.count > col->queue.max_count / 2))
            return 1;
    }
    return 0;
}

uint64_t sender_abandon(sender_t *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->count; i++) {
        collector_t *col = s->items[i];
        col->st.dropped_shutdown += col->queue.count;
        n += col->queue.count;
        while (col->queue.count)
            queue_pop(&col->queue);
    }
    return n;
}

static void sender_prepare_closed(uv_handle_t *h)
{
    free(h->data);
}

void sender_destroy(sender_t *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i]) collector_close(s->items[i]);
    free(s->items);
    compressor_free(&s->compressor);
    uv_prepare_stop(&s->flush);
    s->flush.data = s;
    uv_close((uv_handle_t *)&s->flush, sender_prepare_closed);
}

void sender_print_stats(const sender_t *s, FILE *out, const char *prefix)
{
    for (size_t i = 0; i < s->count; i++) {
        const collector_t *col = s->items[i];
#define COLLECTOR_PRINT(name, help)                                                                \
    fprintf(out, "%scollector[%s].%s %" PRIu64 "\n", prefix, col->cfg.url, #name, col->st.name);
        COLLECTOR_COUNTERS(COLLECTOR_PRINT)
#undef COLLECTOR_PRINT
        fprintf(out, "%scollector[%s].queue_packets %zu\n", prefix, col->cfg.url, col->queue.count);
    }
}

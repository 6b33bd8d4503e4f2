/* A collector's connection: the state machine of a non-blocking socket
 * watched by a uv_poll handle (resolve, connect, TLS handshake, reconnect
 * with backoff, the waits of a stop, a collector closing its side), its
 * health as failover and hash modes see it, and its life from setup to
 * close. What waits for it and how it leaves (queue, spool, writes,
 * acknowledgements) is collector_queue.c's. */
#include "collector.h"
#include "hepagent/log.h"
#include "hepagent/sender.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void collector_connect(collector_t *col);
static void collector_start(collector_t *col);

/* ---- lifecycle helpers ------------------------------------------------ */

static void collector_free_if_closed(collector_t *col)
{
    if (!col->closing || col->handles_open > 0 || col->resolve) return;
    queue_free(&col->queue);
    tls_ctx_free(col->tls_ctx);
    config_collector_free(&col->cfg);
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

/* Bytes the socket still holds unacknowledged have been counted otherwise by
 * now (sent again, handed to another collector, spooled, dropped): a reset
 * makes the kernel drop them instead of delivering them behind our back. */
static void collector_close_conn(collector_t *col)
{
    tls_conn_free(col->tls);
    col->tls = NULL;
    collector_conn_t *conn = col->conn;
    if (!conn) return;
    col->conn = NULL;
    uv_poll_stop(&conn->poll);
    int outq = 0;
    if (collector_stream(col) && ioctl(conn->fd, SIOCOUTQ, &outq) == 0 && outq > 0) {
        struct linger reset = {.l_onoff = 1, .l_linger = 0};
        setsockopt(conn->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    }
    close(conn->fd);
    conn->poll.data = conn;
    uv_close((uv_handle_t *)&conn->poll, collector_conn_closed);
}

static void collector_poll_cb(uv_poll_t *h, int status, int events);

static int collector_open_conn(collector_t *col, int fd)
{
    collector_conn_t *conn = calloc(1, sizeof(*conn));
    if (!conn) return HA_ENOMEM;
    conn->fd = fd;
    if (uv_poll_init(col->env->loop, &conn->poll, fd) != 0) {
        free(conn);
        return HA_EIO;
    }
    conn->poll.data = col;
    col->conn = conn;
    return HA_OK;
}

void collector_update_events(collector_t *col)
{
    collector_conn_t *conn = col->conn;
    if (!conn) return;
    int events = 0;
    switch (col->state) {
    case COLLECTOR_CONNECTING:
        events = UV_WRITABLE;
        break;
    case COLLECTOR_HANDSHAKE:
        events = col->tls_want == TLS_WANT_READ ? UV_READABLE : UV_WRITABLE;
        break;
    case COLLECTOR_UP:
        if (collector_stream(col)) events = UV_READABLE; /* to see the collector close */
        if (col->blocked) events |= col->tls_want == TLS_WANT_READ ? UV_READABLE : UV_WRITABLE;
        break;
    default:
        break;
    }
    if (conn->events == events) return;
    conn->events = events;
    if (events)
        uv_poll_start(&conn->poll, events, collector_poll_cb);
    else
        uv_poll_stop(&conn->poll);
}

/* ---- connection management -------------------------------------------- */

static void collector_retry_cb(uv_timer_t *t);

/* While the agent drains its queues before it stops, no wait may outlast
 * the deadline, or a collector that comes up inside the window would not be
 * used: retries come at least every SENDER_DRAIN_RETRY_MS, and one lands
 * SENDER_DRAIN_LAST_MS before the deadline, time left to connect and
 * deliver. */
static uint64_t collector_drain_retry(const collector_t *col, uint64_t delay)
{
    const collector_env_t *env = col->env;
    if (!env->draining) return delay;
    delay = HA_MIN(delay, SENDER_DRAIN_RETRY_MS);
    uint64_t now = uv_now(env->loop);
    if (env->drain_deadline_ms > now + SENDER_DRAIN_LAST_MS)
        delay = HA_MIN(delay, env->drain_deadline_ms - SENDER_DRAIN_LAST_MS - now);
    return delay;
}

/* The connect (and TLS handshake) timeout. Draining, a SYN lost on its way
 * to a collector not up yet is sent again sooner than the kernel's own
 * retransmission (1 s, then 3 s) would. */
static uint64_t collector_connect_timeout(const collector_t *col)
{
    uint64_t timeout = col->env->delivery.connect_timeout_ms;
    return col->env->draining ? HA_MIN(timeout, SENDER_DRAIN_CONNECT_MS) : timeout;
}

/* Exponential backoff with +-20% jitter, so that many agents do not
 * reconnect to a restarted collector in lockstep. */
static void collector_schedule_retry(collector_t *col)
{
    const delivery_config_t *d = &col->env->delivery;
    uint32_t base = col->backoff_ms ? col->backoff_ms : d->reconnect_min_ms;
    uint32_t jitter = base / 5;
    uint32_t delay = base - jitter + (uint32_t)(random() % (2 * jitter + 1));
    col->backoff_ms = HA_MIN(base * 2, d->reconnect_max_ms);
    col->state = COLLECTOR_IDLE;
    uv_timer_start(&col->timer, collector_retry_cb, collector_drain_retry(col, delay), 0);
}

void collector_fail(collector_t *col, const char *what, const char *why)
{
    if (col->was_up || col->st.disconnects == 0)
        log_warn("collector %s: %s: %s (retrying)", col->cfg.url, what, why);
    else
        log_debug("collector %s: %s: %s", col->cfg.url, what, why);
    col->was_up = 0;
    col->st.disconnects++;
    /* What the collector's TCP acknowledged arrived, even if the last check
     * was before the break (the counts survive a reset): only the rest goes
     * again, or it would arrive twice. */
    collector_reclaim(col);
    collector_close_conn(col);
    collector_rewind(col);
    col->blocked = 0;
    uv_timer_stop(&col->timer);
    collector_schedule_retry(col);
}

void collector_fail_errno(collector_t *col, const char *what, int err)
{
    collector_fail(col, what, strerror(err));
}

static void collector_up(collector_t *col)
{
    uv_timer_stop(&col->timer);
    col->state = COLLECTOR_UP;
    col->backoff_ms = 0;
    col->written = 0;
    col->blocked = 0;
    col->stalled = 0;
    col->last_progress_ms = col->up_since_ms = uv_now(col->env->loop);
    if (collector_stream(col)) {
        if (col->st.connects++ > 0) col->st.reconnects++;
        log_info("collector %s: connected", col->cfg.url);
    }
    col->was_up = 1;
    collector_update_events(col);
    collector_flush(col);
}

/* How long a TLS 1.3 collector that asked for our certificate may take to
 * refuse it: its refusal would come one round trip after our last message,
 * so a few handshakes' time, not the whole connect timeout. Draining, the
 * wait ends SENDER_DRAIN_LAST_MS before the deadline unless that would cut
 * the round trips short. */
static uint64_t collector_verdict_wait(const collector_t *col)
{
    const collector_env_t *env = col->env;
    uint64_t now = uv_now(env->loop), round_trips = 4 * (now - col->handshake_start_ms);
    uint64_t wait = HA_MAX(round_trips, SENDER_TLS_VERDICT_MIN_MS);
    wait = HA_MIN(wait, env->delivery.connect_timeout_ms);
    if (env->draining) {
        uint64_t left = env->drain_deadline_ms > now + SENDER_DRAIN_LAST_MS
                            ? env->drain_deadline_ms - SENDER_DRAIN_LAST_MS - now
                            : 0;
        wait = HA_MIN(wait, HA_MAX(round_trips, left));
    }
    return wait;
}

static void collector_handshake(collector_t *col)
{
    char err[256];
    int rc = tls_handshake(col->tls, &col->tls_want, err, sizeof(err));
    if (rc == 1) {
        collector_up(col);
    } else if (rc == 0) {
        if (!col->awaiting_verdict && tls_verdict_pending(col->tls)) {
            col->awaiting_verdict = 1;
            uv_timer_start(&col->timer, collector_retry_cb, collector_verdict_wait(col), 0);
        }
        collector_update_events(col);
    } else {
        col->st.tls_failures++;
        collector_fail(col, "TLS", err);
    }
}

static void collector_connected(collector_t *col)
{
    if (col->cfg.transport != COLLECTOR_TLS) {
        collector_up(col);
        return;
    }
    char err[256];
    col->tls = tls_conn_new(col->tls_ctx, col->conn->fd, col->cfg.host, err, sizeof(err));
    if (!col->tls) {
        col->st.tls_failures++;
        collector_fail(col, "TLS", err);
        return;
    }
    col->state = COLLECTOR_HANDSHAKE;
    col->awaiting_verdict = 0;
    col->handshake_start_ms = uv_now(col->env->loop);
    /* the handshake gets its own connect_timeout_ms (a connect that
     * succeeded at once started no timer) */
    uv_timer_start(&col->timer, collector_retry_cb, collector_connect_timeout(col), 0);
    collector_handshake(col);
}

static void collector_retry_cb(uv_timer_t *t)
{
    collector_t *col = t->data;
    if (col->state == COLLECTOR_HANDSHAKE && tls_verdict_pending(col->tls)) {
        /* a collector that refuses our certificate does so at once; one that
         * sends no session ticket says nothing when it takes it */
        collector_up(col);
        return;
    }
    if (col->state == COLLECTOR_CONNECTING || col->state == COLLECTOR_HANDSHAKE) {
        collector_fail(col, "connect", "timed out");
        return;
    }
    if (col->state == COLLECTOR_DRAINING) { /* what is still unacknowledged goes again */
        collector_fail(col, "connection", "closed by the collector");
        return;
    }
    if (col->state == COLLECTOR_IDLE) collector_connect(col);
}

static void collector_connect(collector_t *col)
{
    int stream = collector_stream(col);
    int fd = socket(col->addr.ss_family,
                    (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        collector_fail_errno(col, "socket", errno);
        return;
    }
    if (stream) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* we batch ourselves */
    } else {
        int size = 4 << 20; /* room for bursts; the kernel caps it at wmem_max */
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    }
    if (collector_open_conn(col, fd) != HA_OK) {
        close(fd);
        collector_fail(col, "poll", "out of memory");
        return;
    }
    if (connect(fd, (struct sockaddr *)&col->addr, col->addr_len) == 0) {
        collector_connected(col);
        return;
    }
    if (errno != EINPROGRESS) {
        collector_fail_errno(col, "connect", errno);
        return;
    }
    col->state = COLLECTOR_CONNECTING;
    collector_update_events(col);
    uv_timer_start(&col->timer, collector_retry_cb, collector_connect_timeout(col), 0);
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
        uv_freeaddrinfo(res);
        char why[128];
        snprintf(why, sizeof(why), "cannot resolve %s: %s", col->cfg.host, uv_strerror(status));
        collector_fail(col, "resolve", why);
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
                             .ai_socktype = collector_stream(col) ? SOCK_STREAM : SOCK_DGRAM};
    col->state = COLLECTOR_RESOLVING;
    col->resolve = req;
    if (uv_getaddrinfo(col->env->loop, req, collector_resolved, col->cfg.host, port, &hints) != 0) {
        free(req);
        col->resolve = NULL;
        collector_schedule_retry(col);
    }
}

/* ---- what the collector does: reading, closing, socket events ---------- */

/* The collector closed its side. What it acknowledged arrived; what is in
 * flight may still be acknowledged: stop writing and wait for that
 * (housekeeping), so nothing is sent twice. */
static void collector_peer_closed(collector_t *col)
{
    collector_reclaim(col);
    if (col->written == 0) {
        collector_fail(col, "connection", "closed by the collector");
        return;
    }
    col->state = COLLECTOR_DRAINING;
    col->blocked = 0;
    collector_update_events(col);
    uv_timer_start(&col->timer, collector_retry_cb, 2000, 0);
}

/* Collectors have nothing to say in HEP; what they send is read and dropped
 * so their replies cannot fill our receive buffer. */
static void collector_read(collector_t *col)
{
    char err[256];
    if (col->tls) {
        int want = 0;
        ssize_t r = tls_read_discard(col->tls, &want, err, sizeof(err));
        if (r == TLS_CLOSED)
            collector_peer_closed(col);
        else if (r < 0)
            collector_fail(col, "read", err);
        else
            col->st.reply_bytes += (uint64_t)r;
        return;
    }
    uint8_t scratch[4096];
    for (;;) {
        ssize_t r = recv(col->conn->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
        if (r > 0) {
            col->st.reply_bytes += (uint64_t)r;
            continue;
        }
        if (r == 0) {
            collector_peer_closed(col);
            return;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) collector_fail_errno(col, "read", errno);
        return;
    }
}

/* libuv reports a socket error (POLLERR) as EBADF and stops polling. What
 * arrived before the error says more (a TLS alert refusing us, the
 * collector's last bytes), then the socket's own error (a reset). */
static void collector_poll_error(collector_t *col, int status)
{
    if (col->state == COLLECTOR_HANDSHAKE)
        collector_handshake(col);
    else if (col->state == COLLECTOR_UP && collector_stream(col))
        collector_read(col);
    if (!col->conn) return; /* that failed, with its reason */
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(col->conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err)
        collector_fail_errno(col, "connection", err);
    else
        collector_fail(col, "poll", uv_strerror(status));
}

static void collector_poll_cb(uv_poll_t *h, int status, int events)
{
    collector_t *col = h->data;
    if (status < 0 && col->state != COLLECTOR_CONNECTING) {
        collector_poll_error(col, status);
        return;
    }
    if (col->state == COLLECTOR_CONNECTING) { /* the socket's error says how it went */
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(col->conn->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err)
            collector_fail_errno(col, "connect", err);
        else
            collector_connected(col);
        return;
    }
    if (col->state == COLLECTOR_HANDSHAKE) {
        collector_handshake(col);
        return;
    }
    if (col->state != COLLECTOR_UP) return;
    int was_blocked = col->blocked;
    if (was_blocked && (events & (col->tls_want == TLS_WANT_READ ? UV_READABLE : UV_WRITABLE))) {
        col->blocked = 0;
        collector_flush(col);
        if (col->state != COLLECTOR_UP) return;
    }
    if ((events & UV_READABLE) && collector_stream(col) &&
        !(was_blocked && col->tls_want == TLS_WANT_READ)) {
        collector_read(col);
        if (col->state != COLLECTOR_UP) return;
    }
    collector_update_events(col);
}

/* ---- health, for the sender's failover and hash modes ------------------- */

/* How long a collector with packets waiting may acknowledge nothing before
 * it counts as stalled: SENDER_STALL_MS, or while draining half the window
 * (what it holds can then still reach another in the other half). */
static uint64_t collector_stall_ms(const collector_t *col)
{
    const collector_env_t *env = col->env;
    return env->draining ? HA_MIN(env->drain_stall_ms, SENDER_STALL_MS) : SENDER_STALL_MS;
}

int collector_healthy(const collector_t *col, uint64_t now)
{
    if (col->state != COLLECTOR_UP || col->stalled) return 0;
    if (col->last_unreachable_ms && now - col->last_unreachable_ms < 2000) return 0;
    if (col->queue.count > 0 && now - col->last_progress_ms > collector_stall_ms(col)) return 0;
    return 1;
}

int collector_starting(const collector_t *col)
{
    return col->st.connects == 0 && col->st.disconnects == 0 && col->state != COLLECTOR_UP;
}

/* Segments of ours the collector's TCP has not acknowledged: on the wire, or
 * lost. Unsent bytes (a closed window) do not count. */
static unsigned collector_in_flight(const collector_t *col)
{
    struct tcp_info info;
    socklen_t len = sizeof(info);
    if (!col->conn || !collector_stream(col) ||
        getsockopt(col->conn->fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
        return 0;
    return info.tcpi_unacked;
}

int collector_clogged(collector_t *col, size_t len, uint64_t now)
{
    if (col->state != COLLECTOR_UP || !collector_stream(col) || queue_fits(&col->queue, len))
        return 0;
    /* what the socket holds waits for the collector's window (none is on the
     * wire), and no acknowledgement came for longer than a reader that
     * keeps up takes: a burst that fills the queue and the window at once
     * is not a stall */
    if (col->written == 0 || now - col->last_progress_ms < SENDER_CLOGGED_MS ||
        collector_in_flight(col) > 0)
        return 0;
    col->stalled = 1;
    return 1;
}

int collector_settled(const collector_t *col, uint64_t now)
{
    if (col->state != COLLECTOR_UP && col->state != COLLECTOR_DRAINING) return 1;
    return collector_in_flight(col) == 0 || now - col->last_progress_ms > collector_stall_ms(col);
}

/* A stalled collector gets traffic again only after SENDER_STALL_MS,
 * doubling while it stalls again each time (up to reconnect_max_ms): each
 * try costs what its TCP takes and its reader never reads. */
static void collector_hold_down(collector_t *col)
{
    uint32_t most = HA_MAX(col->env->delivery.reconnect_max_ms, (uint32_t)SENDER_STALL_MS);
    col->stall_backoff_ms =
        col->stall_backoff_ms ? HA_MIN(2 * col->stall_backoff_ms, most) : SENDER_STALL_MS;
    col->state = COLLECTOR_IDLE;
    uv_timer_start(&col->timer, collector_retry_cb,
                   collector_drain_retry(col, col->stall_backoff_ms), 0);
}

void collector_release(collector_t *col)
{
    collector_reclaim(col);
    if (col->queue.count == 0) return; /* all of it arrived */
    if (collector_stream(col) && (col->state == COLLECTOR_UP || col->state == COLLECTOR_DRAINING)) {
        int stalled = col->state == COLLECTOR_UP;
        log_warn("collector %s: %s: connection reset, what it did not acknowledge goes to "
                 "another collector",
                 col->cfg.url, stalled ? "not reading" : "closed by the collector");
        col->st.disconnects++;
        col->was_up = 0;
        collector_close_conn(col);
        col->blocked = 0;
        uv_timer_stop(&col->timer);
        if (stalled)
            collector_hold_down(col);
        else
            collector_schedule_retry(col);
    }
    col->written = 0;
}

/* ---- construction ----------------------------------------------------- */

int collector_setup_files(const collector_config_t *cfg, const delivery_config_t *d,
                          tls_ctx_t **tls, spool_t **spool, char *err, size_t errlen)
{
    *tls = NULL;
    *spool = NULL;
    char why[256];
    if (cfg->transport == COLLECTOR_TLS) {
        tls_options_t o = {cfg->ca_file,  cfg->ca_dir,      cfg->cert_file,
                           cfg->key_file, cfg->server_name, cfg->insecure};
        *tls = tls_ctx_new(&o, why, sizeof(why));
        if (!*tls) {
            snprintf(err, errlen, "collector %s: %s", cfg->url, why);
            return HA_EINVAL;
        }
    }
    if (cfg->spool && d->spool_dir) {
        /* one directory per collector, named after its URL */
        char dir[4096], name[256];
        size_t k = 0;
        for (const char *p = cfg->url; *p && k + 1 < sizeof(name); p++)
            name[k++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ? *p : '_');
        name[k] = '\0';
        snprintf(dir, sizeof(dir), "%s/%s", d->spool_dir, name);
        *spool = spool_open(dir, (uint64_t)d->spool_mb << 20, why, sizeof(why));
        if (!*spool) {
            tls_ctx_free(*tls);
            *tls = NULL;
            snprintf(err, errlen, "collector %s: %s", cfg->url, why);
            return HA_EINVAL;
        }
    }
    return HA_OK;
}

collector_t *collector_new(collector_env_t *env, const collector_config_t *cfg, char *err,
                           size_t errlen)
{
    collector_t *col = calloc(1, sizeof(*col));
    if (!col) {
        snprintf(err, errlen, "collector %s: out of memory", cfg->url);
        return NULL;
    }
    col->env = env;
    if (config_collector_copy(&col->cfg, cfg) != HA_OK ||
        queue_init(&col->queue, (size_t)cfg->queue_kb * 1024, cfg->queue_packets) != HA_OK) {
        snprintf(err, errlen, "collector %s: out of memory", cfg->url);
        config_collector_free(&col->cfg);
        free(col);
        return NULL;
    }
    if (collector_setup_files(cfg, &env->delivery, &col->tls_ctx, &col->spool, err, errlen) !=
        HA_OK) {
        queue_free(&col->queue);
        config_collector_free(&col->cfg);
        free(col);
        return NULL;
    }
    if (cfg->transport == COLLECTOR_TLS && cfg->insecure)
        log_warn("collector %s: tls.insecure: the collector's certificate and name are not "
                 "verified",
                 cfg->url);
    if (col->spool && !spool_empty(col->spool))
        log_info("collector %s: %" PRIu64 " bytes spooled by an earlier run will be replayed",
                 cfg->url, spool_bytes(col->spool));
    uv_timer_init(env->loop, &col->timer);
    col->timer.data = col;
    col->handles_open = 1;
    collector_start(col);
    return col;
}

void collector_close(collector_t *col)
{
    col->closing = 1;
    collector_close_conn(col);
    spool_close(col->spool);
    col->spool = NULL;
    uv_timer_stop(&col->timer);
    uv_close((uv_handle_t *)&col->timer, collector_handle_closed);
    if (col->resolve) uv_cancel((uv_req_t *)col->resolve);
}

/* ---- for the sender's loop hooks and counters ------------------------- */

void collector_tick(collector_t *col)
{
    if (col->state == COLLECTOR_DRAINING) {
        collector_reclaim(col);
        if (col->written == 0) collector_fail(col, "connection", "closed by the collector");
        return;
    }
    if (col->state != COLLECTOR_UP) return;
    collector_reclaim(col);
    collector_flush(col); /* replays from the spool first */
    if (col->spool) spool_sync(col->spool);
}

/* The stop began (env->draining is set): the waits already running are cut
 * to what collector_drain_retry and the drain timeouts allow. */
void collector_drain(collector_t *col)
{
    if (!uv_is_active((uv_handle_t *)&col->timer)) return;
    uint64_t due = uv_timer_get_due_in(&col->timer), wait = due;
    if (col->state == COLLECTOR_IDLE)
        wait = collector_drain_retry(col, due);
    else if (col->state == COLLECTOR_HANDSHAKE && col->awaiting_verdict)
        wait = HA_MIN(due, collector_verdict_wait(col));
    else if (col->state == COLLECTOR_CONNECTING || col->state == COLLECTOR_HANDSHAKE)
        wait = HA_MIN(due, collector_connect_timeout(col));
    if (wait < due) uv_timer_start(&col->timer, collector_retry_cb, wait, 0);
}

void collector_visit_stats(const collector_t *col, const stats_visitor_t *v)
{
    const char *url = col->cfg.url;
#define COLLECTOR_VISIT(name, help)                                                                \
    stats_emit(v, "collector." #name, "collector", url, STATS_COUNTER, col->st.name, help);
    COLLECTOR_COUNTERS(COLLECTOR_VISIT)
#undef COLLECTOR_VISIT
    stats_emit(v, "collector.queue_packets", "collector", url, STATS_GAUGE, col->queue.count,
               "packets waiting in the collector's queue");
    if (col->spool)
        stats_emit(v, "collector.spool_bytes", "collector", url, STATS_GAUGE,
                   spool_bytes(col->spool), "bytes waiting in the collector's spool");
}

/* HEP listeners on the loop: UDP datagrams in recvmmsg batches, TCP and TLS
 * connections framed by the HEP3 length into one bounded buffer each, a
 * sweep that closes idle and slow connections. Every packet goes through
 * hepin_decode; the allow-list and the required auth key are checked here,
 * so the relay only ever sees packets from senders that may send. */
#include "hepagent/input.h"
#include "hepagent/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

enum {
    INPUT_CONN_BUF = HEP_MAX_PACKET + 1, /* one whole packet, and room to read on */
    INPUT_READ_BUDGET = 256 * 1024,      /* stream bytes per wakeup, so no sender hogs the loop */
    INPUT_UDP_ROUNDS = 4,                /* recvmmsg batches per wakeup */
    INPUT_SLOT = 65536,                  /* the largest datagram, whole */
};

typedef struct input_conn input_conn_t;

struct input {
    input_set_t *set;
    input_config_t cfg;
    const char *label; /* name, or url */
    int fd;
    uint16_t bound_port;
    uv_poll_t poll;
    SSL_CTX *tls;
    input_conn_t *conns; /* TCP, TLS */
    size_t conn_count;
    input_stats_t st;
};

struct input_conn {
    input_t *in;
    input_conn_t *prev, *next;
    uv_poll_t poll;
    int fd;
    SSL *ssl;
    int handshake_done;
    int want_write; /* TLS asked to wait for writability */
    uint64_t accepted_ms, last_rx_ms, frame_start_ms;
    size_t have;
    uint8_t buf[INPUT_CONN_BUF];
};

struct input_set {
    uv_loop_t *loop;
    input_t *items;
    size_t count;
    input_packet_cb cb;
    void *ctx;
    uv_timer_t sweep;
    size_t handles_open; /* freed when libuv has let go of the last one... */
    int stopped;
    int free_asked; /* ...and input_set_free was called */
    uint8_t conv[HEP_MAX_PACKET];
    /* UDP batch, shared by every UDP input (one thread) */
    uint8_t *slots;
    struct mmsghdr msgs[INPUT_UDP_BATCH];
    struct iovec iov[INPUT_UDP_BATCH];
    struct sockaddr_storage from[INPUT_UDP_BATCH];
    char control[INPUT_UDP_BATCH][CMSG_SPACE(sizeof(uint32_t))];
};

/* ---- configuration ------------------------------------------------------ */

int input_config_url(input_config_t *cfg, char *why, size_t whylen)
{
    static const struct {
        const char *prefix;
        input_transport_t transport;
    } schemes[] = {{"udp://", INPUT_UDP}, {"tcp://", INPUT_TCP}, {"tls://", INPUT_TLS}};
    const char *url = cfg->url, *rest = NULL;
    for (size_t i = 0; i < HA_ARRAY_LEN(schemes); i++) {
        if (strncmp(url, schemes[i].prefix, strlen(schemes[i].prefix)) == 0) {
            rest = url + strlen(schemes[i].prefix);
            cfg->transport = schemes[i].transport;
        }
    }
    if (!rest) {
        snprintf(why, whylen, "\"%s\": the scheme must be udp://, tcp:// or tls://", url);
        return HA_EINVAL;
    }
    const char *host = rest, *host_end, *colon;
    if (*rest == '[') {
        host = rest + 1;
        host_end = strchr(host, ']');
        colon = host_end ? host_end + 1 : NULL;
    } else {
        host_end = colon = strrchr(rest, ':');
    }
    if (!host_end || !colon || *colon != ':' || host_end == host) {
        snprintf(why, whylen, "\"%s\": expected SCHEME://HOST:PORT (IPv6 in brackets)", url);
        return HA_EINVAL;
    }
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || *end || colon[1] == '\0' || colon[1] == '-' || port > 65535) {
        snprintf(why, whylen, "\"%s\": the port must be a number from 0 to 65535", url);
        return HA_EINVAL;
    }
    free(cfg->host);
    cfg->host = strndup(host, (size_t)(host_end - host));
    cfg->port = (uint16_t)port;
    if (!cfg->host) {
        snprintf(why, whylen, "out of memory");
        return HA_ENOMEM;
    }
    return HA_OK;
}

int input_parse_url(const char *url, input_config_t *cfg, char *why, size_t whylen)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_connections = INPUT_DEFAULT_MAX_CONNECTIONS;
    cfg->idle_timeout_ms = INPUT_DEFAULT_IDLE_TIMEOUT_MS;
    cfg->frame_timeout_ms = INPUT_DEFAULT_FRAME_TIMEOUT_MS;
    cfg->recv_buffer_kb = INPUT_DEFAULT_RECV_BUFFER_KB;
    cfg->url = strdup(url);
    if (!cfg->url) return HA_ENOMEM;
    int rc = input_config_url(cfg, why, whylen);
    if (rc != HA_OK) input_config_free(cfg);
    return rc;
}

void input_config_free(input_config_t *cfg)
{
    free(cfg->url);
    free(cfg->name);
    free(cfg->host);
    free(cfg->allow);
    free(cfg->auth_key);
    free(cfg->cert_file);
    free(cfg->key_file);
    free(cfg->ca_file);
    memset(cfg, 0, sizeof(*cfg));
}

int input_copy_config(input_config_t *dst, const input_config_t *src)
{
    *dst = *src;
    dst->url = strdup(src->url);
    dst->host = strdup(src->host);
    dst->name = src->name ? strdup(src->name) : NULL;
    dst->auth_key = src->auth_key ? strdup(src->auth_key) : NULL;
    dst->cert_file = src->cert_file ? strdup(src->cert_file) : NULL;
    dst->key_file = src->key_file ? strdup(src->key_file) : NULL;
    dst->ca_file = src->ca_file ? strdup(src->ca_file) : NULL;
    dst->allow = NULL;
    if (src->allow_count) {
        dst->allow = malloc(src->allow_count * sizeof(*dst->allow));
        if (dst->allow) memcpy(dst->allow, src->allow, src->allow_count * sizeof(*dst->allow));
    }
    if (!dst->url || !dst->host || (src->name && !dst->name) || (src->auth_key && !dst->auth_key) ||
        (src->cert_file && !dst->cert_file) || (src->key_file && !dst->key_file) ||
        (src->ca_file && !dst->ca_file) || (src->allow_count && !dst->allow)) {
        input_config_free(dst);
        return HA_ENOMEM;
    }
    return HA_OK;
}

static const char *input_ssl_error(void)
{
    static char buf[160];
    unsigned long e = ERR_get_error();
    if (!e) return "unknown error";
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
}

/* Our certificate and key, and the CA client certificates must come from. */
static SSL_CTX *input_tls_ctx(const input_config_t *cfg, char *err, size_t errlen)
{
    if (!cfg->cert_file || !cfg->key_file) {
        snprintf(err, errlen, "%s: a TLS input needs tls.cert_file and tls.key_file", cfg->url);
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "%s: %s", cfg->url, input_ssl_error());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_num_tickets(ctx, 0); /* senders reconnect rarely; nothing to resume */
    const char *file = cfg->cert_file;
    int ok = SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) == 1;
    if (ok) {
        file = cfg->key_file;
        ok = SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) == 1 &&
             SSL_CTX_check_private_key(ctx) == 1;
    }
    if (ok && cfg->ca_file) {
        file = cfg->ca_file;
        ok = SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) == 1;
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    if (!ok) {
        snprintf(err, errlen, "%s: %s: %s", cfg->url, file, input_ssl_error());
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int input_check(const input_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->transport != INPUT_TLS) return HA_OK;
    SSL_CTX *ctx = input_tls_ctx(cfg, err, errlen);
    if (!ctx) return HA_EINVAL;
    SSL_CTX_free(ctx);
    return HA_OK;
}

/* ---- packets ------------------------------------------------------------ */

static uint64_t input_now_ms(const input_t *in)
{
    return uv_now(in->set->loop);
}

static int input_allowed(const input_t *in, const struct sockaddr *sa)
{
    if (!in->cfg.allow) return 1;
    uint8_t addr[16] = {0};
    uint8_t version;
    if (sa->sa_family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        version = 4;
    } else if (sa->sa_family == AF_INET6) {
        const uint8_t *a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a6, mapped, 12) == 0) { /* an IPv4 client of a dual-stack socket */
            memcpy(addr, a6 + 12, 4);
            version = 4;
        } else {
            memcpy(addr, a6, 16);
            version = 6;
        }
    } else {
        return 0;
    }
    for (size_t i = 0; i < in->cfg.allow_count; i++)
        if (rules_cidr_contains(&in->cfg.allow[i], version, addr)) return 1;
    return 0;
}

/* One datagram or frame: checked, then handed on. */
static void input_packet(input_t *in, const uint8_t *data, size_t len)
{
    /* only HEPv1 lacks a time of its own: the clock is read for it alone */
    struct timeval tv = {0, 0};
    if (len && data[0] == 1) gettimeofday(&tv, NULL);
    hepin_packet_t p;
    hepin_result_t r =
        hepin_decode(data, len, (uint64_t)tv.tv_sec, (uint32_t)tv.tv_usec, in->set->conv, &p);
    if (r != HEPIN_OK) {
        in->st.malformed++;
        in->st.malformed_by[r]++;
        return;
    }
    if (in->cfg.auth_key) {
        size_t n = strlen(in->cfg.auth_key);
        if (p.msg.auth_key.len != n || memcmp(p.msg.auth_key.ptr, in->cfg.auth_key, n) != 0) {
            in->st.bad_auth++;
            return;
        }
    }
    if (p.version != 3) in->st.converted_v2++;
    in->st.packets++;
    in->set->cb(in->set->ctx, in, &p);
}

/* ---- UDP ---------------------------------------------------------------- */

static uint32_t input_rxq_ovfl(const struct msghdr *h)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR((struct msghdr *)h, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL &&
            c->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
            uint32_t v;
            memcpy(&v, CMSG_DATA(c), sizeof(v));
            return v;
        }
    return UINT32_MAX;
}

static void input_udp_cb(uv_poll_t *h, int status, int events)
{
    input_t *in = h->data;
    input_set_t *set = in->set;
    (void)events;
    if (status < 0) return;
    for (int round = 0; round < INPUT_UDP_ROUNDS; round++) {
        for (size_t i = 0; i < INPUT_UDP_BATCH; i++) {
            set->iov[i] = (struct iovec){set->slots + i * INPUT_SLOT, INPUT_SLOT};
            set->msgs[i].msg_hdr = (struct msghdr){.msg_name = &set->from[i],
                                                   .msg_namelen = sizeof(set->from[i]),
                                                   .msg_iov = &set->iov[i],
                                                   .msg_iovlen = 1,
                                                   .msg_control = set->control[i],
                                                   .msg_controllen = sizeof(set->control[i])};
        }
        int n = recvmmsg(in->fd, set->msgs, INPUT_UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) return;
        for (int i = 0; i < n; i++) {
            const struct msghdr *mh = &set->msgs[i].msg_hdr;
            size_t len = set->msgs[i].msg_len;
            in->st.bytes += len;
            uint32_t dropped = input_rxq_ovfl(mh);
            if (dropped != UINT32_MAX) in->st.kernel_dropped = dropped;
            if (!input_allowed(in, (const struct sockaddr *)mh->msg_name)) {
                in->st.refused_address++;
                continue;
            }
            input_packet(in, set->slots + (size_t)i * INPUT_SLOT, len);
        }
        if (n < INPUT_UDP_BATCH) return;
    }
}

/* ---- streams ------------------------------------------------------------ */

static void input_conn_freed(uv_handle_t *h)
{
    free(h->data);
}

typedef enum {
    CLOSE_IDLE,
    CLOSE_SLOW,
    CLOSE_GARBAGE,
    CLOSE_PEER,
    CLOSE_TLS,
    CLOSE_STOP
} input_close_t;

static void input_conn_close(input_conn_t *c, input_close_t why)
{
    input_t *in = c->in;
    switch (why) {
    case CLOSE_IDLE:
        in->st.closed_idle++;
        break;
    case CLOSE_SLOW:
        in->st.closed_slow++;
        break;
    case CLOSE_GARBAGE:
        in->st.closed_garbage++;
        break;
    case CLOSE_PEER:
        in->st.closed_by_peer++;
        break;
    case CLOSE_TLS:
        in->st.tls_failures++;
        break;
    case CLOSE_STOP:
        break;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        in->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    in->conn_count--;
    uv_poll_stop(&c->poll);
    if (c->ssl) SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->fd);
    c->poll.data = c;
    uv_close((uv_handle_t *)&c->poll, input_conn_freed);
}

/* Cuts whole packets from the buffer. Returns 0, or -1 when the bytes are
 * not HEP3 (the connection was closed). */
static int input_conn_frames(input_conn_t *c)
{
    size_t off = 0;
    while (c->have - off >= 4) {
        const uint8_t *p = c->buf + off;
        if ((p[0] != 'H' && p[0] != 'E') || memcmp(p + 1, "EP3", 3) != 0) {
            input_conn_close(c, CLOSE_GARBAGE);
            return -1;
        }
        if (c->have - off < HEP_HEADER_LEN) break;
        size_t total = be16(p + 4);
        if (total < HEP_HEADER_LEN) {
            input_conn_close(c, CLOSE_GARBAGE);
            return -1;
        }
        if (c->have - off < total) break;
        input_packet(c->in, p, total);
        off += total;
    }
    if (off) {
        memmove(c->buf, c->buf + off, c->have - off);
        c->have -= off;
        c->frame_start_ms = c->have ? input_now_ms(c->in) : 0;
    }
    return 0;
}

static void input_conn_events(input_conn_t *c, int want_write);
static void input_conn_cb(uv_poll_t *h, int status, int events);

/* TLS handshake step: 1 done, 0 in progress, -1 closed. */
static int input_conn_handshake(input_conn_t *c)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(c->ssl);
    if (rc == 1) {
        c->handshake_done = 1;
        input_conn_events(c, 0);
        return 1;
    }
    int e = SSL_get_error(c->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        input_conn_events(c, e == SSL_ERROR_WANT_WRITE);
        return 0;
    }
    log_debug("input %s: TLS handshake failed: %s", c->in->label, input_ssl_error());
    input_conn_close(c, CLOSE_TLS);
    return -1;
}

static void input_conn_events(input_conn_t *c, int want_write)
{
    if (want_write == c->want_write) return;
    c->want_write = want_write;
    uv_poll_start(&c->poll, UV_READABLE | (want_write ? UV_WRITABLE : 0), input_conn_cb);
}

/* Reads what the socket holds, up to the budget. Returns bytes read, 0
 * when nothing more now, -1 when the connection was closed. */
static ssize_t input_conn_read(input_conn_t *c, size_t room)
{
    if (!c->ssl) {
        ssize_t n = read(c->fd, c->buf + c->have, room);
        if (n > 0) return n;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
        input_conn_close(c, CLOSE_PEER);
        return -1;
    }
    ERR_clear_error();
    int n = SSL_read(c->ssl, c->buf + c->have, room > INT32_MAX ? INT32_MAX : (int)room);
    if (n > 0) return n;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        input_conn_events(c, e == SSL_ERROR_WANT_WRITE);
        return 0;
    }
    input_conn_close(c,
                     e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? CLOSE_PEER : CLOSE_TLS);
    return -1;
}

static void input_conn_cb(uv_poll_t *h, int status, int events)
{
    input_conn_t *c = h->data;
    (void)events;
    if (status < 0) {
        input_conn_close(c, CLOSE_PEER);
        return;
    }
    if (c->ssl && !c->handshake_done && input_conn_handshake(c) <= 0) return;
    size_t budget = INPUT_READ_BUDGET;
    for (;;) {
        size_t room = sizeof(c->buf) - c->have;
        ssize_t n = input_conn_read(c, room);
        if (n < 0) return;
        if (n == 0) break;
        c->in->st.bytes += (uint64_t)n;
        c->last_rx_ms = input_now_ms(c->in);
        if (c->have == 0) c->frame_start_ms = c->last_rx_ms;
        c->have += (size_t)n;
        if (input_conn_frames(c) < 0) return;
        budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
        /* decrypted bytes OpenSSL holds do not wake the poll: take them now */
        if (budget == 0 && !(c->ssl && SSL_pending(c->ssl) > 0)) break;
    }
}

static void input_accept_cb(uv_poll_t *h, int status, int events)
{
    input_t *in = h->data;
    (void)events;
    if (status < 0) return;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof(from);
        int fd = accept4(in->fd, (struct sockaddr *)&from, &fromlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        if (!input_allowed(in, (struct sockaddr *)&from)) {
            in->st.refused_address++;
            close(fd);
            continue;
        }
        if (in->conn_count >= in->cfg.max_connections) {
            in->st.refused_connections++;
            close(fd);
            continue;
        }
        /* the buffer stays untouched (and out of RSS) until bytes arrive */
        input_conn_t *c = malloc(sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        memset(c, 0, offsetof(input_conn_t, buf));
        c->in = in;
        c->fd = fd;
        c->accepted_ms = c->last_rx_ms = input_now_ms(in);
        if (in->tls) {
            c->ssl = SSL_new(in->tls);
            if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
                if (c->ssl) SSL_free(c->ssl);
                close(fd);
                free(c);
                continue;
            }
            SSL_set_accept_state(c->ssl);
        }
        uv_poll_init(in->set->loop, &c->poll, fd);
        c->poll.data = c;
        uv_poll_start(&c->poll, UV_READABLE, input_conn_cb);
        c->next = in->conns;
        if (in->conns) in->conns->prev = c;
        in->conns = c;
        in->conn_count++;
        in->st.connections++;
    }
}

/* Closes connections that were silent too long, or that started a packet
 * (or a handshake) and did not finish it in time. */
static void input_sweep_cb(uv_timer_t *t)
{
    input_set_t *set = t->data;
    uint64_t now = uv_now(set->loop);
    for (size_t i = 0; i < set->count; i++) {
        input_t *in = &set->items[i];
        for (input_conn_t *c = in->conns, *next; c; c = next) {
            next = c->next;
            uint64_t started = c->ssl && !c->handshake_done ? c->accepted_ms : c->frame_start_ms;
            if (started && now - started >= in->cfg.frame_timeout_ms)
                input_conn_close(c, CLOSE_SLOW);
            else if (now - c->last_rx_ms >= in->cfg.idle_timeout_ms)
                input_conn_close(c, CLOSE_IDLE);
        }
    }
}

/* ---- set ---------------------------------------------------------------- */

static int input_bind(input_t *in, char *err, size_t errlen)
{
    const input_config_t *cfg = &in->cfg;
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                             .ai_socktype = cfg->transport == INPUT_UDP ? SOCK_DGRAM : SOCK_STREAM};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%u", cfg->port);
    int rc = getaddrinfo(cfg->host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s: %s", cfg->url, cfg->host, gai_strerror(rc));
        return HA_EINVAL;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd >= 0 && cfg->transport == INPUT_UDP) {
        int size = (int)HA_MIN((uint64_t)cfg->recv_buffer_kb * 1024, (uint64_t)INT32_MAX);
        /* FORCE passes rmem_max when we may (root); otherwise the capped size */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
    }
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
        (cfg->transport != INPUT_UDP && listen(fd, 128) != 0)) {
        snprintf(err, errlen, "%s: cannot listen: %s", cfg->url, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return HA_EIO;
    }
    freeaddrinfo(res);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    getsockname(fd, (struct sockaddr *)&bound, &blen);
    in->bound_port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                       : ((struct sockaddr_in *)&bound)->sin_port);
    in->fd = fd;
    uv_poll_init(in->set->loop, &in->poll, fd);
    in->set->handles_open++;
    in->poll.data = in;
    uv_poll_start(&in->poll, UV_READABLE,
                  cfg->transport == INPUT_UDP ? input_udp_cb : input_accept_cb);
    return HA_OK;
}

int input_set_start(uv_loop_t *loop, const input_config_t *cfgs, size_t count, input_packet_cb cb,
                    void *ctx, input_set_t **out, char *err, size_t errlen)
{
    *out = NULL;
    input_set_t *set = calloc(1, sizeof(*set));
    if (!set) return HA_ENOMEM;
    set->loop = loop;
    set->cb = cb;
    set->ctx = ctx;
    set->items = calloc(count ? count : 1, sizeof(*set->items));
    /* virtual until datagrams land: a page or two of each slot is touched */
    set->slots = malloc((size_t)INPUT_UDP_BATCH * INPUT_SLOT);
    if (!set->items || !set->slots) {
        free(set->items);
        free(set->slots);
        free(set);
        return HA_ENOMEM;
    }
    uint32_t sweep_ms = 1000;
    int rc = HA_OK;
    for (size_t i = 0; i < count && rc == HA_OK; i++) {
        input_t *in = &set->items[i];
        in->set = set;
        in->fd = -1;
        rc = input_copy_config(&in->cfg, &cfgs[i]);
        if (rc != HA_OK) break;
        set->count++;
        in->label = in->cfg.name ? in->cfg.name : in->cfg.url;
        if (in->cfg.transport == INPUT_TLS && !(in->tls = input_tls_ctx(&in->cfg, err, errlen)))
            rc = HA_EINVAL;
        if (rc == HA_OK) rc = input_bind(in, err, errlen);
        uint32_t shortest = HA_MIN(in->cfg.frame_timeout_ms, in->cfg.idle_timeout_ms);
        sweep_ms = HA_MIN(sweep_ms, HA_MAX(shortest / 4, 10u));
    }
    uv_timer_init(loop, &set->sweep);
    set->sweep.data = set;
    set->handles_open++;
    if (rc != HA_OK) {
        input_set_free(set);
        return rc;
    }
    uv_timer_start(&set->sweep, input_sweep_cb, sweep_ms, sweep_ms);
    uv_unref((uv_handle_t *)&set->sweep); /* the listeners keep the loop alive, not the sweep */
    *out = set;
    return HA_OK;
}

/* libuv calls close callbacks in no order we may rely on: the set goes
 * once the last of its handles is released and input_set_free was called. */
static void input_set_release(input_set_t *set)
{
    if (set->handles_open || !set->free_asked) return;
    for (size_t i = 0; i < set->count; i++) {
        if (set->items[i].tls) SSL_CTX_free(set->items[i].tls);
        input_config_free(&set->items[i].cfg);
    }
    free(set->items);
    free(set->slots);
    free(set);
}

static void input_listener_closed(uv_handle_t *h)
{
    input_t *in = h->data;
    in->set->handles_open--;
    input_set_release(in->set);
}

static void input_sweep_closed(uv_handle_t *h)
{
    input_set_t *set = h->data;
    set->handles_open--;
    input_set_release(set);
}

void input_set_stop(input_set_t *set)
{
    if (!set || set->stopped) return;
    set->stopped = 1;
    for (size_t i = 0; i < set->count; i++) {
        input_t *in = &set->items[i];
        while (in->conns)
            input_conn_close(in->conns, CLOSE_STOP);
        if (in->fd >= 0) {
            uv_poll_stop(&in->poll);
            close(in->fd);
            in->fd = -1;
            uv_close((uv_handle_t *)&in->poll, input_listener_closed);
        }
    }
    uv_timer_stop(&set->sweep);
    uv_close((uv_handle_t *)&set->sweep, input_sweep_closed);
}

void input_set_free(input_set_t *set)
{
    if (!set) return;
    input_set_stop(set);
    set->free_asked = 1;
    input_set_release(set);
}

/* ---- accessors and counters --------------------------------------------- */

const char *input_name(const input_t *in)
{
    return in->label;
}

const char *input_url(const input_t *in)
{
    return in->cfg.url;
}

uint16_t input_port(const input_t *in)
{
    return in->bound_port;
}

const input_t *input_set_get(const input_set_t *set, size_t i)
{
    return i < set->count ? &set->items[i] : NULL;
}

const input_stats_t *input_stats(const input_t *in)
{
    return &in->st;
}

size_t input_connections(const input_t *in)
{
    return in->conn_count;
}

void input_set_visit_stats(const input_set_t *set, const stats_visitor_t *v)
{
    for (size_t i = 0; i < set->count; i++) {
        const input_t *in = &set->items[i];
#define INPUT_VISIT(name, help)                                                                    \
    stats_emit(v, "input." #name, "input", in->label, STATS_COUNTER, in->st.name, help);
        INPUT_COUNTERS(INPUT_VISIT)
#undef INPUT_VISIT
        for (int r = 1; r < HEPIN_RESULT_COUNT; r++) {
            if (!in->st.malformed_by[r]) continue;
            char name[64];
            snprintf(name, sizeof(name), "input.malformed.%s",
                     hepin_result_name((hepin_result_t)r));
            stats_emit(v, name, "input", in->label, STATS_COUNTER, in->st.malformed_by[r],
                       hepin_result_help((hepin_result_t)r));
        }
        if (in->cfg.transport != INPUT_UDP)
            stats_emit(v, "input.connections_now", "input", in->label, STATS_GAUGE, in->conn_count,
                       "connections open");
    }
}

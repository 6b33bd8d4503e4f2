/* bench_sink: the receiving end of scripts/bench.sh. Listens on UDP and/or
 * TCP and counts what arrives:
 *   -m hep  (default) every UDP datagram, and every frame cut from a TCP
 *           stream by hep_frame_length, must decode with hep_decode; counted
 *           as packets or invalid. -C also counts distinct correlation ids.
 *   -m raw  UDP datagrams (and TCP bytes) are only counted: the floor
 *           program's unparsed frames.
 * -L records, for each HEP packet, latency = receive wall time - HEP capture
 * timestamp (chunks 9/10) and prints p50/p99/max. For UDP the receive time is
 * the kernel's socket timestamp (SO_TIMESTAMPNS, so the sink's own scheduling
 * is not counted); for TCP it is the wall clock when the bytes were read.
 *
 * Exits on SIGTERM/SIGINT (after reading what its sockets still hold), after
 * -n COUNT packets, after -i IDLE_MS without data once something arrived, or
 * after -T TOTAL_MS; then prints one summary line (key=value) to stdout.
 * The bound ports are printed first, as "listening udp=P tcp=P", and written
 * to -p PORTFILE. */
#include "hepagent/common.h"
#include "hepagent/hep.h"
#include "sink_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    MAX_CONNS = 64,
    BATCH = 64,
    DGRAM_MAX = 65536,
    CONN_BUF = 1 << 18,
    /* latency histogram: 1 us buckets below 100 ms, then 1 ms buckets to 100 s */
    LAT_FINE = 100000,
    LAT_BUCKETS = LAT_FINE + 100000,
};

typedef struct {
    int fd;
    uint8_t *buf;
    size_t len;
} conn_t;

typedef struct {
    int raw;
    int want_latency;
    int want_callids;
    uint64_t udp_datagrams, tcp_bytes, bytes;
    uint64_t packets, invalid, no_callid, stream_errors;
    uint64_t limit;
    /* latency */
    uint32_t *hist;
    uint64_t lat_n, lat_negative, lat_max_us, lat_sum_us;
    /* distinct correlation ids: open addressing over 64-bit hashes */
    uint64_t *ids;
    size_t ids_cap, ids_count;
    /* first and last arrival, wall clock */
    uint64_t first_us, last_us;
} sink_t;

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t hash64(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h ? h : 1; /* 0 marks an empty slot */
}

static void ids_insert_raw(uint64_t *tab, size_t cap, uint64_t h, size_t *count)
{
    size_t i = (size_t)h & (cap - 1);
    while (tab[i] && tab[i] != h)
        i = (i + 1) & (cap - 1);
    if (!tab[i]) {
        tab[i] = h;
        (*count)++;
    }
}

static void ids_add(sink_t *s, const uint8_t *p, size_t n)
{
    if ((s->ids_count + 1) * 2 > s->ids_cap) {
        size_t cap = s->ids_cap ? s->ids_cap * 2 : 1 << 16, count = 0;
        uint64_t *tab = calloc(cap, sizeof(*tab));
        if (!tab) {
            fprintf(stderr, "bench_sink: out of memory (call-id set)\n");
            exit(1);
        }
        for (size_t i = 0; i < s->ids_cap; i++)
            if (s->ids[i]) ids_insert_raw(tab, cap, s->ids[i], &count);
        free(s->ids);
        s->ids = tab;
        s->ids_cap = cap;
    }
    ids_insert_raw(s->ids, s->ids_cap, hash64(p, n), &s->ids_count);
}

static void record_latency(sink_t *s, uint64_t rx_us, uint32_t sec, uint32_t usec)
{
    uint64_t ts = (uint64_t)sec * 1000000 + usec;
    if (rx_us < ts) {
        s->lat_negative++;
        rx_us = ts;
    }
    uint64_t lat = rx_us - ts;
    size_t b = lat < LAT_FINE ? (size_t)lat : (size_t)(LAT_FINE + (lat - LAT_FINE) / 1000);
    if (b >= LAT_BUCKETS) b = LAT_BUCKETS - 1;
    s->hist[b]++;
    s->lat_n++;
    s->lat_sum_us += lat;
    if (lat > s->lat_max_us) s->lat_max_us = lat;
}

/* The latency below which a fraction q of the samples lies, in us. */
static uint64_t lat_quantile(const sink_t *s, double q)
{
    if (!s->lat_n) return 0;
    uint64_t rank = (uint64_t)(q * (double)s->lat_n);
    if (rank >= s->lat_n) rank = s->lat_n - 1;
    uint64_t seen = 0;
    for (size_t b = 0; b < LAT_BUCKETS; b++) {
        seen += s->hist[b];
        if (seen > rank) return b < LAT_FINE ? b : LAT_FINE + (b - LAT_FINE) * 1000;
    }
    return s->lat_max_us;
}

static void arrived(sink_t *s, uint64_t now)
{
    if (!s->first_us) s->first_us = now;
    s->last_us = now;
}

static void handle_hep(sink_t *s, const uint8_t *p, size_t n, uint64_t rx_us)
{
    hep_decoded_t d;
    char err[HA_ERRLEN];
    if (hep_decode(p, n, &d, err, sizeof(err)) != HA_OK) {
        if (s->invalid++ == 0) fprintf(stderr, "bench_sink: first invalid packet: %s\n", err);
        return;
    }
    s->packets++;
    if (!d.msg.correlation_id.len) s->no_callid++;
    if (s->want_callids && d.msg.correlation_id.len)
        ids_add(s, d.msg.correlation_id.ptr, d.msg.correlation_id.len);
    if (s->want_latency) record_latency(s, rx_us, d.msg.ts_sec, d.msg.ts_usec);
}

/* Reads until the socket is empty. */
static void read_udp(sink_t *s, int fd)
{
    static uint8_t bufs[BATCH][DGRAM_MAX];
    static union {
        char buf[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } ctl[BATCH];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    for (;;) {
        memset(msgs, 0, sizeof(msgs));
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = DGRAM_MAX;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            if (s->want_latency) {
                msgs[i].msg_hdr.msg_control = ctl[i].buf;
                msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
            }
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        uint64_t now = wall_us();
        arrived(s, now);
        for (int i = 0; i < n; i++) {
            size_t len = msgs[i].msg_len;
            s->udp_datagrams++;
            s->bytes += len;
            if (s->raw) {
                s->packets++;
                continue;
            }
            uint64_t rx = now;
            if (s->want_latency) {
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
                     c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
                    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                        struct timespec ts;
                        memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                        rx = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
                    }
                }
            }
            handle_hep(s, bufs[i], len, rx);
        }
    }
}

/* Returns 0 to keep the connection, -1 when the peer closed it, -2 when
 * the stream is not HEP. */
static int read_tcp(sink_t *s, conn_t *c)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->buf + c->len, CONN_BUF - c->len, MSG_DONTWAIT);
        if (r == 0) return -1;
        if (r < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
        uint64_t now = wall_us();
        arrived(s, now);
        s->tcp_bytes += (uint64_t)r;
        s->bytes += (uint64_t)r;
        if (s->raw) {
            c->len = 0;
            continue;
        }
        c->len += (size_t)r;
        size_t off = 0;
        for (;;) {
            int total = hep_frame_length(c->buf + off, c->len - off);
            if (total < 0) {
                if (s->stream_errors++ == 0)
                    fprintf(stderr, "bench_sink: TCP stream is not HEP; connection closed\n");
                return -2;
            }
            if (total == 0 || (size_t)total > c->len - off) break;
            handle_hep(s, c->buf + off, (size_t)total, now);
            off += (size_t)total;
        }
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
}

static void usage(FILE *out, int code)
{
    fputs("usage: bench_sink [-u PORT] [-t PORT] [-b ADDR] [-m hep|raw] [-L] [-C] [-n COUNT]\n"
          "                  [-i IDLE_MS] [-T TOTAL_MS] [-r RCVBUF_MB] [-p PORTFILE]\n"
          "  -u/-t PORT  listen on UDP/TCP (0: any free port), address -b (127.0.0.1)\n"
          "  -m hep      decode every packet (default); raw: count datagrams/bytes only\n"
          "  -L          latency = receive time - HEP timestamp: p50/p99/max\n"
          "  -C          count distinct correlation ids (Call-IDs)\n"
          "  -n COUNT    exit after COUNT packets\n"
          "  -i IDLE_MS  exit after IDLE_MS without data, once something arrived\n"
          "  -T TOTAL_MS exit after TOTAL_MS in any case\n"
          "  -r MB       receive buffer (SO_RCVBUFFORCE), default 256\n"
          "  -p FILE     write \"UDPPORT TCPPORT\" to FILE once listening\n"
          "Prints \"listening udp=P tcp=P\" at start and one summary line at exit.\n",
          out);
    exit(code);
}

int main(int argc, char **argv)
{
    sink_t s;
    memset(&s, 0, sizeof(s));
    const char *bind_addr = "127.0.0.1", *port_file = NULL;
    int udp_port = -1, tcp_port = -1, rcvbuf_mb = 256;
    uint64_t idle_ms = 0, total_ms = 0;
    int opt;
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    while ((opt = getopt_long(argc, argv, "u:t:b:m:LCn:i:T:r:p:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            udp_port = atoi(optarg);
            break;
        case 't':
            tcp_port = atoi(optarg);
            break;
        case 'b':
            bind_addr = optarg;
            break;
        case 'm':
            if (strcmp(optarg, "raw") == 0)
                s.raw = 1;
            else if (strcmp(optarg, "hep") != 0)
                usage(stderr, 2);
            break;
        case 'L':
            s.want_latency = 1;
            break;
        case 'C':
            s.want_callids = 1;
            break;
        case 'n':
            s.limit = strtoull(optarg, NULL, 10);
            break;
        case 'i':
            idle_ms = strtoull(optarg, NULL, 10);
            break;
        case 'T':
            total_ms = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            rcvbuf_mb = atoi(optarg);
            if (rcvbuf_mb < 1 || rcvbuf_mb > 2047) usage(stderr, 2);
            break;
        case 'p':
            port_file = optarg;
            break;
        case 'h':
            usage(stdout, 0);
            break;
        default:
            usage(stderr, 2);
        }
    }
    if (udp_port < 0 && tcp_port < 0) usage(stderr, 2);
    if (s.want_latency) {
        s.hist = calloc(LAT_BUCKETS, sizeof(*s.hist));
        if (!s.hist) return 1;
    }
    sink_signals();

    int udp_fd = -1, tcp_fd = -1, bound_udp = 0, bound_tcp = 0;
    if (udp_port >= 0) {
        udp_fd = sink_listen("bench_sink", SOCK_DGRAM, bind_addr, udp_port, rcvbuf_mb << 20, &bound_udp);
        int one = 1;
        if (s.want_latency) setsockopt(udp_fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
    }
    if (tcp_port >= 0) tcp_fd = sink_listen("bench_sink", SOCK_STREAM, bind_addr, tcp_port, rcvbuf_mb << 20, &bound_tcp);
    if (port_file) sink_write_ports("bench_sink", port_file, bound_udp, bound_tcp);
    printf("listening udp=%d tcp=%d\n", bound_udp, bound_tcp);
    fflush(stdout);

    struct pollfd fds[2 + MAX_CONNS];
    conn_t conns[MAX_CONNS];
    int nconns = 0;
    uint64_t start = sink_mono_ms(), last = 0, accepted = 0;
    for (;;) {
        int n = 0;
        if (udp_fd >= 0) fds[n++] = (struct pollfd){.fd = udp_fd, .events = POLLIN};
        if (tcp_fd >= 0) fds[n++] = (struct pollfd){.fd = tcp_fd, .events = POLLIN};
        int first_conn = n;
        for (int i = 0; i < nconns; i++)
            fds[n++] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        int stopping = sink_stop;
        /* on a stop request: one more non-blocking round for what is queued */
        int pr = poll(fds, (nfds_t)n, stopping ? 0 : 20);
        uint64_t before = s.bytes;
        if (pr > 0) {
            for (int i = 0; i < first_conn; i++) {
                if (!(fds[i].revents & POLLIN)) continue;
                if (fds[i].fd == udp_fd) {
                    read_udp(&s, udp_fd);
                    continue;
                }
                for (;;) {
                    int fd = accept4(tcp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    accepted++;
                    uint8_t *buf = nconns < MAX_CONNS ? malloc(CONN_BUF) : NULL;
                    if (!buf) {
                        close(fd);
                        continue;
                    }
                    conns[nconns++] = (conn_t){.fd = fd, .buf = buf, .len = 0};
                }
            }
            for (int i = first_conn; i < n; i++) {
                if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                int k = i - first_conn;
                int rc = read_tcp(&s, &conns[k]);
                if (rc < 0) {
                    if (rc == -1 && conns[k].len && !s.raw) s.stream_errors++; /* a cut packet */
                    close(conns[k].fd);
                    free(conns[k].buf);
                    conns[k].fd = -1;
                }
            }
            for (int k = 0; k < nconns;) {
                if (conns[k].fd < 0)
                    conns[k] = conns[--nconns];
                else
                    k++;
            }
        }
        uint64_t t = sink_mono_ms();
        if (s.bytes != before) last = t;
        if (stopping && s.bytes == before) break;
        if (s.limit && s.packets >= s.limit) break;
        if (idle_ms && last && t - last >= idle_ms) break;
        if (total_ms && t - start >= total_ms) break;
    }
    double span_s = s.last_us > s.first_us ? (double)(s.last_us - s.first_us) / 1e6 : 0;
    printf("bench_sink mode=%s packets=%" PRIu64 " invalid=%" PRIu64 " stream_errors=%" PRIu64
           " udp_datagrams=%" PRIu64 " tcp_bytes=%" PRIu64 " bytes=%" PRIu64
           " connections=%" PRIu64 " no_callid=%" PRIu64,
           s.raw ? "raw" : "hep", s.packets, s.invalid, s.stream_errors, s.udp_datagrams,
           s.tcp_bytes, s.bytes, accepted, s.raw ? 0 : s.no_callid);
    if (s.want_callids) printf(" callids=%zu", s.ids_count);
    printf(" first_to_last_s=%.3f", span_s);
    if (s.want_latency)
        printf(" lat_n=%" PRIu64 " lat_p50_us=%" PRIu64 " lat_p99_us=%" PRIu64
               " lat_p999_us=%" PRIu64 " lat_max_us=%" PRIu64 " lat_mean_us=%.1f lat_negative=%" PRIu64,
               s.lat_n, lat_quantile(&s, 0.50), lat_quantile(&s, 0.99), lat_quantile(&s, 0.999),
               s.lat_max_us, s.lat_n ? (double)s.lat_sum_us / (double)s.lat_n : 0.0,
               s.lat_negative);
    printf("\n");
    fflush(stdout);
    for (int k = 0; k < nconns; k++) {
        close(conns[k].fd);
        free(conns[k].buf);
    }
    free(s.hist);
    free(s.ids);
    return s.invalid || s.stream_errors ? 3 : 0;
}

/* hep_sink: a HEP collector for tests and benchmarks. Listens on UDP and/or
 * TCP, decodes every packet strictly (hep_decode) and writes one JSON line per
 * packet, or only counts with -q. TCP streams are framed by the HEP length;
 * bytes that are not HEP close the connection (counted as invalid).
 *
 * Faults for the delivery tests:
 *   -S       stall: accept TCP connections and never read them (a small
 *            receive buffer, so the sender's side fills within a few KB);
 *   -C N     close each TCP connection after N packets were read from it:
 *            the sink sends its FIN and goes on reading until the agent
 *            closes too, as a collector restarting cleanly would;
 *   -R SEED  with -C: after a random 1..N packets instead (seeded);
 *   -A       with -C: close abruptly instead, as a crashing collector does:
 *            what is unread is discarded (its bytes are counted) and the
 *            kernel resets the connection;
 *   -B BYTES TCP receive buffer (the kernel doubles it): a small one keeps
 *            bursts unacknowledged in the agent's socket, as a slow network
 *            would, where loopback acknowledges at once.
 * SIGTERM/SIGINT stop it gracefully: the listeners close, every connection
 * is half-closed and read until its peer closes (at most 2 s), what is left
 * on UDP is read, the output is flushed and a summary goes to stderr. */
#include "hepagent/common.h"
#include "hepagent/compress.h"
#include "hepagent/hep.h"
#include "sink_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    MAX_CONNS = 64,
    BATCH = 64,
    CONN_BUF = 65536,     /* a HEP packet is at most 65535 bytes */
    STALL_RCVBUF = 4096,  /* -S without -B */
    STOP_GRACE_MS = 2000, /* at SIGTERM: how long peers get to close */
};

typedef struct {
    int fd;
    uint8_t *buf;
    size_t len;
    uint64_t packets;     /* read on this connection */
    uint64_t close_after; /* half-close after this many; 0: never */
    int half_closed;
} conn_t;

typedef struct {
    FILE *out;
    int quiet;
    uint64_t packets, invalid, bytes;
    uint64_t limit;
    uint64_t accepted, closed_by_sink;
    uint64_t discarded_bytes; /* -A: received (and acknowledged) but never read */
    uint64_t close_after;     /* -C */
    int abrupt;               /* -A */
    uint64_t rng;             /* -R: xorshift64 state; 0 without -R */
} sink_t;

static void json_string(FILE *out, ha_bytes_t b)
{
    fputc('"', out);
    for (size_t i = 0; i < b.len; i++) {
        uint8_t c = b.ptr[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void print_addr(FILE *out, int version, const uint8_t *addr)
{
    char text[INET6_ADDRSTRLEN];
    inet_ntop(version == 6 ? AF_INET6 : AF_INET, addr, text, sizeof(text));
    fprintf(out, "\"%s\"", text);
}

static void handle_packet(sink_t *s, const char *transport, const uint8_t *p, size_t n)
{
    hep_decoded_t d;
    char err[256];
    s->bytes += n;
    if (hep_decode(p, n, &d, err, sizeof(err)) != HA_OK) {
        s->invalid++;
        if (!s->quiet) {
            fprintf(s->out, "{\"transport\":\"%s\",\"error\":", transport);
            json_string(s->out, (ha_bytes_t){(const uint8_t *)err, strlen(err)});
            fputs("}\n", s->out);
        }
        return;
    }
    s->packets++;
    if (s->quiet) return;
    const hep_msg_t *m = &d.msg;
    static uint8_t plain[1 << 20];
    ha_bytes_t payload = m->payload;
    if (m->payload_compressed) {
        int z = compress_inflate(m->payload.ptr, m->payload.len, plain, sizeof(plain));
        if (z < 0) {
            s->invalid++;
            fprintf(s->out, "{\"transport\":\"%s\",\"error\":\"bad zlib payload\"}\n", transport);
            return;
        }
        payload = (ha_bytes_t){plain, (size_t)z};
    }
    FILE *o = s->out;
    fprintf(o, "{\"transport\":\"%s\",\"family\":%d,\"proto\":%u,\"src\":", transport,
            m->ip_version, m->ip_proto);
    print_addr(o, m->ip_version, m->src_addr);
    fprintf(o, ",\"sport\":%u,\"dst\":", m->src_port);
    print_addr(o, m->ip_version, m->dst_addr);
    fprintf(o, ",\"dport\":%u,\"sec\":%u,\"usec\":%u,\"ptype\":%u,\"capid\":%u", m->dst_port,
            m->ts_sec, m->ts_usec, m->proto_type, m->capture_id);
    if (m->correlation_id.len) {
        fputs(",\"corr\":", o);
        json_string(o, m->correlation_id);
    }
    if (m->node_name.len) {
        fputs(",\"node\":", o);
        json_string(o, m->node_name);
    }
    if (m->auth_key.len) {
        fputs(",\"auth\":", o);
        json_string(o, m->auth_key);
    }
    if (m->has_vlan) fprintf(o, ",\"vlan\":%u", m->vlan);
    fprintf(o, ",\"compressed\":%s,\"size\":%zu,\"payload\":\"",
            m->payload_compressed ? "true" : "false", n);
    for (size_t i = 0; i < payload.len; i++)
        fprintf(o, "%02x", payload.ptr[i]);
    fputs("\"}\n", o);
}

/* rcvbuf > 0 sets the receive buffer, which accepted connections inherit. */
static void read_udp(sink_t *s, int fd)
{
    static uint8_t bufs[BATCH][65536];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    for (;;) {
        memset(msgs, 0, sizeof(msgs));
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = sizeof(bufs[i]);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) return;
        for (int i = 0; i < n; i++)
            handle_packet(s, "udp", bufs[i], msgs[i].msg_len);
    }
}

/* -C/-R: how many packets the next connection may carry before the sink
 * closes it. */
static uint64_t next_close_after(sink_t *s)
{
    if (!s->close_after || !s->rng) return s->close_after;
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return 1 + s->rng % s->close_after;
}

/* Sends our FIN; the peer's data is still read until it closes. */
static void half_close(sink_t *s, conn_t *c)
{
    if (c->half_closed) return;
    shutdown(c->fd, SHUT_WR);
    c->half_closed = 1;
    s->closed_by_sink++;
}

/* Returns 0 to keep the connection, -1 to close it. */
static int read_tcp(sink_t *s, conn_t *c)
{
    for (;;) {
        if (c->len == CONN_BUF) return -1;
        ssize_t r = recv(c->fd, c->buf + c->len, CONN_BUF - c->len, MSG_DONTWAIT);
        if (r == 0) return -1;
        if (r < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
        c->len += (size_t)r;
        size_t off = 0;
        for (;;) {
            int total = hep_frame_length(c->buf + off, c->len - off);
            if (total < 0) {
                s->invalid++;
                if (!s->quiet) fputs("{\"transport\":\"tcp\",\"error\":\"not HEP\"}\n", s->out);
                return -1;
            }
            if (total == 0 || (size_t)total > c->len - off) break;
            handle_packet(s, "tcp", c->buf + off, (size_t)total);
            off += (size_t)total;
            if (++c->packets != c->close_after) continue;
            if (s->abrupt) {
                int unread = 0;
                if (ioctl(c->fd, FIONREAD, &unread) != 0 || unread < 0) unread = 0;
                s->discarded_bytes += c->len - off + (uint64_t)unread;
                s->closed_by_sink++;
                return -1;
            }
            half_close(s, c);
        }
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
}

static void usage(void)
{
    fputs("usage: hep_sink [-u PORT] [-t PORT] [-b ADDR] [-o FILE] [-n COUNT] [-i IDLE_MS]\n"
          "                [-T TOTAL_MS] [-p PORTFILE] [-q] [-S | -C N [-R SEED] [-A]]\n"
          "                [-B BYTES]\n"
          "  -u/-t  listen on UDP/TCP (0 = any free port; written to -p PORTFILE)\n"
          "  -n     exit after COUNT valid packets; -i exit after IDLE_MS without packets\n"
          "         (once one arrived); -T exit after TOTAL_MS in any case\n"
          "  -q     count only; the summary line goes to stderr either way\n"
          "  -S     stall: accept TCP connections, never read from them\n"
          "  -C N   close each TCP connection after N packets (FIN; what the agent\n"
          "         sent before it closed too is still read)\n"
          "  -R SEED  with -C: close after a random 1..N packets, from this seed\n"
          "  -A     with -C: close abruptly: unread bytes are discarded (counted) and\n"
          "         the connection is reset\n"
          "  -B     TCP receive buffer in bytes (default: the kernel's; 4096 with -S)\n"
          "SIGTERM/SIGINT: half-close every connection, read until the peers close\n"
          "(at most 2 s), flush the output and exit 0.\n",
          stderr);
    exit(2);
}

static void close_conn(conn_t *c)
{
    close(c->fd);
    free(c->buf);
    c->fd = -1;
    c->buf = NULL;
}

/* Takes every pending connection (none is left in the backlog to be reset
 * when the listener closes). */
static void accept_all(sink_t *s, int tcp_fd, conn_t *conns, int *nconns)
{
    for (;;) {
        int fd = accept4(tcp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        uint8_t *buf = *nconns < MAX_CONNS ? malloc(CONN_BUF) : NULL;
        if (!buf) {
            close(fd);
            continue;
        }
        s->accepted++;
        conns[(*nconns)++] = (conn_t){.fd = fd, .buf = buf, .close_after = next_close_after(s)};
    }
}

int main(int argc, char **argv)
{
    sink_t s = {.out = stdout};
    const char *bind_addr = "127.0.0.1", *port_file = NULL;
    int udp_port = -1, tcp_port = -1, stall = 0, rcvbuf = 0;
    uint64_t idle_ms = 0, total_ms = 0, seed = 0;
    int opt;
    while ((opt = getopt(argc, argv, "u:t:b:o:n:i:T:p:qSC:R:AB:")) != -1) {
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
        case 'o':
            s.out = fopen(optarg, "w");
            if (!s.out) {
                perror(optarg);
                return 1;
            }
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
        case 'p':
            port_file = optarg;
            break;
        case 'q':
            s.quiet = 1;
            break;
        case 'S':
            stall = 1;
            break;
        case 'C':
            s.close_after = strtoull(optarg, NULL, 10);
            if (s.close_after == 0) usage();
            break;
        case 'R':
            seed = strtoull(optarg, NULL, 10);
            break;
        case 'A':
            s.abrupt = 1;
            break;
        case 'B':
            rcvbuf = atoi(optarg);
            if (rcvbuf <= 0) usage();
            break;
        default:
            usage();
        }
    }
    if (udp_port < 0 && tcp_port < 0) usage();
    if ((stall && s.close_after) || ((seed || s.abrupt) && !s.close_after)) usage();
    if (seed) s.rng = seed * 0x9e3779b97f4a7c15ull | 1; /* xorshift needs a non-zero state */
    sink_signals();
    struct pollfd fds[2 + MAX_CONNS];
    conn_t conns[MAX_CONNS];
    int nconns = 0, udp_fd = -1, tcp_fd = -1, bound_udp = 0, bound_tcp = 0;
    if (udp_port >= 0) udp_fd = sink_listen("hep_sink", SOCK_DGRAM, bind_addr, udp_port, 64 << 20, &bound_udp);
    if (tcp_port >= 0)
        tcp_fd = sink_listen("hep_sink", SOCK_STREAM, bind_addr, tcp_port,
                               rcvbuf  ? rcvbuf
                               : stall ? STALL_RCVBUF
                                       : 0,
                               &bound_tcp);
    if (port_file) sink_write_ports("hep_sink", port_file, bound_udp, bound_tcp);
    uint64_t start = sink_mono_ms(), last = 0, stop_deadline = 0;
    for (;;) {
        if (sink_stop && !stop_deadline) {
            /* graceful stop: no new connections; ours are told to close */
            stop_deadline = sink_mono_ms() + STOP_GRACE_MS;
            if (tcp_fd >= 0) {
                accept_all(&s, tcp_fd, conns, &nconns);
                close(tcp_fd);
                tcp_fd = -1;
            }
            if (stall) break; /* it reads nothing: nothing to wait for */
            for (int k = 0; k < nconns; k++)
                half_close(&s, &conns[k]);
        }
        if (stop_deadline && (nconns == 0 || sink_mono_ms() >= stop_deadline)) break;
        int n = 0;
        if (udp_fd >= 0) fds[n++] = (struct pollfd){.fd = udp_fd, .events = POLLIN};
        if (tcp_fd >= 0) fds[n++] = (struct pollfd){.fd = tcp_fd, .events = POLLIN};
        int first_conn = n;
        if (!stall)
            for (int i = 0; i < nconns; i++)
                fds[n++] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        poll(fds, (nfds_t)n, 50);
        uint64_t before = s.packets + s.invalid;
        for (int i = 0; i < first_conn; i++) {
            if (!(fds[i].revents & POLLIN)) continue;
            if (fds[i].fd == udp_fd)
                read_udp(&s, udp_fd);
            else
                accept_all(&s, tcp_fd, conns, &nconns);
        }
        for (int i = first_conn; i < n; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            conn_t *c = &conns[i - first_conn];
            if (read_tcp(&s, c) < 0) close_conn(c);
        }
        for (int k = 0; k < nconns;) {
            if (conns[k].fd < 0)
                conns[k] = conns[--nconns];
            else
                k++;
        }
        uint64_t t = sink_mono_ms();
        if (s.packets + s.invalid != before) last = t;
        fflush(s.out);
        if (s.limit && s.packets >= s.limit) break;
        if (idle_ms && last && t - last >= idle_ms) break;
        if (total_ms && t - start >= total_ms) break;
    }
    if (udp_fd >= 0) read_udp(&s, udp_fd); /* what arrived while stopping */
    fflush(s.out);
    fprintf(stderr,
            "hep_sink: %llu packets, %llu invalid, %llu bytes, %llu connections, "
            "%llu closed by the sink, %llu bytes discarded unread\n",
            (unsigned long long)s.packets, (unsigned long long)s.invalid,
            (unsigned long long)s.bytes, (unsigned long long)s.accepted,
            (unsigned long long)s.closed_by_sink, (unsigned long long)s.discarded_bytes);
    for (int k = 0; k < nconns; k++)
        close_conn(&conns[k]);
    if (s.out != stdout) fclose(s.out);
    return 0;
}

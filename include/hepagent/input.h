/* HEP listeners: what SIP servers and other agents send (Kamailio siptrace,
 * OpenSIPS, FreeSWITCH, Asterisk, rtpengine, captagent, another hepagent)
 * over UDP, TCP or TLS, IPv4 or IPv6, on the one event loop. Each packet is
 * checked by hepin.c before it is handed on; what fails is counted per
 * input, by reason, and dropped.
 *
 * Streams are framed by the HEP3 total length. Bytes that are not a HEP3
 * header where one must start close the connection: HEP has no marker a
 * receiver could find again reliably ("HEP3" may occur inside a payload),
 * so resynchronising would risk relaying a payload's tail as a packet.
 * A packet that is framed right but fails a check is dropped alone and the
 * connection goes on. Each connection holds at most one packet (64 KiB);
 * a packet begun must be complete within frame_timeout_ms and a connection
 * silent for idle_timeout_ms is closed, so a slow sender holds one buffer
 * and one descriptor, never the loop. */
#ifndef HEPAGENT_INPUT_H
#define HEPAGENT_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "hepagent/hepin.h"
#include "hepagent/rules.h"
#include "hepagent/stats.h"

typedef enum { INPUT_UDP = 0, INPUT_TCP, INPUT_TLS } input_transport_t;

typedef struct input_config {
    char *url;     /* udp://HOST:PORT, tcp://[::]:PORT, tls://HOST:PORT */
    char *name;    /* label in counters and rules[].inputs; NULL: the url */
    int transport; /* input_transport_t */
    char *host;    /* numeric address to bind, brackets removed */
    uint16_t port;
    rule_cidr_t *allow; /* sources let in; NULL: all */
    size_t allow_count;
    char *auth_key;             /* required value of chunk 0x000e; NULL: none */
    uint32_t max_connections;   /* TCP, TLS */
    uint32_t idle_timeout_ms;   /* a connection silent this long is closed */
    uint32_t frame_timeout_ms;  /* a packet (or TLS handshake) begun must end within */
    uint32_t recv_buffer_kb;    /* socket receive buffer (UDP) */
    char *cert_file, *key_file; /* TLS: our certificate */
    char *ca_file;              /* TLS: when set, clients must show a certificate from it */
} input_config_t;

enum {
    INPUT_DEFAULT_MAX_CONNECTIONS = 256,
    INPUT_DEFAULT_IDLE_TIMEOUT_MS = 300000,
    INPUT_DEFAULT_FRAME_TIMEOUT_MS = 10000,
    INPUT_DEFAULT_RECV_BUFFER_KB = 4096,
    INPUT_UDP_BATCH = 64, /* datagrams per recvmmsg */
};

#define INPUT_COUNTERS(X)                                                                          \
    X(packets, "HEP packets that passed every check and were handed on")                           \
    X(bytes, "bytes received (datagrams, stream bytes)")                                           \
    X(converted_v2, "HEPv1/v2 packets converted to HEPv3")                                         \
    X(malformed, "packets refused by a check (input.malformed.REASON says which)")                 \
    X(refused_address, "datagrams or connections from a source outside the allow-list")            \
    X(bad_auth, "packets without the required auth key")                                           \
    X(connections, "connections accepted (TCP, TLS)")                                              \
    X(refused_connections, "connections closed at once: max_connections reached")                  \
    X(closed_idle, "connections closed after idle_timeout_ms without data")                        \
    X(closed_slow, "connections closed: a packet or handshake not complete in frame_timeout_ms")   \
    X(closed_garbage, "connections closed: bytes that are not a HEP3 header")                      \
    X(closed_by_peer, "connections the sender closed or reset")                                    \
    X(tls_failures, "TLS handshakes that failed")                                                  \
    X(kernel_dropped, "datagrams the kernel dropped for a full receive buffer (UDP)")

typedef struct input_stats {
#define INPUT_FIELD(name, help) uint64_t name;
    INPUT_COUNTERS(INPUT_FIELD)
#undef INPUT_FIELD
    uint64_t malformed_by[HEPIN_RESULT_COUNT];
} input_stats_t;

typedef struct input input_t;

/* A checked packet from input `in`; p's bytes live until the callback returns. */
typedef void (*input_packet_cb)(void *ctx, const input_t *in, const hepin_packet_t *p);

typedef struct input_set input_set_t;

/* Fills transport, host and port from cfg->url. */
int input_config_url(input_config_t *cfg, char *why, size_t whylen);
/* Parses an input URL into cfg (url copied, limits at their defaults). */
int input_parse_url(const char *url, input_config_t *cfg, char *why, size_t whylen);
void input_config_free(input_config_t *cfg);
int input_copy_config(input_config_t *dst, const input_config_t *src);

/* Binds every input; on failure nothing stays open and err names the input. */
int input_set_start(uv_loop_t *loop, const input_config_t *cfgs, size_t count, input_packet_cb cb,
                    void *ctx, input_set_t **out, char *err, size_t errlen);
/* Checks what an input needs from files (TLS certificate, key, CA). */
int input_check(const input_config_t *cfg, char *err, size_t errlen);
/* Closes every socket; the counters stay readable until input_set_free. */
void input_set_stop(input_set_t *set);
/* Stops if needed, and frees the set once the loop has released its
 * handles (the loop must run once more). */
void input_set_free(input_set_t *set);
void input_set_visit_stats(const input_set_t *set, const stats_visitor_t *v);

const char *input_name(const input_t *in);
const char *input_url(const input_t *in);
/* The bound port (for tests binding port 0). */
uint16_t input_port(const input_t *in);
const input_t *input_set_get(const input_set_t *set, size_t i);
const input_stats_t *input_stats(const input_t *in);
size_t input_connections(const input_t *in);

#endif

/* TCP stream reassembly, per direction: segments are put in sequence order
 * (out-of-order ones wait, retransmissions and overlaps are trimmed, the
 * bytes that arrived first are kept with their capture time, whether they
 * came in order or waited out of order), then the in-order bytes go to the
 * direction's framer (tcpframe.h: SIP by Content-Length, WebSocket), or,
 * for TLS with tls_decrypt on, through the TLS layer (tlsdecrypt.h) to a
 * framer of the plaintext. A hole that the receiver's ACKs cover (bytes
 * the capture lost) is given up at once. Every table and buffer is
 * bounded; what a bound refuses is counted. */
#ifndef HEPAGENT_TCPSTREAM_H
#define HEPAGENT_TCPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/packet.h"
#include "hepagent/sip.h"
#include "hepagent/tcpframe.h"

#define TCPSTREAM_COUNTERS(X)                                                                      \
    X(segments, "TCP segments with payload or SYN/FIN/RST")                                        \
    X(streams, "stream directions tracked")                                                        \
    X(streams_evicted, "streams evicted because the table or memory was full")                     \
    X(streams_expired, "streams idle past the timeout")                                            \
    X(retransmissions, "segments whose data was already seen")                                     \
    X(overlaps, "segments partly overlapping seen data (first data kept)")                         \
    X(out_of_order, "segments held until the data before them arrived")                            \
    X(gaps, "holes in a stream given up on (data missing from the capture)")

typedef struct tcpstream_stats {
#define TCPSTREAM_FIELD(name, help) uint64_t name;
    TCPSTREAM_COUNTERS(TCPSTREAM_FIELD)
#undef TCPSTREAM_FIELD
} tcpstream_stats_t;

typedef struct tcpstream_options {
    uint32_t max_streams;      /* stream directions tracked at once */
    uint32_t max_stream_bytes; /* bytes held per direction: the largest message */
    size_t memcap;             /* bytes held by all streams */
    uint32_t timeout_ms;       /* idle timeout on the capture clock */
} tcpstream_options_t;

enum {
    TCPSTREAM_DEFAULT_STREAMS = 32768,
    TCPSTREAM_DEFAULT_STREAM_KB = 256,
    TCPSTREAM_DEFAULT_MEMCAP_KB = 16384,
    TCPSTREAM_DEFAULT_TIMEOUT_MS = 120000,
};

/* A framed message: transport is RULE_TRANSPORT_TCP or RULE_TRANSPORT_WS. */
typedef tcpframe_emit_fn tcpstream_emit_fn;

typedef struct tcpstream tcpstream_t;
typedef struct tlsdec tlsdec_t;

tcpstream_t *tcpstream_new(const tcpstream_options_t *opts, tcpstream_emit_fn emit, void *ctx);
void tcpstream_free(tcpstream_t *t);

/* Hands TLS streams to d from now on (NULL: recognised and ignored). */
void tcpstream_set_tls(tcpstream_t *t, tlsdec_t *d);

/* One decoded TCP segment (pkt->l4_proto == TCP). */
void tcpstream_segment(tcpstream_t *t, const packet_t *pkt);

const tcpstream_stats_t *tcpstream_stats(const tcpstream_t *t);
/* The framing counters of plain TCP streams. */
const tcpframe_stats_t *tcpstream_frame_stats(const tcpstream_t *t);
size_t tcpstream_memory(const tcpstream_t *t);
size_t tcpstream_count(const tcpstream_t *t);

#endif

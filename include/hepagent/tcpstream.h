/* TCP stream reassembly and SIP framing, per direction: segments are put in
 * sequence order (out-of-order ones wait, retransmissions and overlaps are
 * trimmed, the bytes that arrived first are kept with their capture time,
 * whether they came in order or waited out of order), then the in-order bytes are
 * framed into SIP messages by Content-Length, or into WebSocket frames after
 * an HTTP upgrade (RFC 7118), each message emitted once, whole, stamped with
 * the capture time of its first byte. A stream seen from the middle, or
 * after a hole, is resynchronised at the next SIP start line, or at the next
 * segment starting a WebSocket frame that carries SIP. A hole that the
 * receiver's ACKs cover (bytes the capture lost) is given up at once. TLS
 * streams are recognised and ignored. Every table and buffer is bounded; what a bound refuses is
 * counted. */
#ifndef HEPAGENT_TCPSTREAM_H
#define HEPAGENT_TCPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/packet.h"
#include "hepagent/sip.h"

#define TCPSTREAM_COUNTERS(X)                                                                      \
    X(segments, "TCP segments with payload or SYN/FIN/RST")                                        \
    X(streams, "stream directions tracked")                                                        \
    X(streams_evicted, "streams evicted because the table or memory was full")                     \
    X(streams_expired, "streams idle past the timeout")                                            \
    X(retransmissions, "segments whose data was already seen")                                     \
    X(overlaps, "segments partly overlapping seen data (first data kept)")                         \
    X(out_of_order, "segments held until the data before them arrived")                            \
    X(gaps, "holes in a stream given up on (data missing from the capture)")                       \
    X(resyncs, "times a stream was searched for the next SIP start line")                          \
    X(skipped_bytes, "bytes skipped while resynchronising")                                        \
    X(messages, "SIP messages framed over TCP")                                                    \
    X(keepalives, "CRLF keep-alives skipped")                                                      \
    X(message_too_big, "messages larger than the per-stream limit (skipped)")                      \
    X(bad_content_length, "messages with an unusable Content-Length (stream resynchronised)")      \
    X(incomplete_at_close, "streams closed or expired in the middle of a message")                 \
    X(not_sip_streams, "streams whose data is neither SIP, WebSocket nor TLS")                     \
    X(tls_streams, "TLS streams recognised (encrypted: not sent)")                                 \
    X(ws_streams, "WebSocket upgrades seen")                                                       \
    X(ws_messages, "SIP messages framed over WebSocket")                                           \
    X(ws_resyncs, "WebSocket framing found without the upgrade (mid-stream, after a hole)")        \
    X(ws_not_sip, "WebSocket messages that are not SIP")                                           \
    X(ws_errors, "WebSocket protocol errors (stream ignored)")

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
typedef void (*tcpstream_emit_fn)(void *ctx, const packet_t *pkt, unsigned transport,
                                  const uint8_t *data, size_t len, const sip_msg_t *sip,
                                  uint64_t ts_sec, uint32_t ts_usec);

typedef struct tcpstream tcpstream_t;

tcpstream_t *tcpstream_new(const tcpstream_options_t *opts, tcpstream_emit_fn emit, void *ctx);
void tcpstream_free(tcpstream_t *t);

/* One decoded TCP segment (pkt->l4_proto == TCP). */
void tcpstream_segment(tcpstream_t *t, const packet_t *pkt);

const tcpstream_stats_t *tcpstream_stats(const tcpstream_t *t);
size_t tcpstream_memory(const tcpstream_t *t);
size_t tcpstream_count(const tcpstream_t *t);

#endif

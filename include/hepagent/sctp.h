/* SIP over SCTP (RFC 4168): DATA chunks are walked, retransmitted TSNs
 * recognised, fragmented user messages joined in TSN order (a fragment that
 * comes before its turn waits for a retransmission to fill the gap), and each
 * whole user message handed on. State per association direction is bounded in
 * count, bytes and idle time. */
#ifndef HEPAGENT_SCTP_H
#define HEPAGENT_SCTP_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/packet.h"

#define SCTP_COUNTERS(X)                                                                           \
    X(packets, "SCTP packets")                                                                     \
    X(data_chunks, "DATA chunks")                                                                  \
    X(messages, "user messages handed on")                                                         \
    X(duplicates, "DATA chunks with a TSN already seen (retransmissions)")                         \
    X(reassembled, "user messages joined from fragments")                                          \
    X(fragments_lost, "fragments whose message could not be completed (dropped)")                  \
    X(bad_chunks, "chunks with an impossible length")                                              \
    X(unsupported_chunks, "I-DATA chunks (RFC 8260), not decoded")                                 \
    X(too_big, "user messages over the size limit")                                                \
    X(evicted, "associations evicted to make room")                                                \
    X(expired, "associations idle past the timeout")

typedef struct sctp_stats {
#define SCTP_FIELD(name, help) uint64_t name;
    SCTP_COUNTERS(SCTP_FIELD)
#undef SCTP_FIELD
} sctp_stats_t;

typedef struct sctp_options {
    uint32_t max_associations; /* association directions tracked */
    uint32_t max_message_bytes;
    size_t memcap;
    uint32_t timeout_ms;
} sctp_options_t;

enum {
    SCTP_DEFAULT_ASSOCIATIONS = 4096,
    SCTP_DEFAULT_MESSAGE_KB = 256,
    SCTP_DEFAULT_MEMCAP_KB = 4096,
    SCTP_DEFAULT_TIMEOUT_MS = 120000,
};

typedef void (*sctp_emit_fn)(void *ctx, const packet_t *pkt, const uint8_t *data, size_t len,
                             uint64_t ts_sec, uint32_t ts_usec);

typedef struct sctp sctp_t;

sctp_t *sctp_new(const sctp_options_t *opts, sctp_emit_fn emit, void *ctx);
void sctp_free(sctp_t *s);
/* One decoded SCTP packet: pkt->payload holds its chunks. */
void sctp_packet(sctp_t *s, const packet_t *pkt);
const sctp_stats_t *sctp_stats(const sctp_t *s);
size_t sctp_memory(const sctp_t *s);

#endif

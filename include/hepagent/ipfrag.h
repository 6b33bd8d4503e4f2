/* IPv4 and IPv6 fragment reassembly with bounded state: a table of datagrams
 * in reassembly (count and bytes limited, idle timeout on the capture clock).
 * Exact copies of a held fragment are ignored. Overlaps: IPv4 keeps the bytes
 * that arrived first; IPv6 drops the datagram (RFC 5722). Everything refused
 * or expired is counted. */
#ifndef HEPAGENT_IPFRAG_H
#define HEPAGENT_IPFRAG_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/common.h"
#include "hepagent/packet.h"

#define IPFRAG_COUNTERS(X)                                                                         \
    X(fragments, "fragments received")                                                             \
    X(reassembled, "datagrams reassembled")                                                        \
    X(duplicates, "exact copies of a fragment already held (ignored)")                             \
    X(overlaps, "IPv4 fragments overlapping earlier data (first data kept)")                       \
    X(overlap_dropped, "IPv6 datagrams dropped for overlapping fragments (RFC 5722)")              \
    X(timeouts, "datagrams expired incomplete")                                                    \
    X(evicted, "datagrams evicted to make room (table or memory limit)")                           \
    X(too_big, "fragments beyond 65535 bytes or too many fragments")                               \
    X(inconsistent, "datagrams dropped for conflicting last fragments")

typedef struct ipfrag_stats {
#define IPFRAG_FIELD(name, help) uint64_t name;
    IPFRAG_COUNTERS(IPFRAG_FIELD)
#undef IPFRAG_FIELD
} ipfrag_stats_t;

typedef struct ipfrag_options {
    uint32_t max_datagrams; /* datagrams in reassembly at once */
    size_t memcap;          /* bytes of fragment data held at once */
    uint32_t timeout_ms;    /* on the capture clock */
} ipfrag_options_t;

enum {
    IPFRAG_DEFAULT_DATAGRAMS = 4096,
    IPFRAG_DEFAULT_MEMCAP_KB = 8192,
    IPFRAG_DEFAULT_TIMEOUT_MS = 30000,
    IPFRAG_MAX_FRAGMENTS = 128, /* per datagram */
};

typedef struct ipfrag ipfrag_t;

ipfrag_t *ipfrag_new(const ipfrag_options_t *opts);
void ipfrag_free(ipfrag_t *f);

/* Adds the fragment described by pkt (decode returned DECODE_FRAGMENT).
 * Returns 1 when it completed a datagram: *out is the reassembled upper-layer
 * data (valid until the next call), *first_pkt_ts the capture time of the
 * fragment at offset 0. Returns 0 while incomplete. */
int ipfrag_add(ipfrag_t *f, const packet_t *pkt, ha_bytes_t *out, uint64_t *ts_sec,
               uint32_t *ts_usec);

const ipfrag_stats_t *ipfrag_stats(const ipfrag_t *f);
size_t ipfrag_memory(const ipfrag_t *f);
size_t ipfrag_count(const ipfrag_t *f);

#endif

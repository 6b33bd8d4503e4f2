/* Received HEP: every packet is checked as ../shared/docs/hep3.md §4 and §7
 * ask, HEPv1/v2 datagrams are converted to HEPv3, and a relayed packet is
 * written out again with its chunks in their order, unknown and vendor
 * chunks byte for byte, and only the rule's rewrites applied.
 *
 * Decisions on what the spec leaves open:
 * - A generic chunk (vendor 0, type below 64) that appears twice is
 *   rejected: receivers disagree on which one counts (heplify-server and
 *   Kamailio take the last, sngrep reads by position), so a rule or a
 *   rewrite could act on another value than the collector reads. Vendor
 *   chunks and generic types from 64 up may repeat.
 * - Every generic chunk of a fixed type must have exactly its size, also
 *   those hepagent does not read (MAC 8, MOS 2, jitter 4, ...).
 * - Required: IP family, IP protocol, both addresses of that family (and
 *   none of the other), both ports, seconds, protocol type (not 0) and one
 *   non-empty payload (0x000f or 0x0010, not both). Microseconds, when
 *   present, are at most 999999.
 * - "EEP3", the magic of old texts, is read as "HEP3"; what is sent again
 *   always starts with "HEP3". */
#ifndef HEPAGENT_HEPIN_H
#define HEPAGENT_HEPIN_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/common.h"
#include "hepagent/hep.h"

/* Why a received packet was refused: one counter each. */
#define HEPIN_REASONS(X)                                                                           \
    X(bad_magic, "neither HEP3 nor a HEPv1/v2 header")                                             \
    X(too_short, "fewer bytes than the smallest header")                                           \
    X(length_mismatch, "HEP3 total length differs from the bytes received")                        \
    X(chunk_too_short, "chunk length below 6")                                                     \
    X(chunk_overrun, "chunk runs past the end of the packet")                                      \
    X(chunk_bad_size, "fixed-size chunk of the wrong size")                                        \
    X(chunk_duplicate, "generic chunk present twice")                                              \
    X(missing_chunk, "required chunk absent")                                                      \
    X(bad_family, "IP family neither 2 nor 10")                                                    \
    X(bad_addresses, "addresses of the other IP family")                                           \
    X(proto_type_zero, "protocol type 0, reserved")                                                \
    X(bad_usec, "microseconds above 999999")                                                       \
    X(empty_payload, "payload chunk without bytes")                                                \
    X(two_payloads, "both a plain and a compressed payload")                                       \
    X(v2_truncated, "HEPv1/v2 datagram without payload after its headers")                         \
    X(v2_not_sip, "HEPv1/v2 datagram whose payload does not start with a SIP line")                \
    X(v2_too_big, "HEPv1/v2 datagram too big for HEPv3 once converted")

typedef enum {
    HEPIN_OK = 0,
#define HEPIN_ENUM(name, help) HEPIN_##name,
    HEPIN_REASONS(HEPIN_ENUM)
#undef HEPIN_ENUM
        HEPIN_RESULT_COUNT
} hepin_result_t;

const char *hepin_result_name(hepin_result_t r);
const char *hepin_result_help(hepin_result_t r);

enum {
    /* hepagent's own vendor chunk: the relays a packet went through, one u32
     * relay id each, oldest first. The vendor id spells "HA"; the type is
     * far from every generic type because heplify-server ignores vendor ids
     * and would read a vendor chunk of type 1..0x29 as the generic one. */
    HEPIN_VENDOR_HEPAGENT = 0x4841,
    HEPIN_CHUNK_RELAY_PATH = 0x5250,
    HEPIN_MAX_HOPS = 16, /* longer paths are treated as a loop */
    HEPIN_V2_HEADER = 8, /* version, length, family, protocol, ports */
    HEPIN_V2_TIME = 12,  /* u32 seconds, u32 microseconds, u16 capture id, padding */
};

/* A checked packet. Byte views point into raw (the received bytes, or the
 * HEPv3 conversion of a v1/v2 datagram). */
typedef struct hepin_packet {
    hep_msg_t msg;      /* the generic fields as read; absent ones 0 */
    uint8_t version;    /* 1, 2 or 3, as received */
    uint64_t seen;      /* generic chunks present: bit n for type n < 64 */
    const uint8_t *raw; /* HEPv3 bytes */
    size_t raw_len;
    size_t payload_off;     /* offset of the payload chunk in raw */
    ha_bytes_t relay_path;  /* data of hepagent's relay path chunk, if any */
    unsigned vendor_chunks; /* chunks of other vendors, or generic types not read */
} hepin_packet_t;

static inline int hepin_has(const hepin_packet_t *p, unsigned type)
{
    return type < 64 && (p->seen >> type) & 1;
}

/* Checks one datagram or TCP frame of exactly len bytes. A HEPv1/v2
 * datagram is converted to HEPv3 in conv (HEP_MAX_PACKET bytes): v1 has no
 * time, so recv_sec/recv_usec (the receive time) stand in; the correlation
 * id is the SIP Call-ID when the payload has one. */
hepin_result_t hepin_decode(const uint8_t *buf, size_t len, uint64_t recv_sec, uint32_t recv_usec,
                            uint8_t *conv, hepin_packet_t *out);

/* Relay ids in a relay path chunk, and whether id is among them. */
size_t hepin_path_hops(const hepin_packet_t *p);
int hepin_path_contains(const hepin_packet_t *p, uint32_t id);

typedef enum { HEPIN_AUTH_KEEP = 0, HEPIN_AUTH_REPLACE, HEPIN_AUTH_STRIP } hepin_auth_t;

/* What the writer changes; zero-initialised changes nothing. */
typedef struct hepin_rewrite {
    int set_capture_id;
    uint32_t capture_id;
    ha_bytes_t node_name; /* len > 0: replaces or adds the node name */
    hepin_auth_t auth;
    ha_bytes_t auth_key;        /* for HEPIN_AUTH_REPLACE */
    ha_bytes_t correlation_id;  /* len > 0: added when the packet has none */
    ha_bytes_t correlation_new; /* len > 0: replaces the correlation id (redacted Call-ID) */
    const ha_bytes_t *payload;  /* non-NULL: replaces the payload (sent as 0x000f) */
    uint32_t relay_id;          /* non-zero: appended to the relay path chunk */
} hepin_rewrite_t;

/* Writes p with rw applied into out (cap bytes): chunks in their order, the
 * ones added go just before the payload. Returns the length and the payload
 * chunk's offset in out, or HA_ETOOBIG when it exceeds cap or 65535. */
int hepin_rewrite(const hepin_packet_t *p, const hepin_rewrite_t *rw, uint8_t *out, size_t cap,
                  size_t *payload_off);

#endif

/* RTP fixed header (RFC 3550 §5.1), read with every length checked against
 * the captured bytes; rtcp-mux demultiplexing (RFC 5761 §4); the static
 * payload types of RFC 3551 §6 with their codec names and clock rates. */
#ifndef HEPAGENT_RTP_H
#define HEPAGENT_RTP_H

#include <stddef.h>
#include <stdint.h>

enum {
    RTP_VERSION = 2,
    RTP_FIXED_HEADER_LEN = 12,
    RTP_PT_DYNAMIC_FIRST = 96, /* RFC 3551 §3: 96..127 are bound by signalling */
};

/* Why bytes are not an RTP packet; RTP_OK when they are. X-macro so the
 * counters of whoever counts them keep the same names and help. */
#define RTP_RESULTS(X)                                                                             \
    X(ok, "RTP packets")                                                                           \
    X(too_short, "UDP payloads shorter than the 12-byte RTP header")                               \
    X(bad_version, "UDP payloads whose version bits are not 2")                                    \
    X(csrc_truncated, "RTP packets whose CSRC list runs past the captured bytes")                  \
    X(extension_truncated, "RTP packets whose header extension runs past the captured bytes")      \
    X(bad_padding, "RTP packets whose padding count is zero or runs into the header")              \
    X(is_rtcp, "RTCP packets multiplexed on an RTP port (RFC 5761)")

typedef enum {
#define RTP_RESULT_ENUM(name, help) RTP_##name,
    RTP_RESULTS(RTP_RESULT_ENUM)
#undef RTP_RESULT_ENUM
        RTP_RESULT_COUNT
} rtp_result_t;

typedef struct rtp_header {
    uint8_t version;
    uint8_t padding;   /* P bit */
    uint8_t extension; /* X bit */
    uint8_t csrc_count;
    uint8_t marker;
    uint8_t payload_type;
    uint16_t seq;
    uint32_t timestamp;
    uint32_t ssrc;
    uint16_t extension_profile; /* valid when extension */
    uint16_t extension_words;   /* 32-bit words after the extension header */
    uint32_t header_len;        /* fixed header + CSRCs + extension */
    uint8_t padding_len;        /* 0 when P is clear or the packet was truncated */
    const uint8_t *payload;     /* after the header, padding removed */
    uint32_t payload_len;       /* bytes of it captured */
} rtp_header_t;

/* Parses the RTP header at data (len captured bytes). truncated: the capture
 * cut the datagram (snaplen), so the padding count, which sits in the last
 * byte on the wire, cannot be read and is not checked. A packet multiplexed
 * with RTCP (rtp_is_rtcp) is reported as RTP_is_rtcp. */
rtp_result_t rtp_parse(const uint8_t *data, size_t len, int truncated, rtp_header_t *h);

/* RFC 5761 §4: on a port shared by RTP and RTCP, the second byte of an RTCP
 * packet is its packet type, 200..204 (SR, RR, SDES, BYE, APP), which as RTP
 * would be the marker bit set with payload type 72..76. Also true for the
 * RTCP types RFC 5761 tells implementations to expect on the port
 * (192..223 are reserved for that). Needs 2 bytes with version 2. */
int rtp_is_rtcp(const uint8_t *data, size_t len);

typedef struct rtp_payload_type {
    const char *codec;   /* encoding name as RFC 3551 and SDP write it */
    uint32_t clock_rate; /* Hz */
    uint8_t channels;
    uint8_t video;
} rtp_payload_type_t;

/* The RFC 3551 static payload type pt (0..95), or NULL when none is
 * assigned (dynamic, reserved or unassigned). */
const rtp_payload_type_t *rtp_static_payload_type(uint8_t pt);

/* The name of a result, as a counter suffix. */
const char *rtp_result_name(rtp_result_t r);

#endif

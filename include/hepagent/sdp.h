/* SDP (RFC 4566) as far as media tracking needs it: where each stream of a
 * SIP body will be received (c= at session or media level, IPv4 or IPv6,
 * m= port), its RTCP port (a=rtcp, port + 1, a=rtcp-mux), the codecs
 * (a=rtpmap) and the direction. Read from untrusted bytes with every index
 * checked; the body is found by Content-Type, also inside multipart bodies.
 * The result owns no bytes except the few small strings it copies. */
#ifndef HEPAGENT_SDP_H
#define HEPAGENT_SDP_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/common.h"
#include "hepagent/sip.h"

enum {
    SDP_MAX_MEDIA = 8,     /* m= lines kept; more are counted in media_dropped */
    SDP_MAX_RTPMAP = 16,   /* a=rtpmap lines kept per m= line */
    SDP_MAX_CODEC_LEN = 23 /* encoding names are short: PCMU, opus, telephone-event */
};

typedef enum {
    SDP_SENDRECV = 0,
    SDP_SENDONLY,
    SDP_RECVONLY,
    SDP_INACTIVE,
} sdp_direction_t;

typedef enum {
    SDP_MEDIA_OTHER = 0,
    SDP_MEDIA_AUDIO,
    SDP_MEDIA_VIDEO,
    SDP_MEDIA_TEXT,
    SDP_MEDIA_APPLICATION,
    SDP_MEDIA_IMAGE,
    SDP_MEDIA_MESSAGE,
} sdp_media_type_t;

/* An address from c= or a=rtcp; version 0 when absent or not an IP literal
 * (a host name cannot be tracked without resolving it). */
typedef struct sdp_addr {
    uint8_t version; /* 0, 4 or 6 */
    uint8_t addr[16];
} sdp_addr_t;

typedef struct sdp_rtpmap {
    uint8_t payload_type;
    uint32_t clock_rate;
    char codec[SDP_MAX_CODEC_LEN + 1];
} sdp_rtpmap_t;

typedef struct sdp_media {
    sdp_media_type_t type;
    uint16_t port;      /* 0: the stream is disabled or ended */
    uint8_t rtp;        /* the transport is RTP (RTP/AVP, RTP/SAVPF, UDP/TLS/RTP/SAVP...) */
    uint8_t srtp;       /* secure profile: RTCP is SRTCP, its reports are encrypted */
    uint8_t rtcp_mux;   /* a=rtcp-mux: RTCP shares the RTP port */
    uint8_t hold;       /* connection address 0.0.0.0 or :: (RFC 2543 hold) */
    sdp_addr_t addr;    /* media-level c=, else session-level */
    uint16_t rtcp_port; /* a=rtcp, else port + 1 (port with rtcp-mux) */
    sdp_addr_t rtcp_addr;
    sdp_direction_t direction; /* media-level, else session-level, else sendrecv */
    sdp_rtpmap_t rtpmap[SDP_MAX_RTPMAP];
    uint8_t rtpmap_count;
} sdp_media_t;

typedef struct sdp {
    sdp_media_t media[SDP_MAX_MEDIA];
    uint8_t media_count;
    uint8_t media_dropped; /* m= lines beyond SDP_MAX_MEDIA */
    uint8_t rtpmap_dropped;
} sdp_t;

typedef enum {
    SDP_OK = 0,
    SDP_NO_BODY,     /* the message carries no SDP */
    SDP_BAD_VERSION, /* the body does not start with v=0 */
    SDP_BAD_LINE,    /* a line that is not <letter>=<value> */
    SDP_BAD_MEDIA,   /* an m= line that cannot be read */
    SDP_BAD_ADDRESS, /* a c= line that cannot be read */
    SDP_RESULT_COUNT
} sdp_result_t;

/* Short names of the results, for counters ("bad_line"). */
const char *sdp_result_name(sdp_result_t r);

/* Parses an SDP body. On SDP_OK every m= line is in out (the first
 * SDP_MAX_MEDIA of them). */
sdp_result_t sdp_parse(const uint8_t *data, size_t len, sdp_t *out);

/* Finds the SDP body of a SIP message (data, len, already parsed into sip):
 * Content-Type application/sdp, or the first application/sdp part of a
 * multipart body (nested up to two levels). The body ends at
 * Content-Length when it is given and fits, else at the end of the bytes.
 * Returns SDP_OK with *body set, or SDP_NO_BODY. */
sdp_result_t sdp_find_body(const uint8_t *data, size_t len, const sip_msg_t *sip, ha_bytes_t *body);

/* The rtpmap entry for a payload type, or NULL. */
const sdp_rtpmap_t *sdp_media_rtpmap(const sdp_media_t *m, uint8_t payload_type);

#endif

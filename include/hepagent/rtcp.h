/* RTCP compound packets (RFC 3550 §6, RFC 3611 XR) decoded into the JSON
 * Homer's receivers read from HEP protocol type 5 (../shared/docs/hep3.md
 * §5; heplify's field names). The whole compound is checked before a byte
 * of JSON is written: a malformed packet yields its reason, never half a
 * report. */
#ifndef HEPAGENT_RTCP_H
#define HEPAGENT_RTCP_H

#include <stddef.h>
#include <stdint.h>

/* RTCP packet types (RFC 3550, RFC 4585, RFC 3611) */
enum {
    RTCP_SR = 200,
    RTCP_RR = 201,
    RTCP_SDES = 202,
    RTCP_BYE = 203,
    RTCP_APP = 204,
    RTCP_RTPFB = 205,
    RTCP_PSFB = 206,
    RTCP_XR = 207,
    RTCP_XR_VOIP_METRICS = 7, /* XR block type, RFC 3611 §4.7 */
    RTCP_JSON_MAX = 16384,    /* room for the JSON of a full-MTU compound */
};

/* Why a packet was not sent: each is a counter "rtcp.<name>". */
#define RTCP_RESULTS(X)                                                                            \
    X(ok, "RTCP compound packets decoded and sent")                                                \
    X(no_report, "RTCP compound packets without SR, RR or XR VoIP metrics, not sent")              \
    X(too_short, "RTCP packets shorter than their fixed part, not sent")                           \
    X(bad_version, "RTCP packets with a version other than 2, not sent")                           \
    X(bad_type, "RTCP compound packets holding a packet type outside 192-223, not sent")           \
    X(bad_length, "RTCP packets whose length runs past the datagram or leaves bytes over")         \
    X(bad_padding, "RTCP packets with padding that is not last or does not fit, not sent")         \
    X(bad_report_count, "RTCP SR/RR/BYE with more report blocks or sources than fit, not sent")    \
    X(bad_sdes, "RTCP SDES chunks or items running past their packet, not sent")                   \
    X(bad_xr, "RTCP XR blocks running past their packet or of a wrong size, not sent")             \
    X(too_big, "RTCP compound packets whose JSON would exceed the buffer, not sent")               \
    X(truncated, "RTCP packets cut by the capture's snaplen, not sent")

typedef enum {
#define RTCP_RESULT_ENUM(name, help) RTCP_RESULT_##name,
    RTCP_RESULTS(RTCP_RESULT_ENUM)
#undef RTCP_RESULT_ENUM
        RTCP_RESULT_COUNT
} rtcp_result_t;

const char *rtcp_result_name(rtcp_result_t r);
const char *rtcp_result_help(rtcp_result_t r);

/* The few values of a decoded compound the console trace shows. */
typedef struct rtcp_info {
    uint8_t type;  /* 200 SR, 201 RR, 207 XR: the first report in the compound */
    uint32_t ssrc; /* its sender */
    uint8_t has_sender;
    uint32_t sender_packets, sender_octets;
    uint32_t report_blocks;
    /* the first report block, when there is one */
    uint32_t source_ssrc;
    uint8_t fraction_lost;
    int32_t packets_lost;
    uint32_t jitter; /* RTP timestamp units */
    uint8_t has_voip;
    uint8_t mos_lq, mos_cq; /* tenths, 127 = unavailable */
} rtcp_info_t;

/* Checks the whole compound packet, then writes its JSON (not NUL-
 * terminated) into out. Returns RTCP_RESULT_ok with *out_len and info set,
 * or the reason nothing was written. */
rtcp_result_t rtcp_to_json(const uint8_t *data, size_t len, char *out, size_t cap, size_t *out_len,
                           rtcp_info_t *info);

#endif

/* Media next to the signalling: the calls and endpoints the SDP of the sent
 * SIP announced, and what happens to a UDP packet that one of them sends or
 * receives. An endpoint (address:port for RTP or RTCP) belongs to one m=
 * line of one party (From/To tag) of one call (Call-ID); a packet belongs to
 * the call whose SDP named its destination, else its source, so media from
 * a NATed side still matches by the side the SDP names. RTCP is decoded
 * (rtcp.c) and handed out as JSON; RTP goes to the QoS table (qos.c), whose
 * reports are handed out too. Calls end with BYE + grace, CANCEL, a final
 * error to the INVITE, or when idle; the table is bounded. Times are the
 * capture clock. The per-packet lookup is a hash of the address and port
 * and allocates nothing. */
#ifndef HEPAGENT_MEDIA_H
#define HEPAGENT_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/common.h"
#include "hepagent/packet.h"
#include "hepagent/qos.h"
#include "hepagent/rtcp.h"
#include "hepagent/sdp.h"
#include "hepagent/sip.h"
#include "hepagent/stats.h"

/* The "media" section of the configuration. */
typedef struct media_options {
    int rtcp;                   /* send each RTCP packet of a tracked call as HEP type 5 */
    int qos;                    /* measure each RTP stream, send its reports as HEP 0x22 */
    uint32_t qos_interval_s;    /* interim QoS reports every N s (0: final reports only) */
    uint32_t max_streams;       /* announced streams (m= line of one party) tracked at once */
    uint32_t stream_timeout_ms; /* a call without SIP or media this long ends; idle RTP
                                   streams end after it too */
    uint32_t grace_ms;          /* media after BYE, CANCEL or a final error still counts */
    uint32_t rtp_snap;          /* live capture: bytes of RTP payload the kernel copies (0: all) */
} media_options_t;

enum {
    MEDIA_DEFAULT_MAX_STREAMS = 32768,
    MEDIA_DEFAULT_STREAM_TIMEOUT_MS = 30000,
    MEDIA_DEFAULT_GRACE_MS = 5000,
    MEDIA_DEFAULT_RTP_SNAP = 64, /* RTPFILTER_KEEP: the RTP header, CSRCs, an extension */
    MEDIA_MAX_PARTIES = 4,       /* caller and up to three forked answers */
    MEDIA_CALL_ID_MAX = QOS_CALL_ID_MAX,
};

void media_options_default(media_options_t *o);

/* What media hands out. Pointers are valid during the call only. */
typedef struct media_sink {
    /* one RTCP compound of a tracked call, decoded: pkt is the RTCP packet */
    void (*rtcp)(void *ctx, const packet_t *pkt, ha_bytes_t call_id, uint32_t tag, const char *json,
                 size_t json_len, const rtcp_info_t *info);
    /* one QoS report (interim or final) */
    void (*qos)(void *ctx, const qos_report_t *r);
    void *ctx;
} media_sink_t;

#define MEDIA_COUNTERS(X)                                                                          \
    X(sdp_read, "SDP bodies read from sent INVITE/ACK/UPDATE/PRACK and their answers")             \
    X(calls, "calls whose SDP announced media")                                                    \
    X(calls_bye, "calls ended by BYE (after grace_ms)")                                            \
    X(calls_cancel, "calls ended by CANCEL (after grace_ms)")                                      \
    X(calls_rejected, "calls ended by a final error response to the INVITE (after grace_ms)")      \
    X(calls_expired, "calls without SIP or media for stream_timeout_ms")                           \
    X(streams, "streams announced (one m= line of one party)")                                     \
    X(streams_moved, "streams whose address or port a later SDP changed")                          \
    X(streams_ended, "streams a later SDP ended (port 0, hold with 0.0.0.0, m= line gone)")        \
    X(flows_ended, "RTP flows to a moved or ended stream, reported final grace_ms later")          \
    X(streams_refused, "streams not tracked because max_streams were")                             \
    X(streams_unaddressed, "m= lines without a usable address (host name, none), not tracked")     \
    X(endpoints_shared, "endpoints another call announced too (told apart by the other end)")      \
    X(parties_refused, "SDP of a fifth party (fork) of one call, not tracked")                     \
    X(offers_deferred, "re-offers (re-INVITE, UPDATE) of established calls held until accepted")   \
    X(offers_rejected, "re-offers a final error answered: the streams stay as they were")          \
    X(call_id_too_long, "calls whose Call-ID is longer than 256 bytes, not tracked")               \
    X(rtp_packets, "RTP packets of tracked calls")                                                 \
    X(rtcp_packets, "RTCP packets of tracked calls")                                               \
    X(rtcp_encrypted, "SRTCP packets of tracked calls (SAVP profiles), not decoded")               \
    X(not_rtp, "UDP packets to or from a tracked endpoint that are neither RTP nor RTCP")

typedef struct media_stats {
#define MEDIA_FIELD(name, help) uint64_t name;
    MEDIA_COUNTERS(MEDIA_FIELD)
#undef MEDIA_FIELD
    uint64_t sdp[SDP_RESULT_COUNT];   /* SDP bodies that could not be read, by reason */
    uint64_t rtcp[RTCP_RESULT_COUNT]; /* RTCP compounds by result */
} media_stats_t;

typedef struct media media_t;

/* NULL when out of memory. The QoS table exists only when o->qos. */
media_t *media_new(const media_options_t *o, const media_sink_t *sink);
void media_free(media_t *m);

/* A SIP message the rules sent (data/len, parsed into sip; pkt gives the
 * capture time when ts is 0): learns its SDP, ends calls. tag is opaque: the
 * call's RTCP and QoS reports carry the tag of its latest SIP message (the
 * pipeline: which rule sent it). */
void media_sip(media_t *m, const uint8_t *data, size_t len, const sip_msg_t *sip, uint64_t ts_sec,
               uint32_t ts_usec, uint32_t tag);

/* A UDP packet, before SIP parsing. Returns 1 when it was RTP or RTCP of a
 * tracked call (consumed), 0 to let it go on as a possible SIP message. */
int media_packet(media_t *m, const packet_t *pkt);

/* The capture clock moved (called by media_packet and media_sip too). */
void media_tick(media_t *m, uint64_t ts_sec, uint32_t ts_usec);

/* Agent stop or end of the capture: final QoS reports for every stream. */
void media_finish(media_t *m);

void media_visit_stats(const media_t *m, const stats_visitor_t *v);
const media_stats_t *media_get_stats(const media_t *m);
size_t media_memory(const media_t *m);
size_t media_calls(const media_t *m);
size_t media_streams(const media_t *m);

#endif

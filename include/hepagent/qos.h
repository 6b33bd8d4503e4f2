/* Passive RTP quality: a bounded table of RTP streams keyed by 5-tuple (with
 * VLAN) + SSRC, measured from capture timestamps the way Wireshark's RTP
 * stream analysis measures them (packets, lost, sequence errors, max delta,
 * RFC 3550 interarrival jitter), scored with a simplified ITU-T G.107
 * E-model, and reported as one JSON object per stream: interim every
 * interval_s, final when the stream ends (call end, port moved, idle
 * timeout, eviction, agent stop). Nothing is allocated per packet. */
#ifndef HEPAGENT_QOS_H
#define HEPAGENT_QOS_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/packet.h"
#include "hepagent/rtp.h"
#include "hepagent/stats.h"

#define QOS_COUNTERS(X)                                                                            \
    X(packets, "RTP packets measured")                                                             \
    X(streams, "RTP streams (5-tuple + SSRC) started")                                             \
    X(streams_ended, "streams ended by their call, a moved port or the agent stopping")            \
    X(streams_expired, "streams idle past media.stream_timeout_ms")                                \
    X(streams_evicted, "quiet streams ended early to make room for a new one (table full)")        \
    X(streams_refused, "packets of new streams refused because the table was full of live ones")   \
    X(reports, "QoS reports made (interim and final)")                                             \
    X(reports_final, "final QoS reports made")                                                     \
    X(call_id_too_long, "streams whose Call-ID was cut to QOS_CALL_ID_MAX bytes")                  \
    X(no_clock_rate, "streams whose payload type has no known clock rate (no jitter)")             \
    X(clock_went_back, "packets whose capture time was before the stream's last one")

typedef struct qos_stats {
#define QOS_FIELD(name, help) uint64_t name;
    QOS_COUNTERS(QOS_FIELD)
#undef QOS_FIELD
    uint64_t not_rtp[RTP_RESULT_COUNT]; /* by reason, counted by qos_not_rtp */
} qos_stats_t;

typedef struct qos_options {
    uint32_t max_streams;       /* media.max_streams */
    uint32_t stream_timeout_ms; /* media.stream_timeout_ms: idle time that ends a stream */
    uint32_t interval_s;        /* media.qos_interval_s: interim reports, 0 = final only */
    uint32_t delay_ms;          /* one-way delay the E-model assumes (not measurable passively) */
} qos_options_t;

enum {
    QOS_DEFAULT_MAX_STREAMS = 32768,
    QOS_DEFAULT_STREAM_TIMEOUT_MS = 30000,
    QOS_DEFAULT_INTERVAL_S = 0,
    QOS_DEFAULT_DELAY_MS = 0, /* only the jitter buffer's share is added, see README */
    QOS_CALL_ID_MAX = 256,    /* bytes of Call-ID kept per stream */
    QOS_CODEC_MAX = 32,       /* bytes of codec name kept per stream */
    QOS_JSON_MAX = 1024 + 2 * QOS_CALL_ID_MAX, /* largest report payload */
};

/* Fills o with the defaults above. */
void qos_options_default(qos_options_t *o);

/* Why a report was made. */
typedef enum {
    QOS_REASON_INTERVAL = 0, /* interim */
    QOS_REASON_CALL_END,     /* qos_end_call */
    QOS_REASON_FLOW_END,     /* qos_end_flow: the port moved or the stream was dropped */
    QOS_REASON_TIMEOUT,      /* idle past stream_timeout_ms */
    QOS_REASON_EVICTED,      /* the table was full */
    QOS_REASON_STOP,         /* qos_finish */
} qos_reason_t;

/* The measured numbers of one report (also inside the JSON). Times in ms. */
typedef struct qos_numbers {
    uint32_t ssrc;
    uint8_t payload_type;
    uint32_t clock_rate;       /* 0: unknown, no jitter */
    uint64_t packets;          /* received, duplicates included (as Wireshark counts) */
    int64_t expected;          /* last - first sequence number + 65536 per wrap + 1 (Wireshark) */
    int64_t lost;              /* expected - packets; negative with duplicates (Wireshark) */
    uint64_t rfc3550_expected; /* RFC 3550 A.1/A.3: from the highest valid number */
    int64_t rfc3550_lost;
    uint32_t restarts; /* sequence restarts A.1 resynchronised on */
    uint64_t duplicates;
    uint64_t out_of_order;
    uint64_t seq_errors; /* Wireshark's "sequence errors" */
    double loss_pct;     /* lost / expected, Wireshark's */
    double delta_max_ms;
    double jitter_mean_ms;
    double jitter_max_ms;
    double jitter_ms; /* the running RFC 3550 estimate at the last packet */
    double r_factor;
    double mos;
} qos_numbers_t;

typedef struct qos_report {
    /* the stream: source and destination of its RTP packets */
    uint8_t ip_version; /* 4 or 6 */
    uint8_t src_addr[16];
    uint8_t dst_addr[16];
    uint16_t src_port, dst_port;
    uint16_t vlan;
    const uint8_t *call_id; /* len 0: the stream belongs to no known call */
    size_t call_id_len;
    uint32_t tag; /* what qos_rtp was last given with the stream's packets */
    int final;
    qos_reason_t reason;
    uint64_t ts_sec; /* capture time the report was made at */
    uint32_t ts_usec;
    const char *json; /* one JSON object, not NUL-counted in json_len */
    size_t json_len;
    const char *codec;
    double mos;
    const qos_numbers_t *numbers;
} qos_report_t;

/* Called for every report; everything it points to is valid during the call
 * only. The callback must not call back into the table. */
typedef void (*qos_report_fn)(void *ctx, const qos_report_t *r);

typedef struct qos_table qos_table_t;

/* NULL when out of memory. o NULL: the defaults. */
qos_table_t *qos_new(const qos_options_t *o, qos_report_fn fn, void *ctx);
/* Frees without reporting (qos_finish first to report). */
void qos_free(qos_table_t *t);

/* One RTP packet of the flow pkt describes (addresses, ports, VLAN, capture
 * time), parsed into h by rtp_parse. call_id: the call the SDP tracking put
 * the flow in (NULL/0: none). clock_rate and codec come from a=rtpmap; 0 and
 * NULL take them from the RFC 3551 static table by payload type. A stream
 * whose Call-ID changes keeps the first. tag is opaque, handed back in the
 * stream's reports (the latest packet's). The capture clock also moves:
 * streams idle past the timeout end and interim reports fall due, as in
 * qos_tick. */
void qos_rtp(qos_table_t *t, const packet_t *pkt, const rtp_header_t *h, const uint8_t *call_id,
             size_t call_id_len, uint32_t clock_rate, const char *codec, uint32_t tag);

/* Counts a UDP payload the caller found not to be RTP (rtp_parse's result). */
void qos_not_rtp(qos_table_t *t, rtp_result_t why);

/* Final reports for every stream of the call, which then ends. */
void qos_end_call(qos_table_t *t, const uint8_t *call_id, size_t call_id_len, uint64_t ts_sec,
                  uint32_t ts_usec);

/* Final reports for every stream (any SSRC) sent from src to dst, e.g. when
 * a re-INVITE moved the port. version 4 or 6, addresses 16 bytes (IPv4 in
 * the first 4, as packet_t holds them). */
void qos_end_flow(qos_table_t *t, uint8_t version, const uint8_t *src_addr, uint16_t src_port,
                  const uint8_t *dst_addr, uint16_t dst_port, uint16_t vlan, uint64_t ts_sec,
                  uint32_t ts_usec);

/* The capture clock moved to ts: idle streams end, interim reports fall due. */
void qos_tick(qos_table_t *t, uint64_t ts_sec, uint32_t ts_usec);

/* Agent stop or end of the capture: final reports for all streams. */
void qos_finish(qos_table_t *t);

/* Counters ("qos.*", "qos.not_rtp_*") and gauges (streams now, memory). */
void qos_visit_stats(const qos_table_t *t, const stats_visitor_t *v);
const qos_stats_t *qos_get_stats(const qos_table_t *t);
size_t qos_memory(const qos_table_t *t);
size_t qos_count(const qos_table_t *t);

/* The E-model (simplified ITU-T G.107, see README): R from the codec, the
 * packet loss percentage, the one-way delay in ms; MOS from R. */
double qos_r_factor(const char *codec, double loss_pct, double delay_ms);
double qos_mos(double r);

#endif

/* The arithmetic of one RTP stream, apart from any table: Wireshark's RTP
 * stream analysis as tshark 4.0 computes it (packets, expected and lost from
 * the first and the last sequence number with its wrap counting, max delta,
 * interarrival jitter in ms with its mean and max over "regular" packets),
 * RFC 3550 A.1's sequence validation (probation, wraps, restarts), and
 * duplicates / out-of-order arrivals from a window of seen sequence numbers.
 * Pure functions of the packets fed in: the unit tests drive them directly. */
#ifndef HEPAGENT_RTPSTAT_H
#define HEPAGENT_RTPSTAT_H

#include <stdint.h>

/* RFC 3550 A.1 source state, field for field. */
enum {
    RTP_SEQ_MOD = 1 << 16,
    RTP_MAX_DROPOUT = 3000,
    RTP_MAX_MISORDER = 100,
    RTP_MIN_SEQUENTIAL = 2,
};

typedef struct rtp_seq {
    uint16_t max_seq;  /* highest sequence number seen */
    uint32_t cycles;   /* shifted count of sequence number cycles */
    uint32_t base_seq; /* base sequence number */
    uint32_t bad_seq;  /* last 'bad' sequence number + 1 */
    uint32_t probation;
    uint32_t received; /* packets received since the last (re)start */
    /* what earlier sessions of the same source (before a restart) added up to */
    uint64_t expected_before;
    uint64_t received_before;
    uint32_t restarts;
} rtp_seq_t;

/* A.1 init at the first packet of a source (probation MIN_SEQUENTIAL). */
void rtp_seq_start(rtp_seq_t *s, uint16_t seq);
/* A.1 update_seq: 1 when the packet is valid and counted. */
int rtp_seq_update(rtp_seq_t *s, uint16_t seq);
/* Packets expected and lost over all sessions of the source (A.3). */
uint64_t rtp_seq_expected(const rtp_seq_t *s);
int64_t rtp_seq_lost(const rtp_seq_t *s);

typedef struct rtpstat {
    /* Wireshark 4.0 (ui/tap-rtp-analysis.c): a packet is "in time" when its
     * timestamp is less than 2^31 ahead of the stream's first one; "time"
     * is the arrival of the last in-time packet, the nominal time that of
     * the last in-time packet with a clock rate */
    uint64_t first_us, last_us; /* capture times of the first and last packet */
    uint32_t first_ts;          /* RTP timestamp of the first packet */
    double time_ms;             /* arrival of the last in-time packet, since first_us */
    double nominal_ms;          /* its timestamp since first_ts, in ms */
    double delta_ms;            /* arrival spacing of the last in-time packet */
    uint16_t start_seq, stop_seq, seq_num;
    uint8_t under;
    uint8_t last_pt;
    uint32_t seq_cycles;
    uint64_t packets;
    uint64_t seq_errors;
    double jitter_ms;
    double jitter_max_ms;
    double jitter_mean_ms;
    double delta_max_ms;
    /* duplicates and late arrivals against the highest extended number */
    uint32_t max_ext_seq;
    uint64_t seen; /* bit i: max_ext_seq - i was seen */
    uint64_t duplicates;
    uint64_t out_of_order;
    rtp_seq_t rfc;
} rtpstat_t;

/* Payload types Wireshark does not measure jitter across. */
enum {
    RTPSTAT_PT_CN = 13,
    RTPSTAT_PT_CN_OLD = 19,
};

/* The first packet of a stream, captured at now_us (microseconds). */
void rtpstat_start(rtpstat_t *s, uint64_t now_us, uint16_t seq, uint32_t timestamp, uint8_t pt);
/* Every later packet. jitter_clock: the clock rate jitter is measured with
 * for this packet's payload type, 0 for none (telephone-event, unknown). */
void rtpstat_add(rtpstat_t *s, uint64_t now_us, uint16_t seq, uint32_t timestamp, uint8_t pt,
                 int marker, uint32_t jitter_clock);

/* Wireshark's expected and lost: from the first to the last packet's
 * sequence number plus 65536 per counted wrap; lost is negative when
 * duplicates or a reordered last packet outnumber the losses. */
int64_t rtpstat_expected(const rtpstat_t *s);
int64_t rtpstat_lost(const rtpstat_t *s);

#endif

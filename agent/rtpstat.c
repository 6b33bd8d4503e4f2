/* Per-stream RTP arithmetic: Wireshark's stream analysis (so that reports
 * equal what `tshark -z rtp,streams` prints for the same capture, quirks
 * included, see README), RFC 3550 A.1 sequence validation, and a window of
 * seen sequence numbers for duplicates and late arrivals. */
#include "hepagent/rtpstat.h"

#include <math.h>

/* ---- RFC 3550 A.1 ----------------------------------------------------- */

static void seq_init(rtp_seq_t *s, uint16_t seq)
{
    s->base_seq = seq;
    s->max_seq = seq;
    s->bad_seq = RTP_SEQ_MOD + 1; /* so seq == bad_seq is false */
    s->cycles = 0;
    s->received = 0;
}

void rtp_seq_start(rtp_seq_t *s, uint16_t seq)
{
    *s = (rtp_seq_t){0};
    seq_init(s, seq);
    s->max_seq = (uint16_t)(seq - 1);
    s->probation = RTP_MIN_SEQUENTIAL;
}

static uint64_t seq_session_expected(const rtp_seq_t *s)
{
    if (s->probation) return 0;
    return (uint64_t)s->cycles + s->max_seq - s->base_seq + 1;
}

int rtp_seq_update(rtp_seq_t *s, uint16_t seq)
{
    uint16_t udelta = (uint16_t)(seq - s->max_seq);

    /* a source is not valid until MIN_SEQUENTIAL packets with sequential
     * numbers have been received */
    if (s->probation) {
        if (seq == (uint16_t)(s->max_seq + 1)) {
            s->probation--;
            s->max_seq = seq;
            if (s->probation == 0) {
                seq_init(s, seq);
                s->received++;
                return 1;
            }
        } else {
            s->probation = RTP_MIN_SEQUENTIAL - 1;
            s->max_seq = seq;
        }
        return 0;
    }
    if (udelta < RTP_MAX_DROPOUT) {
        /* in order, with permissible gap */
        if (seq < s->max_seq) s->cycles += RTP_SEQ_MOD; /* wrapped */
        s->max_seq = seq;
    } else if (udelta <= RTP_SEQ_MOD - RTP_MAX_MISORDER) {
        /* the sequence number made a very large jump */
        if (seq == s->bad_seq) {
            /* two sequential packets: the other side restarted without
             * telling us, so resync (the earlier session's counts are kept) */
            s->expected_before += seq_session_expected(s);
            s->received_before += s->received;
            s->restarts++;
            seq_init(s, seq);
        } else {
            s->bad_seq = (uint32_t)((seq + 1) & (RTP_SEQ_MOD - 1));
            return 0;
        }
    } else {
        /* duplicate or reordered packet */
    }
    s->received++;
    return 1;
}

uint64_t rtp_seq_expected(const rtp_seq_t *s)
{
    return s->expected_before + seq_session_expected(s);
}

int64_t rtp_seq_lost(const rtp_seq_t *s)
{
    return (int64_t)rtp_seq_expected(s) - (int64_t)(s->received_before + s->received);
}

/* ---- Wireshark's analysis --------------------------------------------- */

/* The extended number nearest to the highest one (RFC 3550 A.1 style). */
static uint32_t extend_seq(uint32_t max, uint16_t seq)
{
    uint32_t v = (max & 0xffff0000u) | seq;
    if (v + 0x8000u < max)
        v += 0x10000u;
    else if (max + 0x8000u < v && v >= 0x10000u)
        v -= 0x10000u;
    return v;
}

static void window_add(rtpstat_t *s, uint16_t seq)
{
    uint32_t v = extend_seq(s->max_ext_seq, seq);
    if (v > s->max_ext_seq) {
        uint32_t shift = v - s->max_ext_seq;
        s->seen = shift >= 64 ? 0 : s->seen << shift;
        s->seen |= 1;
        s->max_ext_seq = v;
        return;
    }
    uint32_t back = s->max_ext_seq - v;
    if (back >= 64) {
        s->out_of_order++; /* too old to tell: counted as late */
        return;
    }
    uint64_t bit = 1ull << back;
    if (s->seen & bit) {
        s->duplicates++;
    } else {
        s->seen |= bit;
        s->out_of_order++;
    }
}

void rtpstat_start(rtpstat_t *s, uint64_t now_us, uint16_t seq, uint32_t timestamp, uint8_t pt)
{
    *s = (rtpstat_t){0};
    s->first_us = s->last_us = now_us;
    s->first_ts = timestamp;
    s->start_seq = s->stop_seq = s->seq_num = seq;
    s->last_pt = pt;
    s->packets = 1;
    s->max_ext_seq = 0x10000u | seq;
    s->seen = 1;
    rtp_seq_start(&s->rfc, seq);
    rtp_seq_update(&s->rfc, seq); /* the first of the MIN_SEQUENTIAL packets */
}

/* Wireshark 4.0's test: the timestamp is within 2^31 ahead of the first
 * one, wrapping past 2^32 included. A timestamp that went back behind an
 * earlier packet but not behind the first is in time. */
static int in_time(uint32_t first, uint32_t ts)
{
    if (first <= ts) return ts - first < 0x80000000u;
    return (uint64_t)(0xffffffffu - first) + ts < 0x80000000u;
}

static int is_cn(uint8_t pt)
{
    return pt == RTPSTAT_PT_CN || pt == RTPSTAT_PT_CN_OLD;
}

/* Wireshark counts sequence errors and the wraps that the expected count
 * adds 65536 for; this is its logic, comparisons in int as its C does. */
static void ws_sequence(rtpstat_t *s, int seq, int in_time)
{
    if (seq < s->start_seq && in_time && !s->under) {
        s->seq_cycles++;
        s->under = 1;
    } else if (seq == 0 && s->stop_seq == 65535 && in_time && !s->under) {
        s->seq_cycles++;
        s->under = 1;
    } else if (seq > s->start_seq && in_time && s->under) {
        s->under = 0;
    }
    int last = s->seq_num;
    if (in_time && last + 1 == seq) {
        s->seq_num = (uint16_t)seq;
    } else if (in_time && last == 65535 && seq == 0) {
        s->seq_num = 0;
    } else if (in_time && (last + 1 < seq || last - seq > 0xFF00)) {
        /* a gap, or (far behind) the packets around a wrap were lost */
        s->seq_num = (uint16_t)seq;
        s->seq_errors++;
    } else if (last + 1 > seq) {
        s->seq_errors++; /* late or duplicated */
    }
}

void rtpstat_add(rtpstat_t *s, uint64_t now_us, uint16_t seq, uint32_t timestamp, uint8_t pt,
                 int marker, uint32_t jitter_clock)
{
    double now_ms = (double)(int64_t)(now_us - s->first_us) / 1000.0;
    if (now_us > s->last_us) s->last_us = now_us;
    int timely = in_time(s->first_ts, timestamp);

    ws_sequence(s, seq, timely);
    window_add(s, seq);
    rtp_seq_update(&s->rfc, seq);

    /* comfort noise, and the packet after it, are not regular */
    int regular = timely && !marker && !is_cn(pt) && !is_cn(s->last_pt);
    s->last_pt = pt;

    /* Wireshark divides by the clock in kHz as an integer (44100 Hz: 44) */
    uint32_t khz = jitter_clock / 1000;
    double jitter = 0;
    if (timely) {
        s->delta_ms = now_ms - s->time_ms;
        if (khz) {
            /* RFC 3550 §6.4.1 in ms: D = arrival spacing - timestamp
             * spacing, J += (|D| - J) / 16; the spacing is taken from the
             * last in-time packet's arrival and the last in-time packet with
             * a clock's timestamp (after a DTMF event these differ) */
            double nominal = (double)(uint32_t)(timestamp - s->first_ts) / (double)khz;
            double diff = fabs(now_ms - (s->time_ms + nominal - s->nominal_ms));
            jitter = (15 * s->jitter_ms + diff) / 16;
            s->jitter_ms = jitter;
            s->nominal_ms = nominal;
        }
    }
    if (regular) {
        if (s->delta_ms > s->delta_max_ms) s->delta_max_ms = s->delta_ms;
        if (khz) {
            if (s->jitter_ms > s->jitter_max_ms) s->jitter_max_ms = s->jitter_ms;
            /* Wireshark's running mean divides by the packets before this
             * one, irregular ones included */
            s->jitter_mean_ms =
                (s->jitter_mean_ms * (double)(s->packets - 1) + jitter) / (double)s->packets;
        }
    }
    if (timely) s->time_ms = now_ms;
    s->stop_seq = seq;
    s->packets++;
}

int64_t rtpstat_expected(const rtpstat_t *s)
{
    return (int64_t)s->stop_seq + (int64_t)s->seq_cycles * 0x10000 - s->start_seq + 1;
}

int64_t rtpstat_lost(const rtpstat_t *s)
{
    return rtpstat_expected(s) - (int64_t)s->packets;
}

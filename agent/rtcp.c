/* RTCP compound packet → heplify's JSON. Two passes: the first walks every
 * packet of the compound and checks each length, count and item against
 * the bytes that are really there; only a compound that passes whole is
 * written out by the second, which can then no longer fail half-way. */
#include "hepagent/rtcp.h"
#include "hepagent/common.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const rtcp_names[RTCP_RESULT_COUNT] = {
#define RTCP_NAME(name, help) #name,
    RTCP_RESULTS(RTCP_NAME)
#undef RTCP_NAME
};
static const char *const rtcp_helps[RTCP_RESULT_COUNT] = {
#define RTCP_HELP(name, help) help,
    RTCP_RESULTS(RTCP_HELP)
#undef RTCP_HELP
};

const char *rtcp_result_name(rtcp_result_t r)
{
    return (unsigned)r < RTCP_RESULT_COUNT ? rtcp_names[r] : "unknown";
}

const char *rtcp_result_help(rtcp_result_t r)
{
    return (unsigned)r < RTCP_RESULT_COUNT ? rtcp_helps[r] : "";
}

enum {
    RTCP_HEADER_LEN = 4,
    RTCP_SENDER_INFO_LEN = 20, /* NTP (8), RTP timestamp, packets, octets */
    RTCP_BLOCK_LEN = 24,       /* one report block */
    RTCP_XR_BLOCK_HEADER = 4,
    RTCP_XR_VOIP_LEN = 36, /* VoIP metrics block, header included */
    RTCP_TYPE_MIN = 192,   /* RFC 5761 §4: RTCP types that cannot be mistaken for RTP */
    RTCP_TYPE_MAX = 223,
};

/* One packet of a compound, as located by the first pass. */
typedef struct {
    const uint8_t *p;
    size_t len; /* without padding */
    uint8_t count, type;
} rtcp_part_t;

/* An SDES packet: count chunks, each an SSRC and items up to a null item,
 * padded to 32 bits. */
static rtcp_result_t rtcp_check_sdes(const rtcp_part_t *pk)
{
    size_t pos = RTCP_HEADER_LEN;
    for (unsigned c = 0; c < pk->count; c++) {
        if (pos + 4 > pk->len) return RTCP_RESULT_bad_sdes;
        pos += 4;
        for (;;) {
            if (pos >= pk->len) return RTCP_RESULT_bad_sdes;
            if (pk->p[pos] == 0) break;
            if (pos + 2 > pk->len || pos + 2 + pk->p[pos + 1] > pk->len)
                return RTCP_RESULT_bad_sdes;
            pos += 2 + (size_t)pk->p[pos + 1];
        }
        pos = (pos + 4) & ~(size_t)3; /* the null item and the padding after it */
        if (pos > pk->len) return RTCP_RESULT_bad_sdes;
    }
    return RTCP_RESULT_ok;
}

/* An XR packet: the sender's SSRC, then blocks of (length + 1) words. */
static rtcp_result_t rtcp_check_xr(const rtcp_part_t *pk, int *voip)
{
    if (pk->len < RTCP_HEADER_LEN + 4) return RTCP_RESULT_too_short;
    size_t pos = RTCP_HEADER_LEN + 4;
    while (pos < pk->len) {
        if (pos + RTCP_XR_BLOCK_HEADER > pk->len) return RTCP_RESULT_bad_xr;
        size_t blen = ((size_t)be16(pk->p + pos + 2) + 1) * 4;
        if (pos + blen > pk->len) return RTCP_RESULT_bad_xr;
        if (pk->p[pos] == RTCP_XR_VOIP_METRICS) {
            if (blen != RTCP_XR_VOIP_LEN) return RTCP_RESULT_bad_xr;
            *voip = 1;
        }
        pos += blen;
    }
    return RTCP_RESULT_ok;
}

static rtcp_result_t rtcp_check_part(const rtcp_part_t *pk, int *reportable)
{
    size_t need;
    switch (pk->type) {
    case RTCP_SR:
    case RTCP_RR:
        need = RTCP_HEADER_LEN + 4 + (pk->type == RTCP_SR ? RTCP_SENDER_INFO_LEN : 0);
        if (pk->len < need) return RTCP_RESULT_too_short;
        if (need + (size_t)pk->count * RTCP_BLOCK_LEN > pk->len)
            return RTCP_RESULT_bad_report_count;
        *reportable = 1;
        return RTCP_RESULT_ok;
    case RTCP_SDES:
        return rtcp_check_sdes(pk);
    case RTCP_BYE:
        return RTCP_HEADER_LEN + (size_t)pk->count * 4 > pk->len ? RTCP_RESULT_bad_report_count
                                                                 : RTCP_RESULT_ok;
    case RTCP_XR: {
        int voip = 0;
        rtcp_result_t r = rtcp_check_xr(pk, &voip);
        if (voip) *reportable = 1;
        return r;
    }
    default: /* APP, feedback and the rest are skipped whole */
        return RTCP_RESULT_ok;
    }
}

/* The next packet of the compound at *off; padding only on the last one. */
static rtcp_result_t rtcp_next(const uint8_t *data, size_t len, size_t *off, rtcp_part_t *pk)
{
    const uint8_t *p = data + *off;
    size_t left = len - *off;
    if (left < RTCP_HEADER_LEN) return RTCP_RESULT_bad_length;
    if ((p[0] >> 6) != 2) return RTCP_RESULT_bad_version;
    if (p[1] < RTCP_TYPE_MIN || p[1] > RTCP_TYPE_MAX) return RTCP_RESULT_bad_type;
    size_t plen = ((size_t)be16(p + 2) + 1) * 4;
    if (plen > left) return RTCP_RESULT_bad_length;
    pk->p = p;
    pk->len = plen;
    pk->count = p[0] & 0x1f;
    pk->type = p[1];
    if (p[0] & 0x20) {
        uint8_t pad = p[plen - 1];
        if (plen != left || pad == 0 || pad > plen - RTCP_HEADER_LEN)
            return RTCP_RESULT_bad_padding;
        pk->len = plen - pad;
    }
    *off += plen;
    return RTCP_RESULT_ok;
}

/* ---- the JSON ----------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t cap, len;
    int overflow;
} rtcp_json_t;

__attribute__((format(printf, 2, 3))) static void rtcp_put(rtcp_json_t *j, const char *fmt, ...)
{
    if (j->overflow) return;
    va_list ap;
    va_start(ap, fmt);
    /* vsnprintf needs room for its NUL: write into the rest, then drop it */
    int n = vsnprintf(j->buf + j->len, j->cap - j->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= j->cap - j->len) {
        j->overflow = 1;
        return;
    }
    j->len += (size_t)n;
}

static int32_t rtcp_s24(const uint8_t *p)
{
    uint32_t v = be24(p);
    return (int32_t)(v & 0x800000 ? v | 0xff000000u : v);
}

static void rtcp_put_block(rtcp_json_t *j, const uint8_t *b, int first)
{
    rtcp_put(j,
             "%s{\"source_ssrc\":%" PRIu32 ",\"fraction_lost\":%u,\"packets_lost\":%" PRId32
             ",\"highest_seq_no\":%" PRIu32 ",\"ia_jitter\":%" PRIu32 ",\"lsr\":%" PRIu32
             ",\"dlsr\":%" PRIu32 "}",
             first ? "" : ",", be32(b), b[4], rtcp_s24(b + 5), be32(b + 8), be32(b + 12),
             be32(b + 16), be32(b + 20));
}

/* The VoIP metrics block (RFC 3611 §4.7): the first eight values under the
 * names heplify and Homer read, the rest under the RFC's names. */
static void rtcp_put_voip(rtcp_json_t *j, const uint8_t *b)
{
    rtcp_put(j,
             ",\"report_blocks_xr\":{\"type\":%u,\"id\":%" PRIu32
             ",\"fraction_lost\":%u,\"fraction_discard\":%u,\"burst_density\":%u,"
             "\"gap_density\":%u,\"burst_duration\":%u,\"gap_duration\":%u,"
             "\"round_trip_delay\":%u,\"end_system_delay\":%u,",
             b[0], be32(b + 4), b[8], b[9], b[10], b[11], be16(b + 12), be16(b + 14), be16(b + 16),
             be16(b + 18));
    rtcp_put(j,
             "\"signal_level\":%d,\"noise_level\":%d,\"rerl\":%u,\"gmin\":%u,\"r_factor\":%u,"
             "\"ext_r_factor\":%u,\"mos_lq\":%u.%u,\"mos_cq\":%u.%u,\"rx_config\":%u,"
             "\"jb_nominal\":%u,\"jb_maximum\":%u,\"jb_abs_max\":%u}",
             (int8_t)b[20], (int8_t)b[21], b[22], b[23], b[24], b[25], b[26] / 10, b[26] % 10,
             b[27] / 10, b[27] % 10, b[28], be16(b + 30), be16(b + 32), be16(b + 34));
}

/* The first VoIP metrics block of an XR packet, or NULL. */
static const uint8_t *rtcp_xr_voip(const rtcp_part_t *pk)
{
    for (size_t pos = RTCP_HEADER_LEN + 4; pos + RTCP_XR_BLOCK_HEADER <= pk->len;) {
        if (pk->p[pos] == RTCP_XR_VOIP_METRICS) return pk->p + pos;
        pos += ((size_t)be16(pk->p + pos + 2) + 1) * 4;
    }
    return NULL;
}

rtcp_result_t rtcp_to_json(const uint8_t *data, size_t len, char *out, size_t cap, size_t *out_len,
                           rtcp_info_t *info)
{
    memset(info, 0, sizeof(*info));
    *out_len = 0;
    if (len < RTCP_HEADER_LEN) return RTCP_RESULT_too_short;

    /* first pass: the whole compound must hold together */
    int reportable = 0;
    const rtcp_part_t *first_report = NULL, *first_voip = NULL, *first_sdes = NULL;
    const uint8_t *voip = NULL;
    rtcp_part_t parts[64];
    size_t nparts = 0, off = 0;
    uint32_t blocks = 0;
    while (off < len) {
        rtcp_part_t pk;
        rtcp_result_t r = rtcp_next(data, len, &off, &pk);
        if (r == RTCP_RESULT_ok) r = rtcp_check_part(&pk, &reportable);
        if (r != RTCP_RESULT_ok) return r;
        int keep = pk.type == RTCP_SR || pk.type == RTCP_RR || pk.type == RTCP_XR ||
                   (pk.type == RTCP_SDES && pk.count > 0);
        if (!keep) continue;
        if (nparts == HA_ARRAY_LEN(parts)) return RTCP_RESULT_too_big;
        parts[nparts] = pk;
        const rtcp_part_t *kept = &parts[nparts++];
        if (pk.type == RTCP_SR || pk.type == RTCP_RR) {
            blocks += pk.count;
            if (!first_report) first_report = kept;
        } else if (pk.type == RTCP_XR && !first_voip && (voip = rtcp_xr_voip(kept))) {
            first_voip = kept;
        } else if (pk.type == RTCP_SDES && !first_sdes) {
            first_sdes = kept;
        }
    }
    if (!reportable) return RTCP_RESULT_no_report;

    /* second pass: write what the first one found */
    rtcp_json_t j = {out, cap, 0, 0};
    const rtcp_part_t *head = first_report ? first_report : first_voip;
    info->type = head->type;
    info->ssrc = be32(head->p + 4);
    info->report_blocks = blocks;
    rtcp_put(&j, "{");
    if (first_report && first_report->type == RTCP_SR) {
        const uint8_t *si = first_report->p + 8;
        info->has_sender = 1;
        info->sender_packets = be32(si + 12);
        info->sender_octets = be32(si + 16);
        rtcp_put(&j,
                 "\"sender_information\":{\"ntp_timestamp_sec\":%" PRIu32
                 ",\"ntp_timestamp_usec\":%" PRIu32 ",\"rtp_timestamp\":%" PRIu32
                 ",\"packets\":%" PRIu32 ",\"octets\":%" PRIu32 "},",
                 be32(si), be32(si + 4), be32(si + 8), be32(si + 12), be32(si + 16));
    }
    rtcp_put(&j,
             "\"ssrc\":%" PRIu32 ",\"type\":%u,\"report_count\":%" PRIu32 ",\"report_blocks\":[",
             info->ssrc, info->type, blocks);
    int first_block = 1;
    for (size_t i = 0; i < nparts; i++) {
        const rtcp_part_t *pk = &parts[i];
        if (pk->type != RTCP_SR && pk->type != RTCP_RR) continue;
        const uint8_t *b = pk->p + 8 + (pk->type == RTCP_SR ? RTCP_SENDER_INFO_LEN : 0);
        for (unsigned k = 0; k < pk->count; k++, b += RTCP_BLOCK_LEN) {
            if (first_block) {
                info->source_ssrc = be32(b);
                info->fraction_lost = b[4];
                info->packets_lost = rtcp_s24(b + 5);
                info->jitter = be32(b + 12);
            }
            rtcp_put_block(&j, b, first_block);
            first_block = 0;
        }
    }
    rtcp_put(&j, "]");
    if (voip) {
        info->has_voip = 1;
        info->mos_lq = voip[26];
        info->mos_cq = voip[27];
        rtcp_put_voip(&j, voip);
    }
    if (first_sdes) rtcp_put(&j, ",\"sdes_ssrc\":%" PRIu32, be32(first_sdes->p + 4));
    rtcp_put(&j, "}");
    if (j.overflow) return RTCP_RESULT_too_big;
    *out_len = j.len;
    return RTCP_RESULT_ok;
}

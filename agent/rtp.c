/* RTP fixed header parsing, rtcp-mux demultiplexing and the RFC 3551 static
 * payload types. Every length a header states is checked against the bytes
 * the capture holds before anything past the fixed header is read. */
#include "hepagent/rtp.h"

#include "hepagent/common.h"

int rtp_is_rtcp(const uint8_t *data, size_t len)
{
    /* RFC 5761 §4: RTCP packet types 192..223 occupy the RTP payload types
     * 64..95 with the marker bit set, which rtcp-mux sessions must not use */
    return len >= 2 && (data[0] >> 6) == RTP_VERSION && data[1] >= 192 && data[1] <= 223;
}

rtp_result_t rtp_parse(const uint8_t *data, size_t len, int truncated, rtp_header_t *h)
{
    if (len < RTP_FIXED_HEADER_LEN) return RTP_too_short;
    if ((data[0] >> 6) != RTP_VERSION) return RTP_bad_version;
    if (rtp_is_rtcp(data, len)) return RTP_is_rtcp;
    h->version = RTP_VERSION;
    h->padding = (data[0] >> 5) & 1;
    h->extension = (data[0] >> 4) & 1;
    h->csrc_count = data[0] & 0x0f;
    h->marker = data[1] >> 7;
    h->payload_type = data[1] & 0x7f;
    h->seq = be16(data + 2);
    h->timestamp = be32(data + 4);
    h->ssrc = be32(data + 8);
    size_t off = RTP_FIXED_HEADER_LEN + 4u * h->csrc_count;
    if (off > len) return RTP_csrc_truncated;
    h->extension_profile = 0;
    h->extension_words = 0;
    if (h->extension) {
        if (off + 4 > len) return RTP_extension_truncated;
        h->extension_profile = be16(data + off);
        h->extension_words = be16(data + off + 2);
        off += 4 + 4u * h->extension_words;
        if (off > len) return RTP_extension_truncated;
    }
    h->header_len = (uint32_t)off;
    size_t end = len;
    h->padding_len = 0;
    if (h->padding && !truncated) {
        /* RFC 3550 §5.1: the last octet counts the padding, itself included */
        uint8_t pad = data[len - 1];
        if (pad == 0 || pad > len - off) return RTP_bad_padding;
        h->padding_len = pad;
        end -= pad;
    }
    h->payload = data + off;
    h->payload_len = (uint32_t)(end - off);
    return RTP_ok;
}

/* RFC 3551 §6, tables 4 and 5. G.722's RTP clock is 8000 although it samples
 * at 16 kHz (an error kept for compatibility, §4.5.2). */
static const rtp_payload_type_t STATIC_TYPES[] = {
    [0] = {"PCMU", 8000, 1, 0},   [3] = {"GSM", 8000, 1, 0},    [4] = {"G723", 8000, 1, 0},
    [5] = {"DVI4", 8000, 1, 0},   [6] = {"DVI4", 16000, 1, 0},  [7] = {"LPC", 8000, 1, 0},
    [8] = {"PCMA", 8000, 1, 0},   [9] = {"G722", 8000, 1, 0},   [10] = {"L16", 44100, 2, 0},
    [11] = {"L16", 44100, 1, 0},  [12] = {"QCELP", 8000, 1, 0}, [13] = {"CN", 8000, 1, 0},
    [14] = {"MPA", 90000, 0, 0},  [15] = {"G728", 8000, 1, 0},  [16] = {"DVI4", 11025, 1, 0},
    [17] = {"DVI4", 22050, 1, 0}, [18] = {"G729", 8000, 1, 0},  [25] = {"CelB", 90000, 0, 1},
    [26] = {"JPEG", 90000, 0, 1}, [28] = {"nv", 90000, 0, 1},   [31] = {"H261", 90000, 0, 1},
    [32] = {"MPV", 90000, 0, 1},  [33] = {"MP2T", 90000, 0, 1}, [34] = {"H263", 90000, 0, 1},
};

const rtp_payload_type_t *rtp_static_payload_type(uint8_t pt)
{
    if (pt >= HA_ARRAY_LEN(STATIC_TYPES) || !STATIC_TYPES[pt].codec) return NULL;
    return &STATIC_TYPES[pt];
}

const char *rtp_result_name(rtp_result_t r)
{
    static const char *const names[] = {
#define RTP_RESULT_NAME(name, help) #name,
        RTP_RESULTS(RTP_RESULT_NAME)
#undef RTP_RESULT_NAME
    };
    return (unsigned)r < HA_ARRAY_LEN(names) ? names[r] : "unknown";
}

/* The media table on arbitrary sequences of SIP messages, UDP packets and
 * clock steps: records of one kind byte and a 16-bit length.
 *   0: a SIP message (parsed, then media_sip)
 *   1: a UDP packet: version byte (6 or else 4), 4 or 16 bytes of source and
 *      of destination address, source and destination port, payload
 *   2: the clock moves by the next byte's number of 100 ms steps
 * With a small table (4 streams) and short times, so bounds, shared
 * endpoints, moves, holds, grace and expiry all happen within one input. */
#include "hepagent/media.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_rtcp(void *ctx, const packet_t *pkt, ha_bytes_t call_id, uint32_t tag,
                    const char *json, size_t json_len, const rtcp_info_t *info)
{
    (void)ctx, (void)pkt, (void)info, (void)tag;
    if (!call_id.len || !json_len || json[0] != '{') abort();
}

static void on_qos(void *ctx, const qos_report_t *r)
{
    (void)ctx;
    if (!r->json_len || r->json[0] != '{') abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    media_options_t o;
    media_options_default(&o);
    o.rtcp = o.qos = 1;
    o.max_streams = 4;
    o.stream_timeout_ms = 2000;
    o.grace_ms = 500;
    o.qos_interval_s = 1;
    media_sink_t sink = {on_rtcp, on_qos, NULL};
    media_t *m = media_new(&o, &sink);
    if (!m) return 0;
    uint64_t now_us = 1700000000ull * 1000000;
    size_t pos = 0;
    while (pos + 3 <= size) {
        uint8_t kind = data[pos];
        size_t len = (size_t)data[pos + 1] << 8 | data[pos + 2];
        pos += 3;
        if (len > size - pos) len = size - pos;
        uint8_t *rec = malloc(len ? len : 1);
        memcpy(rec, data + pos, len);
        pos += len;
        if (kind % 3 == 0) {
            sip_msg_t sip;
            if (sip_parse(rec, len, &sip) == SIP_OK)
                media_sip(m, rec, len, &sip, now_us / 1000000, (uint32_t)(now_us % 1000000), 0);
        } else if (kind % 3 == 1 && len >= 1) {
            packet_t p;
            memset(&p, 0, sizeof(p));
            p.ip_version = rec[0] == 6 ? 6 : 4;
            size_t alen = p.ip_version == 6 ? 16 : 4;
            if (len >= 1 + 2 * alen + 4) {
                memcpy(p.src_addr, rec + 1, alen);
                memcpy(p.dst_addr, rec + 1 + alen, alen);
                p.src_port = (uint16_t)(rec[1 + 2 * alen] << 8 | rec[2 + 2 * alen]);
                p.dst_port = (uint16_t)(rec[3 + 2 * alen] << 8 | rec[4 + 2 * alen]);
                p.l4_proto = 17;
                p.payload = rec + 5 + 2 * alen;
                p.payload_len = (uint32_t)(len - 5 - 2 * alen);
                p.ts_sec = now_us / 1000000;
                p.ts_usec = (uint32_t)(now_us % 1000000);
                media_packet(m, &p);
            }
        } else if (len >= 1) {
            now_us += (uint64_t)rec[0] * 100000;
            media_tick(m, now_us / 1000000, (uint32_t)(now_us % 1000000));
        }
        free(rec);
        now_us += 1000;
    }
    if (media_streams(m) > o.max_streams) abort();
    media_finish(m);
    media_free(m);
    return 0;
}

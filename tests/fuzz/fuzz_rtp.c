/* The RTP header parser and the QoS table on arbitrary bytes. The input is
 * a list of records: a control byte (bits 0-2 the flow, 3-4 the call, 5 cut
 * by the snaplen, 6-7 what to do: a packet, the call ends, the flow ends),
 * a time step (ms; 250 and above step back), a length, then that many bytes
 * of UDP payload. The table is small, with a short timeout and interim
 * reports, so eviction, expiry and reporting all run. */
#include <stdlib.h>
#include <string.h>

#include "hepagent/common.h"
#include "hepagent/qos.h"
#include "hepagent/rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_report(void *ctx, const qos_report_t *r)
{
    size_t *n = ctx;
    /* the report must be one complete object inside its buffer */
    if (r->json_len == 0 || r->json_len >= QOS_JSON_MAX || r->json[0] != '{' ||
        r->json[r->json_len - 1] != '}')
        abort();
    if (r->call_id_len > QOS_CALL_ID_MAX) abort();
    (*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rtp_header_t h;
    /* the whole input as one packet, both ways of reading padding */
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    for (int cut = 0; cut < 2; cut++)
        if (rtp_parse(copy, size, cut, &h) == RTP_ok &&
            (h.payload < copy || h.payload + h.payload_len > copy + size || h.header_len > size))
            abort();
    rtp_is_rtcp(copy, size);
    free(copy);

    size_t reports = 0;
    qos_options_t o;
    qos_options_default(&o);
    o.max_streams = 8;
    o.stream_timeout_ms = 3000;
    o.interval_s = 1;
    qos_table_t *t = qos_new(&o, on_report, &reports);
    if (!t) return 0;
    static const char *const calls[] = {"a@h", "b@h", "", "a-much-longer-call-id@example"};
    uint64_t now_ms = 1700000000000ull;
    size_t off = 0;
    while (off + 3 <= size) {
        uint8_t ctl = data[off], dt = data[off + 1], len = data[off + 2];
        off += 3;
        if (len > size - off) len = (uint8_t)(size - off);
        now_ms = dt >= 250 ? now_ms - (dt - 249u) * 7 : now_ms + dt;
        packet_t p;
        memset(&p, 0, sizeof(p));
        p.ip_version = (ctl & 1) ? 6 : 4;
        p.l4_proto = 17;
        p.src_addr[15] = p.src_addr[3] = (uint8_t)(ctl & 7);
        p.dst_addr[3] = 1;
        p.src_port = (uint16_t)(4000 + (ctl & 7));
        p.dst_port = 5000;
        p.ts_sec = now_ms / 1000;
        p.ts_usec = (uint32_t)(now_ms % 1000) * 1000;
        const char *call = calls[(ctl >> 3) & 3];
        switch (ctl >> 6) {
        case 0:
        case 1: {
            copy = malloc(len ? len : 1);
            memcpy(copy, data + off, len);
            rtp_result_t r = rtp_parse(copy, len, (ctl >> 5) & 1, &h);
            if (r == RTP_ok)
                qos_rtp(t, &p, &h, (const uint8_t *)call, strlen(call), (ctl & 2) ? 48000 : 0,
                        (ctl & 4) ? "telephone-event" : NULL, 0);
            else
                qos_not_rtp(t, r);
            free(copy);
            break;
        }
        case 2:
            qos_end_call(t, (const uint8_t *)call, strlen(call), p.ts_sec, p.ts_usec);
            break;
        default:
            qos_end_flow(t, p.ip_version, p.src_addr, p.src_port, p.dst_addr, p.dst_port, 0,
                         p.ts_sec, p.ts_usec);
            qos_tick(t, p.ts_sec, p.ts_usec);
        }
        off += len;
        if (qos_count(t) > o.max_streams) abort();
    }
    qos_finish(t);
    if (qos_count(t) != 0) abort();
    qos_free(t);
    return 0;
}

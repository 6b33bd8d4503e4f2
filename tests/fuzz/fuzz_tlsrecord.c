/* The TLS record layer and handshake on arbitrary bytes, through TCP
 * reassembly as in the pipeline. Input: a key log (2-byte big-endian
 * length, then its text), then chunks of stream bytes, each a flags byte
 * (bit 0: from the server; bit 1: the key log is added now, if not yet;
 * bit 2: the chunk's direction ends with a FIN) and a 2-byte length. The
 * seeds are real sessions (tests/pcap/tls), so mutations land next to
 * records that decrypt. Every message emitted must be whole SIP. */
#include "hepagent/keylog.h"
#include "hepagent/tcpstream.h"
#include "hepagent/tlsdecrypt.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

static void emit(void *ctx, const packet_t *pkt, unsigned transport, const uint8_t *msg, size_t len,
                 const sip_msg_t *sip, uint64_t sec, uint32_t usec)
{
    (void)ctx;
    (void)pkt;
    (void)transport;
    (void)sec;
    (void)usec;
    if (!sip_has_mandatory(sip) || len == 0) abort();
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++) /* every byte readable */
        sum ^= msg[i];
    sink ^= sum;
}

static void key_arrived(void *ctx, const uint8_t *random, keylog_kind_t kind)
{
    (void)kind;
    tlsdec_key_arrived(ctx, random);
}

static packet_t segment(int from_server, uint32_t seq, uint8_t flags, const uint8_t *p, size_t n,
                        uint64_t usec)
{
    packet_t pkt;
    memset(&pkt, 0, sizeof(pkt));
    pkt.ip_version = 4;
    pkt.l4_proto = 6;
    pkt.src_addr[0] = pkt.dst_addr[0] = 127;
    pkt.src_addr[3] = from_server ? 2 : 1;
    pkt.dst_addr[3] = from_server ? 1 : 2;
    pkt.src_port = from_server ? 5061 : 40000;
    pkt.dst_port = from_server ? 40000 : 5061;
    pkt.tcp_seq = seq;
    pkt.tcp_flags = flags;
    pkt.payload = p;
    pkt.payload_len = (uint32_t)n;
    pkt.ts_sec = 1000 + usec / 1000000;
    pkt.ts_usec = (uint32_t)(usec % 1000000);
    return pkt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t klen = (size_t)data[0] << 8 | data[1];
    if (klen > size - 2) klen = size - 2;
    const char *keytext = (const char *)data + 2;
    data += 2 + klen;
    size -= 2 + klen;

    tcpstream_options_t to = {64, 65536, 4 << 20, 60000};
    tcpstream_t *tcp = tcpstream_new(&to, emit, NULL);
    keylog_t *keys = keylog_new(8);
    tls_decrypt_options_t o = {.max_sessions = 8, .pending_kb = 64, .pending_ms = 50};
    tlsdec_t *tls = tlsdec_new(&o, keys, &to, emit, NULL);
    tcpstream_set_tls(tcp, tls);
    keylog_set_notify(keys, key_arrived, tls);
    uint32_t seq[2] = {1000, 500000};
    uint64_t usec = 0;
    for (int side = 0; side < 2; side++) {
        packet_t syn = segment(side, seq[side]++, TCP_FLAG_SYN, NULL, 0, usec);
        tcpstream_segment(tcp, &syn);
    }
    int keyed = 0;
    while (size >= 3) {
        uint8_t flags = data[0];
        size_t n = (size_t)data[1] << 8 | data[2];
        data += 3;
        size -= 3;
        if (n > size) n = size;
        if ((flags & 2) && !keyed) {
            keylog_add_text(keys, keytext, klen);
            keyed = 1;
        }
        int side = flags & 1;
        usec += 7000; /* past pending_ms after a few chunks */
        packet_t pkt = segment(side, seq[side], TCP_FLAG_ACK | ((flags & 4) ? TCP_FLAG_FIN : 0),
                               data, n, usec);
        tcpstream_segment(tcp, &pkt);
        seq[side] += (uint32_t)n + ((flags & 4) ? 1 : 0);
        data += n;
        size -= n;
    }
    if (!keyed) keylog_add_text(keys, keytext, klen);
    tlsdec_tick(tls, UINT64_MAX / 4);
    if (tlsdec_pending_bytes(tls) != 0) abort();
    tcpstream_free(tcp);
    tlsdec_free(tls);
    keylog_free(keys);
    return 0;
}

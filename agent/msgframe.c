/* Synthesised frames for -w; see msgframe.h. The flow table is direct
 * mapped: a flow that loses its slot starts again at a random sequence
 * number, which Wireshark shows as a gap, never as an overlap. */
#include "hepagent/msgframe.h"
#include "hepagent/common.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

enum {
    ETH_LEN = 14,
    VLAN_LEN = 4,
    IP4_LEN = 20,
    IP6_LEN = 40,
    TCP_LEN = 20,
    SCTP_LEN = 12 + 16,       /* common header, DATA chunk header */
    SEGMENT_MAX = 65535 - 60, /* TCP payload per segment: room for any IP and TCP header */
};

typedef struct {
    uint8_t used;
    uint8_t version, proto;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    uint32_t next; /* TCP sequence number or SCTP TSN */
    uint16_t ssn;  /* SCTP stream sequence number */
} msgframe_flow_t;

struct msgframe {
    pcap_out_t *out;
    msgframe_flow_t flows[MSGFRAME_FLOWS];
    uint8_t frame[ETH_LEN + VLAN_LEN + IP6_LEN + SCTP_LEN + 65536];
};

msgframe_t *msgframe_new(pcap_out_t *out)
{
    msgframe_t *m = calloc(1, sizeof(*m));
    if (m) m->out = out;
    return m;
}

void msgframe_free(msgframe_t *m)
{
    free(m);
}

static uint32_t msgframe_random(void)
{
    uint32_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v)) v = 0x5a5a1234u;
    return v;
}

static msgframe_flow_t *msgframe_flow(msgframe_t *m, const msgframe_msg_t *msg, size_t alen)
{
    uint32_t h = 2166136261u;
    const uint8_t *parts[] = {msg->src_addr, msg->dst_addr};
    for (int p = 0; p < 2; p++)
        for (size_t i = 0; i < alen; i++)
            h = (h ^ parts[p][i]) * 16777619u;
    h = (h ^ msg->src_port) * 16777619u;
    h = (h ^ msg->dst_port) * 16777619u;
    h = (h ^ msg->ip_proto) * 16777619u;
    msgframe_flow_t *f = &m->flows[h % MSGFRAME_FLOWS];
    if (f->used && f->version == msg->ip_version && f->proto == msg->ip_proto &&
        f->sport == msg->src_port && f->dport == msg->dst_port &&
        memcmp(f->src, msg->src_addr, alen) == 0 && memcmp(f->dst, msg->dst_addr, alen) == 0)
        return f;
    memset(f, 0, sizeof(*f));
    f->used = 1;
    f->version = msg->ip_version;
    f->proto = msg->ip_proto;
    memcpy(f->src, msg->src_addr, alen);
    memcpy(f->dst, msg->dst_addr, alen);
    f->sport = msg->src_port;
    f->dport = msg->dst_port;
    f->next = msgframe_random();
    return f;
}

/* Internet checksum over the pseudo header and the transport bytes. */
static uint16_t msgframe_checksum(const msgframe_msg_t *msg, size_t alen, uint8_t proto,
                                  const uint8_t *l4, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < alen; i += 2)
        sum += be16(msg->src_addr + i) + be16(msg->dst_addr + i);
    sum += proto + n;
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += be16(l4 + i);
    if (n & 1) sum += (uint32_t)l4[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    uint16_t c = (uint16_t)~sum;
    return c ? c : 0xffff;
}

/* CRC-32C (Castagnoli), as SCTP checksums are. */
static uint32_t msgframe_crc32c(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
    }
    return ~crc;
}

/* One frame around l4 bytes already at their place in m->frame. */
static int msgframe_emit(msgframe_t *m, const msgframe_msg_t *msg, size_t l2, size_t l4_len,
                         uint8_t proto)
{
    int v6 = msg->ip_version == 6;
    size_t alen = v6 ? 16 : 4, ip_len = v6 ? IP6_LEN : IP4_LEN;
    uint8_t *f = m->frame;
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
    memcpy(f, macs, 12);
    if (msg->has_vlan) {
        put_be16(f + 12, 0x8100);
        put_be16(f + 14, msg->vlan & 0x0fff);
    }
    put_be16(f + l2 - 2, v6 ? 0x86dd : 0x0800);
    uint8_t *ip = f + l2;
    memset(ip, 0, ip_len);
    if (v6) {
        ip[0] = 0x60;
        put_be16(ip + 4, (uint16_t)l4_len);
        ip[6] = proto;
        ip[7] = 64;
        memcpy(ip + 8, msg->src_addr, 16);
        memcpy(ip + 24, msg->dst_addr, 16);
    } else {
        ip[0] = 0x45;
        put_be16(ip + 2, (uint16_t)(IP4_LEN + l4_len));
        put_be16(ip + 6, 0x4000); /* don't fragment */
        ip[8] = 64;
        ip[9] = proto;
        memcpy(ip + 12, msg->src_addr, 4);
        memcpy(ip + 16, msg->dst_addr, 4);
        uint32_t sum = 0;
        for (int i = 0; i < IP4_LEN; i += 2)
            sum += be16(ip + i);
        while (sum >> 16)
            sum = (sum & 0xffff) + (sum >> 16);
        put_be16(ip + 10, (uint16_t)~sum);
    }
    uint8_t *l4 = ip + ip_len;
    if (proto == 17) put_be16(l4 + 6, msgframe_checksum(msg, alen, proto, l4, l4_len));
    if (proto == 6) put_be16(l4 + 16, msgframe_checksum(msg, alen, proto, l4, l4_len));
    if (proto == 132) {
        uint32_t crc = msgframe_crc32c(l4, l4_len);
        /* stored little-endian, as RFC 4960 appendix B computes it */
        l4[8] = (uint8_t)crc;
        l4[9] = (uint8_t)(crc >> 8);
        l4[10] = (uint8_t)(crc >> 16);
        l4[11] = (uint8_t)(crc >> 24);
    }
    struct pcap_pkthdr hdr;
    memset(&hdr, 0, sizeof(hdr));
    hdr.ts.tv_sec = (time_t)msg->ts_sec;
    hdr.ts.tv_usec = (suseconds_t)msg->ts_usec;
    hdr.caplen = hdr.len = (uint32_t)(l2 + ip_len + l4_len);
    return pcap_out_write(m->out, &hdr, f, DLT_EN10MB);
}

int msgframe_write(msgframe_t *m, const msgframe_msg_t *msg)
{
    int v6 = msg->ip_version == 6;
    size_t alen = v6 ? 16 : 4, ip_len = v6 ? IP6_LEN : IP4_LEN;
    size_t l2 = ETH_LEN + (msg->has_vlan ? VLAN_LEN : 0);
    uint8_t *l4 = m->frame + l2 + ip_len;
    if (msg->ip_proto == 6) {
        msgframe_flow_t *flow = msgframe_flow(m, msg, alen);
        int rc = HA_OK;
        for (size_t off = 0; off < msg->len && rc == HA_OK; off += SEGMENT_MAX) {
            size_t n = HA_MIN((size_t)SEGMENT_MAX, msg->len - off);
            memset(l4, 0, TCP_LEN);
            put_be16(l4, msg->src_port);
            put_be16(l4 + 2, msg->dst_port);
            put_be32(l4 + 4, flow->next);
            l4[12] = 5 << 4;
            l4[13] = 0x18; /* PSH, ACK */
            put_be16(l4 + 14, 65535);
            memcpy(l4 + TCP_LEN, msg->data + off, n);
            flow->next += (uint32_t)n;
            rc = msgframe_emit(m, msg, l2, TCP_LEN + n, 6);
        }
        return rc;
    }
    if (msg->ip_proto == 132) {
        size_t pad = (4 - msg->len % 4) % 4;
        if (SCTP_LEN + msg->len + pad > 65535 - ip_len) return HA_ETOOBIG;
        msgframe_flow_t *flow = msgframe_flow(m, msg, alen);
        memset(l4, 0, SCTP_LEN);
        put_be16(l4, msg->src_port);
        put_be16(l4 + 2, msg->dst_port);
        put_be32(l4 + 4, 1); /* verification tag */
        uint8_t *chunk = l4 + 12;
        chunk[0] = 0;    /* DATA */
        chunk[1] = 0x03; /* whole message: beginning and end */
        put_be16(chunk + 2, (uint16_t)(16 + msg->len));
        put_be32(chunk + 4, flow->next++);
        put_be16(chunk + 10, flow->ssn++);
        memcpy(l4 + SCTP_LEN, msg->data, msg->len);
        memset(l4 + SCTP_LEN + msg->len, 0, pad);
        return msgframe_emit(m, msg, l2, SCTP_LEN + msg->len + pad, 132);
    }
    if (8 + msg->len > 65535 - ip_len) return HA_ETOOBIG;
    put_be16(l4, msg->src_port);
    put_be16(l4 + 2, msg->dst_port);
    put_be16(l4 + 4, (uint16_t)(8 + msg->len));
    put_be16(l4 + 6, 0);
    memcpy(l4 + 8, msg->data, msg->len);
    return msgframe_emit(m, msg, l2, 8 + msg->len, 17);
}

/* The packet view: filled layer by layer by the decoders, stack-allocated, never
 * owning the bytes it points into. Addresses and ports are those of the innermost
 * IP/L4 header, which is what a HEP collector must see. */
#ifndef HEPAGENT_PACKET_H
#define HEPAGENT_PACKET_H

#include <stdint.h>
#include <string.h>

enum { PACKET_MAX_VLANS = 8 };

typedef struct packet {
    /* capture */
    uint64_t ts_sec;
    uint32_t ts_usec;
    const uint8_t *frame;
    uint32_t caplen;  /* bytes captured */
    uint32_t wirelen; /* bytes on the wire */
    int linktype;
    uint32_t source_id; /* which capture source, for stream keys */

    /* layer 2 and encapsulation */
    uint16_t vlan_ids[PACKET_MAX_VLANS]; /* outermost first */
    uint8_t vlan_count;
    uint8_t encap_depth; /* layers entered below the link layer */
    uint8_t tunnelled;   /* SIP came out of a tunnel (GRE, VXLAN, ...) */

    /* layer 3, innermost */
    uint8_t ip_version; /* 4 or 6; 0 before an IP header is seen */
    uint8_t ip_tos;
    uint8_t l4_proto; /* IPPROTO_UDP, IPPROTO_TCP, IPPROTO_SCTP */
    uint8_t src_addr[16];
    uint8_t dst_addr[16];
    /* fragment fields, valid when decode returns DECODE_FRAGMENT */
    uint32_t frag_id;
    uint32_t frag_offset; /* in bytes */
    uint8_t frag_more;
    uint8_t frag_proto;       /* upper protocol of the fragmented datagram */
    const uint8_t *l3_start;  /* the innermost IP header */
    const uint8_t *frag_data; /* this fragment's data */
    uint32_t frag_len;

    /* layer 4 */
    uint16_t src_port;
    uint16_t dst_port;
    uint32_t tcp_seq;
    uint32_t tcp_ack;
    uint8_t tcp_flags;
    const uint8_t *payload;
    uint32_t payload_len;
    uint8_t truncated; /* payload cut short by the capture's snaplen */
} packet_t;

/* A packet view of one captured frame, every decoded field cleared. */
static inline void packet_from_frame(packet_t *pkt, uint64_t ts_sec, uint32_t ts_usec,
                                     const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
                                     int linktype)
{
    memset(pkt, 0, sizeof(*pkt));
    pkt->ts_sec = ts_sec;
    pkt->ts_usec = ts_usec;
    pkt->frame = frame;
    pkt->caplen = caplen;
    pkt->wirelen = wirelen;
    pkt->linktype = linktype;
}

enum {
    TCP_FLAG_FIN = 0x01,
    TCP_FLAG_SYN = 0x02,
    TCP_FLAG_RST = 0x04,
    TCP_FLAG_PSH = 0x08,
    TCP_FLAG_ACK = 0x10,
};

/* The VLAN id the HEP VLAN chunk carries: the innermost tag, the one on the
 * segment the SIP host sits on (0 when untagged). */
static inline uint16_t packet_vlan(const packet_t *pkt)
{
    return pkt->vlan_count ? pkt->vlan_ids[pkt->vlan_count - 1] : 0;
}

/* One direction of a transport flow, as the TCP and SCTP tables key it. */
typedef struct flow_key {
    uint8_t version;
    uint16_t vlan;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
} flow_key_t;

static inline void flow_key_set(flow_key_t *k, const packet_t *pkt)
{
    k->version = pkt->ip_version;
    k->vlan = packet_vlan(pkt);
    memcpy(k->src, pkt->src_addr, 16);
    memcpy(k->dst, pkt->dst_addr, 16);
    k->sport = pkt->src_port;
    k->dport = pkt->dst_port;
}

static inline int flow_key_match(const flow_key_t *k, const packet_t *pkt)
{
    return k->sport == pkt->src_port && k->dport == pkt->dst_port &&
           k->version == pkt->ip_version && k->vlan == packet_vlan(pkt) &&
           memcmp(k->src, pkt->src_addr, 16) == 0 && memcmp(k->dst, pkt->dst_addr, 16) == 0;
}

/* FNV-1a over the addresses and ports: the flow's bucket before reduction. */
static inline uint32_t flow_hash(const packet_t *pkt)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ pkt->src_addr[i]) * 16777619u;
    for (int i = 0; i < 16; i++)
        h = (h ^ pkt->dst_addr[i]) * 16777619u;
    h = (h ^ pkt->src_port) * 16777619u;
    h = (h ^ pkt->dst_port) * 16777619u;
    return h;
}

#endif

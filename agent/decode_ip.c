/* IPv4 (options, fragments), IPv6 (extension headers, fragments) and the L4
 * headers SIP travels in: UDP, TCP, SCTP. IP-in-IP and GRE are handed to
 * decode_tunnel.c. Lengths in headers are trusted only after checking them
 * against the bytes captured. */
#include "hepagent/common.h"
#include "hepagent/decode.h"

#include <string.h>

enum {
    IPPROTO_HOPOPTS_ = 0,
    IPPROTO_IPIP_ = 4,
    IPPROTO_TCP_ = 6,
    IPPROTO_UDP_ = 17,
    IPPROTO_IPV6_ = 41,
    IPPROTO_ROUTING_ = 43,
    IPPROTO_FRAGMENT_ = 44,
    IPPROTO_GRE_ = 47,
    IPPROTO_AH_ = 51,
    IPPROTO_DSTOPTS_ = 60,
    IPPROTO_MH_ = 135,
    IPPROTO_SCTP_ = 132,
};

static decode_result_t decode_udp(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                                  uint32_t len)
{
    if (len < 8) return DECODE_UDP_TRUNCATED;
    uint32_t udp_len = be16(data + 4);
    if (udp_len < 8) return DECODE_UDP_BAD_LENGTH;
    if (udp_len > len) {
        if (!pkt->truncated) return DECODE_UDP_BAD_LENGTH;
    } else {
        len = udp_len;
    }
    pkt->l4_proto = IPPROTO_UDP_;
    pkt->src_port = be16(data);
    pkt->dst_port = be16(data + 2);
    pkt->payload = data + 8;
    pkt->payload_len = len - 8;
    if (opts->decode_tunnels) {
        int tunnel = decode_udp_tunnel(opts, pkt, data + 8, len - 8);
        if (tunnel >= 0) return (decode_result_t)tunnel;
    }
    return DECODE_OK;
}

static decode_result_t decode_tcp(packet_t *pkt, const uint8_t *data, uint32_t len)
{
    if (len < 20) return DECODE_TCP_TRUNCATED;
    uint32_t offset = (uint32_t)(data[12] >> 4) * 4;
    if (offset < 20) return DECODE_TCP_BAD_OFFSET;
    if (offset > len) return DECODE_TCP_TRUNCATED;
    pkt->l4_proto = IPPROTO_TCP_;
    pkt->src_port = be16(data);
    pkt->dst_port = be16(data + 2);
    pkt->tcp_seq = be32(data + 4);
    pkt->tcp_ack = be32(data + 8);
    pkt->tcp_flags = data[13];
    pkt->payload = data + offset;
    pkt->payload_len = len - offset;
    return DECODE_OK;
}

static decode_result_t decode_sctp(packet_t *pkt, const uint8_t *data, uint32_t len)
{
    if (len < 12) return DECODE_SCTP_TRUNCATED;
    pkt->l4_proto = IPPROTO_SCTP_;
    pkt->src_port = be16(data);
    pkt->dst_port = be16(data + 2);
    pkt->payload = data + 12; /* the chunks; sctp.c walks them */
    pkt->payload_len = len - 12;
    return DECODE_OK;
}

decode_result_t decode_l4(const decode_options_t *opts, packet_t *pkt, uint8_t proto,
                          const uint8_t *data, uint32_t len)
{
    switch (proto) {
    case IPPROTO_UDP_:
        return decode_udp(opts, pkt, data, len);
    case IPPROTO_TCP_:
        return decode_tcp(pkt, data, len);
    case IPPROTO_SCTP_:
        return decode_sctp(pkt, data, len);
    case IPPROTO_IPIP_:
    case IPPROTO_IPV6_:
        if (!opts->decode_tunnels) return DECODE_L4_OTHER;
        if (!decode_enter(opts, pkt)) return DECODE_ENCAP_TOO_DEEP;
        pkt->tunnelled = 1;
        return decode_ip(opts, pkt, data, len);
    case IPPROTO_GRE_:
        if (!opts->decode_tunnels) return DECODE_L4_OTHER;
        return decode_gre(opts, pkt, data, len);
    default:
        pkt->l4_proto = proto;
        return DECODE_L4_OTHER;
    }
}

/* A header claims more bytes than were captured: fine when the capture cut
 * the frame (snaplen), malformed when the wire frame itself was short. */
static int decode_capture_cut(const packet_t *pkt)
{
    return pkt->caplen < pkt->wirelen;
}

static decode_result_t decode_ipv4(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                                   uint32_t len)
{
    if (len < 20) return DECODE_IPV4_TRUNCATED;
    uint32_t header_len = (uint32_t)(data[0] & 0x0f) * 4;
    if (header_len < 20) return DECODE_IPV4_BAD_HEADER_LENGTH;
    if (header_len > len) return DECODE_IPV4_TRUNCATED;
    uint32_t total_len = be16(data + 2);
    if (total_len == 0) total_len = len; /* TSO: the NIC fills it in later */
    if (total_len < header_len) return DECODE_IPV4_BAD_TOTAL_LENGTH;
    if (total_len > len) {
        if (!decode_capture_cut(pkt)) return DECODE_IPV4_BAD_TOTAL_LENGTH;
        pkt->truncated = 1;
    } else {
        len = total_len; /* drop Ethernet padding */
    }
    pkt->ip_version = 4;
    pkt->ip_tos = data[1];
    memset(pkt->src_addr, 0, sizeof(pkt->src_addr));
    memset(pkt->dst_addr, 0, sizeof(pkt->dst_addr));
    memcpy(pkt->src_addr, data + 12, 4);
    memcpy(pkt->dst_addr, data + 16, 4);
    pkt->l3_start = data;
    uint8_t proto = data[9];
    uint16_t frag = be16(data + 6);
    if (frag & 0x3fff) { /* MF set or offset non-zero */
        pkt->l4_proto = proto;
        pkt->frag_proto = proto;
        pkt->frag_id = be16(data + 4);
        pkt->frag_offset = (uint32_t)(frag & 0x1fff) * 8;
        pkt->frag_more = (frag & 0x2000) != 0;
        pkt->frag_data = data + header_len;
        pkt->frag_len = len - header_len;
        return DECODE_FRAGMENT;
    }
    return decode_l4(opts, pkt, proto, data + header_len, len - header_len);
}

static decode_result_t decode_ipv6(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                                   uint32_t len)
{
    if (len < 40) return DECODE_IPV6_TRUNCATED;
    uint32_t payload_len = be16(data + 4);
    if (payload_len == 0) payload_len = len - 40; /* jumbogram or TSO */
    if (40 + payload_len > len) {
        if (!decode_capture_cut(pkt)) return DECODE_IPV6_BAD_PAYLOAD_LENGTH;
        pkt->truncated = 1;
    } else {
        len = 40 + payload_len;
    }
    pkt->ip_version = 6;
    pkt->ip_tos = (uint8_t)((be16(data) >> 4) & 0xff);
    memcpy(pkt->src_addr, data + 8, 16);
    memcpy(pkt->dst_addr, data + 24, 16);
    pkt->l3_start = data;

    uint8_t next = data[6];
    uint32_t off = 40;
    for (;;) {
        switch (next) {
        case IPPROTO_HOPOPTS_:
        case IPPROTO_ROUTING_:
        case IPPROTO_DSTOPTS_:
        case IPPROTO_MH_: {
            if (off + 8 > len) return DECODE_IPV6_EXT_TRUNCATED;
            uint32_t ext_len = ((uint32_t)data[off + 1] + 1) * 8;
            if (off + ext_len > len) return DECODE_IPV6_EXT_TRUNCATED;
            next = data[off];
            off += ext_len;
            break;
        }
        case IPPROTO_AH_: {
            if (off + 8 > len) return DECODE_IPV6_EXT_TRUNCATED;
            uint32_t ext_len = ((uint32_t)data[off + 1] + 2) * 4;
            if (off + ext_len > len) return DECODE_IPV6_EXT_TRUNCATED;
            next = data[off];
            off += ext_len;
            break;
        }
        case IPPROTO_FRAGMENT_: {
            if (off + 8 > len) return DECODE_IPV6_EXT_TRUNCATED;
            uint16_t frag = be16(data + off + 2);
            uint8_t frag_next = data[off];
            uint32_t frag_id = be32(data + off + 4);
            off += 8;
            if ((frag & 0xfff9) == 0) { /* atomic fragment (RFC 6946) */
                next = frag_next;
                break;
            }
            pkt->l4_proto = frag_next;
            pkt->frag_proto = frag_next;
            pkt->frag_id = frag_id;
            pkt->frag_offset = (uint32_t)(frag & 0xfff8);
            pkt->frag_more = (frag & 0x0001) != 0;
            pkt->frag_data = data + off;
            pkt->frag_len = len - off;
            return DECODE_FRAGMENT;
        }
        default:
            return decode_l4(opts, pkt, next, data + off, len - off);
        }
    }
}

decode_result_t decode_ip(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                          uint32_t len)
{
    if (len < 1) return DECODE_IPV4_TRUNCATED;
    switch (data[0] >> 4) {
    case 4:
        return decode_ipv4(opts, pkt, data, len);
    case 6:
        return decode_ipv6(opts, pkt, data, len);
    default:
        return DECODE_IP_BAD_VERSION;
    }
}

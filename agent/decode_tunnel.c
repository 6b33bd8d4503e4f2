/* Tunnels that carry SIP between sites or out of mirror ports: GRE (keys,
 * sequence numbers, transparent Ethernet bridging), ERSPAN types I, II and III,
 * VXLAN, GENEVE, GTP-U and MPLS over UDP. Each entry counts one encapsulation
 * layer against the configured depth. */
#include "hepagent/common.h"
#include "hepagent/decode.h"

enum {
    GRE_FLAG_CHECKSUM = 0x8000,
    GRE_FLAG_ROUTING = 0x4000,
    GRE_FLAG_KEY = 0x2000,
    GRE_FLAG_SEQUENCE = 0x1000,
    GRE_VERSION_MASK = 0x0007,
};

static decode_result_t decode_erspan3(const decode_options_t *opts, packet_t *pkt,
                                      const uint8_t *data, uint32_t len)
{
    /* Ver/VLAN(2) COS/BSO/T/session(2) timestamp(4) SGT(2) P/FT/HW id/D/Gra/O(2) */
    if (len < 12) return DECODE_ERSPAN_TRUNCATED;
    uint32_t header = 12;
    uint8_t frame_type = (data[10] >> 2) & 0x1f;
    if (data[11] & 0x01) header += 8; /* platform-specific subheader */
    if (len < header) return DECODE_ERSPAN_TRUNCATED;
    if (frame_type == 2) return decode_ip(opts, pkt, data + header, len - header);
    return decode_ether(opts, pkt, data + header, len - header);
}

decode_result_t decode_gre(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                           uint32_t len)
{
    if (!decode_enter(opts, pkt)) return DECODE_ENCAP_TOO_DEEP;
    pkt->tunnelled = 1;
    if (len < 4) return DECODE_GRE_TRUNCATED;
    uint16_t flags = be16(data);
    uint16_t proto = be16(data + 2);
    if ((flags & GRE_VERSION_MASK) != 0 || (flags & GRE_FLAG_ROUTING))
        return DECODE_GRE_UNSUPPORTED; /* PPTP's enhanced GRE, RFC 1701 routing */
    uint32_t header = 4;
    if (flags & GRE_FLAG_CHECKSUM) header += 4;
    if (flags & GRE_FLAG_KEY) header += 4;
    if (flags & GRE_FLAG_SEQUENCE) header += 4;
    if (len < header) return DECODE_GRE_TRUNCATED;
    data += header;
    len -= header;
    switch (proto) {
    case ETHERTYPE_TEB:
        return decode_ether(opts, pkt, data, len);
    case ETHERTYPE_ERSPAN2:
        /* Type I has no sequence number and no ERSPAN header. */
        if (!(flags & GRE_FLAG_SEQUENCE)) return decode_ether(opts, pkt, data, len);
        if (len < 8) return DECODE_ERSPAN_TRUNCATED;
        return decode_ether(opts, pkt, data + 8, len - 8);
    case ETHERTYPE_ERSPAN3:
        return decode_erspan3(opts, pkt, data, len);
    default:
        return decode_ethertype(opts, pkt, proto, data, len);
    }
}

static decode_result_t decode_vxlan(const decode_options_t *opts, packet_t *pkt,
                                    const uint8_t *data, uint32_t len)
{
    if (len < 8) return DECODE_VXLAN_TRUNCATED;
    return decode_ether(opts, pkt, data + 8, len - 8);
}

static decode_result_t decode_geneve(const decode_options_t *opts, packet_t *pkt,
                                     const uint8_t *data, uint32_t len)
{
    if (len < 8) return DECODE_GENEVE_TRUNCATED;
    uint32_t header = 8 + (uint32_t)(data[0] & 0x3f) * 4;
    uint16_t proto = be16(data + 2);
    if (len < header) return DECODE_GENEVE_TRUNCATED;
    if (proto == ETHERTYPE_TEB) return decode_ether(opts, pkt, data + header, len - header);
    return decode_ethertype(opts, pkt, proto, data + header, len - header);
}

static decode_result_t decode_gtpu(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                                   uint32_t len)
{
    /* flags(1) message type(1) length(2) TEID(4) [seq(2) N-PDU(1) next ext(1)] */
    if (len < 8) return DECODE_GTP_TRUNCATED;
    uint8_t flags = data[0];
    if (data[1] != 0xff) return DECODE_GTP_NOT_GPDU; /* echo, error indication, ... */
    uint32_t header = 8;
    if (flags & 0x07) {
        if (len < 12) return DECODE_GTP_TRUNCATED;
        uint8_t next_ext = data[11];
        header = 12;
        if (flags & 0x04) { /* extension headers, each length in 4-byte units */
            while (next_ext != 0) {
                if (len < header + 4) return DECODE_GTP_TRUNCATED;
                uint32_t ext_len = (uint32_t)data[header] * 4;
                if (ext_len == 0 || len < header + ext_len) return DECODE_GTP_TRUNCATED;
                next_ext = data[header + ext_len - 1];
                header += ext_len;
            }
        }
    }
    if (len <= header) return DECODE_GTP_TRUNCATED;
    return decode_ip(opts, pkt, data + header, len - header);
}

int decode_udp_tunnel(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                      uint32_t len)
{
    uint16_t sport = pkt->src_port, dport = pkt->dst_port;
    decode_result_t (*decoder)(const decode_options_t *, packet_t *, const uint8_t *, uint32_t) =
        NULL;
    if (opts->vxlan_port && dport == opts->vxlan_port) {
        /* The I flag must be set and the reserved bits clear; otherwise this
         * is ordinary traffic that happens to use the port. */
        if (len >= 8 && (data[0] & 0x08) && (data[0] & ~0x08) == 0) decoder = decode_vxlan;
    } else if (dport == DECODE_PORT_GTPU || sport == DECODE_PORT_GTPU) {
        if (len >= 8 && (data[0] >> 5) == 1 && (data[0] & 0x10)) decoder = decode_gtpu;
    } else if (dport == DECODE_PORT_GENEVE) {
        if (len >= 8 && (data[0] >> 6) == 0) decoder = decode_geneve;
    } else if (dport == DECODE_PORT_MPLS_UDP) {
        pkt->tunnelled = 1; /* decode_mpls counts the layer */
        return decode_ethertype(opts, pkt, ETHERTYPE_MPLS, data, len);
    }
    if (!decoder) return -1;
    if (!decode_enter(opts, pkt)) return DECODE_ENCAP_TOO_DEEP;
    pkt->tunnelled = 1;
    return decoder(opts, pkt, data, len);
}

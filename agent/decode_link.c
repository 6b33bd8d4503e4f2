/* Link layers and what sits between them and IP: Ethernet, 802.1Q/802.1ad tags,
 * MPLS label stacks, PPPoE sessions, Linux cooked captures (SLL, SLL2), BSD
 * NULL/LOOP, raw IP, 802.11 data frames (optionally behind radiotap), NFLOG. */
#include "hepagent/common.h"
#include "hepagent/decode.h"

#include <string.h>

static const char *const decode_names[] = {
#define DECODE_NAME(id, name) name,
    DECODE_RESULTS(DECODE_NAME)
#undef DECODE_NAME
};

const char *decode_result_name(decode_result_t result)
{
    return (unsigned)result < DECODE_RESULT_COUNT ? decode_names[result] : "unknown";
}

void decode_options_default(decode_options_t *opts)
{
    opts->vxlan_port = DECODE_PORT_VXLAN;
    opts->max_depth = DECODE_DEFAULT_MAX_DEPTH;
    opts->decode_tunnels = 1;
}

/* Every tunnel or stacked encapsulation passes here, which bounds recursion. */
int decode_enter(const decode_options_t *opts, packet_t *pkt)
{
    return ++pkt->encap_depth <= opts->max_depth;
}

static decode_result_t decode_mpls(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                                   uint32_t len)
{
    if (!decode_enter(opts, pkt)) return DECODE_ENCAP_TOO_DEEP;
    /* Walk the label stack to the bottom-of-stack bit. */
    for (;;) {
        if (len < 4) return DECODE_MPLS_TRUNCATED;
        int bottom = data[2] & 0x01;
        data += 4;
        len -= 4;
        if (bottom) break;
    }
    /* No protocol field: guess from the first nibble (RFC 4385 control word
     * starts with 0000, then Ethernet pseudowire). */
    if (len < 1) return DECODE_MPLS_TRUNCATED;
    switch (data[0] >> 4) {
    case 4:
    case 6:
        return decode_ip(opts, pkt, data, len);
    case 0:
        if (len < 4) return DECODE_MPLS_TRUNCATED;
        return decode_ether(opts, pkt, data + 4, len - 4);
    default:
        return DECODE_MPLS_UNKNOWN_PAYLOAD;
    }
}

static decode_result_t decode_pppoe(const decode_options_t *opts, packet_t *pkt,
                                    const uint8_t *data, uint32_t len)
{
    if (!decode_enter(opts, pkt)) return DECODE_ENCAP_TOO_DEEP;
    /* PPPoE session header (6 bytes) then the PPP protocol (2 bytes). */
    if (len < 8) return DECODE_PPPOE_TRUNCATED;
    uint32_t pppoe_len = be16(data + 4);
    uint16_t ppp_proto = be16(data + 6);
    data += 8;
    len -= 8;
    if (pppoe_len >= 2 && pppoe_len - 2 < len) len = pppoe_len - 2;
    switch (ppp_proto) {
    case 0x0021: /* PPP_IP */
    case 0x0057: /* PPP_IPV6 */
        return decode_ip(opts, pkt, data, len);
    default:
        return DECODE_NOT_IP;
    }
}

decode_result_t decode_ethertype(const decode_options_t *opts, packet_t *pkt, uint16_t type,
                                 const uint8_t *data, uint32_t len)
{
    /* VLAN tags are iterated, not recursed into. */
    while (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ || type == ETHERTYPE_QINQ_OLD) {
        if (len < 4) return DECODE_VLAN_TRUNCATED;
        if (pkt->vlan_count >= PACKET_MAX_VLANS) return DECODE_VLAN_TOO_MANY;
        pkt->vlan_ids[pkt->vlan_count++] = be16(data) & 0x0fff;
        type = be16(data + 2);
        data += 4;
        len -= 4;
    }
    switch (type) {
    case ETHERTYPE_IPV4:
    case ETHERTYPE_IPV6:
        return decode_ip(opts, pkt, data, len);
    case ETHERTYPE_MPLS:
    case ETHERTYPE_MPLS_MC:
        return decode_mpls(opts, pkt, data, len);
    case ETHERTYPE_PPPOE:
        return decode_pppoe(opts, pkt, data, len);
    default:
        return DECODE_NOT_IP;
    }
}

decode_result_t decode_ether(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                             uint32_t len)
{
    if (len < 14) return DECODE_LINK_TRUNCATED;
    uint16_t type = be16(data + 12);
    if (type <= 1500) {
        /* 802.3 length field: only LLC/SNAP can carry IP. */
        if (len < 22 || data[14] != 0xaa || data[15] != 0xaa || data[16] != 0x03)
            return DECODE_NOT_IP;
        return decode_ethertype(opts, pkt, be16(data + 20), data + 22, len - 22);
    }
    return decode_ethertype(opts, pkt, type, data + 14, len - 14);
}

/* BSD loopback: a 4-byte address family in the capturing host's byte order
 * (NULL) or in network order (LOOP). */
static decode_result_t decode_null(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                                   uint32_t len, int network_order)
{
    if (len < 4) return DECODE_LINK_TRUNCATED;
    uint32_t family = network_order ? be32(data) : le32(data);
    if (!network_order && family > 0xffff) family = be32(data); /* big-endian writer */
    switch (family) {
    case 2:  /* AF_INET everywhere */
    case 10: /* AF_INET6 Linux */
    case 24: /* AF_INET6 NetBSD, OpenBSD */
    case 28: /* AF_INET6 FreeBSD */
    case 30: /* AF_INET6 macOS */
        return decode_ip(opts, pkt, data + 4, len - 4);
    default:
        return DECODE_NOT_IP;
    }
}

static decode_result_t decode_sll(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                                  uint32_t len)
{
    /* packet type(2) ARPHRD(2) addr len(2) addr(8) protocol(2) */
    if (len < 16) return DECODE_LINK_TRUNCATED;
    uint16_t hatype = be16(data + 2);
    if (hatype == 824) /* ARPHRD_NETLINK: not a network frame */
        return DECODE_NOT_IP;
    return decode_ethertype(opts, pkt, be16(data + 14), data + 16, len - 16);
}

static decode_result_t decode_sll2(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                                   uint32_t len)
{
    /* protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) addr len(1) addr(8) */
    if (len < 20) return DECODE_LINK_TRUNCATED;
    return decode_ethertype(opts, pkt, be16(data), data + 20, len - 20);
}

/* IEEE 802.11 data frame with LLC/SNAP. Encrypted frames are not decoded. */
static decode_result_t decode_wlan(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                                   uint32_t len)
{
    if (len < 24) return DECODE_WLAN_TRUNCATED;
    uint8_t fc0 = data[0], fc1 = data[1];
    if (((fc0 >> 2) & 0x3) != 2) return DECODE_WLAN_NOT_DATA; /* type: data */
    if (fc0 & 0x40) return DECODE_WLAN_NOT_DATA;              /* null-data subtypes */
    if (fc1 & 0x40) return DECODE_WLAN_NOT_DATA;              /* protected */
    uint32_t hdr = 24;
    if ((fc1 & 0x03) == 0x03) hdr += 6; /* to-DS and from-DS: address 4 */
    if (fc0 & 0x80) {                   /* QoS data */
        hdr += 2;
        if (fc1 & 0x80) hdr += 4; /* order bit: HT control */
    }
    if (len < hdr + 8) return DECODE_WLAN_TRUNCATED;
    const uint8_t *llc = data + hdr;
    if (llc[0] != 0xaa || llc[1] != 0xaa || llc[2] != 0x03) return DECODE_NOT_IP;
    return decode_ethertype(opts, pkt, be16(llc + 6), llc + 8, len - hdr - 8);
}

static decode_result_t decode_radiotap(const decode_options_t *opts, packet_t *pkt,
                                       const uint8_t *data, uint32_t len)
{
    if (len < 8) return DECODE_LINK_TRUNCATED;
    uint32_t hdr = le16(data + 2);
    if (hdr < 8 || hdr > len) return DECODE_LINK_TRUNCATED;
    /* The FCS flag (flags field, bit 0x10) would leave 4 bytes at the end: the
     * IP total length trims them, so it need not be parsed here. */
    return decode_wlan(opts, pkt, data + hdr, len - hdr);
}

/* NFLOG: family(1) version(1) resource id(2), then TLVs (host-order length and
 * type, padded to 4 bytes); type 9 is the packet. */
static decode_result_t decode_nflog(const decode_options_t *opts, packet_t *pkt,
                                    const uint8_t *data, uint32_t len)
{
    if (len < 4) return DECODE_NFLOG_TRUNCATED;
    uint32_t off = 4;
    while (off + 4 <= len) {
        uint32_t tlv_len = le16(data + off);
        uint32_t tlv_type = le16(data + off + 2) & 0x7fff;
        if (tlv_len < 4 || tlv_len > len - off) return DECODE_NFLOG_TRUNCATED;
        if (tlv_type == 9) return decode_ip(opts, pkt, data + off + 4, tlv_len - 4);
        off += (tlv_len + 3) & ~3u;
    }
    return DECODE_NOT_IP;
}

decode_result_t decode_frame(const decode_options_t *opts, packet_t *pkt)
{
    const uint8_t *data = pkt->frame;
    uint32_t len = pkt->caplen;
    switch (pkt->linktype) {
    case LINKTYPE_ETHERNET:
        return decode_ether(opts, pkt, data, len);
    case LINKTYPE_LINUX_SLL:
        return decode_sll(opts, pkt, data, len);
    case LINKTYPE_LINUX_SLL2:
        return decode_sll2(opts, pkt, data, len);
    case LINKTYPE_NULL:
        return decode_null(opts, pkt, data, len, 0);
    case LINKTYPE_LOOP:
        return decode_null(opts, pkt, data, len, 1);
    case LINKTYPE_RAW:
    case LINKTYPE_RAW_12:
    case LINKTYPE_RAW_14:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
        return decode_ip(opts, pkt, data, len);
    case LINKTYPE_IEEE802_11:
        return decode_wlan(opts, pkt, data, len);
    case LINKTYPE_IEEE802_11_RADIOTAP:
        return decode_radiotap(opts, pkt, data, len);
    case LINKTYPE_NFLOG:
        return decode_nflog(opts, pkt, data, len);
    default:
        return DECODE_LINK_UNSUPPORTED;
    }
}

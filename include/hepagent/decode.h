/* Frame decoding, link layer to L4: decode_link.c (link types, Ethernet, VLAN,
 * MPLS, PPPoE), decode_ip.c (IPv4, IPv6, UDP, TCP, SCTP) and decode_tunnel.c
 * (GRE, ERSPAN, VXLAN, GTP-U, IP-in-IP). Every reason a frame is not decoded
 * has a counter; nothing is logged per frame. */
#ifndef HEPAGENT_DECODE_H
#define HEPAGENT_DECODE_H

#include <stdint.h>

#include "hepagent/packet.h"

/* Outcome of decoding one frame; the name is the stats counter. */
#define DECODE_RESULTS(X)                                                                          \
    X(OK, "ok")                                                                                    \
    X(NOT_IP, "not_ip")                                                                            \
    X(L4_OTHER, "l4_other")                                                                        \
    X(FRAGMENT, "ip_fragment")                                                                     \
    X(LINK_UNSUPPORTED, "link_unsupported")                                                        \
    X(LINK_TRUNCATED, "link_truncated")                                                            \
    X(VLAN_TRUNCATED, "vlan_truncated")                                                            \
    X(VLAN_TOO_MANY, "vlan_too_many")                                                              \
    X(MPLS_TRUNCATED, "mpls_truncated")                                                            \
    X(MPLS_UNKNOWN_PAYLOAD, "mpls_unknown_payload")                                                \
    X(PPPOE_TRUNCATED, "pppoe_truncated")                                                          \
    X(IPV4_TRUNCATED, "ipv4_truncated")                                                            \
    X(IP_BAD_VERSION, "ip_bad_version")                                                            \
    X(IPV4_BAD_HEADER_LENGTH, "ipv4_bad_header_length")                                            \
    X(IPV4_BAD_TOTAL_LENGTH, "ipv4_bad_total_length")                                              \
    X(IPV6_TRUNCATED, "ipv6_truncated")                                                            \
    X(IPV6_BAD_VERSION, "ipv6_bad_version")                                                        \
    X(IPV6_EXT_TRUNCATED, "ipv6_ext_truncated")                                                    \
    X(IPV6_BAD_PAYLOAD_LENGTH, "ipv6_bad_payload_length")                                          \
    X(UDP_TRUNCATED, "udp_truncated")                                                              \
    X(UDP_BAD_LENGTH, "udp_bad_length")                                                            \
    X(TCP_TRUNCATED, "tcp_truncated")                                                              \
    X(TCP_BAD_OFFSET, "tcp_bad_offset")                                                            \
    X(SCTP_TRUNCATED, "sctp_truncated")                                                            \
    X(GRE_TRUNCATED, "gre_truncated")                                                              \
    X(GRE_UNSUPPORTED, "gre_unsupported")                                                          \
    X(ERSPAN_TRUNCATED, "erspan_truncated")                                                        \
    X(VXLAN_TRUNCATED, "vxlan_truncated")                                                          \
    X(GENEVE_TRUNCATED, "geneve_truncated")                                                        \
    X(GTP_TRUNCATED, "gtp_truncated")                                                              \
    X(GTP_NOT_GPDU, "gtp_not_gpdu")                                                                \
    X(WLAN_TRUNCATED, "wlan_truncated")                                                            \
    X(WLAN_NOT_DATA, "wlan_not_data")                                                              \
    X(NFLOG_TRUNCATED, "nflog_truncated")                                                          \
    X(ENCAP_TOO_DEEP, "encap_too_deep")

typedef enum {
#define DECODE_ENUM(id, name) DECODE_##id,
    DECODE_RESULTS(DECODE_ENUM)
#undef DECODE_ENUM
        DECODE_RESULT_COUNT
} decode_result_t;

const char *decode_result_name(decode_result_t result);

/* Well-known tunnel ports; VXLAN's is configurable. */
enum {
    DECODE_PORT_VXLAN = 4789,
    DECODE_PORT_GTPU = 2152,
    DECODE_PORT_GENEVE = 6081,
    DECODE_PORT_MPLS_UDP = 6635,
    DECODE_DEFAULT_MAX_DEPTH = 8,
};

typedef struct decode_options {
    uint16_t vxlan_port;    /* 0 disables VXLAN decoding */
    uint8_t max_depth;      /* encapsulation layers allowed below the link layer */
    uint8_t decode_tunnels; /* 0: stop at the outer IP */
} decode_options_t;

void decode_options_default(decode_options_t *opts);

/* Decodes pkt->frame (caplen bytes, link type pkt->linktype) down to L4 and
 * fills pkt. Returns DECODE_OK when pkt->payload is an L4 payload (UDP, TCP or
 * SCTP), DECODE_FRAGMENT when the innermost IP packet is a fragment (frag_*
 * fields set), another result otherwise. */
decode_result_t decode_frame(const decode_options_t *opts, packet_t *pkt);

/* Decodes an IP packet starting at data (used for raw links, tunnels and
 * reassembled fragments). */
decode_result_t decode_ip(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                          uint32_t len);
/* Decodes an L4 header of protocol proto (UDP, TCP, SCTP or a tunnel protocol)
 * with the IP fields of pkt already set. */
decode_result_t decode_l4(const decode_options_t *opts, packet_t *pkt, uint8_t proto,
                          const uint8_t *data, uint32_t len);

/* internal, between the decode_*.c files */
/* Counts one more encapsulation layer; 0 when the configured depth is exceeded.
 * Every recursion path of the decoders passes here, which bounds the stack. */
int decode_enter(const decode_options_t *opts, packet_t *pkt);
decode_result_t decode_ethertype(const decode_options_t *opts, packet_t *pkt, uint16_t type,
                                 const uint8_t *data, uint32_t len);
decode_result_t decode_ether(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                             uint32_t len);
decode_result_t decode_gre(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                           uint32_t len);
/* Tries the UDP tunnels (VXLAN, GTP-U, GENEVE, MPLS-in-UDP) by port; returns
 * -1 when the datagram is not a tunnel. */
int decode_udp_tunnel(const decode_options_t *opts, packet_t *pkt, const uint8_t *data,
                      uint32_t len);

/* Link types (LINKTYPE_* values of the pcap spec). */
enum {
    LINKTYPE_NULL = 0,
    LINKTYPE_ETHERNET = 1,
    LINKTYPE_RAW_12 = 12, /* DLT_RAW on most systems */
    LINKTYPE_RAW_14 = 14, /* DLT_RAW on OpenBSD */
    LINKTYPE_RAW = 101,
    LINKTYPE_IEEE802_11 = 105,
    LINKTYPE_LOOP = 108,
    LINKTYPE_LINUX_SLL = 113,
    LINKTYPE_IEEE802_11_RADIOTAP = 127,
    LINKTYPE_IPV4 = 228,
    LINKTYPE_IPV6 = 229,
    LINKTYPE_NFLOG = 239,
    LINKTYPE_LINUX_SLL2 = 276,
};

/* EtherTypes */
enum {
    ETHERTYPE_IPV4 = 0x0800,
    ETHERTYPE_IPV6 = 0x86dd,
    ETHERTYPE_VLAN = 0x8100,
    ETHERTYPE_QINQ = 0x88a8,
    ETHERTYPE_QINQ_OLD = 0x9100,
    ETHERTYPE_MPLS = 0x8847,
    ETHERTYPE_MPLS_MC = 0x8848,
    ETHERTYPE_PPPOE = 0x8864,
    ETHERTYPE_TEB = 0x6558,     /* transparent Ethernet bridging (GRE) */
    ETHERTYPE_ERSPAN2 = 0x88be, /* ERSPAN type II (and type I with no header) */
    ETHERTYPE_ERSPAN3 = 0x22eb, /* ERSPAN type III */
};

#endif

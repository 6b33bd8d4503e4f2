/* HEPv3 encoding (what the agent sends) and a strict decoder (what the tests,
 * the sink and the fuzzers use). Chunk order is heplify's, payload last; see
 * ../shared/docs/hep3.md. */
#ifndef HEPAGENT_HEP_H
#define HEPAGENT_HEP_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/common.h"

/* Generic chunk types (vendor 0x0000), HEP3 spec rev. 37 */
enum {
    HEP_CHUNK_IP_FAMILY = 0x0001,
    HEP_CHUNK_IP_PROTO = 0x0002,
    HEP_CHUNK_IPV4_SRC = 0x0003,
    HEP_CHUNK_IPV4_DST = 0x0004,
    HEP_CHUNK_IPV6_SRC = 0x0005,
    HEP_CHUNK_IPV6_DST = 0x0006,
    HEP_CHUNK_SRC_PORT = 0x0007,
    HEP_CHUNK_DST_PORT = 0x0008,
    HEP_CHUNK_TS_SEC = 0x0009,
    HEP_CHUNK_TS_USEC = 0x000a,
    HEP_CHUNK_PROTO_TYPE = 0x000b,
    HEP_CHUNK_CAPTURE_ID = 0x000c,
    HEP_CHUNK_KEEPALIVE = 0x000d,
    HEP_CHUNK_AUTH_KEY = 0x000e,
    HEP_CHUNK_PAYLOAD = 0x000f,
    HEP_CHUNK_PAYLOAD_ZLIB = 0x0010,
    HEP_CHUNK_CORRELATION_ID = 0x0011,
    HEP_CHUNK_VLAN = 0x0012,
    HEP_CHUNK_NODE_NAME = 0x0013,
};

enum {
    HEP_FAMILY_IPV4 = 2,  /* AF_INET as Linux numbers it */
    HEP_FAMILY_IPV6 = 10, /* AF_INET6 as Linux numbers it */
    HEP_PROTO_TYPE_SIP = 0x01,
    HEP_PROTO_TYPE_RTCP = 0x05, /* RTCP as JSON, hep3.md §5 */
    HEP_PROTO_TYPE_QOS = 0x22,  /* RTP quality report as JSON (34) */
    HEP_HEADER_LEN = 6,         /* "HEP3" + u16 total length */
    HEP_CHUNK_HEADER_LEN = 6,   /* vendor, type, length */
    HEP_MAX_PACKET = 65535,     /* the u16 length field */
    HEP_MAX_UDP = 65507,        /* largest UDP payload over IPv4 */
};

typedef struct hep_msg {
    uint8_t ip_version; /* 4 or 6 */
    uint8_t ip_proto;   /* 17, 6, 132 */
    uint8_t src_addr[16];
    uint8_t dst_addr[16];
    uint16_t src_port, dst_port;
    uint32_t ts_sec, ts_usec;
    uint8_t proto_type;
    uint32_t capture_id;
    ha_bytes_t auth_key;       /* len 0: not sent */
    ha_bytes_t correlation_id; /* len 0: not sent */
    int has_vlan;
    uint16_t vlan;
    ha_bytes_t node_name; /* len 0: not sent */
    ha_bytes_t payload;
    int payload_compressed; /* payload already zlib-compressed: sent as 0x0010 */
} hep_msg_t;

/* Encodes msg into out (cap bytes). Returns the packet length, or HA_ETOOBIG
 * when it would exceed max_len (HEP_MAX_UDP for datagrams) or cap. */
int hep_encode(const hep_msg_t *msg, uint8_t *out, size_t cap, size_t max_len);

/* Copies the encoded packet pkt into out with the chunk at chunk_off
 * replaced by a generic chunk of the given type and data (a payload
 * compressed for one collector), the total length fixed. Returns the new
 * length, or HA_ETOOBIG beyond cap. */
int hep_swap_payload(const uint8_t *pkt, size_t len, size_t chunk_off, uint16_t type,
                     ha_bytes_t data, uint8_t *out, size_t cap);

/* Stores the data of generic chunk `type` (its size already checked) in m;
 * chunks hep_msg_t has no field for are ignored. */
void hep_msg_set(hep_msg_t *m, unsigned type, const uint8_t *d, size_t n);

/* A decoded packet; byte views point into the input. */
typedef struct hep_decoded {
    hep_msg_t msg;
    uint32_t chunks_seen; /* bit n set: generic chunk n present (n < 32) */
    unsigned unknown_chunks;
} hep_decoded_t;

/* Strict decode of one packet of exactly len bytes (a UDP datagram, or a
 * frame cut from a stream by hep_frame_length). Duplicate chunks: the last
 * one wins. Returns 0 or HA_EINVAL with the reason in err. */
int hep_decode(const uint8_t *buf, size_t len, hep_decoded_t *out, char *err, size_t errlen);

/* Stream framing: the total length of the packet at buf when its header is
 * complete (6 bytes), 0 when more bytes are needed, HA_EINVAL when the bytes
 * are not a HEP3 header (bad magic or length below 6). */
int hep_frame_length(const uint8_t *buf, size_t len);

#endif

/* HEPv3 encoder and decoder. The encoder writes heplify's chunk order with
 * exact fixed-size chunks (heplify-server rejects anything else) and puts the
 * payload last, so Kamailio's C-string read of the correlation id stays in
 * bounds. The decoder trusts nothing: every chunk is checked against the
 * packet and fixed-size chunks against their size. */
#include "hepagent/hep.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    uint8_t *out;
    size_t cap;
    size_t len;
} hep_writer_t;

static void hep_chunk(hep_writer_t *w, uint16_t type, const void *data, size_t n)
{
    size_t total = HEP_CHUNK_HEADER_LEN + n;
    if (w->len + total > w->cap || total > 0xffff) {
        w->len = SIZE_MAX; /* poisoned: too big */
        return;
    }
    uint8_t *p = w->out + w->len;
    put_be16(p, 0x0000);
    put_be16(p + 2, type);
    put_be16(p + 4, (uint16_t)total);
    if (n) memcpy(p + 6, data, n);
    w->len += total;
}

static void hep_chunk_u8(hep_writer_t *w, uint16_t type, uint8_t v)
{
    hep_chunk(w, type, &v, 1);
}

static void hep_chunk_u16(hep_writer_t *w, uint16_t type, uint16_t v)
{
    uint8_t b[2];
    put_be16(b, v);
    hep_chunk(w, type, b, 2);
}

static void hep_chunk_u32(hep_writer_t *w, uint16_t type, uint32_t v)
{
    uint8_t b[4];
    put_be32(b, v);
    hep_chunk(w, type, b, 4);
}

int hep_encode(const hep_msg_t *msg, uint8_t *out, size_t cap, size_t max_len)
{
    if (cap > max_len) cap = max_len;
    if (cap < HEP_HEADER_LEN) return HA_ETOOBIG;
    hep_writer_t w = {.out = out, .cap = cap, .len = HEP_HEADER_LEN};
    int v6 = msg->ip_version == 6;
    hep_chunk_u8(&w, HEP_CHUNK_IP_FAMILY, v6 ? HEP_FAMILY_IPV6 : HEP_FAMILY_IPV4);
    hep_chunk_u8(&w, HEP_CHUNK_IP_PROTO, msg->ip_proto);
    hep_chunk(&w, v6 ? HEP_CHUNK_IPV6_SRC : HEP_CHUNK_IPV4_SRC, msg->src_addr, v6 ? 16 : 4);
    hep_chunk(&w, v6 ? HEP_CHUNK_IPV6_DST : HEP_CHUNK_IPV4_DST, msg->dst_addr, v6 ? 16 : 4);
    hep_chunk_u16(&w, HEP_CHUNK_SRC_PORT, msg->src_port);
    hep_chunk_u16(&w, HEP_CHUNK_DST_PORT, msg->dst_port);
    hep_chunk_u32(&w, HEP_CHUNK_TS_SEC, msg->ts_sec);
    hep_chunk_u32(&w, HEP_CHUNK_TS_USEC, msg->ts_usec);
    hep_chunk_u8(&w, HEP_CHUNK_PROTO_TYPE, msg->proto_type);
    hep_chunk_u32(&w, HEP_CHUNK_CAPTURE_ID, msg->capture_id);
    if (msg->auth_key.len) hep_chunk(&w, HEP_CHUNK_AUTH_KEY, msg->auth_key.ptr, msg->auth_key.len);
    if (msg->correlation_id.len)
        hep_chunk(&w, HEP_CHUNK_CORRELATION_ID, msg->correlation_id.ptr, msg->correlation_id.len);
    if (msg->has_vlan) hep_chunk_u16(&w, HEP_CHUNK_VLAN, msg->vlan);
    if (msg->node_name.len)
        hep_chunk(&w, HEP_CHUNK_NODE_NAME, msg->node_name.ptr, msg->node_name.len);
    hep_chunk(&w, msg->payload_compressed ? HEP_CHUNK_PAYLOAD_ZLIB : HEP_CHUNK_PAYLOAD,
              msg->payload.ptr, msg->payload.len);
    if (w.len == SIZE_MAX || w.len > HEP_MAX_PACKET) return HA_ETOOBIG;
    memcpy(out, "HEP3", 4);
    put_be16(out + 4, (uint16_t)w.len);
    return (int)w.len;
}

int hep_swap_payload(const uint8_t *pkt, size_t len, size_t chunk_off, uint16_t type,
                     ha_bytes_t data, uint8_t *out, size_t cap)
{
    size_t old = be16(pkt + chunk_off + 4);
    size_t rest = len - chunk_off - old;
    size_t total = chunk_off + HEP_CHUNK_HEADER_LEN + data.len + rest;
    if (total > cap || total > HEP_MAX_PACKET || HEP_CHUNK_HEADER_LEN + data.len > 0xffff)
        return HA_ETOOBIG;
    memcpy(out, pkt, chunk_off);
    uint8_t *c = out + chunk_off;
    put_be16(c, 0x0000);
    put_be16(c + 2, type);
    put_be16(c + 4, (uint16_t)(HEP_CHUNK_HEADER_LEN + data.len));
    memcpy(c + HEP_CHUNK_HEADER_LEN, data.ptr, data.len);
    memcpy(c + HEP_CHUNK_HEADER_LEN + data.len, pkt + chunk_off + old, rest);
    put_be16(out + 4, (uint16_t)total);
    return (int)total;
}

int hep_frame_length(const uint8_t *buf, size_t len)
{
    size_t n = HA_MIN(len, (size_t)4);
    if (memcmp(buf, "HEP3", n) != 0) return HA_EINVAL;
    if (len < HEP_HEADER_LEN) return 0;
    uint16_t total = be16(buf + 4);
    if (total < HEP_HEADER_LEN) return HA_EINVAL;
    return total;
}

static int hep_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int hep_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return HA_EINVAL;
}

void hep_msg_set(hep_msg_t *m, unsigned type, const uint8_t *d, size_t n)
{
    switch (type) {
    case HEP_CHUNK_IP_FAMILY:
        m->ip_version = d[0] == HEP_FAMILY_IPV6 ? 6 : 4;
        break;
    case HEP_CHUNK_IP_PROTO:
        m->ip_proto = d[0];
        break;
    case HEP_CHUNK_IPV4_SRC:
    case HEP_CHUNK_IPV6_SRC:
        memset(m->src_addr, 0, sizeof(m->src_addr));
        memcpy(m->src_addr, d, n);
        break;
    case HEP_CHUNK_IPV4_DST:
    case HEP_CHUNK_IPV6_DST:
        memset(m->dst_addr, 0, sizeof(m->dst_addr));
        memcpy(m->dst_addr, d, n);
        break;
    case HEP_CHUNK_SRC_PORT:
        m->src_port = be16(d);
        break;
    case HEP_CHUNK_DST_PORT:
        m->dst_port = be16(d);
        break;
    case HEP_CHUNK_TS_SEC:
        m->ts_sec = be32(d);
        break;
    case HEP_CHUNK_TS_USEC:
        m->ts_usec = be32(d);
        break;
    case HEP_CHUNK_PROTO_TYPE:
        m->proto_type = d[0];
        break;
    case HEP_CHUNK_CAPTURE_ID:
        m->capture_id = be32(d);
        break;
    case HEP_CHUNK_AUTH_KEY:
        m->auth_key = (ha_bytes_t){d, n};
        break;
    case HEP_CHUNK_PAYLOAD:
    case HEP_CHUNK_PAYLOAD_ZLIB:
        m->payload = (ha_bytes_t){d, n};
        m->payload_compressed = type == HEP_CHUNK_PAYLOAD_ZLIB;
        break;
    case HEP_CHUNK_CORRELATION_ID:
        m->correlation_id = (ha_bytes_t){d, n};
        break;
    case HEP_CHUNK_VLAN:
        m->has_vlan = 1;
        m->vlan = be16(d);
        break;
    case HEP_CHUNK_NODE_NAME:
        m->node_name = (ha_bytes_t){d, n};
        break;
    default:
        break;
    }
}

int hep_decode(const uint8_t *buf, size_t len, hep_decoded_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    hep_msg_t *m = &out->msg;
    if (len < HEP_HEADER_LEN || memcmp(buf, "HEP3", 4) != 0)
        return hep_fail(err, errlen, "not a HEP3 packet (bad magic, or only %zu bytes)", len);
    size_t total = be16(buf + 4);
    if (total != len)
        return hep_fail(err, errlen, "total length %zu does not match the %zu bytes received",
                        total, len);
    size_t off = HEP_HEADER_LEN;
    while (off < len) {
        if (len - off < HEP_CHUNK_HEADER_LEN)
            return hep_fail(err, errlen, "chunk header at offset %zu runs past the end (%zu)", off,
                            len);
        uint16_t vendor = be16(buf + off);
        uint16_t type = be16(buf + off + 2);
        size_t clen = be16(buf + off + 4);
        if (clen < HEP_CHUNK_HEADER_LEN)
            return hep_fail(err, errlen, "chunk at offset %zu has length %zu (< 6)", off, clen);
        if (clen > len - off)
            return hep_fail(err, errlen, "chunk at offset %zu (length %zu) runs past the end", off,
                            clen);
        const uint8_t *d = buf + off + HEP_CHUNK_HEADER_LEN;
        size_t n = clen - HEP_CHUNK_HEADER_LEN;
        off += clen;
        if (vendor != 0 || type >= 32) {
            out->unknown_chunks++;
            continue;
        }
        /* fixed sizes, as heplify-server enforces them */
        size_t want = 0;
        switch (type) {
        case HEP_CHUNK_IP_FAMILY:
        case HEP_CHUNK_IP_PROTO:
        case HEP_CHUNK_PROTO_TYPE:
            want = 1;
            break;
        case HEP_CHUNK_SRC_PORT:
        case HEP_CHUNK_DST_PORT:
        case HEP_CHUNK_KEEPALIVE:
        case HEP_CHUNK_VLAN:
            want = 2;
            break;
        case HEP_CHUNK_IPV4_SRC:
        case HEP_CHUNK_IPV4_DST:
        case HEP_CHUNK_TS_SEC:
        case HEP_CHUNK_TS_USEC:
        case HEP_CHUNK_CAPTURE_ID:
            want = 4;
            break;
        case HEP_CHUNK_IPV6_SRC:
        case HEP_CHUNK_IPV6_DST:
            want = 16;
            break;
        default:
            break;
        }
        if (want && n != want)
            return hep_fail(err, errlen, "chunk type %u has %zu bytes of data", (unsigned)type, n);
        out->chunks_seen |= 1u << type;
        if (type == HEP_CHUNK_IP_FAMILY && d[0] != HEP_FAMILY_IPV4 && d[0] != HEP_FAMILY_IPV6)
            return hep_fail(err, errlen, "IP family %u is not 2 or 10", (unsigned)d[0]);
        if ((type == HEP_CHUNK_PAYLOAD || type == HEP_CHUNK_PAYLOAD_ZLIB) && n == 0)
            return hep_fail(err, errlen, "empty payload chunk");
        hep_msg_set(m, type, d, n);
    }
    /* the chunks every receiver needs */
    static const uint8_t required[] = {HEP_CHUNK_IP_FAMILY, HEP_CHUNK_IP_PROTO,
                                       HEP_CHUNK_SRC_PORT,  HEP_CHUNK_DST_PORT,
                                       HEP_CHUNK_TS_SEC,    HEP_CHUNK_PROTO_TYPE};
    for (size_t i = 0; i < sizeof(required); i++)
        if (!(out->chunks_seen & (1u << required[i])))
            return hep_fail(err, errlen, "required chunk type %u is missing",
                            (unsigned)required[i]);
    if (m->proto_type == 0) return hep_fail(err, errlen, "protocol type 0 is reserved");
    uint32_t v4 = (1u << HEP_CHUNK_IPV4_SRC) | (1u << HEP_CHUNK_IPV4_DST);
    uint32_t v6 = (1u << HEP_CHUNK_IPV6_SRC) | (1u << HEP_CHUNK_IPV6_DST);
    uint32_t want = m->ip_version == 6 ? v6 : v4;
    if ((out->chunks_seen & want) != want)
        return hep_fail(err, errlen, "addresses missing for IP family %u",
                        m->ip_version == 6 ? 10u : 2u);
    if (!m->payload.len) return hep_fail(err, errlen, "no payload chunk");
    return HA_OK;
}

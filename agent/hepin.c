/* Received HEP, checked byte by byte before anything acts on it, and the
 * writer that relays a packet again. Decisions are in hepin.h. The checks
 * run in one pass over the chunks; nothing is allocated. */
#include "hepagent/hepin.h"
#include "hepagent/sip.h"

#include <string.h>

static const char *const hepin_names[] = {"ok",
#define HEPIN_NAME(name, help) #name,
                                          HEPIN_REASONS(HEPIN_NAME)
#undef HEPIN_NAME
};

static const char *const hepin_helps[] = {"received packets that passed every check",
#define HEPIN_HELP(name, help) help,
                                          HEPIN_REASONS(HEPIN_HELP)
#undef HEPIN_HELP
};

const char *hepin_result_name(hepin_result_t r)
{
    return (unsigned)r < HEPIN_RESULT_COUNT ? hepin_names[r] : "?";
}

const char *hepin_result_help(hepin_result_t r)
{
    return (unsigned)r < HEPIN_RESULT_COUNT ? hepin_helps[r] : "?";
}

/* The data size of the generic chunks of a fixed type (spec rev. 37), 0
 * for variable ones. */
static size_t hepin_fixed_size(unsigned type)
{
    switch (type) {
    case HEP_CHUNK_IP_FAMILY:
    case HEP_CHUNK_IP_PROTO:
    case HEP_CHUNK_PROTO_TYPE:
    case 0x0017: /* TCP flags */
    case 0x0018: /* IP TOS */
        return 1;
    case HEP_CHUNK_SRC_PORT:
    case HEP_CHUNK_DST_PORT:
    case HEP_CHUNK_KEEPALIVE:
    case HEP_CHUNK_VLAN:
    case 0x0016: /* Ethernet type */
    case 0x0020: /* MOS */
    case 0x0021: /* R-factor */
    case 0x0027: /* tag type */
    case 0x0028: /* event type */
        return 2;
    case HEP_CHUNK_IPV4_SRC:
    case HEP_CHUNK_IPV4_DST:
    case HEP_CHUNK_TS_SEC:
    case HEP_CHUNK_TS_USEC:
    case HEP_CHUNK_CAPTURE_ID:
    case 0x0023: /* jitter */
        return 4;
    case 0x0014: /* source MAC */
    case 0x0015: /* destination MAC */
        return 8;
    case HEP_CHUNK_IPV6_SRC:
    case HEP_CHUNK_IPV6_DST:
        return 16;
    default:
        return 0;
    }
}

#define BIT(t) ((uint64_t)1 << (t))

/* What the chunks add up to: the requirements of hepin.h. */
static hepin_result_t hepin_check_whole(const hepin_packet_t *p)
{
    static const uint8_t required[] = {HEP_CHUNK_IP_FAMILY, HEP_CHUNK_IP_PROTO,
                                       HEP_CHUNK_SRC_PORT,  HEP_CHUNK_DST_PORT,
                                       HEP_CHUNK_TS_SEC,    HEP_CHUNK_PROTO_TYPE};
    for (size_t i = 0; i < sizeof(required); i++)
        if (!hepin_has(p, required[i])) return HEPIN_missing_chunk;
    const hep_msg_t *m = &p->msg;
    uint64_t v4 = BIT(HEP_CHUNK_IPV4_SRC) | BIT(HEP_CHUNK_IPV4_DST);
    uint64_t v6 = BIT(HEP_CHUNK_IPV6_SRC) | BIT(HEP_CHUNK_IPV6_DST);
    uint64_t want = m->ip_version == 6 ? v6 : v4, other = m->ip_version == 6 ? v4 : v6;
    if (p->seen & other) return HEPIN_bad_addresses;
    if ((p->seen & want) != want) return HEPIN_missing_chunk;
    int plain = hepin_has(p, HEP_CHUNK_PAYLOAD), packed = hepin_has(p, HEP_CHUNK_PAYLOAD_ZLIB);
    if (plain && packed) return HEPIN_two_payloads;
    if (!plain && !packed) return HEPIN_missing_chunk;
    if (m->proto_type == 0) return HEPIN_proto_type_zero;
    if (hepin_has(p, HEP_CHUNK_TS_USEC) && m->ts_usec > 999999) return HEPIN_bad_usec;
    return HEPIN_OK;
}

static hepin_result_t hepin_decode_v3(const uint8_t *buf, size_t len, hepin_packet_t *out)
{
    if (len < HEP_HEADER_LEN) return HEPIN_too_short;
    if (be16(buf + 4) != len) return HEPIN_length_mismatch;
    hep_msg_t *m = &out->msg;
    out->raw = buf;
    out->raw_len = len;
    size_t off = HEP_HEADER_LEN;
    while (off < len) {
        if (len - off < HEP_CHUNK_HEADER_LEN) return HEPIN_chunk_overrun;
        uint16_t vendor = be16(buf + off);
        uint16_t type = be16(buf + off + 2);
        size_t clen = be16(buf + off + 4);
        if (clen < HEP_CHUNK_HEADER_LEN) return HEPIN_chunk_too_short;
        if (clen > len - off) return HEPIN_chunk_overrun;
        const uint8_t *d = buf + off + HEP_CHUNK_HEADER_LEN;
        size_t n = clen - HEP_CHUNK_HEADER_LEN;
        size_t at = off;
        off += clen;
        if (vendor != 0 || type >= 64) {
            if (vendor == HEPIN_VENDOR_HEPAGENT && type == HEPIN_CHUNK_RELAY_PATH) {
                if (n % 4 || out->relay_path.ptr) return HEPIN_chunk_bad_size;
                out->relay_path = (ha_bytes_t){d, n};
            } else {
                out->vendor_chunks++;
            }
            continue;
        }
        if (out->seen & BIT(type)) return HEPIN_chunk_duplicate;
        out->seen |= BIT(type);
        size_t want = hepin_fixed_size(type);
        if (want && n != want) return HEPIN_chunk_bad_size;
        if (type == HEP_CHUNK_IP_FAMILY && d[0] != HEP_FAMILY_IPV4 && d[0] != HEP_FAMILY_IPV6)
            return HEPIN_bad_family;
        if (type == HEP_CHUNK_PAYLOAD || type == HEP_CHUNK_PAYLOAD_ZLIB) {
            if (n == 0) return HEPIN_empty_payload;
            out->payload_off = at;
        }
        hep_msg_set(m, type, d, n);
    }
    return hepin_check_whole(out);
}

/* HEPv1/v2 (captagent, Kamailio siptrace, sngrep, OpenSIPS): a fixed header
 * of version, header length, family, protocol and ports (network order),
 * the two addresses, in v2 the time and a 16-bit capture id (in the
 * sender's byte order: little-endian on every platform these agents run
 * on, as Kamailio's own reader assumes), then the SIP message. The length
 * byte is left alone: senders fill it differently (sngrep puts the low
 * byte of the total length there), so offsets follow from the family, as
 * Kamailio reads them. */
static hepin_result_t hepin_decode_v2(const uint8_t *buf, size_t len, uint64_t recv_sec,
                                      uint32_t recv_usec, uint8_t *conv, hepin_packet_t *out)
{
    if (len < HEPIN_V2_HEADER) return HEPIN_too_short;
    uint8_t family = buf[2];
    if (family != HEP_FAMILY_IPV4 && family != HEP_FAMILY_IPV6) return HEPIN_bad_family;
    size_t alen = family == HEP_FAMILY_IPV6 ? 16 : 4;
    size_t off = HEPIN_V2_HEADER + 2 * alen + (buf[0] == 2 ? HEPIN_V2_TIME : 0);
    if (len <= off) return HEPIN_v2_truncated;
    hep_msg_t m;
    memset(&m, 0, sizeof(m));
    m.ip_version = family == HEP_FAMILY_IPV6 ? 6 : 4;
    m.ip_proto = buf[3];
    m.src_port = be16(buf + 4);
    m.dst_port = be16(buf + 6);
    memcpy(m.src_addr, buf + HEPIN_V2_HEADER, alen);
    memcpy(m.dst_addr, buf + HEPIN_V2_HEADER + alen, alen);
    if (buf[0] == 2) {
        const uint8_t *t = buf + HEPIN_V2_HEADER + 2 * alen;
        m.ts_sec = le32(t);
        m.ts_usec = le32(t + 4);
        m.capture_id = le16(t + 8);
        if (m.ts_usec > 999999) return HEPIN_bad_usec;
    } else {
        m.ts_sec = (uint32_t)recv_sec;
        m.ts_usec = recv_usec;
    }
    m.proto_type = HEP_PROTO_TYPE_SIP; /* v1 and v2 carried SIP only */
    m.payload = (ha_bytes_t){buf + off, len - off};
    /* without a magic, a SIP start line is what tells v2 from stray bytes
     * that happen to begin with 1 or 2 */
    if (sip_probe_start_line(m.payload.ptr, m.payload.len) != SIP_OK) return HEPIN_v2_not_sip;
    sip_msg_t sip;
    if (sip_parse(m.payload.ptr, m.payload.len, &sip) == SIP_OK) m.correlation_id = sip.call_id;
    int n = hep_encode(&m, conv, HEP_MAX_PACKET, HEP_MAX_PACKET);
    if (n < 0) return HEPIN_v2_too_big;
    hepin_result_t r = hepin_decode_v3(conv, (size_t)n, out);
    out->version = buf[0];
    return r;
}

hepin_result_t hepin_decode(const uint8_t *buf, size_t len, uint64_t recv_sec, uint32_t recv_usec,
                            uint8_t *conv, hepin_packet_t *out)
{
    memset(out, 0, sizeof(*out));
    if (len < 4) return HEPIN_too_short;
    if ((buf[0] == 'H' || buf[0] == 'E') && memcmp(buf + 1, "EP3", 3) == 0) {
        out->version = 3;
        return hepin_decode_v3(buf, len, out);
    }
    if (buf[0] == 1 || buf[0] == 2)
        return hepin_decode_v2(buf, len, recv_sec, recv_usec, conv, out);
    return HEPIN_bad_magic;
}

size_t hepin_path_hops(const hepin_packet_t *p)
{
    return p->relay_path.len / 4;
}

int hepin_path_contains(const hepin_packet_t *p, uint32_t id)
{
    for (size_t i = 0; i + 4 <= p->relay_path.len; i += 4)
        if (be32(p->relay_path.ptr + i) == id) return 1;
    return 0;
}

/* ---- the writer --------------------------------------------------------- */

typedef struct {
    uint8_t *out;
    size_t cap;
    size_t len;
    int full;
} hepin_writer_t;

static uint8_t *hepin_reserve(hepin_writer_t *w, size_t n)
{
    if (w->full || n > w->cap - w->len) {
        w->full = 1;
        return NULL;
    }
    uint8_t *p = w->out + w->len;
    w->len += n;
    return p;
}

static void hepin_put(hepin_writer_t *w, const uint8_t *bytes, size_t n)
{
    uint8_t *p = hepin_reserve(w, n);
    if (p && n) memcpy(p, bytes, n);
}

/* A chunk header then its data in up to two pieces. */
static void hepin_chunk(hepin_writer_t *w, uint16_t vendor, uint16_t type, ha_bytes_t a,
                        ha_bytes_t b)
{
    size_t total = HEP_CHUNK_HEADER_LEN + a.len + b.len;
    if (total > 0xffff) {
        w->full = 1;
        return;
    }
    uint8_t *p = hepin_reserve(w, HEP_CHUNK_HEADER_LEN);
    if (!p) return;
    put_be16(p, vendor);
    put_be16(p + 2, type);
    put_be16(p + 4, (uint16_t)total);
    hepin_put(w, a.ptr, a.len);
    hepin_put(w, b.ptr, b.len);
}

static void hepin_generic(hepin_writer_t *w, uint16_t type, ha_bytes_t data)
{
    hepin_chunk(w, 0, type, data, (ha_bytes_t){NULL, 0});
}

static void hepin_path(hepin_writer_t *w, ha_bytes_t path, uint32_t id)
{
    uint8_t b[4];
    put_be32(b, id);
    hepin_chunk(w, HEPIN_VENDOR_HEPAGENT, HEPIN_CHUNK_RELAY_PATH, path, (ha_bytes_t){b, 4});
}

/* The chunks the rewrite adds because the packet lacks them. */
static void hepin_add_missing(hepin_writer_t *w, const hepin_packet_t *p, const hepin_rewrite_t *rw,
                              const uint8_t *capture_id)
{
    if (rw->set_capture_id && !hepin_has(p, HEP_CHUNK_CAPTURE_ID))
        hepin_generic(w, HEP_CHUNK_CAPTURE_ID, (ha_bytes_t){capture_id, 4});
    if (rw->auth == HEPIN_AUTH_REPLACE && !hepin_has(p, HEP_CHUNK_AUTH_KEY))
        hepin_generic(w, HEP_CHUNK_AUTH_KEY, rw->auth_key);
    if (!hepin_has(p, HEP_CHUNK_CORRELATION_ID) &&
        (rw->correlation_new.len || rw->correlation_id.len))
        hepin_generic(w, HEP_CHUNK_CORRELATION_ID,
                      rw->correlation_new.len ? rw->correlation_new : rw->correlation_id);
    if (rw->node_name.len && !hepin_has(p, HEP_CHUNK_NODE_NAME))
        hepin_generic(w, HEP_CHUNK_NODE_NAME, rw->node_name);
    if (rw->relay_id && !p->relay_path.ptr) hepin_path(w, (ha_bytes_t){NULL, 0}, rw->relay_id);
}

int hepin_rewrite(const hepin_packet_t *p, const hepin_rewrite_t *rw, uint8_t *out, size_t cap,
                  size_t *payload_off)
{
    if (cap > HEP_MAX_PACKET) cap = HEP_MAX_PACKET;
    hepin_writer_t w = {.out = out, .cap = cap};
    uint8_t capture_id[4];
    put_be32(capture_id, rw->capture_id);
    hepin_reserve(&w, HEP_HEADER_LEN);
    *payload_off = 0;
    for (size_t off = HEP_HEADER_LEN; off < p->raw_len && !w.full;) {
        const uint8_t *c = p->raw + off;
        uint16_t vendor = be16(c), type = be16(c + 2);
        size_t clen = be16(c + 4);
        ha_bytes_t data = {c + HEP_CHUNK_HEADER_LEN, clen - HEP_CHUNK_HEADER_LEN};
        off += clen;
        if (vendor == HEPIN_VENDOR_HEPAGENT && type == HEPIN_CHUNK_RELAY_PATH && rw->relay_id) {
            hepin_path(&w, data, rw->relay_id);
            continue;
        }
        if (vendor != 0) {
            hepin_put(&w, c, clen);
            continue;
        }
        switch (type) {
        case HEP_CHUNK_CAPTURE_ID:
            if (rw->set_capture_id) data = (ha_bytes_t){capture_id, 4};
            break;
        case HEP_CHUNK_NODE_NAME:
            if (rw->node_name.len) data = rw->node_name;
            break;
        case HEP_CHUNK_CORRELATION_ID:
            if (rw->correlation_new.len) data = rw->correlation_new;
            break;
        case HEP_CHUNK_AUTH_KEY:
            if (rw->auth == HEPIN_AUTH_STRIP) continue;
            if (rw->auth == HEPIN_AUTH_REPLACE) data = rw->auth_key;
            break;
        case HEP_CHUNK_PAYLOAD:
        case HEP_CHUNK_PAYLOAD_ZLIB:
            hepin_add_missing(&w, p, rw, capture_id);
            *payload_off = w.len;
            if (rw->payload) {
                hepin_generic(&w, HEP_CHUNK_PAYLOAD, *rw->payload);
                continue;
            }
            break;
        default:
            break;
        }
        hepin_generic(&w, type, data);
    }
    if (w.full) return HA_ETOOBIG;
    memcpy(out, "HEP3", 4);
    put_be16(out + 4, (uint16_t)w.len);
    return (int)w.len;
}

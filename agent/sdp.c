/* SDP reading for media tracking (RFC 4566, RFC 3605 a=rtcp, RFC 5761
 * a=rtcp-mux, RFC 3264 directions and hold) and finding the SDP body of a
 * SIP message (RFC 3261 Content-Type, RFC 2046 multipart). Lines may end in
 * CRLF or a bare LF; every index is checked against the length. */
#include "hepagent/sdp.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

static const char *const sdp_result_names[SDP_RESULT_COUNT] = {
    "ok", "no_body", "bad_version", "bad_line", "bad_media", "bad_address",
};

const char *sdp_result_name(sdp_result_t r)
{
    return (unsigned)r < SDP_RESULT_COUNT ? sdp_result_names[r] : "unknown";
}

/* ---- small text helpers ------------------------------------------------- */

static int sdp_is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static ha_bytes_t sdp_trim(const uint8_t *p, size_t n)
{
    while (n > 0 && (sdp_is_ws(p[0]) || p[0] == '\r' || p[0] == '\n'))
        p++, n--;
    while (n > 0 && (sdp_is_ws(p[n - 1]) || p[n - 1] == '\r' || p[n - 1] == '\n'))
        n--;
    return (ha_bytes_t){p, n};
}

static int sdp_ieq(ha_bytes_t b, const char *s)
{
    size_t n = strlen(s);
    return b.len == n && strncasecmp((const char *)b.ptr, s, n) == 0;
}

static int sdp_eq(ha_bytes_t b, const char *s)
{
    size_t n = strlen(s);
    return b.len == n && memcmp(b.ptr, s, n) == 0;
}

/* The next whitespace-separated token of *rest (advanced past it). */
static ha_bytes_t sdp_token(ha_bytes_t *rest)
{
    size_t i = 0;
    while (i < rest->len && sdp_is_ws(rest->ptr[i]))
        i++;
    size_t start = i;
    while (i < rest->len && !sdp_is_ws(rest->ptr[i]))
        i++;
    ha_bytes_t tok = {rest->ptr + start, i - start};
    rest->ptr += i;
    rest->len -= i;
    return tok;
}

/* A decimal number of at most max; -1 when the token is not one. */
static int64_t sdp_number(ha_bytes_t t, int64_t max)
{
    if (t.len == 0 || t.len > 10) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < t.len; i++) {
        if (t.ptr[i] < '0' || t.ptr[i] > '9') return -1;
        v = v * 10 + (t.ptr[i] - '0');
    }
    return v > max ? -1 : v;
}

/* The line starting at *pos (without its CR/LF); *pos moves to the next. */
static ha_bytes_t sdp_next_line(const uint8_t *data, size_t len, size_t *pos)
{
    size_t start = *pos;
    const uint8_t *nl = memchr(data + start, '\n', len - start);
    size_t end = nl ? (size_t)(nl - data) : len;
    *pos = nl ? end + 1 : len;
    if (end > start && data[end - 1] == '\r') end--;
    return (ha_bytes_t){data + start, end - start};
}

/* ---- addresses ---------------------------------------------------------- */

/* "<nettype> <addrtype> <address>[/ttl[/count]]" into a; version stays 0
 * for a host name or an address type other than IP4/IP6. Returns 0, or -1
 * when the fields are missing. */
static int sdp_connection(ha_bytes_t v, sdp_addr_t *a)
{
    memset(a, 0, sizeof(*a));
    ha_bytes_t nettype = sdp_token(&v), addrtype = sdp_token(&v), address = sdp_token(&v);
    if (!nettype.len || !addrtype.len || !address.len) return -1;
    if (!sdp_ieq(nettype, "IN")) return 0;
    int version = sdp_ieq(addrtype, "IP4") ? 4 : sdp_ieq(addrtype, "IP6") ? 6 : 0;
    if (!version) return 0;
    const uint8_t *slash = memchr(address.ptr, '/', address.len);
    size_t n = slash ? (size_t)(slash - address.ptr) : address.len;
    char text[INET6_ADDRSTRLEN + 1];
    if (n == 0 || n >= sizeof(text)) return 0;
    memcpy(text, address.ptr, n);
    text[n] = '\0';
    if (inet_pton(version == 4 ? AF_INET : AF_INET6, text, a->addr) == 1)
        a->version = (uint8_t)version;
    return 0;
}

static int sdp_addr_is_zero(const sdp_addr_t *a)
{
    static const uint8_t zero[16];
    return a->version && memcmp(a->addr, zero, a->version == 4 ? 4 : 16) == 0;
}

/* ---- m= and a= ---------------------------------------------------------- */

static sdp_media_type_t sdp_media_type(ha_bytes_t t)
{
    static const struct {
        const char *name;
        sdp_media_type_t type;
    } types[] = {
        {"audio", SDP_MEDIA_AUDIO}, {"video", SDP_MEDIA_VIDEO},
        {"text", SDP_MEDIA_TEXT},   {"application", SDP_MEDIA_APPLICATION},
        {"image", SDP_MEDIA_IMAGE}, {"message", SDP_MEDIA_MESSAGE},
    };
    for (size_t i = 0; i < HA_ARRAY_LEN(types); i++)
        if (sdp_ieq(t, types[i].name)) return types[i].type;
    return SDP_MEDIA_OTHER;
}

/* "<media> <port>[/<count>] <proto> <fmt> ..." */
static sdp_result_t sdp_media_line(ha_bytes_t v, sdp_media_t *m)
{
    ha_bytes_t type = sdp_token(&v), port = sdp_token(&v), proto = sdp_token(&v);
    if (!type.len || !port.len || !proto.len) return SDP_BAD_MEDIA;
    const uint8_t *slash = memchr(port.ptr, '/', port.len);
    if (slash) port.len = (size_t)(slash - port.ptr);
    int64_t p = sdp_number(port, 65535);
    if (p < 0) return SDP_BAD_MEDIA;
    m->type = sdp_media_type(type);
    m->port = (uint16_t)p;
    /* RTP/AVP, RTP/AVPF, RTP/SAVP, RTP/SAVPF, UDP/TLS/RTP/SAVP(F), TCP/RTP/... */
    for (size_t i = 0; i + 3 <= proto.len; i++) {
        if ((i == 0 || proto.ptr[i - 1] == '/') &&
            strncasecmp((const char *)proto.ptr + i, "RTP", 3) == 0 &&
            (i + 3 == proto.len || proto.ptr[i + 3] == '/')) {
            m->rtp = 1;
            ha_bytes_t profile = {proto.ptr + i + 3, proto.len - i - 3};
            m->srtp = memmem(profile.ptr, profile.len, "SAVP", 4) != NULL;
        }
    }
    return SDP_OK;
}

/* "<pt> <encoding>/<clock>[/<params>]" */
static void sdp_rtpmap_line(ha_bytes_t v, sdp_media_t *m, sdp_t *sdp)
{
    ha_bytes_t pt = sdp_token(&v), enc = sdp_token(&v);
    int64_t n = sdp_number(pt, 127);
    if (n < 0 || !enc.len) return;
    const uint8_t *slash = memchr(enc.ptr, '/', enc.len);
    if (!slash) return;
    ha_bytes_t name = {enc.ptr, (size_t)(slash - enc.ptr)};
    ha_bytes_t rest = {slash + 1, enc.len - name.len - 1};
    const uint8_t *slash2 = memchr(rest.ptr, '/', rest.len);
    if (slash2) rest.len = (size_t)(slash2 - rest.ptr);
    int64_t clock = sdp_number(rest, UINT32_MAX);
    if (clock <= 0 || name.len == 0 || name.len > SDP_MAX_CODEC_LEN) return;
    sdp_rtpmap_t *r = NULL;
    for (uint8_t i = 0; i < m->rtpmap_count; i++)
        if (m->rtpmap[i].payload_type == n) r = &m->rtpmap[i]; /* a repeat replaces */
    if (!r) {
        if (m->rtpmap_count >= SDP_MAX_RTPMAP) {
            if (sdp->rtpmap_dropped < UINT8_MAX) sdp->rtpmap_dropped++;
            return;
        }
        r = &m->rtpmap[m->rtpmap_count++];
    }
    r->payload_type = (uint8_t)n;
    r->clock_rate = (uint32_t)clock;
    memcpy(r->codec, name.ptr, name.len);
    r->codec[name.len] = '\0';
}

/* Per-section state while reading: what the lines said, resolved at the end. */
typedef struct {
    sdp_addr_t addr;
    uint8_t has_addr;
    sdp_direction_t direction;
    uint8_t has_direction;
    int32_t rtcp_port; /* -1: no a=rtcp */
    sdp_addr_t rtcp_addr;
} sdp_section_t;

static int sdp_direction(ha_bytes_t name, sdp_direction_t *d)
{
    static const char *const names[] = {"sendrecv", "sendonly", "recvonly", "inactive"};
    for (size_t i = 0; i < HA_ARRAY_LEN(names); i++) {
        if (sdp_eq(name, names[i])) {
            *d = (sdp_direction_t)i;
            return 1;
        }
    }
    return 0;
}

static void sdp_attribute(ha_bytes_t v, sdp_section_t *sec, sdp_media_t *m, sdp_t *sdp)
{
    const uint8_t *colon = memchr(v.ptr, ':', v.len);
    ha_bytes_t name = {v.ptr, colon ? (size_t)(colon - v.ptr) : v.len};
    ha_bytes_t value =
        colon ? (ha_bytes_t){colon + 1, v.len - name.len - 1} : (ha_bytes_t){v.ptr, 0};
    name = sdp_trim(name.ptr, name.len);
    sdp_direction_t d;
    if (!colon && sdp_direction(name, &d)) {
        sec->direction = d;
        sec->has_direction = 1;
        return;
    }
    if (!m) return; /* the rest only mean something for a stream */
    if (!colon && sdp_eq(name, "rtcp-mux")) {
        m->rtcp_mux = 1;
    } else if (colon && sdp_eq(name, "rtpmap")) {
        sdp_rtpmap_line(value, m, sdp);
    } else if (colon && sdp_eq(name, "rtcp")) {
        ha_bytes_t port = sdp_token(&value);
        int64_t p = sdp_number(port, 65535);
        if (p <= 0) return;
        sec->rtcp_port = (int32_t)p;
        sdp_addr_t a;
        if (sdp_connection(value, &a) == 0 && a.version) sec->rtcp_addr = a;
    }
}

/* Fills in what a section left to the session level or to defaults. */
static void sdp_resolve(sdp_media_t *m, const sdp_section_t *sec, const sdp_section_t *session)
{
    if (sec->has_addr)
        m->addr = sec->addr;
    else if (session->has_addr)
        m->addr = session->addr;
    m->hold = sdp_addr_is_zero(&m->addr);
    m->direction = sec->has_direction       ? sec->direction
                   : session->has_direction ? session->direction
                                            : SDP_SENDRECV;
    if (sec->rtcp_port > 0)
        m->rtcp_port = (uint16_t)sec->rtcp_port;
    else if (m->rtcp_mux)
        m->rtcp_port = m->port;
    else
        m->rtcp_port = m->port && m->port < 65535 ? (uint16_t)(m->port + 1) : 0;
    m->rtcp_addr = sec->rtcp_addr.version ? sec->rtcp_addr : m->addr;
}

sdp_result_t sdp_parse(const uint8_t *data, size_t len, sdp_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t pos = 0;
    /* leading blank lines are tolerated; the first line must be v=0 */
    ha_bytes_t line;
    do {
        if (pos >= len) return SDP_BAD_VERSION;
        line = sdp_next_line(data, len, &pos);
    } while (line.len == 0);
    if (!sdp_eq(sdp_trim(line.ptr, line.len), "v=0")) return SDP_BAD_VERSION;

    sdp_section_t session = {.rtcp_port = -1}, sec = {.rtcp_port = -1};
    sdp_media_t *m = NULL; /* the m= section being read, NULL at session level */
    sdp_media_t ignored;   /* sections beyond SDP_MAX_MEDIA are read into this */
    while (pos < len) {
        line = sdp_next_line(data, len, &pos);
        if (line.len == 0) continue;
        if (line.len < 2 || line.ptr[1] != '=' || line.ptr[0] < 'a' || line.ptr[0] > 'z')
            return SDP_BAD_LINE;
        ha_bytes_t v = sdp_trim(line.ptr + 2, line.len - 2);
        sdp_section_t *cur = m ? &sec : &session;
        switch (line.ptr[0]) {
        case 'm':
            if (m && m != &ignored) sdp_resolve(m, &sec, &session);
            if (out->media_count < SDP_MAX_MEDIA) {
                m = &out->media[out->media_count++];
            } else {
                if (out->media_dropped < UINT8_MAX) out->media_dropped++;
                m = &ignored;
            }
            memset(m, 0, sizeof(*m));
            memset(&sec, 0, sizeof(sec));
            sec.rtcp_port = -1;
            if (sdp_media_line(v, m) != SDP_OK) return SDP_BAD_MEDIA;
            break;
        case 'c':
            if (sdp_connection(v, &cur->addr) != 0) return SDP_BAD_ADDRESS;
            cur->has_addr = 1;
            break;
        case 'a':
            sdp_attribute(v, cur, m == &ignored ? NULL : m, out);
            break;
        default:
            break;
        }
    }
    if (m && m != &ignored) sdp_resolve(m, &sec, &session);
    return SDP_OK;
}

const sdp_rtpmap_t *sdp_media_rtpmap(const sdp_media_t *m, uint8_t payload_type)
{
    for (uint8_t i = 0; i < m->rtpmap_count; i++)
        if (m->rtpmap[i].payload_type == payload_type) return &m->rtpmap[i];
    return NULL;
}

/* ---- finding the body --------------------------------------------------- */

/* The headers of a section [pos, end) that matter here (values with their
 * continuation lines). Reading stops at the blank line; returns the offset
 * just after it, or end when there is none. */
typedef struct {
    ha_bytes_t content_type;
} sdp_part_headers_t;

static size_t sdp_headers(const uint8_t *data, size_t pos, size_t end, sdp_part_headers_t *h)
{
    memset(h, 0, sizeof(*h));
    while (pos < end) {
        size_t line = pos;
        if (sdp_next_line(data, end, &pos).len == 0) return pos; /* blank line: the body */
        while (pos < end && sdp_is_ws(data[pos]))                /* folded continuation */
            sdp_next_line(data, end, &pos);
        size_t stop = pos;
        const uint8_t *colon = memchr(data + line, ':', stop - line);
        if (!colon) continue;
        ha_bytes_t name = sdp_trim(data + line, (size_t)(colon - data) - line);
        ha_bytes_t value = sdp_trim(colon + 1, stop - (size_t)(colon - data) - 1);
        if (sdp_ieq(name, "Content-Type") || sdp_ieq(name, "c")) h->content_type = value;
    }
    return end;
}

/* The media type of a Content-Type value ("application/sdp"), and its
 * boundary parameter when asked for. */
static ha_bytes_t sdp_content_type(ha_bytes_t ct, ha_bytes_t *boundary)
{
    const uint8_t *semi = memchr(ct.ptr, ';', ct.len);
    ha_bytes_t type = sdp_trim(ct.ptr, semi ? (size_t)(semi - ct.ptr) : ct.len);
    if (boundary) *boundary = (ha_bytes_t){NULL, 0};
    while (boundary && semi) {
        ha_bytes_t rest = {semi + 1, ct.len - (size_t)(semi + 1 - ct.ptr)};
        semi = memchr(rest.ptr, ';', rest.len);
        ha_bytes_t param = sdp_trim(rest.ptr, semi ? (size_t)(semi - rest.ptr) : rest.len);
        const uint8_t *eq = memchr(param.ptr, '=', param.len);
        if (!eq) continue;
        ha_bytes_t name = sdp_trim(param.ptr, (size_t)(eq - param.ptr));
        if (!sdp_ieq(name, "boundary")) continue;
        ha_bytes_t value = sdp_trim(eq + 1, param.len - (size_t)(eq + 1 - param.ptr));
        if (value.len >= 2 && value.ptr[0] == '"' && value.ptr[value.len - 1] == '"')
            value = (ha_bytes_t){value.ptr + 1, value.len - 2};
        if (value.len > 0 && value.len <= 70) *boundary = value; /* RFC 2046: 1-70 chars */
    }
    return type;
}

static int sdp_is_multipart(ha_bytes_t type)
{
    return type.len > 10 && strncasecmp((const char *)type.ptr, "multipart/", 10) == 0;
}

static sdp_result_t sdp_in_body(const uint8_t *body, size_t len, ha_bytes_t ct, int depth,
                                ha_bytes_t *out);

/* The parts of a multipart body: delimiter lines "--boundary" at the start
 * of a line, the last one "--boundary--". A part's content ends at the line
 * break before the next delimiter. */
static sdp_result_t sdp_multipart(const uint8_t *body, size_t len, ha_bytes_t boundary, int depth,
                                  ha_bytes_t *out)
{
    uint8_t delim[74];
    delim[0] = delim[1] = '-';
    memcpy(delim + 2, boundary.ptr, boundary.len);
    size_t dlen = boundary.len + 2;
    size_t pos = 0;
    const uint8_t *part = NULL; /* start of the current part's headers */
    while (pos + dlen <= len) {
        const uint8_t *hit = memmem(body + pos, len - pos, delim, dlen);
        if (!hit) break;
        size_t at = (size_t)(hit - body);
        pos = at + dlen;
        if (at > 0 && body[at - 1] != '\n') continue; /* not at the start of a line */
        if (part) {
            size_t end = at;
            if (end > 0 && body[end - 1] == '\n') end--;
            if (end > 0 && body[end - 1] == '\r') end--;
            size_t start = (size_t)(part - body);
            if (end > start) {
                sdp_part_headers_t h;
                size_t content = sdp_headers(body, start, end, &h);
                if (h.content_type.len && sdp_in_body(body + content, end - content, h.content_type,
                                                      depth + 1, out) == SDP_OK)
                    return SDP_OK;
            }
        }
        if (pos + 2 <= len && body[pos] == '-' && body[pos + 1] == '-') return SDP_NO_BODY;
        /* the rest of the delimiter line (transport padding) */
        const uint8_t *nl = memchr(body + pos, '\n', len - pos);
        if (!nl) break;
        pos = (size_t)(nl - body) + 1;
        part = body + pos;
    }
    return SDP_NO_BODY;
}

static sdp_result_t sdp_in_body(const uint8_t *body, size_t len, ha_bytes_t ct, int depth,
                                ha_bytes_t *out)
{
    ha_bytes_t boundary;
    ha_bytes_t type = sdp_content_type(ct, &boundary);
    if (sdp_ieq(type, "application/sdp")) {
        if (len == 0) return SDP_NO_BODY;
        *out = (ha_bytes_t){body, len};
        return SDP_OK;
    }
    if (sdp_is_multipart(type) && boundary.len && depth < 3)
        return sdp_multipart(body, len, boundary, depth, out);
    return SDP_NO_BODY;
}

sdp_result_t sdp_find_body(const uint8_t *data, size_t len, const sip_msg_t *sip, ha_bytes_t *body)
{
    if (!sip->header_len || sip->header_len > len || sip->start_line_len > sip->header_len)
        return SDP_NO_BODY;
    sdp_part_headers_t h;
    sdp_headers(data, sip->start_line_len, sip->header_len, &h);
    if (!h.content_type.len) return SDP_NO_BODY;
    size_t n = len - sip->header_len;
    if (sip->content_length >= 0 && (uint64_t)sip->content_length < n)
        n = (size_t)sip->content_length;
    return sdp_in_body(data + sip->header_len, n, h.content_type, 0, body);
}

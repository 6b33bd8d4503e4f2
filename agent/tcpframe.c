/* SIP and WebSocket framing of in-order TCP bytes; see tcpframe.h. Data
 * that holds whole messages is framed where it lies, without a copy; only
 * a message's unfinished tail is kept in the framer's buffer, with the
 * capture time of each kept piece so a message carries the time of its
 * first byte. */
#include "hepagent/tcpframe.h"
#include "hepagent/rules.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    MODE_START,  /* first bytes of a stream: SIP, WebSocket upgrade, TLS or other */
    MODE_SIP,    /* SIP messages framed by Content-Length */
    MODE_WS,     /* WebSocket frames after an HTTP upgrade */
    MODE_TLS,    /* a TLS record: the owner takes the bytes from here */
    MODE_IGNORE, /* not SIP: ignored */
};

enum {
    HTTP_HEADER_MAX = 16384, /* an upgrade request or response larger than this is not one */
    WS_PROBE_BYTES = 512,    /* of a frame's payload, searched for a SIP start line */
};

/* What the framer reads: the data given or the framer's buffer. */
typedef struct {
    const uint8_t *p;
    size_t n;
    const tcpframe_mark_t *marks; /* NULL: every byte has the time (sec, usec) */
    unsigned nmarks;
    uint64_t sec;
    uint32_t usec;
} view_t;

void tcpframe_init(tcpframe_t *f, int from_start)
{
    memset(f, 0, sizeof(*f));
    f->mode = MODE_START;
    f->from_start = (uint8_t)from_start;
}

void tcpframe_clear(tcpframe_owner_t *o, tcpframe_t *f)
{
    o->memory -= f->cap + f->ws_cap;
    free(f->buf);
    free(f->ws);
    f->buf = f->ws = NULL;
    f->len = f->cap = f->ws_len = f->ws_cap = 0;
    f->nmarks = 0;
    f->need = f->skip = 0;
    f->ws_in_msg = 0;
}

int tcpframe_mid_message(const tcpframe_t *f)
{
    for (size_t i = 0; i < f->len; i++)
        if (f->buf[i] != '\r' && f->buf[i] != '\n') return 1;
    return f->ws_in_msg;
}

int tcpframe_is_tls(const tcpframe_t *f)
{
    return f->mode == MODE_TLS;
}

void tcpframe_ignore(tcpframe_t *f)
{
    f->mode = MODE_IGNORE;
}

/* ---- buffers ---------------------------------------------------------- */

static int buffer_grow(tcpframe_owner_t *o, tcpframe_t *f, uint8_t **buf, size_t *cap, size_t want)
{
    if (want <= *cap) return 1;
    size_t next = *cap ? *cap : 512;
    while (next < want)
        next *= 2;
    if (o->reserve && !o->reserve(o, f, next - *cap)) return 0;
    uint8_t *grown = realloc(*buf, next);
    if (!grown) return 0;
    o->memory += next - *cap;
    *buf = grown;
    *cap = next;
    return 1;
}

static void add_mark(tcpframe_t *f, size_t off, uint64_t sec, uint32_t usec)
{
    if (f->nmarks == TCPFRAME_MAX_MARKS) {
        /* keep the first (the current message's start); merge the second away */
        memmove(&f->marks[1], &f->marks[2], sizeof(tcpframe_mark_t) * (TCPFRAME_MAX_MARKS - 2));
        f->nmarks--;
    }
    f->marks[f->nmarks++] = (tcpframe_mark_t){off, sec, usec};
}

static void desync(tcpframe_owner_t *o, tcpframe_t *f)
{
    f->resync = 1;
    f->need = 0;
    o->stats.resyncs++;
}

/* Keeps bytes in the buffer; on failure the direction resynchronises. */
static int keep(tcpframe_owner_t *o, tcpframe_t *f, const uint8_t *data, size_t len, uint64_t sec,
                uint32_t usec)
{
    if (f->len + len > (size_t)o->max_message + 65536 ||
        !buffer_grow(o, f, &f->buf, &f->cap, f->len + len)) {
        o->stats.message_too_big++;
        f->len = 0;
        f->nmarks = 0;
        desync(o, f);
        return 0;
    }
    memcpy(f->buf + f->len, data, len);
    add_mark(f, f->len, sec, usec);
    f->len += len;
    return 1;
}

/* Drops the first `used` bytes of the buffer and rebases the marks. */
static void consume(tcpframe_owner_t *o, tcpframe_t *f, size_t used)
{
    if (used == 0) return;
    memmove(f->buf, f->buf + used, f->len - used);
    f->len -= used;
    unsigned k = 0;
    for (unsigned i = 0; i < f->nmarks; i++) {
        size_t end = i + 1 < f->nmarks ? f->marks[i + 1].off : SIZE_MAX;
        if (end <= used) continue; /* entirely consumed */
        tcpframe_mark_t m = f->marks[i];
        m.off = m.off > used ? m.off - used : 0;
        f->marks[k++] = m;
    }
    f->nmarks = f->len ? k : 0;
    /* give large buffers back once they are empty */
    if (f->len == 0 && f->cap > 16384) {
        o->memory -= f->cap;
        free(f->buf);
        f->buf = NULL;
        f->cap = 0;
    }
}

static void view_time(const view_t *v, size_t off, uint64_t *sec, uint32_t *usec)
{
    *sec = v->sec;
    *usec = v->usec;
    if (!v->marks) return;
    for (unsigned i = 0; i < v->nmarks && v->marks[i].off <= off; i++) {
        *sec = v->marks[i].sec;
        *usec = v->marks[i].usec;
    }
}

/* ---- framing ---------------------------------------------------------- */

/* Offset just past the end of the line containing off (or n). */
static size_t next_line(const view_t *v, size_t off)
{
    const uint8_t *nl = memchr(v->p + off, '\n', v->n - off);
    return nl ? (size_t)(nl - v->p) + 1 : v->n;
}

/* Whether p starts a WebSocket text or binary frame whose payload, unmasked,
 * starts with a SIP start line. That is how SIP over WebSocket is recognised
 * without its HTTP upgrade: a stream seen from the middle (hepagent started
 * while WebRTC clients stay connected for hours), or after a hole. */
static int ws_frame_starts_sip(const uint8_t *p, size_t avail)
{
    if (avail < 2 || (p[0] & 0x70) != 0) return 0;
    int opcode = p[0] & 0x0f;
    if (opcode != 1 && opcode != 2) return 0;
    uint64_t len = p[1] & 0x7f;
    size_t header = 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + ((p[1] & 0x80) ? 4 : 0);
    if (avail <= header) return 0;
    if (len == 126)
        len = be16(p + 2);
    else if (len == 127)
        len = ((uint64_t)be32(p + 2) << 32) | be32(p + 6);
    const uint8_t *mask = (p[1] & 0x80) ? p + header - 4 : NULL;
    size_t n = HA_MIN(avail - header, (size_t)WS_PROBE_BYTES);
    if (len < n) n = (size_t)len;
    uint8_t start[WS_PROBE_BYTES];
    for (size_t i = 0; i < n; i++)
        start[i] = mask ? p[header + i] ^ mask[i & 3] : p[header + i];
    return sip_probe_start_line(start, n) == SIP_OK;
}

/* Resync: find a line start where a SIP start line begins (or may begin, if
 * the data ends first), or a WebSocket frame carrying SIP right here (where a
 * piece of data starts). Returns the new offset; sets *wait when the data
 * ran out in the middle of a candidate line. */
static size_t frame_resync(tcpframe_owner_t *o, tcpframe_t *f, const view_t *v, size_t at,
                           int *wait)
{
    size_t start = at;
    if (ws_frame_starts_sip(v->p + at, v->n - at)) {
        o->stats.ws_resyncs++;
        f->resync = 0;
        f->mode = MODE_WS;
        return at;
    }
    for (size_t pos = at; pos < v->n; pos = next_line(v, pos)) {
        sip_result_t r = sip_probe_start_line(v->p + pos, v->n - pos);
        if (r == SIP_NOT_SIP) continue;
        o->stats.skipped_bytes += pos - start;
        if (r == SIP_OK) {
            f->resync = 0;
            f->mode = MODE_SIP;
        } else {
            *wait = 1;
        }
        return pos;
    }
    o->stats.skipped_bytes += v->n - start;
    return v->n;
}

static size_t skip_crlf(tcpframe_owner_t *o, const view_t *v, size_t at)
{
    size_t start = at;
    while (at < v->n && (v->p[at] == '\r' || v->p[at] == '\n'))
        at++;
    if (at > start && at < v->n) o->stats.keepalives++;
    return at;
}

static unsigned transport_of(const tcpframe_owner_t *o, unsigned plain)
{
    if (!o->secure) return plain;
    return plain == RULE_TRANSPORT_WS ? RULE_TRANSPORT_WSS : RULE_TRANSPORT_TLS;
}

static size_t frame_sip(tcpframe_owner_t *o, tcpframe_t *f, const packet_t *pkt, const view_t *v,
                        size_t at, int *wait)
{
    at = skip_crlf(o, v, at);
    if (at == v->n) return at;
    size_t avail = v->n - at;
    if (f->need && avail < f->need) {
        *wait = 1;
        return at;
    }
    sip_msg_t sip;
    sip_result_t r = sip_parse(v->p + at, avail, &sip);
    if (r == SIP_NOT_SIP) {
        desync(o, f);
        return next_line(v, at);
    }
    if (r == SIP_INCOMPLETE) {
        if (avail >= SIP_MAX_HEADER_BYTES || avail >= o->max_message) {
            o->stats.message_too_big++;
            desync(o, f);
            return next_line(v, at);
        }
        *wait = 1;
        return at;
    }
    if (sip.content_length == -2) {
        o->stats.bad_content_length++;
        desync(o, f);
        return next_line(v, at);
    }
    size_t total = sip.header_len + (size_t)(sip.content_length > 0 ? sip.content_length : 0);
    if (total > o->max_message) {
        /* discard exactly this message, then carry on framing */
        o->stats.message_too_big++;
        size_t now = HA_MIN(total, avail);
        f->skip = total - now;
        f->need = 0;
        return at + now;
    }
    if (avail < total) {
        f->need = total;
        *wait = 1;
        return at;
    }
    uint64_t sec;
    uint32_t usec;
    view_time(v, at, &sec, &usec);
    f->need = 0;
    o->stats.messages++;
    o->emit(o->ctx, pkt, transport_of(o, RULE_TRANSPORT_TCP), v->p + at, total, &sip, sec, usec);
    return at + total;
}

/* Case-insensitive search for a header line "name: ...value..." in an HTTP
 * header block. */
static int http_header_has(const uint8_t *p, size_t n, const char *name, const char *value)
{
    size_t name_len = strlen(name), value_len = strlen(value);
    for (size_t pos = 0; pos < n;) {
        const uint8_t *nl = memchr(p + pos, '\n', n - pos);
        size_t end = nl ? (size_t)(nl - p) : n;
        if (end - pos > name_len && strncasecmp((const char *)p + pos, name, name_len) == 0 &&
            p[pos + name_len] == ':') {
            for (size_t i = pos + name_len; i + value_len <= end; i++)
                if (strncasecmp((const char *)p + i, value, value_len) == 0) return 1;
        }
        pos = end + 1;
    }
    return 0;
}

/* Whether p starts a TLS record: from a connection's start, a handshake
 * record; seen from the middle (hepagent started while a SIP trunk stays
 * connected for days), any record (no SIP text starts with bytes 20-24). */
static int tls_record_starts(const uint8_t *p, size_t avail, int from_start)
{
    if (from_start) return p[0] == 0x16 && (avail < 2 || p[1] == 0x03);
    return p[0] >= 0x14 && p[0] <= 0x18 && avail >= 3 && p[1] == 0x03 && p[2] <= 0x04;
}

/* The first bytes of a stream: SIP, an HTTP upgrade to WebSocket, TLS, or
 * something else to ignore. */
static size_t frame_start(tcpframe_owner_t *o, tcpframe_t *f, const view_t *v, size_t at, int *wait)
{
    at = skip_crlf(o, v, at);
    if (at == v->n) return at;
    const uint8_t *p = v->p + at;
    size_t avail = v->n - at;
    sip_result_t r = sip_probe_start_line(p, avail);
    if (r == SIP_OK) {
        f->mode = MODE_SIP;
        return at;
    }
    if (tls_record_starts(p, avail, f->from_start)) {
        o->stats.tls_streams++;
        f->mode = MODE_TLS;
        return at;
    }
    int request = avail >= 4 ? memcmp(p, "GET ", 4) == 0 : memcmp(p, "GET ", avail) == 0;
    int response = avail >= 7 ? memcmp(p, "HTTP/1.", 7) == 0 : memcmp(p, "HTTP/1.", avail) == 0;
    if (request || response) {
        const uint8_t *end = memmem(p, avail, "\r\n\r\n", 4);
        if (!end) {
            if (avail < HTTP_HEADER_MAX) {
                *wait = 1;
                return at;
            }
        } else {
            size_t header = (size_t)(end - p) + 4;
            int upgrade = http_header_has(p, header, "Upgrade", "websocket") &&
                          (request || (header > 12 && memcmp(p + 9, "101", 3) == 0));
            if (upgrade) {
                if (request) o->stats.ws_streams++;
                f->mode = MODE_WS;
                return at + header;
            }
        }
    } else if (r == SIP_INCOMPLETE) {
        *wait = 1;
        return at;
    }
    if (!f->from_start) { /* seen from the middle: look for the next start line */
        f->mode = MODE_SIP;
        desync(o, f);
        return at;
    }
    o->stats.not_sip_streams++;
    f->mode = MODE_IGNORE;
    return v->n;
}

static void ws_message_done(tcpframe_owner_t *o, tcpframe_t *f, const packet_t *pkt)
{
    f->ws_in_msg = 0;
    sip_msg_t sip;
    sip_result_t r = sip_parse(f->ws, f->ws_len, &sip);
    if (r == SIP_NOT_SIP || !sip_has_mandatory(&sip)) {
        o->stats.ws_not_sip++;
        return;
    }
    o->stats.ws_messages++;
    o->emit(o->ctx, pkt, transport_of(o, RULE_TRANSPORT_WS), f->ws, f->ws_len, &sip, f->ws_sec,
            f->ws_usec);
}

/* One WebSocket frame (RFC 6455 section 5.2). */
static size_t frame_ws(tcpframe_owner_t *o, tcpframe_t *f, const packet_t *pkt, const view_t *v,
                       size_t at, int *wait)
{
    const uint8_t *p = v->p + at;
    size_t avail = v->n - at;
    if (avail < 2) {
        *wait = 1;
        return at;
    }
    int fin = p[0] >> 7, opcode = p[0] & 0x0f, compressed = (p[0] & 0x40) != 0;
    int masked = p[1] >> 7;
    uint64_t len = p[1] & 0x7f;
    size_t header = 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + (masked ? 4 : 0);
    if (avail < header) {
        *wait = 1;
        return at;
    }
    if (len == 126)
        len = be16(p + 2);
    else if (len == 127)
        len = ((uint64_t)be32(p + 2) << 32) | be32(p + 6);
    if (len > o->max_message || (p[0] & 0x30) != 0) {
        o->stats.ws_errors++;
        f->mode = MODE_IGNORE;
        return v->n;
    }
    if (avail < header + len) {
        f->need = header + (size_t)len;
        *wait = 1;
        return at;
    }
    f->need = 0;
    const uint8_t *mask = masked ? p + header - 4 : NULL;
    const uint8_t *payload = p + header;
    if (opcode >= 8) return at + header + (size_t)len; /* close, ping, pong */
    if (opcode == 1 || opcode == 2) {
        if (f->ws_in_msg) o->stats.ws_errors++; /* unfinished message replaced */
        f->ws_in_msg = 1;
        f->ws_len = 0;
        view_time(v, at, &f->ws_sec, &f->ws_usec);
    } else if (opcode != 0 || !f->ws_in_msg) {
        o->stats.ws_errors++;
        return at + header + (size_t)len;
    }
    if (compressed) { /* permessage-deflate: not decoded */
        o->stats.ws_errors++;
        f->ws_in_msg = 0;
        return at + header + (size_t)len;
    }
    if (f->ws_len + len > o->max_message ||
        !buffer_grow(o, f, &f->ws, &f->ws_cap, f->ws_len + (size_t)len)) {
        o->stats.ws_errors++;
        f->ws_in_msg = 0;
        return at + header + (size_t)len;
    }
    for (size_t i = 0; i < len; i++)
        f->ws[f->ws_len + i] = mask ? payload[i] ^ mask[i & 3] : payload[i];
    f->ws_len += (size_t)len;
    if (fin) ws_message_done(o, f, pkt);
    return at + header + (size_t)len;
}

/* Frames as much of v as possible; returns the bytes consumed. A TLS
 * direction stops at its first record, an ignored one consumes all. */
static size_t frame(tcpframe_owner_t *o, tcpframe_t *f, const packet_t *pkt, const view_t *v)
{
    size_t at = 0;
    int wait = 0;
    while (at < v->n && !wait) {
        if (f->skip) {
            size_t d = HA_MIN(f->skip, v->n - at);
            f->skip -= d;
            at += d;
            continue;
        }
        if (f->resync) {
            at = frame_resync(o, f, v, at, &wait);
            continue;
        }
        switch (f->mode) {
        case MODE_START:
            at = frame_start(o, f, v, at, &wait);
            break;
        case MODE_SIP:
            at = frame_sip(o, f, pkt, v, at, &wait);
            break;
        case MODE_WS:
            at = frame_ws(o, f, pkt, v, at, &wait);
            break;
        case MODE_TLS:
            return at;
        default:
            return v->n;
        }
    }
    return at;
}

size_t tcpframe_data(tcpframe_owner_t *o, tcpframe_t *f, const packet_t *pkt, const uint8_t *data,
                     size_t len, uint64_t sec, uint32_t usec)
{
    if (f->mode == MODE_TLS) return len;
    if (f->mode == MODE_IGNORE) return 0;
    if (f->len == 0) {
        view_t v = {data, len, NULL, 0, sec, usec};
        size_t used = frame(o, f, pkt, &v);
        if (f->mode == MODE_TLS) return len - used;
        if (used < len && f->mode != MODE_IGNORE) keep(o, f, data + used, len - used, sec, usec);
        return 0;
    }
    if (!keep(o, f, data, len, sec, usec)) {
        /* the message in progress was dropped: frame these bytes alone */
        view_t v = {data, len, NULL, 0, sec, usec};
        size_t used = frame(o, f, pkt, &v);
        if (used < len) keep(o, f, data + used, len - used, sec, usec);
        return 0;
    }
    /* a kept start never begins a TLS record (its first byte decided), so
     * the buffer cannot turn TLS */
    view_t v = {f->buf, f->len, f->marks, f->nmarks, sec, usec};
    size_t used = frame(o, f, pkt, &v);
    if (f->mode == MODE_TLS || f->mode == MODE_IGNORE) used = f->len;
    consume(o, f, used);
    return 0;
}

void tcpframe_gap(tcpframe_owner_t *o, tcpframe_t *f)
{
    f->len = 0;
    f->nmarks = 0;
    f->need = 0;
    f->skip = 0;
    if (f->mode == MODE_WS) {
        /* framing resumes at data that starts a frame carrying SIP */
        f->ws_in_msg = 0;
        f->mode = MODE_SIP;
        desync(o, f);
    } else if (f->mode == MODE_SIP || f->mode == MODE_START) {
        f->mode = MODE_SIP;
        desync(o, f);
    }
}

/* SIP start-line recognition and header extraction (RFC 3261 section 7), on
 * untrusted bytes: every index is checked against len, lines may end in CRLF
 * or a bare LF, header names are case-insensitive and compact forms count. */
#include "hepagent/sip.h"

#include <string.h>
#include <strings.h>

static int sip_is_token_char(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
    return c != 0 && strchr("-.!%*_+`'~", c) != NULL;
}

static int sip_is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static const uint8_t sip_version[] = "SIP/2.0";
enum { SIP_VERSION_LEN = 7 };

/* Compares the first n bytes of data with the uppercase SIP version, which
 * RFC 3261 makes case-insensitive. */
static int sip_version_prefix(const uint8_t *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = data[i];
        if (c >= 'a' && c <= 'z') c = (uint8_t)(c - 32);
        if (c != sip_version[i]) return 0;
    }
    return 1;
}

/* Length of the line ending at data[i] ("\r\n" or "\n"), 0 if none there. */
static size_t sip_line_end(const uint8_t *data, size_t len, size_t i)
{
    if (i < len && data[i] == '\n') return 1;
    if (i + 1 < len && data[i] == '\r' && data[i + 1] == '\n') return 2;
    return 0;
}

/* Parses "SIP/2.0 NNN reason" or "METHOD URI SIP/2.0" ending at a line end.
 * Returns SIP_INCOMPLETE when the bytes run out while still plausible. */
static sip_result_t sip_start_line(const uint8_t *data, size_t len, sip_msg_t *msg)
{
    size_t limit = HA_MIN(len, (size_t)SIP_MAX_START_LINE);
    size_t n = HA_MIN(limit, (size_t)SIP_VERSION_LEN);
    if (n > 0 && sip_version_prefix(data, n) &&
        (n < SIP_VERSION_LEN || len == n || data[SIP_VERSION_LEN] == ' ')) {
        /* status line */
        if (len < SIP_VERSION_LEN + 4) return SIP_INCOMPLETE;
        const uint8_t *code = data + SIP_VERSION_LEN + 1;
        for (int i = 0; i < 3; i++)
            if (code[i] < '0' || code[i] > '9') return SIP_NOT_SIP;
        unsigned status = (unsigned)(code[0] - '0') * 100 + (unsigned)(code[1] - '0') * 10 +
                          (unsigned)(code[2] - '0');
        if (status < 100 || status > 699) return SIP_NOT_SIP;
        size_t i = SIP_VERSION_LEN + 4;
        size_t reason_start = i;
        if (i < limit && data[i] == ' ')
            reason_start = ++i;
        else if (i < len && data[i] != '\r' && data[i] != '\n')
            return SIP_NOT_SIP;
        for (; i < limit; i++) {
            uint8_t c = data[i];
            if (c == '\r' || c == '\n') break;
            if (c < 0x20 && c != '\t') return SIP_NOT_SIP;
        }
        if (i >= limit) return len >= SIP_MAX_START_LINE ? SIP_NOT_SIP : SIP_INCOMPLETE;
        size_t eol = sip_line_end(data, len, i);
        if (eol == 0) return i + 1 >= len ? SIP_INCOMPLETE : SIP_NOT_SIP;
        msg->is_request = 0;
        msg->status = (uint16_t)status;
        msg->reason = (ha_bytes_t){data + reason_start, i - reason_start};
        msg->start_line_len = i + eol;
        return SIP_OK;
    }

    /* request line: METHOD SP Request-URI SP SIP-Version */
    size_t i = 0;
    while (i < limit && sip_is_token_char(data[i]))
        i++;
    if (i == limit) return (i <= SIP_MAX_METHOD_LEN) ? SIP_INCOMPLETE : SIP_NOT_SIP;
    if (i == 0 || i > SIP_MAX_METHOD_LEN || data[i] != ' ') return SIP_NOT_SIP;
    size_t method_len = i++;
    size_t uri_start = i;
    while (i < limit && data[i] > 0x20 && data[i] < 0x7f)
        i++;
    if (i == limit) return len >= SIP_MAX_START_LINE ? SIP_NOT_SIP : SIP_INCOMPLETE;
    if (i == uri_start || data[i] != ' ') return SIP_NOT_SIP;
    /* an absolute URI has a scheme: sip:, sips:, tel:, urn:, ... */
    if (!memchr(data + uri_start, ':', i - uri_start)) return SIP_NOT_SIP;
    size_t uri_len = i - uri_start;
    i++;
    size_t have = HA_MIN(len - i, (size_t)SIP_VERSION_LEN);
    if (!sip_version_prefix(data + i, have)) return SIP_NOT_SIP;
    if (have < SIP_VERSION_LEN) return SIP_INCOMPLETE;
    i += SIP_VERSION_LEN;
    if (i >= len || (i + 1 == len && data[i] == '\r')) return SIP_INCOMPLETE;
    size_t eol = sip_line_end(data, len, i);
    if (eol == 0) return SIP_NOT_SIP;
    msg->is_request = 1;
    msg->method = (ha_bytes_t){data, method_len};
    msg->uri = (ha_bytes_t){data + uri_start, uri_len};
    msg->start_line_len = i + eol;
    return SIP_OK;
}

sip_result_t sip_probe_start_line(const uint8_t *data, size_t len)
{
    sip_msg_t msg;
    memset(&msg, 0, sizeof(msg));
    return sip_start_line(data, len, &msg);
}

int sip_is_keepalive(const uint8_t *data, size_t len)
{
    if (len == 0) return 0;
    for (size_t i = 0; i < len; i++)
        if (data[i] != '\r' && data[i] != '\n') return 0;
    return 1;
}

int sip_has_mandatory(const sip_msg_t *msg)
{
    return msg->call_id.len > 0 && msg->cseq_method.len > 0;
}

int sip_token_equals(ha_bytes_t token, const char *str)
{
    size_t n = strlen(str);
    return token.len == n && memcmp(token.ptr, str, n) == 0;
}

static ha_bytes_t sip_trim(const uint8_t *p, size_t n)
{
    while (n > 0 && (sip_is_ws(p[0]) || p[0] == '\r' || p[0] == '\n'))
        p++, n--;
    while (n > 0 && (sip_is_ws(p[n - 1]) || p[n - 1] == '\r' || p[n - 1] == '\n'))
        n--;
    return (ha_bytes_t){p, n};
}

typedef enum {
    SIP_HDR_OTHER,
    SIP_HDR_CALL_ID,
    SIP_HDR_CSEQ,
    SIP_HDR_CONTENT_LENGTH,
    SIP_HDR_FROM,
    SIP_HDR_TO
} sip_header_t;

static sip_header_t sip_header_kind(const uint8_t *name, size_t n)
{
    static const struct {
        const char *full;
        char compact;
        sip_header_t kind;
    } known[] = {
        {"Call-ID", 'i', SIP_HDR_CALL_ID},
        {"CSeq", 0, SIP_HDR_CSEQ},
        {"Content-Length", 'l', SIP_HDR_CONTENT_LENGTH},
        {"From", 'f', SIP_HDR_FROM},
        {"To", 't', SIP_HDR_TO},
    };
    for (size_t k = 0; k < HA_ARRAY_LEN(known); k++) {
        if (n == 1 && known[k].compact && (name[0] | 0x20) == known[k].compact)
            return known[k].kind;
        if (n == strlen(known[k].full) && strncasecmp((const char *)name, known[k].full, n) == 0)
            return known[k].kind;
    }
    return SIP_HDR_OTHER;
}

static int64_t sip_parse_length(ha_bytes_t v)
{
    if (v.len == 0 || v.len > 10) return -2;
    int64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9') return -2;
        n = n * 10 + (v.ptr[i] - '0');
    }
    return n > INT32_MAX ? -2 : n;
}

static void sip_parse_cseq(ha_bytes_t v, sip_msg_t *msg)
{
    size_t i = 0;
    uint64_t number = 0;
    while (i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9' && number <= UINT32_MAX)
        number = number * 10 + (uint64_t)(v.ptr[i++] - '0');
    if (i == 0 || number > UINT32_MAX) return;
    while (i < v.len && sip_is_ws(v.ptr[i]))
        i++;
    size_t start = i;
    while (i < v.len && sip_is_token_char(v.ptr[i]))
        i++;
    msg->cseq_number = (uint32_t)number;
    msg->cseq_method = (ha_bytes_t){v.ptr + start, i - start};
}

static void sip_store_header(sip_header_t kind, ha_bytes_t value, sip_msg_t *msg)
{
    switch (kind) {
    case SIP_HDR_CALL_ID:
        if (msg->call_id.len == 0) msg->call_id = value;
        break;
    case SIP_HDR_CSEQ:
        if (msg->cseq_method.len == 0) sip_parse_cseq(value, msg);
        break;
    case SIP_HDR_CONTENT_LENGTH:
        /* the first one counts; a second, different one is ignored */
        if (msg->content_length == -1) msg->content_length = sip_parse_length(value);
        break;
    case SIP_HDR_FROM:
        if (msg->from.len == 0) msg->from = value;
        break;
    case SIP_HDR_TO:
        if (msg->to.len == 0) msg->to = value;
        break;
    case SIP_HDR_OTHER:
        break;
    }
}

sip_result_t sip_parse(const uint8_t *data, size_t len, sip_msg_t *msg)
{
    memset(msg, 0, sizeof(*msg));
    msg->content_length = -1;
    sip_result_t r = sip_start_line(data, len, msg);
    if (r != SIP_OK) return r;

    size_t i = msg->start_line_len;
    for (;;) {
        size_t eol = sip_line_end(data, len, i);
        if (eol) { /* blank line: end of the header section */
            msg->header_len = i + eol;
            break;
        }
        /* header line: name ':' value, continued by lines starting with SP/HT */
        size_t line = i;
        const uint8_t *nl = memchr(data + i, '\n', len - i);
        if (!nl) return SIP_INCOMPLETE;
        size_t end = (size_t)(nl - data) + 1;
        while (end < len && sip_is_ws(data[end])) {
            nl = memchr(data + end, '\n', len - end);
            if (!nl) return SIP_INCOMPLETE;
            end = (size_t)(nl - data) + 1;
        }
        if (end == len) {
            /* the next line decides whether this header is complete */
            return SIP_INCOMPLETE;
        }
        const uint8_t *colon = memchr(data + line, ':', end - line);
        if (colon) {
            size_t name_end = (size_t)(colon - data);
            while (name_end > line && sip_is_ws(data[name_end - 1]))
                name_end--;
            sip_header_t kind = sip_header_kind(data + line, name_end - line);
            if (kind != SIP_HDR_OTHER) {
                size_t vstart = (size_t)(colon - data) + 1;
                sip_store_header(kind, sip_trim(data + vstart, end - vstart), msg);
            }
        }
        i = end;
        if (i > SIP_MAX_HEADER_BYTES) return SIP_INCOMPLETE;
    }
    return SIP_OK;
}

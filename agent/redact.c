/* Redaction of SIP messages, one pass over the header section into a new
 * buffer. URIs are found by their scheme wherever they occur in a chosen
 * header (name-addr, addr-spec, lists, Authorization's uri="..."), so odd
 * but valid layouts are covered without a full grammar; display names are
 * the quoted string or the tokens before '<'. What a URI user part holds
 * after ';' (user parameters such as rn=) or ':' (a password) goes with it:
 * it can hold numbers too. The hash input is the user part without a
 * leading '+' and with %XX decoded, so the ways of writing one number give
 * one pseudonym. */
#include "hepagent/redact.h"
#include "hepagent/sip.h"

#include <ctype.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The headers whose URIs are redacted when the policy names none: all of
 * them, as numbers turn up in Route, Record-Route, P-Served-User, even
 * Warning texts; a URI scheme ("sip:", "tel:") is what is looked for, so
 * Via, Call-ID and the like are left as they are. */
static const char *const redact_default_headers[] = {REDACT_REQUEST_URI, "*"};

/* RFC 3261 section 7.3.3 and later compact forms. */
static const struct {
    char compact;
    const char *full;
} redact_compact[] = {
    {'a', "Accept-Contact"},
    {'b', "Referred-By"},
    {'c', "Content-Type"},
    {'d', "Request-Disposition"},
    {'e', "Content-Encoding"},
    {'f', "From"},
    {'i', "Call-ID"},
    {'j', "Reject-Contact"},
    {'k', "Supported"},
    {'l', "Content-Length"},
    {'m', "Contact"},
    {'n', "Identity-Info"},
    {'o', "Event"},
    {'r', "Refer-To"},
    {'s', "Subject"},
    {'t', "To"},
    {'u', "Allow-Events"},
    {'v', "Via"},
    {'x', "Session-Expires"},
    {'y', "Identity"},
};

typedef struct {
    char *type; /* lowercase; a trailing "/" + "*", or "*" alone, is a wildcard */
    redact_body_t action;
} redact_body_entry_t;

struct redact {
    redact_mode_t mode;
    unsigned hash_digits;
    unsigned keep_digits;
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx;
    char **headers; /* full names */
    size_t header_count;
    int request_uri;
    char **drop;
    size_t drop_count;
    redact_body_entry_t *bodies;
    size_t body_count;
    int call_id;
};

/* ---- names -------------------------------------------------------------- */

/* The full name of a header as written on the wire (compact forms
 * resolved); not NUL-terminated: len in *n. */
static const char *redact_full_name(const uint8_t *name, size_t len, size_t *n)
{
    if (len == 1) {
        for (size_t i = 0; i < HA_ARRAY_LEN(redact_compact); i++)
            if ((name[0] | 0x20) == redact_compact[i].compact) {
                *n = strlen(redact_compact[i].full);
                return redact_compact[i].full;
            }
    }
    *n = len;
    return (const char *)name;
}

static int redact_name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

static int redact_name_in(char *const *list, size_t count, const char *name, size_t n)
{
    for (size_t i = 0; i < count; i++)
        if (redact_name_is(name, n, list[i]) || strcmp(list[i], "*") == 0) return 1;
    return 0;
}

/* ---- policy ------------------------------------------------------------- */

static char **redact_copy_list(const char *const *src, size_t n, int resolve_compact)
{
    char **list = calloc(n ? n : 1, sizeof(char *));
    if (!list) return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(src[i]);
        const char *full =
            resolve_compact ? redact_full_name((const uint8_t *)src[i], len, &len) : src[i];
        list[i] = strndup(full, len);
        if (!list[i]) {
            while (i--)
                free(list[i]);
            free(list);
            return NULL;
        }
    }
    return list;
}

static void redact_free_list(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i]);
    free(list);
}

void redact_free(redact_t *r)
{
    if (!r) return;
    EVP_MAC_CTX_free(r->ctx);
    EVP_MAC_free(r->mac);
    redact_free_list(r->headers, r->header_count);
    redact_free_list(r->drop, r->drop_count);
    for (size_t i = 0; i < r->body_count; i++)
        free(r->bodies[i].type);
    free(r->bodies);
    free(r);
}

static int redact_fail(redact_t *r, char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    redact_free(r);
    return HA_EINVAL;
}

static int redact_key(redact_t *r, const redact_options_t *o, char *err, size_t errlen)
{
    if (!o->key || o->key_len < REDACT_MIN_KEY)
        return redact_fail(r, err, errlen, "the hash mode needs a key of at least 16 bytes");
    r->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    r->ctx = r->mac ? EVP_MAC_CTX_new(r->mac) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    if (!r->ctx || !EVP_MAC_init(r->ctx, o->key, o->key_len, params))
        return redact_fail(r, err, errlen, "HMAC-SHA-256 is not available from OpenSSL");
    return HA_OK;
}

redact_t *redact_new(const redact_options_t *o, char *err, size_t errlen)
{
    redact_t *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->mode = o->mode;
    r->call_id = o->call_id;
    r->hash_digits = o->hash_digits ? o->hash_digits : REDACT_DEFAULT_HASH_DIGITS;
    r->keep_digits = o->keep_digits_set ? o->keep_digits : REDACT_DEFAULT_KEEP_DIGITS;
    if (r->hash_digits < 8 || r->hash_digits > 19) {
        redact_fail(r, err, errlen, "hash_digits must be from 8 to 19");
        return NULL;
    }
    if ((o->mode == REDACT_HASH || o->call_id) && redact_key(r, o, err, errlen) != HA_OK)
        return NULL;
    const char *const *headers = o->headers ? o->headers : redact_default_headers;
    r->header_count = o->headers ? o->header_count : HA_ARRAY_LEN(redact_default_headers);
    r->headers = redact_copy_list(headers, r->header_count, 1);
    r->drop_count = o->drop_count;
    r->drop = redact_copy_list(o->drop_headers, o->drop_count, 1);
    r->bodies = calloc(o->body_count ? o->body_count : 1, sizeof(*r->bodies));
    if (!r->headers || !r->drop || !r->bodies) {
        redact_fail(r, err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < o->body_count; i++) {
        r->bodies[i].type = strdup(o->bodies[i].content_type);
        if (!r->bodies[i].type) {
            redact_fail(r, err, errlen, "out of memory");
            return NULL;
        }
        for (char *p = r->bodies[i].type; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        r->bodies[i].action = o->bodies[i].action;
        r->body_count++;
    }
    r->request_uri =
        redact_name_in(r->headers, r->header_count, REDACT_REQUEST_URI, strlen(REDACT_REQUEST_URI));
    return r;
}

redact_t *redact_from_config(const redact_config_t *c, char *err, size_t errlen)
{
    uint8_t key[1024];
    size_t key_len = 0;
    if (c->key_file) {
        FILE *f = fopen(c->key_file, "rb");
        if (!f) {
            snprintf(err, errlen, "key_file: cannot read %s", c->key_file);
            return NULL;
        }
        key_len = fread(key, 1, sizeof(key), f);
        fclose(f);
        while (key_len && (key[key_len - 1] == '\n' || key[key_len - 1] == '\r'))
            key_len--; /* a key written with echo */
    } else if (c->key) {
        key_len = strlen(c->key);
        memcpy(key, c->key, HA_MIN(key_len, sizeof(key)));
        key_len = HA_MIN(key_len, sizeof(key));
    }
    redact_options_t o = {.mode = (redact_mode_t)c->mode,
                          .key = key_len ? key : NULL,
                          .key_len = key_len,
                          .hash_digits = c->hash_digits,
                          .keep_digits = c->keep_digits,
                          .keep_digits_set = 1,
                          .headers = (const char *const *)c->headers,
                          .header_count = c->header_count,
                          .drop_headers = (const char *const *)c->drop_headers,
                          .drop_count = c->drop_count,
                          .bodies = c->bodies,
                          .body_count = c->body_count,
                          .call_id = c->call_id};
    redact_t *r = redact_new(&o, err, errlen);
    memset(key, 0, sizeof(key));
    return r;
}

void redact_config_free(redact_config_t *c)
{
    free(c->key);
    free(c->key_file);
    redact_free_list(c->headers, c->header_count);
    redact_free_list(c->drop_headers, c->drop_count);
    for (size_t i = 0; i < c->body_count; i++)
        free((char *)c->bodies[i].content_type);
    free(c->bodies);
    memset(c, 0, sizeof(*c));
}

int redact_replaces_call_id(const redact_t *r)
{
    return r->call_id;
}

/* ---- output ------------------------------------------------------------- */

typedef struct {
    uint8_t *out;
    size_t cap, len;
    int full;
} redact_writer_t;

static void w_put(redact_writer_t *w, const void *p, size_t n)
{
    if (w->full || n > w->cap - w->len) {
        w->full = 1;
        return;
    }
    memcpy(w->out + w->len, p, n);
    w->len += n;
}

static void w_char(redact_writer_t *w, char c)
{
    w_put(w, &c, 1);
}

/* ---- pseudonyms --------------------------------------------------------- */

static int redact_hex(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void redact_hmac(redact_t *r, const uint8_t *p, size_t n, uint8_t mac[32])
{
    size_t out_len = 0;
    /* a NULL key keeps the one set in redact_new: nothing is allocated */
    EVP_MAC_init(r->ctx, NULL, 0, NULL);
    EVP_MAC_update(r->ctx, p, n);
    EVP_MAC_final(r->ctx, mac, &out_len, 32);
}

/* The keyed-hash pseudonym of text: digits, after a '+' when the text
 * starts with one. %XX is decoded first, so "%2B49..." and "+49..." are
 * one number. */
static void redact_hash_text(redact_t *r, const uint8_t *p, size_t n, redact_writer_t *w)
{
    uint8_t norm[256];
    size_t m = 0;
    for (size_t i = 0; i < n && m < sizeof(norm); i++) {
        int hi, lo;
        if (p[i] == '%' && i + 2 < n && (hi = redact_hex(p[i + 1])) >= 0 &&
            (lo = redact_hex(p[i + 2])) >= 0) {
            norm[m++] = (uint8_t)(hi * 16 + lo);
            i += 2;
        } else {
            norm[m++] = p[i];
        }
    }
    size_t skip = m && norm[0] == '+';
    if (skip) w_char(w, '+');
    uint8_t mac[32];
    redact_hmac(r, norm + skip, m - skip, mac);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | mac[i];
    char digits[24];
    for (int i = (int)r->hash_digits - 1; i >= 0; i--) {
        digits[i] = (char)('0' + v % 10);
        v /= 10;
    }
    w_put(w, digits, r->hash_digits);
}

/* The mask: the last keep_digits digits stay, every other letter or digit
 * becomes 'x', the rest stays (so the length does too). */
static void redact_mask_text(const redact_t *r, const uint8_t *p, size_t n, redact_writer_t *w)
{
    size_t digits_left = 0;
    for (size_t i = 0; i < n; i++)
        digits_left += isdigit(p[i]) != 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (isdigit(c)) {
            w_char(w, digits_left-- <= r->keep_digits ? (char)c : 'x');
        } else {
            w_char(w, isalnum(c) ? 'x' : (char)c);
        }
    }
}

static void redact_text(redact_t *r, const uint8_t *p, size_t n, redact_writer_t *w)
{
    if (n == 0) return;
    if (r->mode == REDACT_HASH)
        redact_hash_text(r, p, n, w);
    else
        redact_mask_text(r, p, n, w);
}

void redact_call_id(redact_t *r, ha_bytes_t id, uint8_t out[REDACT_CALL_ID_HEX])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t mac[32];
    redact_hmac(r, id.ptr, id.len, mac);
    for (int i = 0; i < REDACT_CALL_ID_HEX / 2; i++) {
        out[2 * i] = (uint8_t)hex[mac[i] >> 4];
        out[2 * i + 1] = (uint8_t)hex[mac[i] & 15];
    }
}

/* ---- URIs and display names --------------------------------------------- */

static int redact_is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The length of the scheme ("sip:", "sips:", "tel:") at p, 0 if none. */
static size_t redact_scheme(const uint8_t *p, size_t n, int *tel)
{
    static const char *const schemes[] = {"sip:", "sips:", "tel:"};
    for (size_t i = 0; i < HA_ARRAY_LEN(schemes); i++) {
        size_t k = strlen(schemes[i]);
        if (n >= k && strncasecmp((const char *)p, schemes[i], k) == 0) {
            *tel = i == 2;
            return k;
        }
    }
    return 0;
}

/* At p (just after the scheme): the user part's length, and what of it
 * feeds the pseudonym. in_angle: inside <...>, where ',' belongs to the URI. */
static size_t redact_userinfo(const uint8_t *p, size_t n, int tel, int in_angle, size_t *hash_len)
{
    size_t end = 0;
    while (end < n && !redact_is_space(p[end]) && p[end] != '>' && p[end] != '"' &&
           (in_angle || p[end] != ',') && (!tel || p[end] != ';'))
        end++;
    size_t user = end;
    if (!tel) {
        const uint8_t *at = memchr(p, '@', end);
        if (!at) return 0; /* sip:host has no user part */
        user = (size_t)(at - p);
    }
    *hash_len = 0;
    while (*hash_len < user && p[*hash_len] != ';' && p[*hash_len] != ':')
        (*hash_len)++;
    return user;
}

/* Headers whose values are name-addr lists ("Display" <uri>;params): only
 * there are tokens or a quoted string before '<' a display name. Elsewhere
 * ("*" reaches CSeq, Call-Info, Warning...) only URIs and Digest user names
 * are replaced, so "CSeq: 1 INVITE" can never be mistaken for one. */
static const char *const redact_name_addr[] = {
    "From",
    "To",
    "Contact",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Remote-Party-ID",
    "Diversion",
    "History-Info",
    "P-Called-Party-ID",
    "P-Served-User",
    "P-Associated-URI",
    "Refer-To",
    "Referred-By",
    "Reply-To",
    "Route",
    "Record-Route",
    "Path",
    "Service-Route",
    "P-Charge-Info",
    "P-Preferred-Service",
};

static int redact_is_name_addr(const char *name, size_t n)
{
    for (size_t i = 0; i < HA_ARRAY_LEN(redact_name_addr); i++)
        if (redact_name_is(name, n, redact_name_addr[i])) return 1;
    return 0;
}

/* Copies v[0..n) with every URI user part replaced, and display names too
 * where names is set (a name-addr header). */
static void redact_value(redact_t *r, const uint8_t *v, size_t n, int in_quotes, int names,
                         redact_writer_t *w, redact_stats_t *st)
{
    int in_angle = 0, element_start = 1;
    size_t i = 0;
    while (i < n) {
        uint8_t c = v[i];
        if (names && element_start && !in_quotes && !redact_is_space(c) && c != '"' && c != '<') {
            /* tokens before '<' are a display name */
            size_t j = i;
            while (j < n && v[j] != '<' && v[j] != ',' && v[j] != '"' && v[j] != ';' && v[j] != ':')
                j++;
            if (j < n && v[j] == '<') {
                size_t e = j;
                while (e > i && redact_is_space(v[e - 1]))
                    e--;
                redact_text(r, v + i, e - i, w);
                st->display_names++;
                w_put(w, v + e, j - e);
                i = j;
                element_start = 0;
                continue;
            }
        }
        if (!redact_is_space(c)) element_start = 0;
        if (c == '"' && !in_quotes) {
            size_t q = i + 1;
            while (q < n && v[q] != '"')
                q += v[q] == '\\' && q + 1 < n ? 2 : 1;
            size_t after = q < n ? q + 1 : n;
            size_t k = after;
            while (k < n && redact_is_space(v[k]))
                k++;
            /* a display name, or the user name of a Digest credential */
            int name = (names && k < n && v[k] == '<') ||
                       (i >= 9 && strncasecmp((const char *)v + i - 9, "username=", 9) == 0);
            w_char(w, '"');
            if (name) {
                redact_text(r, v + i + 1, q - i - 1, w);
                st->display_names++;
            } else {
                redact_value(r, v + i + 1, q - i - 1, 1, 0, w, st);
            }
            if (q < n) w_char(w, '"');
            i = after;
            continue;
        }
        if (c == '<') in_angle = 1;
        if (c == '>') in_angle = 0;
        if (c == ',' && !in_angle) element_start = 1;
        int tel;
        size_t k;
        if ((i == 0 || !isalnum(v[i - 1])) && (k = redact_scheme(v + i, n - i, &tel)) != 0) {
            size_t hash_len;
            size_t user = redact_userinfo(v + i + k, n - i - k, tel, in_angle, &hash_len);
            w_put(w, v + i, k);
            i += k;
            if (user) {
                redact_text(r, v + i, hash_len, w);
                st->uris++;
                i += user;
            }
            continue;
        }
        w_char(w, (char)c);
        i++;
    }
}

/* ---- the message -------------------------------------------------------- */

typedef struct {
    size_t start, end;      /* the field, folded lines and line end included */
    size_t name_end, colon; /* name [start, name_end), ':' at colon */
} redact_field_t;

/* The next header field at i (before the blank line at header_end). */
static int redact_next_field(const uint8_t *m, size_t i, size_t header_end, redact_field_t *f)
{
    if (i >= header_end) return 0;
    const uint8_t *nl = memchr(m + i, '\n', header_end - i);
    size_t end = nl ? (size_t)(nl - m) + 1 : header_end;
    while (end < header_end && (m[end] == ' ' || m[end] == '\t')) {
        nl = memchr(m + end, '\n', header_end - end);
        end = nl ? (size_t)(nl - m) + 1 : header_end;
    }
    f->start = i;
    f->end = end;
    const uint8_t *colon = memchr(m + i, ':', end - i);
    f->colon = colon ? (size_t)(colon - m) : end;
    f->name_end = f->colon;
    while (f->name_end > i && (m[f->name_end - 1] == ' ' || m[f->name_end - 1] == '\t'))
        f->name_end--;
    return 1;
}

/* The line end of a field: what follows its last non-CRLF byte. */
static size_t redact_eol_start(const uint8_t *m, const redact_field_t *f)
{
    size_t e = f->end;
    while (e > f->colon + 1 && (m[e - 1] == '\r' || m[e - 1] == '\n'))
        e--;
    return e;
}

static redact_body_t redact_body_action(const redact_t *r, const uint8_t *type, size_t n)
{
    while (n && redact_is_space(*type))
        type++, n--;
    size_t len = 0;
    while (len < n && type[len] != ';' && !redact_is_space(type[len]))
        len++;
    for (size_t i = 0; i < r->body_count; i++) {
        const char *want = r->bodies[i].type;
        size_t wl = strlen(want);
        int match = strcmp(want, "*") == 0 ||
                    (wl == len && strncasecmp(want, (const char *)type, len) == 0) ||
                    (wl >= 2 && want[wl - 1] == '*' && want[wl - 2] == '/' && len >= wl - 1 &&
                     strncasecmp(want, (const char *)type, wl - 1) == 0);
        if (match) return r->bodies[i].action;
    }
    return REDACT_BODY_KEEP;
}

static int redact_is_content_header(const char *name, size_t n)
{
    return n > 8 && strncasecmp(name, "Content-", 8) == 0 &&
           !redact_name_is(name, n, "Content-Length");
}

int redact_sip(redact_t *r, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
               redact_stats_t *st)
{
    sip_msg_t sip;
    if (sip_parse(in, len, &sip) != SIP_OK || !sip_has_mandatory(&sip)) {
        st->not_sip++;
        return HA_EINVAL;
    }
    size_t header_end = sip.header_len;
    size_t blank = header_end - (header_end >= 2 && in[header_end - 2] == '\r' ? 2 : 1);
    size_t body_len = len - header_end;
    if (sip.content_length >= 0 && (size_t)sip.content_length < body_len)
        body_len = (size_t)sip.content_length; /* what follows is not this message's */

    /* the body's fate decides which Content-* headers stay */
    redact_body_t body = REDACT_BODY_KEEP;
    redact_field_t f;
    int typed = 0;
    for (size_t i = sip.start_line_len; redact_next_field(in, i, blank, &f); i = f.end) {
        size_t n;
        const char *name = redact_full_name(in + f.start, f.name_end - f.start, &n);
        if (!typed && f.colon < f.end && redact_name_is(name, n, "Content-Type")) {
            body = redact_body_action(r, in + f.colon + 1, redact_eol_start(in, &f) - f.colon - 1);
            typed = 1;
        }
    }
    if (!typed && body_len) body = redact_body_action(r, (const uint8_t *)"", 0);
    if (body_len == 0) body = REDACT_BODY_KEEP;
    size_t new_body = body == REDACT_BODY_KEEP ? body_len : 0;

    redact_writer_t w = {.out = out, .cap = cap};
    if (sip.is_request && r->request_uri) {
        size_t uri_at = (size_t)(sip.uri.ptr - in);
        w_put(&w, in, uri_at);
        redact_value(r, sip.uri.ptr, sip.uri.len, 0, 0, &w, st);
        w_put(&w, in + uri_at + sip.uri.len, sip.start_line_len - uri_at - sip.uri.len);
    } else {
        w_put(&w, in, sip.start_line_len);
    }
    for (size_t i = sip.start_line_len; redact_next_field(in, i, blank, &f); i = f.end) {
        if (f.colon == f.end) { /* not a header: kept as it was */
            w_put(&w, in + f.start, f.end - f.start);
            continue;
        }
        size_t n;
        const char *name = redact_full_name(in + f.start, f.name_end - f.start, &n);
        size_t eol = redact_eol_start(in, &f);
        if (redact_name_in(r->drop, r->drop_count, name, n) ||
            (body == REDACT_BODY_DROP && redact_is_content_header(name, n))) {
            st->headers_dropped++;
            continue;
        }
        if (redact_name_is(name, n, "Content-Length")) {
            char num[24];
            int k = snprintf(num, sizeof(num), " %zu", new_body);
            w_put(&w, in + f.start, f.colon + 1 - f.start);
            w_put(&w, num, (size_t)k);
            w_put(&w, in + eol, f.end - eol);
            continue;
        }
        if (r->call_id && redact_name_is(name, n, "Call-ID")) {
            uint8_t hex[REDACT_CALL_ID_HEX];
            redact_call_id(r, sip.call_id, hex);
            st->call_ids++;
            w_put(&w, in + f.start, f.colon + 1 - f.start);
            w_char(&w, ' ');
            w_put(&w, hex, sizeof(hex));
            w_put(&w, in + eol, f.end - eol);
            continue;
        }
        w_put(&w, in + f.start, f.colon + 1 - f.start);
        if (redact_name_in(r->headers, r->header_count, name, n))
            redact_value(r, in + f.colon + 1, eol - f.colon - 1, 0, redact_is_name_addr(name, n),
                         &w, st);
        else
            w_put(&w, in + f.colon + 1, eol - f.colon - 1);
        w_put(&w, in + eol, f.end - eol);
    }
    w_put(&w, in + blank, header_end - blank);
    if (body == REDACT_BODY_KEEP)
        w_put(&w, in + header_end, body_len);
    else if (body == REDACT_BODY_BLANK)
        st->bodies_blanked++;
    else
        st->bodies_dropped++;
    if (w.full) {
        st->too_big++;
        return HA_ETOOBIG;
    }
    st->messages++;
    return (int)w.len;
}

void redact_visit_stats(const redact_stats_t *st, const stats_visitor_t *v)
{
#define REDACT_VISIT(name, help)                                                                   \
    stats_emit(v, "redact." #name, NULL, NULL, STATS_COUNTER, st->name, help);
    REDACT_COUNTERS(REDACT_VISIT)
#undef REDACT_VISIT
}

/* One direction of a TLS connection: records cut out of its in-order
 * bytes (several per segment or one over many; a record that fits in what
 * was handed over is decrypted where it lies, only one cut over segments is
 * copied), the handshake followed (ClientHello, ServerHello, Finished,
 * KeyUpdate, renegotiation), the keys of its current phase taken from the
 * key log store, each protected record decrypted with its tag verified, and
 * the plaintext of application data handed to its SIP/WebSocket framer. */
#include "hepagent/common.h"
#include "hepagent/rules.h"
#include "hepagent/tlssession.h"

#include <stdlib.h>
#include <string.h>

/* ServerHello.random of a HelloRetryRequest (RFC 8446 4.1.3) */
static const uint8_t hrr_random[TLS_RANDOM_LEN] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

void tlsrec_hello_free(tlsdec_t *d, tlsdec_half_t *h)
{
    d->memory -= h->hs_body_cap;
    free(h->hs_body);
    h->hs_body = NULL;
    h->hs_body_len = h->hs_body_cap = 0;
}

/* ---- keys ------------------------------------------------------------- */

static void keys_found(tlsdec_t *d, tls_conn_t *c)
{
    if (c->keys_found) return;
    c->keys_found = 1;
    d->stats.sessions_with_keys++;
}

/* Sets the half's cipher for its current phase; REC_NEED_KEY when the
 * store does not have the secret (yet). Returns 0 when the session stops. */
static int half_keys(tlsdec_t *d, tlsdec_half_t *h, rec_result_t *need)
{
    tls_conn_t *c = h->conn;
    *need = REC_DONE;
    if (!c->suite || !c->have_client_hello || h->side == SIDE_UNKNOWN) return 0;
    if (c->version == TLS_VERSION_12) {
        const keylog_secret_t *s = keylog_find(d->keys, c->client_random, KEYLOG_MASTER_SECRET);
        if (!s) {
            *need = REC_NEED_KEY;
            return 1;
        }
        tlsdec_half_t *client = h->side == SIDE_CLIENT ? h : tls_other_half(h);
        tlsdec_half_t *server = tls_other_half(client);
        if (tls12_set_keys(d->crypto, c->suite, s->bytes, c->client_random, c->server_random,
                           &client->cipher, &server->cipher) != HA_OK)
            return 0;
        client->has_keys = server->has_keys = 1;
        keys_found(d, c);
        return 1;
    }
    keylog_kind_t kind;
    if (h->phase == PHASE_HANDSHAKE)
        kind = h->side == SIDE_CLIENT ? KEYLOG_CLIENT_HANDSHAKE : KEYLOG_SERVER_HANDSHAKE;
    else
        kind = h->side == SIDE_CLIENT ? KEYLOG_CLIENT_TRAFFIC_0 : KEYLOG_SERVER_TRAFFIC_0;
    const keylog_secret_t *s = keylog_find(d->keys, c->client_random, kind);
    if (!s) {
        *need = REC_NEED_KEY;
        return 1;
    }
    if (s->len != tls_suite_hash_len(c->suite)) { /* a secret of another hash: a wrong key */
        d->stats.auth_failures++;
        return 0;
    }
    memcpy(h->secret, s->bytes, s->len);
    if (tls13_set_keys(d->crypto, c->suite, h->secret, &h->cipher) != HA_OK) return 0;
    h->has_keys = 1;
    keys_found(d, c);
    return 1;
}

/* ---- handshake -------------------------------------------------------- */

/* A bounds-checked reader of handshake message bodies. */
typedef struct {
    const uint8_t *p;
    size_t n, at;
    int bad;
} reader_t;

static const uint8_t *take(reader_t *r, size_t n)
{
    if (r->bad || r->n - r->at < n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->at;
    r->at += n;
    return p;
}

static unsigned take_u8(reader_t *r)
{
    const uint8_t *p = take(r, 1);
    return p ? p[0] : 0;
}

static unsigned take_u16(reader_t *r)
{
    const uint8_t *p = take(r, 2);
    return p ? be16(p) : 0;
}

/* The extensions block that ends a hello (empty when it is cut short). */
static reader_t extensions(reader_t *r)
{
    unsigned len = take_u16(r);
    const uint8_t *p = take(r, len);
    return (reader_t){p, p ? len : 0, 0, r->bad};
}

static int client_hello(tlsdec_t *d, tlsdec_half_t *h, const uint8_t *body, size_t len)
{
    tls_conn_t *c = h->conn;
    reader_t r = {body, len, 0, 0};
    take_u16(&r); /* legacy_version */
    const uint8_t *random = take(&r, TLS_RANDOM_LEN);
    unsigned sid_len = take_u8(&r);
    const uint8_t *sid = take(&r, sid_len);
    take(&r, take_u16(&r)); /* cipher_suites */
    take(&r, take_u8(&r));  /* compression_methods */
    int early = 0;
    if (!r.bad && r.at < r.n) {
        reader_t ext = extensions(&r);
        while (!ext.bad && ext.at < ext.n) {
            unsigned type = take_u16(&ext);
            take(&ext, take_u16(&ext));
            if (type == EXT_EARLY_DATA) early = 1;
        }
        r.bad |= ext.bad;
    }
    if (r.bad || sid_len > 32 ||
        (c->have_client_hello && memcmp(random, c->client_random, TLS_RANDOM_LEN) != 0)) {
        d->stats.bad_handshakes++;
        return 0;
    }
    if (c->have_client_hello) return 1; /* the second ClientHello after a HelloRetryRequest */
    c->offered_early_data = (uint8_t)early;
    memcpy(c->client_random, random, TLS_RANDOM_LEN);
    memcpy(c->session_id, sid, sid_len);
    c->session_id_len = (uint8_t)sid_len;
    c->have_client_hello = 1;
    h->side = SIDE_CLIENT;
    tls_other_half(h)->side = SIDE_SERVER;
    d->stats.sessions++;
    tlsdec_index_random(d, c);
    return 1;
}

static int server_hello(tlsdec_t *d, tlsdec_half_t *h, const uint8_t *body, size_t len)
{
    tls_conn_t *c = h->conn;
    if (!c->have_client_hello) {
        d->stats.no_client_hello++;
        return 0;
    }
    if (h->side != SIDE_SERVER || c->have_server_hello) {
        d->stats.bad_handshakes++;
        return 0;
    }
    reader_t r = {body, len, 0, 0};
    unsigned version = take_u16(&r);
    const uint8_t *random = take(&r, TLS_RANDOM_LEN);
    unsigned sid_len = take_u8(&r);
    const uint8_t *sid = take(&r, sid_len);
    unsigned suite = take_u16(&r);
    take_u8(&r); /* compression_method */
    int psk = 0;
    if (!r.bad && r.at < r.n) {
        reader_t ext = extensions(&r);
        while (!ext.bad && ext.at < ext.n) {
            unsigned type = take_u16(&ext);
            unsigned n = take_u16(&ext);
            if (type == EXT_SUPPORTED_VERSIONS && n == 2)
                version = take_u16(&ext);
            else
                take(&ext, n);
            if (type == EXT_PRE_SHARED_KEY) psk = 1;
        }
        r.bad |= ext.bad;
    }
    if (r.bad || sid_len > 32) {
        d->stats.bad_handshakes++;
        return 0;
    }
    if (memcmp(random, hrr_random, TLS_RANDOM_LEN) == 0) { /* a real one follows */
        c->hello_retry = 1;
        return 1;
    }
    c->have_server_hello = 1;
    if (version != TLS_VERSION_12 && version != TLS_VERSION_13) {
        d->stats.unsupported_versions++;
        return 0;
    }
    c->version = (uint16_t)version;
    if (version == TLS_VERSION_13)
        d->stats.sessions_tls13++;
    else
        d->stats.sessions_tls12++;
    c->suite = tls_suite_find((uint16_t)suite, (uint16_t)version);
    if (!c->suite) {
        d->stats.unsupported_suites++;
        return 0;
    }
    if (version == TLS_VERSION_13) {
        if (psk) d->stats.resumed++;
        /* from here on both directions protect what they send */
        c->half[0].encrypted = c->half[1].encrypted = 1;
    } else {
        if (sid_len && sid_len == c->session_id_len && memcmp(sid, c->session_id, sid_len) == 0)
            d->stats.resumed++;
        memcpy(c->server_random, random, TLS_RANDOM_LEN);
    }
    return 1;
}

/* A whole handshake message of this half. Returns 0 when the session stops. */
static int handshake_message(tlsdec_t *d, tlsdec_half_t *h, unsigned type, const uint8_t *body,
                             size_t len)
{
    tls_conn_t *c = h->conn;
    switch (type) {
    case HS_CLIENT_HELLO:
    case HS_HELLO_REQUEST:
        if (h->encrypted && c->version == TLS_VERSION_12) { /* renegotiation */
            if (!c->renegotiating) d->stats.renegotiations++;
            c->renegotiating = 1;
            return 1;
        }
        if (type == HS_HELLO_REQUEST) return 1;
        if (h->encrypted || h->side == SIDE_SERVER) break;
        return client_hello(d, h, body, len);
    case HS_SERVER_HELLO:
        if (h->encrypted && c->version == TLS_VERSION_12 && c->renegotiating) return 1;
        if (h->encrypted) break;
        return server_hello(d, h, body, len);
    case HS_FINISHED:
        if (c->version == TLS_VERSION_13 && h->phase == PHASE_HANDSHAKE)
            h->key_change = KEY_CHANGE_FINISHED;
        return 1;
    case HS_KEY_UPDATE:
        if (c->version != TLS_VERSION_13 || h->phase != PHASE_APPLICATION) break;
        h->key_change = KEY_CHANGE_UPDATE;
        return 1;
    default:
        return 1;
    }
    d->stats.bad_handshakes++;
    return 0;
}

/* Handshake bytes (plain or decrypted); messages may span records. Returns
 * 0 when the session stops. */
static int handshake_bytes(tlsdec_t *d, tlsdec_half_t *h, const uint8_t *p, size_t n)
{
    while (n > 0) {
        if (h->hs_hdr_len < 4) {
            size_t k = HA_MIN(n, (size_t)(4 - h->hs_hdr_len));
            memcpy(h->hs_hdr + h->hs_hdr_len, p, k);
            h->hs_hdr_len += (uint8_t)k;
            p += k;
            n -= k;
            if (h->hs_hdr_len < 4) return 1;
            h->hs_left = be24(h->hs_hdr + 1);
            unsigned type = h->hs_hdr[0];
            if (type == HS_CLIENT_HELLO || type == HS_SERVER_HELLO) {
                if (h->hs_left > HELLO_MAX) {
                    d->stats.bad_handshakes++;
                    return 0;
                }
                if (!tlsdec_grow(d, &h->hs_body, &h->hs_body_cap, h->hs_left ? h->hs_left : 1))
                    return 0;
                h->hs_body_len = 0;
            }
        } else {
            size_t k = HA_MIN(n, (size_t)h->hs_left);
            if (h->hs_body) memcpy(h->hs_body + h->hs_body_len, p, k);
            h->hs_body_len += k;
            h->hs_left -= (uint32_t)k;
            p += k;
            n -= k;
        }
        if (h->hs_hdr_len == 4 && h->hs_left == 0) {
            h->hs_hdr_len = 0;
            int ok = handshake_message(d, h, h->hs_hdr[0], h->hs_body, h->hs_body_len);
            tlsrec_hello_free(d, h);
            if (!ok) return 0;
        }
    }
    return 1;
}

/* ---- records ---------------------------------------------------------- */

static int record_header_ok(const uint8_t *hdr)
{
    return hdr[0] >= TLS_CT_CCS && hdr[0] <= TLS_CT_HEARTBEAT && hdr[1] == 3 && hdr[2] <= 4 &&
           be16(hdr + 3) <= TLS_CIPHERTEXT_MAX;
}

/* Applies a key change that took effect at the end of the record. */
static int half_key_change(tlsdec_t *d, tlsdec_half_t *h)
{
    tls_conn_t *c = h->conn;
    int change = h->key_change;
    h->key_change = KEY_CHANGE_NONE;
    if (change == KEY_CHANGE_FINISHED) {
        h->phase = PHASE_APPLICATION;
        h->has_keys = 0; /* the first traffic secret is looked up at the next record */
        return 1;
    }
    if (change == KEY_CHANGE_UPDATE) {
        d->stats.key_updates++;
        return tls13_next_secret(d->crypto, c->suite, h->secret) == HA_OK &&
               tls13_set_keys(d->crypto, c->suite, h->secret, &h->cipher) == HA_OK;
    }
    return 1;
}

/* Plaintext of application data: SIP, or HTTP upgrading to WebSocket. */
static void application_data(tlsdec_t *d, tlsdec_half_t *h, const uint8_t *p, size_t n,
                             uint64_t sec, uint32_t usec)
{
    if (tcpframe_data(&d->frame, &h->frame, &h->pkt, p, n, sec, usec) > 0)
        tcpframe_ignore(&h->frame); /* TLS inside TLS: not followed */
}

/* A record in clear: the handshake before encryption, ChangeCipherSpec,
 * alerts. Returns 0 when the session stops. */
static int record_clear(tlsdec_t *d, tlsdec_half_t *h, const uint8_t *rec, size_t len)
{
    tls_conn_t *c = h->conn;
    const uint8_t *body = rec + TLS_RECORD_HEADER;
    size_t body_len = len - TLS_RECORD_HEADER;
    switch (rec[0]) {
    case TLS_CT_HANDSHAKE:
        return handshake_bytes(d, h, body, body_len);
    case TLS_CT_CCS:
        if (c->version == TLS_VERSION_13 || c->hello_retry) return 1; /* middlebox compatibility */
        if (c->version != TLS_VERSION_12 || body_len != 1) {
            d->stats.bad_records++;
            return 0;
        }
        h->encrypted = 1;
        return 1;
    case TLS_CT_ALERT:
        d->stats.alerts++;
        return 1;
    case TLS_CT_APPLICATION:
        /* before the ServerHello only 0-RTT data can come, from the client */
        if (h->side == SIDE_CLIENT && !c->have_server_hello && c->offered_early_data &&
            h->early_skipped < EARLY_DATA_MAX_RECORDS) {
            h->early_skipped++;
            d->stats.early_data_skipped++;
            return 1;
        }
        d->stats.bad_records++;
        return 0;
    default:
        return 1; /* heartbeat */
    }
}

/* One whole record. */
static rec_result_t record(tlsdec_t *d, tlsdec_half_t *h, const uint8_t *rec, size_t len,
                           uint64_t sec, uint32_t usec)
{
    tls_conn_t *c = h->conn;
    if (!c->have_client_hello && rec[0] != TLS_CT_HANDSHAKE) {
        /* seen from the middle: its client random, so its keys, are unknown */
        d->stats.no_client_hello++;
        tlsdec_stop(d, c);
        return REC_DONE;
    }
    if (!h->encrypted || (c->version == TLS_VERSION_13 && rec[0] != TLS_CT_APPLICATION &&
                          rec[0] != TLS_CT_HANDSHAKE)) {
        if (!record_clear(d, h, rec, len)) tlsdec_stop(d, c);
        return REC_DONE;
    }
    if (c->version == TLS_VERSION_13 && rec[0] == TLS_CT_HANDSHAKE) { /* only in clear */
        d->stats.bad_records++;
        tlsdec_stop(d, c);
        return REC_DONE;
    }
    if (c->version == TLS_VERSION_12 && rec[0] == TLS_CT_CCS) {
        /* keys change: a renegotiation completes */
        if (!c->renegotiating) d->stats.renegotiations++;
        tlsdec_stop(d, c);
        return REC_DONE;
    }
    if (!h->has_keys) {
        rec_result_t need;
        if (!half_keys(d, h, &need)) {
            tlsdec_stop(d, c);
            return REC_DONE;
        }
        if (need == REC_NEED_KEY && c->gave_up) {
            d->stats.records_without_key++;
            return REC_DONE;
        }
        if (need == REC_NEED_KEY) return REC_NEED_KEY;
    }
    int n = tls_decrypt_record(&h->cipher, rec, len, d->plain);
    if (n < 0) {
        /* 0-RTT records the client sent before it saw the ServerHello come
         * before its handshake records and do not open with its keys */
        if (h->side == SIDE_CLIENT && c->offered_early_data && !h->decrypted &&
            h->early_skipped < EARLY_DATA_MAX_RECORDS) {
            h->early_skipped++;
            d->stats.early_data_skipped++;
            return REC_DONE;
        }
        d->stats.auth_failures++;
        tlsdec_stop(d, c);
        return REC_DONE;
    }
    h->decrypted = 1;
    d->stats.records_decrypted++;
    unsigned type = rec[0];
    size_t plain = (size_t)n;
    if (c->version == TLS_VERSION_13) { /* TLSInnerPlaintext: content, type, zeros */
        while (plain > 0 && d->plain[plain - 1] == 0)
            plain--;
        if (plain == 0) {
            d->stats.bad_records++;
            tlsdec_stop(d, c);
            return REC_DONE;
        }
        type = d->plain[--plain];
    }
    int ok = 1;
    switch (type) {
    case TLS_CT_APPLICATION:
        application_data(d, h, d->plain, plain, sec, usec);
        break;
    case TLS_CT_HANDSHAKE:
        ok = handshake_bytes(d, h, d->plain, plain);
        break;
    case TLS_CT_ALERT:
        d->stats.alerts++;
        break;
    default:
        d->stats.bad_records++;
        ok = 0;
        break;
    }
    if (ok && h->key_change) ok = half_key_change(d, h);
    if (!ok) tlsdec_stop(d, c);
    return REC_DONE;
}

/* A whole record of the half, in order. */
void tlsrec_record(tlsdec_t *d, tlsdec_half_t *h, const uint8_t *rec, size_t len, uint64_t sec,
                   uint32_t usec)
{
    if (h->state != HALF_LIVE) {
        d->stats.records_skipped++;
        return;
    }
    /* while records of the connection wait, later ones of either direction
     * wait behind them, so messages come out in capture order */
    if ((h->conn->waiting || record(d, h, rec, len, sec, usec) == REC_NEED_KEY) &&
        tlsdec_wait(d, h, rec, len, sec, usec))
        record(d, h, rec, len, sec, usec); /* no more waiting: counted if it needs the key */
}

/* Cuts records out of the direction's bytes. */
void tlsrec_bytes(tlsdec_t *d, tlsdec_half_t *h, const uint8_t *data, size_t len, uint64_t sec,
                  uint32_t usec)
{
    if (h->gap) return;
    while (len > 0 && h->state != HALF_LOST) {
        if (h->skip) { /* the body of a record of a stopped half */
            size_t k = HA_MIN(h->skip, len);
            h->skip -= k;
            data += k;
            len -= k;
            continue;
        }
        if (h->hdr_len == 0 && len >= TLS_RECORD_HEADER) {
            if (!record_header_ok(data)) break;
            size_t whole = TLS_RECORD_HEADER + be16(data + 3);
            if (len >= whole) { /* the common case: decrypted where it lies */
                tlsrec_record(d, h, data, whole, sec, usec);
                data += whole;
                len -= whole;
                continue;
            }
        }
        if (h->hdr_len < TLS_RECORD_HEADER) {
            if (h->hdr_len == 0) {
                h->rec_sec = sec;
                h->rec_usec = usec;
            }
            size_t k = HA_MIN(len, TLS_RECORD_HEADER - h->hdr_len);
            memcpy(h->hdr + h->hdr_len, data, k);
            h->hdr_len += k;
            data += k;
            len -= k;
            if (h->hdr_len < TLS_RECORD_HEADER) return;
            if (!record_header_ok(h->hdr)) break;
            h->rec_need = TLS_RECORD_HEADER + be16(h->hdr + 3);
            if (h->state != HALF_LIVE) { /* count it, do not keep it */
                tlsrec_record(d, h, h->hdr, TLS_RECORD_HEADER, sec, usec);
                h->skip = h->rec_need - TLS_RECORD_HEADER;
                h->hdr_len = 0;
                continue;
            }
            if (!tlsdec_grow(d, &h->rec, &h->rec_cap, h->rec_need)) {
                tlsdec_stop(d, h->conn);
                h->state = HALF_LOST;
                return;
            }
            memcpy(h->rec, h->hdr, TLS_RECORD_HEADER);
            h->rec_len = TLS_RECORD_HEADER;
        }
        size_t k = HA_MIN(len, h->rec_need - h->rec_len);
        memcpy(h->rec + h->rec_len, data, k);
        h->rec_len += k;
        data += k;
        len -= k;
        if (h->rec_len < h->rec_need) return;
        tlsrec_record(d, h, h->rec, h->rec_len, h->rec_sec, h->rec_usec);
        h->hdr_len = h->rec_len = 0;
        if (h->rec_cap > 4096) { /* keep small buffers for the next record */
            d->memory -= h->rec_cap;
            free(h->rec);
            h->rec = NULL;
            h->rec_cap = 0;
        }
    }
    if (len > 0 && h->state != HALF_LOST) { /* not a record: the stream is lost */
        d->stats.bad_records++;
        tlsdec_stop(d, h->conn);
        h->state = HALF_LOST;
    }
}

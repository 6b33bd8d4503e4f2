/* TLS decryption against real TLS: OpenSSL's libssl runs a client and a
 * server in memory (every suite we support, TLS 1.2 and 1.3, KeyUpdate,
 * resumption, HelloRetryRequest, renegotiation), the bytes each side sends
 * become TCP segments cut at a chosen size, and what hepagent decrypts must
 * be exactly what was written: every SIP message, whole, in order, as TLS
 * or WSS. Keys come before, after or never; wrong keys and garbage must
 * produce nothing but counters. */
#include "test_util.h"

#include "hepagent/common.h"
#include "hepagent/keylog.h"
#include "hepagent/rules.h"
#include "hepagent/tcpstream.h"
#include "hepagent/tlsdecrypt.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* ---- what hepagent emitted ---- */

enum { MAX_GOT = 64 };

typedef struct {
    char data[MAX_GOT][4096];
    size_t len[MAX_GOT];
    unsigned transport[MAX_GOT];
    uint16_t sport[MAX_GOT];
    uint64_t sec[MAX_GOT];
    uint32_t usec[MAX_GOT];
    int count;
} got_t;

static got_t got;

static void emit(void *ctx, const packet_t *pkt, unsigned transport, const uint8_t *data,
                 size_t len, const sip_msg_t *sip, uint64_t sec, uint32_t usec)
{
    (void)ctx;
    assert_true(sip_has_mandatory(sip));
    assert_int_equal(pkt->l4_proto, 6);
    assert_true(got.count < MAX_GOT);
    assert_true(len < sizeof(got.data[0]));
    memcpy(got.data[got.count], data, len);
    got.len[got.count] = len;
    got.transport[got.count] = transport;
    got.sport[got.count] = pkt->src_port;
    got.sec[got.count] = sec;
    got.usec[got.count] = usec;
    got.count++;
}

/* ---- an in-memory TLS connection ---- */

static EVP_PKEY *pkey;
static X509 *cert;
static SSL_CTX *shared_server; /* keeps the ticket keys for resumption */
static char keylog_text[65536];
static size_t keylog_len;

static void keylog_cb(const SSL *ssl, const char *line)
{
    (void)ssl;
    size_t n = strlen(line);
    assert_true(keylog_len + n + 1 < sizeof(keylog_text));
    memcpy(keylog_text + keylog_len, line, n);
    keylog_text[keylog_len + n] = '\n';
    keylog_len += n + 1;
}

static int setup_cert(void **state)
{
    (void)state;
    pkey = EVP_EC_gen("P-256");
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, pkey);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sip.test", -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, pkey, EVP_sha256());
    return pkey && cert ? 0 : -1;
}

static int teardown_cert(void **state)
{
    (void)state;
    X509_free(cert);
    EVP_PKEY_free(pkey);
    SSL_CTX_free(shared_server);
    return 0;
}

/* The capture: both directions' TCP segments, in the order they were sent. */
typedef struct {
    tcpstream_t *tcp;
    tlsdec_t *tls;
    keylog_t *keys;
    uint32_t seq[2]; /* next sequence number: [0] client, [1] server */
    size_t segment;  /* bytes per segment */
    uint64_t usec;   /* capture clock, advanced per segment */
    int feed;        /* 0: segments are kept, not fed */
    /* segments kept for later */
    uint8_t *held;
    size_t held_len, held_cap;
} capture_t;

typedef struct {
    SSL_CTX *sctx, *cctx;
    SSL *s, *c;
    BIO *c_in, *c_out, *s_in, *s_out; /* memory BIOs: *_in what the side reads */
    capture_t *cap;
} conn_t;

static packet_t segment_pkt(int from_server, uint32_t seq, uint8_t flags, const uint8_t *data,
                            size_t len, uint64_t usec)
{
    packet_t p;
    memset(&p, 0, sizeof(p));
    p.ip_version = 4;
    p.l4_proto = 6;
    uint8_t client[4] = {10, 0, 0, 1}, server[4] = {10, 0, 0, 2};
    memcpy(p.src_addr, from_server ? server : client, 4);
    memcpy(p.dst_addr, from_server ? client : server, 4);
    p.src_port = from_server ? 5061 : 40000;
    p.dst_port = from_server ? 40000 : 5061;
    p.tcp_seq = seq;
    p.tcp_flags = flags;
    p.payload = data;
    p.payload_len = (uint32_t)len;
    p.ts_sec = 1000 + usec / 1000000;
    p.ts_usec = (uint32_t)(usec % 1000000);
    return p;
}

static void capture_packet(capture_t *cap, int from_server, uint8_t flags, const uint8_t *data,
                           size_t len)
{
    cap->usec += 1000;
    packet_t p = segment_pkt(from_server, cap->seq[from_server], flags, data, len, cap->usec);
    if (cap->feed) {
        tcpstream_segment(cap->tcp, &p);
    } else { /* kept as: direction, flags, seq, usec, length, bytes */
        size_t need = cap->held_len + 1 + 1 + 4 + 8 + 4 + len;
        if (need > cap->held_cap) {
            cap->held_cap = need * 2;
            cap->held = realloc(cap->held, cap->held_cap);
        }
        uint8_t *h = cap->held + cap->held_len;
        h[0] = (uint8_t)from_server;
        h[1] = flags;
        memcpy(h + 2, &p.tcp_seq, 4);
        memcpy(h + 6, &cap->usec, 8);
        uint32_t l = (uint32_t)len;
        memcpy(h + 14, &l, 4);
        if (len) memcpy(h + 18, data, len);
        cap->held_len = need;
    }
    cap->seq[from_server] += (uint32_t)len + ((flags & (TCP_FLAG_SYN | TCP_FLAG_FIN)) ? 1 : 0);
}

static void capture_replay(capture_t *cap)
{
    for (size_t at = 0; at < cap->held_len;) {
        const uint8_t *h = cap->held + at;
        uint32_t seq, len;
        uint64_t usec;
        memcpy(&seq, h + 2, 4);
        memcpy(&usec, h + 6, 8);
        memcpy(&len, h + 14, 4);
        packet_t p = segment_pkt(h[0], seq, h[1], h + 18, len, usec);
        tcpstream_segment(cap->tcp, &p);
        at += 18 + len;
    }
    cap->held_len = 0;
}

/* Moves what one side wrote to the other, as TCP segments. */
static int shuttle(conn_t *k)
{
    int moved = 0;
    for (int from_server = 0; from_server < 2; from_server++) {
        BIO *out = from_server ? k->s_out : k->c_out;
        BIO *in = from_server ? k->c_in : k->s_in;
        uint8_t buf[65536];
        int n;
        while ((n = BIO_read(out, buf, sizeof(buf))) > 0) {
            BIO_write(in, buf, n);
            for (size_t at = 0; at < (size_t)n; at += k->cap->segment)
                capture_packet(k->cap, from_server, TCP_FLAG_ACK | TCP_FLAG_PSH, buf + at,
                               HA_MIN(k->cap->segment, (size_t)n - at));
            moved = 1;
        }
    }
    return moved;
}

/* Reads what arrived at a side so its TLS state moves on (key updates,
 * tickets); the bytes were recorded by the test already. */
static void drain(conn_t *k)
{
    uint8_t buf[65536];
    for (int i = 0; i < 4; i++) {
        while (SSL_read(k->s, buf, sizeof(buf)) > 0)
            ;
        while (SSL_read(k->c, buf, sizeof(buf)) > 0)
            ;
        if (!shuttle(k)) break;
    }
}

typedef struct {
    int version;         /* TLS1_2_VERSION or TLS1_3_VERSION */
    const char *cipher;  /* TLS 1.2 cipher list or TLS 1.3 suite */
    const char *groups;  /* server groups (HelloRetryRequest when the client's first differs) */
    SSL_SESSION *resume; /* a session to resume */
} tls_params_t;

static void conn_open(conn_t *k, capture_t *cap, const tls_params_t *p)
{
    memset(k, 0, sizeof(*k));
    k->cap = cap;
    k->sctx = SSL_CTX_new(TLS_server_method());
    k->cctx = SSL_CTX_new(TLS_client_method());
    for (int i = 0; i < 2; i++) {
        SSL_CTX *ctx = i ? k->cctx : k->sctx;
        SSL_CTX_set_min_proto_version(ctx, p->version);
        SSL_CTX_set_max_proto_version(ctx, p->version);
        SSL_CTX_set_keylog_callback(ctx, keylog_cb);
        if (p->version == TLS1_3_VERSION)
            SSL_CTX_set_ciphersuites(ctx, p->cipher);
        else
            SSL_CTX_set_cipher_list(ctx, p->cipher);
    }
    /* resumption: the server keeps its ticket keys in a shared context */
    if (p->resume && shared_server) {
        SSL_CTX_free(k->sctx);
        SSL_CTX_up_ref(shared_server);
        k->sctx = shared_server;
    } else {
        if (shared_server) SSL_CTX_free(shared_server);
        SSL_CTX_up_ref(k->sctx);
        shared_server = k->sctx;
    }
    SSL_CTX_set_options(k->sctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
    SSL_CTX_use_certificate(k->sctx, cert);
    SSL_CTX_use_PrivateKey(k->sctx, pkey);
    if (p->groups) {
        SSL_CTX_set1_groups_list(k->sctx, p->groups);
        SSL_CTX_set1_groups_list(k->cctx, "X25519:P-256:P-384");
    }
    k->s = SSL_new(k->sctx);
    k->c = SSL_new(k->cctx);
    k->c_in = BIO_new(BIO_s_mem());
    k->c_out = BIO_new(BIO_s_mem());
    k->s_in = BIO_new(BIO_s_mem());
    k->s_out = BIO_new(BIO_s_mem());
    SSL_set_bio(k->c, k->c_in, k->c_out);
    SSL_set_bio(k->s, k->s_in, k->s_out);
    SSL_set_connect_state(k->c);
    SSL_set_accept_state(k->s);
    if (p->resume) SSL_set_session(k->c, p->resume);
    /* the TCP handshake */
    capture_packet(cap, 0, TCP_FLAG_SYN, NULL, 0);
    capture_packet(cap, 1, TCP_FLAG_SYN | TCP_FLAG_ACK, NULL, 0);
    for (int i = 0; i < 20; i++) {
        int c = SSL_do_handshake(k->c), s = SSL_do_handshake(k->s);
        int moved = shuttle(k);
        if (c == 1 && s == 1 && !moved) break;
    }
    assert_int_equal(SSL_is_init_finished(k->c), 1);
    assert_int_equal(SSL_is_init_finished(k->s), 1);
    drain(k); /* session tickets */
}

static void conn_close(conn_t *k)
{
    /* close_notify both ways (a session not shut down is not resumable) */
    SSL_shutdown(k->c);
    SSL_shutdown(k->s);
    shuttle(k);
    capture_packet(k->cap, 0, TCP_FLAG_FIN | TCP_FLAG_ACK, NULL, 0);
    capture_packet(k->cap, 1, TCP_FLAG_FIN | TCP_FLAG_ACK, NULL, 0);
    SSL_free(k->c);
    SSL_free(k->s);
    SSL_CTX_free(k->cctx);
    SSL_CTX_free(k->sctx);
}

/* Writes bytes as one record (TLS never joins writes into one record). */
static void tls_write(conn_t *k, int from_server, const char *text, size_t len)
{
    assert_int_equal(SSL_write(from_server ? k->s : k->c, text, (int)len), (int)len);
}

static void notify(void *ctx, const uint8_t *random, keylog_kind_t kind)
{
    (void)kind;
    tlsdec_key_arrived(ctx, random);
}

static void capture_init(capture_t *cap, size_t segment, uint32_t pending_kb, uint32_t pending_ms)
{
    memset(cap, 0, sizeof(*cap));
    memset(&got, 0, sizeof(got));
    keylog_len = 0;
    tcpstream_options_t to = {1024, 65536, 16 << 20, 60000};
    cap->tcp = tcpstream_new(&to, emit, NULL);
    cap->keys = keylog_new(64);
    tls_decrypt_options_t o = {
        .max_sessions = 64, .pending_kb = pending_kb, .pending_ms = pending_ms};
    cap->tls = tlsdec_new(&o, cap->keys, &to, emit, NULL);
    assert_non_null(cap->tls);
    tcpstream_set_tls(cap->tcp, cap->tls);
    keylog_set_notify(cap->keys, notify, cap->tls); /* as pipeline.c does */
    cap->segment = segment;
    cap->seq[0] = 1000;
    cap->seq[1] = 900000;
    cap->feed = 1;
}

static void capture_free(capture_t *cap)
{
    tcpstream_free(cap->tcp);
    tlsdec_free(cap->tls);
    keylog_free(cap->keys);
    free(cap->held);
}

static void keys_in(capture_t *cap)
{
    keylog_add_text(cap->keys, keylog_text, keylog_len);
}

static const tlsdec_stats_t *st(const capture_t *cap)
{
    return tlsdec_stats(cap->tls);
}

/* ---- SIP ---- */

#define INVITE                                                                                     \
    "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.1:40000;branch=z9hG4bK1\r\n"    \
    "Call-ID: tls-1@10.0.0.1\r\nCSeq: 1 INVITE\r\nFrom: <sip:alice@example.com>;tag=1\r\n"         \
    "To: <sip:bob@example.com>\r\nContent-Type: application/sdp\r\nContent-Length: 23\r\n\r\n"     \
    "v=0\r\no=- 1 1 IN IP4 x\r\n"
#define TRYING                                                                                     \
    "SIP/2.0 100 Trying\r\nVia: SIP/2.0/TLS 10.0.0.1:40000;branch=z9hG4bK1\r\n"                    \
    "Call-ID: tls-1@10.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
#define OK200                                                                                      \
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 10.0.0.1:40000;branch=z9hG4bK1\r\n"                        \
    "Call-ID: tls-1@10.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
#define ACK                                                                                        \
    "ACK sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.1:40000;branch=z9hG4bK2\r\n"       \
    "Call-ID: tls-1@10.0.0.1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
#define BYE                                                                                        \
    "BYE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.1:40000;branch=z9hG4bK3\r\n"       \
    "Call-ID: tls-1@10.0.0.1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"

static const char *const call[] = {INVITE, TRYING, OK200, ACK, BYE, OK200};

/* A call: the INVITE cut over two records, 100 and 200 in one record, ACK
 * and BYE in one record, the last 200 alone. */
static void write_call(conn_t *k)
{
    const char *invite = INVITE;
    size_t half = strlen(invite) / 2;
    tls_write(k, 0, invite, half);
    tls_write(k, 0, invite + half, strlen(invite) - half);
    shuttle(k);
    tls_write(k, 1, TRYING OK200, strlen(TRYING OK200));
    shuttle(k);
    tls_write(k, 0, ACK BYE, strlen(ACK BYE));
    shuttle(k);
    tls_write(k, 1, OK200, strlen(OK200));
    shuttle(k);
    drain(k);
}

static void expect_call(unsigned transport)
{
    assert_int_equal(got.count, (int)HA_ARRAY_LEN(call));
    for (int i = 0; i < got.count; i++) {
        assert_int_equal(got.len[i], strlen(call[i]));
        assert_memory_equal(got.data[i], call[i], got.len[i]);
        assert_int_equal(got.transport[i], transport);
        assert_int_equal(got.sport[i], (i == 1 || i == 2 || i == 5) ? 5061 : 40000);
    }
}

/* A whole call on a new connection, closed; no keys given yet. */
static void call_closed(capture_t *cap, const tls_params_t *p, uint32_t pending_kb,
                        uint32_t pending_ms)
{
    capture_init(cap, 1448, pending_kb, pending_ms);
    conn_t k;
    conn_open(&k, cap, p);
    write_call(&k);
    conn_close(&k);
}

/* ---- the cases ---- */

static const tls_params_t suites[] = {
    {TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", NULL, NULL},
    {TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", NULL, NULL},
    {TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", NULL, NULL},
    {TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", NULL, NULL},
    {TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", NULL, NULL},
    {TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", NULL, NULL},
};

/* Every suite, segments of several sizes (a record over many segments,
 * many records in one), keys known before the traffic. */
static void test_suites(void **state)
{
    (void)state;
    static const size_t sizes[] = {7, 100, 1448, 65536};
    for (size_t i = 0; i < HA_ARRAY_LEN(suites); i++) {
        for (size_t j = 0; j < HA_ARRAY_LEN(sizes); j++) {
            capture_t cap;
            capture_init(&cap, sizes[j], 4096, 5000);
            cap.feed = 0;
            conn_t k;
            conn_open(&k, &cap, &suites[i]);
            write_call(&k);
            conn_close(&k);
            keys_in(&cap);
            capture_replay(&cap);
            expect_call(RULE_TRANSPORT_TLS);
            assert_int_equal(st(&cap)->sessions, 1);
            assert_int_equal(st(&cap)->sessions_with_keys, 1);
            assert_int_equal(st(&cap)->auth_failures, 0);
            assert_int_equal(suites[i].version == TLS1_3_VERSION ? st(&cap)->sessions_tls13
                                                                 : st(&cap)->sessions_tls12,
                             1);
            assert_true(st(&cap)->records_decrypted >= 6);
            assert_int_equal(st(&cap)->records_without_key + st(&cap)->records_skipped, 0);
            capture_free(&cap);
        }
    }
}

/* The key comes after the records: they wait and are decrypted in capture
 * order (requests before their responses) when it arrives, at every point
 * of the call. */
static void test_key_late(void **state)
{
    (void)state;
    for (size_t i = 0; i < HA_ARRAY_LEN(suites); i++) {
        capture_t cap;
        capture_init(&cap, 1448, 4096, 60000);
        keylog_set_notify(cap.keys, NULL, NULL); /* the test tells of the key itself */
        conn_t k;
        conn_open(&k, &cap, &suites[i]);
        write_call(&k);
        assert_int_equal(got.count, 0);
        assert_true(tlsdec_pending_bytes(cap.tls) > 0);
        keys_in(&cap);
        tlsdec_key_arrived(cap.tls, (const uint8_t *)"not a random at all, 32 bytes..");
        assert_int_equal(got.count, 0);
        /* the store told whoever listens; here the test does */
        uint8_t random[KEYLOG_RANDOM_LEN];
        const char *hex = strchr(keylog_text, ' ') + 1;
        for (int b = 0; b < KEYLOG_RANDOM_LEN; b++)
            sscanf(hex + 2 * b, "%2hhx", &random[b]);
        tlsdec_key_arrived(cap.tls, random);
        expect_call(RULE_TRANSPORT_TLS);
        assert_int_equal(tlsdec_pending_bytes(cap.tls), 0);
        assert_int_equal(st(&cap)->sessions_key_late, 1);
        /* the rest of the connection goes straight through */
        tls_write(&k, 0, BYE, strlen(BYE));
        shuttle(&k);
        assert_int_equal(got.count, 7);
        conn_close(&k);
        capture_free(&cap);
    }
}

/* Keys arriving through the store's notification in the middle of the
 * call, and a connection closed before its key: it is decrypted when the
 * key comes (the race of short connections). */
static void test_key_after_close(void **state)
{
    (void)state;
    for (size_t i = 0; i < HA_ARRAY_LEN(suites); i++) {
        capture_t cap;
        call_closed(&cap, &suites[i], 4096, 60000);
        assert_int_equal(got.count, 0);
        keys_in(&cap);
        expect_call(RULE_TRANSPORT_TLS);
        assert_int_equal(tlsdec_memory(cap.tls), 0); /* and then it was gone */
        capture_free(&cap);
    }
}

/* The key never comes, or comes too late: nothing is sent, the records are
 * counted as without key. */
static void test_key_missing(void **state)
{
    (void)state;
    for (size_t i = 0; i < HA_ARRAY_LEN(suites); i++) {
        capture_t cap;
        capture_init(&cap, 1448, 4096, 500);
        conn_t k;
        conn_open(&k, &cap, &suites[i]);
        write_call(&k);
        uint64_t pending = tlsdec_pending_bytes(cap.tls);
        assert_true(pending > 0);
        /* capture time moves on past pending_ms: given up at the next data */
        cap.usec += 600000;
        tls_write(&k, 0, BYE, strlen(BYE));
        shuttle(&k);
        assert_int_equal(st(&cap)->pending_expired, 1);
        assert_true(st(&cap)->records_without_key >= 6);
        keys_in(&cap); /* too late */
        conn_close(&k);
        assert_int_equal(got.count, 0);
        assert_int_equal(tlsdec_pending_bytes(cap.tls), 0);
        capture_free(&cap);

        /* never: the connection ends, the wait runs out on the clock */
        call_closed(&cap, &suites[i], 4096, 500);
        size_t before = st(&cap)->records_without_key;
        tlsdec_tick(cap.tls, UINT64_MAX / 2);
        assert_true(st(&cap)->records_without_key > before);
        assert_int_equal(tlsdec_memory(cap.tls), 0);
        assert_int_equal(got.count, 0);
        capture_free(&cap);

        /* pending_kb too small: overflow, nothing sent, even when the key comes */
        call_closed(&cap, &suites[i], 1, 60000);
        assert_int_equal(st(&cap)->pending_overflow, 1);
        keys_in(&cap);
        assert_int_equal(got.count, 0);
        capture_free(&cap);
    }
}

/* A wrong secret never produces output: the tag does not verify. */
static void test_wrong_key(void **state)
{
    (void)state;
    for (size_t i = 0; i < HA_ARRAY_LEN(suites); i++) {
        capture_t cap;
        capture_init(&cap, 1448, 4096, 5000);
        cap.feed = 0;
        conn_t k;
        conn_open(&k, &cap, &suites[i]);
        write_call(&k);
        conn_close(&k);
        /* flip the last hex digit of every secret */
        for (size_t at = 0; at < keylog_len; at++)
            if (keylog_text[at] == '\n')
                keylog_text[at - 1] = keylog_text[at - 1] == '0' ? '1' : '0';
        keys_in(&cap);
        capture_replay(&cap);
        assert_int_equal(got.count, 0);
        assert_int_equal(st(&cap)->auth_failures, 1);
        assert_true(st(&cap)->records_skipped > 0);
        capture_free(&cap);
    }
}

/* TLS 1.3 KeyUpdate from both sides, one asked for by the peer. */
static void test_key_update(void **state)
{
    (void)state;
    for (size_t i = 3; i < HA_ARRAY_LEN(suites); i++) {
        capture_t cap;
        capture_init(&cap, 1448, 4096, 5000);
        conn_t k;
        conn_open(&k, &cap, &suites[i]);
        keys_in(&cap);
        tls_write(&k, 0, INVITE, strlen(INVITE));
        shuttle(&k);
        drain(&k);
        assert_int_equal(SSL_key_update(k.c, SSL_KEY_UPDATE_REQUESTED), 1);
        tls_write(&k, 0, ACK, strlen(ACK));
        shuttle(&k);
        drain(&k); /* the server answers with its own KeyUpdate */
        tls_write(&k, 1, OK200, strlen(OK200));
        shuttle(&k);
        drain(&k);
        assert_int_equal(SSL_key_update(k.c, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
        tls_write(&k, 0, BYE, strlen(BYE));
        shuttle(&k);
        drain(&k);
        assert_int_equal(got.count, 4);
        assert_memory_equal(got.data[3], BYE, strlen(BYE));
        assert_int_equal(st(&cap)->key_updates, 3);
        assert_int_equal(st(&cap)->auth_failures, 0);
        conn_close(&k);
        capture_free(&cap);
    }
}

/* A resumed session (ticket) is decrypted with the lines logged for it. */
static void test_resumption(void **state)
{
    (void)state;
    static const size_t cases[] = {0, 3};
    for (size_t i = 0; i < HA_ARRAY_LEN(cases); i++) {
        capture_t cap;
        capture_init(&cap, 1448, 4096, 5000);
        conn_t k;
        tls_params_t p = suites[cases[i]];
        conn_open(&k, &cap, &p);
        SSL_SESSION *sess = SSL_get1_session(k.c);
        assert_non_null(sess);
        conn_close(&k);
        capture_free(&cap);

        capture_init(&cap, 1448, 4096, 5000);
        p.resume = sess;
        conn_open(&k, &cap, &p);
        assert_int_equal(SSL_session_reused(k.c), 1);
        keys_in(&cap);
        write_call(&k);
        expect_call(RULE_TRANSPORT_TLS);
        assert_int_equal(st(&cap)->resumed, 1);
        conn_close(&k);
        SSL_SESSION_free(sess);
        capture_free(&cap);
    }
}

/* HelloRetryRequest: the server wants a group the client did not send a
 * key share for; the second ClientHello and the real ServerHello follow. */
static void test_hello_retry(void **state)
{
    (void)state;
    capture_t cap;
    capture_init(&cap, 1448, 4096, 5000);
    conn_t k;
    tls_params_t p = suites[3];
    p.groups = "P-384";
    conn_open(&k, &cap, &p);
    keys_in(&cap);
    write_call(&k);
    expect_call(RULE_TRANSPORT_TLS);
    conn_close(&k);
    capture_free(&cap);
}

/* SIP over secure WebSocket: the upgrade, then masked frames. */
static void test_wss(void **state)
{
    (void)state;
    capture_t cap;
    capture_init(&cap, 1448, 4096, 5000);
    conn_t k;
    conn_open(&k, &cap, &suites[4]);
    keys_in(&cap);
    static const char upgrade[] = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                  "Connection: Upgrade\r\nSec-WebSocket-Protocol: sip\r\n\r\n";
    static const char accept[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 "Connection: Upgrade\r\n\r\n";
    tls_write(&k, 0, upgrade, strlen(upgrade));
    tls_write(&k, 1, accept, strlen(accept));
    uint8_t frame[1024];
    size_t n = strlen(INVITE);
    frame[0] = 0x81;
    frame[1] = 0x80 | 126;
    put_be16(frame + 2, (uint16_t)n);
    static const uint8_t mask[4] = {1, 2, 3, 4};
    memcpy(frame + 4, mask, 4);
    for (size_t i = 0; i < n; i++)
        frame[8 + i] = (uint8_t)INVITE[i] ^ mask[i & 3];
    tls_write(&k, 0, (const char *)frame, 8 + n);
    shuttle(&k);
    assert_int_equal(got.count, 1);
    assert_int_equal(got.transport[0], RULE_TRANSPORT_WSS);
    assert_memory_equal(got.data[0], INVITE, n);
    conn_close(&k);
    capture_free(&cap);
}

/* TLS 1.2 renegotiation: counted; the session stops when keys change. */
static void test_renegotiation(void **state)
{
    (void)state;
    capture_t cap;
    capture_init(&cap, 1448, 4096, 5000);
    conn_t k;
    conn_open(&k, &cap, &suites[0]);
    keys_in(&cap);
    tls_write(&k, 0, INVITE, strlen(INVITE));
    shuttle(&k);
    assert_int_equal(SSL_renegotiate(k.c), 1);
    for (int i = 0; i < 20 && SSL_renegotiate_pending(k.c); i++) {
        SSL_do_handshake(k.c);
        shuttle(&k);
        drain(&k);
    }
    assert_int_equal(SSL_renegotiate_pending(k.c), 0);
    tls_write(&k, 0, BYE, strlen(BYE));
    shuttle(&k);
    assert_int_equal(got.count, 1);
    assert_int_equal(st(&cap)->renegotiations, 1);
    assert_true(st(&cap)->records_skipped > 0);
    conn_close(&k);
    capture_free(&cap);
}

/* Garbage: a record longer than TLS allows, after good traffic; a stream
 * that starts like TLS but is not. Counted, nothing sent, no crash. */
static void test_garbage(void **state)
{
    (void)state;
    capture_t cap;
    capture_init(&cap, 1448, 4096, 5000);
    conn_t k;
    conn_open(&k, &cap, &suites[3]);
    keys_in(&cap);
    tls_write(&k, 0, INVITE, strlen(INVITE));
    shuttle(&k);
    /* a forged record with a good header: its tag fails, the session stops */
    static const uint8_t forged[] = {0x17, 0x03, 0x03, 0x00, 0x14, 1,  2,  3,  4,  5,  6,  7, 8,
                                     9,    10,   11,   12,   13,   14, 15, 16, 17, 18, 19, 20};
    capture_packet(&cap, 1, TCP_FLAG_ACK, forged, sizeof(forged));
    assert_int_equal(st(&cap)->auth_failures, 1);
    /* a record longer than TLS allows: the stream's record boundaries are lost */
    static const uint8_t lying[] = {0x17, 0x03, 0x03, 0xff, 0xff, 1, 2, 3};
    capture_packet(&cap, 0, TCP_FLAG_ACK, lying, sizeof(lying));
    assert_int_equal(st(&cap)->bad_records, 1);
    tls_write(&k, 0, BYE, strlen(BYE));
    shuttle(&k);
    assert_int_equal(got.count, 1);
    conn_close(&k);
    capture_free(&cap);

    /* a handshake record whose ClientHello lies about its length */
    capture_init(&cap, 1448, 4096, 5000);
    capture_packet(&cap, 0, TCP_FLAG_SYN, NULL, 0);
    static const uint8_t hello[] = {0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00,
                                    0x00, 0x04, 0x03, 0x03, 0xaa, 0xbb};
    capture_packet(&cap, 0, TCP_FLAG_ACK, hello, sizeof(hello));
    assert_int_equal(st(&cap)->bad_handshakes, 1);
    assert_int_equal(st(&cap)->sessions, 0);
    capture_free(&cap);
    /* one that claims 16 MB */
    capture_init(&cap, 1448, 4096, 5000);
    capture_packet(&cap, 0, TCP_FLAG_SYN, NULL, 0);
    static const uint8_t huge[] = {0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0xff, 0xff, 0xff};
    capture_packet(&cap, 0, TCP_FLAG_ACK, huge, sizeof(huge));
    assert_int_equal(st(&cap)->bad_handshakes, 1);
    assert_int_equal(tlsdec_memory(cap.tls) < 4096, 1);
    capture_free(&cap);
}

/* A hole in the TCP stream: that direction is decrypted no further. */
static void test_gap(void **state)
{
    (void)state;
    capture_t cap;
    capture_init(&cap, 1448, 4096, 5000);
    conn_t k;
    conn_open(&k, &cap, &suites[0]);
    keys_in(&cap);
    tls_write(&k, 0, INVITE, strlen(INVITE));
    shuttle(&k);
    /* bytes the capture lost, acknowledged by the receiver */
    tls_write(&k, 0, ACK, strlen(ACK));
    BIO_read(k.c_out, (uint8_t[4096]){0}, 4096);
    cap.seq[0] += 100;
    tls_write(&k, 0, BYE, strlen(BYE));
    shuttle(&k);
    packet_t ack = segment_pkt(1, cap.seq[1], TCP_FLAG_ACK, NULL, 0, cap.usec + 1);
    ack.tcp_ack = cap.seq[0];
    tcpstream_segment(cap.tcp, &ack);
    assert_int_equal(st(&cap)->gaps, 1);
    tls_write(&k, 1, OK200, strlen(OK200));
    shuttle(&k);
    assert_int_equal(got.count, 2); /* the INVITE, and the server's 200 */
    conn_close(&k);
    capture_free(&cap);
}

/* A connection seen from the middle (hepagent started after its
 * handshake): recognised as TLS, counted, nothing sent; and one whose
 * handshake stops before the ServerHello. */
static void test_midstream(void **state)
{
    (void)state;
    capture_t cap;
    capture_init(&cap, 1448, 4096, 5000);
    cap.feed = 0;
    conn_t k;
    conn_open(&k, &cap, &suites[3]);
    cap.held_len = 0; /* the capture starts here */
    cap.feed = 1;
    keys_in(&cap);
    write_call(&k);
    assert_int_equal(got.count, 0);
    assert_int_equal(tcpstream_frame_stats(cap.tcp)->tls_streams, 2);
    assert_int_equal(st(&cap)->no_client_hello, 1);
    assert_true(st(&cap)->records_skipped > 0);
    assert_int_equal(st(&cap)->handshakes_incomplete, 0);
    conn_close(&k);
    capture_free(&cap);

    capture_init(&cap, 1448, 4096, 5000);
    capture_packet(&cap, 0, TCP_FLAG_SYN, NULL, 0);
    static const uint8_t hello_start[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc};
    capture_packet(&cap, 0, TCP_FLAG_ACK, hello_start, sizeof(hello_start));
    capture_packet(&cap, 0, TCP_FLAG_FIN | TCP_FLAG_ACK, NULL, 0);
    assert_int_equal(st(&cap)->sessions, 0);
    assert_int_equal(st(&cap)->handshakes_incomplete, 1);
    assert_int_equal(tlsdec_memory(cap.tls), 0);
    capture_free(&cap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suites),
        cmocka_unit_test(test_key_late),
        cmocka_unit_test(test_key_after_close),
        cmocka_unit_test(test_key_missing),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_key_update),
        cmocka_unit_test(test_resumption),
        cmocka_unit_test(test_hello_retry),
        cmocka_unit_test(test_wss),
        cmocka_unit_test(test_renegotiation),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_midstream),
    };
    return cmocka_run_group_tests(tests, setup_cert, teardown_cert);
}

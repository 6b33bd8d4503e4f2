/* OpenSSL client sessions on non-blocking sockets. Partial writes are on, so
 * a write returns as soon as one record is out, and the buffer may move
 * between retries (the queue's front may be re-peeked).
 *
 * The record layer hides which ciphertext bytes carry which plaintext, but a
 * successful write returns only once the records holding its bytes are in
 * the socket: so after each one, "plaintext up to P is in ciphertext up to W"
 * holds (W counted by the socket BIO, handshake included). Kept as marks, they
 * turn the socket's unacknowledged byte count into unacknowledged plaintext.
 * (Kernel TLS, which OpenSSL leaves off unless asked, would write plaintext
 * to the socket and break this.)
 *
 * In TLS 1.3 our handshake ends before the collector has judged our
 * certificate: it refuses it with an alert after our last handshake message.
 * So when it asked for a certificate, the handshake is not done until it has
 * spoken again (a session ticket, or that alert); otherwise the first packets
 * would be written into a connection about to be refused, and lost. */
#include "hepagent/tls.h"
#include "hepagent/common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct tls_ctx {
    SSL_CTX *ssl;
    char *server_name;
    int insecure;
};

/* Marks for the bytes a socket send buffer (a few MB at most) can hold
 * unacknowledged: one per write, so small writes may use them up; then the
 * newest absorbs the next ones, coarser but still never claiming too much. */
enum { TLS_MARKS = 1024 };

typedef struct {
    uint64_t plain_end; /* plaintext written on this connection, up to here... */
    uint64_t wire_end;  /* ...is in the ciphertext written up to here */
} tls_mark_t;

struct tls_conn {
    SSL *ssl;
    int handshake_done;     /* SSL_do_handshake succeeded */
    int cert_requested;     /* the collector sent a CertificateRequest */
    int peer_spoke;         /* it sent something after the handshake */
    uint64_t plain_written; /* plaintext tls_write took */
    uint64_t plain_acked;   /* of it, known to be acknowledged */
    size_t mark_head;       /* oldest mark not yet acknowledged */
    size_t mark_count;
    tls_mark_t marks[TLS_MARKS];
};

/* Watches the handshake messages the collector sends. */
static void tls_message_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                           SSL *ssl, void *arg)
{
    (void)version;
    (void)ssl;
    tls_conn_t *c = arg;
    if (write_p || !c || content_type != SSL3_RT_HANDSHAKE || len == 0) return;
    const unsigned char *msg = buf;
    if (c->handshake_done)
        c->peer_spoke = 1; /* a session ticket, a key update */
    else if (msg[0] == SSL3_MT_CERTIFICATE_REQUEST)
        c->cert_requested = 1;
}

static void tls_error(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e) ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(err, errlen, "%s%s%s", what, buf[0] ? ": " : "", buf);
    ERR_clear_error();
}

/* The CAs to verify the collector against; every message names the file. */
static int tls_load_verify(SSL_CTX *ssl, const tls_options_t *o, char *err, size_t errlen)
{
    char what[4200];
    SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL);
    if (!o->ca_file && !o->ca_dir) {
        if (SSL_CTX_set_default_verify_paths(ssl) == 1) return HA_OK;
        tls_error(err, errlen, "cannot load the system CA store");
        return HA_EINVAL;
    }
    if (o->ca_file && SSL_CTX_load_verify_locations(ssl, o->ca_file, NULL) != 1) {
        snprintf(what, sizeof(what), "cannot load ca_file %s", o->ca_file);
        tls_error(err, errlen, what);
        return HA_EINVAL;
    }
    if (o->ca_dir) {
        /* OpenSSL opens the directory only when it verifies: a wrong path
         * would show as every handshake failing */
        struct stat st;
        if (stat(o->ca_dir, &st) != 0) {
            snprintf(err, errlen, "ca_dir %s: %s", o->ca_dir, strerror(errno));
            return HA_EINVAL;
        }
        if (!S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "ca_dir %s: not a directory", o->ca_dir);
            return HA_EINVAL;
        }
        if (SSL_CTX_load_verify_locations(ssl, NULL, o->ca_dir) != 1) {
            snprintf(what, sizeof(what), "cannot use ca_dir %s", o->ca_dir);
            tls_error(err, errlen, what);
            return HA_EINVAL;
        }
    }
    return HA_OK;
}

/* A daemon never asks for a pass phrase: OpenSSL's default would prompt on the
 * terminal and block the loop (at start, and at every reload). */
static int tls_no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
    (void)buf, (void)size, (void)rwflag, (void)userdata;
    return -1;
}

static int tls_load_client_cert(SSL_CTX *ssl, const tls_options_t *o, char *err, size_t errlen)
{
    char what[4200];
    if (SSL_CTX_use_certificate_chain_file(ssl, o->cert_file) != 1) {
        snprintf(what, sizeof(what), "cannot load cert_file %s", o->cert_file);
        tls_error(err, errlen, what);
        return HA_EINVAL;
    }
    const char *key = o->key_file ? o->key_file : o->cert_file;
    SSL_CTX_set_default_passwd_cb(ssl, tls_no_passphrase);
    if (SSL_CTX_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ssl) != 1) {
        snprintf(what, sizeof(what),
                 "cannot load key_file %s (or it does not match cert_file; a key protected by "
                 "a pass phrase is not supported)",
                 key);
        tls_error(err, errlen, what);
        return HA_EINVAL;
    }
    return HA_OK;
}

tls_ctx_t *tls_ctx_new(const tls_options_t *opts, char *err, size_t errlen)
{
    tls_ctx_t *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->ssl = SSL_CTX_new(TLS_client_method());
    if (!c->ssl) {
        tls_error(err, errlen, "cannot create a TLS context");
        free(c);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
    SSL_CTX_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_msg_callback(c->ssl, tls_message_cb);
    c->insecure = opts->insecure;
    if (opts->server_name) c->server_name = strdup(opts->server_name);
    int rc = opts->insecure ? (SSL_CTX_set_verify(c->ssl, SSL_VERIFY_NONE, NULL), HA_OK)
                            : tls_load_verify(c->ssl, opts, err, errlen);
    if (rc == HA_OK && opts->cert_file) rc = tls_load_client_cert(c->ssl, opts, err, errlen);
    if (rc != HA_OK) {
        tls_ctx_free(c);
        return NULL;
    }
    return c;
}

void tls_ctx_free(tls_ctx_t *c)
{
    if (!c) return;
    SSL_CTX_free(c->ssl);
    free(c->server_name);
    free(c);
}

tls_conn_t *tls_conn_new(tls_ctx_t *ctx, int fd, const char *host, char *err, size_t errlen)
{
    tls_conn_t *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->ssl = SSL_new(ctx->ssl);
    if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
        tls_error(err, errlen, "cannot create a TLS session");
        tls_conn_free(c);
        return NULL;
    }
    SSL_set_msg_callback_arg(c->ssl, c);
    const char *name = ctx->server_name ? ctx->server_name : host;
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    if (!is_ip) SSL_set_tlsext_host_name(c->ssl, name); /* SNI takes names only */
    if (!ctx->insecure) {
        X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name)
                       : X509_VERIFY_PARAM_set1_host(param, name, 0);
        if (!ok) {
            tls_error(err, errlen, "cannot set the name to verify");
            tls_conn_free(c);
            return NULL;
        }
    }
    SSL_set_connect_state(c->ssl);
    return c;
}

void tls_conn_free(tls_conn_t *c)
{
    if (!c) return;
    SSL_free(c->ssl);
    free(c);
}

/* Maps an OpenSSL result to 0 (wait) or -1 (failed), filling want/err. */
static int tls_outcome(tls_conn_t *c, int rc, int *want, char *err, size_t errlen, const char *what)
{
    int e = SSL_get_error(c->ssl, rc);
    if (e == SSL_ERROR_WANT_READ) {
        *want = TLS_WANT_READ;
        return 0;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        *want = TLS_WANT_WRITE;
        return 0;
    }
    long verify = SSL_get_verify_result(c->ssl);
    if (verify != X509_V_OK) {
        snprintf(err, errlen, "%s: certificate verification failed: %s", what,
                 X509_verify_cert_error_string(verify));
        ERR_clear_error();
    } else if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(err, errlen, "%s: closed by the collector", what);
    } else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        snprintf(err, errlen, "%s: connection closed", what);
    } else {
        tls_error(err, errlen, what);
    }
    return -1;
}

ssize_t tls_write(tls_conn_t *c, const void *buf, size_t len, int *want, char *err, size_t errlen)
{
    ERR_clear_error();
    size_t written = 0;
    int rc = SSL_write_ex(c->ssl, buf, len, &written);
    if (rc != 1) return tls_outcome(c, rc, want, err, errlen, "TLS write");
    c->plain_written += written;
    tls_mark_t mark = {c->plain_written, tls_bytes_written(c)};
    if (c->mark_count == TLS_MARKS)
        c->marks[(c->mark_head + c->mark_count - 1) % TLS_MARKS] = mark;
    else
        c->marks[(c->mark_head + c->mark_count++) % TLS_MARKS] = mark;
    return (ssize_t)written;
}

uint64_t tls_bytes_written(const tls_conn_t *c)
{
    /* the socket BIO, below the buffering one OpenSSL puts in during the handshake */
    return BIO_number_written(SSL_get_wbio(c->ssl));
}

size_t tls_unacknowledged(tls_conn_t *c, size_t wire_unacked)
{
    uint64_t wire = tls_bytes_written(c);
    uint64_t wire_acked = wire > wire_unacked ? wire - wire_unacked : 0;
    while (c->mark_count > 0 && c->marks[c->mark_head].wire_end <= wire_acked) {
        c->plain_acked = c->marks[c->mark_head].plain_end;
        c->mark_head = (c->mark_head + 1) % TLS_MARKS;
        c->mark_count--;
    }
    return (size_t)(c->plain_written - c->plain_acked);
}

/* The collector closed its side, in order (close_notify) or not (the end of
 * the stream without one), rather than resetting or breaking the protocol. */
static int tls_peer_closed(int e)
{
    if (e == SSL_ERROR_ZERO_RETURN) return 1;
    if (e == SSL_ERROR_SYSCALL) return ERR_peek_error() == 0 && errno == 0; /* OpenSSL 1.1 */
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    if (e == SSL_ERROR_SSL)
        return ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
#endif
    return 0;
}

/* Reads and drops application data; processes what else comes (tickets,
 * alerts). Bytes read, 0 nothing more now (*want set), TLS_CLOSED, -1 failed. */
static ssize_t tls_read_some(tls_conn_t *c, int *want, char *err, size_t errlen, const char *what)
{
    uint8_t scratch[4096];
    ssize_t total = 0;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        size_t got = 0;
        int rc = SSL_read_ex(c->ssl, scratch, sizeof(scratch), &got);
        if (rc == 1) {
            total += (ssize_t)got;
            continue;
        }
        if (tls_peer_closed(SSL_get_error(c->ssl, rc))) {
            snprintf(err, errlen, "%s: closed by the collector", what);
            ERR_clear_error();
            return TLS_CLOSED;
        }
        int r = tls_outcome(c, rc, want, err, errlen, what);
        if (r == 0) return total;
        return -1;
    }
}

ssize_t tls_read_discard(tls_conn_t *c, int *want, char *err, size_t errlen)
{
    return tls_read_some(c, want, err, errlen, "TLS read");
}

int tls_verdict_pending(const tls_conn_t *c)
{
    return c->handshake_done && c->cert_requested && !c->peer_spoke &&
           SSL_version(c->ssl) >= TLS1_3_VERSION;
}

int tls_handshake(tls_conn_t *c, int *want, char *err, size_t errlen)
{
    if (!c->handshake_done) {
        ERR_clear_error();
        int rc = SSL_do_handshake(c->ssl);
        if (rc != 1) return tls_outcome(c, rc, want, err, errlen, "TLS handshake");
        c->handshake_done = 1;
    }
    if (!tls_verdict_pending(c)) return 1;
    ssize_t r = tls_read_some(c, want, err, errlen, "TLS handshake");
    if (r < 0) return -1;
    if (r > 0) c->peer_spoke = 1;
    return tls_verdict_pending(c) ? 0 : 1;
}

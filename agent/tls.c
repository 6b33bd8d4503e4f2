/* OpenSSL client sessions on non-blocking sockets. Partial writes are on, so
 * a write returns as soon as one record is out, and the buffer may move
 * between retries (the queue's front may be re-peeked). */
#include "hepagent/tls.h"
#include "hepagent/common.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

struct tls_ctx {
    SSL_CTX *ssl;
    char *server_name;
    int insecure;
};

struct tls_conn {
    SSL *ssl;
};

static void tls_error(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e) ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(err, errlen, "%s%s%s", what, buf[0] ? ": " : "", buf);
    ERR_clear_error();
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
    c->insecure = opts->insecure;
    if (opts->server_name) c->server_name = strdup(opts->server_name);
    if (opts->insecure) {
        SSL_CTX_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
        int ok = (opts->ca_file || opts->ca_dir)
                     ? SSL_CTX_load_verify_locations(c->ssl, opts->ca_file, opts->ca_dir)
                     : SSL_CTX_set_default_verify_paths(c->ssl);
        if (!ok) {
            tls_error(err, errlen,
                      opts->ca_file ? "cannot load the CA file" : "cannot load the CA directory");
            tls_ctx_free(c);
            return NULL;
        }
    }
    if (opts->cert_file) {
        if (SSL_CTX_use_certificate_chain_file(c->ssl, opts->cert_file) != 1) {
            tls_error(err, errlen, "cannot load the client certificate");
            tls_ctx_free(c);
            return NULL;
        }
        const char *key = opts->key_file ? opts->key_file : opts->cert_file;
        if (SSL_CTX_use_PrivateKey_file(c->ssl, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(c->ssl) != 1) {
            tls_error(err, errlen, "cannot load the client key (or it does not match)");
            tls_ctx_free(c);
            return NULL;
        }
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

int tls_handshake(tls_conn_t *c, int *want, char *err, size_t errlen)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(c->ssl);
    if (rc == 1) return 1;
    return tls_outcome(c, rc, want, err, errlen, "TLS handshake");
}

ssize_t tls_write(tls_conn_t *c, const void *buf, size_t len, int *want, char *err, size_t errlen)
{
    ERR_clear_error();
    size_t written = 0;
    int rc = SSL_write_ex(c->ssl, buf, len, &written);
    if (rc == 1) return (ssize_t)written;
    return tls_outcome(c, rc, want, err, errlen, "TLS write");
}

ssize_t tls_read_discard(tls_conn_t *c, int *want, char *err, size_t errlen)
{
    uint8_t scratch[4096];
    ssize_t total = 0;
    for (;;) {
        ERR_clear_error();
        size_t got = 0;
        int rc = SSL_read_ex(c->ssl, scratch, sizeof(scratch), &got);
        if (rc == 1) {
            total += (ssize_t)got;
            continue;
        }
        int r = tls_outcome(c, rc, want, err, errlen, "TLS read");
        if (r == 0) return total;
        return -1;
    }
}

/* TLS to collectors with OpenSSL, on a non-blocking socket watched by the
 * libuv loop: every call says which readiness it waits for instead of
 * blocking. The collector's certificate is verified against the configured
 * CA (or the system store) and its name or IP address, with SNI; skipping
 * verification must be asked for explicitly ("insecure"). */
#ifndef HEPAGENT_TLS_H
#define HEPAGENT_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct tls_options {
    const char *ca_file;     /* PEM bundle; NULL: ca_dir or the system store */
    const char *ca_dir;      /* hashed directory */
    const char *cert_file;   /* client certificate (PEM chain), optional */
    const char *key_file;    /* its key */
    const char *server_name; /* name to verify and send as SNI; NULL: the URL's host */
    int insecure;            /* no verification at all */
} tls_options_t;

typedef struct tls_ctx tls_ctx_t;
typedef struct tls_conn tls_conn_t;

enum { TLS_WANT_READ = 1, TLS_WANT_WRITE = 2 };
enum { TLS_CLOSED = -2 }; /* the collector closed its side (tls_read_discard) */

/* Loads certificates and keys now, so a bad file is a config error. */
tls_ctx_t *tls_ctx_new(const tls_options_t *opts, char *err, size_t errlen);
void tls_ctx_free(tls_ctx_t *ctx);

/* A client session on a connected socket; host is the URL's host. */
tls_conn_t *tls_conn_new(tls_ctx_t *ctx, int fd, const char *host, char *err, size_t errlen);
void tls_conn_free(tls_conn_t *c);

/* 1 done, 0 in progress (*want set), -1 failed (reason in err). With TLS
 * 1.3 and a collector that asked for our certificate, done means it has
 * spoken after the handshake without refusing us. */
int tls_handshake(tls_conn_t *c, int *want, char *err, size_t errlen);
/* The handshake is over but the collector has not yet said whether it takes
 * our certificate (TLS 1.3). Silence until a timeout means it does: a
 * refusal comes at once. */
int tls_verdict_pending(const tls_conn_t *c);
/* Plaintext bytes written (> 0), 0 when it must wait (*want set), -1
 * failed. Once it returned, they are in the socket, in whole records. */
ssize_t tls_write(tls_conn_t *c, const void *buf, size_t len, int *want, char *err, size_t errlen);
/* Ciphertext written to the socket by this session, handshake included. */
uint64_t tls_bytes_written(const tls_conn_t *c);
/* Of the plaintext tls_write took, the bytes not known to be acknowledged by
 * the collector's TCP, given the socket's unacknowledged bytes (SIOCOUTQ;
 * these still count after a reset). Never less than the truth: a record
 * counts once all of it was acknowledged. */
size_t tls_unacknowledged(tls_conn_t *c, size_t wire_unacked);
/* Reads and discards what the peer sent: bytes read, 0 nothing now (*want
 * set), TLS_CLOSED the collector closed its side (with or without
 * close_notify), -1 failed. */
ssize_t tls_read_discard(tls_conn_t *c, int *want, char *err, size_t errlen);

#endif

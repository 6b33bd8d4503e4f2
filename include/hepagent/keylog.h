/* TLS session secrets from key logs in the NSS key log format (what
 * SSLKEYLOGFILE, Python's keylog_filename, Node's --tls-keylog and
 * Kamailio's tls keylog_mode write): one line per secret,
 *   LABEL <client random, 64 hex> <secret, hex>
 * CLIENT_RANDOM (the TLS 1.2 master secret) and the TLS 1.3 handshake and
 * first application traffic secrets are kept, in a bounded table keyed by
 * the client random; other labels are ignored, malformed lines counted and
 * never logged (they hold secrets). Secrets are wiped (OPENSSL_cleanse)
 * when their session ends, when they are evicted and when the store goes.
 * Sources: files read at start and followed as they grow (rotation and
 * truncation handled, by a cheap stat poll on the loop) and a UDP listener
 * taking lines as Kamailio's keylog_peer sends them (one line per
 * datagram, no line end). */
#ifndef HEPAGENT_KEYLOG_H
#define HEPAGENT_KEYLOG_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "hepagent/stats.h"

enum {
    KEYLOG_RANDOM_LEN = 32, /* ClientHello.random */
    KEYLOG_SECRET_MAX = 48, /* a TLS 1.2 master secret, a SHA-384 traffic secret */
    KEYLOG_LINE_MAX = 512,  /* longer lines are malformed (a valid one has < 200 bytes) */
    KEYLOG_POLL_MS = 200,   /* how often followed files are looked at */
    KEYLOG_DEFAULT_MAX_SESSIONS = 16384,
};

/* The secrets a session can have. */
typedef enum {
    KEYLOG_MASTER_SECRET = 0, /* CLIENT_RANDOM (TLS 1.2 and earlier) */
    KEYLOG_CLIENT_HANDSHAKE,  /* CLIENT_HANDSHAKE_TRAFFIC_SECRET */
    KEYLOG_SERVER_HANDSHAKE,  /* SERVER_HANDSHAKE_TRAFFIC_SECRET */
    KEYLOG_CLIENT_TRAFFIC_0,  /* CLIENT_TRAFFIC_SECRET_0 */
    KEYLOG_SERVER_TRAFFIC_0,  /* SERVER_TRAFFIC_SECRET_0 */
    KEYLOG_KINDS,
} keylog_kind_t;

typedef struct keylog_secret {
    uint8_t len;
    uint8_t bytes[KEYLOG_SECRET_MAX];
} keylog_secret_t;

/* What one line was. */
typedef enum {
    KEYLOG_LINE_STORED = 0, /* a secret, now in the store */
    KEYLOG_LINE_DUPLICATE,  /* a secret the store already had */
    KEYLOG_LINE_IGNORED,    /* a well-formed line of a label not used */
    KEYLOG_LINE_BLANK,      /* empty or a # comment */
    KEYLOG_LINE_MALFORMED,
} keylog_line_t;

#define KEYLOG_COUNTERS(X)                                                                         \
    X(lines, "key log lines read, from files and UDP")                                             \
    X(secrets, "secrets stored")                                                                   \
    X(duplicates, "secrets that were already stored")                                              \
    X(ignored, "well-formed lines of other labels (EXPORTER_SECRET, early traffic, ...)")          \
    X(malformed, "lines that are not key log lines (never logged: they may hold secrets)")         \
    X(sessions_evicted, "sessions whose secrets were dropped because max_sessions was reached")    \
    X(sessions_wiped, "sessions whose secrets were wiped when their connection ended")             \
    X(file_reopens, "key log files opened again after rotation or truncation")                     \
    X(read_errors, "failed reads of key log files or the UDP socket")                              \
    X(datagrams, "UDP datagrams received on keylog_listen")

typedef struct keylog_stats {
#define KEYLOG_FIELD(name, help) uint64_t name;
    KEYLOG_COUNTERS(KEYLOG_FIELD)
#undef KEYLOG_FIELD
} keylog_stats_t;

typedef struct keylog keylog_t;

/* Told of each newly stored secret (after it is stored). */
typedef void (*keylog_notify_fn)(void *ctx, const uint8_t random[KEYLOG_RANDOM_LEN],
                                 keylog_kind_t kind);

keylog_t *keylog_new(uint32_t max_sessions);
/* Wipes every secret. The loop's handles (keylog_follow, keylog_listen)
 * must be closed first: call keylog_close and run the loop, or close the
 * loop's handles as main.c does. */
void keylog_free(keylog_t *k);
void keylog_set_notify(keylog_t *k, keylog_notify_fn fn, void *ctx);

/* One line, without its line end. */
keylog_line_t keylog_add_line(keylog_t *k, const char *line, size_t len);
/* Text holding whole lines separated by \n (\r\n too); the last one may
 * lack its line end (a datagram, the end of a file). */
void keylog_add_text(keylog_t *k, const char *text, size_t len);

/* The secret, or NULL. The pointer is valid until the store changes: use it
 * at once, do not keep it. */
const keylog_secret_t *keylog_find(const keylog_t *k, const uint8_t random[KEYLOG_RANDOM_LEN],
                                   keylog_kind_t kind);
/* The session ended: its secrets are wiped. */
void keylog_forget(keylog_t *k, const uint8_t random[KEYLOG_RANDOM_LEN]);

/* Reads path now, then follows it on the loop; a file not there yet is
 * waited for (with a warning), any other failure is an error naming the
 * file. A file readable by other users draws a warning. */
int keylog_follow(keylog_t *k, uv_loop_t *loop, const char *path, char *err, size_t errlen);
/* What keylog_follow would refuse, without following: a file not there
 * yet is fine, one that cannot be read is not (hepagent -t). */
int keylog_check_file(const char *path, char *err, size_t errlen);
/* One look at every followed file: what the loop's timer does every
 * KEYLOG_POLL_MS (tests call it directly). */
void keylog_poll(keylog_t *k);
/* Listens on "udp://HOST:PORT" (IPv6 as udp://[::1]:PORT). */
int keylog_listen(keylog_t *k, uv_loop_t *loop, const char *url, char *err, size_t errlen);
/* Checks a keylog_listen URL without opening anything. */
int keylog_check_url(const char *url, char *err, size_t errlen);
/* Closes the loop handles (files are polled no more, the socket closes). */
void keylog_close(keylog_t *k);

const keylog_stats_t *keylog_stats(const keylog_t *k);
size_t keylog_sessions(const keylog_t *k);
void keylog_visit_stats(const keylog_t *k, const stats_visitor_t *v);

#endif

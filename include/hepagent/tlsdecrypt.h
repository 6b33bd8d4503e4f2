/* Passive decryption of TLS on top of TCP reassembly. tcpstream hands the
 * in-order bytes of a direction that starts with a TLS record here; the two
 * directions of a connection share one session: records are cut out of the
 * byte stream (several per segment or one over many), the handshake is
 * followed in clear (ClientHello: client random, offered resumption and
 * early data; ServerHello: version, suite), the keys come from the key log
 * store by client random (keylog.h), and each record is decrypted with its
 * tag verified (tlscrypto.h): TLS 1.2 after ChangeCipherSpec, TLS 1.3 with
 * the handshake then the application traffic secrets, KeyUpdate followed.
 * The plaintext of application data is framed into SIP messages exactly as
 * plain TCP (tcpframe.h) and emitted as RULE_TRANSPORT_TLS or _WSS with the
 * connection's addresses and ports.
 *
 * A record that needs a key not (yet) in the store waits, with every later
 * record of the session, bounded by pending_kb (all sessions) and
 * pending_ms (capture time); the key's arrival decrypts them, in capture
 * order across both directions. What cannot be decrypted is counted and
 * never emitted: a tag that does not verify stops the session (a wrong key
 * never yields output), as do unsupported versions or suites, garbage
 * records, renegotiation and holes in the TCP stream. */
#ifndef HEPAGENT_TLSDECRYPT_H
#define HEPAGENT_TLSDECRYPT_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/keylog.h"
#include "hepagent/packet.h"
#include "hepagent/stats.h"
#include "hepagent/tcpframe.h"
#include "hepagent/tcpstream.h"

/* The "tls_decrypt" settings. Decryption is on when a key log file or a
 * listener is given. */
typedef struct tls_decrypt_options {
    char **keylog_files; /* followed as they grow */
    size_t keylog_file_count;
    char *keylog_listen;   /* udp://HOST:PORT, or NULL */
    uint32_t max_sessions; /* sessions whose secrets the store holds */
    uint32_t pending_kb;   /* records waiting for their key, all sessions */
    uint32_t pending_ms;   /* how long they may wait (capture time) */
} tls_decrypt_options_t;

enum {
    TLS_DECRYPT_DEFAULT_MAX_SESSIONS = KEYLOG_DEFAULT_MAX_SESSIONS,
    TLS_DECRYPT_DEFAULT_PENDING_KB = 4096,
    TLS_DECRYPT_DEFAULT_PENDING_MS = 5000,
};

#define TLSDEC_COUNTERS(X)                                                                         \
    X(sessions, "TLS connections whose ClientHello was seen")                                      \
    X(sessions_tls12, "of them negotiating TLS 1.2")                                               \
    X(sessions_tls13, "of them negotiating TLS 1.3")                                               \
    X(sessions_with_keys, "TLS connections whose keys were found")                                 \
    X(sessions_key_late, "TLS connections whose records waited for their key and were decrypted")  \
    X(resumed, "resumed sessions (session id, ticket or PSK accepted)")                            \
    X(records_decrypted, "TLS records decrypted, tag verified")                                    \
    X(records_without_key, "encrypted records not decrypted: their key never came")                \
    X(records_skipped, "records of sessions given up for another reason (counted there)")          \
    X(auth_failures, "records whose tag did not verify: wrong key or damage (session stopped)")    \
    X(unsupported_versions, "connections negotiating SSL 3.0, TLS 1.0 or 1.1")                     \
    X(unsupported_suites, "connections negotiating a cipher suite we cannot decrypt")              \
    X(bad_records, "records with an impossible type, version or length (session stopped)")         \
    X(bad_handshakes, "malformed or oversized handshake messages (session stopped)")               \
    X(no_client_hello, "TLS connections seen without their ClientHello (from the middle)")         \
    X(handshakes_incomplete, "TLS connections that ended or went before their ServerHello")        \
    X(renegotiations, "renegotiations attempted (session stopped when keys change)")               \
    X(key_updates, "TLS 1.3 KeyUpdate messages followed")                                          \
    X(early_data_skipped, "TLS 1.3 0-RTT records skipped (their secret is not used)")              \
    X(alerts, "alerts seen (close_notify included)")                                               \
    X(gaps, "holes in a TLS stream (that direction is decrypted no further)")                      \
    X(pending_expired, "sessions whose waiting records passed pending_ms without their key")       \
    X(pending_overflow, "sessions whose waiting records did not fit in pending_kb")                \
    X(memory_full, "record buffers refused because the TCP memory bound was reached")

typedef struct tlsdec_stats {
#define TLSDEC_FIELD(name, help) uint64_t name;
    TLSDEC_COUNTERS(TLSDEC_FIELD)
#undef TLSDEC_FIELD
} tlsdec_stats_t;

typedef struct tlsdec tlsdec_t;
typedef struct tlsdec_half tlsdec_half_t; /* one direction of a TLS connection */

/* Bounds as for the TCP streams (the largest message, the memory, the
 * table's size); emit receives the decrypted messages. keys stays the
 * caller's. */
tlsdec_t *tlsdec_new(const tls_decrypt_options_t *opts, keylog_t *keys,
                     const tcpstream_options_t *tcp, tcpframe_emit_fn emit, void *ctx);
/* Every half must be closed first (tcpstream_free does). */
void tlsdec_free(tlsdec_t *d);

/* pkt's direction starts with a TLS record; NULL when it cannot be
 * followed (out of memory). */
tlsdec_half_t *tlsdec_open(tlsdec_t *d, const packet_t *pkt);
/* In-order bytes of the direction, the first captured at (sec, usec). */
void tlsdec_data(tlsdec_t *d, tlsdec_half_t *h, const packet_t *pkt, const uint8_t *data,
                 size_t len, uint64_t sec, uint32_t usec);
/* Bytes of the direction are missing from the capture. */
void tlsdec_gap(tlsdec_t *d, tlsdec_half_t *h);
/* The direction ended (FIN, RST, expiry, eviction): h is gone. */
void tlsdec_close(tlsdec_t *d, tlsdec_half_t *h);

/* A secret arrived in the store (keylog notify): decrypts what waited. */
void tlsdec_key_arrived(tlsdec_t *d, const uint8_t random[KEYLOG_RANDOM_LEN]);
/* Gives up on waiting records past pending_ms at capture time now_ms
 * (ms); for a live capture gone quiet, the wall clock. */
void tlsdec_tick(tlsdec_t *d, uint64_t now_ms);

/* The input ended (the capture files are read): nothing waits any more. */
void tlsdec_end(tlsdec_t *d);

const tlsdec_stats_t *tlsdec_stats(const tlsdec_t *d);
const tcpframe_stats_t *tlsdec_frame_stats(const tlsdec_t *d);
size_t tlsdec_pending_bytes(const tlsdec_t *d);
size_t tlsdec_memory(const tlsdec_t *d);
void tlsdec_visit_stats(const tlsdec_t *d, const stats_visitor_t *v);

#endif

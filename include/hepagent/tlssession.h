/* The TLS layer's inside, shared by its two files: tlsdecrypt.c keeps the
 * sessions (both directions of a connection, their table, records waiting
 * for a key, the public API of tlsdecrypt.h); tlsrecord.c reads one
 * direction (records cut out of the byte stream, the handshake, keys for a
 * phase, decryption, the plaintext to its framer). Not for other modules. */
#ifndef HEPAGENT_TLSSESSION_H
#define HEPAGENT_TLSSESSION_H

#include "hepagent/lru.h"
#include "hepagent/tlscrypto.h"
#include "hepagent/tlsdecrypt.h"

enum {
    TLS_CT_CCS = 20,
    TLS_CT_ALERT = 21,
    TLS_CT_HANDSHAKE = 22,
    TLS_CT_APPLICATION = 23,
    TLS_CT_HEARTBEAT = 24,
    HS_HELLO_REQUEST = 0,
    HS_CLIENT_HELLO = 1,
    HS_SERVER_HELLO = 2,
    HS_FINISHED = 20,
    HS_KEY_UPDATE = 24,
    EXT_ENCRYPT_THEN_MAC = 22,
    EXT_SESSION_TICKET = 35,
    EXT_PRE_SHARED_KEY = 41,
    EXT_EARLY_DATA = 42,
    EXT_SUPPORTED_VERSIONS = 43,
    HELLO_MAX = 65536,           /* a ClientHello or ServerHello larger than this is refused */
    EARLY_DATA_MAX_RECORDS = 64, /* 0-RTT records skipped before the handshake keys fit */
};

enum { SIDE_UNKNOWN = 0, SIDE_CLIENT, SIDE_SERVER };
enum { PHASE_HANDSHAKE = 0, PHASE_APPLICATION };
enum { KEY_CHANGE_NONE = 0, KEY_CHANGE_FINISHED, KEY_CHANGE_UPDATE };
typedef enum {
    HALF_LIVE = 0,
    HALF_STOPPED, /* given up: later records are counted as skipped */
    HALF_LOST,    /* record boundaries lost (garbage, a hole): nothing more is read */
} half_state_t;
typedef enum { REC_DONE = 0, REC_NEED_KEY } rec_result_t;
typedef enum { GIVE_UP_EXPIRED = 0, GIVE_UP_OVERFLOW, GIVE_UP_END } give_up_t;

typedef struct pending_rec {
    struct pending_rec *next;
    uint64_t sec;
    uint32_t usec;
    uint32_t len;
    uint8_t data[];
} pending_rec_t;

typedef struct tls_conn tls_conn_t;

struct tlsdec_half {
    tls_conn_t *conn;
    uint8_t attached;   /* tcpstream holds it */
    uint8_t used;       /* it was attached once */
    uint8_t side;       /* SIDE_* */
    uint8_t state;      /* half_state_t */
    uint8_t encrypted;  /* its records are protected from here on */
    uint8_t phase;      /* TLS 1.3: which traffic secret */
    uint8_t has_keys;   /* the cipher is set for this phase */
    uint8_t key_change; /* to apply after the current record */
    uint8_t decrypted;  /* a record of this half was decrypted */
    uint8_t gap;        /* bytes were lost: nothing after them is read */
    uint16_t early_skipped;
    packet_t pkt; /* the flow, as emitted messages carry it; its time: the connection's first
                   * TLS record (-w writes the connection from there) */
    /* the record being cut out of the byte stream */
    uint8_t hdr[TLS_RECORD_HEADER];
    size_t hdr_len;
    uint8_t *rec;
    size_t rec_len, rec_need, rec_cap;
    size_t skip; /* body bytes of a record not read (a stopped half) */
    uint64_t rec_sec;
    uint32_t rec_usec;
    /* the handshake message being read, possibly over several records */
    uint8_t hs_hdr[4];
    uint8_t hs_hdr_len;
    uint32_t hs_left;
    uint8_t *hs_body; /* ClientHello and ServerHello only */
    size_t hs_body_len, hs_body_cap;
    /* records waiting for a key, in capture order */
    pending_rec_t *pending, **pending_tail;
    size_t pending_count;
    tls_cipher_t cipher;
    uint8_t secret[TLS_HASH_MAX]; /* TLS 1.3: the current traffic secret */
    tcpframe_t frame;
};

struct tls_conn {
    tls_conn_t *hash_next;   /* by flow */
    tls_conn_t *random_next; /* by client random */
    lru_node_t all;          /* every connection */
    lru_node_t wait;         /* connections with records waiting for a key */
    uint32_t bucket, random_bucket;
    uint8_t hashed, random_hashed, waiting;
    flow_key_t key; /* the direction of half[0] */
    tlsdec_half_t half[2];
    uint16_t version;
    const tls_suite_t *suite;
    uint8_t client_random[TLS_RANDOM_LEN];
    uint8_t server_random[TLS_RANDOM_LEN];
    uint8_t session_id[32];
    uint8_t session_id_len;
    uint8_t have_client_hello, have_server_hello, offered_early_data, hello_retry;
    uint8_t keys_found, waited, late_counted, gave_up, renegotiating;
    uint64_t wait_since_ms; /* capture time of its oldest waiting record */
};

struct tlsdec {
    tls_decrypt_options_t opts;
    tlsdec_stats_t stats;
    tcpframe_owner_t frame; /* the plaintext framers' counters, output and memory */
    keylog_t *keys;
    tls_crypto_t *crypto;
    size_t memcap;
    size_t memory; /* connections and their buffers (framers count their own) */
    size_t pending_bytes;
    tls_conn_t **buckets;
    tls_conn_t **random_buckets;
    uint32_t nbuckets; /* of each table */
    uint64_t seed;
    lru_list_t all;
    lru_list_t waiting; /* head: waiting the longest */
    uint64_t now_ms;    /* capture time of the latest data */
    uint64_t wall_ms;   /* monotonic clock when it came */
    uint8_t plain[TLS_CIPHERTEXT_MAX];
};

static inline tlsdec_half_t *tls_other_half(tlsdec_half_t *h)
{
    tls_conn_t *c = h->conn;
    return h == &c->half[0] ? &c->half[1] : &c->half[0];
}

/* tlsdecrypt.c */
/* Grows *buf to want bytes within the memory bound; 0 when refused (counted). */
int tlsdec_grow(tlsdec_t *d, uint8_t **buf, size_t *cap, size_t want);
/* The connection's client random is known: keys arriving find it. */
void tlsdec_index_random(tlsdec_t *d, tls_conn_t *c);
/* The connection is decrypted no further (both directions). */
void tlsdec_stop(tlsdec_t *d, tls_conn_t *c);
/* Keeps a record until its key comes; 0 when it waits, 1 when the
 * connection gave up waiting (pending_kb) and the record is the caller's. */
int tlsdec_wait(tlsdec_t *d, tlsdec_half_t *h, const uint8_t *rec, size_t len, uint64_t sec,
                uint32_t usec);

/* tlsrecord.c */
/* In-order bytes of a direction: records are cut out and read. */
void tlsrec_bytes(tlsdec_t *d, tlsdec_half_t *h, const uint8_t *data, size_t len, uint64_t sec,
                  uint32_t usec);
/* One whole record of a direction, in order (a waiting one, read again). */
void tlsrec_record(tlsdec_t *d, tlsdec_half_t *h, const uint8_t *rec, size_t len, uint64_t sec,
                   uint32_t usec);
/* Frees the hello being read. */
void tlsrec_hello_free(tlsdec_t *d, tlsdec_half_t *h);

#endif

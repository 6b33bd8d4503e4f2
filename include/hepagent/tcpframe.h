/* Framing of one TCP direction's in-order bytes into SIP messages: by
 * Content-Length, or as WebSocket frames after an HTTP upgrade (RFC 7118);
 * each message emitted once, whole, with the capture time of its first
 * byte. The seam between reassembly and SIP: tcpstream feeds it the bytes of
 * plain TCP, tlsdecrypt the plaintext of TLS records, so both are framed
 * alike. A direction seen from the middle, or after a hole, is
 * resynchronised at the next SIP start line, or at the next piece of data
 * that starts a WebSocket frame carrying SIP. A direction whose first bytes
 * are a TLS record is handed back to its owner. */
#ifndef HEPAGENT_TCPFRAME_H
#define HEPAGENT_TCPFRAME_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/packet.h"
#include "hepagent/sip.h"

#define TCPFRAME_COUNTERS(X)                                                                       \
    X(resyncs, "times a stream was searched for the next SIP start line")                          \
    X(skipped_bytes, "bytes skipped while resynchronising")                                        \
    X(messages, "SIP messages framed")                                                             \
    X(keepalives, "CRLF keep-alives skipped")                                                      \
    X(message_too_big, "messages larger than the per-stream limit (skipped)")                      \
    X(bad_content_length, "messages with an unusable Content-Length (stream resynchronised)")      \
    X(incomplete_at_close, "streams closed or expired in the middle of a message")                 \
    X(not_sip_streams, "streams whose data is neither SIP, WebSocket nor TLS")                     \
    X(tls_streams, "TLS streams recognised (decrypted only with tls_decrypt and their keys)")      \
    X(ws_streams, "WebSocket upgrades seen")                                                       \
    X(ws_messages, "SIP messages framed over WebSocket")                                           \
    X(ws_resyncs, "WebSocket framing found without the upgrade (mid-stream, after a hole)")        \
    X(ws_not_sip, "WebSocket messages that are not SIP")                                           \
    X(ws_errors, "WebSocket protocol errors (stream ignored)")

typedef struct tcpframe_stats {
#define TCPFRAME_FIELD(name, help) uint64_t name;
    TCPFRAME_COUNTERS(TCPFRAME_FIELD)
#undef TCPFRAME_FIELD
} tcpframe_stats_t;

/* A framed message: transport is RULE_TRANSPORT_TCP or _WS, or _TLS or _WSS
 * for framers of decrypted bytes. */
typedef void (*tcpframe_emit_fn)(void *ctx, const packet_t *pkt, unsigned transport,
                                 const uint8_t *data, size_t len, const sip_msg_t *sip,
                                 uint64_t ts_sec, uint32_t ts_usec);

typedef struct tcpframe tcpframe_t;

/* What the framers of one owner share: limits, counters, output, memory. */
typedef struct tcpframe_owner {
    uint32_t max_message; /* the largest message a direction may hold */
    int secure;           /* decrypted bytes: emitted as TLS / WSS */
    tcpframe_stats_t stats;
    tcpframe_emit_fn emit;
    void *ctx;
    size_t memory; /* bytes held by this owner's framers */
    /* Makes room for `extra` more bytes (the owner may free others, never
     * `keep`); 0 when it cannot. NULL: no limit beyond max_message. */
    int (*reserve)(struct tcpframe_owner *owner, tcpframe_t *keep, size_t extra);
} tcpframe_owner_t;

enum { TCPFRAME_MAX_MARKS = 32 };

typedef struct {
    size_t off; /* offset in the buffer where this piece's bytes start */
    uint64_t sec;
    uint32_t usec;
} tcpframe_mark_t;

struct tcpframe {
    uint8_t mode;
    uint8_t resync;     /* looking for the next SIP start line */
    uint8_t from_start; /* the direction's first byte was seen */
    size_t skip;        /* bytes still to discard (a message over the size limit) */
    size_t need;        /* bytes the message being framed needs, 0 if unknown */
    uint8_t *buf;       /* an unfinished message's bytes */
    size_t len, cap;
    tcpframe_mark_t marks[TCPFRAME_MAX_MARKS];
    unsigned nmarks;
    /* WebSocket message being assembled from frames */
    uint8_t *ws;
    size_t ws_len, ws_cap;
    uint8_t ws_in_msg;
    uint64_t ws_sec;
    uint32_t ws_usec;
};

/* A direction starting afresh; from_start: its first byte comes next (a SYN
 * was seen), else it is resynchronised on the first start line. */
void tcpframe_init(tcpframe_t *f, int from_start);
/* In-order bytes whose first one was captured at (sec, usec); pkt gives the
 * flow to the emitted messages. Returns how many bytes at the end of data
 * were not framed because the direction turned out to be TLS (0 else). */
size_t tcpframe_data(tcpframe_owner_t *o, tcpframe_t *f, const packet_t *pkt, const uint8_t *data,
                     size_t len, uint64_t sec, uint32_t usec);
/* Bytes are missing before the next ones: the message in progress is lost
 * (the caller counts it, knowing what else was lost). */
void tcpframe_gap(tcpframe_owner_t *o, tcpframe_t *f);
/* The direction was recognised as TLS (its bytes go elsewhere). */
int tcpframe_is_tls(const tcpframe_t *f);
/* The direction stops being framed (ignored from now on). */
void tcpframe_ignore(tcpframe_t *f);
/* Whether bytes of an unfinished message are held. */
int tcpframe_mid_message(const tcpframe_t *f);
/* Frees what the framer holds (it can be used again after tcpframe_init). */
void tcpframe_clear(tcpframe_owner_t *o, tcpframe_t *f);

#endif

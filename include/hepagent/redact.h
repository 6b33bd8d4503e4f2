/* Privacy: a rule's "redact" policy applied to a SIP message before it
 * leaves the agent by any way (HEP, -w, --hep-pcap, the spool, -A).
 *
 * The user part of every sip:, sips: and tel: URI in the chosen headers
 * (and the Request-URI) and their display names are replaced by a
 * pseudonym: the keyed hash (HMAC-SHA-256 with the configured key, first 64
 * bits as N decimal digits, a leading "+" kept) so the same number always
 * gives the same pseudonym and calls still group, or a mask that keeps the
 * last N digits and turns every other letter and digit into "x". Chosen
 * headers are dropped; bodies are blanked (Content-Length 0, Content-Type
 * kept) or dropped (with their Content-* headers) by content type; the
 * Call-ID is replaced by its keyed hash only when asked. Content-Length is
 * recomputed, so the message stays valid SIP. */
#ifndef HEPAGENT_REDACT_H
#define HEPAGENT_REDACT_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/common.h"
#include "hepagent/stats.h"

typedef enum { REDACT_HASH = 0, REDACT_MASK } redact_mode_t;
typedef enum { REDACT_BODY_KEEP = 0, REDACT_BODY_BLANK, REDACT_BODY_DROP } redact_body_t;

typedef struct redact_body_rule {
    const char
        *content_type; /* "application/sdp"; "type/" then a star, or a star alone, match many */
    redact_body_t action;
} redact_body_rule_t;

/* The pseudo header naming the Request-URI in the headers list. */
#define REDACT_REQUEST_URI "Request-URI"

typedef struct redact_options {
    redact_mode_t mode;
    const uint8_t *key; /* hash mode: the HMAC key (at least 16 bytes) */
    size_t key_len;
    unsigned hash_digits;       /* 8-19; 0: 16 */
    unsigned keep_digits;       /* mask mode: digits kept at the end; 0..32 */
    int keep_digits_set;        /* 0: 4 */
    const char *const *headers; /* NULL: the defaults (redact.c); names as written, any case */
    size_t header_count;
    const char *const *drop_headers;
    size_t drop_count;
    const redact_body_rule_t *bodies; /* first matching content type decides */
    size_t body_count;
    int call_id; /* replace the Call-ID (and the HEP correlation id) by its hash */
} redact_options_t;

enum {
    REDACT_DEFAULT_HASH_DIGITS = 16,
    REDACT_DEFAULT_KEEP_DIGITS = 4,
    REDACT_MIN_KEY = 16,
    REDACT_CALL_ID_HEX = 32, /* hex characters of a Call-ID pseudonym */
};

#define REDACT_COUNTERS(X)                                                                         \
    X(messages, "SIP messages redacted")                                                           \
    X(uris, "URI user parts replaced")                                                             \
    X(display_names, "display names replaced")                                                     \
    X(headers_dropped, "headers dropped")                                                          \
    X(bodies_blanked, "bodies blanked")                                                            \
    X(bodies_dropped, "bodies dropped")                                                            \
    X(call_ids, "Call-IDs replaced")                                                               \
    X(not_sip, "messages a redacting rule matched that do not parse as SIP: not sent")             \
    X(too_big, "messages too big once redacted: not sent")

typedef struct redact_stats {
#define REDACT_FIELD(name, help) uint64_t name;
    REDACT_COUNTERS(REDACT_FIELD)
#undef REDACT_FIELD
} redact_stats_t;

typedef struct redact redact_t;

/* A policy as the configuration writes it (rules[].redact). */
typedef struct redact_config {
    int present;
    int mode; /* redact_mode_t */
    char *key;
    char *key_file;
    uint32_t hash_digits;
    uint32_t keep_digits;
    char **headers;
    size_t header_count;
    char **drop_headers;
    size_t drop_count;
    redact_body_rule_t *bodies; /* content_type strings owned */
    size_t body_count;
    int call_id;
} redact_config_t;

/* Compiles the configuration's form (reading key_file); NULL with the
 * reason in err. */
redact_t *redact_from_config(const redact_config_t *c, char *err, size_t errlen);
void redact_config_free(redact_config_t *c);

/* Compiles a policy; NULL with the reason in err. */
redact_t *redact_new(const redact_options_t *o, char *err, size_t errlen);
void redact_free(redact_t *r);

/* Redacts the SIP message in[0..len) into out. Returns the new length, or
 * HA_EINVAL when it is not a complete SIP message, HA_ETOOBIG beyond cap
 * (both counted; the message must not be sent). */
int redact_sip(redact_t *r, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
               redact_stats_t *st);

/* Whether the policy replaces Call-IDs; then the correlation id of what
 * the rule sends (SIP, RTCP, QoS of the call) is replaced the same way. */
int redact_replaces_call_id(const redact_t *r);
/* The Call-ID pseudonym (REDACT_CALL_ID_HEX bytes) of id into out. */
void redact_call_id(redact_t *r, ha_bytes_t id, uint8_t out[REDACT_CALL_ID_HEX]);

void redact_visit_stats(const redact_stats_t *st, const stats_visitor_t *v);

#endif

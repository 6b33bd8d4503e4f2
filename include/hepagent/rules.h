/* Rules decide which SIP messages are shipped, captured or received from a
 * HEP input alike: an ordered list, first match wins, no match means not
 * sent. A rule's absent field matches everything; ports and hosts match
 * either side of the packet; a response matches by the method in its CSeq.
 * A rule also says how what it sends is rewritten (capture id, node name,
 * auth key, correlation id) and redacted. */
#ifndef HEPAGENT_RULES_H
#define HEPAGENT_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/common.h"
#include "hepagent/redact.h"

typedef enum { RULE_SEND = 0, RULE_DROP } rule_action_t;

/* Transports a rule can name; a message has exactly one. */
enum {
    RULE_TRANSPORT_UDP = 1 << 0,
    RULE_TRANSPORT_TCP = 1 << 1,
    RULE_TRANSPORT_SCTP = 1 << 2,
    RULE_TRANSPORT_WS = 1 << 3,  /* SIP over WebSocket (RFC 7118), inside TCP */
    RULE_TRANSPORT_TLS = 1 << 4, /* SIP over TLS, decrypted (tls_decrypt) */
    RULE_TRANSPORT_WSS = 1 << 5, /* SIP over secure WebSocket, decrypted */
    RULE_TRANSPORT_ALL = 0x3f,
};

typedef struct {
    uint16_t low, high;
} rule_port_range_t;

typedef struct {
    uint8_t version; /* 4 or 6 */
    uint8_t prefix;  /* bits */
    uint8_t addr[16];
} rule_cidr_t;

/* The name rules[].inputs uses for captured packets. */
#define RULES_INPUT_CAPTURE "capture"

typedef struct rule {
    char *name;
    rule_port_range_t *ports; /* NULL: any */
    size_t port_count;
    rule_cidr_t *hosts; /* NULL: any */
    size_t host_count;
    unsigned transports; /* RULE_TRANSPORT_* bits; RULE_TRANSPORT_ALL when absent */
    char **methods;      /* NULL: any */
    size_t method_count;
    char **methods_exclude;
    size_t method_exclude_count;
    char **inputs; /* NULL: any; listener names or URLs, "capture" for captured packets */
    size_t input_count;
    uint8_t *proto_types; /* NULL: any; HEP protocol types (1 SIP, 5 RTCP, 0x22 QoS, 100 logs) */
    size_t proto_type_count;
    rule_action_t action;
    /* what is sent, rewritten */
    int has_capture_id;
    uint32_t capture_id;
    char *node_name;        /* replaces or adds chunk 0x0013; NULL: as it was */
    char *auth_key;         /* replaces or adds chunk 0x000e; NULL: as it was */
    int strip_auth_key;     /* removes chunk 0x000e */
    int add_correlation_id; /* relayed SIP without chunk 0x0011 gets its Call-ID */
    redact_t *redact;       /* NULL: no redaction; built from redact_cfg */
    redact_config_t redact_cfg;
} rule_t;

typedef struct rules {
    rule_t *items;
    size_t count;
} rules_t;

/* What the rules look at in a message. */
typedef struct rules_input {
    uint8_t ip_version;
    const uint8_t *src_addr, *dst_addr; /* 4 or 16 bytes */
    uint16_t src_port, dst_port;
    unsigned transport;    /* one RULE_TRANSPORT_* bit; 0 unknown (relayed, other protocol) */
    ha_bytes_t method;     /* request method, or the CSeq method of a response; empty: not SIP */
    uint8_t proto_type;    /* HEP protocol type; captured SIP is 1 */
    const char *input;     /* NULL: captured; else the listener's name... */
    const char *input_url; /* ...and URL */
} rules_input_t;

/* First matching rule, or NULL. */
const rule_t *rules_match(const rules_t *rules, const rules_input_t *in);

/* Parsers shared with config.c; 0 or HA_EINVAL. */
int rules_parse_cidr(const char *text, rule_cidr_t *out);
/* Whether addr (4 or 16 bytes, by version) lies in cidr. */
int rules_cidr_contains(const rule_cidr_t *cidr, uint8_t version, const uint8_t *addr);
int rules_parse_port_range(const char *text, rule_port_range_t *out);
int rules_parse_transport(const char *text, unsigned *bit);
/* The name of one RULE_TRANSPORT_* bit ("udp", ...). */
const char *rules_transport_name(unsigned bit);

/* The transport bit of an IP protocol number (17, 6, 132), 0 for others. */
unsigned rules_transport_of(uint8_t ip_proto);

void rules_free(rules_t *rules);

#endif

/* SIP recognition and the few fields the agent needs: a message is SIP by its
 * start line, never by its port. Used on UDP datagrams (one message each) and
 * on reassembled TCP/WebSocket/SCTP data (framed by Content-Length). */
#ifndef HEPAGENT_SIP_H
#define HEPAGENT_SIP_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/common.h"

enum {
    SIP_MAX_METHOD_LEN = 32,
    SIP_MAX_START_LINE = 8192,   /* a longer first line is not SIP */
    SIP_MAX_HEADER_BYTES = 65536 /* header section limit when framing streams */
};

typedef enum {
    SIP_OK = 0,     /* start line valid, header section complete */
    SIP_NOT_SIP,    /* the bytes do not start with a SIP start line */
    SIP_INCOMPLETE, /* could be SIP, but the start line or header section is cut */
} sip_result_t;

typedef struct sip_msg {
    uint8_t is_request;
    uint16_t status;    /* responses: 100..699 */
    ha_bytes_t method;  /* requests: the method; responses: the CSeq method */
    ha_bytes_t uri;     /* requests */
    ha_bytes_t reason;  /* responses */
    ha_bytes_t call_id; /* trimmed; empty when absent */
    uint32_t cseq_number;
    ha_bytes_t cseq_method;
    ha_bytes_t from; /* header values, for filters and the trace */
    ha_bytes_t to;
    int64_t content_length; /* -1 absent, -2 invalid */
    size_t start_line_len;  /* including the line end */
    size_t header_len;      /* start line + headers + blank line; 0 if not complete */
} sip_msg_t;

/* Parses the start line and headers of the message at data. On SIP_OK the
 * header section is complete (header_len set); on SIP_INCOMPLETE the fields
 * found so far are set. */
sip_result_t sip_parse(const uint8_t *data, size_t len, sip_msg_t *msg);

/* Whether data could be the beginning of a SIP start line given only len
 * bytes (used to resynchronise a stream). Returns SIP_OK when a full valid
 * start line is present, SIP_INCOMPLETE when the bytes are a valid prefix of
 * one, SIP_NOT_SIP otherwise. */
sip_result_t sip_probe_start_line(const uint8_t *data, size_t len);

/* Whether the headers every SIP message must carry to be useful to a
 * collector are there: Call-ID (correlation) and CSeq (heplify-server drops
 * messages without them). A start line alone is not enough: junk such as
 * "DBREGISTER sip:x SIP/2.0" with no headers is not sent. */
int sip_has_mandatory(const sip_msg_t *msg);

/* True when the bytes are only CR/LF (RFC 5626 keep-alives) */
int sip_is_keepalive(const uint8_t *data, size_t len);

/* Compares a token with a NUL-terminated string, case-sensitively. */
int sip_token_equals(ha_bytes_t token, const char *str);

#endif

/* The media table's parts, shared by media.c (calls, streams, SIP, packets,
 * the clock) and media_endpoints.c (the hash of endpoints every packet is
 * looked up in, and the QoS flows seen at each). Not a public header. */
#ifndef HEPAGENT_MEDIA_INTERNAL_H
#define HEPAGENT_MEDIA_INTERNAL_H

#include "hepagent/lru.h"
#include "hepagent/media.h"

enum {
    MEDIA_TOUCH_US = 100000, /* an active call moves to the idle list's tail every 0.1 s */
    MEDIA_MIN_BUCKETS = 1024,
    MEDIA_MAX_PENDING = 1024, /* flows waiting for their end; beyond, they end at once */
    MEDIA_MAX_OFFERS = 4096,  /* re-offers held (4 KiB each); beyond, they apply at once */
};

typedef struct media_call media_call_t;
typedef struct media_stream media_stream_t;

typedef struct media_endpoint {
    struct media_endpoint *next; /* bucket chain */
    media_stream_t *stream;
    uint64_t seq; /* announcement order: of two calls naming it, the later wins a tie */
    uint32_t hash;
    uint16_t port;
    uint8_t version; /* 0: not in the table */
    uint8_t shared;  /* another call's endpoint has the same address and port */
    uint8_t has_in, has_out;
    uint8_t addr[16];
    /* the RTP flows last seen to (in) and from (out) this endpoint, to end
     * their QoS streams when the endpoint goes away */
    flow_key_t flow_in, flow_out;
} media_endpoint_t;

struct media_stream {
    media_stream_t *next; /* the call's streams */
    media_call_t *call;
    uint8_t party, index; /* which party's SDP, which m= line of it */
    uint8_t srtp;
    uint8_t rtpmap_count;
    sdp_rtpmap_t *rtpmap;
    media_endpoint_t rtp, rtcp; /* rtcp not in the table with rtcp-mux */
};

typedef enum {
    MEDIA_END_NONE = 0,
    MEDIA_END_BYE,
    MEDIA_END_CANCEL,
    MEDIA_END_REJECTED
} media_end_t;

/* A re-offer of an established call (re-INVITE or UPDATE with SDP): its
 * streams change only when a 2xx (or, that missed, the ACK) accepts it; a
 * final error leaves them as they were, as RFC 3261 §14.1 says. */
typedef struct media_offer {
    uint32_t cseq;
    uint8_t party;
    uint8_t update; /* UPDATE rather than INVITE */
    sdp_t sdp;
} media_offer_t;

struct media_call {
    media_call_t *next; /* bucket chain */
    lru_node_t lru;     /* in the idle list, or in the ending list once end is set */
    uint32_t hash;
    uint8_t end;
    uint8_t established;
    uint8_t parties;
    uint64_t last_us;                 /* last SIP message or packet */
    uint64_t touched_us;              /* when it last moved to the idle list's tail */
    uint64_t end_us;                  /* when ending: the grace time is up */
    uint64_t tags[MEDIA_MAX_PARTIES]; /* hashes of the parties' tags */
    media_stream_t *streams;
    uint32_t stream_count;
    media_offer_t *offer; /* a re-offer waiting for its answer, or NULL */
    uint32_t tag;         /* media_sip's, from the call's latest SIP message */
    uint16_t call_id_len;
    uint8_t call_id[];
};

/* A flow to an endpoint that went away: its QoS stream ends grace_ms later,
 * so packets still in flight count in it, and a hold that is resumed in the
 * meantime keeps it whole. */
typedef struct {
    media_call_t *call;
    flow_key_t key;
    uint64_t due_us;
} media_pending_t;

struct media {
    media_options_t opts;
    media_sink_t sink;
    media_stats_t stats;
    qos_table_t *qos;
    media_endpoint_t **buckets;
    uint32_t nbuckets;
    size_t endpoints;
    uint64_t announced; /* endpoints put in the table so far */
    media_call_t **call_buckets;
    uint32_t ncall_buckets;
    size_t calls;
    size_t streams;
    size_t bytes; /* held by calls, streams and their rtpmaps */
    lru_list_t idle, ending;
    media_pending_t *pending; /* MEDIA_MAX_PENDING entries, allocated on first use */
    size_t npending;
    size_t offers; /* re-offers held */
    uint64_t now_us, next_due_us;
    char json[RTCP_JSON_MAX];
};

static inline uint64_t media_timeout_us(const media_t *m)
{
    return (uint64_t)m->opts.stream_timeout_ms * 1000;
}

/* Something falls due at at_us: the clock looks then. */
static inline void media_due(media_t *m, uint64_t at_us)
{
    if (at_us < m->next_due_us) m->next_due_us = at_us;
}

typedef enum {
    MEDIA_FLOWS_KEEP = 0, /* the call ends: qos_end_call ends them all */
    MEDIA_FLOWS_LATER,    /* the endpoint moved or ended: after grace_ms */
} media_flows_t;

/* The endpoint of addr:port for a packet whose other end is other (NULL:
 * any owner). */
media_endpoint_t *media_ep_find(const media_t *m, uint8_t version, const uint8_t *addr,
                                uint16_t port, const uint8_t *other, uint16_t other_port);
/* Puts e (address and port set) in the table / takes it out. */
void media_ep_insert(media_t *m, media_endpoint_t *e);
void media_ep_remove(media_t *m, media_endpoint_t *e, media_flows_t when);
void media_ep_set(media_endpoint_t *e, const sdp_addr_t *a, uint16_t port);
int media_ep_same(const media_endpoint_t *e, const sdp_addr_t *a, uint16_t port);
/* Ends the QoS stream of one flow now. */
void media_flow_end(media_t *m, const flow_key_t *k);

#endif

/* The one way through: a captured frame is decoded, IP fragments and TCP or
 * SCTP streams are reassembled, SIP messages found, matched against the
 * rules, encoded as HEP and queued for the collectors. Each stage only hands
 * its result forward. */
#ifndef HEPAGENT_PIPELINE_H
#define HEPAGENT_PIPELINE_H

#include <pcap/pcap.h>
#include <stdio.h>

#include "hepagent/config.h"
#include "hepagent/dedup.h"
#include "hepagent/ipfrag.h"
#include "hepagent/media.h"
#include "hepagent/packet.h"
#include "hepagent/msgframe.h"
#include "hepagent/pcapout.h"
#include "hepagent/redact.h"
#include "hepagent/sctp.h"
#include "hepagent/sender.h"
#include "hepagent/sip.h"
#include "hepagent/stats.h"
#include "hepagent/tcpstream.h"
#include "hepagent/tlsdecrypt.h"
#include "hepagent/trace.h"

typedef struct pipeline {
    const config_t *cfg; /* the running config; swapped on reload */
    stats_t *stats;
    sender_t *sender; /* NULL: decode and count only */
    ipfrag_t *ipfrag;
    tcpstream_t *tcp;
    tlsdec_t *tls; /* NULL: TLS streams are recognised and ignored */
    sctp_t *sctp;
    media_t *media; /* NULL unless media.rtcp or media.qos */
    int warned_truncated;
    uint64_t *rule_matched;       /* per rule of cfg, see pipeline_visit_stats */
    uint32_t generation;          /* of cfg: reloads so far (media tags name rules by it) */
    dedup_t *dedup;               /* NULL: no de-duplication */
    redact_stats_t *redact_stats; /* where redaction is counted (shared with the relay) */
    /* what the person at the console asked for: all optional */
    trace_t *trace;         /* -A and the console filters (--call-id, ...) */
    int print;              /* -A: print matched messages (else only filter) */
    frame_keeper_t *keeper; /* -w: write their frames */
    msgframe_t *synth;      /* -w with redaction or HEP inputs: frames made for every message */
    uint64_t limit;         /* --count: stop after this many (0: no limit) */
    uint64_t shown;         /* matched messages that passed the trace filters */
    void (*on_limit)(void *ctx);
    void *limit_ctx;
    uint8_t redacted[HEP_MAX_PACKET];
} pipeline_t;

/* Creates the reassembly tables from cfg's limits, and the media table when
 * cfg->media asks for RTCP or QoS (they stay for the life of the pipeline;
 * a reload changes rules and collectors, not these). */
int pipeline_init(pipeline_t *p, const config_t *cfg, stats_t *stats, sender_t *sender);
void pipeline_set_config(pipeline_t *p, const config_t *cfg);
/* Decrypts TLS streams with the secrets of keys (which tells the pipeline
 * of every new one); keys must outlive the pipeline. */
int pipeline_enable_tls(pipeline_t *p, const tls_decrypt_options_t *opts, keylog_t *keys);
void pipeline_free(pipeline_t *p);

/* One captured frame. */
void pipeline_frame(pipeline_t *p, const struct pcap_pkthdr *hdr, const uint8_t *data, int linktype,
                    uint32_t source_id);

/* Counts a match of rule (rule.matched): captured messages here, relayed
 * packets by the relay. */
void pipeline_rule_matched(pipeline_t *p, const rule_t *rule);

/* One whole SIP message found in pkt's flow, first byte captured at ts. */
void pipeline_message(pipeline_t *p, const packet_t *pkt, unsigned transport, const uint8_t *data,
                      size_t len, const sip_msg_t *sip, uint64_t ts_sec, uint32_t ts_usec);

/* The console side of a message about to be sent (-A, -w, --count): 0 when
 * --count was reached before it, and it must not be sent. own_frames: its
 * captured frames may be written as they are. Also for relayed messages. */
int pipeline_console(pipeline_t *p, const packet_t *pkt, unsigned transport, const uint8_t *data,
                     size_t len, const sip_msg_t *sip, uint64_t ts_sec, uint32_t ts_usec,
                     int own_frames);
/* The capture clock moved without a packet (a live capture gone quiet):
 * calls past their grace or idle time end, their reports go out; TLS
 * records that waited past pending_ms for their key are given up. */
void pipeline_tick(pipeline_t *p, uint64_t ts_sec, uint32_t ts_usec);
/* Capture stopped: the final QoS report of every stream goes out now, before
 * the queues drain. */
void pipeline_finish(pipeline_t *p);

/* Reports the reassembly tables' counters and levels. */
void pipeline_visit_stats(const pipeline_t *p, const stats_visitor_t *v);
/* Bytes held by the reassembly tables. */
size_t pipeline_memory(const pipeline_t *p);

#endif

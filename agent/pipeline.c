/* Frame to HEP packet. UDP datagrams carry one SIP message each; TCP and
 * SCTP go through their reassemblers, which hand whole messages back here;
 * IP fragments are joined first and their datagram continues as if it had
 * arrived whole. With media on, the SIP the rules send teaches the media
 * table its calls' endpoints, and a UDP packet of one of them leaves as RTCP
 * (HEP type 5) or feeds the QoS reports (HEP 0x22) instead of SIP parsing. */
#include "hepagent/pipeline.h"
#include "hepagent/decode.h"
#include "hepagent/hep.h"
#include "hepagent/log.h"
#include "hepagent/rules.h"

#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* Messages matched per rule, in cfg's rule order; a reload keeps the counts
 * of the rules whose name it keeps. NULL when out of memory: not counted. */
static uint64_t *pipeline_rule_counts(const rules_t *now, const rules_t *before,
                                      const uint64_t *counts)
{
    uint64_t *next = calloc(now->count ? now->count : 1, sizeof(*next));
    for (size_t i = 0; next && counts && i < now->count; i++)
        for (size_t k = 0; k < before->count; k++)
            if (strcmp(now->items[i].name, before->items[k].name) == 0) next[i] = counts[k];
    return next;
}

static void pipeline_tcp_emit(void *ctx, const packet_t *pkt, unsigned transport,
                              const uint8_t *data, size_t len, const sip_msg_t *sip,
                              uint64_t ts_sec, uint32_t ts_usec)
{
    pipeline_message(ctx, pkt, transport, data, len, sip, ts_sec, ts_usec);
}

static void pipeline_sctp_emit(void *ctx, const packet_t *pkt, const uint8_t *data, size_t len,
                               uint64_t ts_sec, uint32_t ts_usec)
{
    pipeline_t *p = ctx;
    sip_msg_t sip;
    if (sip_parse(data, len, &sip) == SIP_NOT_SIP) {
        p->stats->sip_not_sip++;
        return;
    }
    pipeline_message(p, pkt, RULE_TRANSPORT_SCTP, data, len, &sip, ts_sec, ts_usec);
}

static ha_bytes_t pipeline_text(const char *s)
{
    return (ha_bytes_t){(const uint8_t *)s, s ? strlen(s) : 0};
}

/* What identifies the agent in a HEP packet: capture id, auth key, node name
 * (a rule may set its own for the SIP it sends, and for the media of the
 * calls whose SIP it sent). */
typedef struct {
    uint32_t capture_id;
    ha_bytes_t auth_key, node_name;
} pipeline_ident_t;

/* The HEP fields every packet of the agent shares; addresses, ports and
 * VLAN from pkt when it is given (SIP, RTCP), the caller's otherwise. */
static void pipeline_hep_common(hep_msg_t *msg, const packet_t *pkt, uint8_t proto_type,
                                const pipeline_ident_t *id, uint64_t ts_sec, uint32_t ts_usec)
{
    if (pkt) {
        msg->ip_version = pkt->ip_version;
        msg->ip_proto = pkt->l4_proto;
        memcpy(msg->src_addr, pkt->src_addr, sizeof(msg->src_addr));
        memcpy(msg->dst_addr, pkt->dst_addr, sizeof(msg->dst_addr));
        msg->src_port = pkt->src_port;
        msg->dst_port = pkt->dst_port;
        if (pkt->vlan_count) {
            msg->has_vlan = 1;
            msg->vlan = packet_vlan(pkt);
        }
    }
    msg->ts_sec = (uint32_t)ts_sec;
    msg->ts_usec = ts_usec;
    msg->proto_type = proto_type;
    msg->capture_id = id->capture_id;
    msg->auth_key = id->auth_key;
    msg->node_name = id->node_name;
}

/* The identity a rule gives what it sends (NULL: the agent's own). */
static pipeline_ident_t pipeline_rule_ident(const pipeline_t *p, const rule_t *rule)
{
    const config_t *cfg = p->cfg;
    if (!rule)
        return (pipeline_ident_t){cfg->capture_id, pipeline_text(cfg->auth_key),
                                  pipeline_text(cfg->node_name)};
    return (pipeline_ident_t){
        .capture_id = rule->has_capture_id ? rule->capture_id : cfg->capture_id,
        .auth_key = rule->strip_auth_key
                        ? (ha_bytes_t){NULL, 0}
                        : pipeline_text(rule->auth_key ? rule->auth_key : cfg->auth_key),
        .node_name = pipeline_text(rule->node_name ? rule->node_name : cfg->node_name)};
}

/* A call's media carry the identity of the rule that sent its latest SIP
 * message: media.c keeps the rule as a tag, its index in the config of one
 * generation. After a reload an older tag names no rule (the agent's own
 * identity) until the call's next message. */
enum { PIPELINE_TAG_RULE_BITS = 20 };

static uint32_t pipeline_media_tag(const pipeline_t *p, const rule_t *rule)
{
    size_t index = (size_t)(rule - p->cfg->rules.items);
    if (index + 1 >= (1u << PIPELINE_TAG_RULE_BITS)) return 0;
    return p->generation << PIPELINE_TAG_RULE_BITS | (uint32_t)(index + 1);
}

static pipeline_ident_t pipeline_tag_ident(const pipeline_t *p, uint32_t tag)
{
    uint32_t index = tag & ((1u << PIPELINE_TAG_RULE_BITS) - 1);
    int current =
        tag >> PIPELINE_TAG_RULE_BITS == (p->generation & (UINT32_MAX >> PIPELINE_TAG_RULE_BITS));
    const rule_t *rule =
        current && index && index <= p->cfg->rules.count ? &p->cfg->rules.items[index - 1] : NULL;
    return pipeline_rule_ident(p, rule);
}

/* An RTCP compound of a tracked call: HEP type 5 with the packet's own
 * addresses, the call's Call-ID. */
static void pipeline_media_rtcp(void *ctx, const packet_t *pkt, ha_bytes_t call_id, uint32_t tag,
                                const char *json, size_t json_len, const rtcp_info_t *info)
{
    pipeline_t *p = ctx;
    if (p->trace && p->print) trace_rtcp(p->trace, pkt, call_id, info);
    if (!p->sender) return;
    hep_msg_t msg;
    memset(&msg, 0, sizeof(msg));
    pipeline_ident_t id = pipeline_tag_ident(p, tag);
    pipeline_hep_common(&msg, pkt, HEP_PROTO_TYPE_RTCP, &id, pkt->ts_sec, pkt->ts_usec);
    msg.correlation_id = call_id;
    msg.payload = (ha_bytes_t){(const uint8_t *)json, json_len};
    sender_submit(p->sender, &msg);
}

/* A QoS report: HEP type 0x22 with the stream's addresses. */
static void pipeline_media_qos(void *ctx, const qos_report_t *r)
{
    pipeline_t *p = ctx;
    if (p->trace && p->print) trace_qos(p->trace, r);
    if (!p->sender) return;
    hep_msg_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.ip_version = r->ip_version;
    msg.ip_proto = IPPROTO_UDP;
    memcpy(msg.src_addr, r->src_addr, sizeof(msg.src_addr));
    memcpy(msg.dst_addr, r->dst_addr, sizeof(msg.dst_addr));
    msg.src_port = r->src_port;
    msg.dst_port = r->dst_port;
    pipeline_ident_t id = pipeline_tag_ident(p, r->tag);
    pipeline_hep_common(&msg, NULL, HEP_PROTO_TYPE_QOS, &id, r->ts_sec, r->ts_usec);
    msg.correlation_id = (ha_bytes_t){r->call_id, r->call_id_len};
    if (r->vlan) {
        msg.has_vlan = 1;
        msg.vlan = r->vlan;
    }
    msg.payload = (ha_bytes_t){(const uint8_t *)r->json, r->json_len};
    sender_submit(p->sender, &msg);
}

int pipeline_init(pipeline_t *p, const config_t *cfg, stats_t *stats, sender_t *sender)
{
    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    p->stats = stats;
    p->sender = sender;
    p->ipfrag = ipfrag_new(&cfg->ipfrag);
    p->tcp = tcpstream_new(&cfg->tcp, pipeline_tcp_emit, p);
    p->sctp = sctp_new(&cfg->sctp, pipeline_sctp_emit, p);
    p->rule_matched = pipeline_rule_counts(&cfg->rules, NULL, NULL);
    if (!p->ipfrag || !p->tcp || !p->sctp || !p->rule_matched) {
        pipeline_free(p);
        return HA_ENOMEM;
    }
    if (cfg->media.rtcp || cfg->media.qos) {
        media_sink_t sink = {pipeline_media_rtcp, pipeline_media_qos, p};
        p->media = media_new(&cfg->media, &sink);
        if (!p->media) {
            pipeline_free(p);
            return HA_ENOMEM;
        }
    }
    return HA_OK;
}

void pipeline_set_config(pipeline_t *p, const config_t *cfg)
{
    uint64_t *counts = pipeline_rule_counts(&cfg->rules, &p->cfg->rules, p->rule_matched);
    free(p->rule_matched);
    p->rule_matched = counts;
    p->cfg = cfg;
    p->generation++;
}

static void pipeline_key_arrived(void *ctx, const uint8_t *random, keylog_kind_t kind)
{
    (void)kind;
    pipeline_t *p = ctx;
    if (p->tls) tlsdec_key_arrived(p->tls, random);
}

int pipeline_enable_tls(pipeline_t *p, const tls_decrypt_options_t *opts, keylog_t *keys)
{
    p->tls = tlsdec_new(opts, keys, &p->cfg->tcp, pipeline_tcp_emit, p);
    if (!p->tls) return HA_ENOMEM;
    tcpstream_set_tls(p->tcp, p->tls);
    keylog_set_notify(keys, pipeline_key_arrived, p);
    return HA_OK;
}

void pipeline_free(pipeline_t *p)
{
    ipfrag_free(p->ipfrag);
    tcpstream_free(p->tcp); /* closes its TLS streams first */
    tlsdec_free(p->tls);
    sctp_free(p->sctp);
    free(p->rule_matched);
    p->rule_matched = NULL;
    media_free(p->media);
    p->media = NULL;
    p->ipfrag = NULL;
    p->tcp = NULL;
    p->tls = NULL;
    p->sctp = NULL;
}

int pipeline_console(pipeline_t *p, const packet_t *pkt, unsigned transport, const uint8_t *data,
                     size_t len, const sip_msg_t *sip, uint64_t ts_sec, uint32_t ts_usec,
                     int own_frames)
{
    if (!p->trace && !p->keeper && !p->synth && !p->limit) return 1;
    if (p->limit && p->shown >= p->limit) return 0; /* --count reached: nothing more */
    if (p->trace && !trace_wants(p->trace, sip)) return 1;
    p->shown++;
    if (p->print) trace_message(p->trace, pkt, transport, data, len, sip, ts_sec, ts_usec);
    if (p->synth) {
        /* -w when some rule redacts or HEP comes in: every message in frames made for it */
        msgframe_msg_t m = {.ts_sec = ts_sec,
                            .ts_usec = ts_usec,
                            .ip_version = pkt->ip_version,
                            .ip_proto = pkt->l4_proto,
                            .src_addr = pkt->src_addr,
                            .dst_addr = pkt->dst_addr,
                            .src_port = pkt->src_port,
                            .dst_port = pkt->dst_port,
                            .has_vlan = pkt->vlan_count > 0,
                            .vlan = packet_vlan(pkt),
                            .data = data,
                            .len = len};
        msgframe_write(p->synth, &m);
    } else if (p->keeper && own_frames && (transport & (RULE_TRANSPORT_TLS | RULE_TRANSPORT_WSS))) {
        /* the connection from its handshake on, so the file decrypts again */
        frame_keeper_connection(p->keeper, pkt, pkt->ts_sec, pkt->ts_usec);
    } else if (p->keeper && own_frames) {
        frame_keeper_message(p->keeper, pkt, ts_sec, ts_usec);
    }
    if (p->limit && p->shown == p->limit && p->on_limit) p->on_limit(p->limit_ctx);
    return 1;
}

/* The keys that identify a message to the de-duplication table. */
static int pipeline_duplicate(pipeline_t *p, const packet_t *pkt, const uint8_t *data, size_t len,
                              uint64_t ts_sec, uint32_t ts_usec)
{
    if (!p->dedup) return 0;
    dedup_key_t k = {.proto_type = HEP_PROTO_TYPE_SIP,
                     .ip_proto = pkt->l4_proto,
                     .ip_version = pkt->ip_version,
                     .src_addr = pkt->src_addr,
                     .dst_addr = pkt->dst_addr,
                     .src_port = pkt->src_port,
                     .dst_port = pkt->dst_port,
                     .payload = {data, len}};
    return dedup_seen(p->dedup, &k, ts_sec, ts_usec);
}

/* The media table learns a sent message's SDP from the message as captured
 * (redaction may blank the body), under the Call-ID that leaves (redaction
 * may replace it), so the media's correlation id is the SIP's. */
static void pipeline_media_sip(pipeline_t *p, const rule_t *rule, const uint8_t *data, size_t len,
                               const sip_msg_t *sip, const sip_msg_t *sent, uint64_t ts_sec,
                               uint32_t ts_usec)
{
    sip_msg_t learn = *sip;
    learn.call_id = sent->call_id;
    media_sip(p->media, data, len, &learn, ts_sec, ts_usec, pipeline_media_tag(p, rule));
}

void pipeline_rule_matched(pipeline_t *p, const rule_t *rule)
{
    const rules_t *rules = &p->cfg->rules;
    /* a rule of another config (a relay between reloads) is not ours to count */
    if (p->rule_matched && rule >= rules->items && rule < rules->items + rules->count)
        p->rule_matched[rule - rules->items]++;
}

void pipeline_message(pipeline_t *p, const packet_t *pkt, unsigned transport, const uint8_t *data,
                      size_t len, const sip_msg_t *sip, uint64_t ts_sec, uint32_t ts_usec)
{
    const config_t *cfg = p->cfg;
    if (!sip_has_mandatory(sip)) {
        p->stats->sip_invalid++;
        return;
    }
    p->stats->sip_messages++;
    rules_input_t in = {
        .ip_version = pkt->ip_version,
        .src_addr = pkt->src_addr,
        .dst_addr = pkt->dst_addr,
        .src_port = pkt->src_port,
        .dst_port = pkt->dst_port,
        .transport = transport,
        .method = sip->is_request ? sip->method : sip->cseq_method,
        .proto_type = HEP_PROTO_TYPE_SIP,
    };
    const rule_t *rule = rules_match(&cfg->rules, &in);
    if (!rule) {
        p->stats->rules_unmatched++;
        return;
    }
    pipeline_rule_matched(p, rule);
    if (rule->action == RULE_DROP) {
        p->stats->rules_dropped++;
        return;
    }
    if (pipeline_duplicate(p, pkt, data, len, ts_sec, ts_usec)) return;
    const uint8_t *original = data;
    size_t original_len = len;
    const sip_msg_t *original_sip = sip;
    /* what leaves by any way is the redacted message */
    sip_msg_t redacted_sip;
    if (rule->redact) {
        int n =
            redact_sip(rule->redact, data, len, p->redacted, sizeof(p->redacted), p->redact_stats);
        if (n < 0) return;
        data = p->redacted;
        len = (size_t)n;
        sip_parse(data, len, &redacted_sip);
        sip = &redacted_sip;
    }
    p->stats->rules_sent++;
    if (p->media)
        pipeline_media_sip(p, rule, original, original_len, original_sip, sip, ts_sec, ts_usec);
    if (!pipeline_console(p, pkt, transport, data, len, sip, ts_sec, ts_usec, !rule->redact))
        return;
    if (!p->sender) return;

    hep_msg_t msg;
    memset(&msg, 0, sizeof(msg));
    pipeline_ident_t id = pipeline_rule_ident(p, rule);
    pipeline_hep_common(&msg, pkt, HEP_PROTO_TYPE_SIP, &id, ts_sec, ts_usec);
    msg.correlation_id = sip->call_id;
    msg.payload = (ha_bytes_t){data, len};
    sender_submit(p->sender, &msg);
}

static void pipeline_udp(pipeline_t *p, const packet_t *pkt)
{
    const uint8_t *data = pkt->payload;
    size_t len = pkt->payload_len;
    if (len == 0) return;
    if (p->media && media_packet(p->media, pkt)) return;
    if (sip_is_keepalive(data, len)) {
        p->stats->sip_keepalives++;
        return;
    }
    sip_msg_t sip;
    if (sip_parse(data, len, &sip) == SIP_NOT_SIP) {
        p->stats->sip_not_sip++;
        return;
    }
    if (pkt->truncated) {
        p->stats->sip_truncated++;
        if (!p->warned_truncated) {
            p->warned_truncated = 1;
            log_warn("SIP messages are cut by the capture's snaplen and are not sent; "
                     "raise it (-s 65535)");
        }
        return;
    }
    pipeline_message(p, pkt, RULE_TRANSPORT_UDP, data, len, &sip, pkt->ts_sec, pkt->ts_usec);
}

static void pipeline_l4(pipeline_t *p, packet_t *pkt)
{
    switch (pkt->l4_proto) {
    case IPPROTO_UDP:
        pipeline_udp(p, pkt);
        break;
    case IPPROTO_TCP:
        if (pkt->truncated && pkt->payload_len) {
            /* a cut segment would corrupt the stream: count it as missing */
            p->stats->sip_truncated++;
            return;
        }
        tcpstream_segment(p->tcp, pkt);
        break;
    case IPPROTO_SCTP:
        sctp_packet(p->sctp, pkt);
        break;
    default:
        break;
    }
}

void pipeline_frame(pipeline_t *p, const struct pcap_pkthdr *hdr, const uint8_t *data, int linktype,
                    uint32_t source_id)
{
    stats_t *st = p->stats;
    st->frames++;
    st->frame_bytes += hdr->caplen;
    packet_t pkt;
    packet_from_frame(&pkt, (uint64_t)hdr->ts.tv_sec, (uint32_t)hdr->ts.tv_usec, data, hdr->caplen,
                      hdr->len, linktype);
    pkt.source_id = source_id;
    decode_result_t r = decode_frame(&p->cfg->decode, &pkt);
    st->decode[r]++;
    if (p->keeper && (r == DECODE_OK || r == DECODE_FRAGMENT))
        frame_keeper_add(p->keeper, &pkt, hdr, data, linktype, r == DECODE_FRAGMENT);
    /* a reassembled datagram may itself hold a fragmented inner datagram
     * (a tunnel); two rounds cover that, more is not worth following */
    for (int round = 0; r == DECODE_FRAGMENT && round < 2; round++) {
        if (pkt.truncated) return; /* a cut fragment cannot be joined */
        ha_bytes_t whole;
        uint64_t sec;
        uint32_t usec;
        if (!ipfrag_add(p->ipfrag, &pkt, &whole, &sec, &usec)) return;
        pkt.ts_sec = sec;
        pkt.ts_usec = usec;
        r = decode_l4(&p->cfg->decode, &pkt, pkt.frag_proto, whole.ptr, (uint32_t)whole.len);
        st->decode[r]++;
    }
    if (r == DECODE_OK) pipeline_l4(p, &pkt);
}

void pipeline_tick(pipeline_t *p, uint64_t ts_sec, uint32_t ts_usec)
{
    if (p->media) media_tick(p->media, ts_sec, ts_usec);
    if (p->tls) tlsdec_tick(p->tls, ts_sec * 1000 + ts_usec / 1000);
}

void pipeline_finish(pipeline_t *p)
{
    if (p->media) media_finish(p->media);
    if (p->tls) tlsdec_end(p->tls); /* TLS records still waiting for a key get none now */
}

void pipeline_visit_stats(const pipeline_t *p, const stats_visitor_t *v)
{
    const ipfrag_stats_t *f = ipfrag_stats(p->ipfrag);
    const tcpstream_stats_t *t = tcpstream_stats(p->tcp);
    const tcpframe_stats_t *tf = tcpstream_frame_stats(p->tcp);
    const sctp_stats_t *s = sctp_stats(p->sctp);
#define VISIT(group, st, name, help)                                                               \
    stats_emit(v, group "." #name, NULL, NULL, STATS_COUNTER, st->name, help);
#define VISIT_IPFRAG(name, help) VISIT("ipfrag", f, name, help)
#define VISIT_TCP(name, help) VISIT("tcp", t, name, help)
#define VISIT_TCP_FRAME(name, help) VISIT("tcp", tf, name, help)
#define VISIT_SCTP(name, help) VISIT("sctp", s, name, help)
    IPFRAG_COUNTERS(VISIT_IPFRAG)
    TCPSTREAM_COUNTERS(VISIT_TCP)
    TCPFRAME_COUNTERS(VISIT_TCP_FRAME)
    SCTP_COUNTERS(VISIT_SCTP)
#undef VISIT_SCTP
#undef VISIT_TCP_FRAME
#undef VISIT_TCP
#undef VISIT_IPFRAG
#undef VISIT
    stats_emit(v, "ipfrag.memory_bytes", NULL, NULL, STATS_GAUGE, ipfrag_memory(p->ipfrag),
               "bytes held by IP fragments waiting for the rest");
    stats_emit(v, "tcp.memory_bytes", NULL, NULL, STATS_GAUGE, tcpstream_memory(p->tcp),
               "bytes held by TCP streams");
    stats_emit(v, "tcp.streams_now", NULL, NULL, STATS_GAUGE, tcpstream_count(p->tcp),
               "TCP stream directions tracked");
    stats_emit(v, "sctp.memory_bytes", NULL, NULL, STATS_GAUGE, sctp_memory(p->sctp),
               "bytes held by SCTP associations");
    for (size_t i = 0; p->rule_matched && i < p->cfg->rules.count; i++)
        stats_emit(v, "rule.matched", "rule", p->cfg->rules.items[i].name, STATS_COUNTER,
                   p->rule_matched[i], "SIP messages this rule matched (sent or dropped)");
    if (p->tls) tlsdec_visit_stats(p->tls, v);
}

size_t pipeline_memory(const pipeline_t *p)
{
    return ipfrag_memory(p->ipfrag) + tcpstream_memory(p->tcp) + sctp_memory(p->sctp) +
           (p->media ? media_memory(p->media) : 0) + (p->tls ? tlsdec_memory(p->tls) : 0);
}

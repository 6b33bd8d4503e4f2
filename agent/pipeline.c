/* Frame to HEP packet. UDP datagrams carry one SIP message each; a TCP
 * segment may carry several whole ones, framed by Content-Length. */
#include "hepagent/pipeline.h"
#include "hepagent/decode.h"
#include "hepagent/hep.h"
#include "hepagent/log.h"
#include "hepagent/rules.h"

#include <netinet/in.h>
#include <string.h>

void pipeline_init(pipeline_t *p, const config_t *cfg, stats_t *stats, sender_t *sender)
{
    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    p->stats = stats;
    p->sender = sender;
}

void pipeline_set_config(pipeline_t *p, const config_t *cfg)
{
    p->cfg = cfg;
}

void pipeline_message(pipeline_t *p, const packet_t *pkt, unsigned transport, const uint8_t *data,
                      size_t len, const sip_msg_t *sip)
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
    };
    const rule_t *rule = rules_match(&cfg->rules, &in);
    if (!rule) {
        p->stats->rules_unmatched++;
        return;
    }
    if (rule->action == RULE_DROP) {
        p->stats->rules_dropped++;
        return;
    }
    p->stats->rules_sent++;
    if (!p->sender) return;

    hep_msg_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.ip_version = pkt->ip_version;
    msg.ip_proto = pkt->l4_proto;
    memcpy(msg.src_addr, pkt->src_addr, sizeof(msg.src_addr));
    memcpy(msg.dst_addr, pkt->dst_addr, sizeof(msg.dst_addr));
    msg.src_port = pkt->src_port;
    msg.dst_port = pkt->dst_port;
    msg.ts_sec = (uint32_t)pkt->ts_sec;
    msg.ts_usec = pkt->ts_usec;
    msg.proto_type = HEP_PROTO_TYPE_SIP;
    msg.capture_id = rule->has_capture_id ? rule->capture_id : cfg->capture_id;
    if (cfg->auth_key)
        msg.auth_key = (ha_bytes_t){(const uint8_t *)cfg->auth_key, strlen(cfg->auth_key)};
    msg.correlation_id = sip->call_id;
    if (pkt->vlan_count) {
        msg.has_vlan = 1;
        msg.vlan = packet_vlan(pkt);
    }
    if (cfg->node_name)
        msg.node_name = (ha_bytes_t){(const uint8_t *)cfg->node_name, strlen(cfg->node_name)};
    msg.payload = (ha_bytes_t){data, len};
    sender_submit(p->sender, &msg);
}

static void pipeline_udp(pipeline_t *p, const packet_t *pkt)
{
    const uint8_t *data = pkt->payload;
    size_t len = pkt->payload_len;
    if (len == 0) return;
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
    pipeline_message(p, pkt, RULE_TRANSPORT_UDP, data, len, &sip);
}

/* Whole messages inside one segment; what is left over is counted. Full
 * stream reassembly replaces this per-segment framing. */
static void pipeline_tcp(pipeline_t *p, const packet_t *pkt)
{
    const uint8_t *data = pkt->payload;
    size_t len = pkt->payload_len, off = 0;
    int found = 0;
    while (off < len) {
        while (off < len && (data[off] == '\r' || data[off] == '\n'))
            off++;
        if (off == len) break;
        sip_msg_t sip;
        sip_result_t r = sip_parse(data + off, len - off, &sip);
        if (r == SIP_NOT_SIP) {
            if (!found)
                p->stats->sip_not_sip++;
            else
                p->stats->sip_incomplete++;
            return;
        }
        size_t body = sip.content_length > 0 ? (size_t)sip.content_length : 0;
        if (r == SIP_INCOMPLETE || sip.content_length == -2 || body > len - off - sip.header_len) {
            if (pkt->truncated)
                p->stats->sip_truncated++;
            else
                p->stats->sip_incomplete++;
            return;
        }
        size_t total = sip.header_len + body;
        pipeline_message(p, pkt, RULE_TRANSPORT_TCP, data + off, total, &sip);
        found = 1;
        off += total;
    }
}

void pipeline_frame(pipeline_t *p, const struct pcap_pkthdr *hdr, const uint8_t *data, int linktype,
                    uint32_t source_id)
{
    stats_t *st = p->stats;
    st->frames++;
    st->frame_bytes += hdr->caplen;
    packet_t pkt;
    memset(&pkt, 0, sizeof(pkt));
    pkt.ts_sec = (uint64_t)hdr->ts.tv_sec;
    pkt.ts_usec = (uint32_t)hdr->ts.tv_usec;
    pkt.frame = data;
    pkt.caplen = hdr->caplen;
    pkt.wirelen = hdr->len;
    pkt.linktype = linktype;
    pkt.source_id = source_id;
    decode_result_t r = decode_frame(&p->cfg->decode, &pkt);
    st->decode[r]++;
    if (r != DECODE_OK) return;
    switch (pkt.l4_proto) {
    case IPPROTO_UDP:
        pipeline_udp(p, &pkt);
        break;
    case IPPROTO_TCP:
        pipeline_tcp(p, &pkt);
        break;
    default:
        break;
    }
}

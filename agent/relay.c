/* One received packet from check to queue: loop test, SIP fields, rules,
 * de-duplication, redaction, rewrite, console, delivery. Nothing is
 * allocated: the three buffers of relay_t take what a packet becomes. */
#include "hepagent/relay.h"
#include "hepagent/compress.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void relay_init(relay_t *r, const config_t *cfg, sender_t *sender)
{
    memset(r, 0, sizeof(*r));
    r->cfg = cfg;
    r->sender = sender;
    while (!r->id)
        if (getrandom(&r->id, sizeof(r->id), GRND_NONBLOCK) != sizeof(r->id))
            r->id = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
}

static ha_bytes_t relay_text(const char *s)
{
    return (ha_bytes_t){(const uint8_t *)s, s ? strlen(s) : 0};
}

/* The packet view -A and -w need, from the HEP fields. */
static void relay_packet_view(const hep_msg_t *m, packet_t *pkt)
{
    memset(pkt, 0, sizeof(*pkt));
    pkt->ts_sec = m->ts_sec;
    pkt->ts_usec = m->ts_usec;
    pkt->ip_version = m->ip_version;
    pkt->l4_proto = m->ip_proto;
    memcpy(pkt->src_addr, m->src_addr, 16);
    memcpy(pkt->dst_addr, m->dst_addr, 16);
    pkt->src_port = m->src_port;
    pkt->dst_port = m->dst_port;
    if (m->has_vlan) {
        pkt->vlan_ids[0] = m->vlan;
        pkt->vlan_count = 1;
    }
}

/* The SIP message of a type 1 packet, inflated when it came compressed. */
static int relay_sip(relay_t *r, const hepin_packet_t *p, ha_bytes_t *payload, sip_msg_t *sip)
{
    *payload = p->msg.payload;
    if (p->msg.proto_type != HEP_PROTO_TYPE_SIP) return 0;
    if (p->msg.payload_compressed) {
        int n = compress_inflate(p->msg.payload.ptr, p->msg.payload.len, r->inflated,
                                 sizeof(r->inflated));
        if (n < 0) {
            r->st.inflate_failed++;
            return 0;
        }
        *payload = (ha_bytes_t){r->inflated, (size_t)n};
    }
    if (sip_parse(payload->ptr, payload->len, sip) == SIP_OK && sip_has_mandatory(sip)) return 1;
    r->st.sip_unparsed++;
    return 0;
}

static int relay_duplicate(relay_t *r, const hepin_packet_t *p, ha_bytes_t payload)
{
    if (!r->dedup) return 0;
    dedup_key_t k = {.proto_type = p->msg.proto_type,
                     .ip_proto = p->msg.ip_proto,
                     .ip_version = p->msg.ip_version,
                     .src_addr = p->msg.src_addr,
                     .dst_addr = p->msg.dst_addr,
                     .src_port = p->msg.src_port,
                     .dst_port = p->msg.dst_port,
                     .payload = payload};
    return dedup_seen(r->dedup, &k, p->msg.ts_sec, p->msg.ts_usec);
}

void relay_packet(void *ctx, const input_t *in, const hepin_packet_t *p)
{
    relay_t *r = ctx;
    r->st.received++;
    if (hepin_path_contains(p, r->id)) {
        r->st.loops++;
        return;
    }
    if (hepin_path_hops(p) >= HEPIN_MAX_HOPS) {
        r->st.too_many_hops++;
        return;
    }
    ha_bytes_t payload;
    sip_msg_t sip;
    int is_sip = relay_sip(r, p, &payload, &sip);
    const hep_msg_t *m = &p->msg;
    rules_input_t ri = {
        .ip_version = m->ip_version,
        .src_addr = m->src_addr,
        .dst_addr = m->dst_addr,
        .src_port = m->src_port,
        .dst_port = m->dst_port,
        .transport = rules_transport_of(m->ip_proto),
        .method = is_sip ? (sip.is_request ? sip.method : sip.cseq_method) : (ha_bytes_t){NULL, 0},
        .proto_type = m->proto_type,
        .input = input_name(in),
        .input_url = input_url(in),
    };
    const rule_t *rule = rules_match(&r->cfg->rules, &ri);
    if (!rule) {
        r->st.unmatched++;
        return;
    }
    if (r->console) pipeline_rule_matched(r->console, rule);
    if (rule->action == RULE_DROP) {
        r->st.dropped++;
        return;
    }
    if (relay_duplicate(r, p, payload)) {
        r->st.duplicates++;
        return;
    }
    hepin_rewrite_t rw = {.set_capture_id = rule->has_capture_id,
                          .capture_id = rule->capture_id,
                          .node_name = relay_text(rule->node_name),
                          .auth = rule->strip_auth_key ? HEPIN_AUTH_STRIP
                                  : rule->auth_key     ? HEPIN_AUTH_REPLACE
                                                       : HEPIN_AUTH_KEEP,
                          .auth_key = relay_text(rule->auth_key),
                          .relay_id = r->id};
    ha_bytes_t redacted;
    uint8_t corr[REDACT_CALL_ID_HEX];
    if (rule->redact) {
        if (m->proto_type == HEP_PROTO_TYPE_SIP) {
            int n = is_sip ? redact_sip(rule->redact, payload.ptr, payload.len, r->redacted,
                                        sizeof(r->redacted), r->redact_stats)
                           : HA_EINVAL;
            if (n < 0) {
                r->st.redact_failed++;
                return;
            }
            redacted = (ha_bytes_t){r->redacted, (size_t)n};
            payload = redacted;
            rw.payload = &redacted;
            sip_parse(payload.ptr, payload.len, &sip);
        }
        /* the Call-ID in the correlation id of SIP, RTCP and QoS alike */
        if (redact_replaces_call_id(rule->redact) && m->correlation_id.len) {
            redact_call_id(rule->redact, m->correlation_id, corr);
            rw.correlation_new = (ha_bytes_t){corr, sizeof(corr)};
        }
    }
    if (rule->add_correlation_id && is_sip) rw.correlation_id = sip.call_id;
    size_t payload_off;
    int n = hepin_rewrite(p, &rw, r->out, sizeof(r->out), &payload_off);
    if (n < 0) {
        r->st.too_big++;
        return;
    }
    if (is_sip) {
        packet_t view;
        relay_packet_view(m, &view);
        if (r->console && !pipeline_console(r->console, &view, ri.transport, payload.ptr,
                                            payload.len, &sip, m->ts_sec, m->ts_usec, 0))
            return;
    }
    r->st.sent++;
    if (!r->sender) return;
    /* a payload still compressed as it came is not compressed again */
    int plain = be16(r->out + payload_off + 2) == HEP_CHUNK_PAYLOAD;
    ha_bytes_t call_id = rw.correlation_new.len  ? rw.correlation_new
                         : m->correlation_id.len ? m->correlation_id
                         : is_sip                ? sip.call_id
                                                 : (ha_bytes_t){NULL, 0};
    sender_raw_t raw = {.pkt = r->out,
                        .len = (size_t)n,
                        .payload_off = plain ? payload_off : 0,
                        .correlation_id = call_id};
    sender_submit_raw(r->sender, &raw);
}

void relay_visit_stats(const relay_t *r, const stats_visitor_t *v)
{
#define RELAY_VISIT(name, help)                                                                    \
    stats_emit(v, "relay." #name, NULL, NULL, STATS_COUNTER, r->st.name, help);
    RELAY_COUNTERS(RELAY_VISIT)
#undef RELAY_VISIT
}
